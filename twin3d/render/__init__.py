"""VTK backend: off-screen renders (PNG), animations, render jobs and the interactive viewer.

This package and :mod:`twin3d.usd` are the only places that use pyvista's plotting side.
Heavy submodules (animation, jobs, viewer) are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

from .offscreen import CAMERAS, parse_size, render_image, render_png

_LAZY = {
    "InstancedRenderer": "twin3d.render.instanced",
    "render_animation": "twin3d.render.animate",
    "Viewer": "twin3d.render.viewer",
    "run_render_job": "twin3d.render.jobs",
    "load_job": "twin3d.render.jobs",
}

__all__ = ["render_png", "render_image", "CAMERAS", "parse_size", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'twin3d.render' has no attribute {name!r}")
