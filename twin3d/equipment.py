"""Procedural, parametric factory equipment as watertight triangle meshes in metres.

Every kind is built from closed primitive solids grouped into named parts (cell
array ``part_id`` indexes the returned :class:`~twin3d.scene.Part` list), so a
predictor can color e.g. a motor's ``housing`` on its own. Z is up, the machine
stands on ``z = 0`` and is centred on the origin in x/y.

>>> mesh, parts = make_equipment("electric_motor", length=0.8)
>>> [p.name for p in parts]
['housing', 'fins', 'fan_cover', 'shaft', 'terminal_box', 'feet']
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np
import pyvista as pv

from .errors import InputError
from .scene import Asset, Material, Part, Transform, valid_name

__all__ = ["EQUIPMENT", "make_equipment", "equipment_asset", "equipment_kinds"]

_RES = 32  # segments around cylinders

# conventional part colors (RGB 0-1)
STEEL = (0.62, 0.64, 0.67)
DARK = (0.22, 0.23, 0.25)
PAINT_BLUE = (0.16, 0.36, 0.62)
PAINT_GREEN = (0.20, 0.50, 0.35)
PAINT_GRAY = (0.78, 0.79, 0.80)
ORANGE = (0.95, 0.50, 0.10)
YELLOW = (0.95, 0.78, 0.15)
RUBBER = (0.10, 0.10, 0.11)


def _tri(m: pv.PolyData) -> pv.PolyData:
    return m.triangulate().clean()


def _box(x0, x1, y0, y1, z0, z1) -> pv.PolyData:
    if not (x1 > x0 and y1 > y0 and z1 > z0):
        raise InputError(f"degenerate box bounds {(x0, x1, y0, y1, z0, z1)}")
    return _tri(pv.Box(bounds=(x0, x1, y0, y1, z0, z1)))


def _cyl(center, direction, radius, height, res=_RES) -> pv.PolyData:
    return _tri(pv.Cylinder(center=center, direction=direction, radius=radius, height=height, resolution=res, capping=True))


def _cone(center, direction, radius, height, res=_RES) -> pv.PolyData:
    return _tri(pv.Cone(center=center, direction=direction, radius=radius, height=height, resolution=res, capping=True))


class _Builder:
    """Collects closed solids into named parts."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.meshes: list[pv.PolyData] = []

    def add(self, part: str, color, *solids: pv.PolyData) -> None:
        idx = next((i for i, p in enumerate(self.parts) if p.name == part), None)
        if idx is None:
            idx = len(self.parts)
            self.parts.append(Part(part, tuple(color)))
        for s in solids:
            s = s.copy()
            s.clear_data()
            s.cell_data["part_id"] = np.full(s.n_cells, idx, dtype=np.int32)
            self.meshes.append(s)

    def build(self) -> tuple[pv.PolyData, list[Part]]:
        # merge without merging points: every solid stays a closed shell
        mesh = pv.merge(self.meshes, merge_points=False)
        mesh.point_data.clear()
        return mesh, self.parts


#: Most fins, legs... one piece of equipment has (each is a solid: a count of 10^6 would hang).
_MAX_REPEATED_PARTS = 1000


def _positive(**kw) -> None:
    for k, v in kw.items():
        if not (np.isfinite(v) and v > 0):
            raise InputError(f"parameter {k!r} must be a positive number, got {v!r}")


