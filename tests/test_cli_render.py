"""``twin3d render``, ``twin3d view`` and ``twin3d render-job`` (twin3d/cli/render.py): what they
write, what they print, their exit codes (0 done, 1 some job items failed, 2 bad input).

The libraries behind them are tested in test_render.py, test_animate.py, test_jobs.py and
test_viewer.py (which also runs ``twin3d view --screenshot`` in a real window)."""

from __future__ import annotations

import json
import textwrap

import pytest
from conftest import plain_factory_spec


@pytest.fixture(scope="module")
def plain_spec(factory_scene_path, tmp_path_factory):
    return plain_factory_spec(factory_scene_path, tmp_path_factory.mktemp("spec"))


def _job(folder, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_render_png_and_video(cli, tmp_path, plain_spec):
    import imageio.v3 as iio

    png = tmp_path / "still.png"
    res = cli("render", plain_spec, "--out", png, "--camera", "side", "--size", "200x120")
    assert res.exit_code == 0, res.output
    assert f"wrote {png}" in res.stdout and iio.imread(png).shape == (120, 200, 3)
    out = tmp_path / "turn.gif"
    res = cli("render", plain_spec, "--out", out, "--turntable", "--frames", "3", "--size", "160x120")
    assert res.exit_code == 0, res.output
    assert iio.imread(out, index=None).shape[:3] == (3, 120, 160)


def test_render_errors_are_one_line_and_write_nothing(cli, tmp_path, plain_spec):
    # a static scene without --turntable: one clear error line, exit 2, no file
    res = cli("render", plain_spec, "--out", tmp_path / "still.gif")
    assert res.exit_code == 2
    assert "no animated fields" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "still.gif").exists()
    res = cli("render", plain_spec, "--out", tmp_path / "x.png", "--frames", "3")
    assert res.exit_code == 2 and "need a video output" in res.stderr
    res = cli("render", plain_spec, "--out", tmp_path / "x.jpg")
    assert res.exit_code == 2 and "unsupported output '.jpg'" in res.stderr
    res = cli("render", plain_spec, "--out", tmp_path / "x.png", "--size", "big")
    assert res.exit_code == 2 and "is not WIDTHxHEIGHT" in res.stderr
    res = cli("render", tmp_path / "nothere.yaml", "--out", tmp_path / "x.png")
    assert res.exit_code == 2 and "nothere.yaml" in res.stderr
    assert not list(tmp_path.iterdir())


def test_view_without_display_is_one_clear_error(cli, plain_spec, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    res = cli("view", plain_spec)
    assert res.exit_code == 2
    assert "no display" in res.stderr and "xvfb-run" in res.stderr and "Traceback" not in res.output


def test_render_job_lists_failed_items_and_exits_1(cli, tmp_path):
    # only a missing scene: every item fails before any worker is started
    job = _job(tmp_path, """
        scenes:
          - {path: missing.usdc, name: missing}
        cameras: [side, top]
        size: 160x120
        """)
    res = cli("render-job", job, "--workers", "1")
    assert res.exit_code == 1, res.output
    assert "2 item(s): 0 rendered, 0 skipped (already valid), 2 failed" in res.stdout
    assert f"manifest: {tmp_path / 'renders' / 'manifest.json'}" in res.stdout
    assert "failed: missing/side: " in res.stderr and "missing.usdc: no such scene file" in res.stderr
    assert "2 of 2 item(s) failed" in res.stderr and "Traceback" not in res.output
    manifest = json.loads((tmp_path / "renders" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["counts"]["failed"] == 2


def test_render_job_bad_job_file_or_options_exit_2(cli, tmp_path):
    bad_cam = _job(tmp_path / "a", "scenes: [x.usdc]\ncameras: [iso, bird]\n")
    res = cli("render-job", bad_cam)
    assert res.exit_code == 2
    assert "job.yaml:2: cameras[1]: unknown camera 'bird'" in res.stderr and "Traceback" not in res.output
    res = cli("render-job", tmp_path / "nothere.yaml")
    assert res.exit_code == 2 and "nothere.yaml: no such render job" in res.stderr
    good = _job(tmp_path / "b", "scenes: [x.usdc]\n")
    res = cli("render-job", good, "--executor", "cloud")
    assert res.exit_code == 2 and "unknown executor 'cloud'; valid: local, dask" in res.stderr
