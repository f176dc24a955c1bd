"""``twin3d export`` (twin3d/cli/export.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import plain_factory_spec
from export_support import load_gltf, z_up_scene

from twin3d import write_usd


def test_export_spec_to_glb_and_split_stl(cli, factory_scene_path, tmp_path):
    spec = plain_factory_spec(factory_scene_path, tmp_path)
    res = cli("export", spec, "--out", tmp_path / "line.glb")
    assert res.exit_code == 0, res
    assert f"wrote {tmp_path / 'line.glb'}" in res.stdout and "1 file(s) from 18 visible asset(s)" in res.stdout
    gltf, _ = load_gltf(tmp_path / "line.glb")
    assert len(gltf.meshes) == 18 and gltf.nodes[gltf.scenes[0].nodes[0]].name == "factory_line"
    res = cli("export", spec, "--out", tmp_path / "parts" / "line.stl", "--split", "--units", "mm")
    assert res.exit_code == 0, res
    files = sorted((tmp_path / "parts" / "line").glob("*.stl"))
    assert len(files) == 18 and (tmp_path / "parts" / "line" / "line__cnc_mill_01.stl") in files
    assert res.stdout.count("wrote ") == 18


def test_export_usd_input_with_frame_and_colour_mode(cli, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    usd = write_usd(z_up_scene(), tmp_path / "cell.usdc")
    res = cli("export", usd, "--out", tmp_path / "cell.ply", "--frame", "1", "--color-by", "risk")
    assert res.exit_code == 0, res
    mesh = trimesh.load(tmp_path / "cell.ply", process=False)
    assert len(mesh.faces) == 12 + 12 + 32 + 12
    assert b"frame 1 (frames 0-2), colored by risk" in (tmp_path / "cell.ply").read_bytes()[:400]
    res = cli("export", usd, "--out", tmp_path / "cell.usdz")
    assert res.exit_code == 0 and (tmp_path / "cell.usdz").is_file(), res


def test_export_errors_are_one_line(cli, factory_scene_path, tmp_path):
    spec = plain_factory_spec(factory_scene_path, tmp_path / "spec")
    # an unwritable extension is refused before anything is loaded (the scene need not even exist)
    line = cli("export", tmp_path / "missing.yaml", "--out", tmp_path / "x.fbx").assert_error("x.fbx", "'.fbx'")
    assert "writable: .glb, .gltf, .obj, .ply, .stl, .usd, .usda, .usdc, .usdz" in line
    cli("export", tmp_path / "missing.yaml", "--out", tmp_path / "x.glb").assert_error("missing.yaml", "no such")
    cli("export", spec, "--out", tmp_path / "x.glb", "--frame", "7").assert_error("frame 7 is out of range", "1 frame")
    cli("export", spec, "--out", tmp_path / "x.obj", "--color-by", "nope").assert_error("cannot color by 'nope'")
    cli("export", spec, "--out", tmp_path / "x.glb", "--units", "mm").assert_error("glTF is always in metres")
    cli("export", spec, "--out", tmp_path / "x.usda", "--split").assert_error("split is for mesh formats")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec"]


def test_export_a_foreign_usd_keeps_its_face_colours_in_metres(cli, tmp_path):
    """A Y-up stage in centimetres with per-face displayColor (written with plain pxr) -> PLY."""
    trimesh = pytest.importorskip("trimesh")
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.CreateNew(str(tmp_path / "foreign.usda"))
    UsdGeom.SetStageUpAxis(stage, "Y")
    UsdGeom.SetStageMetersPerUnit(stage, 0.01)
    mesh = UsdGeom.Mesh.Define(stage, "/root/quad")
    mesh.CreatePointsAttr([(0, 0, 0), (100, 0, 0), (0, 100, 0), (100, 100, 0)])
    mesh.CreateFaceVertexCountsAttr([3, 3])
    mesh.CreateFaceVertexIndicesAttr([0, 1, 2, 1, 3, 2])
    mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.uniform).Set([(1, 0, 0), (0, 0, 1)])
    stage.SetDefaultPrim(stage.GetPrimAtPath("/root"))
    stage.GetRootLayer().Save()
    res = cli("export", tmp_path / "foreign.usda", "--out", tmp_path / "quad.ply")
    assert res.exit_code == 0, res
    ply = trimesh.load(tmp_path / "quad.ply", process=False)
    assert np.allclose(ply.bounds, [[0, 0, 0], [1, 0, 1]], atol=1e-6)  # metres, +Z up (the stage's Y is up)
    corner = ply.visual.vertex_colors[ply.faces][..., :3]
    assert sorted(map(tuple, corner[:, 0])) == [(0, 0, 255), (255, 0, 0)]
    assert np.all(corner.min(axis=1) == corner.max(axis=1))  # each face one colour
