"""Render jobs: local worker processes and Dask give identical PNGs; resumable; failures listed.

``twin3d render-job`` (exit codes, what it prints) is tested in test_cli_render.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import plain_factory_spec

from twin3d.errors import MissingFileError, SpecError
from twin3d.render.jobs import load_job, run_render_job

SIZE = "200x150"


def _animated_usd(path: Path, n_frames: int, flip: bool) -> Path:
    from twin3d.scene import Field
    from twin3d.spec import build_scene
    from twin3d.usd import write_usd

    spec = plain_factory_spec(Path(__file__).resolve().parents[1] / "scenes" / "factory_line.yaml", path.parent)
    scene = build_scene(spec)
    times = np.arange(n_frames) * 10.0
    for i, a in enumerate(scene.assets()):
        ramp = np.linspace(0.0, 1.0, n_frames)
        a.set_field(Field("risk", ramp if (i % 2) ^ flip else ramp[::-1], association="asset", times=times))
    return write_usd(scene, path)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    d = tmp_path_factory.mktemp("job_scenes")
    return {"a": _animated_usd(d / "line_a.usdc", 5, False), "b": _animated_usd(d / "line_b.usdc", 5, True),
            "long_a": _animated_usd(d / "long_a.usdc", 15, False), "long_b": _animated_usd(d / "long_b.usdc", 15, True)}


def _write_job(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _pngs(folder: Path) -> dict[str, np.ndarray]:
    import imageio.v3 as iio

    return {str(p.relative_to(folder)): iio.imread(p) for p in sorted(folder.rglob("*.png"))}


def test_local_and_dask_give_identical_outputs_and_a_manifest(tmp_path, scenes):
    job_text = f"""
        name: two_lines
        scenes:
          - {scenes['a']}
          - {{path: {scenes['b']}, name: second}}
        cameras: [iso, top]
        frames: [0, 2, -1]
        size: {SIZE}
        title: true
        output_dir: OUT
        """
    local_job = _write_job(tmp_path / "local", job_text.replace("OUT", "renders"))
    dask_job = _write_job(tmp_path / "dask", job_text.replace("OUT", "renders"))

    rep = run_render_job(local_job, executor="local", workers=2)
    assert rep.ok and rep.counts == {"total": 12, "rendered": 12, "skipped": 0, "failed": 0}
    drep = run_render_job(dask_job, executor="dask", workers=2)
    assert drep.ok and drep.counts["rendered"] == 12 and drep.executor == "dask"

    local, remote = _pngs(tmp_path / "local" / "renders"), _pngs(tmp_path / "dask" / "renders")
    assert sorted(local) == sorted(remote) and len(local) == 12
    assert "second/top/frame_0004.png" in local  # -1 -> last of 5 frames
    for name in local:
        assert local[name].shape == (150, 200, 3)
        assert np.array_equal(local[name], remote[name]), name  # deterministic, pixel for pixel
    # frames differ over time, cameras differ from each other
    assert np.abs(local["line_a/iso/frame_0000.png"].astype(int) - local["line_a/iso/frame_0004.png"]).mean() > 1
    assert np.abs(local["line_a/iso/frame_0000.png"].astype(int) - local["line_a/top/frame_0000.png"]).mean() > 5

    manifest = json.loads((tmp_path / "local" / "renders" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["rendered"] == 12
    import hashlib

    for it in manifest["items"]:
        data = (tmp_path / "local" / "renders" / it["output"]).read_bytes()
        assert it["png_sha256"] == hashlib.sha256(data).hexdigest()
        assert it["scene_sha256"] == hashlib.sha256(Path(it["scene_path"]).read_bytes()).hexdigest()
        assert it["camera"] in ("iso", "top") and it["frame"] in (0, 2, 4) and it["size"] == [200, 150]
        assert it["time_s"] == pytest.approx(10.0 * it["frame"])
        assert it["render_s"] > 0 and it["worker"]
    assert len({it["worker"] for it in manifest["items"]}) == 2  # both worker processes took part

    # a second run renders nothing: every output is valid and its inputs are unchanged
    again = run_render_job(local_job, workers=2)
    assert again.counts == {"total": 12, "rendered": 0, "skipped": 12, "failed": 0}


def test_failing_items_are_listed_and_do_not_stop_the_others(tmp_path, scenes):
    job = _write_job(tmp_path, f"""
        scenes:
          - {scenes['a']}
          - {{path: missing.usdc, name: missing}}
        cameras: [side]
        frames: [1, 9]
        size: {SIZE}
        """)
    report = run_render_job(job, workers=1)
    assert not report.ok
    assert report.counts == {"total": 3, "rendered": 1, "skipped": 0, "failed": 2}
    errors = " | ".join(it["error"] for it in report.failures)
    assert "frame 9 out of range" in errors and "missing.usdc: no such scene file" in errors
    assert "Traceback" not in errors
    assert (tmp_path / "renders" / "line_a" / "side" / "frame_0001.png").is_file()
    manifest = json.loads((tmp_path / "renders" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert sorted(it["status"] for it in manifest["items"]) == ["failed", "failed", "rendered"]


def test_job_file_errors_name_the_line_and_the_valid_choices(tmp_path):
    bad_cam = _write_job(tmp_path / "a", "scenes: [x.usdc]\ncameras: [iso, bird]\n")
    with pytest.raises(SpecError, match=r"job.yaml:2: cameras\[1\]: unknown camera 'bird'; valid: iso"):
        load_job(bad_cam)
    bad_key = _write_job(tmp_path / "b", "scenes: [x.usdc]\nframez: all\n")
    with pytest.raises(SpecError, match=r"job.yaml:2: framez: unknown key 'framez'; valid keys: name, scenes"):
        load_job(bad_key)
    bad_pattern = _write_job(tmp_path / "c", "scenes: [x.usdc]\npattern: '{scene}/{frame}.png'\n")
    with pytest.raises(SpecError, match=r"must contain \{scene\}, \{camera\} and \{frame\}"):
        load_job(bad_pattern)
    dup = _write_job(tmp_path / "d", "scenes: [a/x.usdc, b/x.usdc]\n")
    with pytest.raises(SpecError, match="scene name 'x' is already used"):
        load_job(dup)
    bad_scene_key = _write_job(tmp_path / "e", "scenes:\n  - x.usdc\n  - {path: y.usdc, camera: [iso]}\n")
    with pytest.raises(SpecError, match=r"job.yaml:3: scenes\[1\].camera: unknown key 'camera'; valid keys: path, "):
        load_job(bad_scene_key)
    bad_frames = _write_job(tmp_path / "f", "scenes: [x.usdc]\nframes: {count: 0}\n")
    with pytest.raises(SpecError, match=r"job.yaml:2: frames.count: .*greater than or equal to 1"):
        load_job(bad_frames)
    bad_yaml = _write_job(tmp_path / "g", "scenes: [x\ncameras: iso\n")
    with pytest.raises(SpecError, match=r"job.yaml:2: invalid YAML"):
        load_job(bad_yaml)
    with pytest.raises(MissingFileError, match=r"nothere.yaml: no such render job") as err:
        load_job(tmp_path / "nothere.yaml")
    assert isinstance(err.value, FileNotFoundError)


def test_a_valid_job_file_reads_with_its_defaults(tmp_path, repo):
    from twin3d.spectypes import FrameCount

    job = _write_job(tmp_path, """
        scenes:
          - a.usdc
          - {path: b.yaml, name: second, cameras: [front], frames: [0, -1]}
        frames: {count: 3}
        """)
    j = load_job(job)
    assert j.cameras == ["iso"] and j.frames == FrameCount(count=3) and j.size == "1280x720"
    assert j.scenes[0] == "a.usdc" and j.scenes[1].cameras == ["front"] and j.scenes[1].frames == [0, -1]
    example = load_job(repo / "examples" / "render_job.yaml")  # the shipped example stays valid
    assert example.name == "sample_views" and len(example.scenes) == 2


def _job_for_kill(folder: Path, scenes) -> Path:
    return _write_job(folder, f"""
        scenes: [{scenes['long_a']}, {scenes['long_b']}]
        cameras: [iso, front]
        frames: all
        size: 160x120
        """)


def test_killed_job_resumes_without_redoing_finished_items(tmp_path, scenes):
    job = _job_for_kill(tmp_path, scenes)
    out = tmp_path / "renders"
    code = f"from twin3d.render.jobs import run_render_job\nrun_render_job({str(job)!r}, workers=1)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "TWIN3D_NO_PROGRESS": "1"})
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(list(out.rglob("frame_*.png"))) < 3:
            assert proc.poll() is None, "the job process ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the job and its worker processes (own session)
        proc.wait(timeout=30)
    done = {p: p.stat().st_mtime_ns for p in out.rglob("frame_*.png")}
    assert 3 <= len(done) < 60, f"{len(done)} outputs at kill time; the kill must happen mid-job"

    report = run_render_job(job, workers=1)
    c = report.counts
    assert report.ok and c["total"] == 60
    assert c["skipped"] == len(done) and c["rendered"] == 60 - len(done)
    for p, mtime in done.items():
        assert p.stat().st_mtime_ns == mtime  # finished items were not redone
    assert len(list(out.rglob("frame_*.png"))) == 60
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no temporary files left behind
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    skipped = {it["output"] for it in manifest["items"] if it["status"] == "skipped"}
    assert skipped == {str(p.relative_to(out)) for p in done}


def test_a_dying_worker_process_is_replaced(tmp_path, scenes):
    job = _write_job(tmp_path, f"""
        scenes: [{scenes['a']}]
        cameras: [iso, top]
        frames: all
        size: 120x90
        """)
    killed = []

    def kill_first_worker(item):
        if not killed and item["status"] == "rendered":
            pid = int(item["worker"].rsplit(":", 1)[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    report = run_render_job(job, workers=1, on_item=kill_first_worker)
    assert killed
    assert report.ok and report.counts["rendered"] == 10
    workers = {it["worker"] for it in report.items}
    assert len(workers) >= 2  # the items after the kill ran in a new worker process


@pytest.mark.parametrize("pattern, match", [
    (".{scene:.0}./escaped_{camera}_{frame}.png", r"placeholder \{scene\} takes no format spec"),
    ("{scene.__class__.__name__}/{camera}/{frame}.png", r"unknown placeholder"),
    ("{scene[0]}/{camera}/{frame}.png", r"unknown placeholder"),
    ("{scene}/{camera!r}/{frame}.png", r"placeholder \{camera\} takes no format spec or conversion"),
    ("{scene}/{camera}/{frame:>300}.png", r"only integer formats"),
])
def test_patterns_allow_field_names_only(tmp_path, pattern, match):
    from twin3d.errors import SpecError
    from twin3d.render.jobs import load_job

    job = tmp_path / "job.yaml"
    job.write_text(f"scenes: [a.yaml]\npattern: '{pattern}'\n")
    with pytest.raises(SpecError, match=match):
        load_job(job)


def test_a_scene_file_named_dots_cannot_escape(tmp_path):
    from twin3d.errors import SpecError
    from twin3d.render.jobs import load_job

    job = tmp_path / "job.yaml"
    job.write_text("scenes: ['...yaml']\n")
    with pytest.raises(SpecError, match=r"scene name '\.\.' .* cannot be a folder name"):
        load_job(job)


# --------------------------------------------------------------------------- manifests of the wrong shape (issue 14)
def test_a_manifest_of_the_wrong_shape_is_ignored_not_a_traceback(tmp_path, scenes):
    job = _write_job(tmp_path, f"""\
        scenes: [{scenes['a']}]
        cameras: [top]
        frames: [-1]
        size: 96x64
        workers: 1
        """)
    first = run_render_job(job)
    assert first.ok and first.counts["rendered"] == 1
    manifest = tmp_path / "renders" / "manifest.json"
    for bad in ([1, 2], {"version": 1, "items": 5, "scenes": []},
                {"version": 1, "items": [1, {"output": [1]}, {"output": "x.png", "camera": {}}],
                 "scenes": {"line_a": {"path": 5, "n_frames": "many"}}}):
        manifest.write_text(json.dumps(bad))
        report = run_render_job(job)
        assert report.ok and report.counts == {"total": 1, "rendered": 0, "skipped": 1, "failed": 0}, bad
        assert json.loads(manifest.read_text())["status"] == "complete"


def test_a_job_too_large_for_memory_leaves_the_manifest_as_it_was(tmp_path, scenes):
    from twin3d.budgets import memory_budget_set
    from twin3d.errors import BudgetError

    job = _write_job(tmp_path, f"""\
        scenes: [{scenes['long_a']}]
        cameras: [iso, top, front, side]
        frames: all
        size: 96x64
        workers: 1
        """)
    manifest = tmp_path / "renders" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"version": 1, "previous": true}')
    with memory_budget_set("100K"), pytest.raises(BudgetError) as err:
        run_render_job(job)
    assert "60 scene x camera x frame items x 4096 B" in str(err.value)
    assert manifest.read_text() == '{"version": 1, "previous": true}'
