"""Animations (GIF / MP4 / PNG folders). The renderer they use is tested in test_render.py;
``twin3d render --out movie.gif`` in test_cli_render.py."""

from __future__ import annotations


import numpy as np
import pytest
from conftest import plain_factory_spec

from twin3d.errors import InputError
from twin3d.render.animate import frame_indices, render_animation
from twin3d.render.renderer import InstancedRenderer
from twin3d.scene import Field
from twin3d.spec import build_scene

SIZE = (240, 160)
T = 4


def _red(img: np.ndarray) -> int:
    """Pixels of the dark red end of the risk colormap."""
    return int(((img[..., 0] > 110) & (img[..., 1] < 45) & (img[..., 2] < 45)).sum())


@pytest.fixture(scope="module")
def plain_spec(factory_scene_path, tmp_path_factory):
    return plain_factory_spec(factory_scene_path, tmp_path_factory.mktemp("spec"))


@pytest.fixture(scope="module")
def animated(plain_spec):
    """The factory line with a risk field: every machine at 0 except cnc_mill_02 rising to 0.95."""
    scene = build_scene(plain_spec)
    times = np.arange(T) * 30.0
    for a in scene.assets():
        values = np.linspace(0.0, 0.95, T) if a.name == "cnc_mill_02" else np.zeros(T)
        a.set_field(Field("risk", values, association="asset", times=times))
    return scene


def test_frame_selection_rules():
    assert frame_indices(5) == [0, 1, 2, 3, 4]
    assert frame_indices(5, all_frames=True) == [0, 1, 2, 3, 4]
    assert frame_indices(10, frames=3) == [0, 4, 9]  # first and last included, even spacing
    assert frame_indices(4, frames=1) == [3]
    assert frame_indices(1, turntable=True) == [0] * 72  # static scene: the camera does the moving
    assert frame_indices(2, frames=6, turntable=True) == [0, 0, 0, 1, 1, 1]
    with pytest.raises(InputError, match="no animated fields"):
        frame_indices(1)
    with pytest.raises(InputError, match="exceeds the 4 frame"):
        frame_indices(4, frames=9)
    with pytest.raises(InputError, match="not both"):
        frame_indices(4, frames=2, all_frames=True)
    with pytest.raises(InputError, match="positive integer"):
        frame_indices(4, frames=0)


def test_gif_has_every_frame_and_shows_the_risk_rising(tmp_path, animated):
    import imageio.v3 as iio

    out = render_animation(animated, tmp_path / "risk.gif", size=SIZE, fps=5)
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == T and frames.shape[1:3] == (SIZE[1], SIZE[0])
    rgb = frames[..., :3].astype(int)
    # consecutive frames differ (colors and the time in the title change)
    for k in range(T - 1):
        assert np.abs(rgb[k + 1] - rgb[k]).mean() > 0.05
    # the mill turns dark red only towards the end (the legend's red top is in every frame)
    assert _red(rgb[-1]) > _red(rgb[0]) + 15
    assert not list(tmp_path.glob(".*tmp*"))


def test_mp4_reopened_with_frame_count_size_and_motion(tmp_path, animated):
    import imageio.v3 as iio

    out = render_animation(animated, tmp_path / "orbit.mp4", frames=3, turntable=True, size=SIZE, fps=4)
    frames = np.stack(list(iio.imiter(out)))
    assert frames.shape == (3, SIZE[1], SIZE[0], 3)
    # the camera orbits: frames are far apart, not just compression noise
    assert np.abs(frames[1].astype(int) - frames[0]).mean() > 5
    meta = iio.immeta(out, plugin="FFMPEG")
    assert meta["fps"] == pytest.approx(4.0)
    assert meta["codec"] == "h264"
    with pytest.raises(InputError, match="even width and height"):
        render_animation(animated, tmp_path / "odd.mp4", size=(241, 160))
    assert not (tmp_path / "odd.mp4").exists()


def test_folder_of_numbered_pngs_and_atomic_replacement(tmp_path, animated, monkeypatch):
    import imageio.v3 as iio

    out = tmp_path / "frames"
    render_animation(animated, out, frames=2, size=SIZE, title=False)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["frame_0000.png", "frame_0001.png"]
    first = iio.imread(out / "frame_0000.png")
    assert first.shape == (SIZE[1], SIZE[0], 3)
    video = render_animation(animated, tmp_path / "keep.gif", frames=2, size=SIZE)
    video_bytes = video.read_bytes()

    # a run that fails half way leaves the previous outputs untouched and no temporaries
    calls = {"n": 0}
    real_image = InstancedRenderer.image

    def failing_image(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("GPU lost")
        return real_image(self)

    monkeypatch.setattr(InstancedRenderer, "image", failing_image)
    with pytest.raises(RuntimeError, match="GPU lost"):
        render_animation(animated, out, frames=3, size=SIZE)
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="GPU lost"):
        render_animation(animated, tmp_path / "keep.gif", frames=3, size=SIZE)
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == names
    assert np.array_equal(iio.imread(out / "frame_0000.png"), first)
    assert (tmp_path / "keep.gif").read_bytes() == video_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "keep.gif"]

    # a folder holding other files is never replaced
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="refusing to replace"):
        render_animation(animated, out, frames=2, size=SIZE)
    assert (out / "notes.txt").read_text() == "mine"


def test_frame_folders_left_by_a_killed_run_are_removed(tmp_path):
    import subprocess
    import sys

    from twin3d import Field, Scene
    from twin3d.equipment import equipment_asset
    from twin3d.render.animate import render_animation

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".frames.{dead.pid}.abc.tmp"
    stale.mkdir()
    (stale / "frame_0000.png").write_bytes(b"partial")
    scene = Scene("s")
    m = scene.add(equipment_asset("m", "electric_motor"))
    m.set_field(Field("risk", [0.1, 0.9], association="asset", times=[0.0, 1.0]))
    render_animation(scene, tmp_path / "frames", size=(64, 48), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["frame_0000.png", "frame_0001.png"]


def test_frame_counts_and_gif_memory_are_bounded(tmp_path, animated):
    from twin3d.budgets import memory_budget_set
    from twin3d.errors import BudgetError
    from twin3d.spectypes import MAX_FRAMES

    assert len(frame_indices(1, frames=MAX_FRAMES, turntable=True)) == MAX_FRAMES
    with pytest.raises(InputError, match=r"frames=1000000000 is more than a video may have \(100,000\)"):
        frame_indices(1, frames=10**9, turntable=True)
    with pytest.raises(InputError, match=r"timeline has 200,000 frames, more than a video may have"):
        frame_indices(200_000)
    assert len(frame_indices(200_000, frames=10)) == 10
    # a GIF keeps every frame until it is written: refused before anything is rendered
    with memory_budget_set("1M"), pytest.raises(BudgetError) as err:
        render_animation(animated, tmp_path / "a.gif", size=(640, 480))
    assert "the GIF a.gif needs about" in str(err.value) and "frames of 640x480 pixels" in str(err.value)
    assert list(tmp_path.iterdir()) == []
