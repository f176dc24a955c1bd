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
    "FIXED_MODES",
    "AssetColors",
    "asset_colors",
    "asset_label",
    "color_modes",
    "resolve_color_mode",
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


# --------------------------------------------------------------------------- per-asset colours
#: Colour modes every scene has besides its fields (the renderer's modes too).
FIXED_MODES = ("labels", "material")


def color_modes(scene) -> list[str]:
    """The colour modes of a scene: its fields (risk, temperature first), then ``labels``, ``material``."""
    names = scene.field_names()
    first = [n for n in ("risk", "temperature") if n in names]
    return first + [n for n in names if n not in first] + list(FIXED_MODES)


def resolve_color_mode(scene, color_by: str | None) -> str:
    """``color_by`` checked against :func:`color_modes`; ``None`` -> :func:`default_color_by`
    (``material`` when no field colours the scene), ``""`` -> ``material``."""
    mode = default_color_by(scene) if color_by is None else color_by
    if not mode:
        return "material"
    modes = color_modes(scene)
    if mode not in modes:
        raise InputError(f"cannot color by {mode!r}: valid color modes for scene {scene.name!r}: {', '.join(modes)}")
    return mode


def asset_label(asset) -> str:
    """The label an asset is coloured by in the ``labels`` mode (semantic label, else type)."""
    return asset.semantic_label or asset.asset_type or "unlabelled"


@dataclass
class AssetColors:
    """The colours of one asset's mesh at one frame: float32 RGB in [0, 1] (display values).

    ``association`` says what ``rgb`` holds: ``"constant"`` (shape ``(3,)``), ``"cell"``
    (one row per triangle) or ``"point"`` (one row per mesh point); ``alpha`` and
    ``alpha_association`` the same for opacity. ``source`` says where the colours come
    from: the field name, ``"labels"``, ``"displayColor"`` (explicit colours read from
    another tool), ``"parts"`` or ``"material"``.
    """

    rgb: np.ndarray
    association: str
    source: str
    alpha: np.ndarray | float = 1.0
    alpha_association: str = "constant"


def _base_colors(asset, explicit: dict) -> AssetColors:
    """Colours without a field: explicit ``displayColor`` data, else part colours, else the material.

    ``explicit`` maps ``(association, name)`` to the mesh's ``displayColor`` /
    ``displayOpacity`` arrays (looked up once per mesh by :func:`asset_colors`).
    """
    opacity: np.ndarray | float = float(asset.material.opacity)
    alpha_assoc = "constant"
    for assoc in ("point", "cell"):
        if (assoc, "displayOpacity") in explicit:
            values = explicit[(assoc, "displayOpacity")]
            opacity = np.clip(np.asarray(values, np.float32).reshape(-1), 0, 1) * float(asset.material.opacity)
            alpha_assoc = assoc
    for assoc in ("point", "cell"):
        if (assoc, "displayColor") in explicit:
            rgb = np.clip(np.asarray(explicit[(assoc, "displayColor")], np.float32).reshape(-1, 3), 0, 1)
            return AssetColors(rgb, assoc, "displayColor", opacity, alpha_assoc)
    base = asset.material.base_color
    if asset.parts and ("cell", "part_id") in explicit:
        table = [tuple(p.color) if p.color is not None else base for p in asset.parts]
        if len(set(table)) == 1:
            base = table[0]
        else:
            pid = np.clip(np.asarray(explicit[("cell", "part_id")], dtype=np.int64), 0, len(table) - 1)
            faces = np.asarray(table, dtype=np.float32)[pid]
            if len(faces) and np.ptp(faces, axis=0).max() > 0:
                return AssetColors(faces, "cell", "parts", opacity, alpha_assoc)
            if len(faces):
                base = tuple(faces[0])  # every face in one part
    return AssetColors(np.asarray(base, np.float32), "constant", "material", opacity, alpha_assoc)