# --------------------------------------------------------------------------- kinds
def cnc_mill(width: float = 2.4, depth: float = 1.8, height: float = 2.3) -> tuple[pv.PolyData, list[Part]]:
    """Vertical CNC milling machine: base, column, spindle head, spindle, table, control panel."""
    _positive(width=width, depth=depth, height=height)
    w, d, h = width, depth, height
    b = _Builder()
    b.add("base", PAINT_GRAY, _box(-w / 2, w / 2, -d / 2, d / 2, 0, 0.35 * h))
    b.add("column", PAINT_GRAY, _box(-0.18 * w, 0.18 * w, 0.15 * d, 0.48 * d, 0.35 * h, 0.97 * h))
    b.add("spindle_head", PAINT_BLUE, _box(-0.13 * w, 0.13 * w, -0.12 * d, 0.2 * d, 0.62 * h, 0.9 * h))
    b.add("spindle", STEEL, _cyl((0, 0.0, 0.56 * h), (0, 0, 1), 0.035 * w, 0.12 * h))
    b.add("table", STEEL, _box(-0.38 * w, 0.38 * w, -0.35 * d, 0.1 * d, 0.35 * h, 0.42 * h))
    b.add("control_panel", DARK, _box(0.52 * w, 0.6 * w, -0.3 * d, 0.05 * d, 0.45 * h, 0.8 * h),
          _box(0.54 * w, 0.58 * w, -0.15 * d, -0.1 * d, 0.35 * h, 0.45 * h))
    return b.build()


def centrifugal_pump(diameter: float = 0.5, length: float = 1.0) -> tuple[pv.PolyData, list[Part]]:
    """End-suction centrifugal pump on a baseplate: volute, nozzles, bearing frame, shaft."""
    _positive(diameter=diameter, length=length)
    r, L = diameter / 2, length
    zc = 0.06 * L + r + 0.05
    b = _Builder()
    b.add("baseplate", DARK, _box(-L / 2, L / 2, -0.6 * r, 0.6 * r, 0, 0.06 * L))
    # volute casing: a disc with its axis along x at the front end
    b.add("volute", PAINT_BLUE, _cyl((-0.25 * L, 0, zc), (1, 0, 0), r, 0.35 * r))
    b.add("suction_nozzle", PAINT_BLUE, _cyl((-0.25 * L - 0.45 * r, 0, zc), (1, 0, 0), 0.35 * r, 0.6 * r))
    b.add("discharge_nozzle", PAINT_BLUE, _cyl((-0.25 * L, 0, zc + 1.1 * r), (0, 0, 1), 0.25 * r, 0.4 * r))
    b.add("bearing_frame", PAINT_BLUE, _cyl((0.05 * L, 0, zc), (1, 0, 0), 0.45 * r, 0.4 * L),
          _box(-0.05 * L, 0.15 * L, -0.3 * r, 0.3 * r, 0.06 * L, zc - 0.3 * r))
    b.add("shaft", STEEL, _cyl((0.35 * L, 0, zc), (1, 0, 0), 0.08 * r, 0.25 * L))
    b.add("coupling_guard", YELLOW, _box(0.3 * L, 0.48 * L, -0.35 * r, 0.35 * r, 0.06 * L, zc + 0.35 * r))
    return b.build()


