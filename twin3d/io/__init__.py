"""Readers: mesh files by extension through a registry, volumes in :mod:`twin3d.io.volumes`.

Register a reader for a new extension with the decorator::

    @register_reader(".xyz")
    def read_xyz(path): ...  # -> pyvista.PolyData (triangles, native units)

Third-party packages can add readers through the ``twin3d.readers`` entry-point
group (name = extension, value = ``module:function``); they are loaded lazily the
first time an unknown extension is asked for.

The built-in readers trust nothing in a file (see ``docs/security.md``): STL
(:mod:`twin3d.io.stl`), PLY (:mod:`twin3d.io.ply`), OBJ (:mod:`twin3d.io.obj`) and
glTF/GLB (:mod:`twin3d.io.gltfread`) are parsed in NumPy with every count checked
against the file's size and the memory budget before anything is allocated; VTK's own
formats (``.vtk``, ``.vtp``) are read by VTK in a child process
(:mod:`twin3d.io.vtkfiles`), so a reader crash is an error, not the end of the process.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import BudgetError, InputError, MissingFileError, Twin3DError, UnsupportedFormatError

if TYPE_CHECKING:  # pragma: no cover
    import pyvista as pv

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
    try:
        mesh = READERS[ext](path)
    except (Twin3DError, OSError):
        raise
    except MemoryError:
        raise BudgetError(f"{path}: ran out of memory reading the file; lower the budget with --max-memory "
                          f"or TWIN3D_MAX_MEMORY to have such files refused up front") from None
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, UnicodeError, RecursionError,
            struct.error) as exc:  # a parser's own error on a malformed file: one clear line
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"{path}: cannot read the {ext} file ({detail}); the file is corrupt") from None
    if mesh is None or mesh.n_points == 0 or mesh.n_cells == 0:
        raise InputError(f"{path}: contains no surface geometry")
    if not mesh.is_all_triangles:
        mesh = mesh.triangulate()
        if mesh.n_cells == 0:
            raise InputError(f"{path}: contains no surface geometry (no faces)")
    from .meshcheck import check_points

    check_points(path, np.asarray(mesh.points))
    return mesh


@register_reader(".stl")
def _read_stl(path: Path) -> pv.PolyData:
    from .stl import read_stl

    return read_stl(path)


@register_reader(".ply")
def _read_ply(path: Path) -> pv.PolyData:
    from .ply import read_ply

    return read_ply(path)


@register_reader(".obj")
def _read_obj(path: Path) -> pv.PolyData:
    from .obj import read_obj

    return read_obj(path)


@register_reader(".gltf", ".glb")
def _read_gltf(path: Path) -> pv.PolyData:
    from .gltfread import read_gltf

    return read_gltf(path)


@register_reader(".vtk", ".vtp")
def _read_vtk(path: Path) -> pv.PolyData:
    from .vtkfiles import read_vtk_file

    return read_vtk_file(path)


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
    if len(pieces) == 1:
        return pieces[0]
    import pyvista as pv

    return pv.merge(pieces, merge_points=False)


#: Extensions of USD files (a whole stage: :func:`twin3d.usd.read_usd`; one merged mesh: :func:`read_mesh`).
USD_EXTENSIONS = (".usd", ".usda", ".usdc", ".usdz")
