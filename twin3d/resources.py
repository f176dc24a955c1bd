"""Files shipped with twin3d: demo scene specs, trained models, the USD schema.

They are package data, read with :mod:`importlib.resources`, so they are found the same
way from a source checkout (``pip install -e .``), an installed wheel or a zip:

==========================  ==========================================  =====================
resource                    in the repository                           in the package
==========================  ==========================================  =====================
demo scene specs            ``scenes/*.yaml``                           ``twin3d.scenes``
trained models              ``assets/models``, ``assets/thermal``        ``twin3d.assets``
USD schema plugin           ``twin3d/usd/plugin``                       ``twin3d.usd.plugin``
==========================  ==========================================  =====================

``scenes/`` and ``assets/`` stay at the top of the repository and are mapped into the
package by ``[tool.setuptools.package-dir]`` in ``pyproject.toml``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.resources as ir
from pathlib import Path

from .errors import MissingFileError

__all__ = ["scenes_dir", "scene_path", "asset_path", "package_dir"]


def package_dir(package: str) -> Path:
    """The folder of a twin3d package holding data (``"twin3d.scenes"``, ``"twin3d.assets"``...)."""
    root = ir.files(package)
    if isinstance(root, Path):
        return root
    paths = [Path(p) for p in getattr(importlib.import_module(package), "__path__", [])]
    if paths and paths[0].is_dir():  # a data folder without __init__.py (a namespace package)
        return paths[0]
    # a zipped install: extract once for the process (models are opened by path)
    stack = contextlib.ExitStack()
    path = stack.enter_context(ir.as_file(root))
    _KEEP.append(stack)
    return Path(path)


_KEEP: list = []


def scenes_dir() -> Path:
    """The folder of the demo scene specs (``factory_line.yaml``, ``motor_thermal.yaml``, ``anatomy_phantom.yaml``)."""
    return package_dir("twin3d.scenes")


def scene_path(name: str) -> Path:
    """A shipped demo scene spec by file name (``"factory_line.yaml"``)."""
    p = scenes_dir() / name
    if not p.is_file():
        shipped = sorted(q.name for q in scenes_dir().glob("*.yaml"))
        raise MissingFileError(p, f"no shipped scene spec {name!r}; shipped: {', '.join(shipped)}", what="scene spec")
    return p


def asset_path(*parts: str, what: str = "shipped file", regenerate: str = "") -> Path:
    """A file under the shipped ``assets`` (``asset_path("models", "phantom_unet.pt")``).

    ``regenerate`` (the command that rebuilds the file) is added to the error if it is missing.
    """
    p = package_dir("twin3d.assets").joinpath(*parts)
    if not p.is_file():
        hint = f"; regenerate it with: {regenerate}" if regenerate else ""
        raise MissingFileError(p, f"{p}: the {what} is missing from this twin3d installation{hint}", what=what)
    return p
