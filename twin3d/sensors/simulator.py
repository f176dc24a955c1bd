"""The AI4I 2020 process simulator: seeded sensor streams with the published failure rules.

:func:`simulate_ai4i` generates the AI4I 2020 process (S. Matzka, 2020; UCI data set
#601) for any number of machines and steps: product types, temperature random walks,
torque and speed, tool wear with replacements, and the five documented failure modes.
:func:`to_ai4i_schema` renames a table to the AI4I headers (for AI4I-style CSV files).

The failure rules below belong to the *simulated process*; the risk model never sees
them, it learns its thresholds from data.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .schema import AI4I_COLUMNS, AI4I_LABELS, PRODUCT_TYPES

__all__ = ["simulate_ai4i", "to_ai4i_schema", "BYTES_PER_SIMULATED_ROW", "check_seed"]

#: Peak memory of :func:`simulate_ai4i` per row (machine x step), measured: about 240 B
#: (float64 random walks, wear, failure flags and the table it returns).
BYTES_PER_SIMULATED_ROW = 240

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


def _positive_int(v: Any, name: str) -> int:
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive integer, got {v!r}") from None
    if iv != v or iv < 1:
        raise InputError(f"{name} must be a positive integer, got {v!r}")
    return iv


def check_seed(seed: Any, what: str = "seed") -> Any:
    """``seed`` if NumPy can seed a generator with it (an integer >= 0, or a SeedSequence),
    else :class:`~twin3d.errors.InputError`."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"{what} must be an integer >= 0, got {seed!r}")
    return int(seed)


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
        t = None
    seed = check_seed(seed)
    from ..budgets import check_memory

    check_memory(float(n_machines) * n_steps * BYTES_PER_SIMULATED_ROW, "simulating AI4I sensor data",
                 detail=f"{n_machines:,} machine(s) x {n_steps:,} steps x {BYTES_PER_SIMULATED_ROW} B")
    if t is None:
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