def electric_motor(length: float = 0.8, radius: float = 0.2, n_fins: int = 10) -> tuple[pv.PolyData, list[Part]]:
    """TEFC induction motor (axis along x): finned housing, fan cover, shaft, terminal box, feet."""
    _positive(length=length, radius=radius)
    if not 0 <= int(n_fins) <= _MAX_REPEATED_PARTS:
        raise InputError(f"n_fins must be in 0..{_MAX_REPEATED_PARTS}, got {n_fins}")
    L, r = length, radius
    zc = 0.35 * r + r
    hx = 0.7 * L  # housing length
    x0 = -L / 2 + 0.15 * L
    b = _Builder()
    b.add("housing", PAINT_BLUE, _cyl((x0 + hx / 2, 0, zc), (1, 0, 0), r, hx))
    fins = []
    for k in range(int(n_fins)):
        a = np.pi * (0.15 + 0.7 * k / max(int(n_fins) - 1, 1))  # upper half only
        for sgn in (1, -1):
            ang = sgn * a if sgn > 0 else np.pi - a
            c = np.array([x0 + hx / 2, np.cos(ang) * (r + 0.04 * r), zc + np.sin(ang) * (r + 0.04 * r)])
            fin = _box(-hx / 2 * 0.95, hx / 2 * 0.95, -0.012 * r, 0.012 * r, -0.12 * r, 0.12 * r)
            fin = fin.rotate_x(np.degrees(ang) - 90, inplace=False).translate(c, inplace=False)
            fins.append(fin)
    if fins:
        b.add("fins", PAINT_BLUE, *fins[: int(n_fins)])
    b.add("fan_cover", DARK, _cyl((x0 - 0.08 * L, 0, zc), (1, 0, 0), 0.95 * r, 0.16 * L))
    b.add("shaft", STEEL, _cyl((x0 + hx + 0.07 * L, 0, zc), (1, 0, 0), 0.12 * r, 0.14 * L + 0.02 * L))
    b.add("terminal_box", PAINT_BLUE, _box(x0 + 0.35 * hx, x0 + 0.65 * hx, -0.35 * r, 0.35 * r, zc + 0.95 * r, zc + 1.35 * r))
    b.add("feet", PAINT_BLUE, _box(x0 + 0.1 * hx, x0 + 0.3 * hx, -0.9 * r, 0.9 * r, 0, zc - 0.8 * r),
          _box(x0 + 0.7 * hx, x0 + 0.9 * hx, -0.9 * r, 0.9 * r, 0, zc - 0.8 * r))
    return b.build()


def belt_conveyor(length: float = 4.0, width: float = 0.6, height: float = 0.9, n_legs: int = 3) -> tuple[pv.PolyData, list[Part]]:
    """Belt conveyor (along x): belt, side frames, legs, end rollers, drive motor."""
    _positive(length=length, width=width, height=height)
    if not 2 <= int(n_legs) <= _MAX_REPEATED_PARTS:
        raise InputError(f"n_legs must be in 2..{_MAX_REPEATED_PARTS}, got {n_legs}")
    L, w, h = length, width, height
    rr = 0.06
    b = _Builder()
    b.add("belt", RUBBER, _box(-L / 2, L / 2, -w / 2, w / 2, h - 0.02, h))
    b.add("frame", PAINT_GRAY, _box(-L / 2, L / 2, -w / 2 - 0.05, -w / 2 - 0.01, h - 0.15, h + 0.03),
          _box(-L / 2, L / 2, w / 2 + 0.01, w / 2 + 0.05, h - 0.15, h + 0.03))
    legs = []
    for x in np.linspace(-L / 2 + 0.1, L / 2 - 0.1, int(n_legs)):
        for y in (-w / 2 - 0.03, w / 2 + 0.03):
            legs.append(_box(x - 0.03, x + 0.03, y - 0.02, y + 0.02, 0, h - 0.15))
    b.add("legs", PAINT_GRAY, *legs)
    b.add("rollers", STEEL, _cyl((-L / 2, 0, h - rr), (0, 1, 0), rr, w), _cyl((L / 2, 0, h - rr), (0, 1, 0), rr, w))
    b.add("drive_motor", PAINT_BLUE, _cyl((L / 2 - 0.05, -w / 2 - 0.2, h - 0.25), (0, 1, 0), 0.09, 0.25))
    return b.build()


