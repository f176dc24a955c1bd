"""VTK backend: off-screen renders (PNG), animations, render jobs and the interactive viewer.

This package and :mod:`twin3d.usd` are the only places that use pyvista's plotting side.
Its modules, from the shared settings up to the applications:

* :mod:`~twin3d.render.presets` -- camera presets, image sizes, VTK thread setup and
  how data time is written in titles (light: no VTK rendering import);
* :mod:`~twin3d.render.batching` -- a scene's assets as GPU instance sets and merged
  batches with levels of detail, and their colours (NumPy / pyvista data, no plotter);
* :mod:`~twin3d.render.renderer` -- :class:`InstancedRenderer`, the one VTK renderer
  (pyvista ``Plotter``): colour modes, legends, labels, groups, camera, picking;
* :mod:`~twin3d.render.offscreen` -- :func:`render_image` / :func:`render_png`;
* :mod:`~twin3d.render.animate` -- :func:`render_animation` (MP4, GIF, PNG folders);
* :mod:`~twin3d.render.jobs` -- render jobs (scenes x cameras x frames, in parallel);
* :mod:`~twin3d.render.viewer` -- the interactive desktop :class:`Viewer`.

Every public name is imported lazily, so ``import twin3d.render`` loads neither VTK's
rendering modules nor pyvista's plotting side.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_LAZY = {
    "render_png": "twin3d.render.offscreen",
    "render_image": "twin3d.render.offscreen",
    "CAMERAS": "twin3d.render.presets",
    "parse_size": "twin3d.render.presets",
    "InstancedRenderer": "twin3d.render.renderer",
    "InstancedGeometry": "twin3d.render.batching",
    "render_animation": "twin3d.render.animate",
    "Viewer": "twin3d.render.viewer",
    "run_render_job": "twin3d.render.jobs",
    "load_job": "twin3d.render.jobs",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
