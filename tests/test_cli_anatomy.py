"""``twin3d surfaces`` (twin3d/cli/anatomy.py): a label map -> organ surfaces in a file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

from twin3d.io.volumes import Volume, write_nifti


def small_seg(folder: Path) -> Path:
    """Two touching balls (labels 1 and 3) on an oblique, anisotropic grid."""
    g = np.indices((30, 26, 24)).transpose(1, 2, 3, 0)
    a = np.zeros((30, 26, 24), np.uint8)
    a[((g - (10.0, 13, 12)) ** 2).sum(-1) <= 6.0**2] = 1
    a[((g - (19.0, 13, 12)) ** 2).sum(-1) <= 5.0**2] = 3
    c, s = np.cos(0.4), np.sin(0.4)
    affine = np.eye(4)
    affine[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ np.diag([1.5, 1.5, 2.0])
    affine[:3, 3] = (10.0, -20.0, 5.0)
    return write_nifti(Volume(a, affine), folder / "seg.nii.gz")


def signed_volume(mesh: pv.PolyData) -> float:
    p, f = np.asarray(mesh.points, float), mesh.regular_faces
    return float(np.einsum("ij,ij->i", p[f[:, 0]], np.cross(p[f[:, 1]], p[f[:, 2]])).sum() / 6.0)


def test_cli_surfaces_vtm(tmp_path, cli):
    seg = small_seg(tmp_path)
    out = tmp_path / "out" / "organs.vtm"
    res = cli("surfaces", seg, "--out", out, "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["output"] == str(out)
    assert [o["name"] for o in report["organs"]] == ["body", "spleen"]
    mb = pv.read(out)
    assert list(mb.keys()) == ["body", "spleen"]
    spleen = mb["spleen"]
    assert spleen.n_cells > 0
    assert float(spleen.field_data["volume_ml"][0]) == pytest.approx(report["organs"][1]["volume_ml"], rel=1e-3)
    assert abs(signed_volume(spleen.triangulate()) / 1000 - report["organs"][1]["volume_ml"]) < 1e-3


def test_cli_surfaces_table(tmp_path, cli):
    """Without --json: a table of the organs and one 'wrote' line."""
    res = cli("surfaces", small_seg(tmp_path), "--out", tmp_path / "organs.vtm", "--method", "flying_edges")
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())  # rich wraps to the terminal width
    assert f"wrote {tmp_path / 'organs.vtm'}: 2 organ surfaces (flying_edges)" in text, text
    assert (tmp_path / "organs.vtm").is_file()


def test_cli_surfaces_usd(tmp_path, cli):
    pytest.importorskip("pxr")
    from pxr import Usd, UsdGeom

    seg = small_seg(tmp_path)
    table = tmp_path / "labels.json"
    table.write_text(json.dumps({"1": "liver", "3": {"name": "lesion", "color": "#ff0000"}}))
    out = tmp_path / "organs.usda"
    res = cli("surfaces", seg, "--labels", table, "--out", out, "-q")
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    stage = Usd.Stage.Open(str(out))
    assert UsdGeom.GetStageMetersPerUnit(stage) == pytest.approx(0.001)
    labels = {}
    for prim in stage.Traverse():
        attr = prim.GetAttribute("semantics:labels:class")
        if attr and attr.HasValue():
            labels[prim.GetName()] = list(attr.Get())
    assert labels == {"liver": ["liver"], "lesion": ["lesion"]}


def test_cli_surfaces_errors_leave_no_output(tmp_path, cli):
    image = write_nifti(Volume(np.linspace(-1, 1, 27).reshape(3, 3, 3), np.eye(4)), tmp_path / "ct.nii.gz")
    out = tmp_path / "organs.vtm"
    res = cli("surfaces", image, "--out", out)
    assert res.exit_code == 2
    assert "non-integer values" in res.stderr and "Traceback" not in res.output
    assert not out.exists() and not (tmp_path / "organs").exists()
    res = cli("surfaces", small_seg(tmp_path), "--out", tmp_path / "organs.stl")
    assert res.exit_code == 2 and ".usdc, .usda, .usd, .png, .vtm" in res.stderr
    res = cli("surfaces", tmp_path / "seg.nii.gz", "--out", out, "--method", "marching")
    assert res.exit_code == 2 and "surface_nets, flying_edges" in res.stderr
    empty = write_nifti(Volume(np.zeros((4, 4, 4), np.uint8), np.eye(4)), tmp_path / "empty.nii.gz")
    res = cli("surfaces", empty, "--out", out)
    assert res.exit_code == 2 and "label map is empty" in res.stderr
    res = cli("surfaces", tmp_path / "missing.nii.gz", "--out", out)
    assert res.exit_code == 2 and "missing.nii.gz: no such file or folder" in res.stderr
    res = cli("surfaces", tmp_path / "seg.nii.gz", "--labels", tmp_path / "missing.json", "--out", out)
    assert res.exit_code == 2 and "missing.json: label table file not found" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nii.gz", "empty.nii.gz", "seg.nii.gz"]
