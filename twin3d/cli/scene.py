"""``twin3d build``, ``twin3d info`` and ``twin3d demo``: scenes from specs and USD files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from .errors import fail, handle_errors

__all__ = ["register", "build", "info", "demo"]


def build(
    spec: Path = typer.Argument(..., help="Scene spec (YAML)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output USD file (.usda text or .usdc binary)."),
    instancing: str = typer.Option(
        "auto", help="auto (shared geometry stored once; colours and fields on each asset's mesh; native instances "
                     "only where appearance is shared) | always (native instances) | never (a full mesh per asset)."),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="USD inputs: read them even when sublayers, references or payloads are "
                                       "missing (their geometry is left out; one warning per kind)."),
):
    """Build a scene spec (running its predictors) and write a USD stage.

    All or nothing: files the spec's sections write (e.g. segmentation.labelmap_out) and
    the stage appear together, only when the whole command succeeds.
    """
    from .._util import OutputSet
    from ..spec import SCENE_EXTENSIONS, load_scene
    from ..usd import USD_EXTENSIONS, write_usd

    if out.suffix.lower() not in USD_EXTENSIONS:
        fail(f"{out}: output must be a USD file ({', '.join(USD_EXTENSIONS)})")
    if spec.suffix.lower() not in SCENE_EXTENSIONS:
        fail(f"{spec}: expected a scene spec ({', '.join(SCENE_EXTENSIONS)})")
    t0 = time.perf_counter()
    with OutputSet() as outputs:
        scene = load_scene(spec, outputs=outputs, allow_missing=allow_missing)
        write_usd(scene, outputs.path(out), instancing=instancing)
    n = len(scene.assets())
    typer.echo(f"wrote {out} ({n} assets, {scene.n_frames} frame(s)) in {time.perf_counter() - t0:.1f} s")


def info(
    file: Path = typer.Argument(..., help="Scene spec (YAML) or USD file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    run: bool = typer.Option(False, "--run", help="Spec: also run its sections (sensors, predictors) to show their fields."),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="USD inputs: read them even when sublayers, references or payloads are "
                                       "missing (their geometry is left out; one warning per kind)."),
):
    """Show a scene's assets, fields, units and time range.

    A spec is validated and its geometry built; its sections (sensors, predictors) are
    listed but not run unless --run is given, so info reads and writes nothing else.
    """
    from ..spec import load_scene

    scene = load_scene(file, sections=run, allow_missing=allow_missing)  # files a section would write are dropped
    summary = scene.summary()
    pending = [] if run else list(scene.metadata.get("spec_sections", []))
    if pending:
        summary["sections_not_run"] = pending
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
    if pending:
        console.print(f"sections (not run; use --run): {', '.join(pending)}")
    table = Table("asset", "type", "label", "vertices", "triangles", "parts", "fields", "sensors")
    for a in summary["assets"]:
        table.add_row(a["path"], a["type"], a["label"], str(a["vertices"]), str(a["triangles"]),
                      ", ".join(a["parts"]), ", ".join(a["fields"]), ", ".join(a["sensors"]))
    console.print(table)


def demo(
    out: Path = typer.Option(Path("twin3d-demo"), "--out", "-o", help="Output folder."),
    quick: bool = typer.Option(False, help="Skip the slower parts (used by tests)."),
):
    """Build the demo twins and write USD stages + PNG renders into OUT."""
    from ..demo import run_demo

    t0 = time.perf_counter()
    written = run_demo(out, quick=quick, log=lambda msg: typer.echo(msg))
    typer.echo(f"\nDemo finished in {time.perf_counter() - t0:.0f} s. Files in {out.resolve()}:")
    for p in written:
        typer.echo(f"  {p}")


def register(app: typer.Typer) -> None:
    """Add ``build``, ``info`` and ``demo`` to ``app``."""
    app.command("build")(handle_errors(build))
    app.command("info")(handle_errors(info))
    app.command("demo")(handle_errors(demo))
