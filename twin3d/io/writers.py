"""Writers: a scene to a file chosen by its extension, through a registry symmetric to the readers.

=====================  ==========================================================
extension              what is written
=====================  ==========================================================
``.usda .usdc .usd``   the whole animated stage (:func:`twin3d.usd.write_usd`)
``.usdz``              a USDZ package holding that stage (:mod:`twin3d.usd.usdz`)
``.glb .gltf``         a glTF 2.0 node tree, metres, +Y up (:mod:`twin3d.io.gltf`)
``.obj .ply .stl``     one merged mesh, or one file per asset (:mod:`twin3d.io.meshfiles`)
=====================  ==========================================================

Register a writer for a new extension with the decorator::

    @register_writer(".xyz")
    def write_xyz(scene, path, *, frame, split, color_by, units) -> list[Path]: ...

``frame`` is a valid frame index, ``color_by`` a valid colour mode (a field name,
``labels`` or ``material``), ``units`` a unit name or None (the format's default).
Third-party packages can add writers through the ``twin3d.writers`` entry-point
group (name = extension, value = ``module:function``); they are loaded the first time
an unknown extension is asked for. Every writer writes atomically: all its files are
written to temporary files first and renamed into place only when all are complete
(:func:`atomic_outputs`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..errors import InputError, UnsupportedFormatError
from ..scene import UNITS, Scene

__all__ = ["register_writer", "write_scene", "writer_for", "supported_write_extensions", "resolve_frame",
           "atomic_outputs", "split_names", "split_folder", "check_usd_options", "WRITERS"]

WRITERS: dict[str, Callable[..., list[Path]]] = {}
_ENTRY_POINTS_LOADED = False


def register_writer(*extensions: str):
    """Decorator registering ``func(scene, path, *, frame, split, color_by, units) -> list[Path]``."""

    def deco(func):
        for ext in extensions:
            WRITERS[ext.lower() if ext.startswith(".") else "." + ext.lower()] = func
        return func

    return deco


class _Lazy:
    """A writer imported on first use (keeps ``import twin3d.io.writers`` light and acyclic).

    ``target`` is ``"module:function"`` or an entry point (anything with ``load()``).
    """

    def __init__(self, target) -> None:
        self.target = target

    def __call__(self, *args, **kwargs):
        if hasattr(self.target, "load"):
            return self.target.load()(*args, **kwargs)
        from importlib import import_module

        module, name = self.target.split(":")
        return getattr(import_module(module), name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<writer {getattr(self.target, 'value', self.target)}>"


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="twin3d.writers"):
        ext = ep.name if ep.name.startswith(".") else "." + ep.name
        WRITERS.setdefault(ext.lower(), _Lazy(ep))


def supported_write_extensions() -> list[str]:
    """Extensions :func:`write_scene` can write."""
    _load_entry_points()
    return sorted(WRITERS)


def _extension(path: Path) -> str:
    name = path.name.lower()
    for ext in sorted(WRITERS, key=len, reverse=True):
        if name.endswith(ext):
            return ext
    return path.suffix.lower()


def writer_for(path: str | os.PathLike) -> tuple[str, Callable[..., list[Path]]]:
    """``(extension, writer)`` for an output path; :class:`UnsupportedFormatError` listing the writable ones."""
    path = Path(path)
    ext = _extension(path)
    if ext not in WRITERS:
        _load_entry_points()
        ext = _extension(path)
    if ext not in WRITERS:
        raise UnsupportedFormatError(
            f"{path}: cannot write {ext or 'a file without extension'!r}; "
            f"writable: {', '.join(supported_write_extensions())}"
        )
    return ext, WRITERS[ext]


def resolve_frame(scene: Scene, frame: int | None) -> int:
    """A frame index of ``scene``: None -> the last frame; negative counts from the end."""
    n = scene.n_frames
    if frame is None:
        return n - 1
    index = int(frame) + n if int(frame) < 0 else int(frame)
    if not 0 <= index < n:
        raise InputError(f"frame {frame} is out of range: scene {scene.name!r} has {n} frame(s) (0-{n - 1}, "
                         "or negative from the end)")
    return index


def write_scene(scene: Scene, path: str | os.PathLike, *, frame: int | None = None, split: bool = False,
                color_by: str | None = None, units: str | None = None) -> list[Path]:
    """Write ``scene`` to ``path`` in the format its extension names; return the files written.

    Parameters
    ----------
    scene
        The scene.
    path
        Output file: ``.usda/.usdc/.usd``, ``.usdz``, ``.glb/.gltf``, ``.obj`` (+ ``.mtl``),
        ``.ply``, ``.stl`` or an extension added with :func:`register_writer`.
    frame
        The frame whose colours a mesh format shows (default: the last; negative counts
        from the end). USD formats write every frame.
    split
        Mesh formats: one file per asset, in the folder ``path`` without its extension
        (``out/line.stl`` -> ``out/line/<asset>.stl``), named by :func:`split_names`.
    color_by
        A field name, ``labels`` or ``material`` (default: the scene's ``color_by``,
        else risk, else temperature, else material colours).
    units
        OBJ/PLY/STL: the length unit of the file (default metres). glTF is always in
        metres and USD keeps the scene's units, so they refuse another unit.

    Writes are atomic: a failed write leaves no file (nor any of a ``split`` set) behind.
    """
    from ..colors import resolve_color_mode

    path = Path(path)
    _, writer = writer_for(path)
    if units is not None and units not in UNITS:
        raise InputError(f"unknown units {units!r}; valid: {', '.join(UNITS)}")
    index = resolve_frame(scene, frame)
    mode = resolve_color_mode(scene, color_by)
    return [Path(p) for p in writer(scene, path, frame=index, split=bool(split), color_by=mode, units=units)]


# --------------------------------------------------------------------------- helpers for writers
@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Temporary paths beside ``paths`` (same suffixes), renamed onto them only if the body succeeds.

    All files are written before any is renamed, so a failure leaves none of them
    behind (and the previous files untouched).
    """
    finals = [Path(p) for p in paths]
    if len(set(finals)) != len(finals):
        raise InputError(f"two outputs would have the same name: {sorted(map(str, finals))}")
    for final in finals:
        if final.is_dir():
            raise InputError(f"{final}: is a folder; cannot write a file there")
    temps: list[Path] = []
    try:
        for final in finals:
            final.parent.mkdir(parents=True, exist_ok=True)
            suffix = "".join(final.suffixes[-1:])
            fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=".tmp" + suffix, dir=final.parent)
            os.close(fd)
            temps.append(Path(tmp))
        yield list(temps)
        umask = os.umask(0)
        os.umask(umask)
        for tmp in temps:
            if tmp.is_file():
                os.chmod(tmp, 0o666 & ~umask)
        for tmp, final in zip(temps, finals):
            os.replace(tmp, final)
    except BaseException:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def split_names(paths: Sequence[str]) -> list[str]:
    """File-name stems for asset paths, the same every time.

    ``/`` becomes ``__``, every character outside ``[A-Za-z0-9_.-]`` becomes ``_``,
    leading dots are dropped, and a name already taken (compared case-insensitively,
    for case-insensitive file systems) gets ``_2``, ``_3``... in scene order.
    """
    out: list[str] = []
    taken: set[str] = set()
    for p in paths:
        name = _UNSAFE.sub("_", str(p).replace("/", "__")).lstrip(".") or "asset"
        candidate, k = name, 1
        while candidate.lower() in taken:
            k += 1
            candidate = f"{name}_{k}"
        taken.add(candidate.lower())
        out.append(candidate)
    return out


