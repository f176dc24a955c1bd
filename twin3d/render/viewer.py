"""The interactive desktop viewer (a pyvista/VTK window).

``Viewer(scene).run()`` opens a window on a scene built by any part of twin3d
(factory risk, thermal fields, anatomy) or read from USD:

* orbit / zoom / pan with the mouse (VTK trackball camera);
* **click** an asset: its name, type, group and current values (risk, temperature,
  other fields, sensor readings, organ volume) appear in the lower-left panel and
  the asset is outlined;
* a **time slider** and a **play/pause** button (or ``space``) for animated scenes;
* **color modes** (radio buttons or ``m``): every field (risk, temperature, ...),
  ``labels`` (one color per semantic label) and ``material`` (part colors), with a
  color bar or a label legend;
* **groups** (top-level scene groups such as ``line``/``utilities`` or
  ``organs``/``body``): a visibility checkbox each; ``g`` selects a group, ``x``
  toggles it, ``[`` / ``]`` lower/raise its opacity;
* ``k`` saves a screenshot (PNG) into ``screenshot_dir``; ``h`` shows the key help;
  ``q`` closes the window.

Every action is also a method (``pick_asset``, ``set_frame``, ``set_color_mode``,
``set_group_visible``, ``set_group_opacity``, ``screenshot``) and the current
state is :attr:`Viewer.state`, so scripts and tests can drive the same window.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._util import atomic_path
from ..errors import InputError, Twin3DError
from .presets import format_time
from ..scene import Scene

__all__ = ["Viewer", "KEYS", "display_available"]

#: Key bindings (VTK key symbols) and what they do.
KEYS: dict[str, str] = {
    "m": "next color mode",
    "space": "play / pause",
    "Right": "next frame",
    "Left": "previous frame",
    "g": "select next group",
    "x": "show / hide the selected group",
    "bracketleft": "selected group more transparent ([)",
    "bracketright": "selected group more opaque (])",
    "k": "save a screenshot",
    "Escape": "clear the selection",
    "h": "show / hide this help",
    "q": "close the window",
}
_OPACITY_STEP = 0.1


def display_available() -> bool:
    """Whether a window can be opened (an X/Wayland display on Linux; always elsewhere)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _fmt_value(name: str, value: float, unit: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    if name == "risk" and unit in ("", "1"):
        return f"{value * 100:.1f} %"
    unit = "" if unit in ("", "1") else f" {unit}"
    return f"{value:.4g}{unit}"


class Viewer:
    """An interactive window on a scene.

    Parameters
    ----------
    scene
        The scene to show.
    size
        Window size ``(width, height)`` or ``"WxH"``.
    color_by
        Initial color mode (a field, ``labels`` or ``material``; default: risk, else
        temperature, else material).
    camera
        Initial camera preset (``iso``, ``front``, ``side``, ``top``).
    screenshot_dir
        Folder for screenshots saved with the ``k`` key.
    fps
        Playback speed in frames per second (default: the scene's ``fps``).
    instancing
        ``auto``/``always``/``never``, see :class:`~twin3d.render.batching.InstancedGeometry`.

    Raises
    ------
    Twin3DError
        When no display is available (on Linux: neither ``DISPLAY`` nor
        ``WAYLAND_DISPLAY`` is set; run under ``xvfb-run`` for a virtual one).
    """

    def __init__(self, scene: Scene, *, size: Sequence[int] | str = (1280, 800), color_by: str | None = None,
                 camera: str = "iso", screenshot_dir: str | os.PathLike = ".", fps: float | None = None,
                 instancing: str = "auto") -> None:
        from .renderer import InstancedRenderer

        if not display_available():
            raise Twin3DError("no display to open the viewer window: DISPLAY is not set "
                              "(on a headless machine run it under Xvfb, e.g. 'xvfb-run twin3d view ...', "
                              "or render files with 'twin3d render')")
        self.scene = scene
        self.fps = float(scene.fps if fps is None else fps)
        if not self.fps > 0:
            raise InputError(f"fps must be positive, got {fps}")
        self.screenshot_dir = Path(screenshot_dir)
        self.renderer = InstancedRenderer(scene, size=size, camera=camera, color_by=color_by, off_screen=False,
                                          instancing=instancing)
        self.plotter = self.renderer.plotter
        self.geometry = self.renderer.geometry
        self.n_frames = self.renderer.n_frames
        self.selected: int | None = None
        self.playing = False
        self.active_group = self.geometry.group_names[0]
        self.last_screenshot: Path | None = None
        self.message = ""
        self._timer_id: int | None = None
        self._press_pos: tuple[int, int] | None = None
        self._shots = 0
        self._help = False
        self._opened = False
        self._slider = None
        self._play_button = None
        self._mode_buttons: dict[str, Any] = {}
        self._group_buttons: dict[str, Any] = {}
        self._build_ui()
        self._refresh_texts()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        p = self.plotter
        w, h = self.renderer.size
        iren = p.iren
        # color-mode radio buttons and group checkboxes, left column
        y = h - 70
        p.add_text("color", position=(10, y + 4), font_size=6, color="black", name="ui_color_title")
        for mode in self.renderer.color_modes[:8]:
            y -= 26
            btn = p.add_radio_button_widget(lambda m=mode: self.set_color_mode(m), "color_mode",
                                            value=(mode == self.renderer.color_by), title=mode.replace("_", " "),
                                            position=(10, y), size=20, border_size=2, color_on="royalblue",
                                            color_off="lightgrey", background_color="white")
            self._mode_buttons[mode] = btn
        titles = getattr(getattr(p, "widgets", p), "radio_button_title_dict", {})
        for t in titles.get("color_mode", []):
            t.GetTextProperty().SetFontSize(11)
            t.GetTextProperty().SetColor(0, 0, 0)
        y -= 40
        p.add_text("groups", position=(10, y + 4), font_size=6, color="black", name="ui_group_title")
        for k, g in enumerate(self.geometry.group_names[:12]):
            y -= 26
            btn = p.add_checkbox_button_widget(lambda on, g=g: self.set_group_visible(g, on), value=True,
                                               position=(10, y), size=20, border_size=2, color_on="seagreen",
                                               color_off="lightgrey", background_color="white")
            self._group_buttons[g] = btn
            p.add_text(g, position=(38, y + 3), font_size=5, color="black", name=f"ui_group_{k}")
        # time slider and play button
        if self.n_frames > 1:
            self._slider = p.add_slider_widget(self._on_slider, rng=(0, self.n_frames - 1), value=0, title="frame",
                                               pointa=(0.3, 0.07), pointb=(0.75, 0.07), style="modern", fmt="%.0f",
                                               interaction_event="always", color="black", title_height=0.02)
            self._play_button = p.add_checkbox_button_widget(self._on_play_button, value=False,
                                                             position=(int(0.3 * w) - 70, int(0.07 * h) - 12),
                                                             size=24, border_size=2, color_on="orange",
                                                             color_off="lightgrey", background_color="white")
            p.add_text("play", position=(int(0.3 * w) - 42, int(0.07 * h) - 8), font_size=5, color="black",
                       name="ui_play")
        # keys
        bindings = {
            "m": self.next_color_mode,
            "space": self.toggle_play,
            "Right": lambda: self.step(1),
            "Left": lambda: self.step(-1),
            "g": self.next_group,
            "x": lambda: self.set_group_visible(self.active_group, not self.renderer.group_visible[self.active_group]),
            "bracketleft": lambda: self._bump_opacity(-_OPACITY_STEP),
            "bracketright": lambda: self._bump_opacity(_OPACITY_STEP),
            "k": self._screenshot_key,
            "Escape": lambda: self.pick_asset(None),
            "h": self.toggle_help,
        }
        for key, fn in bindings.items():
            p.add_key_event(key, fn)
        # click to pick (a press and release without a drag in between)
        iren.add_observer("LeftButtonPressEvent", self._on_press)
        iren.add_observer("LeftButtonReleaseEvent", self._on_release)
        iren.add_observer("TimerEvent", self._on_timer)

    def _on_press(self, _obj, _event) -> None:
        self._press_pos = tuple(self.plotter.iren.interactor.GetEventPosition())

    def _on_release(self, _obj, _event) -> None:
        pos = tuple(self.plotter.iren.interactor.GetEventPosition())
        start, self._press_pos = self._press_pos, None
        if start is None or abs(pos[0] - start[0]) > 3 or abs(pos[1] - start[1]) > 3:
            return
        if self._over_widget(pos):
            return
        self.pick_asset(pos)

    def _over_widget(self, pos) -> bool:
        """Clicks on the left UI column or the slider strip are not picks."""
        w, h = self.renderer.size
        return pos[0] < 150 and pos[1] > h - 80 - 26 * (len(self._mode_buttons) + len(self._group_buttons) + 3) or \
            (self._slider is not None and pos[1] < 0.12 * h)

    def _on_slider(self, value: float) -> None:
        frame = int(round(value))
        if frame != self.renderer.frame:
            self.set_frame(frame)

    def _on_play_button(self, on: bool) -> None:
        if bool(on) != self.playing:
            self.toggle_play()

    def _on_timer(self, _obj, _event) -> None:
        if self.playing:
            self.step(1, wrap=True)

    # ------------------------------------------------------------------ actions
    def pick_asset(self, target: str | Sequence[float] | None) -> str | None:
        """Select an asset by path/name, or the one under display pixel ``(x, y)``.

        ``None`` (or a click on empty space) clears the selection. Returns the
        selected asset's path, or None.
        """
        if target is None:
            index = None
        elif isinstance(target, str):
            if target in self.geometry.index:
                index = self.geometry.index[target]
            else:
                hits = [i for i, a in enumerate(self.geometry.assets) if a.name == target]
                if len(hits) != 1:
                    shown = ", ".join(self.geometry.paths[:12]) + (" ..." if len(self.geometry.paths) > 12 else "")
                    what = "ambiguous (use its path)" if hits else "not a visible asset"
                    raise InputError(f"{target!r} is {what}; assets: {shown}")
                index = hits[0]
        else:
            x, y = (float(v) for v in target)
            index = self.renderer.pick(x, y)
        self.selected = index
        self._update_selection()
        self._refresh_texts()
        self._render()
        return None if index is None else self.geometry.paths[index]

    def set_frame(self, frame: int) -> None:
        """Show timeline frame ``frame``."""
        self.renderer.set_frame(frame)
        if self._slider is not None:
            rep = self._slider.GetRepresentation()
            if int(round(rep.GetValue())) != self.renderer.frame:
                rep.SetValue(self.renderer.frame)
        self._refresh_texts()
        self._render()

    def step(self, delta: int, *, wrap: bool = False) -> None:
        """Move ``delta`` frames (clamped, or wrapping around with ``wrap``)."""
        f = self.renderer.frame + int(delta)
        f = f % self.n_frames if wrap else int(np.clip(f, 0, self.n_frames - 1))
        self.set_frame(f)

    def toggle_play(self) -> None:
        """Start or stop playback (a repeating timer advances the frame)."""
        if self.n_frames <= 1:
            self.message = "static scene: nothing to play"
            self._refresh_texts()
            self._render()
            return
        self.playing = not self.playing
        iren = self.plotter.iren.interactor
        if self.playing and self._timer_id is None:
            self._timer_id = iren.CreateRepeatingTimer(max(1, int(round(1000.0 / self.fps))))
        elif not self.playing and self._timer_id is not None:
            iren.DestroyTimer(self._timer_id)
            self._timer_id = None
        if self._play_button is not None:
            self._play_button.GetRepresentation().SetState(int(self.playing))
        self._refresh_texts()
        self._render()

    def set_color_mode(self, mode: str) -> None:
        """Color by a field (``risk``, ``temperature``...), ``labels`` or ``material``."""
        self.renderer.set_color_by(mode)
        for m, btn in self._mode_buttons.items():
            btn.GetRepresentation().SetState(int(m == self.renderer.color_by))
        self._refresh_texts()
        self._render()

    def next_color_mode(self) -> None:
        modes = self.renderer.color_modes
        self.set_color_mode(modes[(modes.index(self.renderer.color_by) + 1) % len(modes)])

    def set_group_visible(self, group: str, visible: bool) -> None:
        """Show or hide a top-level group."""
        self.renderer.set_group_visible(group, visible)
        btn = self._group_buttons.get(group)
        if btn is not None:
            btn.GetRepresentation().SetState(int(bool(visible)))
        if self.selected is not None and not self.renderer.group_visible[self.geometry.groups[self.selected]]:
            self.selected = None
            self._update_selection()
        self._refresh_texts()
        self._render()

    def set_group_opacity(self, group: str, opacity: float) -> None:
        """Opacity (0-1) of a top-level group."""
        self.renderer.set_group_opacity(group, opacity)
        self._refresh_texts()
        self._render()

    def next_group(self) -> None:
        names = self.geometry.group_names
        self.active_group = names[(names.index(self.active_group) + 1) % len(names)]
        self._refresh_texts()
        self._render()

    def _bump_opacity(self, delta: float) -> None:
        o = float(np.clip(round(self.renderer.group_opacity[self.active_group] + delta, 2), 0.0, 1.0))
        self.set_group_opacity(self.active_group, o)

    def toggle_help(self) -> None:
        self._help = not self._help
        self._refresh_texts()
        self._render()

    def screenshot(self, path: str | os.PathLike | None = None) -> Path:
        """Save what the window shows as a PNG (atomically); returns the path.

        Without ``path``: ``<screenshot_dir>/<scene>_frame<NNNN>_<k>.png``, never
        overwriting an earlier screenshot.
        """
        import imageio.v3 as iio

        if path is None:
            self.screenshot_dir.mkdir(parents=True, exist_ok=True)
            while True:
                self._shots += 1
                path = self.screenshot_dir / f"{self.scene.name}_frame{self.renderer.frame:04d}_{self._shots}.png"
                if not path.exists():
                    break
        path = Path(path)
        if path.suffix.lower() != ".png":
            raise InputError(f"screenshot {path}: use a .png file name")
        self.plotter.render()
        img = np.asarray(self.plotter.screenshot(return_img=True))[..., :3]
        with atomic_path(path) as tmp:
            iio.imwrite(tmp, img, extension=".png")
        self.last_screenshot = path
        return path

    def _screenshot_key(self) -> None:
        try:
            path = self.screenshot()
            self.message = f"saved {path}"
        except (Twin3DError, OSError) as exc:
            self.message = f"screenshot failed: {exc}"
        self._refresh_texts()
        self._render()

    # ------------------------------------------------------------------ info
    def asset_info(self, index: int) -> dict[str, Any]:
        """Name, type, group and current values of asset ``index``."""
        a = self.geometry.assets[index]
        frame = self.renderer.frame
        values: dict[str, dict] = {}
        for name, f in sorted(a.fields.items()):
            v = np.asarray(f.frame(frame), dtype=float)
            entry = {"value": float(v) if f.association == "asset" else float(np.nanmean(v)), "unit": f.unit}
            if f.association == "vertex":
                entry.update(min=float(np.nanmin(v)), max=float(np.nanmax(v)))
            values[name] = entry
        sensors = {name: {"value": float(np.asarray(s.frame(frame), dtype=float)), "unit": s.unit}
                   for name, s in sorted(a.sensors.items())}
        info = {"name": a.name, "path": self.geometry.paths[index], "type": a.asset_type,
                "label": a.semantic_label, "group": self.geometry.groups[index], "frame": frame,
                "time_s": self.renderer.frame_time(), "fields": values, "sensors": sensors}
        if "volume_ml" in a.metadata:
            info["volume_ml"] = float(a.metadata["volume_ml"])
        return info

    def _info_text(self, info: dict) -> str:
        lines = [f"{info['name']}  ({info['type']})", f"group: {info['group']}   path: {info['path']}"]
        for name, e in info["fields"].items():
            text = f"{name}: {_fmt_value(name, e['value'], e['unit'])}"
            if "min" in e:
                text += (f"  (mean; min {_fmt_value(name, e['min'], e['unit'])},"
                         f" max {_fmt_value(name, e['max'], e['unit'])})")
            lines.append(text)
        for name, e in info["sensors"].items():
            lines.append(f"{name}: {_fmt_value(name, e['value'], e['unit'])}")
        if "volume_ml" in info:
            lines.append(f"volume: {info['volume_ml']:.1f} ml")
        return "\n".join(lines)

    def _update_selection(self) -> None:
        import pyvista as pv

        self.plotter.remove_actor("selection", render=False)
        if self.selected is None:
            return
        lo, hi = self.geometry.lo[self.selected], self.geometry.hi[self.selected]
        pad = 0.02 * (hi - lo) + 1e-6
        box = pv.Box(bounds=(lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1], lo[2] - pad[2],
                             hi[2] + pad[2]))
        actor = self.plotter.add_mesh(box, style="wireframe", color="magenta", line_width=3, name="selection",
                                      pickable=False, reset_camera=False, render=False, lighting=False)
        actor.SetPickable(False)

    def _refresh_texts(self) -> None:
        r = self.renderer
        t = r.frame_time()
        title = self.scene.name
        if t is not None:
            title += f"   t = {format_time(t)}   (frame {r.frame + 1}/{self.n_frames})"
        r.title(title)
        g = self.active_group
        status = f"color: {r.color_by} [m]"
        if self.n_frames > 1:
            status += f"   {'playing' if self.playing else 'paused'} [space]"
        status += (f"\ngroup: {g}, {'shown' if r.group_visible[g] else 'hidden'}, opacity {r.group_opacity[g]:.1f}"
                   " [g x [ ]]   help [h]")
        if self.message:
            status += f"\n{self.message}"
        self.plotter.add_text(status, position="upper_right", font_size=9, color="black", name="status", render=False)
        if self.selected is not None:
            self.plotter.add_text(self._info_text(self.asset_info(self.selected)),
                                  position=(10, int(0.14 * self.renderer.size[1])), font_size=5, color="black",
                                  name="info", render=False)
        else:
            self.plotter.remove_actor("info", render=False)
        if self._help:
            text = "\n".join(f"{k:>12}  {v}" for k, v in KEYS.items()) + "\n   left click  select an asset"
            self.plotter.add_text(text, position=(170, int(self.renderer.size[1] * 0.3)), font_size=5,
                                  color="black", name="help", render=False, font="courier")
        else:
            self.plotter.remove_actor("help", render=False)

    # ------------------------------------------------------------------ state and window
    @property
    def state(self) -> dict[str, Any]:
        """The viewer's state (JSON-friendly): frame, mode, selection, groups..."""
        r = self.renderer
        return {
            "frame": r.frame,
            "n_frames": self.n_frames,
            "time_s": r.frame_time(),
            "playing": self.playing,
            "color_mode": r.color_by,
            "color_modes": list(r.color_modes),
            "legend": None if r.legend is None else {"title": r.legend.label, "clim": list(r.legend.clim)},
            "selected": None if self.selected is None else self.geometry.paths[self.selected],
            "info": None if self.selected is None else self.asset_info(self.selected),
            "groups": {g: {"visible": r.group_visible[g], "opacity": r.group_opacity[g]}
                       for g in self.geometry.group_names},
            "active_group": self.active_group,
            "camera": r.camera,
            "last_screenshot": None if self.last_screenshot is None else str(self.last_screenshot),
            "window_open": self._opened,
        }

    def _render(self) -> None:
        if self._opened:
            self.plotter.render()

    def open(self) -> "Viewer":
        """Open the window without blocking (drive it with methods or interactor events)."""
        if not self._opened:
            self.plotter.show(title=f"twin3d - {self.scene.name}", auto_close=False, interactive_update=True)
            self._opened = True
            # showing the window may reset the camera: put the preset back
            self.renderer.set_camera(self.renderer.camera, self.renderer.azimuth)
            self.plotter.render()
        return self

    @property
    def on_screen(self) -> bool:
        """Whether VTK gave this viewer a real window (not an off-screen EGL/OSMesa surface)."""
        name = self.plotter.ren_win.GetClassName()
        return not any(k in name for k in ("EGL", "OSOpenGL", "OSMesa"))

    def run(self) -> None:
        """Open the window and run the event loop until it is closed (``q`` or the close button)."""
        if not self.on_screen:
            name = self.plotter.ren_win.GetClassName()
            self.close()
            raise Twin3DError(f"VTK gave the viewer an off-screen surface ({name}), not a window: this process already "
                              "rendered off-screen before a display was available, and VTK keeps that choice; open "
                              "the viewer in a new process (e.g. 'twin3d view SCENE')")
        self.open()
        try:
            self.plotter.iren.start()
        finally:
            self.close()

    def close(self) -> None:
        """Stop playback and close the window."""
        if self._timer_id is not None and self.plotter.iren is not None:
            self.plotter.iren.interactor.DestroyTimer(self._timer_id)
            self._timer_id = None
        self.playing = False
        self.plotter.close()
        self._opened = False

    def __enter__(self) -> "Viewer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
