"""Fields -> colors and legends: the one place every backend gets its colors from.

Colormaps are piecewise-linear in RGB between control points on [0, 1]. The USD
writer bakes ``displayColor`` with :func:`map_values`; the VTK backend builds its
lookup table with :func:`lookup_table_colors`, so both show the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError

__all__ = [
    "COLORMAPS",
    "Legend",
    "map_values",
    "lookup_table_colors",
    "colormap_for",
    "label_colors",
    "default_color_by",
    "field_legend",
    "legend_for",
]

# name -> (positions in [0,1], RGB rows)
COLORMAPS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _register(name: str, stops: list[tuple[float, tuple[float, float, float]]]) -> None:
    pos = np.array([s[0] for s in stops], dtype=float)
    rgb = np.array([s[1] for s in stops], dtype=float)
    COLORMAPS[name] = (pos, rgb)


# Risk: green -> amber -> red with most of the colour change in the 0-20 % band, so
# the low probabilities that dominate a healthy factory stay distinguishable.
_register(
    "risk",
    [
        (0.00, (0.10, 0.60, 0.25)),
        (0.05, (0.45, 0.75, 0.20)),
        (0.10, (0.85, 0.80, 0.15)),
        (0.20, (1.00, 0.60, 0.05)),
        (0.50, (0.90, 0.25, 0.05)),
        (1.00, (0.55, 0.00, 0.05)),
    ],
)
# Temperature: a perceptually ordered dark-blue -> red -> yellow (inferno-like).
_register(
    "temperature",
    [
        (0.00, (0.05, 0.05, 0.35)),
        (0.25, (0.35, 0.10, 0.60)),
        (0.50, (0.80, 0.20, 0.35)),
        (0.75, (0.98, 0.55, 0.10)),
        (1.00, (0.98, 0.95, 0.55)),
    ],
)
# Diverging blue-white-red.
_register("coolwarm", [(0.0, (0.23, 0.30, 0.75)), (0.5, (0.87, 0.87, 0.87)), (1.0, (0.71, 0.02, 0.15))])
# Viridis approximated with 6 stops.
_register(
    "viridis",
    [
        (0.0, (0.267, 0.005, 0.329)),
        (0.2, (0.254, 0.265, 0.530)),
        (0.4, (0.164, 0.471, 0.558)),
        (0.6, (0.134, 0.659, 0.518)),
        (0.8, (0.478, 0.821, 0.318)),
        (1.0, (0.993, 0.906, 0.144)),
    ],
)
_register("gray", [(0.0, (0.0, 0.0, 0.0)), (1.0, (1.0, 1.0, 1.0))])

#: Default colormap, range and unit per well-known field name.
FIELD_DEFAULTS: dict[str, dict] = {
    "risk": {"colormap": "risk", "clim": (0.0, 1.0), "title": "Failure risk"},
    "temperature": {"colormap": "temperature", "clim": None, "title": "Temperature"},
}


def colormap_for(field_name: str, explicit: str | None = None) -> str:
    """The colormap to use for a field: explicit, else the field's default, else viridis."""
    name = explicit or FIELD_DEFAULTS.get(field_name, {}).get("colormap") or "viridis"
    if name not in COLORMAPS:
        raise InputError(f"unknown colormap {name!r}; valid: {sorted(COLORMAPS)}")
    return name


def map_values(values: np.ndarray, colormap: str, clim: tuple[float, float]) -> np.ndarray:
    """Map scalar values to RGB floats in [0, 1] (NaN -> mid gray)."""
    if colormap not in COLORMAPS:
        raise InputError(f"unknown colormap {colormap!r}; valid: {sorted(COLORMAPS)}")
    pos, rgb = COLORMAPS[colormap]
    lo, hi = clim
    v = np.asarray(values, dtype=np.float64)
    t = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    out = np.empty(v.shape + (3,), dtype=np.float32)
    for k in range(3):
        out[..., k] = np.interp(t, pos, rgb[:, k])
    bad = ~np.isfinite(v)
    if bad.any():
        out[bad] = 0.5
    return out


def lookup_table_colors(colormap: str, n: int = 256) -> np.ndarray:
    """``n`` RGB rows sampling the colormap evenly (for VTK lookup tables)."""
    return map_values(np.linspace(0.0, 1.0, n), colormap, (0.0, 1.0))


@dataclass
class Legend:
    """What a color bar shows: title (with unit), colormap and value range."""

    title: str
    colormap: str
    clim: tuple[float, float]
    unit: str = ""

    @property
    def label(self) -> str:
        return f"{self.title} [{self.unit}]" if self.unit and self.unit != "1" else self.title


def legend_for(field_name: str, colormap: str | None, clim: tuple[float, float], unit: str = "") -> Legend:
    title = FIELD_DEFAULTS.get(field_name, {}).get("title", field_name.replace("_", " ").capitalize())
    return Legend(title=title, colormap=colormap_for(field_name, colormap), clim=clim, unit=unit)


def label_colors(n: int, seed: int = 7) -> np.ndarray:
    """``n`` distinct, reproducible RGB colors (for labels without a table color)."""
    import colorsys

    golden = 0.618033988749895
    return np.array(
        [colorsys.hsv_to_rgb((k * golden + 0.11 * seed) % 1.0, 0.55, 0.9) for k in range(n)], dtype=float
    ).reshape(n, 3)


def default_color_by(scene) -> str | None:
    """The field that colors a scene by default: its ``color_by`` metadata, else
    ``risk``, else ``temperature``, else None (part/material colors)."""
    if "color_by" in scene.metadata:
        return scene.metadata["color_by"] or None
    names = scene.field_names()
    for preferred in ("risk", "temperature"):
        if preferred in names:
            return preferred
    return None


def field_legend(fields: list, name: str) -> Legend | None:
    """One legend (colormap, range, unit) for field ``name`` across many assets.

    The range is the first field's ``clim``, else the field's default range
    (risk: 0-1), else the min/max over all assets and frames, so every asset is
    colored on the same scale in every backend.
    """
    fields = [f for f in fields if f is not None]
    if not fields:
        return None
    f0 = fields[0]
    default_clim = FIELD_DEFAULTS.get(name, {}).get("clim")
    if f0.clim is not None:
        clim = f0.clim
    elif default_clim is not None:
        clim = default_clim
    else:
        lo = min(f.value_range()[0] for f in fields)
        hi = max(f.value_range()[1] for f in fields)
        clim = (lo, hi if hi > lo else lo + 1.0)
    return legend_for(name, f0.colormap, clim, f0.unit)
