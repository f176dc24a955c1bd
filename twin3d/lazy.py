"""Lazy public names for package ``__init__`` files: ``import twin3d.x`` stays cheap.

A package lists where each public name lives; the module is imported the first time the
name is used::

    from ..lazy import lazy_exports

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {
        "ThermalPINN": "pinn",                 # a submodule of this package
        "Scene": "twin3d.scene",               # or a full module path
    })
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str], *, extra: tuple[str, ...] = ()
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``.

    ``names`` maps each public name to the module defining it: a submodule name relative
    to ``package`` or a full dotted path starting with ``twin3d``. ``extra`` names (defined
    in the ``__init__`` itself, like ``__version__``) are added to ``__all__``.
    """
    modules = {n: m if m.startswith("twin3d") else f"{package}.{m}" for n, m in names.items()}
    public = sorted(modules) + list(extra)

    def __getattr__(name: str) -> Any:
        if name in modules:
            return getattr(importlib.import_module(modules[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return list(public)

    return __getattr__, __dir__, public
