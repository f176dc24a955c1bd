"""Off-screen renders of a Scene to PNG (pyvista/VTK; EGL when there is no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._util import atomic_path
from ..errors import UnsupportedFormatError
from ..scene import Scene

__all__ = ["render_png", "render_image"]


def render_image(scene: Scene, *, size=(1280, 720), camera: str = "iso", frame: int | None = None,
                 color_by: str | None = None, label_top: int = 0, floor: bool | None = None,
                 title: str | None = None, anti_aliasing: str = "msaa") -> np.ndarray:
    """Render ``scene`` off-screen and return the image as an (H, W, 3) uint8 array.

    Parameters
    ----------
    scene
        The scene.
    size
        ``(width, height)`` or ``"WxH"``.
    camera
        ``iso``, ``front``, ``side`` or ``top`` (anatomical views for patient scenes).
    frame
        Frame of an animated scene (default: the last one).
    color_by
        Field (``risk``, ``temperature``...), ``"labels"`` or ``"material"``; default: the
        scene's ``color_by``, else risk, else temperature, else material colors.
    label_top
        Label the N assets with the highest value of the color field.
    floor
        Draw a floor (default: see :class:`~twin3d.render.renderer.InstancedRenderer`).
    title
        Text in the upper-left corner.
    anti_aliasing
        ``msaa``, ``fxaa`` or ``none``.
    """
    from .renderer import InstancedRenderer

    r = InstancedRenderer(scene, size=size, camera=camera, color_by=color_by, label_top=label_top, floor=floor,
                          anti_aliasing=anti_aliasing)
    try:
        # set_frame checks the frame (negative: from the end) and names the valid range
        r.set_frame(r.n_frames - 1 if frame is None else frame)
        if title:
            r.title(title)
        return r.image()
    finally:
        r.close()


def render_png(scene: Scene, path: str | Path, **kwargs) -> Path:
    """Render ``scene`` to a PNG file (atomically). Keyword arguments as :func:`render_image`.

    By default the last frame of an animated scene is shown.
    """
    import imageio.v3 as iio

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UnsupportedFormatError(f"cannot render to {path}: use a .png file (videos: twin3d render --out movie.mp4)")
    img = render_image(scene, **kwargs)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, img, extension=".png")
    return path
