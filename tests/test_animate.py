"""Animations (GIF / MP4 / PNG folders) and the instanced renderer they use."""

from __future__ import annotations


import numpy as np
import pytest
from conftest import plain_factory_spec

from twin3d.errors import InputError
from twin3d.render.animate import frame_indices, render_animation
from twin3d.render.instanced import InstancedRenderer
from twin3d.scene import Field, Transform
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

    import twin3d.render.instanced as inst

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
    real_image = inst.InstancedRenderer.image

    def failing_image(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("GPU lost")
        return real_image(self)

    monkeypatch.setattr(inst.InstancedRenderer, "image", failing_image)
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


def test_cli_render_video(tmp_path, plain_spec):
    import imageio.v3 as iio
    from typer.testing import CliRunner

    from twin3d.cli import app

    out = tmp_path / "turn.gif"
    res = CliRunner().invoke(app, ["render", str(plain_spec), "--out", str(out), "--turntable", "--frames", "3",
                                   "--size", "160x120"])
    assert res.exit_code == 0, res.output
    assert iio.imread(out, index=None).shape[:3] == (3, 120, 160)
    # a static scene without --turntable: one clear error line, exit 2, no file
    res = CliRunner().invoke(app, ["render", str(plain_spec), "--out", str(tmp_path / "still.gif")])
    assert res.exit_code == 2
    assert "no animated fields" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "still.gif").exists()


def test_instancing_matches_merged_geometry(animated):
    """GPU instances (quaternion + non-uniform scale) land exactly where merged geometry does."""
    scene = animated
    mill = scene.get("cnc_mill_02")
    old = mill.transform
    mill.transform = Transform(translate=(5.6, -2.6, 0.0), rotate=(0, 10, 160), scale=(1.2, 0.8, 1.0))
    try:
        imgs = {}
        for mode in ("never", "always"):
            r = InstancedRenderer(scene, size=(320, 200), instancing=mode, lod=False, color_by="material")
            try:
                if mode == "always":
                    assert r.geometry.instance_sets and not r.geometry.batches
                else:
                    assert not r.geometry.instance_sets and r.geometry.batches
                imgs[mode] = r.image().astype(int)
            finally:
                r.close()
        diff = np.abs(imgs["never"] - imgs["always"]).max(axis=2)
        assert diff.mean() < 1.0 and (diff > 40).mean() < 0.003
    finally:
        mill.transform = old


def test_large_grid_uses_instances_and_lod():
    """400 machines: a few actors, coarse meshes for far machines, exact picking of one instance."""
    from twin3d.equipment import equipment_asset
    from twin3d.scene import Scene

    scene = Scene("grid", units="m")
    g = scene.group("plant")
    for i in range(400):
        r, c = divmod(i, 20)
        g.add(equipment_asset(f"m{i:03d}", ("electric_motor", "centrifugal_pump")[i % 2],
                              transform=Transform(translate=(c * 3.0, r * 3.0, 0.0))))
    r = InstancedRenderer(scene, size=(320, 200), color_by="labels")
    try:
        geo = r.geometry
        assert len(geo.instance_sets) == 2 and not geo.batches
        n_actors = sum(len(a) for s in geo.instance_sets for a in s.actors)
        assert n_actors <= 2 * 3 * 7  # prototypes x LOD levels x parts, independent of the machine count
        img = r.image()
        counts = r.lod_counts()
        assert sum(counts) == 400 and counts[2] > 0  # far machines are a few pixels: coarsest level
        full = geo.triangles()["instanced_full"]
        drawn = sum(len(s.selected[k]) * s.proto.triangles[k] for s in geo.instance_sets for k in range(3))
        assert drawn < full / 3
        assert img.std() > 10
        # zoomed onto one machine: it switches to full detail, and a click there picks it
        target = geo.index["plant/m210"]
        cam = r.plotter.camera
        cam.focal_point = tuple(geo.centers[target])
        cam.position = tuple(geo.centers[target] + np.array([2.0, -2.5, 2.0]))
        r.plotter.renderer.ResetCameraClippingRange()
        r.image()
        level = {int(a): int(s.level[k]) for s in geo.instance_sets for k, a in enumerate(s.assets)}
        assert level[target] == 0
        x, y = r.display_position(target)
        assert r.pick(x, y) == target
    finally:
        r.close()
