"""Readers: mesh files by extension through a registry, volumes in :mod:`twin3d.io.volumes`.

Register a reader for a new extension with the decorator::

    @register_reader(".xyz")
    def read_xyz(path): ...  # -> pyvista.PolyData (triangles, native units)

Third-party packages can add readers through the ``twin3d.readers`` entry-point
group (name = extension, value = ``module:function``); they are loaded lazily the
first time an unknown extension is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pyvista as pv

from ..errors import InputError, MissingFileError, UnsupportedFormatError

__all__ = ["register_reader", "read_mesh", "supported_extensions", "READERS", "USD_EXTENSIONS"]

READERS: dict[str, Callable[[Path], pv.PolyData]] = {}
_ENTRY_POINTS_LOADED = False


def register_reader(*extensions: str):
    """Decorator registering ``func(path) -> PolyData`` for the given extensions."""

    def deco(func):
        for ext in extensions:
            READERS[ext.lower() if ext.startswith(".") else "." + ext.lower()] = func
        return func

    return deco


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="twin3d.readers"):
        ext = ep.name if ep.name.startswith(".") else "." + ep.name
        READERS.setdefault(ext.lower(), lambda p, _ep=ep: _ep.load()(p))


def _extension(path: Path) -> str:
    name = path.name.lower()
    for ext in sorted(READERS, key=len, reverse=True):
        if name.endswith(ext):
            return ext
    return path.suffix.lower()


def supported_extensions() -> list[str]:
    """Extensions :func:`read_mesh` can read."""
    _load_entry_points()
    return sorted(READERS)


def read_mesh(path: str | Path) -> pv.PolyData:
    """Read a mesh file into a triangle :class:`pyvista.PolyData` (in the file's units).

    Supported: STL, OBJ, PLY, VTK, VTP, glTF/GLB and USD (all meshes of the stage,
    in world space), plus readers registered with :func:`register_reader`.
    """
    path = Path(path)
    ext = _extension(path)
    if ext not in READERS:
        _load_entry_points()
    if ext not in READERS:
        raise UnsupportedFormatError(
            f"{path}: unsupported mesh format {ext or '(no extension)'!r}; supported: {', '.join(supported_extensions())}"
        )
    if not path.exists():
        raise MissingFileError(path, what="mesh file")
    if not path.is_file():
        raise InputError(f"{path}: is a folder, expected a mesh file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    mesh = READERS[ext](path)
    if mesh is None or mesh.n_points == 0 or mesh.n_cells == 0:
        raise InputError(f"{path}: contains no surface geometry")
    if not mesh.is_all_triangles:
        mesh = mesh.triangulate()
    if not np.all(np.isfinite(mesh.points)):
        raise InputError(f"{path}: contains non-finite vertex coordinates")
    return mesh


def _pv_read(path: Path) -> pv.PolyData:
    import vtk

    # VTK readers report problems through its output window, not exceptions: capture them
    out = vtk.vtkStringOutputWindow()
    prev = vtk.vtkOutputWindow.GetInstance()
    vtk.vtkOutputWindow.SetInstance(out)
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = pv.read(str(path))
    except Exception as exc:  # pyvista raises several types for corrupt files
        raise InputError(f"{path}: cannot read mesh ({exc})") from None
    finally:
        vtk.vtkOutputWindow.SetInstance(prev)
    failed = "ERROR" in out.GetOutput() or any("error" in str(w.message).lower() for w in caught)
    if failed and (data is None or data.n_points == 0 or data.n_cells == 0):
        raise InputError(f"{path}: cannot read mesh: the file is corrupt or not a {path.suffix} file")
    if isinstance(data, pv.MultiBlock):
        data = data.combine(merge_points=False) if data.n_blocks else None
        if data is None:
            raise InputError(f"{path}: contains no geometry")
    if not isinstance(data, pv.PolyData):
        data = data.extract_surface(algorithm="dataset_surface")
    return data


register_reader(".stl", ".obj", ".ply", ".vtk", ".vtp", ".gltf", ".glb")(_pv_read)


@register_reader(".usd", ".usda", ".usdc", ".usdz")
def _read_usd_mesh(path: Path) -> pv.PolyData:
    from ..usd import read_usd

    scene = read_usd(path)
    pieces = []
    for p, a in scene.walk():
        if a.mesh is not None:
            pieces.append(a.mesh.transform(scene.world_matrix(p), inplace=False))
    if not pieces:
        raise InputError(f"{path}: the USD stage has no meshes")
    return pieces[0] if len(pieces) == 1 else pv.merge(pieces, merge_points=False)


#: Extensions of USD files (a whole stage: :func:`twin3d.usd.read_usd`; one merged mesh: :func:`read_mesh`).
USD_EXTENSIONS = (".usd", ".usda", ".usdc", ".usdz")
