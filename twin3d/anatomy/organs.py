"""Organ surfaces -> a scene, and the organ output files.

:func:`organs_to_scene` puts the surfaces of :func:`~twin3d.anatomy.surfaces.labelmap_to_surfaces`
into a :class:`~twin3d.scene.Scene` (units ``"mm"``, one ``"organ"`` asset per label with
its semantic label and measurements) for the USD and render backends;
:func:`write_organs` writes them by extension: a USD stage (``.usdc``/``.usda``/``.usd``),
an off-screen render (``.png``) or a VTK multiblock (``.vtm``, :func:`save_multiblock`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._util import remove_stale_temporaries
from ..errors import InputError, UnsupportedFormatError
from ..scene import Asset, Material, Scene, make_name
from .surfaces import OrganSurface

__all__ = ["organs_to_scene", "write_organs", "save_multiblock", "OUTPUT_EXTENSIONS"]

#: Output extensions of :func:`write_organs` (and ``twin3d surfaces``).
OUTPUT_EXTENSIONS = (".usdc", ".usda", ".usd", ".png", ".vtm")


def organs_to_scene(
    surfaces: Mapping[str, OrganSurface] | Iterable[OrganSurface],
    *,
    scene: Scene | None = None,
    name: str = "anatomy",
    group: str | None = "organs",
    opacity: float = 1.0,
    metadata: Mapping[str, Any] | None = None,
) -> Scene:
    """Put organ surfaces into a :class:`~twin3d.scene.Scene` (millimetres, RAS+).

    Each organ becomes an :class:`~twin3d.scene.Asset` with ``asset_type="organ"``,
    ``semantic_label`` = the organ name (the USD writer turns it into a
    ``UsdSemantics`` label), the table colour as material base colour, and metadata
    ``label``, ``volume_ml``, ``voxel_volume_ml``, ``area_mm2``, ``centroid_mm``.

    Parameters
    ----------
    surfaces
        Output of :func:`~twin3d.anatomy.surfaces.labelmap_to_surfaces` (or any iterable of OrganSurface).
    scene
        Add to this scene (its units must be ``"mm"``) instead of a new one.
    name
        Name of the new scene.
    group
        Group under which the organs go (``None``: directly under the root).
    opacity
        Material opacity of every organ.
    metadata
        Extra scene metadata (e.g. the source file).
    """
    items = list(surfaces.values()) if isinstance(surfaces, Mapping) else list(surfaces)
    if not items:
        raise InputError("no organ surfaces to put in a scene")
    if scene is None:
        scene = Scene(name=name, units="mm", up_axis="Z")
    elif scene.units != "mm":
        raise InputError(f"organ surfaces are in millimetres but scene {scene.name!r} uses {scene.units!r}")
    scene.metadata.setdefault("coordinate_system", "RAS")
    if metadata:
        scene.metadata.update(dict(metadata))
    parent = scene.group(group) if group else scene.root
    taken = {c.name for c in parent.children}
    for s in items:
        if not isinstance(s, OrganSurface):
            raise InputError(f"expected OrganSurface items, got {type(s).__name__}")
        asset_name = make_name(s.name)
        base, k = asset_name, 2
        while asset_name in taken:
            asset_name, k = f"{base}_{k}", k + 1
        taken.add(asset_name)
        asset = Asset(
            asset_name,
            mesh=s.mesh,
            material=Material(name=f"{asset_name}_material", base_color=s.color, roughness=0.6, opacity=opacity),
            asset_type="organ",
            semantic_label=s.name,
            metadata={
                "label": int(s.label),
                "organ": s.name,
                "volume_ml": float(s.volume_ml),
                "voxel_volume_ml": float(s.voxel_volume_ml),
                "area_mm2": float(s.area_mm2),
                "centroid_mm": [float(v) for v in s.centroid_mm],
                "coordinate_system": "RAS",
                "surface_method": s.method,
            },
        )
        scene.add(asset, parent=parent)
    return scene


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
    remove_stale_temporaries(p)  # left by a killed run (the pid in the name is gone)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{p.stem}.{os.getpid()}.", suffix=".tmp", dir=p.parent))
    try:
        mb.save(tmpdir / p.name)
        data_dir = tmpdir / p.stem
        final_dir = p.parent / p.stem
        old = None
        if final_dir.exists():
            old = p.parent / f".{p.stem}.{os.getpid()}.old.tmp"
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
    """Write organ surfaces to ``out`` by extension (USD, PNG or VTM; see :data:`OUTPUT_EXTENSIONS`)."""
    out = Path(out)
    ext = out.suffix.lower()
    if ext not in OUTPUT_EXTENSIONS:
        raise UnsupportedFormatError(
            f"{out}: unsupported output {ext or '(no extension)'!r}; valid: {', '.join(OUTPUT_EXTENSIONS)}"
        )
    if ext == ".vtm":
        return save_multiblock(surfaces, out)
    scene = organs_to_scene(surfaces, name=scene_name, metadata=metadata)
    if ext in (".usdc", ".usda", ".usd"):
        from ..usd import write_usd

        write_usd(scene, out)
        return out
    from ..render import render_png

    render_png(scene, out)
    return out
