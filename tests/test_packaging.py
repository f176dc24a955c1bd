"""The wheel: built from the source tree, installed (not editable) into a fresh venv, it runs
``twin3d demo`` from any folder with its packaged scenes, models and USD schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the tracked tree (no build files left in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for rel in files:
        p = REPO / rel
        if p.is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, src / rel)
    dist = tmp_path_factory.mktemp("dist")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(dist), str(src)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "BuildBackendWarning" not in res.stderr and "deprecated" not in res.stderr.lower(), res.stderr
    (whl,) = dist.glob("twin3d-*.whl")
    return whl


def test_wheel_holds_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("twin3d/scenes/factory_line.yaml", "twin3d/scenes/motor_thermal.yaml",
                   "twin3d/scenes/anatomy_phantom.yaml", "twin3d/assets/models/phantom_unet.pt",
                   "twin3d/assets/models/phantom_unet.json", "twin3d/assets/thermal/motor_housing.pt",
                   "twin3d/usd/plugin/plugInfo.json", "twin3d/usd/plugin/generatedSchema.usda",
                   "twin3d/cli/__init__.py", "twin3d/__main__.py"):
        assert needed in names, needed
    assert not any(n.startswith(("tests/", "benchmarks/", "scenes/", "assets/")) for n in names)
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: Apache-2.0" in text


@pytest.mark.slow
def test_installed_wheel_runs_the_demo_from_any_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the new venv sees the test environment's packages (dependencies), but not its twin3d
    (site / "test-env.pth").write_text("\n".join(
        p for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}) + "\n")
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    where = subprocess.run([str(py), "-c", "import twin3d, twin3d.resources as r; print(twin3d.__file__); "
                            "print(r.scenes_dir())"], capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert all(str(venv) in line for line in where.stdout.splitlines()), where.stdout
    work = tmp_path / "elsewhere"
    work.mkdir()
    demo = subprocess.run([str(venv / "bin" / "twin3d"), "demo", "--out", "out"], capture_output=True, text=True,
                          cwd=work, env={"PATH": "/usr/bin:/bin", "TWIN3D_NO_PROGRESS": "1", "HOME": str(tmp_path)},
                          timeout=900)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    out = work / "out"
    for name in ("factory_line.usdc", "motor_thermal.usdc", "anatomy_phantom.usdc", "factory_line.png",
                 "motor_thermal.png", "anatomy_phantom.png", "factory_line_risk.mp4"):
        assert (out / name).is_file() and (out / name).stat().st_size > 1000, name
    from twin3d.usd import read_usd, validate_usd

    assert validate_usd(out / "factory_line.usdc") == []
    organs = read_usd(out / "anatomy_phantom.usdc")
    assert {"liver", "spleen"} <= {a.semantic_label for a in organs.assets()}
