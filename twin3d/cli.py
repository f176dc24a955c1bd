"""The ``twin3d`` command line (typer).

Every command turns twin3d errors and OS errors into one line on stderr and exit
code 2 — no traceback, and (since all outputs are written atomically) no partial
output file.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Optional

import typer

from .errors import Twin3DError
from .io import SCENE_EXTENSIONS, load_scene

app = typer.Typer(
    name="twin3d",
    help="AI-driven 3D digital twins: build, predict, render and export factory and anatomy scenes (USD + VTK).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def fail(message: str, code: int = 2) -> None:
    """Print one clear error line on stderr and exit."""
    typer.echo(f"twin3d: error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(func):
    """Decorator for commands: Twin3DError/OSError/KeyError -> one line on stderr, exit 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except Twin3DError as exc:
            fail(str(exc))
        except (OSError, KeyError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            fail(str(text))
        except KeyboardInterrupt:
            fail("interrupted", code=130)

    return wrapper


@app.command()
@handle_errors
def build(
    spec: Path = typer.Argument(..., help="Scene spec (YAML)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output USD file (.usda text or .usdc binary)."),
    instancing: str = typer.Option("auto", help="auto | always | never: USD instancing of repeated equipment."),
):
    """Build a scene spec (running its predictors) and write a USD stage."""
    from .usd import USD_EXTENSIONS, write_usd

    if out.suffix.lower() not in USD_EXTENSIONS:
        fail(f"{out}: output must be a USD file ({', '.join(USD_EXTENSIONS)})")
    if spec.suffix.lower() not in SCENE_EXTENSIONS:
        fail(f"{spec}: expected a scene spec ({', '.join(SCENE_EXTENSIONS)})")
    t0 = time.perf_counter()
    scene = load_scene(spec)
    write_usd(scene, out, instancing=instancing)
    n = len(scene.assets())
    typer.echo(f"wrote {out} ({n} assets, {scene.n_frames} frame(s)) in {time.perf_counter() - t0:.1f} s")


@app.command()
@handle_errors
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
):
    """Render a scene to a PNG image, a video (.mp4/.gif) or a folder of PNG frames."""
    from .render import parse_size

    w_h = parse_size(size)
    ext = out.suffix.lower()
    if ext == ".png":
        if frames is not None or all_frames or turntable:
            fail("--frames/--all-frames/--turntable need a video output (.mp4, .gif) or a folder")
        scene = load_scene(source)
        from .render import render_png

        render_png(scene, out, camera=camera, size=w_h, color_by=color_by, frame=frame, label_top=label_top)
        typer.echo(f"wrote {out}")
        return
    if ext in (".mp4", ".gif") or ext == "":
        scene = load_scene(source)
        from .render.animate import render_animation

        written = render_animation(scene, out, frames=frames, all_frames=all_frames, turntable=turntable, fps=fps,
                                   camera=camera, size=w_h, color_by=color_by, label_top=label_top)
        typer.echo(f"wrote {written}")
        return
    fail(f"{out}: unsupported output {ext!r}; use .png, .mp4, .gif or a folder (no extension)")


@app.command()
@handle_errors
def info(
    file: Path = typer.Argument(..., help="Scene spec (YAML) or USD file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
):
    """Show a scene's assets, fields, units and time range."""
    scene = load_scene(file)
    summary = scene.summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    tr = summary["time_range_s"]
    console.print(
        f"[bold]{summary['name']}[/bold]  units: {summary['units']} ({summary['meters_per_unit']} m/unit), "
        f"up: {summary['up_axis']}, frames: {summary['frames']}"
        + (f", time: {tr[0]:g}–{tr[1]:g} s" if tr else ", static")
        + f", fields: {', '.join(summary['fields']) or '-'}"
    )
    table = Table("asset", "type", "label", "vertices", "triangles", "parts", "fields", "sensors")
    for a in summary["assets"]:
        table.add_row(a["path"], a["type"], a["label"], str(a["vertices"]), str(a["triangles"]),
                      ", ".join(a["parts"]), ", ".join(a["fields"]), ", ".join(a["sensors"]))
    console.print(table)


@app.command()
@handle_errors
def demo(
    out: Path = typer.Option(Path("twin3d-demo"), "--out", "-o", help="Output folder."),
    quick: bool = typer.Option(False, help="Skip the slower parts (used by tests)."),
):
    """Build the demo twins and write USD stages + PNG renders into OUT."""
    from .demo import run_demo

    t0 = time.perf_counter()
    written = run_demo(out, quick=quick, log=lambda msg: typer.echo(msg))
    typer.echo(f"\nDemo finished in {time.perf_counter() - t0:.0f} s. Files in {out.resolve()}:")
    for p in written:
        typer.echo(f"  {p}")


def _register_command_groups() -> None:
    """Mount the commands of the predictor, anatomy and viewer modules."""
    from . import cli_anatomy, cli_risk, cli_segment, cli_thermal, cli_view

    for module in (cli_risk, cli_thermal, cli_anatomy, cli_segment, cli_view):
        module.register(app)


_register_command_groups()


def main() -> None:
    """Entry point of the ``twin3d`` console script."""
    app()


if __name__ == "__main__":
    main()
