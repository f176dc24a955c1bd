"""Confinement: which folders a reference *inside* a file may point to.

A mesh, glTF, USD or DICOM file names other files — glTF buffers and images, USD
sublayers, references, payloads and textures, an OBJ's ``.mtl``, the slices of a DICOM
series. A hostile file can name ``../../../../etc/passwd`` or an absolute path and have
its bytes read as geometry. Every such reference is resolved (symlinks included) and
accepted only when it lies inside

* the folder of the file that names it (for a file inside a USDZ/glTF package: the
  package's folder), or
* a folder the user allows: ``--allow-path DIR`` on the command line,
  ``with twin3d.confine.allow_paths(DIR): ...`` in Python, or the environment variable
  ``TWIN3D_ALLOW_PATH`` (folders separated by ``os.pathsep``).

Anything else raises :class:`~twin3d.errors.ConfinementError` naming the file, the
reference and how to allow it. Paths the *user* gives (a command's arguments, the
files a scene spec names) are not references inside a file and are not confined.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

from .errors import ConfinementError, InputError

__all__ = ["allow_paths", "allowed_folders", "check_reference", "is_inside", "ENV_VAR"]

#: Environment variable with extra allowed folders (``os.pathsep``-separated).
ENV_VAR = "TWIN3D_ALLOW_PATH"

_ALLOWED: ContextVar[tuple[Path, ...]] = ContextVar("twin3d_allowed_folders", default=())


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.fspath(path)))


@contextmanager
def allow_paths(*folders: str | os.PathLike) -> Iterator[tuple[Path, ...]]:
    """Allow references into ``folders`` (besides each file's own folder) inside the block."""
    extra = []
    for folder in folders:
        p = Path(folder).expanduser()
        if not p.is_dir():
            raise InputError(f"--allow-path {folder}: no such folder")
        extra.append(_real(p))
    token = _ALLOWED.set(_ALLOWED.get() + tuple(extra))
    try:
        yield allowed_folders()
    finally:
        _ALLOWED.reset(token)


def allowed_folders() -> tuple[Path, ...]:
    """The folders allowed besides each file's own: :func:`allow_paths` and ``TWIN3D_ALLOW_PATH``."""
    env = tuple(_real(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip())
    return _ALLOWED.get() + env


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` (symlinks resolved) is ``folder`` or inside it."""
    p, f = _real(path), _real(folder)
    return p == f or f in p.parents


def check_reference(reference: str, *, referrer: str | os.PathLike, what: str = "reference",
                    base: str | os.PathLike | None = None, uri: bool = False) -> Path:
    """Resolve ``reference`` found inside the file ``referrer`` and return it if allowed.

    ``reference`` is a relative or absolute path, or a ``file:`` URI; with ``uri=True``
    (glTF's URI references) it is percent-decoded. It is resolved against ``base``
    (default: the referrer's folder). Other URI schemes (``http:``...) are refused;
    ``data:`` URIs are the caller's business (they name no file). Raises
    :class:`ConfinementError` when the resolved path lies outside the referrer's folder
    and every allowed folder.
    """
    referrer = Path(referrer)
    home = _real(base if base is not None else referrer.parent)
    text = str(reference)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        text = unquote(parsed.path)
    elif parsed.scheme and len(parsed.scheme) > 1:  # not a Windows drive letter
        raise ConfinementError(
            f"{referrer}: {what} {reference!r} is a {parsed.scheme}: URI; only files next to it can be read")
    elif uri:
        text = unquote(text)
    target = _real(home / text)
    folders = (home,) + allowed_folders()
    if any(target == f or f in target.parents for f in folders):
        return target
    raise ConfinementError(
        f"{referrer}: {what} {reference!r} resolves to {target}, outside {home}; "
        f"allow its folder with --allow-path {target.parent} (or {ENV_VAR})")
