"""What every mesh reader checks, and the one place a checked triangle mesh is built.

The readers of :mod:`twin3d.io` (STL, PLY, OBJ, glTF in NumPy; VTK files in a child
process) parse files a user was handed, so they trust nothing in them:

* a count in a header (triangles, vertices, faces, accessor elements) is checked against
  the bytes the file really has (:func:`check_count`) and against the memory budget
  (:func:`check_budget`, :mod:`twin3d.budgets`) *before* anything is allocated;
* bytes are read with :func:`read_exactly` (a short read is an error naming the file,
  the offset and what was expected — never a crash or a silent partial mesh);
* polygons become triangles by :func:`fan_triangles`; vertex indices are checked against
  the vertex count (:func:`check_indices`);
* :func:`triangle_mesh` builds the :class:`pyvista.PolyData`: non-finite coordinates are
  refused naming the first bad vertex (:func:`check_points`), a mesh without triangles is
  refused ("contains no surface geometry").

Every error is an :class:`~twin3d.errors.InputError` (or a
:class:`~twin3d.errors.BudgetError`) whose one-line message starts with the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import InputError

__all__ = ["token_starts", "check_count", "check_budget", "read_exactly", "fan_triangles", "check_indices", "check_points",
           "triangle_mesh", "parse_numbers", "parse_decimals"]


def check_count(path: Path, what: str, count: int, item_bytes: int, available: int, *, where: str = "") -> None:
    """Refuse a header ``count`` of items of ``item_bytes`` each that cannot fit in ``available`` bytes."""
    if count < 0:
        raise InputError(f"{path}: {where}{what} count {count} is negative")
    need = count * item_bytes
    if need > available:
        raise InputError(
            f"{path}: {where}the header claims {count:,} {what} ({need:,} bytes) but only {available:,} bytes "
            f"follow; the file is truncated or corrupt")


def check_budget(path: Path, nbytes: float, detail: str) -> None:
    """The memory budget check of a reader: ``reading PATH needs about ...`` above the budget."""
    from ..budgets import check_memory

    check_memory(nbytes, f"reading {path}", detail=detail)


def read_exactly(f: BinaryIO, offset: int, nbytes: int, path: Path, what: str) -> bytes:
    """``nbytes`` bytes at ``offset`` of the open file ``f``; fewer is an error naming ``what``."""
    f.seek(offset)
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise InputError(f"{path}: {what} needs {nbytes:,} bytes at offset {offset:,} but the file ends "
                         f"after {offset + len(data):,}; the file is truncated")
    return data


def token_starts(buf: np.ndarray) -> np.ndarray:
    """Offsets in the byte array ``buf`` where a token starts: a non-space byte (> 32) at
    the start or after a space."""
    space = buf <= 32
    start = ~space
    start[1:] &= space[:-1]
    del space
    return np.flatnonzero(start)


def parse_numbers(text, dtype, expected: int, path: Path, what: str) -> np.ndarray:
    """Whitespace-separated numbers of ``text`` (bytes or a uint8 array), parsed in C.

    ``expected`` is how many there must be (counted from the text's tokens); anything
    that is not a number, or a different count, is an :class:`InputError` naming ``what``.
    Floats go through :func:`parse_decimals` when they can (the same values, faster).
    """
    if expected == 0:
        return np.zeros(0, dtype)
    if isinstance(text, (bytearray, memoryview)):
        text = bytes(text)
    if np.dtype(dtype).kind == "f":  # the fast path for decimals
        buf = np.frombuffer(text, np.uint8) if not isinstance(text, np.ndarray) else text
        starts = token_starts(buf)
        values = parse_decimals(buf, starts) if len(starts) == expected else None
        if values is not None:
            return values.astype(dtype, copy=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = np.fromstring(text, dtype=dtype, sep=" ")
    except (ValueError, DeprecationWarning):
        values = None
    if values is None or values.size != expected:
        kind = "integers" if np.dtype(dtype).kind in "iu" else "numbers"
        raise InputError(f"{path}: {what}: expected {expected:,} {kind} separated by spaces; the text holds "
                         f"something else (a word, a malformed number or a missing value)")
    return values


_POW10 = 10.0 ** np.arange(23)  # exact in float64
_POW10_LONG = np.array([10**k for k in range(40)], dtype=np.longdouble)


def parse_decimals(text: np.ndarray, starts: np.ndarray) -> np.ndarray | None:  # noqa: C901
    """float64 values of the whitespace-separated decimals starting at ``starts`` in ``text``
    (a uint8 array), or None when the fast path does not apply (the caller then uses
    :func:`parse_numbers`, which also reports malformed text).

    ``np.fromstring`` spends about half a microsecond per float (``strtod``); this parses
    each token's digits as an integer (several times faster in C) and divides by the power
    of ten of its fraction digits: exactly ``strtod``'s result while the digits fit in 53
    bits, otherwise rounded from 80-bit arithmetic (within one unit in the last place).
    Tokens with an exponent or more than 18 digits (int64 saturates) are parsed one by
    one; more than 10 % of those, ``nan``/``inf`` or a malformed token give None.
    """
    n = len(starts)
    if n == 0:
        return np.zeros(0)
    space = text <= 32
    last = ~space
    last[:-1] &= space[1:]
    del space
    ends = np.flatnonzero(last) + 1
    del last
    if len(ends) != n:
        return None
    special = np.zeros(n, bool)
    letters = np.flatnonzero((text | 32) >= ord("a"))
    if len(letters):
        if len(letters) > n // 10 + 10:
            return None
        special[np.searchsorted(starts, letters, side="right") - 1] = True
    dots = np.flatnonzero(text == ord("."))
    dot_token = np.searchsorted(starts, dots, side="right") - 1
    if len(dots) > 1 and np.any(dot_token[1:] == dot_token[:-1]):
        return None  # two dots in a token
    first = text[starts]
    frac = np.zeros(n, np.int64)
    frac[dot_token] = ends[dot_token] - dots - 1
    keep = text != ord(".")
    one_by_one = np.flatnonzero(special)
    if len(one_by_one):
        keep[dots[special[dot_token]]] = True  # their dots are blanked with them
    digits = text[keep]  # the text without the dots: each token an integer
    if len(one_by_one):  # blank each to a single 0 (parsed with float() below), where it lies without the dots
        removed = dots[~special[dot_token]]
        shifted = starts[one_by_one] - np.searchsorted(removed, starts[one_by_one])
        for a, length in zip(shifted.tolist(), (ends - starts)[one_by_one].tolist()):
            digits[a:a + length] = 32
            digits[a] = ord("0")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            mantissa = np.fromstring(digits, dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None  # a lone '-', a sign inside a number...
    if mantissa.size != n:
        return None  # a lone '.'
    limits = np.iinfo(np.int64)
    overflow = np.flatnonzero((mantissa == limits.max) | (mantissa == limits.min))
    if len(overflow):  # more than 18 digits: strtoll saturated; parse those one by one
        if len(overflow) + len(one_by_one) > n // 10 + 10:
            return None
        one_by_one = np.union1d(one_by_one, overflow)
    frac[one_by_one] = 0
    if frac.max() >= len(_POW10_LONG):
        return None
    values = np.empty(n)
    exact = (frac < len(_POW10)) & (np.abs(mantissa) < 2**53)
    values[exact] = mantissa[exact] / _POW10[frac[exact]]
    if not exact.all():
        rest = ~exact
        values[rest] = (mantissa[rest].astype(np.longdouble) / _POW10_LONG[frac[rest]]).astype(np.float64)
    negative_zero = np.flatnonzero((mantissa == 0) & (first == ord("-")))
    values[negative_zero] = -0.0
    for i in one_by_one:
        try:
            values[i] = float(text[starts[i]:ends[i]].tobytes())
        except ValueError:
            return None
    return values


def fan_triangles(indices: np.ndarray, counts: np.ndarray, path: Path, what: str = "face",
                  names: np.ndarray | None = None) -> np.ndarray:
    """Polygons (flat ``indices``, ``counts`` corners each) as fan triangles ``(n, 3)``.

    A polygon with fewer than 3 corners is an error naming it (``names[i]`` if given,
    e.g. its line number, else its index). ``(0, 1, 2, 3)`` gives ``(0, 1, 2), (0, 2, 3)``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    indices = np.asarray(indices)
    if counts.size and counts.min() < 3:
        bad = int(np.argmax(counts < 3))
        name = f"{what} {names[bad]}" if names is not None else f"{what} {bad}"
        raise InputError(f"{path}: {name} has {int(counts[bad])} corner(s); a face needs at least 3")
    if counts.sum() != indices.size:
        raise InputError(f"{path}: the {what} corner counts do not match the corner list")
    if counts.size == 0:
        return np.zeros((0, 3), np.int64)
    if np.all(counts == counts[0]):
        k = int(counts[0])
        poly = indices.reshape(-1, k)
        if k == 3:
            return poly
        j = np.arange(1, k - 1)
        return np.stack([np.repeat(poly[:, :1], k - 2, axis=1), poly[:, j], poly[:, j + 1]], axis=2).reshape(-1, 3)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n_tri = counts - 2
    first = np.repeat(starts, n_tri)
    step = np.arange(int(n_tri.sum())) - np.repeat(np.cumsum(n_tri) - n_tri, n_tri) + 1
    return np.stack([indices[first], indices[first + step], indices[first + step + 1]], axis=1)


def check_indices(path: Path, triangles: np.ndarray, n_points: int, what: str = "face") -> None:
    """Every vertex index in ``triangles`` must be in ``0 .. n_points - 1``."""
    if triangles.size == 0:
        return
    lo, hi = int(triangles.min()), int(triangles.max())
    if lo < 0 or hi >= n_points:
        flat = triangles.reshape(-1)
        bad = int(np.argmax((flat < 0) | (flat >= n_points)))
        raise InputError(
            f"{path}: {what} {bad // 3} refers to vertex {int(flat[bad])}, but the file has {n_points:,} "
            f"vertices (valid indices 0-{max(n_points - 1, 0):,})")


def check_points(path: Path, points: np.ndarray, *, offset: int = 0, what: str = "vertex") -> None:
    """Every coordinate finite; the error names the first bad vertex (index + ``offset``)."""
    finite = np.isfinite(points)
    if not finite.all():
        bad = int(np.argmax(~finite.all(axis=1)))
        coords = ", ".join(f"{float(v):g}" for v in points[bad])
        raise InputError(f"{path}: {what} {bad + offset} has a non-finite coordinate ({coords}); "
                         f"every coordinate must be a finite number")


def triangle_mesh(path: Path, points: np.ndarray, triangles: np.ndarray, *, point_data: dict | None = None,
                  cell_data: dict | None = None, checked_indices: bool = False):
    """A checked triangle :class:`pyvista.PolyData` (finite points, valid indices, at least one triangle)."""
    import pyvista as pv

    points = np.asarray(points)
    triangles = np.asarray(triangles)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise InputError(f"{path}: contains no surface geometry (no vertices)")
    if triangles.size == 0:
        raise InputError(f"{path}: contains no surface geometry (no faces)")
    check_points(path, points)
    if not checked_indices:
        check_indices(path, triangles, len(points))
    conn = triangles.astype(np.int64, copy=False) if triangles.dtype != np.int64 else triangles
    mesh = pv.PolyData.from_regular_faces(points, conn)
    for name, values in (point_data or {}).items():
        mesh.point_data[name] = values
    for name, values in (cell_data or {}).items():
        mesh.cell_data[name] = values
    return mesh
