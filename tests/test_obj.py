"""The NumPy OBJ reader (twin3d.io.obj) against VTK (pyvista.read) and trimesh on generated files."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv

from twin3d.confine import allow_paths
from twin3d.errors import ConfinementError, InputError
from twin3d.io.obj import read_obj


def obj_text(points, faces, *, corner="{v}", normals=None, colors=None, negative=False, extra="", eol="\n"):
    """OBJ text: ``faces`` index lists (0-based), written with ``corner`` (``{v}``, ``{v}//{v}``...)."""
    lines = ["# written by test_obj", "mtllib parts.mtl", "o part", "g shell", "s 1"]
    for k, p in enumerate(points):
        c = "" if colors is None else " " + " ".join(f"{x:.6g}" for x in colors[k])
        lines.append("v " + " ".join(repr(float(x)) for x in p) + c)
    for n in normals if normals is not None else []:
        lines.append("vn " + " ".join(repr(float(x)) for x in n))
    lines.append("vt 0 0")
    lines.append("usemtl grey")
    n = len(points)
    for f in faces:
        idx = [i - n if negative else i + 1 for i in f]
        lines.append("f " + " ".join(corner.format(v=i, t=1) for i in idx))
    return eol.join(lines + [extra]) + eol


@pytest.fixture
def ball():
    s = pv.Sphere(radius=0.5, theta_resolution=14, phi_resolution=9).triangulate()
    return np.asarray(s.points, np.float64), np.asarray(s.regular_faces), np.asarray(s.point_normals)


@pytest.mark.parametrize("corner", ["{v}", "{v}//{v}", "{v}/{t}/{v}", "{v}/{t}"])
def test_obj_corner_forms_match_vtk(tmp_path, ball, corner):
    points, faces, normals = ball
    path = tmp_path / "ball.obj"
    path.write_text(obj_text(points, faces.tolist(), corner=corner, normals=normals))
    ours = read_obj(path)
    ref = pv.read(path)
    assert ours.n_cells == ref.n_cells == len(faces)
    np.testing.assert_array_equal(ours.regular_faces, faces)
    np.testing.assert_allclose(ours.points, points, rtol=0, atol=0)
    if corner == "{v}/{t}/{v}" or corner == "{v}//{v}":
        np.testing.assert_allclose(ours.point_data["Normals"], normals, atol=1e-6)
        if ref.n_points == ours.n_points:  # VTK keeps points when every corner shares its indices
            np.testing.assert_allclose(ours.point_data["Normals"], ref.point_data["Normals"], atol=1e-6)
    else:
        assert "Normals" not in ours.point_data


def test_obj_negative_indices_quads_and_polygons(tmp_path):
    import trimesh

    grid = pv.Plane(i_resolution=3, j_resolution=2)
    points = np.asarray(grid.points, np.float64)
    quads = np.asarray(grid.faces).reshape(-1, 5)[:, 1:]
    path = tmp_path / "quads.obj"
    path.write_text(obj_text(points, quads.tolist(), negative=True, eol="\r\n"))
    ours = read_obj(path)
    assert ours.n_cells == 2 * len(quads)
    tm = trimesh.load(path, process=False)
    assert sorted(map(tuple, np.sort(ours.regular_faces, 1))) == sorted(map(tuple, np.sort(tm.faces, 1)))
    np.testing.assert_allclose(ours.area, grid.area)
    np.testing.assert_allclose(ours.area, pv.read(path).area)
    # a pentagon and a triangle, indented lines, comments after numbers, relative indices per object
    text = ("v 0 0 0\nv 1 0 0\n  v 1 1 0 # a comment\nv 0.5 1.5 0\nv 0 1 0\nf 1 2 3 4 5\n"
            "o second\nv 5 0 0\nv 6 0 0\nv 5 1 0\nf -3 -2 -1\n")
    (tmp_path / "mixed.obj").write_text(text)
    m = read_obj(tmp_path / "mixed.obj")
    assert m.n_cells == 3 + 1 and m.n_points == 8
    np.testing.assert_array_equal(m.regular_faces[-1], [5, 6, 7])
    np.testing.assert_allclose(m.area, 1.25 + 0.5)
    # corners written in different forms on different faces
    (tmp_path / "forms.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvn 0 0 1\n"
                                        "f 1/1 2/1 3/1\nf 1 3 4\nf 1//1 3//1 4//1\n")
    np.testing.assert_array_equal(read_obj(tmp_path / "forms.obj").regular_faces, [[0, 1, 2], [0, 2, 3], [0, 2, 3]])


def test_obj_vertex_colors(tmp_path, ball):
    points, faces, _ = ball
    rgb = np.random.default_rng(2).random((len(points), 3))
    path = tmp_path / "colored.obj"
    path.write_text(obj_text(points, faces.tolist(), colors=rgb))
    m = read_obj(path)
    np.testing.assert_allclose(m.point_data["displayColor"], rgb, atol=1e-6)
    assert m.point_data["displayColor"].dtype == np.float32


def test_obj_bad_indices_no_faces_and_non_finite(tmp_path):
    base = "v 0 0 0\nv 1 0 0\nv 0 1 0\n"
    cases = {
        "past.obj": (base + "f 1 2 3\nf 1 2 9\n", "line 5: face refers to vertex 9, but the file has 3 vertices"),
        "zero.obj": (base + "f 0 1 2\n", "line 4: face vertex index 0 is not valid"),
        "behind.obj": (base + "f -1 -2 -4\n", "line 4: face refers to vertex -4"),
        "nofaces.obj": (base, "contains no surface geometry (no 'f' face lines)"),
        "nan.obj": ("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n", "vertex 1 (line 2) has a non-finite coordinate"),
        "short.obj": ("v 0 0 0\nv 1 0\nv 0 1 0\nf 1 2 3\n", "line 2: a vertex needs 3 coordinates, got 2"),
        "word.obj": (base + "f 1 2 three\n", "OBJ face lines"),
        "line.obj": (base + "f 1 2\n", "face on line 4 has 2 corner(s)"),
    }
    for name, (text, needle) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError) as err:
            read_obj(tmp_path / name)
        assert needle in str(err.value) and str(tmp_path / name) in str(err.value), (name, str(err.value))
        assert "\n" not in str(err.value)


def test_obj_material_library_is_confined(tmp_path):
    inside = tmp_path / "model"
    inside.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    body = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
    (inside / "ok.obj").write_text("mtllib ok.mtl\n" + body)  # missing .mtl: fine, never read
    assert read_obj(inside / "ok.obj").n_cells == 1
    for ref in ("../elsewhere/secret.mtl", str(outside / "secret.mtl"), "/etc/passwd"):
        (inside / "hostile.obj").write_text(f"mtllib {ref}\n" + body)
        with pytest.raises(ConfinementError, match="OBJ material library"):
            read_obj(inside / "hostile.obj")
    (inside / "hostile.obj").write_text("mtllib ../elsewhere/secret.mtl\n" + body)
    with allow_paths(outside):
        assert read_obj(inside / "hostile.obj").n_cells == 1
