"""``twin3d surfaces``: a segmentation (label map) -> named organ surfaces.

    twin3d surfaces SEG.nii.gz --out organs.usdc [--labels builtin|totalsegmentator|TABLE.json]
                   [--method surface_nets|flying_edges] [--smoothing 20] [--passband 0.01]
                   [--decimate 0.5] [--json]

Output by extension: ``.usdc`` / ``.usda`` / ``.usd`` (USD stage in metres per unit 0.001,
organs with UsdSemantics labels), ``.png`` (off-screen render), ``.vtm`` (VTK
multiblock, one named block per organ, with a folder of ``.vtp`` files beside it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from .errors import handle_errors

__all__ = ["register", "surfaces"]


def surfaces(
    seg: Path = typer.Argument(..., help="Label map: NIfTI (.nii/.nii.gz) or a DICOM series folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output: .usdc/.usda/.usd, .png or .vtm."),
    labels: str = typer.Option(
        "builtin", "--labels", "-l", help="Label table: builtin, totalsegmentator, or a JSON file {id: name}."
    ),
    method: str = typer.Option("surface_nets", help="surface_nets (shared walls, no gaps) or flying_edges (closed)."),
    smoothing: int = typer.Option(20, help="Windowed-sinc smoothing iterations (0 = none)."),
    passband: float = typer.Option(0.01, help="Windowed-sinc pass band (smaller = smoother)."),
    decimate: Optional[float] = typer.Option(None, help="Target triangle reduction in [0, 1), e.g. 0.5."),
    series: Optional[str] = typer.Option(None, help="SeriesInstanceUID, for a DICOM folder with several series."),
    as_json: bool = typer.Option(False, "--json", help="Print the organ measurements as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
) -> None:
    """Turn a segmentation into named organ surfaces (world mm, RAS) and write them."""
    from ..anatomy.labels import load_label_table
    from ..anatomy.organs import OUTPUT_EXTENSIONS, write_organs
    from ..anatomy.surfaces import SURFACE_METHODS, labelmap_to_surfaces
    from ..errors import InputError, UnsupportedFormatError
    from ..io.volumes import read_labelmap

    ext = out.suffix.lower()
    if ext not in OUTPUT_EXTENSIONS:
        raise UnsupportedFormatError(
            f"{out}: unsupported output {ext or '(no extension)'!r}; valid: {', '.join(OUTPUT_EXTENSIONS)}"
        )
    if method not in SURFACE_METHODS:
        raise InputError(f"--method {method!r} is not valid; use one of {', '.join(SURFACE_METHODS)}")
    table = load_label_table(labels)
    t0 = time.perf_counter()
    lm = read_labelmap(seg, series_uid=series)
    organs = labelmap_to_surfaces(
        lm, table, method=method, smoothing=smoothing, passband=passband, decimate=decimate,
        progress=None if not quiet else False,
    )
    write_organs(organs, out, scene_name=make_scene_name(seg), metadata={"source": str(seg), "label_table": table.name})
    elapsed = time.perf_counter() - t0
    if quiet:
        return
    if as_json:
        typer.echo(json.dumps({"output": str(out), "organs": [s.summary() for s in organs.values()]}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table("label", "organ", "volume ml", "voxels ml", "area mm²", "centroid mm (RAS)", "triangles")
    for s in organs.values():
        c = s.centroid_mm
        t.add_row(
            str(s.label), s.name, f"{s.volume_ml:.2f}", f"{s.voxel_volume_ml:.2f}", f"{s.area_mm2:.0f}",
            f"{c[0]:.1f}, {c[1]:.1f}, {c[2]:.1f}", str(s.n_triangles),
        )
    console.print(t)
    console.print(f"wrote {out}: {len(organs)} organ surfaces ({method}) in {elapsed:.1f} s")


def make_scene_name(seg: Path) -> str:
    """The scene name for a label map file: its name without ``.nii``/``.nii.gz``, made a valid prim name."""
    from ..scene import make_name

    name = seg.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return make_name(name)


def register(app: typer.Typer) -> None:
    """Add ``twin3d surfaces`` to ``app``."""
    app.command("surfaces")(handle_errors(surfaces))
