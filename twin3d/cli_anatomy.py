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
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import typer

from .errors import InputError, UnsupportedFormatError

__all__ = ["register", "surfaces", "write_organs", "save_multiblock", "OUTPUT_EXTENSIONS"]

#: Output extensions of ``twin3d surfaces``.
OUTPUT_EXTENSIONS = (".usdc", ".usda", ".usd", ".png", ".vtm")


def save_multiblock(surfaces, path: str | os.PathLike) -> Path:
    """Write organ surfaces as a VTK multiblock (``.vtm``) atomically.

    VTK stores a ``.vtm`` as an index file plus a folder of the same stem with one
    ``.vtp`` per block. Both are written in a temporary folder and moved into place
    (folder first, index last), so a failed run leaves any previous output intact.
    Each block is named after its organ and carries field data ``label``,
    ``volume_ml``, ``area_mm2`` and ``centroid_mm``.
    """
    import numpy as np
    import pyvista as pv

    p = Path(path)
    if p.suffix.lower() != ".vtm":
        raise UnsupportedFormatError(f"{p}: a multiblock file must end in .vtm")
    items = list(surfaces.values()) if hasattr(surfaces, "values") else list(surfaces)
    mb = pv.MultiBlock()
    for s in items:
        mesh = s.mesh.copy()
        mesh.field_data["label"] = np.array([s.label], dtype=np.int64)
        mesh.field_data["volume_ml"] = np.array([s.volume_ml])
        mesh.field_data["area_mm2"] = np.array([s.area_mm2])
        mesh.field_data["centroid_mm"] = np.asarray(s.centroid_mm, dtype=float).reshape(1, 3)
        mesh.field_data["color"] = np.asarray(s.color, dtype=float).reshape(1, 3)
        mb.append(mesh, s.name)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{p.stem}.", suffix=".tmp", dir=p.parent))
    try:
        mb.save(tmpdir / p.name)
        data_dir = tmpdir / p.stem
        final_dir = p.parent / p.stem
        old = None
        if final_dir.exists():
            old = p.parent / f".{p.stem}.old.{os.getpid()}"
            os.replace(final_dir, old)
        if data_dir.exists():
            os.replace(data_dir, final_dir)
        os.replace(tmpdir / p.name, p)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return p


def write_organs(surfaces, out: str | os.PathLike, *, scene_name: str = "anatomy", metadata: dict | None = None) -> Path:
    """Write organ surfaces to ``out`` by extension (USD, PNG or VTM)."""
    from .anatomy import organs_to_scene

    out = Path(out)
    ext = out.suffix.lower()
    if ext == ".vtm":
        return save_multiblock(surfaces, out)
    scene = organs_to_scene(surfaces, name=scene_name, metadata=metadata)
    if ext in (".usdc", ".usda", ".usd"):
        from .usd import write_usd

        write_usd(scene, out)
        return out
    if ext == ".png":
        from .render import render_png

        render_png(scene, out)
        return out
    raise UnsupportedFormatError(f"{out}: unsupported output {ext or '(no extension)'!r}; valid: {', '.join(OUTPUT_EXTENSIONS)}")


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
    from .anatomy import SURFACE_METHODS, labelmap_to_surfaces, load_label_table
    from .io.volumes import read_labelmap

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
    from .scene import make_name

    name = seg.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return make_name(name)


def register(app: typer.Typer, *, error_handler: Callable | None = None) -> None:
    """Add ``twin3d surfaces`` to ``app``.

    ``error_handler`` wraps the command (default: :func:`twin3d.cli.handle_errors`:
    twin3d/OS errors become one stderr line and exit code 2).
    """
    if error_handler is None:
        try:
            from .cli import handle_errors as error_handler
        except ImportError:  # pragma: no cover - cli.py always provides it
            error_handler = None
    cmd = surfaces if error_handler is None else error_handler(surfaces)
    app.command("surfaces")(cmd)
