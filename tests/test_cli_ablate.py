"""``twin3d ablate``: USD with the heated organ and the lesion, report, PNG, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from twin3d.io.volumes import Volume, write_nifti


@pytest.fixture(scope="module")
def box_seg(tmp_path_factory):
    """A 'liver' block (builtin label 2) inside a 'body' rim with a 'portal_vein' (label 9) along z."""
    shape, h = (31, 31, 23), 2.0
    arr = np.full(shape, 1, dtype=np.uint8)
    arr[2:-2, 2:-2, 2:-2] = 2
    aff = np.diag([h, h, h, 1.0])
    aff[:3, 3] = -(np.array(shape) - 1) / 2.0 * h
    vol = Volume(arr, aff)
    xyz = vol.index_to_world(np.indices(shape).reshape(3, -1).T)
    arr.reshape(-1)[(xyz[:, 0] - 12.0) ** 2 + xyz[:, 1] ** 2 <= 16.0] = 9
    path = tmp_path_factory.mktemp("seg") / "box_seg.nii.gz"
    write_nifti(Volume(arr, aff), path)
    return path


def _mesh_volume_mm3(mesh) -> float:
    pts = np.asarray(mesh.GetPointsAttr().Get(), dtype=np.float64)
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get())
    idx = np.asarray(mesh.GetFaceVertexIndicesAttr().Get())
    assert np.all(counts == 3)
    tri = pts[idx.reshape(-1, 3)]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


def test_ablate_writes_usd_with_temperature_over_time_and_the_lesion(cli, box_seg, tmp_path):
    from pxr import Usd, UsdGeom

    out, report = tmp_path / "ablation.usdc", tmp_path / "r.json"
    res = cli("ablate", box_seg, "--target", "-6,0,0", "--power", "30", "--time", "180", "--frames", "7",
              "--out", out, "--report", report)
    assert res.exit_code == 0, res
    assert "lesion" in res.stdout and "portal_vein" in res.stdout
    rep = json.loads(report.read_text())
    assert rep["organ"] == "liver" and rep["lesion_volume_ml"] > 1.0 and rep["margin_mm"] > 0
    assert rep["max_temperature_c"] > 60 and rep["cooling_vessels"] == ["portal_vein"]
    assert rep["vessels"][0]["heat_removed_j"] > 0 and len(rep["frames_s"]) == 7

    stage = Usd.Stage.Open(str(out))
    mpu = UsdGeom.GetStageMetersPerUnit(stage)
    assert mpu == pytest.approx(0.001)
    liver = UsdGeom.Mesh(stage.GetPrimAtPath("/World/organs/liver/geom"))
    temp = UsdGeom.PrimvarsAPI(liver.GetPrim()).GetPrimvar("twin:temperature")
    samples = temp.GetAttr().GetTimeSamples()
    assert len(samples) == 7
    first = np.asarray(temp.Get(samples[0]))
    assert np.allclose(first, 37.0) and np.asarray(temp.Get(samples[-1])).max() > 38.0
    assert len(first) == len(liver.GetPointsAttr().Get())
    lesion = UsdGeom.Mesh(stage.GetPrimAtPath("/World/ablation/lesion/geom"))
    assert lesion and stage.GetPrimAtPath("/World/ablation/applicator/geom")
    assert stage.GetPrimAtPath("/World/organs/portal_vein/geom")
    mesh_ml = _mesh_volume_mm3(lesion) / 1000.0
    assert mesh_ml == pytest.approx(rep["lesion_volume_ml"], rel=0.1), (mesh_ml, rep["lesion_volume_ml"])
    assert rep["lesion"]["mesh_volume_ml"] == pytest.approx(mesh_ml, rel=1e-3)


def test_ablate_png_and_json(cli, box_seg, tmp_path):
    import imageio.v3 as iio
    from conftest import image_stats

    out = tmp_path / "ablation.png"
    res = cli("ablate", box_seg, "--target", "-6,0,0", "--power", "30", "--time", "120", "--out", out,
              "--size", "320x240", "--json")
    assert res.exit_code == 0, res
    rep = json.loads(res.stdout)
    assert rep["format"] == "twin3d.ablation-report"
    img = iio.imread(out)
    assert img.shape[:2] == (240, 320) and image_stats(img)["n_colors"] > 20


@pytest.mark.parametrize("args, needles", [
    (["--target", "0,0,21", "--power", "30", "--time", "60"], ["lies outside the liver", "'body' (label 1)"]),
    (["--target", "0,0,0", "--power", "500", "--time", "60"], ["power must be in (0, 250] W"]),
    (["--target", "0,0,0", "--power", "30", "--time", "0.1"], ["time must be in [1, 3600] s"]),
    (["--target", "0,0", "--power", "30", "--time", "60"], ["--target '0,0': expected three numbers"]),
    (["--target", "0,0,0", "--power", "30", "--time", "60", "--organ", "spleen"], ["no voxels of organ 'spleen'"]),
    (["--target", "0,0,0", "--power", "30", "--time", "60", "--vessels", "aorta"], ["no voxels of vessel 'aorta'"]),
])
def test_ablate_errors_are_one_line_and_write_nothing(cli, box_seg, tmp_path, args, needles):
    out = tmp_path / "x.usdc"
    res = cli("ablate", box_seg, *args, "--out", out, "--report", tmp_path / "r.json")
    res.assert_error(*needles)
    assert list(tmp_path.iterdir()) == []


def test_ablate_refuses_unknown_outputs_before_simulating(cli, box_seg, tmp_path):
    cli("ablate", box_seg, "--target", "0,0,0", "--power", "30", "--time", "60", "--out",
        tmp_path / "x.obj").assert_error("unsupported output '.obj'", ".usdc")
    cli("ablate", box_seg, "--target", "0,0,0", "--power", "30", "--time", "60", "--out", tmp_path / "x.usdc",
        "--report", tmp_path / "r.txt").assert_error("the report is JSON")
    assert list(tmp_path.iterdir()) == []
