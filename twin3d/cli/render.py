"""``twin3d render``, ``twin3d view`` and ``twin3d render-job``: images, videos, the viewer, batch renders."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .errors import fail, handle_errors

__all__ = ["register", "render", "view", "render_job"]


def render(
    source: Path = typer.Argument(..., help="Scene spec (YAML) or USD file."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG image, or .mp4/.gif video, or a folder for numbered PNGs."),
    camera: str = typer.Option("iso", help="Camera preset: iso, front, side, top."),
    size: str = typer.Option("1280x720", help="Image size WIDTHxHEIGHT."),
    color_by: Optional[str] = typer.Option(None, "--color-by", help="Field that colors assets ('' for part colors)."),
    frame: Optional[int] = typer.Option(None, help="Frame to render for a PNG (default: last)."),
    frames: Optional[int] = typer.Option(None, help="Video: number of frames (sampled evenly over the timeline)."),
    all_frames: bool = typer.Option(False, "--all-frames", help="Video: every frame of the timeline."),
    turntable: bool = typer.Option(False, help="Video: orbit the camera once around the scene."),
    fps: Optional[float] = typer.Option(None, help="Video frames per second (default: the scene's fps)."),
    label_top: int = typer.Option(0, "--label-top", help="Label the N assets with the highest value of the color field."),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="USD inputs: read them even when sublayers, references or payloads are "
                                       "missing (their geometry is left out; one warning per kind)."),
):
    """Render a scene to a PNG image, a video (.mp4/.gif) or a folder of PNG frames."""
    from ..errors import InputError
    from ..render import parse_size
    from ..spec import load_scene
    from ..spectypes import MAX_FRAMES

    w_h = parse_size(size)
    if frames is not None and not 1 <= frames <= MAX_FRAMES:  # before the (possibly slow) scene build
        raise InputError(f"--frames {frames}: a video has 1 to {MAX_FRAMES:,} frames")
    ext = out.suffix.lower()
    if ext == ".png":
        if frames is not None or all_frames or turntable:
            fail("--frames/--all-frames/--turntable need a video output (.mp4, .gif) or a folder")
        scene = load_scene(source, allow_missing=allow_missing)
        from ..render import render_png

        render_png(scene, out, camera=camera, size=w_h, color_by=color_by, frame=frame, label_top=label_top)
        typer.echo(f"wrote {out}")
        return
    if ext in (".mp4", ".gif") or ext == "":
        scene = load_scene(source, allow_missing=allow_missing)
        from ..render.animate import render_animation

        written = render_animation(scene, out, frames=frames, all_frames=all_frames, turntable=turntable, fps=fps,
                                   camera=camera, size=w_h, color_by=color_by, label_top=label_top)
        typer.echo(f"wrote {written}")
        return
    fail(f"{out}: unsupported output {ext!r}; use .png, .mp4, .gif or a folder (no extension)")


def view(
    source: Path = typer.Argument(..., help="Scene spec (YAML) or USD file."),
    color_by: Optional[str] = typer.Option(None, "--color-by",
                                           help="Initial color mode: a field (risk, temperature...), labels or material."),
    camera: str = typer.Option("iso", help="Initial camera: iso, front, side, top."),
    size: str = typer.Option("1280x800", help="Window size WIDTHxHEIGHT."),
    fps: Optional[float] = typer.Option(None, help="Playback speed in frames per second (default: the scene's)."),
    screenshot_dir: Path = typer.Option(Path("."), "--screenshot-dir",
                                        help="Folder for screenshots taken with the 'k' key."),
    screenshot: Optional[Path] = typer.Option(None, "--screenshot",
                                              help="Open the window, save this PNG and close (no interaction)."),
    instancing: str = typer.Option("auto", help="auto | always | never: GPU instancing of repeated equipment."),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="USD inputs: read them even when sublayers, references or payloads are "
                                       "missing (their geometry is left out; one warning per kind)."),
):
    """Open the interactive viewer: click assets, play the timeline, switch color modes, toggle groups.

    Keys: m color mode, space play/pause, Left/Right frame, g/x/[ ] groups, k screenshot, h help, q quit.
    """
    from ..errors import Twin3DError
    from ..render import parse_size
    from ..render.viewer import Viewer, display_available
    from ..spec import load_scene

    w_h = parse_size(size)
    if screenshot is not None and screenshot.suffix.lower() != ".png":
        fail(f"--screenshot {screenshot}: use a .png file name")
    if not display_available():
        # fail before the (possibly slow) scene build
        raise Twin3DError("no display to open the viewer window: DISPLAY is not set (on a headless machine run "
                          "'xvfb-run twin3d view ...', or render files with 'twin3d render')")
    scene = load_scene(source, allow_missing=allow_missing)
    viewer = Viewer(scene, size=w_h, color_by=color_by, camera=camera, fps=fps, screenshot_dir=screenshot_dir,
                    instancing=instancing)
    if screenshot is not None:
        try:
            viewer.open()
            path = viewer.screenshot(screenshot)
        finally:
            viewer.close()
        typer.echo(f"wrote {path}")
        return
    viewer.run()


def render_job(
    job: Path = typer.Argument(..., help="Render job file (YAML): scenes x cameras x frames."),
    executor: str = typer.Option("local", help="local (worker processes here) or dask."),
    workers: Optional[int] = typer.Option(None, min=1, help="Worker processes (default: job file, else CPU cores)."),
    scheduler: Optional[str] = typer.Option(None, help="Address of a running Dask scheduler (implies --executor dask)."),
):
    """Render every scene x camera x frame of a job in parallel; resumable; writes a JSON manifest.

    Exit code 0 when every item is rendered or already valid, 1 when some items failed
    (they are listed), 2 for a bad job file or options.
    """
    from ..render.jobs import run_render_job

    report = run_render_job(job, executor=executor, workers=workers, scheduler=scheduler)
    c = report.counts
    typer.echo(f"render job {report.job}: {c['total']} item(s): {c['rendered']} rendered, {c['skipped']} skipped "
               f"(already valid), {c['failed']} failed in {report.wall_s:.1f} s "
               f"({report.executor}, {report.workers} worker(s))")
    typer.echo(f"manifest: {report.manifest}")
    if not report.ok:
        for it in report.failures:
            what = it["output"] or f"{it['scene']}/{it['camera']}"
            typer.echo(f"failed: {what}: {it['error']}", err=True)
        typer.echo(f"twin3d: error: {c['failed']} of {c['total']} item(s) failed (listed above); "
                   "run the job again to retry them", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``render``, ``view`` and ``render-job`` to ``app``."""
    app.command("render")(handle_errors(render))
    app.command("view")(handle_errors(view))
    app.command("render-job")(handle_errors(render_job))
