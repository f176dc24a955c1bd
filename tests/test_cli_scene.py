"""``twin3d build | info | demo`` (twin3d/cli/scene.py), run as a real subprocess (as a user would)."""

import json
import os
import subprocess
import sys
from pathlib import Path



REPO = Path(__file__).resolve().parents[1]


def run(*args, cwd=None):
    exe = Path(sys.executable).with_name("twin3d")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "twin3d"]
    env = dict(os.environ, TWIN3D_NO_PROGRESS="1")
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def assert_clean_error(res, *needles):
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [l for l in res.stderr.splitlines() if l.strip() and "vtk" not in l.lower()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_build_info_render(tmp_path):
    spec = REPO / "scenes" / "factory_line.yaml"
    usd = tmp_path / "f.usda"
    res = run("build", spec, "--out", usd)
    assert res.returncode == 0, res.stderr
    assert usd.exists() and "wrote" in res.stdout
    res = run("info", usd, "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["units"] == "m" and len([a for a in info["assets"] if a["vertices"]]) >= 8
    png = tmp_path / "f.png"
    res = run("render", usd, "--out", png, "--camera", "top", "--size", "320x200")
    assert res.returncode == 0, res.stderr
    import imageio.v3 as iio

    assert iio.imread(png).shape[:2] == (200, 320)


def test_bad_inputs_one_line_exit_2_no_output(tmp_path):
    out = tmp_path / "x.usda"
    assert_clean_error(run("build", tmp_path / "missing.yaml", "--out", out), "missing.yaml: no such scene file")
    bad = tmp_path / "bad.yaml"
    bad.write_text("assets:\n  - {name: a, kind: lathe}\n")
    assert_clean_error(run("build", bad, "--out", out), "bad.yaml", "assets[0].kind", "cnc_mill")
    assert_clean_error(run("build", REPO / "scenes" / "factory_line.yaml", "--out", tmp_path / "x.obj"), "x.obj")
    txt = tmp_path / "scene.txt"
    txt.write_text("hello")
    assert_clean_error(run("render", txt, "--out", tmp_path / "x.png"), "scene.txt")
    assert_clean_error(run("render", REPO / "scenes" / "factory_line.yaml", "--out", tmp_path / "x.png",
                           "--size", "big"), "WIDTHxHEIGHT")
    corrupt = tmp_path / "corrupt.usdc"
    corrupt.write_bytes(b"PXR-USDC" + b"\x00" * 40)
    assert_clean_error(run("info", corrupt), "corrupt.usdc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "corrupt.usdc", "scene.txt"]


def test_info_on_a_spec_runs_no_section_and_writes_nothing(tmp_path):
    spec = tmp_path / "seg.yaml"
    spec.write_text("name: organs\nunits: mm\nsegmentation:\n  phantom: {seed: 3}\n  labelmap_out: out/seg.nii.gz\n")
    res = run("info", spec)
    assert res.returncode == 0, res.stderr
    assert "organs" in res.stdout and "sections (not run; use --run): segmentation" in res.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.yaml"]
    res = run("info", REPO / "scenes" / "factory_line.yaml", "--json")
    info = json.loads(res.stdout)
    assert info["sections_not_run"] == ["risk", "sensors"] and info["frames"] == 1
    assert len([a for a in info["assets"] if a["vertices"]]) >= 8


def test_missing_model_in_a_spec_names_spec_section_and_file(tmp_path):
    spec = tmp_path / "line.yaml"
    spec.write_text("assets:\n  - {name: mill, kind: cnc_mill, sensors: {source: simulator, steps: 20}}\n"
                    "risk: {model: models/missing.skops}\n")
    res = run("build", spec, "--out", tmp_path / "line.usdc")
    assert_clean_error(res, f"{spec}:3: risk.model: ", str(tmp_path / "models" / "missing.skops"), "no such")
    assert not (tmp_path / "line.usdc").exists()
