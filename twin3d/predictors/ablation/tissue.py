"""Tissue and blood properties for the Pennes bioheat equation, with their sources.

:data:`TISSUES` maps an organ name (as label tables name it) to its :class:`Tissue`
(density, specific heat, thermal conductivity, blood perfusion rate) and
:data:`BLOOD` holds the blood properties of the perfusion term
``omega_b * rho_b * c_b * (T - T_a)``. Each value carries the key of its source in
:data:`SOURCES` (full references in ``docs/ablation.md``).

Only organs with values from a source are listed; give a :class:`Tissue` yourself for
any other organ (``tissue=Tissue(...)``, or ``tissue:`` in a spec).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ...errors import InputError

__all__ = ["BLOOD", "BODY_TEMPERATURE_C", "SOURCES", "TISSUES", "Blood", "Tissue", "tissue_for"]

#: Core body (and arterial blood) temperature, degC: the initial tissue temperature and
#: the temperature of blood in the vessels and in the perfusion term.
BODY_TEMPERATURE_C = 37.0

#: Reference keys -> short citations (full entries in docs/ablation.md).
SOURCES = {
    "tungjitkusolmun2002": (
        "Tungjitkusolmun S, Staelin ST, Haemmerich D, et al. Three-dimensional finite-element analyses for "
        "radio-frequency hepatic tumor ablation. IEEE Trans Biomed Eng. 2002;49(1):3-9"
    ),
    "chang2003": (
        "Chang I. Finite element analysis of hepatic radiofrequency ablation probes using temperature-dependent "
        "electrical conductivity. BioMedical Engineering OnLine. 2003;2:12"
    ),
}


def _check(owner: str, name: str, value: float, lo: float, hi: float, unit: str) -> float:
    v = float(value)
    if not (math.isfinite(v) and lo < v <= hi):
        raise InputError(f"{owner}: {name} must be in ({lo:g}, {hi:g}] {unit}, got {value!r}")
    return v


@dataclass(frozen=True)
class Tissue:
    """Thermal properties of one tissue (SI units).

    Attributes
    ----------
    name
        Organ name (``liver``).
    density
        rho [kg/m^3].
    specific_heat
        c [J/(kg K)].
    conductivity
        k [W/(m K)].
    perfusion
        Volumetric blood perfusion rate omega_b [1/s] (m^3 of blood per m^3 of tissue
        per second); the Pennes sink is ``omega_b * rho_b * c_b * (T - T_a)``.
    source
        Key of the reference in :data:`SOURCES` (``"user"`` for values given by hand).
    """

    name: str
    density: float
    specific_heat: float
    conductivity: float
    perfusion: float
    source: str = "user"

    def __post_init__(self) -> None:
        who = f"tissue {self.name!r}"
        object.__setattr__(self, "density", _check(who, "density", self.density, 100.0, 5000.0, "kg/m^3"))
        object.__setattr__(self, "specific_heat",
                           _check(who, "specific_heat", self.specific_heat, 100.0, 10000.0, "J/(kg K)"))
        object.__setattr__(self, "conductivity", _check(who, "conductivity", self.conductivity, 0.0, 10.0, "W/(m K)"))
        p = float(self.perfusion)
        if not (math.isfinite(p) and 0.0 <= p <= 0.1):
            raise InputError(f"{who}: perfusion must be in [0, 0.1] 1/s (omega_b, blood volume per tissue volume "
                             f"per second), got {self.perfusion!r}")
        object.__setattr__(self, "perfusion", p)

    @property
    def heat_capacity(self) -> float:
        """Volumetric heat capacity rho * c [J/(m^3 K)]."""
        return self.density * self.specific_heat

    @property
    def diffusivity(self) -> float:
        """Thermal diffusivity k / (rho c) [m^2/s]."""
        return self.conductivity / self.heat_capacity

    def perfusion_coefficient(self, blood: Blood) -> float:
        """omega_b * rho_b * c_b [W/(m^3 K)]: heat carried away per kelvin above blood temperature."""
        return self.perfusion * blood.density * blood.specific_heat

    def perfusion_length(self, blood: Blood) -> float:
        """L = sqrt(k / (omega_b rho_b c_b)) [m], the length over which perfusion damps a temperature rise."""
        c = self.perfusion_coefficient(blood)
        return math.inf if c == 0 else math.sqrt(self.conductivity / c)

    def with_values(self, **values: Any) -> Tissue:
        """A copy with some values replaced (source becomes ``"user"`` unless given)."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        values.setdefault("source", "user")
        return replace(self, **values)

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "density_kg_m3": self.density, "specific_heat_J_kgK": self.specific_heat,
                "conductivity_W_mK": self.conductivity, "perfusion_1_s": self.perfusion, "source": self.source}


@dataclass(frozen=True)
class Blood:
    """Blood properties of the Pennes perfusion term (SI units) and its temperature (degC)."""

    density: float = 1000.0
    specific_heat: float = 4180.0
    temperature_c: float = BODY_TEMPERATURE_C
    source: str = "chang2003"

    def __post_init__(self) -> None:
        _check("blood", "density", self.density, 100.0, 5000.0, "kg/m^3")
        _check("blood", "specific_heat", self.specific_heat, 100.0, 10000.0, "J/(kg K)")
        t = float(self.temperature_c)
        if not (math.isfinite(t) and 20.0 <= t <= 45.0):
            raise InputError(f"blood: temperature_c must be in [20, 45] degC, got {self.temperature_c!r}")


#: Organ name -> literature properties. Liver: rho, c, k as used by Tungjitkusolmun et al.
#: (2002); perfusion omega_b = 6.4e-3 1/s with blood rho_b = 1000 kg/m^3, c_b = 4180 J/(kg K)
#: as used by Chang (2003). Perfusion length sqrt(k / (omega_b rho_b c_b)) = 4.4 mm.
TISSUES: dict[str, Tissue] = {
    "liver": Tissue("liver", density=1060.0, specific_heat=3600.0, conductivity=0.512, perfusion=6.4e-3,
                    source="tungjitkusolmun2002+chang2003"),
}

#: Blood in the perfusion term and in the large vessels.
BLOOD = Blood()


def tissue_for(organ: str) -> Tissue:
    """The literature :class:`Tissue` of ``organ`` (error naming the organs that have values)."""
    try:
        return TISSUES[organ]
    except KeyError:
        raise InputError(
            f"no literature tissue properties for organ {organ!r}; organs with values: {sorted(TISSUES)}; "
            "give the properties yourself (tissue=Tissue(...) in Python, 'tissue:' in a spec)"
        ) from None
