"""The demo job: every twin twin3d can build, written as USD stages and PNG renders."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

__all__ = ["run_demo", "scenes_dir"]


def scenes_dir() -> Path:
    """The ``scenes/`` folder of spec files (repository checkout or installed package data)."""
    here = Path(__file__).resolve().parent
    for cand in (here.parent / "scenes", here / "data" / "scenes"):
        if cand.is_dir():
            return cand
    from .errors import Twin3DError

    raise Twin3DError("cannot find the scenes/ folder of demo specs")


def run_demo(out: str | Path, *, quick: bool = False, log: Callable[[str], None] = print) -> list[Path]:
    """Build the demo scenes into ``out``; returns the written files."""
    from .render import render_png
    from .spec import build_scene
    from .usd import validate_usd, write_usd

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    log("factory line: building scene ...")
    scene = build_scene(scenes_dir() / "factory_line.yaml")
    usd = write_usd(scene, out / "factory_line.usdc")
    errors = validate_usd(usd)
    if errors:
        from .errors import Twin3DError

        raise Twin3DError(f"{usd}: USD validation failed: {errors[0]}")
    png = render_png(scene, out / "factory_line.png", label_top=3)
    log(f"factory line: {len(scene.assets())} machines -> {usd.name}, {png.name}")
    written += [usd, png]
    return written
