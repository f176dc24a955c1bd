"""The checks every mesh reader shares (twin3d.io.meshcheck)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin3d.errors import InputError
from twin3d.io.meshcheck import check_count, fan_triangles, parse_decimals, parse_numbers, triangle_mesh


def _tokens(text: bytes):
    buf = np.frombuffer(text, np.uint8)
    space = buf <= 32
    start = ~space
    start[1:] &= space[:-1]
    return buf, np.flatnonzero(start)


@pytest.mark.parametrize("fmt", ["%.17g", "%.9g", "%.6f", "%g", "%+.5f", "%.3e"])
def test_parse_decimals_gives_exactly_what_float_gives(fmt):
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.normal(size=4000) * 10.0 ** rng.integers(-4, 5, 4000),
                             [0.0, -0.0, 1e-300, 123456789012345678.0, 1e22, -9.999999999999999999]])
    text = ("\n".join(" ".join(fmt % v for v in row) for row in values.reshape(-1, 2)) + "\n").encode()
    expected = np.array([float(t) for t in text.split()])
    fast = parse_decimals(*_tokens(text))
    if fmt == "%.3e":  # every token has an exponent: the fast path declines
        assert fast is None
        fast = parse_numbers(text, np.float64, len(expected), Path("x"), "test")
    np.testing.assert_array_equal(fast, expected)
    np.testing.assert_array_equal(np.signbit(fast), np.signbit(expected))


def test_parse_numbers_refuses_words_and_wrong_counts():
    for text in (b"1 2 x\n", b"1 - 2\n", b"1..2 3\n", b"1 2-3\n", b"1,5 2\n"):
        with pytest.raises(InputError, match="test: expected"):
            parse_numbers(text, np.float64, len(text.split()), Path("x"), "test")
    with pytest.raises(InputError, match="expected 4 numbers"):
        parse_numbers(b"1 2 3\n", np.float64, 4, Path("x"), "test")


def test_fan_triangles_counts_and_errors():
    tri = fan_triangles(np.array([0, 1, 2, 3, 4, 5, 6, 7, 8]), np.array([4, 5]), Path("m.obj"))
    np.testing.assert_array_equal(tri, [[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [4, 7, 8]])
    with pytest.raises(InputError, match="m.obj: face on line 7 has 2 corner"):
        fan_triangles(np.arange(5), np.array([3, 2]), Path("m.obj"), what="face on line", names=np.array([3, 7]))


def test_count_and_mesh_checks():
    with pytest.raises(InputError, match="the header claims 10 triangles \\(500 bytes\\) but only 20 bytes follow"):
        check_count(Path("a.stl"), "triangles", 10, 50, 20)
    pts = np.zeros((3, 3))
    with pytest.raises(InputError, match="face 0 refers to vertex 3"):
        triangle_mesh(Path("a.ply"), pts, np.array([[0, 1, 3]]))
    with pytest.raises(InputError, match="no faces"):
        triangle_mesh(Path("a.ply"), pts, np.zeros((0, 3), int))
    pts[2, 1] = np.inf
    with pytest.raises(InputError, match="vertex 2 has a non-finite coordinate \\(0, inf, 0\\)"):
        triangle_mesh(Path("a.ply"), pts, np.array([[0, 1, 2]]))
