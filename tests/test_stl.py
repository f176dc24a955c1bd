"""The NumPy STL reader (twin3d.io.stl) against VTK (pyvista.read) and trimesh on generated files."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import pyvista as pv

from twin3d.errors import BudgetError, InputError
from twin3d.io.stl import merge_vertices, read_stl


def write_binary_stl(path, corners, *, count=None, header=b"binary stl written by test_stl"):
    rec = np.zeros(len(corners), dtype=[("n", "<f4", (3,)), ("v", "<f4", (9,)), ("a", "<u2")])
    rec["v"] = np.asarray(corners, np.float32).reshape(-1, 9)
    path.write_bytes(header.ljust(80, b" ")[:80] + struct.pack("<I", len(corners) if count is None else count)
                     + rec.tobytes())
    return path


@pytest.fixture
def torus():
    return pv.ParametricTorus(u_res=24, v_res=16, w_res=8).triangulate().clean()


@pytest.mark.parametrize("binary", [True, False])
def test_stl_matches_vtk_and_trimesh(tmp_path, torus, binary):
    import trimesh

    path = tmp_path / "torus.stl"
    torus.save(path, binary=binary)
    ours = read_stl(path)
    ref = pv.read(path)
    assert (ours.n_points, ours.n_cells) == (ref.n_points, ref.n_cells)
    np.testing.assert_array_equal(ours.points, ref.points)  # merged in the same order as VTK
    np.testing.assert_array_equal(ours.regular_faces, ref.regular_faces)
    assert ours.points.dtype == np.float32
    tm = trimesh.load(path)  # trimesh merges vertices too (another order)
    assert len(tm.faces) == ours.n_cells and len(tm.vertices) == ours.n_points
    np.testing.assert_allclose(abs(ours.volume), abs(tm.volume), rtol=1e-5)


def test_binary_stl_that_starts_with_solid(tmp_path, torus):
    corners = np.asarray(torus.points)[torus.regular_faces]
    path = write_binary_stl(tmp_path / "solid.stl", corners, header=b"solid but binary")
    assert read_stl(path).n_cells == torus.n_cells


def test_stl_degenerate_triangles_and_negative_zero(tmp_path):
    corners = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]],
                        [[5, 5, 5], [5, 5, 5], [0, 1, 0]],  # degenerate: dropped (as VTK does)
                        [[-0.0, 0, 0], [1, 0, 0], [0, 0, 1]]], np.float32)  # -0.0 is the point 0.0
    m = read_stl(write_binary_stl(tmp_path / "d.stl", corners))
    assert m.n_cells == 2 and m.n_points == 4
    ref = pv.read(tmp_path / "d.stl")
    assert ref.n_cells == 2
    zeros = write_binary_stl(tmp_path / "zeros.stl", np.zeros((1000, 3, 3), np.float32))
    with pytest.raises(InputError, match="zeros.stl: contains no surface geometry .*degenerate"):
        read_stl(zeros)


def test_merge_vertices_first_appearance_order():
    rng = np.random.default_rng(4)
    pts = rng.integers(0, 6, (5000, 3)).astype(np.float32)
    pts[rng.random(5000) < 0.2, 1] *= -1  # some -0.0
    unique, inverse = merge_vertices(pts)
    np.testing.assert_array_equal(unique[inverse], pts + 0)
    _, first = np.unique(pts + 0, axis=0, return_index=True)
    np.testing.assert_array_equal(unique, (pts + 0)[np.sort(first)])


def test_stl_count_checked_against_size_and_budget(tmp_path, torus):
    corners = np.asarray(torus.points)[torus.regular_faces]
    path = write_binary_stl(tmp_path / "lies.stl", corners, count=10**9)
    with pytest.raises(InputError, match=r"lies.stl: the header claims 1,000,000,000 triangles .* truncated"):
        read_stl(path)
    from twin3d.budgets import memory_budget_set

    ok = write_binary_stl(tmp_path / "ok.stl", corners)
    with memory_budget_set("64K"), pytest.raises(BudgetError, match=r"reading .*ok.stl needs about .*triangles"):
        read_stl(ok)


def test_stl_non_finite_and_malformed_ascii(tmp_path):
    corners = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 0, 0], [np.nan, 0, 0], [0, 1, 0]]], np.float32)
    with pytest.raises(InputError, match="vertex 4 has a non-finite coordinate"):
        read_stl(write_binary_stl(tmp_path / "nan.stl", corners))
    bad = tmp_path / "bad.stl"
    bad.write_text("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nendloop\nendfacet\n"
                   "endsolid x\n")
    with pytest.raises(InputError, match="malformed ASCII STL"):
        read_stl(bad)
    word = tmp_path / "word.stl"
    word.write_text("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 zero\nvertex 1 0 0\nvertex 0 1 0\n"
                    "endloop\nendfacet\nendsolid x\n")
    with pytest.raises(InputError, match="word.stl: ASCII STL facets"):
        read_stl(word)
