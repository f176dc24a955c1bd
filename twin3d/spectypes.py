"""Annotated types shared by every YAML model (scene specs, their sections, render jobs).

One definition each, so a colour, a camera or a frame selection is checked the same way
(and fails with the same message) wherever a user writes one.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "Strict",
    "Vec3",
    "Color",
    "Scale",
    "Units",
    "Camera",
    "Cameras",
    "FrameCount",
    "Frames",
    "Opacity",
]


class Strict(BaseModel):
    """Base of every YAML model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


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


class FrameCount(Strict):
    """``count`` frames sampled evenly over the timeline (first and last included)."""

    count: int = Field(ge=1, le=100_000)


def _frames(v: Any) -> Any:
    ok = v in ("all", "last") or isinstance(v, dict) or (
        isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v))
    if not ok:
        raise ValueError(f"frames must be 'all', 'last', a non-empty list of frame indices (negative: from the end) "
                         f"or {{count: N}}, got {v!r}")
    return v


#: Which frames of a timeline: ``all``, ``last``, a list of indices, or ``{count: N}``.
Frames = Annotated[Union[Literal["all", "last"], list[int], FrameCount], BeforeValidator(_frames)]
