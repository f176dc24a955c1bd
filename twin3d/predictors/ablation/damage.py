"""Thermal damage: CEM43 thermal dose and the Arrhenius damage integral.

Both are integrals over a temperature history ``T(t)`` (degC):

* **CEM43** (cumulative equivalent minutes at 43 degC; Sapareto and Dewey 1984):
  ``CEM43 = sum R^(43 - T) dt`` in minutes, with ``R = 0.5`` for ``T >= 43`` and
  ``R = 0.25`` below. Necrosis threshold: 240 min (a common choice for liver and
  other soft tissue; Dewhirst et al. 2003).
* **Arrhenius damage** ``Omega = integral A exp(-Ea / (R_gas T)) dt`` (``T`` in kelvin).
  ``Omega = 1`` is 63 % of cells dead (``1 - exp(-Omega)``); the lesion is
  ``Omega >= 1`` by default. Parameters (:data:`ARRHENIUS`): ``henriques`` (the default),
  Henriques and Moritz (1947), A = 3.1e98 1/s, Ea = 6.28e5 J/mol; ``liver``, A = 7.39e39
  1/s, Ea = 2.577e5 J/mol (Jacques et al. 1996, used in hepatic RF models). The liver set
  was fitted at coagulation temperatures and extrapolates badly below 50 degC: it gives
  Omega = 1 after 4.6 min at 45 degC and after about an hour at 37 degC (computed here),
  where the thermal-dose data (CEM43) need 60 min at 45 degC and nothing happens at
  37 degC; Henriques-Moritz gives Omega = 1 after 17 min at 50 degC, 4 min at 52 degC
  and 30 s at 55 degC, in line with the 50-52 degC for 4-6 min usually quoted for
  coagulation.

:class:`DamageIntegrator` accumulates both with the trapezoidal rule, one time step at
a time, so a solver never keeps the whole temperature history. Below ``floor_c``
(39 degC) the rates are taken as zero: CEM43 accrues less than 0.004 min per minute
there, and the baseline of an Arrhenius set extrapolated to body temperature is not
tissue damage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import InputError

__all__ = [
    "ARRHENIUS",
    "CEM43_NECROSIS_MIN",
    "CRITERIA",
    "DEFAULT_ARRHENIUS",
    "GAS_CONSTANT",
    "ArrheniusParameters",
    "DamageIntegrator",
    "arrhenius_damage",
    "arrhenius_rate",
    "cem43",
    "cem43_rate",
]

#: Molar gas constant [J/(mol K)].
GAS_CONSTANT = 8.314462618
#: CEM43 necrosis threshold [min] (soft tissue; Dewhirst et al. 2003).
CEM43_NECROSIS_MIN = 240.0
#: Lesion criteria: ``arrhenius`` (Omega >= threshold, default 1) or ``cem43`` (minutes >= threshold, default 240).
CRITERIA = {"arrhenius": 1.0, "cem43": CEM43_NECROSIS_MIN}


@dataclass(frozen=True)
class ArrheniusParameters:
    """Frequency factor ``A`` [1/s] and activation energy ``Ea`` [J/mol] of a damage process."""

    name: str
    frequency_factor: float
    activation_energy: float
    source: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.frequency_factor) and self.frequency_factor > 0):
            raise InputError(f"Arrhenius {self.name!r}: frequency_factor must be > 0 1/s, got {self.frequency_factor!r}")
        if not (math.isfinite(self.activation_energy) and self.activation_energy > 0):
            raise InputError(f"Arrhenius {self.name!r}: activation_energy must be > 0 J/mol, "
                             f"got {self.activation_energy!r}")


#: Named Arrhenius parameter sets (references in docs/ablation.md).
ARRHENIUS: dict[str, ArrheniusParameters] = {
    "henriques": ArrheniusParameters("henriques", 3.1e98, 6.28e5, "Henriques and Moritz 1947"),
    "liver": ArrheniusParameters("liver", 7.39e39, 2.577e5, "Jacques et al. 1996 (liver coagulation)"),
}
#: The Arrhenius set used unless another is asked for.
DEFAULT_ARRHENIUS = "henriques"


def _kelvin(t_c: np.ndarray) -> np.ndarray:
    return np.asarray(t_c, dtype=np.float64) + 273.15


def cem43_rate(t_c: np.ndarray) -> np.ndarray:
    """d(CEM43)/dt in minutes per second at temperature ``t_c`` (degC)."""
    t = np.asarray(t_c, dtype=np.float64)
    r = np.where(t >= 43.0, 0.5, 0.25)
    # cap the exponent: above ~120 degC the dose is astronomically large either way
    return np.power(r, 43.0 - np.minimum(t, 150.0)) / 60.0


def arrhenius_rate(t_c: np.ndarray, params: ArrheniusParameters | str = "henriques") -> np.ndarray:
    """d(Omega)/dt [1/s] at temperature ``t_c`` (degC)."""
    p = _params(params)
    expo = math.log(p.frequency_factor) - p.activation_energy / (GAS_CONSTANT * _kelvin(t_c))
    return np.exp(np.minimum(expo, 50.0))


def _params(params: ArrheniusParameters | str) -> ArrheniusParameters:
    if isinstance(params, ArrheniusParameters):
        return params
    try:
        return ARRHENIUS[params]
    except KeyError:
        raise InputError(f"unknown Arrhenius parameters {params!r}; valid: {sorted(ARRHENIUS)}") from None


def _integrate(rate: np.ndarray, times: np.ndarray) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64)
    if rate.shape[0] != t.size or t.size < 1:
        raise InputError(f"temperatures have {rate.shape[0]} time rows but {t.size} times were given")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise InputError("times must be strictly increasing")
    if t.size == 1:
        return np.zeros(rate.shape[1:])
    dt = np.diff(t).reshape((-1,) + (1,) * (rate.ndim - 1))
    return np.sum(0.5 * (rate[1:] + rate[:-1]) * dt, axis=0)


def cem43(temperatures_c: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """CEM43 [min] of temperature histories ``(T, ...)`` sampled at ``times_s`` (trapezoidal rule)."""
    return _integrate(cem43_rate(temperatures_c), times_s)


def arrhenius_damage(temperatures_c: np.ndarray, times_s: np.ndarray,
                     params: ArrheniusParameters | str = "henriques") -> np.ndarray:
    """Arrhenius damage Omega of temperature histories ``(T, ...)`` sampled at ``times_s``."""
    return _integrate(arrhenius_rate(temperatures_c, params), times_s)


class DamageIntegrator:
    """Accumulate CEM43, Omega and the peak temperature step by step (trapezoidal rule).

    Rates below ``floor_c`` count as zero (see the module docstring); only points above
    it are evaluated, which keeps a step cheap when most of the organ stays cool.

    >>> d = DamageIntegrator(np.full(3, 37.0))
    >>> d.step(np.array([37.0, 50.0, 60.0]), dt=1.0)
    """

    def __init__(self, initial_c: np.ndarray, params: ArrheniusParameters | str = DEFAULT_ARRHENIUS,
                 floor_c: float = 39.0) -> None:
        self.params = _params(params)
        self.floor_c = float(floor_c)
        t0 = np.asarray(initial_c, dtype=np.float64)
        self.cem43 = np.zeros_like(t0)
        self.omega = np.zeros_like(t0)
        self._last_cem = np.zeros_like(t0)
        self._last_arr = np.zeros_like(t0)
        hot = t0 > self.floor_c
        self._last_cem[hot] = cem43_rate(t0[hot])
        self._last_arr[hot] = arrhenius_rate(t0[hot], self.params)
        self.max_temperature = t0.copy()

    def step(self, temperature_c: np.ndarray, dt: float) -> None:
        """Add the interval of length ``dt`` [s] ending at ``temperature_c``."""
        t = np.asarray(temperature_c, dtype=np.float64)
        hot = np.nonzero(t > self.floor_c)[0]
        was = np.nonzero(self._last_cem)[0]
        idx = np.union1d(hot, was)
        if idx.size:
            th = t[idx]
            cem = np.where(th > self.floor_c, cem43_rate(th), 0.0)
            arr = np.where(th > self.floor_c, arrhenius_rate(th, self.params), 0.0)
            self.cem43[idx] += 0.5 * dt * (cem + self._last_cem[idx])
            self.omega[idx] += 0.5 * dt * (arr + self._last_arr[idx])
            self._last_cem[idx] = cem
            self._last_arr[idx] = arr
        np.maximum(self.max_temperature, t, out=self.max_temperature)

    def lesion(self, criterion: str = "arrhenius", threshold: float | None = None) -> np.ndarray:
        """Boolean mask of ablated points (``Omega >= 1`` or ``CEM43 >= 240 min`` by default)."""
        if criterion not in CRITERIA:
            raise InputError(f"unknown lesion criterion {criterion!r}; valid: {sorted(CRITERIA)}")
        thr = CRITERIA[criterion] if threshold is None else float(threshold)
        if not (math.isfinite(thr) and thr > 0):
            raise InputError(f"lesion threshold must be a positive number, got {threshold!r}")
        return (self.omega if criterion == "arrhenius" else self.cem43) >= thr
