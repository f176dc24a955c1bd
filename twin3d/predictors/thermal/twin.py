"""Thermal PINN fields on scene assets (the scene adapter; the spec section is :mod:`.section`).

:func:`thermal_field` evaluates a trained :class:`~.pinn.ThermalPINN` at an asset's
mesh vertices for a number of frames and attaches the result as the per-vertex field
``temperature`` (degC, colormap ``temperature``), which the USD writer stores as
``primvars:twin:temperature`` time samples plus ``displayColor`` and the renderer
shows with a degC colour bar.

Mapping: the asset's local coordinates are mapped into the problem domain by a
:class:`DomainMap` fitted to the bounding box of the asset (or of one of its parts):
a cylinder problem is laid along the part's axis (auto-detected as the axis across
which the cross-section is most nearly round, e.g. an electric motor's housing), a
box/plate/rod along the bounding box. Vertices outside the modelled part (fins, feet,
fan cover...) take the temperature of the closest point of the domain.

Sensors: when the asset carries a ``process_temperature`` sensor (K, as the failure-
risk helper attaches it) and the problem has a uniform ambient (initial temperature =
every fixed and ambient temperature), the field is shifted by ``T_sensor(t) -
T_ambient``. The heat equation is linear, so this is exact for a constant sensor
value and a quasi-static approximation when it varies slowly compared with the part's
thermal time constant. Without the sensor the problem's own ambient is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import InputError
from ...scene import Asset, Field
from .pinn import ThermalPINN
from .problem import Cylinder, HeatProblem, Plate, Rod

__all__ = [
    "DomainMap",
    "thermal_field",
    "pretrained_model_path",
    "AMBIENT_SENSOR",
    "check_field_memory",
    "BYTES_PER_FIELD_VALUE",
]

#: The sensor that drives the ambient temperature when present (kelvin).
AMBIENT_SENSOR = "process_temperature"
_AXES = {"x": 0, "y": 1, "z": 2}
_KELVIN_UNITS = {"", "K", "kelvin"}
_CELSIUS_UNITS = {"degC", "°C", "C", "celsius"}


# --------------------------------------------------------------------------- mapping
@dataclass(frozen=True)
class DomainMap:
    """Affine map from asset-local coordinates to a problem's domain coordinates.

    ``domain = (points - origin)[:, axes] * scale`` (then clipped into the domain);
    for a cylinder the first two mapped coordinates are the cross-section and the
    third the axis.
    """

    origin: np.ndarray
    axes: tuple[int, ...]
    scale: np.ndarray

    def __call__(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=np.float64)
        return (p - self.origin)[:, list(self.axes)] * self.scale

    @classmethod
    def fit(
        cls,
        problem: HeatProblem,
        points: np.ndarray,
        *,
        axis: str | None = None,
        reverse: bool = False,
    ) -> "DomainMap":
        """Fit the problem domain onto the bounding box of ``points`` (n, 3).

        ``axis`` (``"x"``/``"y"``/``"z"``) is the asset axis along the rod / the
        cylinder; ``None`` picks the longest extent (rod), the two longest (plate),
        the roundest cross-section (cylinder). ``reverse`` runs the domain's length
        coordinate the other way (which end of a cylinder is ``z = 0``).
        """
        p = np.asarray(points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
            raise InputError(f"DomainMap.fit needs (n, 3) points, got shape {p.shape}")
        lo, hi = p.min(0), p.max(0)
        ext = hi - lo
        if axis is not None and axis not in _AXES:
            raise InputError(f"axis must be one of 'x', 'y', 'z' or None, got {axis!r}")
        g = problem.geometry
        if isinstance(g, Cylinder):
            a = _AXES[axis] if axis else _roundest_axis(ext)
            b, c = [i for i in range(3) if i != a]
            centre = (lo + hi) / 2.0
            r = np.hypot(p[:, b] - centre[b], p[:, c] - centre[c]).max()
            if not ext[a] > 0 or not r > 0:
                raise InputError("cannot map a cylinder onto a flat or zero-size point set")
            origin = centre.copy()
            origin[a] = hi[a] if reverse else lo[a]
            s_ax = g.length / ext[a] * (-1.0 if reverse else 1.0)
            return cls(origin, (b, c, a), np.array([g.radius / r, g.radius / r, s_ax]))
        lengths = g.lengths()  # type: ignore[union-attr]
        if isinstance(g, Rod):
            axes: tuple[int, ...] = (_AXES[axis],) if axis else (int(np.argmax(ext)),)
        elif isinstance(g, Plate):
            if axis:
                first = _AXES[axis]
                second = max((i for i in range(3) if i != first), key=lambda i: ext[i])
                axes = (first, second)
            else:
                axes = tuple(sorted(np.argsort(ext)[-2:].tolist()))
        else:
            axes = (0, 1, 2)
        if any(not ext[i] > 0 for i in axes):
            raise InputError(f"cannot map a {g.kind} onto points that are flat along asset axes {axes}")
        origin = lo.copy()
        scale = np.array([L / ext[i] for L, i in zip(lengths, axes)])
        if reverse:
            origin[axes[0]] = hi[axes[0]]
            scale[0] = -scale[0]
        return cls(origin, axes, scale)


def _roundest_axis(ext: np.ndarray) -> int:
    """The axis whose perpendicular extents are most nearly equal (ties: the longest)."""
    best, score = 0, np.inf
    for a in range(3):
        b, c = [i for i in range(3) if i != a]
        hi = max(ext[b], ext[c])
        s = abs(ext[b] - ext[c]) / hi if hi > 0 else np.inf
        if s < score - 1e-9 or (abs(s - score) <= 1e-9 and ext[a] > ext[best]):
            best, score = a, s
    return best


# --------------------------------------------------------------------------- field
def _load(model: ThermalPINN | str | os.PathLike) -> ThermalPINN:
    if isinstance(model, ThermalPINN):
        model.check_fitted()
        return model
    return ThermalPINN.load(model)


def _sensor_in_unit(sensor: Field, unit: str, name: str) -> np.ndarray:
    u = (sensor.unit or "").strip()
    values = np.asarray(sensor.values, dtype=np.float64)
    if u in _KELVIN_UNITS:
        kelvin = values
    elif u in _CELSIUS_UNITS:
        kelvin = values + 273.15
    else:
        raise InputError(
            f"sensor {name!r} has unit {sensor.unit!r}; a temperature sensor must be in K or degC"
        )
    return kelvin if unit == "K" else kelvin - 273.15


def thermal_field(
    asset: Asset,
    model: ThermalPINN | str | os.PathLike,
    *,
    times: Sequence[float] | np.ndarray | None = None,
    frames: int = 10,
    part: str | None = None,
    axis: str | None = None,
    reverse: bool = False,
    ambient: str | None = "auto",
    time_scale: float | None = None,
    name: str = "temperature",
    clim: tuple[float, float] | None = None,
    attach: bool = True,
) -> Field:
    """Evaluate a trained thermal model at ``asset``'s vertices and attach the field.

    Parameters
    ----------
    asset
        An asset with a mesh (vertices in local coordinates).
    model
        A fitted :class:`ThermalPINN` or the path of a saved one.
    times
        Frame times [s] on the scene timeline. Default: the times the asset's
        animated sensors/fields already use (the ambient sensor first), else
        ``frames`` times spanning the problem's ``[0, t_end]``.
    frames
        Number of frames when no times are given.
    part
        Fit the domain onto this part's vertices (e.g. ``"housing"``); default: all.
    axis, reverse
        See :meth:`DomainMap.fit`.
    ambient
        ``"auto"``: use the ``process_temperature`` sensor when the asset has one and
        the problem allows an ambient shift; a sensor name: require it; ``None``: the
        problem's own ambient.
    time_scale
        Problem seconds per timeline second (``t_problem = (t - t[0]) * time_scale``);
        ``None`` stretches the frame times over ``[0, t_end]``.
    name, clim
        Field name and optional fixed colour range (degC).
    attach
        Set the field on the asset (``asset.set_field``).

    Returns
    -------
    Field
        ``Field(name, (T, n_points) degC, association="vertex", times=..., colormap="temperature")``.
    """
    if asset.mesh is None or asset.mesh.n_points == 0:
        raise InputError(f"asset {asset.name!r} has no mesh vertices to carry a temperature field")
    m = _load(model)
    problem = m.problem_
    pts = np.asarray(asset.mesh.points, dtype=np.float64)
    fit_pts = pts[asset.part_point_mask(part)] if part else pts
    mapping = DomainMap.fit(problem, fit_pts, axis=axis, reverse=reverse)
    domain = mapping(pts)

    sensor_name = None
    if ambient == "auto":
        if AMBIENT_SENSOR in asset.sensors and problem.ambient_shift_ok:
            sensor_name = AMBIENT_SENSOR
    elif ambient:
        if ambient not in asset.sensors:
            raise InputError(
                f"asset {asset.name!r} has no sensor {ambient!r} to drive the ambient temperature; "
                f"sensors: {sorted(asset.sensors)}"
            )
        if not problem.ambient_shift_ok:
            raise InputError(
                f"problem {problem.name!r} cannot follow an ambient sensor: its initial, fixed and ambient "
                "temperatures differ (the shift by the sensor value is only valid for a uniform ambient)"
            )
        sensor_name = ambient
    sensor = asset.sensors.get(sensor_name) if sensor_name else None

    if times is None:
        timeline = _asset_timeline(asset, sensor)
        if timeline is not None:
            t = timeline
        else:
            if isinstance(frames, bool) or int(frames) != frames or frames < 1:
                raise InputError(f"frames must be a positive integer, got {frames!r}")
            check_field_memory(int(frames), len(pts), asset)
            t = np.linspace(0.0, problem.t_end, int(frames))
            time_scale = 1.0 if time_scale is None else time_scale
    else:
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        if t.size == 0 or not np.all(np.isfinite(t)):
            raise InputError("times must be one or more finite values in seconds")
    check_field_memory(t.size, len(pts), asset)
    tau = _problem_times(t, problem.t_end, time_scale)

    values = m.predict(domain, tau, clip=True)
    description = f"thermal PINN {problem.name!r}"
    if sensor is not None:
        amb = np.interp(t, sensor.times, _sensor_in_unit(sensor, problem.temperature_unit, sensor_name))  # type: ignore[arg-type]
        values = values + (amb - problem.base_temperature)[:, None]
        description += f", ambient from sensor {sensor_name!r}"
    if problem.temperature_unit == "K":
        values = values - 273.15
    f = Field(name, values.astype(np.float32), association="vertex", times=t, unit="degC",
              colormap="temperature", clim=clim, description=description)
    if attach:
        asset.set_field(f)
    return f


#: Bytes per frame and vertex while a temperature field is computed: the float64
#: prediction, its ambient-shifted copy and the float32 field kept on the asset.
BYTES_PER_FIELD_VALUE = 20


def check_field_memory(n_frames: int, n_points: int, asset: Asset) -> None:
    """Refuse a temperature field of ``n_frames x n_points`` above the memory budget (:mod:`twin3d.budgets`)."""
    from ...budgets import check_memory

    check_memory(float(n_frames) * n_points * BYTES_PER_FIELD_VALUE,
                 f"the temperature field of asset {asset.name!r}",
                 detail=f"{n_frames:,} frames x {n_points:,} vertices x {BYTES_PER_FIELD_VALUE} B")


def _asset_timeline(asset: Asset, preferred: Field | None) -> np.ndarray | None:
    """The frame times the asset's animated sensors/fields already use (the scene timeline)."""
    candidates = ([preferred] if preferred is not None else []) + list(asset.sensors.values()) + list(asset.fields.values())
    for f in candidates:
        if f.times is not None:
            return np.asarray(f.times, dtype=np.float64)
    return None


