"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TWIN3D_NO_PROGRESS", "1")

# USD reads schema plugins once, when the first stage is created: register ours before any test does
from twin3d.usd import register_schema  # noqa: E402

register_schema()

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def require_real_data(relative: str = "") -> Path:
    """``../shared/data/<relative>`` beside the repository; skips the test when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real data {path} is absent (a clone without ../shared/data)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests using it skip when it is absent."""
    return require_real_data()


@pytest.fixture(scope="session")
def factory_scene_path() -> Path:
    return REPO / "scenes" / "factory_line.yaml"


class CliResult:
    """What a ``twin3d`` command did: exit code, stdout, stderr (and both as ``output``)."""

    def __init__(self, result):
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.output = result.stdout + result.stderr
        self.exception = result.exception

    def __repr__(self) -> str:
        return f"CliResult(exit_code={self.exit_code}, output={self.output[-2000:]!r})"

    def assert_error(self, *needles: str) -> str:
        """A user error: exit code 2, one ``twin3d: error: ...`` line on stderr holding ``needles``."""
        assert self.exit_code == 2, self
        lines = [ln for ln in self.stderr.splitlines() if ln.strip() and "vtk" not in ln.lower()]
        assert len(lines) == 1 and lines[0].startswith("twin3d: error: "), self.stderr
        assert "Traceback" not in self.output
        for needle in needles:
            assert needle in lines[0], (needle, lines[0])
        return lines[0]


@pytest.fixture
def cli():
    """Run a ``twin3d`` command in this process: ``cli("build", spec, "--out", out)`` -> :class:`CliResult`.

    Uses the real application (:data:`twin3d.cli.app`) through typer's test runner; stdout and
    stderr are kept apart so tests can check that errors go to stderr.
    """
    from typer.testing import CliRunner

    from twin3d.cli import app

    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 always keeps them apart
        runner = CliRunner()

    def run(*args, input: str | None = None) -> CliResult:
        return CliResult(runner.invoke(app, [str(a) for a in args], input=input))

    return run


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a test module (faster on 2 shared cores); restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def image_stats(img: np.ndarray) -> dict:
    """Simple content measures of an RGB image."""
    flat = img.reshape(-1, img.shape[-1])[:, :3]
    colors = np.unique(flat // 8, axis=0)
    return {"std": float(flat.std()), "n_colors": int(len(colors))}


def plain_factory_spec(src: Path, folder: Path) -> Path:
    """A copy of the factory spec with geometry only (no predictor sections: fast to build, static)."""
    import yaml

    data = yaml.safe_load(src.read_text())
    keep = {"name", "description", "units", "up_axis", "fps", "floor", "assets"}
    keep_asset = {"name", "kind", "mesh", "mesh_units", "params", "group", "transform", "repeat", "color", "material",
                  "label", "metadata"}
    plain = {k: v for k, v in data.items() if k in keep}
    plain["assets"] = [{k: v for k, v in a.items() if k in keep_asset} for a in data["assets"]]
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "factory_plain.yaml"
    out.write_text(yaml.safe_dump(plain, sort_keys=False))
    return out