def storage_tank(diameter: float = 2.0, height: float = 3.0, n_legs: int = 4) -> tuple[pv.PolyData, list[Part]]:
    """Vertical storage tank on legs: shell, conical roof, legs, manway, outlet pipe."""
    _positive(diameter=diameter, height=height)
    if not 3 <= int(n_legs) <= _MAX_REPEATED_PARTS:
        raise InputError(f"n_legs must be in 3..{_MAX_REPEATED_PARTS}, got {n_legs}")
    r, H = diameter / 2, height
    z0 = 0.2 * H  # leg height
    shell_h = 0.7 * H
    b = _Builder()
    b.add("shell", PAINT_GRAY, _cyl((0, 0, z0 + shell_h / 2), (0, 0, 1), r, shell_h, res=48))
    b.add("roof", PAINT_GRAY, _cone((0, 0, z0 + shell_h + 0.05 * H), (0, 0, 1), r * 1.02, 0.1 * H, res=48))
    legs = []
    for k in range(int(n_legs)):
        a = 2 * np.pi * (k + 0.5) / int(n_legs)
        legs.append(_cyl((0.85 * r * np.cos(a), 0.85 * r * np.sin(a), (z0 + 0.05) / 2), (0, 0, 1), 0.05 * r + 0.02, z0 + 0.05, res=16))
    b.add("legs", STEEL, *legs)
    b.add("manway", STEEL, _cyl((r + 0.03, 0, z0 + 0.3 * shell_h), (1, 0, 0), 0.18 * r, 0.1, res=24))
    b.add("outlet_pipe", STEEL, _cyl((0, 0, z0 * 0.6), (0, 0, 1), 0.06 * r + 0.02, z0 * 0.8, res=16))
    return b.build()


def robot_arm(reach: float = 1.6, joints: tuple[float, ...] = (0.0, -30.0, 60.0, 0.0, 45.0, 0.0)) -> tuple[pv.PolyData, list[Part]]:
    """6-axis articulated robot arm posed by six joint angles (degrees).

    Parts: ``base``, ``turret`` (J1), ``upper_arm`` (J2), ``forearm`` (J3), ``wrist`` (J4/J5),
    ``flange`` (J6 tool flange).
    """
    _positive(reach=reach)
    q = np.radians(np.asarray(joints, dtype=float).reshape(-1))
    if q.size != 6 or not np.all(np.isfinite(q)):
        raise InputError(f"joints must be 6 finite angles in degrees, got {joints!r}")
    R = reach
    a1, a2, a3 = 0.42 * R, 0.42 * R, 0.36 * R  # shoulder height, upper arm, forearm lengths
    b = _Builder()
    b.add("base", ORANGE, _cyl((0, 0, 0.06 * R), (0, 0, 1), 0.16 * R, 0.12 * R))

    def mat_rz(t):
        c, s = np.cos(t), np.sin(t)
        m = np.eye(4)
        m[:2, :2] = [[c, -s], [s, c]]
        return m

    def mat_ry(t):
        c, s = np.cos(t), np.sin(t)
        m = np.eye(4)
        m[0, 0], m[0, 2], m[2, 0], m[2, 2] = c, s, -s, c
        return m

    def mat_rx(t):
        c, s = np.cos(t), np.sin(t)
        m = np.eye(4)
        m[1, 1], m[1, 2], m[2, 1], m[2, 2] = c, -s, s, c
        return m

    def mat_t(x, y, z):
        m = np.eye(4)
        m[:3, 3] = (x, y, z)
        return m

    # kinematic chain: links extend along local +z for the arm segments
    T1 = mat_t(0, 0, 0.12 * R) @ mat_rz(q[0])
    b.add("turret", ORANGE, _cyl((0, 0, 0.5 * (a1 - 0.12 * R)), (0, 0, 1), 0.12 * R, a1 - 0.12 * R).transform(T1, inplace=False))
    T2 = T1 @ mat_t(0, 0, a1 - 0.12 * R) @ mat_ry(q[1])
    b.add("upper_arm", ORANGE, _box(-0.06 * R, 0.06 * R, -0.07 * R, 0.07 * R, 0, a2).transform(T2, inplace=False),
          _cyl((0, 0, 0), (0, 1, 0), 0.09 * R, 0.2 * R).transform(T2, inplace=False))
    T3 = T2 @ mat_t(0, 0, a2) @ mat_ry(q[2])
    b.add("forearm", ORANGE, _cyl((0, 0, 0.5 * a3), (0, 0, 1), 0.05 * R, a3).transform(T3, inplace=False),
          _cyl((0, 0, 0), (0, 1, 0), 0.075 * R, 0.17 * R).transform(T3, inplace=False))
    T5 = T3 @ mat_t(0, 0, a3) @ mat_rz(q[3]) @ mat_ry(q[4])
    b.add("wrist", DARK, _cyl((0, 0, 0), (0, 1, 0), 0.05 * R, 0.11 * R).transform(T5, inplace=False))
    T6 = T5 @ mat_rz(q[5])
    b.add("flange", STEEL, _cyl((0, 0, 0.06 * R), (0, 0, 1), 0.035 * R, 0.08 * R).transform(T6, inplace=False))
    return b.build()


