"""The renderer: off-screen PNGs (twin3d.render.offscreen), the VTK renderer and its geometry
batching (instances, merged batches, levels of detail, colours: twin3d.render.renderer and
twin3d.render.batching), and the light package import."""

import subprocess
import sys

import numpy as np
import pytest

from twin3d.errors import InputError, UnsupportedFormatError
from twin3d.render import InstancedGeometry, InstancedRenderer, parse_size, render_image, render_png
from twin3d.render.batching import LOD_PIXELS, rgb_u8
from twin3d.scene import Field, Transform
from twin3d.spec import build_scene

from conftest import image_stats, plain_factory_spec


@pytest.fixture(scope="module")
def factory(factory_scene_path):
    return build_scene(factory_scene_path)


@pytest.fixture(scope="module")
def plain_factory(factory_scene_path, tmp_path_factory):
    """The factory line's geometry only (no predictors): fast to build, static."""
    return build_scene(plain_factory_spec(factory_scene_path, tmp_path_factory.mktemp("spec")))


def test_importing_the_render_package_loads_no_vtk_rendering():
    code = ("import sys, twin3d.render\n"
            "from twin3d.render import CAMERAS, parse_size\n"
            "import twin3d.render.batching, twin3d.render.jobs\n"
            "print(','.join(m for m in ('vtkmodules.vtkRenderingCore', 'pyvista.plotting') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ""


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
    rim = img[100, 60:70].mean(0)  # inside the body, outside the organ
    assert centre[0] > centre[2] + 40, "the opaque organ shows through the body"
    assert rim[2] > rim[0] + 20 and rim.mean() < 250, "the translucent body is visible"


# --------------------------------------------------------------------------- batching (no plotter)
def _spheres_scene(n: int = 10):
    """``n`` assets sharing one sphere mesh (a row along x, group ``row``) and one unique box."""
    import pyvista as pv

    from twin3d.scene import Asset, Scene

    scene = Scene("spheres", units="m")
    row = scene.group("row")
    ball = pv.Sphere(radius=0.5, theta_resolution=24, phi_resolution=24)
    for i in range(n):
        row.add(Asset(f"s{i}", mesh=ball, transform=Transform(translate=(2.0 * i, 0.0, 0.0))))
    scene.add(Asset("box", mesh=pv.Box(bounds=(0, 1, 0, 1, 0, 1)).triangulate()))
    return scene


def test_geometry_instances_shared_meshes_and_merges_the_rest():
    scene = _spheres_scene(10)
    geo = InstancedGeometry(scene)
    assert len(geo.assets) == 11 and geo.group_names == ["row", "box"]
    (iset,) = geo.instance_sets
    assert iset.group == "row" and len(iset.assets) == 10
    assert [geo.paths[i] for i in iset.assets] == [f"row/s{i}" for i in range(10)]
    np.testing.assert_allclose(iset.t[:, 0], 2.0 * np.arange(10))
    # three levels of detail, each coarser than the one before
    tri = iset.proto.triangles
    assert tri[0] == scene.get("s0").mesh.n_cells and tri[0] > tri[1] > tri[2] > 0
    (batch,) = geo.batches
    assert batch.group == "box" and list(batch.assets) == [geo.index["box"]]
    assert geo.triangles() == {"merged": 12, "instanced_full": 10 * tri[0]}
    lo, hi = geo.bounds
    np.testing.assert_allclose(lo, [-0.5, -0.5, -0.5], atol=5e-3)  # a tessellated sphere
    np.testing.assert_allclose(hi, [18.5, 1.0, 1.0], atol=5e-3)
    # below the auto threshold (and with "never") nothing is instanced
    assert not InstancedGeometry(_spheres_scene(3)).instance_sets
    never = InstancedGeometry(scene, instancing="never")
    assert not never.instance_sets and sum(len(b.assets) for b in never.batches) == 11
    with pytest.raises(InputError, match="'auto', 'always' or 'never'"):
        InstancedGeometry(scene, instancing="sometimes")


def test_levels_of_detail_follow_the_projected_size():
    (iset,) = InstancedGeometry(_spheres_scene(10)).instance_sets
    # a sphere of radius ~0.87 (its box's half diagonal) is ~1160 px / distance wide in a 720 px window
    for dist, level in ((2.0, 0), (100.0, 1), (400.0, 2)):
        levels = iset.lod_levels((0.0, 0.0, dist), 30.0, 720)
        assert levels[0] == level, (dist, levels)
    # seen along the row from 40 m before its first sphere: the far spheres get coarser
    levels = iset.lod_levels((-40.0, 0.0, 0.0), 30.0, 720)
    assert levels[0] == 0 and levels[-1] == 1 and np.all(np.diff(levels) >= 0)
    # parallel projection: the size on screen does not depend on the distance
    px = iset.radii[0] / 10.0 * 360
    expected = 0 if px >= LOD_PIXELS[0] else 1 if px >= LOD_PIXELS[1] else 2
    assert set(iset.lod_levels((0.0, 0.0, 1e6), 30.0, 720, parallel_scale=10.0)) == {expected}
    points = iset.points(np.array([2, 5]))
    np.testing.assert_allclose(points.points[:, 0], [4.0, 10.0])
    assert set(points.point_data.keys()) >= {"quat", "scale", "rgb_0"}


def test_colours_of_batches_and_instances_per_mode_and_frame():
    scene = _spheres_scene(10)
    times = np.array([0.0, 1.0])
    scene.get("s3").set_field(Field("risk", np.array([0.0, 0.95]), association="asset", times=times))
    box = scene.get("box")
    box.set_field(Field("risk", np.stack([np.zeros(box.n_points), np.linspace(0, 1, box.n_points)]),
                        association="vertex", times=times))
    geo = InstancedGeometry(scene)
    legend = geo.legend("risk")
    assert legend is not None and geo.legend("temperature") is None
    assert geo.asset_colors("material", 0, legend) is None
    rgb, has = geo.asset_colors("risk", 1, legend)
    assert has.tolist() == [i == geo.index["row/s3"] for i in range(11)]  # the box's field is per vertex
    np.testing.assert_array_equal(rgb[geo.index["row/s3"]], rgb_u8(np.array([0.95]), legend)[0])
    # instances: s3 takes the risk colour, the others keep their material colour
    (iset,) = geo.instance_sets
    sel = np.arange(10)
    inst = geo.instance_rgb(iset, sel, 0, (rgb, has))
    np.testing.assert_array_equal(inst[3], rgb[geo.index["row/s3"]])
    np.testing.assert_array_equal(inst[np.arange(10) != 3], iset.part_rgb[np.arange(10) != 3, 0])
    # the merged box: per-vertex colours that change with the frame
    (batch,) = geo.batches
    first = geo.batch_rgb(batch, (rgb, has), "risk", legend, 0)
    last = geo.batch_rgb(batch, (rgb, has), "risk", legend, 1)
    assert len(np.unique(first, axis=0)) == 1 and len(np.unique(last, axis=0)) > 2
    # labels: one colour per label, the same for every asset of a label
    labels, every = geo.asset_colors("labels", 0, None)
    assert every.all() and len(np.unique(labels, axis=0)) == len(geo.label_table())


# --------------------------------------------------------------------------- instanced renderer
def test_instancing_matches_merged_geometry(plain_factory):
    """GPU instances (quaternion + non-uniform scale) land exactly where merged geometry does."""
    scene = plain_factory
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
