"""The writer registry and write_scene (twin3d.io.writers): dispatch by extension, frames,
colour modes, split names, atomic writes, and USD written through it (re-read with pxr)."""

from __future__ import annotations

import numpy as np
import pytest
from export_support import z_up_scene

from twin3d import write_scene
from twin3d.errors import InputError, UnsupportedFormatError
from twin3d.io.writers import (
    WRITERS,
    atomic_outputs,
    register_writer,
    resolve_frame,
    split_folder,
    split_names,
    supported_write_extensions,
)


def test_supported_extensions_and_unknown_extension_lists_them(tmp_path):
    assert set(supported_write_extensions()) >= {".usda", ".usdc", ".usd", ".usdz", ".glb", ".gltf", ".obj", ".ply",
                                                 ".stl"}
    with pytest.raises(UnsupportedFormatError) as err:
        write_scene(z_up_scene(), tmp_path / "cell.fbx")
    msg = str(err.value)
    assert "cell.fbx" in msg and "'.fbx'" in msg and ".glb, .gltf, .obj, .ply, .stl, .usd, .usda, .usdc, .usdz" in msg
    with pytest.raises(UnsupportedFormatError, match="without extension"):
        write_scene(z_up_scene(), tmp_path / "cell")
    assert not list(tmp_path.iterdir())


def test_register_writer_gets_resolved_options(tmp_path):
    seen = {}

    @register_writer(".pts")
    def write_pts(scene, path, *, frame, split, color_by, units):
        seen.update(frame=frame, split=split, color_by=color_by, units=units)
        path.write_text("\n".join(a.name for a in scene.assets()))
        return [path]

    try:
        out = write_scene(z_up_scene(frames=5), tmp_path / "cell.PTS", frame=-2, units="mm")
        assert out == [tmp_path / "cell.PTS"] and "tower" in out[0].read_text()
        assert seen == {"frame": 3, "split": False, "color_by": "risk", "units": "mm"}
    finally:
        WRITERS.pop(".pts")


def entry_point_writer(scene, path, *, frame, split, color_by, units):
    path.write_text(f"{scene.name} frame {frame}")
    return [path]


def test_writers_from_the_entry_point_group(tmp_path, monkeypatch):
    import importlib.metadata

    import twin3d.io.writers as writers

    ep = importlib.metadata.EntryPoint(name="xyz", value="test_writers:entry_point_writer", group="twin3d.writers")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None: [ep] if group == "twin3d.writers" else [])
    monkeypatch.setattr(writers, "_ENTRY_POINTS_LOADED", False)
    try:
        assert ".xyz" in supported_write_extensions()
        assert write_scene(z_up_scene(), tmp_path / "a.xyz") == [tmp_path / "a.xyz"]
        assert (tmp_path / "a.xyz").read_text() == "cell frame 2"
    finally:
        WRITERS.pop(".xyz", None)


def test_frames_colour_modes_and_units_are_checked(tmp_path):
    scene = z_up_scene(frames=4)
    assert resolve_frame(scene, None) == 3 and resolve_frame(scene, -4) == 0 and resolve_frame(scene, 2) == 2
    for bad in (4, -5):
        with pytest.raises(InputError, match=r"frame .* out of range: scene 'cell' has 4 frame\(s\) \(0-3"):
            write_scene(scene, tmp_path / "x.stl", frame=bad)
    with pytest.raises(InputError, match="cannot color by 'pressure'.*risk, temperature, labels, material"):
        write_scene(scene, tmp_path / "x.ply", color_by="pressure")
    with pytest.raises(InputError, match="unknown units 'furlong'"):
        write_scene(scene, tmp_path / "x.obj", units="furlong")
    with pytest.raises(InputError, match="split is for mesh formats"):
        write_scene(scene, tmp_path / "x.usda", split=True)
    with pytest.raises(InputError, match="keeps the scene's units"):
        write_scene(scene, tmp_path / "x.usdc", units="mm")
    with pytest.raises(InputError, match="label colours"):
        write_scene(scene, tmp_path / "x.usda", color_by="labels")
    assert not list(tmp_path.iterdir())


def test_split_names_are_sanitised_unique_and_stable():
    paths = ["line/cnc_mill_01", "line__cnc_mill_01", "Line/CNC_mill_01", "odd name/ä+b", ".hidden", "a.b-c"]
    names = split_names(paths)
    assert names == ["line__cnc_mill_01", "line__cnc_mill_01_2", "Line__CNC_mill_01_3", "odd_name____b", "hidden",
                     "a.b-c"]
    assert split_names(paths) == names
    assert all(set(n) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") for n in names)
    from pathlib import Path

    assert split_folder(Path("out/line.stl")) == Path("out/line")
    assert split_folder(Path("out/line.tar.glb")) == Path("out/line.tar")


def test_atomic_outputs_write_all_files_or_none(tmp_path):
    keep = tmp_path / "a.obj"
    keep.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_outputs([keep, tmp_path / "a.mtl", tmp_path / "sub" / "b.obj"]) as temps:
            for t in temps:
                t.write_text("new")
            raise RuntimeError("disk full")
    assert keep.read_text() == "old"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.obj"]
    with atomic_outputs([keep, tmp_path / "a.mtl"]) as temps:
        for t in temps:
            t.write_text("new")
    assert keep.read_text() == "new" and (tmp_path / "a.mtl").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["a.mtl", "a.obj"]


def test_a_failing_split_write_leaves_no_file(tmp_path):
    (tmp_path / "cell" / "heater.stl").mkdir(parents=True)  # the third file cannot be written
    with pytest.raises(InputError, match="heater.stl: is a folder"):
        write_scene(z_up_scene(), tmp_path / "cell.stl", split=True)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_usd_through_write_scene_keeps_every_frame_units_and_axis(tmp_path):
    from pxr import Usd, UsdGeom

    scene = z_up_scene(frames=4)
    out = write_scene(scene, tmp_path / "cell.usda", frame=1)
    assert out == [tmp_path / "cell.usda"]
    stage = Usd.Stage.Open(str(out[0]))
    assert UsdGeom.GetStageUpAxis(stage) == "Z" and UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert stage.GetPrimAtPath("/World/line/pump").IsValid()
    assert stage.GetEndTimeCode() == 3.0
    risk = [a for p in stage.Traverse() for a in p.GetAttributes() if a.GetName() == "primvars:twin:risk"]
    assert risk and len(risk[0].GetTimeSamples()) == 4
    assert np.isclose(risk[0].Get(1.0), 0.9)