def _explicit_arrays(mesh) -> dict:
    """The mesh arrays that set base colours: ``displayColor``/``displayOpacity`` (point or cell), ``part_id``."""
    out = {}
    for assoc, data in (("point", mesh.point_data), ("cell", mesh.cell_data)):
        for name in data.keys():
            if name in ("displayColor", "displayOpacity") or (assoc, name) == ("cell", "part_id"):
                out[(assoc, name)] = np.asarray(data[name])
    return out


def _as_point_rgb(colors: AssetColors, mesh) -> np.ndarray:
    """Per-point RGB of base colours (a cell colour goes to the points of its triangles)."""
    if colors.association == "point":
        return colors.rgb.copy()
    out = np.empty((mesh.n_points, 3), np.float32)
    out[:] = colors.rgb if colors.association == "constant" else 0.7
    if colors.association == "cell" and mesh.n_cells:
        faces = np.asarray(mesh.regular_faces)
        for c in range(3):
            out[faces[:, c]] = colors.rgb
    return out


def asset_colors(scene, color_by: str | None = None, frame: int = 0) -> dict[str, AssetColors]:
    """The colours of every visible mesh asset at ``frame``, by asset path.

    The same rules as the renderer and the USD writer: in a field mode, an asset with
    that field gets its colour from the field's legend (:func:`field_legend` over all
    assets and frames) — one colour for a per-asset value, one per point for a vertex
    field (points whose value is not finite keep their base colour); ``labels`` gives
    each asset its label's colour (:func:`label_colors` over the sorted labels); assets
    without the field and the ``material`` mode keep their base colours: explicit
    ``displayColor`` point/cell data (colours read from other tools), else part
    colours, else the material colour. Opacity is the material's, times
    ``displayOpacity`` point/cell data where present.
    """
    mode = resolve_color_mode(scene, color_by)
    entries = [(p, a) for p, a, _, vis in scene.walk_world() if vis and a.mesh is not None and a.mesh.n_points > 0]
    out: dict[str, AssetColors] = {}
    explicit: dict[int, dict] = {}
    bases: dict[tuple, AssetColors] = {}
    for path, asset in entries:
        arrays = explicit.get(id(asset.mesh))
        if arrays is None:
            arrays = explicit[id(asset.mesh)] = _explicit_arrays(asset.mesh)
        m = asset.material
        key = (id(asset.mesh), tuple((p.name, p.color) for p in asset.parts), m.base_color, m.opacity)
        if key not in bases:
            bases[key] = _base_colors(asset, arrays)
        out[path] = bases[key]
    if mode == "labels":
        names = sorted({asset_label(a) for _, a in entries})
        table = dict(zip(names, label_colors(len(names)).astype(np.float32)))
        for path, asset in entries:
            base = out[path]
            out[path] = AssetColors(table[asset_label(asset)], "constant", "labels", base.alpha, base.alpha_association)
        return out
    if mode in FIXED_MODES:
        return out
    fields = [(path, asset, asset.fields.get(mode)) for path, asset in entries]
    legend = field_legend([f for _, _, f in fields], mode)
    if legend is None:
        return out
    # one colour per asset for asset fields: one vectorised lookup for all assets
    per_asset = [(path, f) for path, _, f in fields if f is not None and f.association == "asset"]
    if per_asset:
        values = np.array([float(f.values if f.times is None else f.values[max(0, min(frame, f.n_frames - 1))])
                           for _, f in per_asset])
        rgb = map_values(values, legend.colormap, legend.clim)
        for (path, _), v, c in zip(per_asset, values, rgb):
            if np.isfinite(v):
                base = out[path]
                out[path] = AssetColors(c, "constant", mode, base.alpha, base.alpha_association)
    for path, asset, f in fields:
        if f is None or f.association != "vertex":
            continue
        values = np.asarray(f.frame(frame), dtype=np.float64)
        rgb = map_values(values, legend.colormap, legend.clim)
        base = out[path]
        bad = ~np.isfinite(values)
        if bad.any():
            rgb[bad] = _as_point_rgb(base, asset.mesh)[bad]
        out[path] = AssetColors(rgb, "point", mode, base.alpha, base.alpha_association)
    return out