def split_folder(path: Path) -> Path:
    """The folder of a ``split`` write: ``path`` without its extension (``out/line.stl`` -> ``out/line``)."""
    ext = _extension(path)
    name = path.name[: len(path.name) - len(ext)] if ext and path.name.lower().endswith(ext) else path.stem
    if not name:
        raise InputError(f"{path}: name the output (e.g. line{ext}); with split, files go into a folder of that name")
    return path.parent / name


def _write_usd(scene: Scene, path: Path, *, frame: int, split: bool, color_by: str, units: str | None) -> list[Path]:
    from ..usd import write_usd

    check_usd_options(path, split=split, color_by=color_by, units=units)
    return [write_usd(scene, path, color_by="" if color_by == "material" else color_by)]


def check_usd_options(path: Path, *, split: bool, color_by: str, units: str | None) -> None:
    """Refuse options a USD stage cannot honour (it keeps every frame, its fields and its units)."""
    if split:
        raise InputError(f"{path}: split is for mesh formats (.obj, .ply, .stl, .glb, .gltf); "
                         "a USD stage keeps every asset as its own prim")
    if units is not None:
        raise InputError(f"{path}: a USD stage keeps the scene's units (metersPerUnit); units= is for .obj, .ply, .stl")
    if color_by == "labels":
        raise InputError(f"{path}: a USD stage stores fields, not label colours; color by a field or 'material'")


register_writer(".usda", ".usdc", ".usd")(_write_usd)
register_writer(".usdz")(_Lazy("twin3d.usd.usdz:write_usdz"))
register_writer(".glb", ".gltf")(_Lazy("twin3d.io.gltf:write_gltf"))
register_writer(".obj")(_Lazy("twin3d.io.meshfiles:write_obj"))
register_writer(".ply")(_Lazy("twin3d.io.meshfiles:write_ply"))
register_writer(".stl")(_Lazy("twin3d.io.meshfiles:write_stl"))
