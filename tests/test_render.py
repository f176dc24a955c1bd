import numpy as np
import pytest

from twin3d.errors import InputError, UnsupportedFormatError
from twin3d.render import parse_size, render_image, render_png
from twin3d.scene import Field
from twin3d.spec import build_scene

from conftest import image_stats


@pytest.fixture(scope="module")
def factory(factory_scene_path):
    return build_scene(factory_scene_path)


def test_png_is_not_blank_and_has_requested_size(tmp_path, factory):
    import imageio.v3 as iio

    path = render_png(factory, tmp_path / "f.png", size=(480, 270))
    img = iio.imread(path)
    assert img.shape[:2] == (270, 480)
    stats = image_stats(img)
    assert stats["std"] > 20 and stats["n_colors"] > 50
    # the robots' orange is visible somewhere
    orange = (img[..., 0] > 180) & (img[..., 1] > 60) & (img[..., 1] < 150) & (img[..., 2] < 80)
    assert orange.sum() > 20


def test_cameras_give_different_views(factory):
    imgs = {c: render_image(factory, size=(160, 120), camera=c) for c in ("iso", "front", "side", "top")}
    for a in imgs:
        for b in imgs:
            if a < b:
                assert np.abs(imgs[a].astype(int) - imgs[b].astype(int)).mean() > 3, (a, b)
    with pytest.raises(InputError, match="valid: iso, front, side, top"):
        render_image(factory, camera="bird")


def test_field_colors_and_scalar_bar(factory_scene_path):
    scene = build_scene(factory_scene_path)
    times = scene.times
    assert times is not None and times.size > 2, "the factory line carries sensor streams over time"
    for a in scene.assets():
        risk = np.zeros(times.size)
        if a.name == "cnc_mill_02":
            risk[-1] = 0.95
        a.set_field(Field("risk", risk, association="asset", times=times))
    first = render_image(scene, size=(400, 300), frame=0)
    last = render_image(scene, size=(400, 300), frame=-1)
    # dark red of high risk appears only in the last frame (machine + legend top)
    def red(img):
        return ((img[..., 0] > 110) & (img[..., 1] < 40) & (img[..., 2] < 40)).sum()

    assert red(last) > red(first) + 30
    # the color bar (right side) holds the green end of the risk map in both
    bar = first[:, int(first.shape[1] * 0.85):]
    green = (bar[..., 1] > 120) & (bar[..., 0] < 90) & (bar[..., 2] < 90)
    assert green.sum() > 20
    with pytest.raises(InputError, match="out of range"):
        render_image(scene, frame=times.size)
    with pytest.raises(InputError, match="valid color modes .*risk, labels, material"):
        render_image(scene, color_by="temperature")


def test_size_parsing_and_format_errors(tmp_path, factory):
    assert parse_size("640x480") == (640, 480)
    for bad in ("640", "axb", "0x10", "100000x10"):
        with pytest.raises(InputError):
            parse_size(bad)
    with pytest.raises(UnsupportedFormatError):
        render_png(factory, tmp_path / "f.jpg")


def test_translucent_assets_stay_visible():
    """A translucent body around an opaque organ: both show (depth peeling without MSAA)."""
    import pyvista as pv

    from twin3d.scene import Asset, Material, Scene

    s = Scene("t", units="mm", metadata={"coordinate_system": "RAS"})
    s.add(Asset("body", mesh=pv.Sphere(radius=100.0), material=Material("body", (0.2, 0.2, 0.9), opacity=0.3)))
    s.add(Asset("organ", mesh=pv.Sphere(radius=30.0), material=Material("organ", (0.9, 0.1, 0.1))))
    img = render_image(s, size=(200, 200), camera="front").astype(int)
    centre = img[97:103, 97:103].mean((0, 1))
    rim = img[100, 75:85].mean(0)  # inside the body, outside the organ
    assert centre[0] > centre[2] + 40, "the opaque organ shows through the body"
    assert rim[2] > rim[0] + 20 and rim.mean() < 250, "the translucent body is visible"
