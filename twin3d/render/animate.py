"""Animations: a scene's time-varying fields (and an optional orbiting camera) to video.

``render_animation(scene, "movie.mp4")`` renders every frame of the scene timeline
off-screen and encodes it with imageio: ``.mp4`` through ffmpeg (libx264, yuv420p),
``.gif`` through Pillow, or a folder of numbered PNGs (``frame_0000.png``...).

Outputs are atomic: a video is encoded into a temporary file next to the target and
renamed onto it only when complete; a folder is filled under a temporary name and
swapped in at the end. A failed or interrupted run leaves the previous output as it
was.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .._util import atomic_path, progress_bar, remove_stale_temporaries
from ..errors import InputError, UnsupportedFormatError
from ..scene import Scene
from ..spectypes import MAX_FRAMES
from .presets import format_time, parse_size

__all__ = ["render_animation", "frame_indices", "VIDEO_EXTENSIONS", "FRAME_PATTERN"]

VIDEO_EXTENSIONS = (".mp4", ".gif")
#: File names of the PNG frames written into a folder.
FRAME_PATTERN = "frame_{:04d}.png"
_FRAME_RE = re.compile(r"^frame_\d{4,}\.png$")
#: Frames of a turntable video of a static scene when no count is given.
DEFAULT_TURNTABLE_FRAMES = 72


def frame_indices(n_frames: int, *, frames: int | None = None, all_frames: bool = False,
                  turntable: bool = False) -> list[int]:
    """Timeline frame index for each video frame.

    Parameters
    ----------
    n_frames
        Frames in the scene timeline (1 for a static scene).
    frames
        Number of video frames, sampled evenly over the timeline (first and last
        included). With ``turntable`` it may exceed ``n_frames`` (the camera moves).
    all_frames
        Every timeline frame once (the default when neither option is given).
    turntable
        The camera orbits the scene once over the video.

    Returns
    -------
    list of int
        One timeline index per video frame.
    """
    if frames is not None and all_frames:
        raise InputError("give either frames=N or all_frames=True, not both")
    if frames is not None:
        if isinstance(frames, bool) or int(frames) != frames or frames < 1:
            raise InputError(f"frames must be a positive integer, got {frames!r}")
        if frames > MAX_FRAMES:
            raise InputError(f"frames={frames} is more than a video may have ({MAX_FRAMES:,}); "
                             "render fewer frames, or a folder of PNGs in several runs")
        frames = int(frames)
        if frames > n_frames and not turntable:
            raise InputError(f"frames={frames} exceeds the {n_frames} frame(s) of the scene timeline; "
                             "use all_frames (--all-frames) or add a turntable (--turntable) to move the camera")
    if n_frames <= 1 and not turntable:
        raise InputError("the scene has no animated fields: a video would show one still image; "
                         "add --turntable to orbit the camera, or render a PNG")
    if frames is None:
        frames = DEFAULT_TURNTABLE_FRAMES if (n_frames <= 1 and turntable) else n_frames
        if frames > MAX_FRAMES:
            raise InputError(f"the scene timeline has {n_frames:,} frames, more than a video may have "
                             f"({MAX_FRAMES:,}); give frames=N (--frames N) to sample some of them")
    if frames == 1:
        return [n_frames - 1]
    return [int(i) for i in np.rint(np.linspace(0, n_frames - 1, frames)).astype(int)]


def _output_kind(out: Path) -> str:
    ext = out.suffix.lower()
    if ext in VIDEO_EXTENSIONS:
        return ext[1:]
    if ext == "" or (out.exists() and out.is_dir()):
        return "folder"
    raise UnsupportedFormatError(f"cannot write an animation to {out}: use a .mp4 or .gif file, or a folder "
                                 "(no extension) for numbered PNG frames")


def _title(scene: Scene, index: int) -> str:
    times = scene.times
    if times is None:
        return scene.name
    return f"{scene.name}   t = {format_time(float(times[index]))}   (frame {index + 1}/{len(times)})"


@contextlib.contextmanager
def _atomic_folder(out: Path):
    """Yield a temporary folder next to ``out``; swap it in for ``out`` on success."""
    if out.exists():
        if not out.is_dir():
            raise InputError(f"{out} exists and is not a folder: cannot write PNG frames there")
        foreign = [p.name for p in out.iterdir() if not _FRAME_RE.match(p.name)]
        if foreign:
            raise InputError(f"{out} contains files that are not frames ({', '.join(sorted(foreign)[:3])}"
                             f"{' ...' if len(foreign) > 3 else ''}); refusing to replace it: choose an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)  # left by a killed run (the pid in the name is gone)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp.old", dir=out.parent))
            os.replace(out, old / "frames")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def render_animation(scene: Scene, out: str | Path, *, frames: int | None = None, all_frames: bool = False,
                     turntable: bool = False, fps: float | None = None, camera: str = "iso",
                     size: Sequence[int] | str = (1280, 720), color_by: str | None = None, label_top: int = 0,
                     title: bool = True, progress: bool | None = None, instancing: str = "auto",
                     anti_aliasing: str = "msaa") -> Path:
    """Render ``scene`` over time to a video (.mp4/.gif) or a folder of numbered PNGs.

    Parameters
    ----------
    scene
        The scene; its animated fields (one timeline) drive the colors.
    out
        ``movie.mp4`` (H.264, yuv420p: width and height must be even), ``movie.gif``,
        or a folder (no extension) that receives ``frame_0000.png``, ...
    frames, all_frames, turntable
        Which frames: see :func:`frame_indices`. Default: every timeline frame; a
        static scene needs ``turntable=True`` (then 72 frames by default).
    fps
        Video frames per second (default: the scene's ``fps``).
    camera
        Camera preset (``iso``, ``front``, ``side``, ``top``); the start of the orbit.
    size
        ``(width, height)`` or ``"WxH"``.
    color_by
        Color mode: a field name, ``labels`` or ``material`` (default: risk, else
        temperature, else part colors).
    label_top
        Label the N assets with the highest value of the color field on every frame.
    title
        Write the scene name and the frame's data time in the upper-left corner.
    progress
        Show a progress bar (default: only on an interactive terminal).
    instancing
        ``auto``/``always``/``never``: see :class:`~twin3d.render.batching.InstancedGeometry`.
    anti_aliasing
        ``msaa`` (default), ``fxaa`` or ``none`` (fastest).

    Returns
    -------
    Path
        ``out``.
    """
    from .renderer import InstancedRenderer

    out = Path(out)
    kind = _output_kind(out)
    w, h = parse_size(size)
    if kind == "mp4" and (w % 2 or h % 2):
        raise InputError(f"an .mp4 video (H.264, yuv420p) needs an even width and height, got {w}x{h}; "
                         f"use e.g. {w + w % 2}x{h + h % 2}")
    fps = float(scene.fps if fps is None else fps)
    if not (np.isfinite(fps) and 0 < fps <= 240):
        raise InputError(f"fps must be in (0, 240], got {fps}")
    indices = frame_indices(scene.n_frames, frames=frames, all_frames=all_frames, turntable=turntable)
    n = len(indices)
    if kind == "gif":  # Pillow keeps every frame until the file is closed
        from ..budgets import check_memory

        check_memory(float(n) * w * h * 4, f"the GIF {out.name}",
                     detail=f"{n:,} frames of {w}x{h} pixels kept until it is written; an .mp4 or a folder streams")

    renderer = InstancedRenderer(scene, size=(w, h), camera=camera, color_by=color_by, label_top=label_top,
                                 instancing=instancing, anti_aliasing=anti_aliasing)
    try:
        def images():
            with progress_bar(f"rendering {out.name}", total=n, enabled=progress) as advance:
                for k, idx in enumerate(indices):
                    if turntable:
                        renderer.set_camera(camera, azimuth=360.0 * k / n, orbit=True)
                    renderer.set_frame(idx)
                    if title:
                        renderer.title(_title(scene, idx))
                    img = renderer.image()
                    advance(1, frame=idx)
                    yield img

        if kind == "folder":
            import imageio.v3 as iio

            with _atomic_folder(out) as tmp:
                for k, img in enumerate(images()):
                    iio.imwrite(tmp / FRAME_PATTERN.format(k), img, extension=".png")
        elif kind == "mp4":
            import imageio.v2 as iio2

            with atomic_path(out) as tmp:
                writer = iio2.get_writer(str(tmp), format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                         pixelformat="yuv420p", macro_block_size=1, quality=8,
                                         ffmpeg_log_level="error")
                try:
                    for img in images():
                        writer.append_data(img)
                finally:
                    writer.close()
        else:  # gif
            import imageio.v3 as iio

            with atomic_path(out) as tmp:
                with iio.imopen(tmp, "w", plugin="pillow", extension=".gif") as f:
                    duration = 1000.0 / fps
                    for img in images():
                        f.write(img, duration=duration, loop=0, is_batch=False)
    finally:
        renderer.close()
    return out
