"""The VTK renderer of twin scenes: :class:`InstancedRenderer`, twin3d's one renderer.

It draws the geometry prepared by :mod:`twin3d.render.batching` (instance sets, merged
batches, levels of detail) with a pyvista ``Plotter``:

* every merged batch is one ``vtkPolyDataMapper`` actor; a frame only rewrites its
  colour array;
* every instance set is one ``vtkGlyph3DMapper`` actor per prototype part and level of
  detail: every machine is one GPU instance (position, quaternion, scale, colour); the
  level of detail of each instance is updated whenever the camera or window changes;
* colour modes (any field, ``labels``, ``material``) with a colour bar or a label
  legend, labels on the top-N assets, per-group visibility and opacity, camera presets
  and an orbiting camera, picking.

PNG renders (:mod:`~twin3d.render.offscreen`), animations (:mod:`~twin3d.render.animate`),
render jobs (:mod:`~twin3d.render.jobs`) and the interactive viewer
(:mod:`~twin3d.render.viewer`) all build on it, so a frame looks the same in each.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from ..colors import Legend, default_color_by, lookup_table_colors
from ..errors import InputError
from ..scene import Scene
from .batching import FIXED_COLOR_MODES, LOD_KEEP, MIN_INSTANCES, InstancedGeometry, InstanceSet, MergedBatch
from .presets import CAMERAS, camera_pose, parse_size, use_all_cores

__all__ = ["InstancedRenderer", "prefer_egl_without_display"]

#: Fraction of the window width kept free for a field's colour bar on the right.
_BAR_SPACE = 0.14


@contextmanager
def prefer_egl_without_display(off_screen: bool = True) -> Iterator[None]:
    """While creating an off-screen window on Linux without a display, ask VTK for EGL.

    VTK would first try X, print "bad X server connection" on stderr and then fall back
    to EGL; choosing EGL up front (when libEGL is installed and the user has not chosen
    with ``VTK_DEFAULT_OPENGL_WINDOW``) renders the same without the stray log line. The
    variable is set only around the window's creation, so child processes (a viewer
    under ``xvfb-run``) do not inherit it.
    """
    import ctypes.util
    import os
    import sys

    if not (off_screen and sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
            and not os.environ.get("WAYLAND_DISPLAY") and "VTK_DEFAULT_OPENGL_WINDOW" not in os.environ
            and ctypes.util.find_library("EGL")):
        yield
        return
    os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkEGLRenderWindow"
    try:
        yield
    finally:
        os.environ.pop("VTK_DEFAULT_OPENGL_WINDOW", None)


class InstancedRenderer:
    """A pyvista plotter showing a scene with instancing, merging and LOD.

    Parameters
    ----------
    scene
        The scene.
    size
        Window size ``(width, height)`` or ``"WxH"``.
    camera
        ``iso``, ``front``, ``side`` or ``top``.
    color_by
        Color mode: a field name, ``"labels"`` (one color per semantic label),
        ``"material"`` (part/material colors; ``""`` is the same). Default: the
        scene's ``color_by``, else ``risk``, else ``temperature``, else material.
    floor
        Draw a floor plane just below the lowest point along the up axis (default: the
        scene's ``floor`` metadata, else scenes in m, cm, in or ft that are not patient
        anatomy -- factories and models read from other tools).
    label_top
        Label the N assets with the highest value of the color field.
    off_screen
        Render without a window (default True). The viewer passes False.
    instancing, min_instances
        See :class:`~twin3d.render.batching.InstancedGeometry`.
    lod
        Use decimated prototypes for instances that are small on screen.
    anti_aliasing
        ``"msaa"`` (4 samples, best edges), ``"fxaa"`` (a cheaper post-process) or
        ``"none"`` (fastest: about 3x faster frames with software OpenGL).
    background
        Background color.
    """

    def __init__(self, scene: Scene, *, size=(1280, 720), camera: str = "iso", color_by: str | None = None,
                 floor: bool | None = None, label_top: int = 0, off_screen: bool = True, instancing: str = "auto",
                 min_instances: int = MIN_INSTANCES, lod: bool = True, anti_aliasing: str = "msaa",
                 background: str = "white") -> None:
        import pyvista as pv

        from .._util import check_no_tensorflow_for_rendering

        check_no_tensorflow_for_rendering()
        use_all_cores()
        if camera not in CAMERAS:
            raise InputError(f"unknown camera {camera!r}; valid: {', '.join(CAMERAS)}")
        if anti_aliasing not in ("msaa", "fxaa", "none"):
            raise InputError(f"anti_aliasing must be 'msaa', 'fxaa' or 'none', got {anti_aliasing!r}")
        self.scene = scene
        self.size = parse_size(size)
        self.geometry = InstancedGeometry(scene, instancing=instancing, min_instances=min_instances)
        if not self.geometry.assets:
            raise InputError(f"scene {scene.name!r} has no visible geometry to render")
        self.times = scene.times  # validates the shared timeline once (it walks every field)
        self.n_frames = 1 if self.times is None else int(self.times.size)
        self.lod = bool(lod)
        self.label_top = int(label_top)
        self.frame = 0
        self.azimuth = 0.0
        self.camera = camera
        self.group_visible = {g: True for g in self.geometry.group_names}
        self.group_opacity = {g: 1.0 for g in self.geometry.group_names}
        with prefer_egl_without_display(off_screen):
            self.plotter = pv.Plotter(off_screen=off_screen, window_size=list(self.size))
        self.plotter.ren_win.SetMultiSamples(4 if anti_aliasing == "msaa" else 0)
        if anti_aliasing == "fxaa":
            self.plotter.renderer.SetUseFXAA(True)
        self.plotter.set_background(background)
        self._lod_key = None
        self._legend_title: str | None = None
        self._has_category_legend = False
        self._actor_owner: dict[int, tuple] = {}
        self._peeling = False
        self._asset_colors: tuple[np.ndarray, np.ndarray] | None = None
        self._textures: dict[int, object] = {}  # id(batch) -> vtkTexture
        self.color_by = self._resolve_mode(default_color_by(scene) if color_by is None else color_by)
        self.legend: Legend | None = None
        self._label_rgb = self.geometry.label_rgb()
        self._build_actors()
        if floor is None:  # default: things people stand on a floor (not patient anatomy, not mm/um parts)
            floor = scene.metadata.get("floor", scene.units in ("m", "cm", "in", "ft")
                                       and not scene.metadata.get("coordinate_system"))
        show_floor = bool(floor)
        if show_floor:
            self._add_floor()
        self._apply_group_state()
        self.set_camera(camera)
        self.set_color_by(self.color_by)
        self.plotter.renderer.AddObserver("StartEvent", lambda *_: self._update_lod())

    # -- modes
    @property
    def color_modes(self) -> list[str]:
        """Available color modes: fields (risk, temperature first), then labels, material."""
        names = self.geometry.field_names()
        first = [n for n in ("risk", "temperature") if n in names]
        return first + [n for n in names if n not in first] + list(FIXED_COLOR_MODES)

    def _resolve_mode(self, mode: str | None) -> str:
        if mode is None or mode == "":
            return "material"
        if mode not in self.color_modes:
            raise InputError(f"cannot color by {mode!r}: valid color modes for scene {self.scene.name!r}: "
                             f"{', '.join(self.color_modes)}")
        return mode

    # -- actors
    def _build_actors(self) -> None:
        import vtk

        for bi, batch in enumerate(self.geometry.batches):
            mapper = vtk.vtkPolyDataMapper()
            mapper.SetInputData(batch.mesh)
            self._color_mapper(mapper, "rgb")
            actor = vtk.vtkActor()
            actor.SetMapper(mapper)
            self._style(actor, batch.opacity)
            if batch.texture is not None:
                texture = _read_texture(batch.texture)
                if texture is None:  # drawn in its material colours instead
                    batch.texture, batch.part_rgb = None, batch.plain_rgb
                else:
                    self._textures[id(batch)] = texture
                    actor.SetTexture(texture)
            self.plotter.add_actor(actor, name=f"merged_{bi}", reset_camera=False, render=False)
            batch.actor = actor
            self._actor_owner[id(actor)] = ("merged", batch)
        for si, iset in enumerate(self.geometry.instance_sets):
            iset.level = np.zeros(len(iset.assets), dtype=np.int8)
            for lod in range(len(LOD_KEEP)):
                inp = iset.points(np.arange(len(iset.assets)) if lod == 0 else np.zeros(0, int))
                iset.inputs.append(inp)
                iset.selected.append(np.arange(len(iset.assets)) if lod == 0 else np.zeros(0, int))
                actors = []
                for part, src in enumerate(iset.proto.levels[lod]):
                    if src is None:
                        continue
                    mapper = vtk.vtkGlyph3DMapper()
                    mapper.SetInputData(inp)
                    mapper.SetSourceData(src)
                    mapper.SetOrientationModeToQuaternion()
                    mapper.SetOrientationArray("quat")
                    mapper.OrientOn()
                    mapper.SetScaleModeToScaleByVectorComponents()
                    mapper.SetScaleArray("scale")
                    mapper.ScalingOn()
                    mapper.SetScaleFactor(1.0)
                    mapper.ClampingOff()
                    self._color_mapper(mapper, f"rgb_{part}")
                    actor = vtk.vtkActor()
                    actor.SetMapper(mapper)
                    self._style(actor, iset.opacity)
                    self.plotter.add_actor(actor, name=f"inst_{si}_{lod}_{part}", reset_camera=False, render=False)
                    actors.append((part, actor))
                    self._actor_owner[id(actor)] = ("instanced", iset, lod)
                iset.actors.append(actors)

    @staticmethod
    def _color_mapper(mapper, array: str) -> None:
        mapper.SetScalarModeToUsePointFieldData()
        mapper.SelectColorArray(array)
        mapper.SetColorModeToDirectScalars()
        mapper.ScalarVisibilityOn()

    @staticmethod
    def _style(actor, opacity: float) -> None:
        prop = actor.GetProperty()
        prop.SetInterpolationToGouraud()
        prop.SetSpecular(0.3)
        prop.SetSpecularPower(20)
        prop.SetOpacity(float(opacity))

    def _add_floor(self) -> None:
        """A floor plane just below the lowest point along the scene's up axis (any unit)."""
        import pyvista as pv

        lo, hi = self.geometry.bounds
        c = (lo + hi) / 2
        ext = hi - lo
        size = max(float(np.linalg.norm(ext)), 1e-6)
        gap = 1e-3 * size  # scale-free: the same look in metres, centimetres or millimetres
        margin = 0.1 * size
        if self.scene.up_axis == "Z":
            plane = pv.Plane(center=(c[0], c[1], lo[2] - gap), direction=(0, 0, 1),
                             i_size=ext[0] * 1.25 + margin, j_size=ext[1] * 1.4 + margin)
        else:
            # pv.Plane's i axis is z and its j axis x for a +Y normal
            plane = pv.Plane(center=(c[0], lo[1] - gap, c[2]), direction=(0, 1, 0),
                             i_size=ext[2] * 1.4 + margin, j_size=ext[0] * 1.25 + margin)
        actor = self.plotter.add_mesh(plane, color=(0.86, 0.87, 0.88), ambient=0.2, specular=0.0, name="floor",
                                      pickable=False, reset_camera=False, render=False)
        actor.SetPickable(False)

    # -- camera and LOD
    def set_camera(self, camera: str, azimuth: float = 0.0, *, orbit: bool = False) -> None:
        """Point the camera at the scene from a preset, turned by ``azimuth`` degrees.

        Every visible mesh is in frame, whatever the up axis and unit; ``orbit=True``
        (turntables) keeps the same distance for every azimuth.
        """
        lo, hi = self.geometry.bounds
        w, h = self.plotter.window_size
        # a field's colour bar sits on the right (see _update_legend): frame the scene beside it
        bar = self.color_by not in FIXED_COLOR_MODES
        pose = camera_pose(lo, hi, self.scene.up_axis, camera, azimuth,
                           aspect=w / max(h, 1) * (1 - _BAR_SPACE if bar else 1.0),
                           patient=self.scene.metadata.get("coordinate_system"), orbit=orbit)
        cam = self.plotter.camera
        cam.SetWindowCenter(_BAR_SPACE if bar else 0.0, 0.0)  # shifts the picture left
        cam.focal_point = pose["focal_point"]
        cam.position = pose["position"]
        cam.up = pose["up"]
        cam.view_angle = pose["view_angle"]
        self.plotter.renderer.ResetCameraClippingRange()
        self.camera = camera
        self.azimuth = float(azimuth)

    def _update_lod(self) -> None:
        """Assign each instance the level of detail its on-screen size needs."""
        if not self.geometry.instance_sets:
            return
        cam = self.plotter.camera
        win_h = int(self.plotter.window_size[1])
        key = (tuple(cam.position), tuple(cam.focal_point), float(cam.view_angle), bool(cam.parallel_projection),
               float(cam.parallel_scale), win_h, self.lod)
        if key == self._lod_key:
            return
        self._lod_key = key
        parallel_scale = float(cam.parallel_scale) if cam.parallel_projection else None
        for iset in self.geometry.instance_sets:
            if not self.lod:
                level = np.zeros(len(iset.assets), np.int8)
            else:
                level = iset.lod_levels(cam.position, float(cam.view_angle), win_h, parallel_scale)
            if iset.level is not None and np.array_equal(level, iset.level) and iset.selected:
                continue
            iset.level = level
            for lod in range(len(LOD_KEEP)):
                sel = np.flatnonzero(level == lod)
                iset.selected[lod] = sel
                inp = iset.points(sel)
                iset.inputs[lod] = inp
                for part, actor in iset.actors[lod]:
                    actor.GetMapper().SetInputData(inp)
            self._recolor_set(iset)
        self._apply_group_state()

    def lod_counts(self) -> list[int]:
        """Number of instances at each level of detail (after the last render)."""
        self._update_lod()
        counts = [0] * len(LOD_KEEP)
        for iset in self.geometry.instance_sets:
            for lod in range(len(LOD_KEEP)):
                counts[lod] += len(iset.selected[lod])
        return counts

    # -- colors
    def set_color_by(self, mode: str | None) -> None:
        """Switch the color mode (a field name, ``labels`` or ``material``) and its legend."""
        self.color_by = self._resolve_mode(mode)
        field_mode = self.color_by not in FIXED_COLOR_MODES
        self.legend = self.geometry.legend(self.color_by) if field_mode else None
        self._recolor()
        self._update_legend()
        self._update_labels()

    def _recolor(self) -> None:
        """Recompute the colours of the current mode and frame and copy them into the VTK arrays."""
        self._asset_colors = self.geometry.asset_colors(self.color_by, self.frame, self.legend, self._label_rgb)
        for batch in self.geometry.batches:
            self._recolor_batch(batch)
        for iset in self.geometry.instance_sets:
            self._recolor_set(iset)

    def _recolor_batch(self, batch: MergedBatch) -> None:
        texture = self._textures.get(id(batch))
        if texture is not None:  # textures show in material mode only
            batch.actor.SetTexture(texture if self.color_by == "material" else None)
        rgb = self.geometry.batch_rgb(batch, self._asset_colors, self.color_by, self.legend, self.frame)
        batch.mesh.point_data["rgb"][:] = rgb
        batch.mesh.GetPointData().GetArray("rgb").Modified()
        batch.mesh.Modified()

    def _recolor_set(self, iset: InstanceSet) -> None:
        for lod in range(len(LOD_KEEP)):
            sel = iset.selected[lod] if iset.selected else np.zeros(0, int)
            if not len(sel):
                continue
            inp = iset.inputs[lod]
            for p in range(iset.proto.n_parts):
                inp.point_data[f"rgb_{p}"] = self.geometry.instance_rgb(iset, sel, p, self._asset_colors)
            inp.Modified()

    def _update_legend(self) -> None:
        import pyvista as pv

        if self._legend_title is not None:
            self.plotter.remove_scalar_bar(self._legend_title, render=False)
            self.plotter.remove_actor("legend_carrier", render=False)
            self._legend_title = None
        if self._has_category_legend:
            self.plotter.remove_legend(render=False)
            self._has_category_legend = False
        if self.legend is not None:
            legend = self.legend
            lut = pv.LookupTable()
            cols = lookup_table_colors(legend.colormap, 256)
            lut.values = np.hstack([cols * 255, np.full((256, 1), 255)]).astype(np.uint8)
            lut.scalar_range = legend.clim
            carrier = pv.PolyData(np.zeros((2, 3)))
            carrier["v"] = np.array(legend.clim, dtype=float)
            actor = self.plotter.add_mesh(carrier, scalars="v", cmap=lut, clim=legend.clim, opacity=0.0,
                                          show_scalar_bar=False, name="legend_carrier", pickable=False,
                                          reset_camera=False, render=False)
            actor.SetPickable(False)
            span = legend.clim[1] - legend.clim[0]
            fs = int(np.clip(16 * min(self.size[1] / 720, self.size[0] / 1280 * 1.5), 8, 20))
            self.plotter.add_scalar_bar(title=legend.label, mapper=actor.mapper, color="black", vertical=True,
                                        position_x=0.88, position_y=0.15, height=0.7, width=0.06, n_labels=6,
                                        fmt="%.3g" if span < 10 else "%.0f", title_font_size=fs,
                                        label_font_size=max(fs - 2, 7), render=False)
            self._legend_title = legend.label
        elif self.color_by == "labels":
            table = self.geometry.label_table()
            if len(table) <= 24:
                self.plotter.add_legend(labels=[[k.replace("_", " "), tuple(v)] for k, v in table.items()],
                                        bcolor="white", face="rectangle", loc="lower right",
                                        size=(0.22, min(0.04 * len(table) + 0.02, 0.8)), name="categories")
                self._has_category_legend = True

    # -- labels
    def _update_labels(self) -> None:
        self.plotter.remove_actor("labels", render=False)
        if not self.label_top or self.color_by in FIXED_COLOR_MODES:
            return
        vals = self.geometry.asset_values(self.color_by, self.frame)
        if not np.isfinite(vals).any():
            return
        order = np.argsort(np.where(np.isfinite(vals), -vals, np.inf), kind="stable")[: self.label_top]
        order = [int(i) for i in order if np.isfinite(vals[i])]
        unit = self.legend.unit if self.legend else ""
        if self.color_by == "risk":
            texts = [f"{self.geometry.assets[i].name}: {vals[i] * 100:.0f}%" for i in order]
        else:
            texts = [f"{self.geometry.assets[i].name}: {vals[i]:.3g} {unit}".strip() for i in order]
        lo, hi = self.geometry.bounds
        lift = np.zeros(3)
        lift[2 if self.scene.up_axis == "Z" else 1] = 0.02 * float(np.linalg.norm(hi - lo))
        pts = self.geometry.tops[order] + lift
        self.plotter.add_point_labels(pts, texts, font_size=14, point_size=1, shape_opacity=0.75, text_color="black",
                                      shape_color="white", name="labels", always_visible=True, show_points=False,
                                      render=False)

    # -- groups
    def set_group_visible(self, group: str, visible: bool) -> None:
        """Show or hide every asset of top-level group ``group``."""
        self._check_group(group)
        self.group_visible[group] = bool(visible)
        self._apply_group_state()

    def set_group_opacity(self, group: str, opacity: float) -> None:
        """Opacity factor (0-1) of group ``group`` (multiplies the materials' opacity)."""
        self._check_group(group)
        o = float(opacity)
        if not 0.0 <= o <= 1.0:
            raise InputError(f"opacity must be in [0, 1], got {opacity}")
        self.group_opacity[group] = o
        self._apply_group_state()

    def _check_group(self, group: str) -> None:
        if group not in self.group_visible:
            raise InputError(f"no group {group!r} in scene {self.scene.name!r}; groups: "
                             f"{', '.join(self.geometry.group_names)}")

    def _apply_group_state(self) -> None:
        translucent = False
        for batch in self.geometry.batches:
            o = batch.opacity * self.group_opacity[batch.group]
            vis = self.group_visible[batch.group] and o > 0
            batch.actor.SetVisibility(vis)
            batch.actor.GetProperty().SetOpacity(o)
            translucent |= vis and o < 1
        for iset in self.geometry.instance_sets:
            o = iset.opacity * self.group_opacity[iset.group]
            vis = self.group_visible[iset.group] and o > 0
            for lod, actors in enumerate(iset.actors):
                n = len(iset.selected[lod]) if iset.selected else 0
                for _, actor in actors:
                    actor.SetVisibility(vis and n > 0)
                    actor.GetProperty().SetOpacity(o)
            translucent |= vis and o < 1
        if translucent and not self._peeling:
            # depth peeling does not work with a multisampled window (translucent
            # geometry vanishes with EGL/Mesa): switch MSAA for FXAA in that case
            if self.plotter.ren_win.GetMultiSamples() > 0:
                self.plotter.ren_win.SetMultiSamples(0)
                self.plotter.renderer.SetUseFXAA(True)
            self.plotter.enable_depth_peeling()
            self._peeling = True

    # -- frames
    def set_frame(self, frame: int) -> None:
        """Show frame ``frame`` of the timeline (recolors in place)."""
        f = int(frame)
        if f < 0:
            f += self.n_frames
        if not 0 <= f < self.n_frames:
            raise InputError(f"frame {frame} out of range: the scene has {self.n_frames} frame(s) (0..{self.n_frames - 1})")
        self.frame = f
        if self.color_by not in FIXED_COLOR_MODES:
            self._recolor()
            self._update_labels()

    def frame_time(self, frame: int | None = None) -> float | None:
        """Data time (seconds) of ``frame`` (default: the current one), None for a static scene."""
        if self.times is None:
            return None
        return float(self.times[self.frame if frame is None else frame])

    # -- output
    def title(self, text: str) -> None:
        actor = self.plotter.add_text(text, position="upper_left", font_size=12, color="black", name="title",
                                      render=False)
        actor.SetPickable(False)

    def render(self) -> None:
        self.plotter.render()

    def image(self) -> np.ndarray:
        """Render and return the RGB image (H, W, 3) uint8."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(return_img=True))[..., :3]

    def pick(self, x: float, y: float) -> int | None:
        """Index (into ``geometry.assets``) of the asset drawn at display pixel ``(x, y)``, or None.

        ``(x, y)`` are VTK display coordinates (origin lower left).
        """
        import vtk

        self._update_lod()
        picker = vtk.vtkPropPicker()
        if not picker.Pick(float(x), float(y), 0.0, self.plotter.renderer):
            return None
        owner = self._actor_owner.get(id(picker.GetViewProp()))
        if owner is None:
            return None
        p = np.asarray(picker.GetPickPosition(), float)
        if owner[0] == "merged":
            batch = owner[1]
            if batch.locator is None:
                batch.locator = vtk.vtkStaticCellLocator()
                batch.locator.SetDataSet(batch.mesh)
                batch.locator.BuildLocator()
            closest = [0.0, 0.0, 0.0]
            cell = vtk.reference(0)
            sub = vtk.reference(0)
            dist2 = vtk.reference(0.0)
            batch.locator.FindClosestPoint(p.tolist(), closest, cell, sub, dist2)
            return int(batch.asset_of_cell[int(cell)])
        iset, lod = owner[1], owner[2]
        cand = iset.assets[iset.selected[lod]]
        if not len(cand):
            return None
        lo, hi = self.geometry.lo[cand], self.geometry.hi[cand]
        tol = 1e-3 * max(float(np.linalg.norm(self.geometry.bounds[1] - self.geometry.bounds[0])), 1e-9)
        inside = np.all((p >= lo - tol) & (p <= hi + tol), axis=1)
        if inside.any():
            vol = np.prod(hi - lo, axis=1)
            return int(cand[np.flatnonzero(inside)[np.argmin(vol[inside])]])
        return int(cand[np.argmin(np.linalg.norm((lo + hi) / 2 - p, axis=1))])

    def display_position(self, index: int) -> tuple[float, float]:
        """Display coordinates of the centre of asset ``index`` (for picking it)."""
        ren = self.plotter.renderer
        c = self.geometry.centers[index]
        ren.SetWorldPoint(float(c[0]), float(c[1]), float(c[2]), 1.0)
        ren.WorldToDisplay()
        x, y, _ = ren.GetDisplayPoint()
        return float(x), float(y)

    def close(self) -> None:
        self.plotter.close()

    def __enter__(self) -> "InstancedRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_texture(path: str):
    """A ``vtkTexture`` of an image file (repeating, interpolated), or None with a warning."""
    import warnings

    import pyvista as pv
    import vtk

    from ..errors import Twin3DWarning

    out = vtk.vtkStringOutputWindow()  # VTK reports unreadable images on its output window
    prev = vtk.vtkOutputWindow.GetInstance()
    vtk.vtkOutputWindow.SetInstance(out)
    try:
        texture = pv.read_texture(path)
    except Exception:  # noqa: BLE001 - pyvista raises several types for unreadable images
        texture = None
    finally:
        vtk.vtkOutputWindow.SetInstance(prev)
    image = None if texture is None else texture.GetInput()
    if image is None or 0 in image.GetDimensions()[:2]:
        warnings.warn(f"{path}: cannot read the texture image; drawn in its material colour", Twin3DWarning,
                      stacklevel=3)
        return None
    texture.InterpolateOn()
    texture.RepeatOn()
    return texture
