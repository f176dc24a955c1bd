"""USDZ packages (twin3d.usd.usdz): a valid zip that pxr opens, with the stage inside."""

from __future__ import annotations

import numpy as np
import pytest
from export_support import z_up_scene

from twin3d import write_scene
from twin3d.errors import InputError
from twin3d.usd import validate_usd
from twin3d.usd.usdz import usdz_files, write_usdz


def test_usdz_package_opens_validates_and_keeps_the_animated_stage(tmp_path):
    from pxr import Sdf, Usd, UsdGeom

    scene = z_up_scene(frames=4)
    out = write_scene(scene, tmp_path / "cell.usdz", frame=0)
    assert out == [tmp_path / "cell.usdz"]
    assert [p.name for p in tmp_path.iterdir()] == ["cell.usdz"]  # no temporary file left
    assert usdz_files(out[0]) == ["cell.usdc"]
    z = Sdf.ZipFile.Open(str(out[0]))
    info = z.GetFileInfo("cell.usdc")
    assert info.dataOffset % 64 == 0 and info.compressionMethod == 0  # the USDZ layout rules
    stage = Usd.Stage.Open(str(out[0]))
    assert stage.GetDefaultPrim().GetPath() == "/World"
    assert UsdGeom.GetStageUpAxis(stage) == "Z" and UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    meshes = [p for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]
    assert len(meshes) >= 4
    assert stage.GetEndTimeCode() == 3.0
    risk = [a for p in stage.Traverse() for a in p.GetAttributes() if a.GetName() == "primvars:twin:risk"]
    assert np.isclose(risk[0].Get(1.0), 0.9)
    assert validate_usd(out[0]) == []


def test_usdz_refusals(tmp_path):
    with pytest.raises(InputError, match="must end in .usdz"):
        write_usdz(z_up_scene(), tmp_path / "cell.zip")
    with pytest.raises(InputError, match="split is for mesh formats"):
        write_scene(z_up_scene(), tmp_path / "cell.usdz", split=True)
    with pytest.raises(InputError, match="not a USDZ"):
        (tmp_path / "fake.usdz").write_text("not a zip")
        usdz_files(tmp_path / "fake.usdz")
