"""Off-screen renders of a Scene to PNG (pyvista/VTK; EGL when there is no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._util import atomic_path
from ..colors import Legend, lookup_table_colors
from ..errors import InputError, UnsupportedFormatError
from ..scene import Scene
from .geometry import SceneGeometry, default_color_by

__all__ = ["render_png", "render_image", "SceneRenderer", "CAMERAS", "parse_size"]

CAMERAS = ("iso", "front", "side", "top")
_SMP_SET = False


def parse_size(text: str | tuple[int, int]) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)`` with validation."""
    if isinstance(text, (tuple, list)):
        w, h = (int(v) for v in text)
    else:
        try:
            w, h = (int(v) for v in str(text).lower().split("x"))
        except ValueError:
            raise InputError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 1280x720)") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise InputError(f"size {w}x{h} out of range: width and height must be 16..8192")
    return w, h


def _use_all_cores() -> None:
    global _SMP_SET
    if not _SMP_SET:
        import vtk

        vtk.vtkSMPTools.SetBackend("STDThread")
        _SMP_SET = True


class SceneRenderer:
    """A pyvista plotter showing a scene; reused across frames of an animation.

    Parameters
    ----------
    scene
        The scene.
    size
        Window size ``(width, height)`` in pixels.
    camera
        ``iso``, ``front``, ``side`` or ``top``.
    color_by
        Field that colors assets (default: risk, else temperature, else part colors);
        ``""`` forces part/material colors.
    floor
        Draw a floor plane (default: for scenes in metres, i.e. factories).
    label_top
        Label the N assets with the highest ``color_by`` value.
    off_screen
        Render without a window (default True).
    """

    def __init__(self, scene: Scene, *, size=(1280, 720), camera: str = "iso", color_by: str | None = None,
                 floor: bool | None = None, label_top: int = 0, off_screen: bool = True, plotter=None,
                 background: str = "white") -> None:
        import pyvista as pv

        _use_all_cores()
        if camera not in CAMERAS:
            raise InputError(f"unknown camera {camera!r}; valid: {', '.join(CAMERAS)}")
        self.scene = scene
        self.size = parse_size(size)
        self.geometry = SceneGeometry.from_scene(scene)
        if not self.geometry.assets:
            raise InputError(f"scene {scene.name!r} has no visible geometry to render")
        self.color_by = default_color_by(scene) if color_by is None else (color_by or None)
        if self.color_by and self.color_by not in scene.field_names():
            raise InputError(f"cannot color by {self.color_by!r}: no asset has that field; fields: {scene.field_names()}")
        self.legend: Legend | None = self.geometry.legend(self.color_by)
        self.label_top = int(label_top)
        self.frame = 0
        self.plotter = plotter or pv.Plotter(off_screen=off_screen, window_size=list(self.size))
        self.plotter.set_background(background)
        self.actors = []
        for batch in self.geometry.batches:
            mesh = batch.mesh
            mesh.point_data["rgb"] = self.geometry.colors(batch, self.color_by, 0, self.legend)
            actor = self.plotter.add_mesh(mesh, scalars="rgb", rgb=True, opacity=batch.opacity, smooth_shading=True,
                                          split_sharp_edges=True, show_scalar_bar=False, specular=0.3,
                                          name=f"batch_{len(self.actors)}")
            self.actors.append(actor)
        self._label_actor = None
        if self.legend is not None:
            self._add_scalar_bar(self.legend)
        show_floor = bool(scene.metadata.get("floor", scene.units == "m")) if floor is None else floor
        if show_floor:
            self._add_floor()
        self.set_camera(camera)
        self._update_labels()

    # -- decorations
    def _add_scalar_bar(self, legend: Legend) -> None:
        import pyvista as pv

        lut = pv.LookupTable()
        cols = lookup_table_colors(legend.colormap, 256)
        lut.values = np.hstack([cols * 255, np.full((256, 1), 255)]).astype(np.uint8)
        lut.scalar_range = legend.clim
        # an invisible actor carrying the lookup table drives the scalar bar
        dummy = pv.PolyData(np.zeros((2, 3)))
        dummy["v"] = np.array(legend.clim, dtype=float)
        self.plotter.add_mesh(dummy, scalars="v", cmap=lut, clim=legend.clim, opacity=0.0, show_scalar_bar=False,
                              name="legend_carrier", point_size=0.1, render_points_as_spheres=False)
        self.plotter.add_scalar_bar(title=legend.label, mapper=self.plotter.actors["legend_carrier"].mapper,
                                    color="black", vertical=True, position_x=0.88, position_y=0.15, height=0.7,
                                    width=0.06, n_labels=6, fmt="%.3g" if legend.clim[1] - legend.clim[0] < 10 else "%.0f",
                                    title_font_size=16, label_font_size=14)

    def _add_floor(self) -> None:
        import pyvista as pv

        lo, hi = self.scene.bounds()
        c = (lo + hi) / 2
        ext = (hi - lo)
        if self.scene.up_axis == "Z":
            plane = pv.Plane(center=(c[0], c[1], lo[2] - 0.005), direction=(0, 0, 1),
                             i_size=ext[0] * 1.25 + 2, j_size=ext[1] * 1.4 + 2)
        else:
            plane = pv.Plane(center=(c[0], lo[1] - 0.005, c[2]), direction=(0, 1, 0),
                             i_size=ext[2] * 1.4 + 2, j_size=ext[0] * 1.25 + 2)
        self.plotter.add_mesh(plane, color=(0.86, 0.87, 0.88), ambient=0.2, specular=0.0, name="floor")

    def set_camera(self, camera: str) -> None:
        """Point the camera at the scene from a preset direction."""
        if camera not in CAMERAS:
            raise InputError(f"unknown camera {camera!r}; valid: {', '.join(CAMERAS)}")
        lo, hi = self.scene.bounds()
        c = (lo + hi) / 2
        radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-6)
        patient = self.scene.metadata.get("coordinate_system")
        if patient in ("RAS", "LPS"):
            # anatomical views: front = anterior, side = patient's left, top = superior (anterior up)
            a = 1.0 if patient == "RAS" else -1.0
            dirs = {"iso": (-0.7 * a, 1.3 * a, 0.6), "front": (0, a, 0.05), "side": (-a, 0, 0.05), "top": (0, 0, 1)}
            up = (0, a, 0) if camera == "top" else (0, 0, 1)
        elif self.scene.up_axis == "Z":
            dirs = {"iso": (1.0, -1.3, 0.9), "front": (0, -1, 0.12), "side": (1, 0, 0.12), "top": (0, 0, 1)}
            up = (0, 1, 0) if camera == "top" else (0, 0, 1)
        else:
            dirs = {"iso": (1.0, 0.9, 1.3), "front": (0, 0.12, 1), "side": (1, 0.12, 0), "top": (0, 1, 0)}
            up = (0, 0, -1) if camera == "top" else (0, 1, 0)
        d = np.asarray(dirs[camera], float)
        d /= np.linalg.norm(d)
        cam = self.plotter.camera
        cam.focal_point = tuple(c)
        view_angle = 30.0
        dist = radius / np.sin(np.radians(view_angle / 2)) * (0.8 if camera == "iso" else 0.95)
        cam.position = tuple(c + d * dist)
        cam.up = up
        cam.view_angle = view_angle
        self.plotter.reset_camera_clipping_range()
        self.camera = camera

    def _update_labels(self) -> None:
        if not self.label_top or not self.color_by:
            return
        vals = self.geometry.asset_values(self.color_by, self.frame)
        if not np.isfinite(vals).any():
            return
        order = np.argsort(np.where(np.isfinite(vals), -vals, np.inf))[: self.label_top]
        order = [i for i in order if np.isfinite(vals[i])]
        unit = self.legend.unit if self.legend else ""
        if self.color_by == "risk":
            texts = [f"{self.geometry.assets[i].name}: {vals[i] * 100:.0f}%" for i in order]
        else:
            texts = [f"{self.geometry.assets[i].name}: {vals[i]:.3g} {unit}".strip() for i in order]
        pts = self.geometry.centers[order] + (np.array([0, 0, 0.25]) if self.scene.up_axis == "Z" else np.array([0, 0.25, 0]))
        self._label_actor = self.plotter.add_point_labels(pts, texts, font_size=14, point_size=1, shape_opacity=0.75,
                                                           text_color="black", shape_color="white", name="labels",
                                                           always_visible=True, show_points=False)

    # -- frames
    def set_frame(self, frame: int) -> None:
        """Show frame ``frame`` (recolors in place)."""
        self.frame = int(frame)
        for batch, actor in zip(self.geometry.batches, self.actors):
            rgb = self.geometry.colors(batch, self.color_by, self.frame, self.legend)
            batch.mesh.point_data["rgb"][:] = rgb
            batch.mesh.point_data["rgb"].Modified() if hasattr(batch.mesh.point_data["rgb"], "Modified") else None
            batch.mesh.Modified()
        self._update_labels()

    def title(self, text: str) -> None:
        self.plotter.add_text(text, position="upper_left", font_size=12, color="black", name="title")

    def image(self) -> np.ndarray:
        """Render and return the RGB image (H, W, 3) uint8."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(return_img=True))

    def close(self) -> None:
        self.plotter.close()


def render_image(scene: Scene, *, size=(1280, 720), camera: str = "iso", frame: int | None = None,
                 color_by: str | None = None, label_top: int = 0, floor: bool | None = None,
                 title: str | None = None) -> np.ndarray:
    """Render ``scene`` off-screen and return the image as an (H, W, 3) uint8 array."""
    r = SceneRenderer(scene, size=size, camera=camera, color_by=color_by, label_top=label_top, floor=floor)
    try:
        n = scene.n_frames
        r.set_frame(n - 1 if frame is None else _check_frame(frame, n))
        if title:
            r.title(title)
        return r.image()
    finally:
        r.close()


def _check_frame(frame: int, n: int) -> int:
    f = int(frame)
    if f < 0:
        f += n
    if not 0 <= f < n:
        raise InputError(f"frame {frame} out of range: the scene has {n} frame(s) (0..{n - 1})")
    return f


def render_png(scene: Scene, path: str | Path, **kwargs) -> Path:
    """Render ``scene`` to a PNG file (atomically). Keyword arguments as :func:`render_image`.

    By default the last frame of an animated scene is shown.
    """
    import imageio.v3 as iio

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UnsupportedFormatError(f"cannot render to {path}: use a .png file (videos: twin3d render --out movie.mp4)")
    img = render_image(scene, **kwargs)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, img, extension=".png")
    return path