def _problem_times(t: np.ndarray, t_end: float, time_scale: float | None) -> np.ndarray:
    t0 = t[0]
    if time_scale is None:
        span = t[-1] - t0
        return np.full_like(t, t_end) if span <= 0 else (t - t0) / span * t_end
    if not (np.isfinite(time_scale) and time_scale > 0):
        raise InputError(f"time_scale must be a positive number, got {time_scale!r}")
    tau = (t - t0) * time_scale
    if tau.max() > t_end * (1 + 1e-9):
        raise InputError(
            f"the frames reach {tau.max():.6g} s of problem time but the model was trained on [0, {t_end:g}] s; "
            "lower time_scale or pass time_scale=None to stretch the frames over the trained span"
        )
    return tau


def pretrained_model_path(name: str = "motor_housing") -> Path:
    """Path of a thermal model shipped with twin3d (package data ``twin3d.assets``, ``thermal/NAME.pt``).

    ``motor_housing`` is the ``cylinder`` preset trained with
    ``twin3d thermal train --problem cylinder --out assets/thermal/motor_housing.pt``
    (see docs/thermal.md for the exact command and its measured error).
    """
    from ...resources import asset_path

    return asset_path("thermal", f"{name}.pt", what=f"pre-trained thermal model {name!r}",
                      regenerate="the command in docs/thermal.md")
