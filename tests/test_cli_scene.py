"""``twin3d build | info | demo`` (twin3d/cli/scene.py)."""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_build_info_render(cli, tmp_path):
    spec = REPO / "scenes" / "factory_line.yaml"
    usd = tmp_path / "f.usda"
    res = cli("build", spec, "--out", usd)
    assert res.exit_code == 0, res
    assert usd.exists() and "wrote" in res.stdout
    res = cli("info", usd, "--json")
    assert res.exit_code == 0, res
    info = json.loads(res.stdout)
    assert info["units"] == "m" and len([a for a in info["assets"] if a["vertices"]]) >= 8
    assert "risk" in info["fields"] and info["frames"] == 100
    png = tmp_path / "f.png"
    res = cli("render", usd, "--out", png, "--camera", "top", "--size", "320x200")
    assert res.exit_code == 0, res
    import imageio.v3 as iio

    assert iio.imread(png).shape[:2] == (200, 320)


def test_bad_inputs_one_line_exit_2_no_output(cli, tmp_path):
    out = tmp_path / "x.usda"
    cli("build", tmp_path / "missing.yaml", "--out", out).assert_error("missing.yaml: no such scene file")
    bad = tmp_path / "bad.yaml"
    bad.write_text("assets:\n  - {name: a, kind: lathe}\n")
    cli("build", bad, "--out", out).assert_error("bad.yaml:2: assets[0].kind", "cnc_mill")
    cli("build", REPO / "scenes" / "factory_line.yaml", "--out", tmp_path / "x.obj").assert_error("x.obj")
    txt = tmp_path / "scene.txt"
    txt.write_text("hello")
    cli("render", txt, "--out", tmp_path / "x.png").assert_error("scene.txt")
    cli("render", REPO / "scenes" / "factory_line.yaml", "--out", tmp_path / "x.png",
        "--size", "big").assert_error("WIDTHxHEIGHT")
    corrupt = tmp_path / "corrupt.usdc"
    corrupt.write_bytes(b"PXR-USDC" + b"\x00" * 40)
    cli("info", corrupt).assert_error("corrupt.usdc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "corrupt.usdc", "scene.txt"]


def test_info_on_a_spec_runs_no_section_and_writes_nothing(cli, tmp_path):
    spec = tmp_path / "seg.yaml"
    spec.write_text("name: organs\nunits: mm\nsegmentation:\n  phantom: {seed: 3}\n  labelmap_out: out/seg.nii.gz\n")
    res = cli("info", spec)
    assert res.exit_code == 0, res
    assert "organs" in res.stdout and "sections (not run; use --run): segmentation" in res.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.yaml"]
    res = cli("info", REPO / "scenes" / "factory_line.yaml", "--json")
    info = json.loads(res.stdout)
    assert info["sections_not_run"] == ["risk", "sensors"] and info["frames"] == 1
    assert len([a for a in info["assets"] if a["vertices"]]) >= 8
    res = cli("info", REPO / "scenes" / "factory_line.yaml", "--json", "--run")
    info = json.loads(res.stdout)
    assert "sections_not_run" not in info and info["frames"] == 100 and "risk" in info["fields"]


def test_missing_model_in_a_spec_names_spec_section_and_file(cli, tmp_path):
    spec = tmp_path / "line.yaml"
    spec.write_text("assets:\n  - {name: mill, kind: cnc_mill, sensors: {source: simulator, steps: 20}}\n"
                    "risk: {model: models/missing.skops}\n")
    res = cli("build", spec, "--out", tmp_path / "line.usdc")
    res.assert_error(f"{spec}:3: risk.model: ", str(tmp_path / "models" / "missing.skops"), "no such risk model")
    assert not (tmp_path / "line.usdc").exists()



def test_build_is_all_or_nothing(cli, tmp_path):
    """A spec whose segmentation writes a label map, then fails later: nothing is written."""
    spec = tmp_path / "organs.yaml"
    spec.write_text("name: organs\nunits: mm\nsegmentation:\n  phantom: {seed: 3, spacing_mm: 6}\n"
                    "  labelmap_out: out/seg.nii.gz\nappearance:\n  no_such_organ: {opacity: 0.5}\n")
    res = cli("build", spec, "--out", tmp_path / "organs.usdc")
    res.assert_error(f"{spec}:7: appearance.no_such_organ")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["organs.yaml", "out"]
    spec.write_text(spec.read_text().split("appearance")[0])
    res = cli("build", spec, "--out", tmp_path / "organs.usdc")
    assert res.exit_code == 0, res
    assert (tmp_path / "out" / "seg.nii.gz").is_file() and (tmp_path / "organs.usdc").is_file()
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


def test_sigterm_is_one_line_exit_130_and_leaves_no_temporaries(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "sim.csv"
    proc = subprocess.Popen([sys.executable, "-m", "twin3d", "risk", "simulate", "--out", str(out),
                             "--machines", "50", "--steps", "200000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == ["twin3d: error: interrupted"]
    assert list(tmp_path.iterdir()) == []
