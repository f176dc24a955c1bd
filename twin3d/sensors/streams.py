"""Sensor streams on a timeline: per-machine streams, time alignment, sensors on assets.

A *stream* is one machine's readings with their times in seconds.
:func:`machine_streams` splits a sensor table into streams (by a machine column, with
a time column or the row order); :func:`align_series` resamples a series onto another
timeline; :func:`attach_sensors` puts a stream on an asset as sensors
(``asset.set_sensor``) on the scene timeline, and :func:`sensor_table` reads them back
(one row per frame) for the risk model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .schema import AI4I_LABELS, AI4I_QUANTITIES, PRODUCT_TYPES, SENSOR_UNITS
from .tables import check_numeric, product_type_codes, require_columns, row_references, source_prefix

if TYPE_CHECKING:  # pragma: no cover
    from ..scene import Asset

__all__ = ["machine_streams", "align_series", "attach_sensors", "sensor_table", "has_ai4i_sensors"]


def machine_streams(
    table: pd.DataFrame,
    *,
    machine_column: str | None = None,
    time_column: str | None = None,
    step_seconds: float = 60.0,
) -> dict[Any, tuple[np.ndarray, pd.DataFrame]]:
    """Split a table into per-machine streams: ``{machine_id: (times_s, rows)}``.

    Without ``machine_column`` the whole table is one stream (key ``None``). Without
    ``time_column`` the row order gives the time: ``row_index * step_seconds``.
    Times within a stream must be finite and strictly increasing after sorting (a
    repeated time is an error naming the rows).
    """
    where = source_prefix(table)
    groups: list[tuple[Any, pd.DataFrame]]
    if machine_column is not None:
        require_columns(table, [machine_column])
        groups = [(k, g) for k, g in table.groupby(machine_column, sort=True)]
    else:
        groups = [(None, table)]
    out: dict[Any, tuple[np.ndarray, pd.DataFrame]] = {}
    for key, rows in groups:
        if time_column is not None:
            require_columns(table, [time_column])
            tvals = check_numeric(rows, [time_column])[:, 0]
            order = np.argsort(tvals, kind="stable")
            tvals, rows = tvals[order], rows.iloc[order]
            dup = np.flatnonzero(np.diff(tvals) <= 0)
            if dup.size:
                pos = rows.index[dup + 1].to_numpy()
                raise InputError(
                    f"{where}time column {time_column!r} repeats a time"
                    f"{'' if key is None else f' for machine {key!r}'} at {row_references(table, pos)}; "
                    "times of one machine must be distinct"
                )
        else:
            if not (np.isfinite(step_seconds) and step_seconds > 0):
                raise InputError(f"step_seconds must be a positive number, got {step_seconds!r}")
            tvals = np.arange(len(rows), dtype=np.float64) * float(step_seconds)
        r = rows.reset_index(drop=True)
        r.attrs.update(table.attrs)
        out[key] = (tvals, r)
    return out


def align_series(
    times: np.ndarray,
    values: np.ndarray,
    new_times: np.ndarray,
    *,
    method: Literal["linear", "previous", "nearest"] = "linear",
) -> np.ndarray:
    """Resample a series (``values`` at ``times``) onto ``new_times``.

    ``linear`` interpolates; ``previous`` holds the last reading (for codes such as the
    product type, and for step-like counters); ``nearest`` takes the closest reading.
    Outside the series' time range the first/last reading is held. ``values`` may be
    2D (time along axis 0).
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    v = np.asarray(values, dtype=np.float64)
    nt = np.asarray(new_times, dtype=np.float64).reshape(-1)
    if t.size == 0 or v.shape[0] != t.size:
        raise InputError(f"align_series: {v.shape[0] if v.ndim else 0} values for {t.size} times")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise InputError("align_series: times must be strictly increasing")
    if method not in ("linear", "previous", "nearest"):
        raise InputError(f"align_series: unknown method {method!r}; valid: linear, previous, nearest")
    if t.size == 1:
        return np.repeat(v[:1], nt.size, axis=0)
    if method == "linear":
        if v.ndim == 1:
            return np.interp(nt, t, v)
        return np.stack([np.interp(nt, t, v[:, j]) for j in range(v.shape[1])], axis=1)
    if method == "previous":
        idx = np.clip(np.searchsorted(t, nt, side="right") - 1, 0, t.size - 1)
    else:
        hi = np.clip(np.searchsorted(t, nt), 1, t.size - 1)
        idx = np.where(np.abs(nt - t[hi - 1]) <= np.abs(t[hi] - nt), hi - 1, hi)
    return v[idx]


