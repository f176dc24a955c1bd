"""Annotated types shared by every YAML model (scene specs, their sections, render jobs).

One definition each, so a colour, a camera or a frame selection is checked the same way
(and fails with the same message) wherever a user writes one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

if TYPE_CHECKING:  # pragma: no cover
    from .yamlspec import YamlDocument

__all__ = [
    "check_finite",
    "Strict",
    "Vec3",
    "Color",
    "Scale",
    "Units",
    "Camera",
    "Cameras",
    "FrameCount",
    "Frames",
    "MAX_FRAMES",
    "Opacity",
]


class Strict(BaseModel):
    """Base of every YAML model: unknown keys are errors, and so are NaN and infinite numbers
    (also when written as text that converts to one, such as ``"1e999"``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _finite3(v: tuple[float, float, float]) -> tuple[float, float, float]:
    if not all(math.isfinite(c) for c in v):
        raise ValueError("values must be finite numbers")
    return v


def _color(v: tuple[float, float, float]) -> tuple[float, float, float]:
    if not all(0.0 <= c <= 1.0 for c in v):
        raise ValueError("color components must be in [0, 1] (RGB, e.g. [0.9, 0.2, 0.1])")
    return v


def _scale(v: Any) -> Any:
    vals = [v] * 3 if isinstance(v, (int, float)) else list(v)
    if not all(math.isfinite(c) and c > 0 for c in vals):
        raise ValueError("scale must be positive")
    return v


def _units(v: str) -> str:
    from .scene import UNITS

    if v not in UNITS:
        raise ValueError(f"unknown units {v!r}; valid: {', '.join(UNITS)}")
    return v


def _camera(v: str) -> str:
    from .render.presets import CAMERAS

    if v not in CAMERAS:
        raise ValueError(f"unknown camera {v!r}; valid: {', '.join(CAMERAS)}")
    return v


def _cameras(v: list[str]) -> list[str]:
    if not v:
        raise ValueError("give at least one camera")
    return v


#: Three finite numbers (a position, a rotation in degrees...).
Vec3 = Annotated[tuple[float, float, float], AfterValidator(_finite3)]
#: An RGB colour, components in [0, 1].
Color = Annotated[tuple[float, float, float], AfterValidator(_color)]
#: A positive scale factor, uniform or per axis.
Scale = Annotated[Union[float, tuple[float, float, float]], AfterValidator(_scale)]
#: A length unit name (``m``, ``mm``...).
Units = Annotated[str, AfterValidator(_units)]
#: A camera preset (``iso``, ``front``, ``side``, ``top``).
Camera = Annotated[str, AfterValidator(_camera)]
#: A non-empty list of camera presets.
Cameras = Annotated[list[Camera], AfterValidator(_cameras)]
#: Opacity in [0, 1].
Opacity = Annotated[float, Field(ge=0.0, le=1.0)]


#: Most frames one video or frame selection may ask for (``{count: N}``, ``--frames N``):
#: at tens of milliseconds a frame, already about an hour of rendering.
MAX_FRAMES = 100_000


class FrameCount(Strict):
    """``count`` frames sampled evenly over the timeline (first and last included)."""

    count: int = Field(ge=1, le=MAX_FRAMES)


def _frames(v: Any) -> Any:
    ok = v in ("all", "last") or isinstance(v, dict) or (
        isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v))
    if not ok:
        raise ValueError(f"frames must be 'all', 'last', a non-empty list of frame indices (negative: from the end) "
                         f"or {{count: N}}, got {v!r}")
    return v


#: Which frames of a timeline: ``all``, ``last``, a list of indices, or ``{count: N}``.
Frames = Annotated[Union[Literal["all", "last"], list[int], FrameCount], BeforeValidator(_frames)]


def check_finite(doc: "YamlDocument", *, at: tuple = (), what: str = "scene spec") -> None:
    """Refuse any NaN or infinite number in a YAML document (``.nan``, ``.inf``, ``1e999``).

    No field of a scene spec or render job means anything with a non-finite value, and
    some would pass their range checks (``.inf`` is "greater than 0") or end up in a
    written file, so every number is checked once, before validation. The error names
    the file, the line and the field: ``spec.yaml:5: assets[0].repeat.offset[0]: .nan is
    not a finite number; ...``.
    """
    from .errors import SpecError

    def walk(node: Any, loc: tuple, depth: int) -> None:
        if isinstance(node, float) and not math.isfinite(node):
            text = ".nan" if node != node else (".inf" if node > 0 else "-.inf")
            raise doc.error(loc, f"{text} is not a finite number; every number in a {what} must be finite",
                            cls=SpecError)
        if depth > 100:
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, loc + (k,), depth + 1)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, loc + (i,), depth + 1)

    walk(doc.data, tuple(at), 0)
