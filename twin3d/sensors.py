"""Sensor streams: an AI4I 2020 process simulator, CSV loading, validation, time alignment.

A *sensor table* is a :class:`pandas.DataFrame` with one row per reading and one column
per quantity. twin3d's canonical names for the AI4I 2020 process variables are

============================  =========================  ======
canonical name                AI4I 2020 column           unit
============================  =========================  ======
``product_type``              ``Type`` (L / M / H)       (code)
``air_temperature``           ``Air temperature [K]``    K
``process_temperature``       ``Process temperature [K]`` K
``rotational_speed``          ``Rotational speed [rpm]`` rpm
``torque``                    ``Torque [Nm]``            Nm
``tool_wear``                 ``Tool wear [min]``        min
============================  =========================  ======

Streams come from :func:`simulate_ai4i` (the published AI4I 2020 generating process,
seeded) or from CSV files (:func:`read_sensor_csv`) in the AI4I schema or any schema
with a column mapping. Any other numeric table (temperature, vibration, pressure...)
works too: :func:`training_table` splits a table into features and a target column.

Every check raises :class:`~twin3d.errors.InputError` that says what was wrong and
where: missing columns (listing the available ones), non-numeric, NaN or infinite
values (with row numbers; nothing is silently dropped), empty files.

Streams become asset sensors (``asset.set_sensor``) on the scene timeline through
:func:`attach_sensors`; :func:`sensor_table` reads them back for the risk model. The
scene-spec section for a per-asset sensor source is :data:`SensorSource`
(:class:`SimulatorSource` or :class:`CsvSource`), applied by
:func:`apply_sensor_sources`.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field as PField, field_validator, model_validator

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from .scene import Asset, Scene

__all__ = [
    "AI4I_QUANTITIES",
    "AI4I_COLUMNS",
    "AI4I_LABELS",
    "PRODUCT_TYPES",
    "SENSOR_UNITS",
    "FAILURE_MODES",
    "simulate_ai4i",
    "to_ai4i_schema",
    "read_sensor_csv",
    "canonical_columns",
    "require_columns",
    "check_numeric",
    "product_type_codes",
    "training_table",
    "machine_streams",
    "align_series",
    "attach_sensors",
    "sensor_table",
    "has_ai4i_sensors",
    "SimulatorSource",
    "CsvSource",
    "SensorSource",
    "apply_sensor_source",
    "apply_sensor_sources",
]

# --------------------------------------------------------------------------- schema
#: The AI4I 2020 process variables: canonical name -> AI4I 2020 column header.
AI4I_COLUMNS: dict[str, str] = {
    "product_type": "Type",
    "air_temperature": "Air temperature [K]",
    "process_temperature": "Process temperature [K]",
    "rotational_speed": "Rotational speed [rpm]",
    "torque": "Torque [Nm]",
    "tool_wear": "Tool wear [min]",
}
#: Canonical names of the AI4I process variables, in AI4I column order.
AI4I_QUANTITIES: tuple[str, ...] = tuple(AI4I_COLUMNS)
#: Label columns of the AI4I schema: canonical name -> AI4I header.
AI4I_LABELS: dict[str, str] = {
    "machine_failure": "Machine failure",
    "TWF": "TWF",
    "HDF": "HDF",
    "PWF": "PWF",
    "OSF": "OSF",
    "RNF": "RNF",
}
#: Failure modes of the AI4I process (tool wear, heat dissipation, power, overstrain, random).
FAILURE_MODES: tuple[str, ...] = ("TWF", "HDF", "PWF", "OSF", "RNF")
#: Product quality variants, in code order (L=0, M=1, H=2).
PRODUCT_TYPES: tuple[str, ...] = ("L", "M", "H")
#: Units of the canonical sensors (product_type is a code: 0=L, 1=M, 2=H).
SENSOR_UNITS: dict[str, str] = {
    "product_type": "1",
    "air_temperature": "K",
    "process_temperature": "K",
    "rotational_speed": "rpm",
    "torque": "Nm",
    "tool_wear": "min",
}

_HEADER_TO_CANONICAL = {v: k for k, v in {**AI4I_COLUMNS, **AI4I_LABELS}.items()}

# --------------------------------------------------------------------------- simulator constants
# The documented AI4I 2020 failure rules (S. Matzka, 2020; UCI data set #601). These
# belong to the *simulated process*; the risk model never sees them, it learns its
# thresholds from data.
_HDF_MAX_DT = 8.6  # K: process - air temperature below this ...
_HDF_MAX_SPEED = 1380.0  # rpm: ... and speed below this -> heat dissipation failure
_PWF_POWER = (3500.0, 9000.0)  # W: mechanical power outside this band -> power failure
_OSF_LIMIT = (11000.0, 12000.0, 13000.0)  # min*Nm for L / M / H -> overstrain failure
_WEAR_PER_PRODUCT = (2.0, 3.0, 5.0)  # min of tool wear added by an L / M / H product
# Speed vs torque. The published text says speed is "calculated from a power of 2860 W,
# overlaid with normally distributed noise" without the formula; these knots are the
# local-linear conditional median of speed given torque in the public data set (it
# starts near 2860 rpm at low torque), with 50 rpm of normal noise above 12 Nm.
_SPEED_KNOTS_NM = np.array([4.0, 8.0, 12.0, 16.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 65.0, 70.0, 76.0])
_SPEED_KNOTS_RPM = np.array(
    [2880.0, 2760.0, 2632.0, 2254.0, 2002.0, 1805.0, 1669.0, 1574.0, 1500.0, 1444.0, 1400.0, 1364.0, 1333.0,
     1300.0, 1288.0, 1243.0]
)
_SPEED_NOISE_KNOTS_NM = np.array([8.0, 12.0])
_SPEED_NOISE_RPM = np.array([5.0, 50.0])
# Temperature random walks: mean-reverting (AR(1)) so a stream of any length is stationary
# with the published spread (air: sd 2 K around 300 K; process - air: sd 1 K around
# 10 K). The per-step persistence and the air/difference correlation are those of the
# public data set (lag-1 autocorrelation 0.9994 and 0.9975; correlation -0.70).
_AIR_PHI = 0.99942
_DT_PHI = 0.99749
_AIR_DT_CORR = -0.70


def _ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float) -> np.ndarray:
    """Stationary AR(1) rows with unit variance, shape (n_machines, n_steps)."""
    from scipy.signal import lfilter

    n_m, n_s = shape
    innov = rng.standard_normal(shape) * np.sqrt(1.0 - phi * phi)
    innov[:, 0] = rng.standard_normal(n_m)  # start in the stationary distribution
    return lfilter([1.0], [1.0, -phi], innov, axis=1)


def simulate_ai4i(
    n_machines: int = 1,
    n_steps: int = 1000,
    *,
    seed: int | np.random.SeedSequence = 0,
    step_seconds: float = 60.0,
    times: Sequence[float] | np.ndarray | None = None,
    product_mix: Sequence[float] = (0.6, 0.3, 0.1),
    air_temperature_mean: float = 300.0,
    torque_mean: float = 40.0,
    torque_std: float = 10.0,
    tool_life: tuple[float, float] = (200.0, 240.0),
    twf_probability: float = 51 / 120,
    rnf_probability: float = 0.001,
    initial_wear: float | Literal["random"] = 0.0,
    round_values: bool = True,
) -> pd.DataFrame:
    """Simulate AI4I 2020 process streams for ``n_machines`` machines over ``n_steps`` steps.

    Each step is one product processed on the machine. The generating process is the
    published one (Matzka 2020, UCI #601):

    - product type L / M / H drawn with probabilities ``product_mix`` (the
      documentation says 50/30/20 %; the public data set has 60/30/10 %, the default);
    - air temperature: a random walk around ``air_temperature_mean`` with a standard
      deviation of 2 K (mean-reverting, so streams of any length are stationary);
    - process temperature: air temperature + 10 K + a random walk with sd 1 K;
    - torque: normal around ``torque_mean`` (40 Nm) with ``torque_std`` (10 Nm), no
      negative values; rotational speed from the speed/torque characteristic (a nominal
      ~2860 rpm at no load, falling with torque) plus normal noise;
    - tool wear: an L / M / H product adds 2 / 3 / 5 min; each tool gets a life drawn
      uniformly from ``tool_life`` and is replaced (wear back to 0 on the next step)
      when its wear reaches it;
    - failure modes: TWF (at a tool replacement, with probability ``twf_probability``),
      HDF (process - air temperature < 8.6 K and speed < 1380 rpm), PWF (power
      torque x angular speed < 3500 W or > 9000 W), OSF (tool wear x torque > 11,000 /
      12,000 / 13,000 min*Nm for L / M / H), RNF (probability ``rnf_probability`` per
      step). ``machine_failure`` is 1 if any mode fires.

    With ``round_values`` (default) readings are rounded to the data set's resolution
    (0.1 K, 1 rpm, 0.1 Nm, 1 min) *before* the failure rules are evaluated, as in the
    public data.

    Parameters
    ----------
    n_machines, n_steps
        Number of machines and of steps per machine (both >= 1).
    seed
        Seed (or :class:`numpy.random.SeedSequence`): the same seed and sizes give
        identical streams.
    step_seconds
        Duration of one step in seconds (the ``time`` column is ``step * step_seconds``).
    times
        Explicit step times in seconds (strictly increasing, length ``n_steps`` or, if
        ``n_steps`` is left at its default, defining it).
    product_mix
        Probabilities of L, M, H products (normalised).
    air_temperature_mean, torque_mean, torque_std
        Operating point (a stressed machine: higher torque).
    tool_life
        (low, high) of the uniform tool life in minutes of wear.
    twf_probability, rnf_probability
        Probability that a tool replacement is a tool-wear failure; random failure
        probability per step.
    initial_wear
        Tool wear at step 0 in minutes, or ``"random"`` (uniform over the tool's life,
        different per machine).
    round_values
        Round readings to the AI4I resolution before applying the failure rules.

    Returns
    -------
    pandas.DataFrame
        Long table, ``n_machines * n_steps`` rows ordered by machine then step, with
        columns ``machine, step, time, product_type`` (L/M/H), the five numeric AI4I
        quantities (canonical names), ``machine_failure`` and ``TWF, HDF, PWF, OSF, RNF``
        (0/1 integers).
    """
    n_machines = _positive_int(n_machines, "n_machines")
    if times is not None:
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        if t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            raise InputError("simulate_ai4i: times must be finite and strictly increasing (at least one value)")
        if n_steps != 1000 and n_steps != t.size:
            raise InputError(f"simulate_ai4i: n_steps={n_steps} but {t.size} times were given")
        n_steps = int(t.size)
    else:
        n_steps = _positive_int(n_steps, "n_steps")
        if not (np.isfinite(step_seconds) and step_seconds > 0):
            raise InputError(f"simulate_ai4i: step_seconds must be a positive number, got {step_seconds!r}")
        t = np.arange(n_steps, dtype=np.float64) * float(step_seconds)
    mix = np.asarray(product_mix, dtype=float)
    if mix.shape != (3,) or np.any(mix < 0) or not mix.sum() > 0:
        raise InputError(f"simulate_ai4i: product_mix must be 3 non-negative weights for L, M, H, got {product_mix!r}")
    mix = mix / mix.sum()
    lo_life, hi_life = (float(v) for v in tool_life)
    if not (0 < lo_life <= hi_life):
        raise InputError(f"simulate_ai4i: tool_life must be (low, high) with 0 < low <= high, got {tool_life!r}")
    for name, p in (("twf_probability", twf_probability), ("rnf_probability", rnf_probability)):
        if not 0.0 <= float(p) <= 1.0:
            raise InputError(f"simulate_ai4i: {name} must be in [0, 1], got {p!r}")
    if not (torque_std >= 0 and torque_mean > 0):
        raise InputError("simulate_ai4i: torque_mean must be positive and torque_std non-negative")

    rng = np.random.default_rng(seed)
    shape = (n_machines, n_steps)
    ptype = rng.choice(3, size=shape, p=mix)

    # temperatures: AR(1) random walks with the published spreads
    air = float(air_temperature_mean) + 2.0 * _ar1(rng, shape, _AIR_PHI)
    z_air = (air - float(air_temperature_mean)) / 2.0
    z_dt = _AIR_DT_CORR * z_air + np.sqrt(1.0 - _AIR_DT_CORR**2) * _ar1(rng, shape, _DT_PHI)
    proc = air + 10.0 + 1.0 * z_dt

    # torque: normal, no negative values (redrawn)
    torque = rng.normal(torque_mean, torque_std, shape)
    bad = torque <= 0
    while bad.any():
        torque[bad] = rng.normal(torque_mean, torque_std, int(bad.sum()))
        bad = torque <= 0
    if round_values:
        torque = np.round(torque, 1)
        torque[torque <= 0] = 0.1
    noise_sd = np.interp(torque, _SPEED_NOISE_KNOTS_NM, _SPEED_NOISE_RPM)
    speed = np.interp(torque, _SPEED_KNOTS_NM, _SPEED_KNOTS_RPM) + noise_sd * rng.standard_normal(shape)
    speed = np.maximum(speed, 1.0)
    if round_values:
        air, proc, speed = np.round(air, 1), np.round(proc, 1), np.round(speed)

    # tool wear with replacements (sequential in steps, vectorised over machines)
    wear_add = np.asarray(_WEAR_PER_PRODUCT)[ptype]
    life = rng.uniform(lo_life, hi_life, n_machines)
    if isinstance(initial_wear, str):
        if initial_wear != "random":
            raise InputError(f"simulate_ai4i: initial_wear must be a number or 'random', got {initial_wear!r}")
        w = rng.uniform(0.0, 1.0, n_machines) * life
        if round_values:
            w = np.floor(w)
    else:
        if not (np.isfinite(initial_wear) and initial_wear >= 0):
            raise InputError(f"simulate_ai4i: initial_wear must be >= 0, got {initial_wear!r}")
        w = np.full(n_machines, float(initial_wear))
    wear = np.empty(shape)
    replaced = np.zeros(shape, dtype=bool)
    life_draws = rng.uniform(lo_life, hi_life, shape)  # life of the tool fitted after step k
    for k in range(n_steps):
        wear[:, k] = w
        rep = w >= life
        replaced[:, k] = rep
        w = np.where(rep, 0.0, w + wear_add[:, k])
        life = np.where(rep, life_draws[:, k], life)

    # failure modes (documented rules, on the recorded values)
    omega = speed * (2.0 * np.pi / 60.0)
    power = torque * omega
    strain = wear * torque
    hdf = ((proc - air) < _HDF_MAX_DT) & (speed < _HDF_MAX_SPEED)
    pwf = (power < _PWF_POWER[0]) | (power > _PWF_POWER[1])
    osf = strain > np.asarray(_OSF_LIMIT)[ptype]
    twf = replaced & (rng.random(shape) < float(twf_probability))
    rnf = rng.random(shape) < float(rnf_probability)
    failure = hdf | pwf | osf | twf | rnf

    out = pd.DataFrame(
        {
            "machine": np.repeat(np.arange(n_machines), n_steps),
            "step": np.tile(np.arange(n_steps), n_machines),
            "time": np.tile(t, n_machines),
            "product_type": np.asarray(PRODUCT_TYPES, dtype=object)[ptype.ravel()],
            "air_temperature": air.ravel(),
            "process_temperature": proc.ravel(),
            "rotational_speed": speed.ravel(),
            "torque": torque.ravel(),
            "tool_wear": wear.ravel(),
            "machine_failure": failure.ravel().astype(np.int8),
            "TWF": twf.ravel().astype(np.int8),
            "HDF": hdf.ravel().astype(np.int8),
            "PWF": pwf.ravel().astype(np.int8),
            "OSF": osf.ravel().astype(np.int8),
            "RNF": rnf.ravel().astype(np.int8),
        }
    )
    out.attrs["source"] = "simulator"
    return out


def to_ai4i_schema(table: pd.DataFrame) -> pd.DataFrame:
    """Rename canonical columns to the AI4I 2020 headers (for writing AI4I-style CSV).

    A ``UDI`` column (1-based row id) is added first; other columns keep their names.
    """
    out = table.rename(columns={**AI4I_COLUMNS, **AI4I_LABELS})
    out.insert(0, "UDI", np.arange(1, len(out) + 1))
    return out


# --------------------------------------------------------------------------- reading & validation
def _positive_int(v: Any, name: str) -> int:
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive integer, got {v!r}") from None
    if iv != v or iv < 1:
        raise InputError(f"{name} must be a positive integer, got {v!r}")
    return iv


def _where(table: pd.DataFrame, source: str | None = None) -> str:
    src = source or table.attrs.get("source")
    return f"{src}: " if src else ""


def _row_list(table: pd.DataFrame, positions: np.ndarray, limit: int = 10) -> str:
    """Human row references for integer positions: data rows and, for CSV files, lines."""
    positions = np.asarray(positions)
    shown = positions[:limit]
    more = f" (and {positions.size - limit} more)" if positions.size > limit else ""
    rows = ", ".join(str(int(p) + 1) for p in shown)
    if table.attrs.get("csv"):
        lines = ", ".join(str(int(p) + 2) for p in shown)
        return f"rows {rows}{more} (file lines {lines})"
    return f"rows {rows}{more}"


def read_sensor_csv(
    path: str | os.PathLike,
    *,
    columns: Mapping[str, str] | None = None,
    required: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a CSV sensor table; AI4I headers and mapped columns get canonical names.

    Parameters
    ----------
    path
        CSV file (first line: column names).
    columns
        Optional mapping ``canonical name -> column in the file`` for files in a user
        schema, e.g. ``{"air_temperature": "T_amb", "torque": "M"}``. AI4I 2020 headers
        are recognised without a mapping.
    required
        Canonical columns that must be present (after mapping); checked for numeric,
        finite values (``product_type`` for valid L/M/H codes).

    Returns
    -------
    pandas.DataFrame
        The table with canonical column names; ``attrs["source"]`` is the path.

    Raises
    ------
    InputError
        Empty file, unreadable CSV, missing columns (lists missing and available),
        non-numeric / NaN / infinite values (with row and file-line numbers).
    OSError
        The file cannot be opened.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a CSV file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (expected a header line and data rows)")
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty (expected a header line and data rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV file: {str(exc).strip()}") from None
    if table.shape[0] == 0:
        raise InputError(f"{path}: the file has a header but no data rows")
    table.attrs["source"] = str(path)
    table.attrs["csv"] = True
    table = canonical_columns(table, columns)
    if required:
        require_columns(table, required)
        for name in required:
            if name == "product_type":
                product_type_codes(table["product_type"], table=table)
        check_numeric(table, [c for c in required if c != "product_type"])
    return table


def canonical_columns(table: pd.DataFrame, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Rename mapped columns (``canonical -> file column``) and AI4I headers to canonical names."""
    attrs = dict(table.attrs)
    where = _where(table)
    rename: dict[str, str] = {}
    if columns:
        from .scene import valid_name

        missing = [src for src in columns.values() if src not in table.columns]
        if missing:
            raise InputError(
                f"{where}column mapping names columns that are not in the table: {missing}; "
                f"available columns: {list(map(str, table.columns))}"
            )
        for canon, src in columns.items():
            valid_name(canon)
            rename[src] = canon
    for col in table.columns:
        if col not in rename and col in _HEADER_TO_CANONICAL and _HEADER_TO_CANONICAL[col] not in table.columns:
            rename[col] = _HEADER_TO_CANONICAL[col]
    out = table.rename(columns=rename)
    dup = out.columns[out.columns.duplicated()].tolist()
    if dup:
        raise InputError(f"{where}columns {dup} appear twice after applying the column mapping {dict(columns or {})}")
    out.attrs.update(attrs)
    original = dict(attrs.get("original_columns", {}))
    for src, canon in rename.items():
        original[canon] = original.get(src, src)
    out.attrs["original_columns"] = original
    return out


def require_columns(table: pd.DataFrame, names: Sequence[str], *, source: str | None = None) -> None:
    """Raise :class:`InputError` listing the missing and the available columns."""
    missing = [n for n in names if n not in table.columns]
    if missing:
        hint = ""
        ai4i = [AI4I_COLUMNS.get(n) for n in missing if n in AI4I_COLUMNS]
        if ai4i:
            hint = f" (AI4I headers {ai4i} are recognised too; otherwise map them with a column mapping)"
        raise InputError(
            f"{_where(table, source)}missing columns {missing}{hint}; available columns: {list(map(str, table.columns))}"
        )


def check_numeric(table: pd.DataFrame, names: Sequence[str], *, source: str | None = None) -> np.ndarray:
    """Check columns hold finite numbers; return them as a float64 array (rows x columns).

    Raises :class:`InputError` naming the column and the rows (and CSV lines) with
    non-numeric, missing (NaN) or infinite values. Nothing is dropped.
    """
    where = _where(table, source)
    out = np.empty((len(table), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        col = table[name]
        if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
            vals = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.flatnonzero(np.isnan(vals) & col.notna().to_numpy())
            if bad.size:
                examples = ", ".join(repr(col.iloc[i]) for i in bad[:3])
                raise InputError(
                    f"{where}column {name!r} has non-numeric values at {_row_list(table, bad)}: {examples}; "
                    "expected numbers"
                )
        nan = np.flatnonzero(np.isnan(vals))
        if nan.size:
            raise InputError(f"{where}column {name!r} has missing (NaN/empty) values at {_row_list(table, nan)}")
        inf = np.flatnonzero(np.isinf(vals))
        if inf.size:
            raise InputError(f"{where}column {name!r} has infinite values at {_row_list(table, inf)}")
        out[:, j] = vals
    return out


def product_type_codes(values: pd.Series | np.ndarray | Sequence, *, table: pd.DataFrame | None = None,
                       source: str | None = None) -> np.ndarray:
    """Product quality L / M / H (or codes 0 / 1 / 2) -> float codes 0 / 1 / 2.

    Raises :class:`InputError` with the rows of any other value.
    """
    ser = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    ref = table if table is not None else pd.DataFrame(index=ser.index)
    where = _where(ref, source)
    if pd.api.types.is_numeric_dtype(ser.dtype) and not pd.api.types.is_bool_dtype(ser.dtype):
        codes = ser.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isin(codes, (0.0, 1.0, 2.0)))
    else:
        # factorize once, normalise the few distinct values (fast on millions of rows)
        idx, uniques = pd.factorize(ser, use_na_sentinel=True)
        table_codes = np.array(
            [PRODUCT_TYPES.index(u.strip().upper()) if isinstance(u, str) and u.strip().upper() in PRODUCT_TYPES
             else (float(u) if _is_code(u) else -1.0) for u in uniques] + [-1.0],
            dtype=np.float64,
        )
        codes = table_codes[idx]  # NaN sentinel -1 picks the trailing -1
        bad = np.flatnonzero(codes < 0)
    if bad.size:
        examples = ", ".join(repr(ser.iloc[i]) for i in bad[:3])
        raise InputError(
            f"{where}column 'product_type' has invalid values at {_row_list(ref, bad)}: {examples}; "
            f"valid: {', '.join(PRODUCT_TYPES)} (or codes 0, 1, 2)"
        )
    return codes


def _is_code(u: Any) -> bool:
    """A numeric product code 0/1/2 given as a number (in an object column)."""
    if isinstance(u, (bool, np.bool_)) or isinstance(u, str):
        return False
    try:
        return float(u) in (0.0, 1.0, 2.0)
    except (TypeError, ValueError):
        return False


def training_table(
    table: pd.DataFrame,
    *,
    target: str | None = None,
    features: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Split a sensor table into model inputs ``X`` and 0/1 labels ``y``.

    - AI4I tables (all six process variables present, canonical or AI4I headers):
      ``X`` is those six columns; the target defaults to ``machine_failure``. IDs
      (``UDI``, ``Product ID``) and the failure-mode flags are left out.
    - Any other table: the target must be given; ``X`` is ``features`` or every other
      column, which must all be numeric (the message lists offending columns).

    Raises :class:`InputError` for a missing target/feature column, non-numeric or
    non-finite values (with rows), and a target that is not two classes.
    """
    table = canonical_columns(table)
    where = _where(table)
    if target is not None and target not in table.columns and target in _HEADER_TO_CANONICAL:
        target = _HEADER_TO_CANONICAL[target]
    is_ai4i = all(q in table.columns for q in AI4I_QUANTITIES)
    if target is None:
        if "machine_failure" in table.columns:
            target = "machine_failure"
        else:
            raise InputError(
                f"{where}no target column given and no 'Machine failure' column found; "
                f"name the label column (--target); available columns: {list(map(str, table.columns))}"
            )
    require_columns(table, [target])
    if features is None:
        if is_ai4i and target not in AI4I_QUANTITIES:
            features = list(AI4I_QUANTITIES)
        else:
            features = [c for c in table.columns if c != target]
            non_numeric = [
                c for c in features
                if not (pd.api.types.is_numeric_dtype(table[c].dtype) or c == "product_type")
                and pd.to_numeric(table[c], errors="coerce").isna().all()
            ]
            if non_numeric:
                raise InputError(
                    f"{where}columns {non_numeric} are not numeric; choose the feature columns explicitly "
                    f"(--features) or drop them; numeric columns: "
                    f"{[c for c in features if c not in non_numeric]}"
                )
    else:
        features = [(_HEADER_TO_CANONICAL.get(f, f) if f not in table.columns else f) for f in features]
        require_columns(table, list(features))
        if target in features:
            raise InputError(f"{where}the target column {target!r} cannot also be a feature")
    if not features:
        raise InputError(f"{where}no feature columns left besides the target {target!r}")
    X = table[list(features)].copy()
    X.attrs.update(table.attrs)
    # validate now so errors name the file and lines
    num = [c for c in features if c != "product_type"]
    check_numeric(X, num)
    if "product_type" in X.columns:
        product_type_codes(X["product_type"], table=X)
    y = _binary_target(table, target)
    return X, y, target


def _binary_target(table: pd.DataFrame, target: str) -> np.ndarray:
    where = _where(table)
    col = table[target]
    if col.isna().any():
        raise InputError(f"{where}target column {target!r} has missing values at {_row_list(table, np.flatnonzero(col.isna().to_numpy()))}")
    if pd.api.types.is_bool_dtype(col.dtype):
        y = col.to_numpy().astype(np.int64)
    else:
        vals = pd.to_numeric(col, errors="coerce")
        bad = np.flatnonzero(vals.isna().to_numpy())
        if bad.size:
            raise InputError(f"{where}target column {target!r} must hold 0/1 labels; non-numeric at {_row_list(table, bad)}")
        v = vals.to_numpy(dtype=np.float64)
        wrong = np.flatnonzero(~np.isin(v, (0.0, 1.0)))
        if wrong.size:
            raise InputError(
                f"{where}target column {target!r} must hold 0/1 labels (1 = failure); "
                f"other values at {_row_list(table, wrong)}: {sorted(set(v[wrong][:5].tolist()))}"
            )
        y = v.astype(np.int64)
    classes = np.unique(y)
    if classes.size < 2:
        raise InputError(
            f"{where}target column {target!r} has a single class ({int(classes[0])} in all {y.size} rows); "
            "training needs both failures (1) and normal rows (0)"
        )
    return y


# --------------------------------------------------------------------------- streams & time
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
    where = _where(table)
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
                    f"{'' if key is None else f' for machine {key!r}'} at {_row_list(table, pos)}; "
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


# --------------------------------------------------------------------------- spec models
class SimulatorSource(BaseModel):
    """Scene spec: sensor streams from the AI4I 2020 simulator (:func:`simulate_ai4i`).

    The stream of each asset is seeded from ``seed`` and the asset's name, so assets
    get different but reproducible streams.
    """

    model_config = ConfigDict(extra="forbid")

    source: Literal["simulator"] = "simulator"
    seed: int = 0
    steps: Optional[int] = PField(None, ge=1, le=10_000_000, description="steps if the scene has no timeline yet")
    step_seconds: float = PField(60.0, gt=0)
    product_mix: tuple[float, float, float] = (0.6, 0.3, 0.1)
    air_temperature_mean: float = PField(300.0, gt=0)
    torque_mean: float = PField(40.0, gt=0)
    torque_std: float = PField(10.0, ge=0)
    tool_life: tuple[float, float] = (200.0, 240.0)
    initial_wear: Union[float, Literal["random"]] = "random"

    @field_validator("product_mix")
    @classmethod
    def _mix(cls, v):
        if any(p < 0 for p in v) or sum(v) <= 0:
            raise ValueError("product_mix must be 3 non-negative weights for L, M, H")
        return v

    @field_validator("tool_life")
    @classmethod
    def _life(cls, v):
        if not 0 < v[0] <= v[1]:
            raise ValueError("tool_life must be [low, high] with 0 < low <= high")
        return v


class CsvSource(BaseModel):
    """Scene spec: sensor streams read from a CSV file (AI4I schema or mapped columns)."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["csv"] = "csv"
    path: str
    columns: dict[str, str] = PField(
        default_factory=dict, description="canonical name -> CSV column, e.g. {torque: 'M [Nm]'}"
    )
    machine_column: Optional[str] = None
    machine: Optional[Union[int, str]] = None
    time_column: Optional[str] = None
    step_seconds: float = PField(60.0, gt=0)
    sensors: Optional[list[str]] = PField(None, description="canonical names to attach (default: AI4I ones, else all numeric)")
    units: dict[str, str] = PField(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _canon(cls, v):
        from .scene import valid_name

        for k in v:
            try:
                valid_name(k)
            except InputError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _machine(self):
        if (self.machine is None) != (self.machine_column is None):
            raise ValueError("give both 'machine_column' and 'machine' (which rows belong to this asset), or neither")
        return self


#: A per-asset sensor source in a scene spec (``source: simulator`` or ``source: csv``).
SensorSource = Annotated[Union[SimulatorSource, CsvSource], PField(discriminator="source")]


def _asset_seed(seed: int, name: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode("utf-8"))])


def apply_sensor_source(
    asset: "Asset",
    source: SimulatorSource | CsvSource | Mapping[str, Any],
    *,
    times: np.ndarray | None = None,
    base_dir: str | os.PathLike = ".",
    csv_cache: dict[Path, pd.DataFrame] | None = None,
) -> np.ndarray:
    """Attach the sensor streams a spec section describes to ``asset``.

    Parameters
    ----------
    asset
        The machine.
    source
        A :class:`SimulatorSource` / :class:`CsvSource` (or the dict of one).
    times
        The scene timeline (seconds). The simulator runs one step per frame; CSV
        streams are resampled onto it. Without it, the source sets the timeline
        (simulator: ``steps`` x ``step_seconds``; CSV: its time column or row order).
    base_dir
        Folder that relative CSV paths are resolved against (the spec's folder).
    csv_cache
        Shared dict so several assets reading the same file parse it once.

    Returns
    -------
    numpy.ndarray
        The times the sensors were attached on.
    """
    if isinstance(source, Mapping):
        from pydantic import TypeAdapter, ValidationError

        try:
            source = TypeAdapter(SensorSource).validate_python(dict(source))
        except ValidationError as exc:
            raise InputError(f"asset {asset.name!r}: invalid sensor source: {exc.errors()[0]['msg']}") from None
    if isinstance(source, SimulatorSource):
        if times is None:
            steps = source.steps if source.steps is not None else 200
            t = np.arange(steps, dtype=np.float64) * source.step_seconds
        else:
            t = np.asarray(times, dtype=np.float64)
        table = simulate_ai4i(
            1,
            seed=_asset_seed(source.seed, asset.name),
            times=t,
            product_mix=source.product_mix,
            air_temperature_mean=source.air_temperature_mean,
            torque_mean=source.torque_mean,
            torque_std=source.torque_std,
            tool_life=source.tool_life,
            initial_wear=source.initial_wear,
        )
        attach_sensors(asset, table, t)
        asset.metadata["sensor_source"] = "simulator"
        return t
    if isinstance(source, CsvSource):
        path = Path(source.path)
        if not path.is_absolute():
            path = Path(base_dir) / path
        cache = csv_cache if csv_cache is not None else {}
        key = path.resolve()
        if key not in cache:
            cache[key] = read_sensor_csv(path, columns=source.columns or None)
        table = cache[key]
        streams = machine_streams(
            table, machine_column=source.machine_column, time_column=source.time_column,
            step_seconds=source.step_seconds,
        )
        if source.machine_column is not None:
            match = [k for k in streams if k == source.machine or str(k) == str(source.machine)]
            if not match:
                shown = list(streams)[:20]
                raise InputError(
                    f"{path}: no rows with {source.machine_column} = {source.machine!r} for asset {asset.name!r}; "
                    f"machines in the file: {shown}{' ...' if len(streams) > 20 else ''}"
                )
            src_t, rows = streams[match[0]]
        else:
            src_t, rows = streams[None]
        attach_sensors(asset, rows, src_t, new_times=times, names=source.sensors, units=source.units)
        asset.metadata["sensor_source"] = str(path)
        return src_t if times is None else np.asarray(times, dtype=np.float64)
    raise InputError(f"asset {asset.name!r}: unknown sensor source {source!r}")


def apply_sensor_sources(
    scene: "Scene",
    sources: Mapping[str, SimulatorSource | CsvSource | Mapping[str, Any]],
    *,
    times: np.ndarray | None = None,
    base_dir: str | os.PathLike = ".",
) -> np.ndarray | None:
    """Attach sensor streams to several assets (``{asset path or name: source}``).

    All assets share one timeline: ``times`` if given, else the scene's current
    timeline, else the first source's own times (later sources are resampled onto it).
    Returns the timeline used.
    """
    t = times if times is not None else scene.times
    cache: dict[Path, pd.DataFrame] = {}
    for key, src in sources.items():
        asset = scene.get(key)
        t = apply_sensor_source(asset, src, times=t, base_dir=base_dir, csv_cache=cache)
    return t
