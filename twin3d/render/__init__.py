"""VTK backend: off-screen renders (PNG), and the geometry shared with animations and the viewer.

This package and :mod:`twin3d.usd` are the only places that use pyvista's plotting side.
"""

from __future__ import annotations

from .geometry import SceneGeometry, default_color_by
from .offscreen import CAMERAS, SceneRenderer, parse_size, render_image, render_png

__all__ = ["render_png", "render_image", "SceneRenderer", "SceneGeometry", "CAMERAS", "parse_size", "default_color_by"]