def attach_sensors(
    asset: "Asset",
    rows: pd.DataFrame,
    times: np.ndarray,
    *,
    new_times: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    units: Mapping[str, str] | None = None,
) -> list[str]:
    """Attach a machine's stream to ``asset`` as sensors (``asset.set_sensor``).

    Parameters
    ----------
    asset
        The machine.
    rows
        Its readings (canonical column names), one row per entry of ``times``.
    times
        Reading times in seconds.
    new_times
        The scene timeline to resample onto (default: ``times``). ``product_type`` and
        ``tool_wear`` are held (``previous``), other quantities interpolated.
    names
        Columns to attach (default: the AI4I quantities present, else every numeric
        column except ``machine``/``step``/``time`` and the AI4I label columns).
    units
        Units per name (default: :data:`SENSOR_UNITS`, else ``""``).

    Returns
    -------
    list of str
        The attached sensor names.
    """
    times = np.asarray(times, dtype=np.float64)
    if len(rows) != times.size:
        raise InputError(f"asset {asset.name!r}: {len(rows)} readings but {times.size} times")
    if names is None:
        names = [q for q in AI4I_QUANTITIES if q in rows.columns]
        if not names:
            skip = {"machine", "step", "time", *AI4I_LABELS}
            names = [c for c in rows.columns if c not in skip and pd.api.types.is_numeric_dtype(rows[c].dtype)]
    if not names:
        raise InputError(f"asset {asset.name!r}: the stream has no numeric sensor columns; columns: {list(rows.columns)}")
    require_columns(rows, names)
    target_t = times if new_times is None else np.asarray(new_times, dtype=np.float64)
    unit_map = {**SENSOR_UNITS, **(units or {})}
    for name in names:
        if name == "product_type":
            vals = product_type_codes(rows[name], table=rows)
        else:
            vals = check_numeric(rows, [name])[:, 0]
        method = "previous" if name in ("product_type", "tool_wear") else "linear"
        series = vals if new_times is None else align_series(times, vals, target_t, method=method)
        asset.set_sensor(name, series, target_t, unit=unit_map.get(name, ""))
    if "product_type" in names:
        asset.metadata["product_type_codes"] = {k: i for i, k in enumerate(PRODUCT_TYPES)}
    return list(names)


def sensor_table(asset: "Asset", names: Sequence[str] | None = None) -> pd.DataFrame:
    """The asset's sensors as a table (one row per frame, one column per sensor)."""
    names = list(asset.sensors) if names is None else list(names)
    missing = [n for n in names if n not in asset.sensors]
    if missing:
        raise InputError(f"asset {asset.name!r} has no sensors {missing}; sensors: {sorted(asset.sensors)}")
    data = {}
    for n in names:
        v = np.asarray(asset.sensors[n].values, dtype=np.float64)
        data[n] = np.atleast_1d(v)
    table = pd.DataFrame(data)
    table.attrs["source"] = f"asset {asset.name!r}"
    return table


def has_ai4i_sensors(asset: "Asset") -> bool:
    """True if the asset carries all six AI4I process variables as sensors."""
    return all(q in asset.sensors for q in AI4I_QUANTITIES)
