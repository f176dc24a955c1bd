"""The NumPy PLY reader (twin3d.io.ply) against VTK (pyvista.read) and trimesh on generated files."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from twin3d.errors import BudgetError, InputError
from twin3d.io import read_mesh
from twin3d.io.ply import read_ply


def write_ply(path, points, faces, *, fmt="binary_little_endian", colors=None, alpha=None, normals=None,
              index_type="int", count_type="uchar", extra_vertex=False, extra_element=False, face_flags=False,
              point_type="float"):
    """A PLY file written by hand: ``faces`` is a list of index lists (any lengths)."""
    order = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": None}[fmt]
    codes = {"float": "f4", "double": "f8", "uchar": "u1", "int": "i4", "uint": "u4", "ushort": "u2", "short": "i2"}
    vprops = [(c, point_type) for c in "xyz"]
    if extra_vertex:
        vprops.append(("quality", "double"))
    if normals is not None:
        vprops += [(c, "float") for c in ("nx", "ny", "nz")]
    if colors is not None:
        ctype = "uchar" if colors.dtype == np.uint8 else "float"
        vprops += [(c, ctype) for c in ("red", "green", "blue")]
        if alpha is not None:
            vprops.append(("alpha", ctype))
    header = ["ply", f"format {fmt} 1.0", "comment written by test_ply"]
    if extra_element:
        header += ["element material 2", "property float shininess", "property list uchar int tags"]
    header += [f"element vertex {len(points)}"] + [f"property {t} {n}" for n, t in vprops]
    header += [f"element face {len(faces)}", f"property list {count_type} {index_type} vertex_indices"]
    if face_flags:
        header.append("property uchar flags")
    header += ["element edge 1", "property int vertex1", "property int vertex2", "end_header"]
    cols = [points[:, 0], points[:, 1], points[:, 2]]
    if extra_vertex:
        cols.append(np.arange(len(points), dtype=float))
    if normals is not None:
        cols += list(normals.T)
    if colors is not None:
        cols += list(colors.T)
        if alpha is not None:
            cols.append(alpha)
    vdt = np.dtype([(n, (order or "<") + codes[t]) for n, t in vprops])
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode())
        if order is None:
            lines = []
            if extra_element:
                lines += ["0.5 2 7 8", "1.5 0"]
            for row in zip(*cols):
                lines.append(" ".join(repr(float(v)) if isinstance(v, (float, np.floating)) else str(v) for v in row))
            for k, face in enumerate(faces):
                lines.append(" ".join(map(str, [len(face), *face])) + (f" {k % 5}" if face_flags else ""))
            lines.append("0 1")
            f.write(("\n".join(lines) + "\n").encode())
            return path
        if extra_element:
            f.write(np.array([0.5], order + "f4").tobytes() + np.array([2], "u1").tobytes()
                    + np.array([7, 8], order + "i4").tobytes())
            f.write(np.array([1.5], order + "f4").tobytes() + np.array([0], "u1").tobytes())
        rec = np.empty(len(points), vdt)
        for (n, _), c in zip(vprops, cols):
            rec[n] = c
        f.write(rec.tobytes())
        ct, it = order + codes[count_type], order + codes[index_type]
        for k, face in enumerate(faces):
            f.write(np.array([len(face)], ct).tobytes() + np.array(face, it).tobytes())
            if face_flags:
                f.write(np.array([k % 5], "u1").tobytes())
        f.write(np.array([0, 1], order + "i4").tobytes())
    return path


@pytest.fixture
def ply_sphere():
    s = pv.Sphere(radius=0.5, theta_resolution=16, phi_resolution=12).triangulate()
    rng = np.random.default_rng(3)
    colors = rng.integers(0, 256, (s.n_points, 3)).astype(np.uint8)
    return np.asarray(s.points, np.float32), np.asarray(s.regular_faces), colors


@pytest.mark.parametrize("fmt", ["binary_little_endian", "binary_big_endian", "ascii"])
def test_ply_encodings_match_vtk_and_trimesh(tmp_path, ply_sphere, fmt):
    import trimesh

    points, faces, colors = ply_sphere
    normals = points / np.linalg.norm(points, axis=1, keepdims=True)
    path = write_ply(tmp_path / f"s_{fmt}.ply", points, faces.tolist(), fmt=fmt, colors=colors, normals=normals,
                     extra_vertex=True, face_flags=True)
    ours = read_ply(path)
    ref = pv.read(path)
    assert (ours.n_points, ours.n_cells) == (ref.n_points, ref.n_cells) == (len(points), len(faces))
    np.testing.assert_allclose(ours.points, ref.points, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(ours.regular_faces, ref.regular_faces)
    np.testing.assert_allclose(ours.point_data["displayColor"], colors / 255.0, atol=1e-7)
    assert ours.point_data["displayColor"].dtype == np.float32
    np.testing.assert_allclose(ours.point_data["Normals"], normals, atol=1e-6)
    tm = trimesh.load(path, process=False)
    np.testing.assert_allclose(ours.points, tm.vertices, atol=1e-6)
    np.testing.assert_array_equal(ours.regular_faces, tm.faces)
    # an element with a list property before the vertices (valid PLY; VTK 9.7's reader segfaults on it)
    other = read_ply(write_ply(tmp_path / f"e_{fmt}.ply", points, faces.tolist(), fmt=fmt, colors=colors,
                               extra_element=True))
    np.testing.assert_array_equal(other.points, ours.points)
    np.testing.assert_array_equal(other.regular_faces, ours.regular_faces)
    np.testing.assert_array_equal(other.point_data["displayColor"], ours.point_data["displayColor"])


@pytest.mark.parametrize("fmt", ["binary_little_endian", "ascii"])
def test_ply_quads_and_mixed_polygons(tmp_path, fmt):
    import trimesh

    grid = pv.Plane(i_resolution=4, j_resolution=3)  # 12 quads
    points = np.asarray(grid.points, np.float32)
    quads = np.asarray(grid.faces).reshape(-1, 5)[:, 1:].tolist()
    ours = read_ply(write_ply(tmp_path / "quads.ply", points, quads, fmt=fmt))
    assert ours.n_cells == 24
    tm = trimesh.load(tmp_path / "quads.ply", process=False)
    assert sorted(map(tuple, np.sort(ours.regular_faces, axis=1))) == sorted(map(tuple, np.sort(tm.faces, axis=1)))
    np.testing.assert_allclose(ours.area, grid.area)
    # a triangle, a square and a regular pentagon (the record-by-record path), ushort counts, uint indices
    angles = np.linspace(0, 2 * np.pi, 6)[:-1]
    pts = np.concatenate([[[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[2, 0, 0], [3, 0, 0], [3, 1, 0], [2, 1, 0]],
                          np.stack([5 + np.cos(angles), np.sin(angles), 0 * angles], axis=1)]).astype(np.float32)
    mixed = [[0, 1, 2], [3, 4, 5, 6], [7, 8, 9, 10, 11]]
    ours = read_ply(write_ply(tmp_path / "mixed.ply", pts, mixed, fmt=fmt, count_type="ushort",
                              index_type="uint", face_flags=True))
    assert ours.n_cells == 1 + 2 + 3
    ref = pv.read(tmp_path / "mixed.ply")
    assert ref.n_points == ours.n_points == 12
    np.testing.assert_allclose(ours.area, 0.5 + 1 + 2.5 * np.sin(2 * np.pi / 5), rtol=1e-6)
    np.testing.assert_allclose(ours.area, ref.area, rtol=1e-6)


def test_ply_double_points_float_colors_and_alpha(tmp_path, ply_sphere):
    points, faces, _ = ply_sphere
    rgb = np.linspace(0, 1, 3 * len(points)).reshape(-1, 3).astype(np.float32)
    alpha = np.full(len(points), 0.25, np.float32)
    m = read_mesh(write_ply(tmp_path / "d.ply", points.astype(np.float64), faces.tolist(), colors=rgb, alpha=alpha,
                            point_type="double"))
    assert m.points.dtype == np.float64
    np.testing.assert_allclose(m.point_data["displayColor"], rgb)
    np.testing.assert_allclose(m.point_data["displayOpacity"], 0.25)


def test_ply_header_counts_checked_before_reading(tmp_path, ply_sphere):
    points, faces, _ = ply_sphere
    path = write_ply(tmp_path / "s.ply", points, faces.tolist())
    data = path.read_bytes()
    huge = tmp_path / "huge.ply"
    huge.write_bytes(data.replace(f"element vertex {len(points)}".encode(), b"element vertex 1000000000"))
    with pytest.raises(InputError, match=r"huge.ply: PLY header line \d+: the header claims 1,000,000,000 'vertex'"):
        read_ply(huge)
    short = tmp_path / "short.ply"
    short.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="short.ply: .*truncated"):
        read_ply(short)
    from twin3d.budgets import memory_budget_set

    with memory_budget_set("1K"), pytest.raises(BudgetError, match="reading .*s.ply needs about"):
        read_ply(path)


def test_ply_bad_indices_and_no_faces(tmp_path, ply_sphere):
    points, faces, _ = ply_sphere
    bad = faces.tolist()
    bad[5] = [0, 1, len(points) + 7]
    for fmt in ("binary_big_endian", "ascii"):
        with pytest.raises(InputError, match=f"face 5 refers to vertex {len(points) + 7}, but the file has"):
            read_ply(write_ply(tmp_path / f"bad_{fmt}.ply", points, bad, fmt=fmt))
    with pytest.raises(InputError, match="no surface geometry"):
        read_ply(write_ply(tmp_path / "cloud.ply", points, []))
    nan = points.copy()
    nan[9, 1] = np.nan
    with pytest.raises(InputError, match="vertex 9 has a non-finite coordinate"):
        read_ply(write_ply(tmp_path / "nan.ply", nan, faces.tolist(), fmt="ascii"))
    with pytest.raises(InputError, match="not a PLY file"):
        (tmp_path / "x.ply").write_bytes(b"plyx\n")
        read_ply(tmp_path / "x.ply")
