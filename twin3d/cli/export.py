"""``twin3d export``: a scene spec or USD file to USD, USDZ, glTF/GLB, OBJ, PLY or STL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from .errors import handle_errors

__all__ = ["register", "export"]


def export(
    scene: Path = typer.Argument(..., help="Scene spec (YAML) or USD file."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file; its extension picks the format "
                             "(.usda .usdc .usd .usdz .glb .gltf .obj .ply .stl)."),
    frame: Optional[int] = typer.Option(None, "--frame", help="Frame whose colours mesh formats show "
                                        "(default: the last; negative counts from the end). USD keeps every frame."),
    split: bool = typer.Option(False, "--split", help="Mesh formats: one file per asset, in the folder OUT "
                               "without its extension."),
    color_by: Optional[str] = typer.Option(None, "--color-by", help="A field (risk, temperature...), labels or "
                                           "material (default: the scene's)."),
    units: Optional[str] = typer.Option(None, "--units", help="OBJ/PLY/STL length unit (default m; e.g. mm for "
                                        "slicers)."),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="USD inputs: read them even when sublayers, references or payloads are "
                                       "missing (their geometry is left out; one warning per kind)."),
):
    """Export a scene to another format, chosen by the extension of --out."""
    from ..io.writers import write_scene, writer_for
    from ..spec import load_scene

    writer_for(out)  # an unwritable extension fails before the scene is built
    t0 = time.perf_counter()
    loaded = load_scene(scene, allow_missing=allow_missing)
    files = write_scene(loaded, out, frame=frame, split=split, color_by=color_by, units=units)
    for f in files:
        typer.echo(f"wrote {f}")
    shown = sum(1 for _, a, _, visible in loaded.walk_world() if visible and a.mesh is not None)
    typer.echo(f"{len(files)} file(s) from {shown} visible asset(s) in {time.perf_counter() - t0:.1f} s")


def register(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""
    app.command("export")(handle_errors(export))
