"""The demo job: every twin twin3d builds, written as USD stages, PNG renders and a video.

1. ``factory_line``: a machining line whose machines carry simulated AI4I sensor streams,
   scored frame by frame by a failure-risk model trained on simulator data.
2. ``motor_thermal``: a drive motor heating up, its housing temperature given by a
   physics-informed neural network (the shipped ``assets/thermal/motor_housing.pt``).
3. ``anatomy_phantom``: a synthetic abdominal CT segmented by the shipped MONAI UNet,
   every label a named organ surface in patient millimetres.

Each scene comes from a spec in ``scenes/``; the demo only chains build -> USD -> render.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import Twin3DError

__all__ = ["run_demo", "DEMO_SCENES"]

#: (spec file, render options) of every demo scene, in order.
DEMO_SCENES: list[tuple[str, dict]] = [
    ("factory_line.yaml", {"label_top": 3}),
    ("motor_thermal.yaml", {}),
    ("anatomy_phantom.yaml", {}),
]


def _busiest_frame(scene, field: str) -> int | None:
    """The frame where the sum of ``field`` over all assets is largest (None if static)."""
    if scene.times is None:
        return None
    total = np.zeros(scene.n_frames)
    for a in scene.assets():
        f = a.fields.get(field)
        if f is not None and f.animated:
            v = f.values if f.association == "asset" else f.values.mean(axis=1)
            total += v
    return int(np.argmax(total))


def run_demo(out: str | Path, *, quick: bool = False, log: Callable[[str], None] = print) -> list[Path]:
    """Build the demo scenes into ``out``; returns the written files.

    ``quick`` skips the video (used by tests).
    """
    from .render import render_png
    from .resources import scene_path
    from .spec import build_scene
    from .usd import validate_usd, write_usd

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for spec_name, opts in DEMO_SCENES:
        t0 = time.perf_counter()
        name = Path(spec_name).stem
        log(f"{name}: building {spec_name} ...")
        scene = build_scene(scene_path(spec_name))
        usd = write_usd(scene, out / f"{name}.usdc")
        errors = validate_usd(usd)
        if errors:
            raise Twin3DError(f"{usd}: USD validation failed: {errors[0]}")
        frame = _busiest_frame(scene, "risk") if "risk" in scene.field_names() else None
        png = render_png(scene, out / f"{name}.png", frame=frame, **opts)
        written += [usd, png]
        detail = f"{len(scene.assets())} assets, {scene.n_frames} frame(s), fields: {', '.join(scene.field_names()) or '-'}"
        seg = scene.metadata.get("segmentation")
        if isinstance(seg, dict) and seg.get("dice"):
            dice = seg["dice"]
            detail += f", mean Dice vs phantom truth {np.mean(list(dice.values())):.3f}"
        log(f"{name}: {detail} -> {usd.name}, {png.name} ({time.perf_counter() - t0:.1f} s)")
        if name == "factory_line" and not quick:
            from .render.animate import render_animation

            t0 = time.perf_counter()
            video = render_animation(scene, out / "factory_line_risk.mp4", size=(960, 540), label_top=3,
                                     progress=False)
            written.append(Path(video))
            log(f"{name}: risk animation -> {Path(video).name} ({time.perf_counter() - t0:.1f} s)")
    return written
