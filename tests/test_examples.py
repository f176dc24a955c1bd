"""The scripts in ``examples/``: each runs as a user would (a subprocess, another current
folder) at small sizes, and its files are opened again and checked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import REPO, image_stats, require_real_data

import twin3d

EXAMPLES = REPO / "examples"
SMALL = ("--size", "320x180")


def run_example(script: str, *args, cwd: Path) -> str:
    """Run ``examples/<script>`` from ``cwd``; returns its stdout (the test fails with its output)."""
    env = dict(os.environ, TWIN3D_NO_PROGRESS="1")
    res = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, f"{script} exited with {res.returncode}:\n{res.stdout}\n{res.stderr[-4000:]}"
    return res.stdout


def written(stdout: str, cwd: Path) -> list[Path]:
    """The files a script says it wrote ("wrote PATH" lines); each must exist."""
    paths = [cwd / line[len("wrote "):].strip() for line in stdout.splitlines() if line.startswith("wrote ")]
    assert paths, stdout
    for p in paths:
        assert p.is_file() and p.stat().st_size > 0, p
    return paths


def check_png(path: Path, size=(320, 180), min_colors: int = 20) -> np.ndarray:
    img = iio.imread(path)
    assert img.shape[:2] == (size[1], size[0])
    stats = image_stats(img)
    assert stats["std"] > 10 and stats["n_colors"] >= min_colors, (path, stats)
    return img


def fields_of(scene, name: str) -> dict:
    return {p: a.fields[name] for p, a in scene.walk() if name in a.fields}


def test_readme_lists_every_example():
    readme = (EXAMPLES / "README.md").read_text()
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert len(scripts) == 6
    for name in scripts:
        assert f"python examples/{name}" in readme, name


def test_factory_from_spec(tmp_path):
    out = run_example("factory_from_spec.py", *SMALL, "--video", "--video-frames", "3", cwd=tmp_path)
    usd, png, mp4 = written(out, tmp_path)
    assert usd.parent == tmp_path / "examples-out" / "factory_from_spec"  # the default output folder

    scene = twin3d.read_usd(usd)
    risk = fields_of(scene, "risk")
    assert len(risk) == 14 and scene.n_frames == 100  # every machine with sensors, every frame
    values = np.stack([f.values for f in risk.values()])
    assert values.shape == (14, 100) and values.min() >= 0 and values.max() <= 1
    assert np.ptp(values, axis=1).max() > 0.5  # animated: risk rises and falls over time

    # the printed frame is the one of highest summed risk, and its top 3 are the printed ones
    frame = int(re.search(r"busiest frame: (\d+)", out).group(1))
    assert frame == int(np.argmax(values.sum(axis=0)))
    printed = [float(v) / 100 for v in re.findall(r"risk\s+([\d.]+)%", out)]
    np.testing.assert_allclose(printed, np.sort(values[:, frame])[::-1][:3], atol=1e-3)

    check_png(png)
    assert mp4.suffix == ".mp4" and mp4.read_bytes()[4:8] == b"ftyp"


def test_factory_from_python(tmp_path):
    out = run_example("factory_from_python.py", "--machines", 3, "--steps", 20, "--train-machines", 4,
                      "--train-steps", 300, *SMALL, "--out", "out", cwd=tmp_path)
    usd, png = written(out, tmp_path)
    assert usd == tmp_path / "out" / "python_line.usdc"

    scene = twin3d.read_usd(usd)
    risk = fields_of(scene, "risk")
    assert sorted(risk) == ["line/cnc_01", "line/cnc_02", "line/cnc_03"]  # the conveyor has no sensors
    for path, f in risk.items():
        assert f.association == "asset" and f.values.shape == (20,)
        assert 0 <= f.values.min() and f.values.max() <= 1
        assert "torque" in scene.get(path).sensors and scene.get(path).sensors["torque"].values.shape == (20,)
    assert scene.n_frames == 20 and np.ptp(np.stack([f.values for f in risk.values()])) > 0
    check_png(png)


@pytest.mark.slow
def test_thermal_twin(tmp_path):
    out = run_example("thermal_twin.py", "--lbfgs-steps", 40, "--frames", 4, *SMALL, "--out", "out", cwd=tmp_path)
    files = written(out, tmp_path)
    assert (tmp_path / "out" / "plate_pinn.pt").is_file()
    errors = [float(e) for e in re.findall(r"error (?:vs the analytic solution: )?([\d.e+-]+)", out)]
    assert len(errors) == 2 and errors[0] == errors[1] < 0.05  # trained, and the same after save/load

    plate = twin3d.read_usd(tmp_path / "out" / "plate_twin.usdc")
    motor = twin3d.read_usd(tmp_path / "out" / "motor_twin.usdc")
    (t_plate,) = fields_of(plate, "temperature").values()
    (t_motor,) = fields_of(motor, "temperature").values()
    for f, scene in ((t_plate, plate), (t_motor, motor)):
        assert f.association == "vertex" and f.values.shape == (4, scene.assets()[0].n_points)
    plate_max = t_plate.values.max(axis=1)  # the plate cools from its centre (about 1 degC)
    assert 0.9 < plate_max[0] < 1.1 and np.all(np.diff(plate_max) < 0)
    motor_mean = t_motor.values.mean(axis=1)  # the motor heats up from 25 degC
    assert motor_mean[0] == pytest.approx(25.0, abs=0.5) and np.all(np.diff(motor_mean) > 1.0)
    for png in (p for p in files if p.suffix == ".png"):
        check_png(png)


def enclosed_volume(mesh) -> float:
    """Volume enclosed by a triangle surface (divergence theorem; outward faces give a positive volume)."""
    p = np.asarray(mesh.points, dtype=np.float64)
    tri = mesh.faces.reshape(-1, 4)[:, 1:]
    return float(np.einsum("ij,ij->i", p[tri[:, 0]], np.cross(p[tri[:, 1]], p[tri[:, 2]])).sum() / 6.0)


def check_organs(usd: Path, labelmap_path: Path, names: dict[int, str], rtol: float = 0.05) -> None:
    """Every label is an organ; a compact one (>= 20 mL) encloses the volume of its voxels (within rtol).

    Left out: thin structures (ribs, small vessels), which shrink more under smoothing, and
    organs cut by the edge of the scan, whose surfaces are open there.
    """
    labelmap = twin3d.read_labelmap(labelmap_path)
    a = labelmap.array.astype(np.int64)
    counts = np.bincount(a.ravel())
    cut = set(np.unique(np.concatenate([a[[0, -1]].ravel(), a[:, [0, -1]].ravel(), a[:, :, [0, -1]].ravel()])))
    checked = 0
    scene = twin3d.read_usd(usd)
    assert scene.units == "mm"
    organs = {a.semantic_label: a for a in scene.assets() if a.asset_type == "organ"}
    present = {names[i] for i in np.flatnonzero(counts[1:]) + 1}
    assert set(organs) == present
    for label, name in names.items():
        voxel_mm3 = counts[label] * labelmap.voxel_volume_mm3 if label < len(counts) else 0.0
        if voxel_mm3 >= 20_000 and label not in cut:
            assert enclosed_volume(organs[name].mesh) == pytest.approx(voxel_mm3, rel=rtol), name
            checked += 1
    assert checked >= 3


def test_organs_from_phantom(tmp_path):
    out = run_example("organs_from_labelmap.py", "--spacing", 6, *SMALL, "--out", "out", cwd=tmp_path)
    nifti, usd, png = written(out, tmp_path)
    assert nifti.name == "phantom_labels.nii.gz"
    from twin3d.phantom import PHANTOM_LABELS

    check_organs(usd, nifti, PHANTOM_LABELS)
    for name in PHANTOM_LABELS.values():  # volume and centroid printed for each organ
        assert re.search(rf"^{name}\s+[\d.]+\s+[\d.]+\s+\(", out, re.MULTILINE), name
    body = twin3d.read_usd(usd).get("body")
    assert body.material.opacity == pytest.approx(0.2)
    check_png(png)


def test_organs_from_real_segmentation(tmp_path):
    seg = require_real_data("ct/abdomen_seg_3mm.nii.gz")
    out = run_example("organs_from_labelmap.py", seg, "--labels", "totalsegmentator", *SMALL, "--out", "out",
                      cwd=tmp_path)
    usd, png = written(out, tmp_path)
    table = twin3d.load_label_table("totalsegmentator")
    check_organs(usd, seg, dict(table.names))
    check_png(png)


def test_render_job_runs_and_resumes(tmp_path):
    out = run_example("render_job.py", "--workers", 1, "--steps", 8, "--train-machines", 3, *SMALL,
                      "--out", "out", cwd=tmp_path)
    assert "first run: {'total': 4, 'rendered': 4, 'skipped': 0, 'failed': 0}" in out
    assert "second run: {'total': 4, 'rendered': 0, 'skipped': 4, 'failed': 0}" in out

    manifest = json.loads((tmp_path / "out" / "renders" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["skipped"] == 4
    items = manifest["items"]
    assert sorted((it["camera"], it["frame"]) for it in items) == [("iso", 0), ("iso", 7), ("top", 0), ("top", 7)]
    images = {(it["camera"], it["frame"]): check_png(tmp_path / "out" / "renders" / it["output"]) for it in items}
    assert not np.array_equal(images["iso", 0], images["top", 0])

    # a third run, from this process: still nothing to render
    report = twin3d.run_render_job(tmp_path / "out" / "job.yaml", workers=1)
    assert report.ok and report.counts == {"total": 4, "rendered": 0, "skipped": 4, "failed": 0}


def test_read_foreign_usd(tmp_path):
    out = run_example("read_foreign_usd.py", *SMALL, "--out", "out", cwd=tmp_path)
    foreign = tmp_path / "out" / "workshop.usda"
    (png,) = written(out, tmp_path)

    # the file is foreign: no twin3d schema or layer data, a Y-up stage in centimetres
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(foreign))
    assert "twin3d" not in (stage.GetRootLayer().customLayerData or {})
    assert not any(api.startswith("Twin") for prim in stage.Traverse() for api in prim.GetAppliedSchemas())
    assert UsdGeom.GetStageUpAxis(stage) == "Y" and UsdGeom.GetStageMetersPerUnit(stage) == 0.01
    assert "units cm (0.01 m), up axis Y" in out

    scene = twin3d.read_usd(foreign)
    meshes = {p: a for p, a in scene.walk() if a.mesh is not None}
    assert sorted(meshes) == ["Workshop/Bench/Geom", "Workshop/Lamp/Geom"]
    assert enclosed_volume(meshes["Workshop/Bench/Geom"].mesh) == pytest.approx(120 * 80 * 60)  # outward faces
    np.testing.assert_allclose(scene.world_matrix("Workshop/Lamp/Geom")[:3, 3], [20, 80, 0])
    img = check_png(png, min_colors=5)
    # both display colours show: the bench's brown and the lamp's yellow
    rgb = img[..., :3].reshape(-1, 3).astype(int)
    assert (np.abs(rgb - [140, 90, 51]).sum(axis=1) < 120).any() and ((rgb[:, 0] > 150) & (rgb[:, 2] < 80)).any()
