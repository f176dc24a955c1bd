"""USDZ packages (Apple AR Quick Look, any USD tool): the twin3d stage zipped as USD expects.

:func:`write_usdz` writes the scene with :func:`twin3d.usd.write_usd` to a ``.usdc`` in a
temporary folder, then packs it with ``pxr.UsdUtils.CreateNewUsdzPackage`` (which
stores files uncompressed and 64-byte aligned, as the USDZ specification requires, and
takes along any textures the stage references). The package's first file is
``<name>.usdc`` — the stage, with every frame, its fields, units and up axis as in a
``.usdc``. The package is written atomically.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .._util import atomic_path
from ..errors import InputError, Twin3DError
from ..io.writers import check_usd_options
from ..scene import Scene
from .schema import register_schema
from .writer import write_usd

__all__ = ["write_usdz", "usdz_files"]


def write_usdz(scene: Scene, path: str | Path, *, frame: int | None = None, split: bool = False,
               color_by: str | None = None, units: str | None = None, instancing: str = "auto") -> list[Path]:
    """Write ``scene`` as a USDZ package at ``path``; returns ``[path]``.

    ``frame`` is accepted for the writer registry and ignored (the stage keeps every
    frame); ``split``/``units``/``color_by="labels"`` are refused as for ``.usdc``.
    """
    path = Path(path)
    if path.suffix.lower() != ".usdz":
        raise InputError(f"{path}: a USDZ package must end in .usdz")
    check_usd_options(path, split=split, color_by=color_by or "", units=units)
    register_schema()
    from pxr import UsdUtils

    usd_color_by = "" if color_by == "material" else color_by
    stem = path.stem or "scene"
    with tempfile.TemporaryDirectory(prefix="twin3d-usdz-") as tmp:
        layer = Path(tmp) / f"{stem}.usdc"
        write_usd(scene, layer, color_by=usd_color_by, instancing=instancing)
        with atomic_path(path) as out:
            if not UsdUtils.CreateNewUsdzPackage(str(layer), str(out)):
                raise Twin3DError(f"{path}: USD could not create the USDZ package")
    return [path]


def usdz_files(path: str | Path) -> list[str]:
    """Names of the files inside a USDZ package (the stage first)."""
    register_schema()
    from pxr import Sdf

    from ..errors import require_file

    require_file(path, what="USDZ package")
    z = Sdf.ZipFile.Open(str(path))
    names = list(z.GetFileNames()) if z else []
    if not names:
        raise InputError(f"{path}: not a USDZ package (no files in a zip archive)")
    return names