def control_cabinet(width: float = 1.2, depth: float = 0.5, height: float = 2.0) -> tuple[pv.PolyData, list[Part]]:
    """Electrical control cabinet: body, door handle, status light."""
    _positive(width=width, depth=depth, height=height)
    w, d, h = width, depth, height
    b = _Builder()
    b.add("body", PAINT_GRAY, _box(-w / 2, w / 2, -d / 2, d / 2, 0.1, h), _box(-w / 2, w / 2, -d / 2, d / 2, 0, 0.1))
    b.add("handle", DARK, _box(0.3 * w, 0.34 * w, -d / 2 - 0.03, -d / 2, 0.45 * h, 0.6 * h))
    b.add("status_light", PAINT_GREEN, _cyl((0, 0, h + 0.05), (0, 0, 1), 0.05, 0.1, res=16))
    return b.build()


#: name -> builder function
EQUIPMENT: dict[str, Callable[..., tuple[pv.PolyData, list[Part]]]] = {
    "cnc_mill": cnc_mill,
    "centrifugal_pump": centrifugal_pump,
    "electric_motor": electric_motor,
    "belt_conveyor": belt_conveyor,
    "storage_tank": storage_tank,
    "robot_arm": robot_arm,
    "control_cabinet": control_cabinet,
}

_CACHE: dict[tuple, tuple[pv.PolyData, list[Part]]] = {}


def equipment_kinds() -> dict[str, dict]:
    """Kinds with their parameters and defaults."""
    out = {}
    for k, fn in EQUIPMENT.items():
        sig = inspect.signature(fn)
        out[k] = {n: p.default for n, p in sig.parameters.items()}
    return out


def make_equipment(kind: str, **params) -> tuple[pv.PolyData, list[Part]]:
    """Build equipment ``kind`` with ``params``; returns ``(mesh, parts)``.

    Meshes are cached per (kind, params) and shared: treat the returned mesh as
    read-only (copy it before editing). Sharing lets the USD and VTK backends
    instance repeated equipment.
    """
    if kind not in EQUIPMENT:
        raise InputError(f"unknown equipment kind {kind!r}; valid: {', '.join(sorted(EQUIPMENT))}")
    key = (kind, tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in params.items())))
    if key not in _CACHE:
        fn = EQUIPMENT[kind]
        valid = inspect.signature(fn).parameters
        bad = sorted(set(params) - set(valid))
        if bad:
            raise InputError(f"{kind}: unknown parameter(s) {bad}; valid: {sorted(valid)}")
        try:
            _CACHE[key] = fn(**params)
        except TypeError as exc:
            raise InputError(f"{kind}: bad parameters {params!r}: {exc}") from None
    mesh, parts = _CACHE[key]
    return mesh, [Part(p.name, p.color) for p in parts]


def equipment_asset(name: str, kind: str, *, transform: Transform | None = None, color=None, **params) -> Asset:
    """An :class:`Asset` of equipment ``kind`` (``asset_type=kind``, semantic label = kind)."""
    valid_name(name)
    mesh, parts = make_equipment(kind, **params)
    mat = Material(name=kind, base_color=tuple(color) if color is not None else (parts[0].color or (0.7, 0.7, 0.7)))
    if color is not None:
        parts = [Part(p.name, tuple(color)) for p in parts]
    return Asset(
        name=name,
        mesh=mesh,
        transform=transform or Transform(),
        material=mat,
        asset_type=kind,
        semantic_label=kind,
        parts=parts,
        metadata={"equipment_params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}}
        if params else {},
    )
