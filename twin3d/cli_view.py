"""CLI commands ``twin3d view`` (interactive viewer) and ``twin3d render-job`` (batch renders).

Mounted by :mod:`twin3d.cli` through :func:`register`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``view`` and ``render-job`` commands to ``app``."""
    # imported here: twin3d.cli imports this module while it is being initialised
    from .cli import fail, handle_errors
    from .io import load_scene

    @app.command("view")
    @handle_errors
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
    ):
        """Open the interactive viewer: click assets, play the timeline, switch color modes, toggle groups.

        Keys: m color mode, space play/pause, Left/Right frame, g/x/[ ] groups, k screenshot, h help, q quit.
        """
        from .render import parse_size
        from .render.viewer import Viewer, display_available
        from .errors import Twin3DError

        w_h = parse_size(size)
        if screenshot is not None and screenshot.suffix.lower() != ".png":
            fail(f"--screenshot {screenshot}: use a .png file name")
        if not display_available():
            # fail before the (possibly slow) scene build
            raise Twin3DError("no display to open the viewer window: DISPLAY is not set (on a headless machine run "
                              "'xvfb-run twin3d view ...', or render files with 'twin3d render')")
        scene = load_scene(source)
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

    @app.command("render-job")
    @handle_errors
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
        from .render.jobs import run_render_job

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
