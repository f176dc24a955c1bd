"""OBJ/MTL, PLY and STL export (twin3d.io.meshfiles), re-read with trimesh."""

from __future__ import annotations

import numpy as np
import pytest
from export_support import green_ish, mm_y_up_scene, red_ish, visible_bounds, z_up_scene

from twin3d import write_scene
from twin3d.colors import map_values

trimesh = pytest.importorskip("trimesh")

VISIBLE = {"line/tower": 12, "line/pump": 12, "heater": 32, "guard": 12}


def _z_to_y(lo, hi):
    """Bounds of a Z-up box after the +Y-up rotation (x, y, z) -> (x, z, -y)."""
    return np.array([lo[0], lo[2], -hi[1]]), np.array([hi[0], hi[2], -lo[1]])


def _obj_objects(path):
    return trimesh.load(path, force="scene", split_objects=True, group_material=False)


def test_obj_objects_triangles_bounds_materials_and_vertex_colours(tmp_path):
    scene = z_up_scene()
    files = write_scene(scene, tmp_path / "cell.obj", frame=1)
    assert [f.name for f in files] == ["cell.obj", "cell.mtl"]
    text = files[0].read_text()
    assert "mtllib cell.mtl" in text and "units m, +Y up, frame 1 (frames 0-2)" in text
    sc = _obj_objects(files[0])
    assert {n: len(g.faces) for n, g in sc.geometry.items()} == VISIBLE
    # metres, +Y up: the 3 m tower is tall along Y
    tower = sc.geometry["line/tower"]
    assert np.ptp(tower.bounds[:, 1]) == pytest.approx(3.0, abs=1e-6)
    lo, hi = _z_to_y(*visible_bounds(scene))
    assert np.allclose(sc.bounds, [lo, hi], atol=1e-6)
    # materials: the pump coloured by its risk at frame 1 (busy: red); at frame 0 (calm) green
    by_material = trimesh.load(files[0], force="scene", split_objects=True)
    pump = [g for n, g in by_material.geometry.items() if n.startswith("line/pump")]
    assert len(pump) == 1 and red_ish(pump[0].visual.material.diffuse[:3] / 255)
    calm = write_scene(scene, tmp_path / "calm.obj", frame=0)[0]
    pump0 = [g for n, g in trimesh.load(calm, force="scene", split_objects=True).geometry.items()
             if n.startswith("line/pump")]
    assert green_ish(pump0[0].visual.material.diffuse[:3] / 255)
    # material mode: one material per part, with the part colours
    parts = write_scene(scene, tmp_path / "parts.obj", color_by="material")[0]
    pump_parts = {n: g.visual.material.diffuse[:3] for n, g in
                  trimesh.load(parts, force="scene", split_objects=True).geometry.items() if n.startswith("line/pump")}
    assert sorted(pump_parts) == ["line/pump_line__pump__body", "line/pump_line__pump__lid"]
    assert np.allclose(pump_parts["line/pump_line__pump__body"] / 255, (0.9, 0.1, 0.1), atol=0.01)
    mtl = (tmp_path / "parts.mtl").read_text()
    assert "newmtl line__tower\nKd 0.8 0.8 0.8" in mtl and "Pm 0.9" in mtl and "d 0.4" in mtl
    # temperature mode: the heater's vertex colours are its temperatures at the frame
    temp = write_scene(scene, tmp_path / "temp.obj", frame=2, color_by="temperature")[0]
    heater = _obj_objects(temp).geometry["heater"]
    f = scene.get("heater").fields["temperature"]
    local = heater.vertices.copy()
    # back to the heater's local frame: undo +Y up, then its translation (0, -2, 1)
    local = np.c_[local[:, 0], -local[:, 2], local[:, 1]] - (0, -2, 1)
    src = [int(np.argmin(np.linalg.norm(scene.get("heater").mesh.points - p, axis=1))) for p in local]
    expected = map_values(f.values[2][src], "temperature", (float(f.values.min()), float(f.values.max())))
    assert np.allclose(heater.vertex_attributes["color"][:, :3], expected, atol=0.01)


def test_ply_binary_vertex_colours_of_the_frame_and_z_up(tmp_path):
    scene = z_up_scene()
    busy = write_scene(scene, tmp_path / "busy.ply", frame=1)[0]
    assert b"format binary_little_endian 1.0" in busy.read_bytes()[:200]
    mesh = trimesh.load(busy, process=False)
    assert len(mesh.faces) == sum(VISIBLE.values())
    lo, hi = visible_bounds(scene)
    assert np.allclose(mesh.bounds, [lo, hi], atol=1e-6)  # metres, +Z up: unchanged for a Z-up scene
    header = busy.read_bytes().split(b"end_header")[0].decode()
    ranges = {ln.split()[2]: (int(ln.split()[4]), int(ln.split()[5])) for ln in header.splitlines()
              if ln.startswith("comment asset")}
    assert set(ranges) == set(VISIBLE)
    v0, v1 = ranges["line/pump"]
    rgba = mesh.visual.vertex_colors
    assert all(red_ish(c[:3] / 255) for c in rgba[v0:v1])
    calm = trimesh.load(write_scene(scene, tmp_path / "calm.ply", frame=0)[0], process=False)
    assert all(green_ish(c[:3] / 255) for c in calm.visual.vertex_colors[v0:v1])
    # the guard's opacity is the vertex alpha
    g0, g1 = ranges["guard"]
    assert np.all(rgba[g0:g1, 3] == round(0.4 * 255))
    # parts in the material mode: vertices on part borders are duplicated so every face keeps its colour
    parts = trimesh.load(write_scene(scene, tmp_path / "parts.ply", color_by="material")[0], process=False)
    corner = parts.visual.vertex_colors[parts.faces][..., :3]
    assert np.all(corner.min(axis=1) == corner.max(axis=1))
    colours = {tuple(c) for c in corner[:, 0]}
    assert (230, 26, 26) in colours and (26, 26, 230) in colours


def test_stl_binary_units_axes_and_split(tmp_path):
    scene = mm_y_up_scene()
    stl = write_scene(scene, tmp_path / "bench.stl")[0]
    assert not stl.read_bytes().startswith(b"solid")  # binary
    mesh = trimesh.load(stl)
    assert len(mesh.faces) == 12
    # metres, +Z up: the block's 200 mm height along Y becomes 0.2 m along Z
    assert np.allclose(mesh.bounds, [[1.0, -0.3, 0.0], [1.1, 0.0, 0.2]], atol=1e-6)
    mm = trimesh.load(write_scene(scene, tmp_path / "bench_mm.stl", units="mm")[0])
    assert np.allclose(mm.bounds, [[1000, -300, 0], [1100, 0, 200]], atol=1e-3)
    # split: one file per visible asset, named after its path, in the folder named after the output
    cell = z_up_scene()
    files = write_scene(cell, tmp_path / "out" / "cell.stl", split=True)
    assert sorted(f.name for f in files) == sorted(["line__tower.stl", "line__pump.stl", "heater.stl", "guard.stl"])
    assert {f.parent for f in files} == {tmp_path / "out" / "cell"}
    tower = trimesh.load(tmp_path / "out" / "cell" / "line__tower.stl")
    assert np.allclose(tower.bounds, [[2, 0, 0], [2.5, 0.5, 3]], atol=1e-6)  # world coordinates
    for ext in (".obj", ".ply"):
        split = write_scene(cell, tmp_path / f"cell{ext}", split=True)
        names = sorted(f.name for f in split if f.suffix == ext)
        assert names == sorted(f"{n}{ext}" for n in ["line__tower", "line__pump", "heater", "guard"])
    one = _obj_objects(tmp_path / "cell" / "line__pump.obj")
    assert list(one.geometry) == ["line/pump"] and len(one.geometry["line/pump"].faces) == 12
