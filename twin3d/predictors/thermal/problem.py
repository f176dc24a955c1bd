"""Heat-equation problems on parametric part domains.

A :class:`HeatProblem` declares the transient heat equation

.. math:: \\partial_t u = \\alpha \\nabla^2 u + q / (\\rho c_p)

on a rod, plate, box or (axisymmetric) cylinder, with Dirichlet, Neumann (heat flux)
and convective (Robin) boundaries, an initial condition and an optional uniform heat
source, in physical units: metres, seconds, degC or K, W.

All models are pydantic models with ``extra="forbid"``; constructing one with bad
values (negative diffusivity, an empty domain, a fixed boundary temperature that
contradicts the initial temperature, a face the domain does not have...) raises
:class:`~twin3d.errors.InputError` naming the field and what would be valid. The same
models validate the ``thermal`` section of a scene spec.

Coordinates
-----------
Rod: ``x`` in ``[0, length]``. Plate: ``(x, y)`` in ``[0, Lx] x [0, Ly]``. Box:
``(x, y, z)`` in ``[0, Lx] x [0, Ly] x [0, Lz]``. Cylinder: axis along ``z`` through
``x = y = 0``, ``z`` in ``[0, length]``, ``inner_radius <= r <= radius``; conditions
are uniform on each face, so the solution is axisymmetric, ``u(r, z, t)``.

Faces: rod ``x0, x1``; plate ``x0, x1, y0, y1``; box ``x0 ... z1``; cylinder ``side``
(``r = radius``), ``inner`` (hollow only), ``bottom`` (``z = 0``), ``top``
(``z = length``). Faces not listed in ``boundaries`` are insulated (zero flux); the
key ``"all"`` sets every face not named explicitly.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ...errors import InputError

__all__ = [
    "Rod",
    "Plate",
    "Box",
    "Cylinder",
    "Geometry",
    "Material",
    "Dirichlet",
    "Neumann",
    "Convection",
    "Boundary",
    "ConstantInitial",
    "ModeInitial",
    "Initial",
    "Source",
    "HeatProblem",
    "Face",
    "PRESETS",
    "preset_problem",
]


# --------------------------------------------------------------------------- errors
def _flatten(err: ValidationError, prefix: tuple = ()) -> list[tuple[str, str]]:
    """(location, message) pairs; nested twin3d errors are merged, not re-wrapped."""
    out: list[tuple[str, str]] = []
    for e in err.errors(include_url=False):
        loc = prefix + tuple(str(p) for p in e.get("loc", ()))
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, InputError) and getattr(cause, "details", None):
            out.extend(((".".join(loc + (sub,)) if sub else ".".join(loc)), msg) for sub, msg in cause.details)
            continue
        msg = str(cause) if cause is not None else e.get("msg", "invalid")
        out.append((".".join(loc), msg))
    return out


class _Model(BaseModel):
    """Frozen, strict-keys pydantic model whose validation errors are InputErrors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            details = _flatten(exc)
            text = "; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in details)
            err = InputError(f"invalid {type(self).__name__}: {text}")
            err.details = [(loc, msg) for loc, msg in details]  # type: ignore[attr-defined]
            raise err from None


def _finite(name: str, v: float) -> float:
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    return v


def _positive(name: str, v: float, unit: str) -> float:
    _finite(name, v)
    if not v > 0:
        raise ValueError(f"{name} must be > 0 {unit}, got {v!r}")
    return v


# --------------------------------------------------------------------------- faces
class Face:
    """A boundary face in the solver's unit coordinates.

    ``axis`` indexes the unit coordinates, ``at`` is the unit coordinate of the face,
    ``lo``/``hi`` the range of that coordinate, ``length`` the physical length scale
    used to make conditions dimensionless and ``normal`` the factor such that
    ``length * du/dn = normal * dU * dv/d(unit axis)`` at the face.
    """

    __slots__ = ("name", "axis", "at", "lo", "hi", "length", "normal")

    def __init__(self, name: str, axis: int, at: float, lo: float, hi: float, length: float, normal: float):
        self.name, self.axis, self.at, self.lo, self.hi = name, axis, at, lo, hi
        self.length, self.normal = length, normal

    def distance(self, unit: np.ndarray) -> np.ndarray:
        """Normalised distance to the face (0 on it, 1 on the opposite face)."""
        c = unit[:, self.axis]
        span = self.hi - self.lo
        return (c - self.lo) / span if self.at == self.lo else (self.hi - c) / span

    def distance_slope(self) -> float:
        """d(distance)/d(unit axis coordinate)."""
        span = self.hi - self.lo
        return 1.0 / span if self.at == self.lo else -1.0 / span

    def __repr__(self) -> str:
        return f"Face({self.name!r}, axis={self.axis}, at={self.at})"


# --------------------------------------------------------------------------- geometry
class _Geometry(_Model):
    #: number of physical coordinates a point has (x / x,y / x,y,z)
    spatial_dims: ClassVar[int] = 0
    #: number of solver (unit) coordinates
    unit_dims: ClassVar[int] = 0

    def face_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.faces())

    def faces(self) -> tuple[Face, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def bounds(self) -> np.ndarray:  # pragma: no cover - abstract
        """(spatial_dims, 2) physical bounding box."""
        raise NotImplementedError

    def to_unit(self, points: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def unit_bounds(self) -> np.ndarray:
        """(unit_dims, 2) ranges of the unit coordinates."""
        return np.array([[0.0, 1.0]] * self.unit_dims)

    def inside(self, points: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
        """Boolean mask of points inside the domain (with a small tolerance)."""
        u = self.to_unit(points)
        b = self.unit_bounds()
        tol = rtol * (b[:, 1] - b[:, 0])
        return np.all((u >= b[:, 0] - tol) & (u <= b[:, 1] + tol), axis=1)

    def clip(self, points: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Project points onto the closest point of the domain."""
        raise NotImplementedError

    @property
    def measure(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


class _Cartesian(_Geometry):
    def lengths(self) -> tuple[float, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def faces(self) -> tuple[Face, ...]:
        out = []
        for i, (ax, L) in enumerate(zip("xyz", self.lengths())):
            out.append(Face(f"{ax}0", i, 0.0, 0.0, 1.0, L, -1.0))
            out.append(Face(f"{ax}1", i, 1.0, 0.0, 1.0, L, 1.0))
        return tuple(out)

    def bounds(self) -> np.ndarray:
        return np.array([[0.0, L] for L in self.lengths()])

    def to_unit(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) / np.asarray(self.lengths())

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        return np.asarray(unit, dtype=np.float64) * np.asarray(self.lengths())

    def clip(self, points: np.ndarray) -> np.ndarray:
        b = self.bounds()
        return np.clip(points, b[:, 0], b[:, 1])

    @property
    def measure(self) -> float:
        return float(np.prod(self.lengths()))


class Rod(_Cartesian):
    """A 1D rod ``0 <= x <= length`` [m] (lateral surface insulated)."""

    kind: Literal["rod"] = "rod"
    length: float = 1.0
    spatial_dims: ClassVar[int] = 1
    unit_dims: ClassVar[int] = 1

    @field_validator("length")
    @classmethod
    def _check(cls, v: float) -> float:
        return _positive("length", v, "m (an empty rod has no domain)")

    def lengths(self) -> tuple[float, ...]:
        return (self.length,)


class Plate(_Cartesian):
    """A 2D plate ``[0, Lx] x [0, Ly]`` [m] (faces insulated in the thickness)."""

    kind: Literal["plate"] = "plate"
    size: tuple[float, float] = (1.0, 1.0)
    spatial_dims: ClassVar[int] = 2
    unit_dims: ClassVar[int] = 2

    @field_validator("size")
    @classmethod
    def _check(cls, v: tuple[float, float]) -> tuple[float, float]:
        for name, s in zip("xy", v):
            _positive(f"size[{name}]", s, "m (an empty plate has no domain)")
        return v

    def lengths(self) -> tuple[float, ...]:
        return tuple(self.size)


class Box(_Cartesian):
    """A 3D box ``[0, Lx] x [0, Ly] x [0, Lz]`` [m]."""

    kind: Literal["box"] = "box"
    size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    spatial_dims: ClassVar[int] = 3
    unit_dims: ClassVar[int] = 3

    @field_validator("size")
    @classmethod
    def _check(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        for name, s in zip("xyz", v):
            _positive(f"size[{name}]", s, "m (an empty box has no domain)")
        return v

    def lengths(self) -> tuple[float, ...]:
        return tuple(self.size)


class Cylinder(_Geometry):
    """A solid or hollow cylinder, axis along ``z`` through the origin, ``0 <= z <= length``.

    The solver works in ``(s, z)`` with ``s = (r / radius)^2``: the axisymmetric
    Laplacian ``u_rr + u_r / r + u_zz`` becomes ``(4 / R^2)(u_s + s u_ss) + u_zz``,
    which has no singularity on the axis.
    """

    kind: Literal["cylinder"] = "cylinder"
    radius: float = 0.2
    length: float = 0.56
    inner_radius: float = 0.0
    spatial_dims: ClassVar[int] = 3
    unit_dims: ClassVar[int] = 2

    @field_validator("radius", "length")
    @classmethod
    def _check(cls, v: float, info) -> float:
        return _positive(info.field_name, v, "m (an empty cylinder has no domain)")

    @model_validator(mode="after")
    def _inner(self) -> "Cylinder":
        _finite("inner_radius", self.inner_radius)
        if not 0.0 <= self.inner_radius < self.radius:
            raise ValueError(
                f"inner_radius must satisfy 0 <= inner_radius < radius = {self.radius} m, got "
                f"{self.inner_radius} (inner_radius >= radius leaves an empty domain)"
            )
        return self

    @property
    def s_inner(self) -> float:
        return (self.inner_radius / self.radius) ** 2

    def faces(self) -> tuple[Face, ...]:
        s0 = self.s_inner
        out = [Face("side", 0, 1.0, s0, 1.0, self.radius, 2.0)]
        if self.inner_radius > 0:
            out.append(Face("inner", 0, s0, s0, 1.0, self.radius, -2.0 * self.inner_radius / self.radius))
        out.append(Face("bottom", 1, 0.0, 0.0, 1.0, self.length, -1.0))
        out.append(Face("top", 1, 1.0, 0.0, 1.0, self.length, 1.0))
        return tuple(out)

    def unit_bounds(self) -> np.ndarray:
        return np.array([[self.s_inner, 1.0], [0.0, 1.0]])

    def bounds(self) -> np.ndarray:
        R = self.radius
        return np.array([[-R, R], [-R, R], [0.0, self.length]])

    def to_unit(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=np.float64)
        s = (p[:, 0] ** 2 + p[:, 1] ** 2) / self.radius**2
        return np.stack([s, p[:, 2] / self.length], axis=1)

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """Points on the ``y = 0`` half-plane for unit coordinates ``(s, z)``."""
        u = np.asarray(unit, dtype=np.float64)
        r = np.sqrt(np.clip(u[:, 0], 0.0, None)) * self.radius
        return np.stack([r, np.zeros_like(r), u[:, 1] * self.length], axis=1)

    def clip(self, points: np.ndarray) -> np.ndarray:
        p = np.array(points, dtype=np.float64, copy=True)
        r = np.hypot(p[:, 0], p[:, 1])
        target = np.clip(r, self.inner_radius, self.radius)
        scale = np.divide(target, r, out=np.ones_like(r), where=r > 0)
        p[:, 0] *= scale
        p[:, 1] *= scale
        if self.inner_radius > 0:  # points on the axis of a hollow cylinder
            on_axis = r == 0
            p[on_axis, 0] = self.inner_radius
        p[:, 2] = np.clip(p[:, 2], 0.0, self.length)
        return p

    @property
    def measure(self) -> float:
        return float(np.pi * (self.radius**2 - self.inner_radius**2) * self.length)


Geometry = Annotated[Union[Rod, Plate, Box, Cylinder], Field(discriminator="kind")]


# --------------------------------------------------------------------------- material
class Material(_Model):
    """Thermal properties.

    Give ``diffusivity`` [m^2/s] alone (enough for problems with only fixed
    temperatures), or ``conductivity`` [W/(m K)], ``density`` [kg/m^3] and
    ``specific_heat`` [J/(kg K)] (needed for heat fluxes, convection and sources).
    ``diffusivity`` plus ``conductivity`` is also enough.
    """

    diffusivity: float | None = None
    conductivity: float | None = None
    density: float | None = None
    specific_heat: float | None = None

    @model_validator(mode="after")
    def _check(self) -> "Material":
        units = {
            "diffusivity": "m^2/s",
            "conductivity": "W/(m K)",
            "density": "kg/m^3",
            "specific_heat": "J/(kg K)",
        }
        for name, unit in units.items():
            v = getattr(self, name)
            if v is not None:
                _positive(name, v, unit)
        trio = (self.conductivity, self.density, self.specific_heat)
        if self.diffusivity is None:
            if any(v is None for v in trio):
                raise ValueError(
                    "give diffusivity [m^2/s], or conductivity, density and specific_heat "
                    "(diffusivity = conductivity / (density * specific_heat))"
                )
        elif all(v is not None for v in trio):
            alpha = trio[0] / (trio[1] * trio[2])
            if not math.isclose(alpha, self.diffusivity, rel_tol=1e-6):
                raise ValueError(
                    f"inconsistent properties: diffusivity {self.diffusivity} m^2/s but conductivity / "
                    f"(density * specific_heat) = {alpha:.6g} m^2/s; give one or make them agree"
                )
        elif self.density is not None or self.specific_heat is not None:
            raise ValueError("density and specific_heat need conductivity (or drop them and give diffusivity)")
        return self

    @property
    def alpha(self) -> float:
        """Thermal diffusivity [m^2/s]."""
        if self.diffusivity is not None:
            return float(self.diffusivity)
        return float(self.conductivity / (self.density * self.specific_heat))  # type: ignore[operator]

    @property
    def heat_capacity(self) -> float | None:
        """Volumetric heat capacity rho * c_p [J/(m^3 K)], or None without conductivity."""
        if self.conductivity is None:
            return None
        return float(self.conductivity / self.alpha)


# --------------------------------------------------------------------------- conditions
class Dirichlet(_Model):
    """Fixed temperature on a face (in the problem's temperature unit)."""

    kind: Literal["dirichlet"] = "dirichlet"
    temperature: float

    @field_validator("temperature")
    @classmethod
    def _check(cls, v: float) -> float:
        return _finite("temperature", v)


class Neumann(_Model):
    """Prescribed heat flux into the body [W/m^2]; ``flux=0`` is an insulated face."""

    kind: Literal["neumann"] = "neumann"
    flux: float = 0.0

    @field_validator("flux")
    @classmethod
    def _check(cls, v: float) -> float:
        return _finite("flux", v)


class Convection(_Model):
    """Convective (Robin) face: ``-k du/dn = h (u - ambient)``, ``h`` in W/(m^2 K)."""

    kind: Literal["convection"] = "convection"
    h: float
    ambient: float

    @field_validator("h")
    @classmethod
    def _check_h(cls, v: float) -> float:
        return _positive("h", v, "W/(m^2 K)")

    @field_validator("ambient")
    @classmethod
    def _check_amb(cls, v: float) -> float:
        return _finite("ambient", v)


Boundary = Annotated[Union[Dirichlet, Neumann, Convection], Field(discriminator="kind")]

INSULATED = Neumann(flux=0.0)


class ConstantInitial(_Model):
    """Uniform initial temperature."""

    kind: Literal["constant"] = "constant"
    temperature: float

    @field_validator("temperature")
    @classmethod
    def _check(cls, v: float) -> float:
        return _finite("temperature", v)


class ModeInitial(_Model):
    """``offset + amplitude * prod_i phi_i``: one eigenmode of the problem's boundaries.

    Along each axis ``phi`` is the eigenfunction number ``modes[i]`` that satisfies the
    (homogeneous) conditions on that axis' two faces: ``sin(m pi x / L)`` between two
    fixed faces, ``cos(m pi x / L)`` between two insulated ones, ``sin((m - 1/2) pi x / L)``
    or ``cos(...)`` for one of each. On a solid cylinder the radial factor is the Bessel
    function ``J0(lambda_m r / R)``. Such an initial condition has an exact separable
    solution, used as the analytic reference.
    """

    kind: Literal["mode"] = "mode"
    amplitude: float = 1.0
    modes: tuple[int, ...] = (1,)
    offset: float = 0.0

    @model_validator(mode="after")
    def _check(self) -> "ModeInitial":
        _finite("amplitude", self.amplitude)
        _finite("offset", self.offset)
        if not self.modes:
            raise ValueError("modes must list one mode number per axis")
        if any(m < 0 for m in self.modes):
            raise ValueError(f"mode numbers must be >= 0, got {self.modes}")
        return self


Initial = Annotated[Union[ConstantInitial, ModeInitial], Field(discriminator="kind")]


class Source(_Model):
    """Uniform volumetric heat source, given as ``power_density`` [W/m^3] or total ``power`` [W]."""

    power_density: float | None = None
    power: float | None = None

    @model_validator(mode="after")
    def _check(self) -> "Source":
        if (self.power_density is None) == (self.power is None):
            raise ValueError("give exactly one of power_density [W/m^3] or power [W]")
        v = self.power_density if self.power_density is not None else self.power
        _finite("power_density" if self.power is None else "power", v)  # type: ignore[arg-type]
        return self


# --------------------------------------------------------------------------- problem
class HeatProblem(_Model):
    """A transient heat-conduction problem (see the module docstring for conventions).

    Parameters
    ----------
    geometry
        :class:`Rod`, :class:`Plate`, :class:`Box` or :class:`Cylinder`.
    material
        :class:`Material` (diffusivity, or conductivity/density/specific heat).
    t_end
        End of the simulated time span [s] (the span is ``[0, t_end]``).
    initial
        :class:`ConstantInitial` or :class:`ModeInitial`.
    boundaries
        Face name -> :class:`Dirichlet` / :class:`Neumann` / :class:`Convection`;
        ``"all"`` applies to faces not named; unnamed faces are insulated.
    source
        Optional uniform :class:`Source`.
    temperature_unit
        ``"degC"`` (default) or ``"K"``; all temperatures are in this unit.
    name
        A label (used in reports and file metadata).
    """

    name: str = "heat"
    geometry: Geometry
    material: Material
    t_end: float
    initial: Initial
    boundaries: dict[str, Boundary] = Field(default_factory=dict)
    source: Source | None = None
    temperature_unit: Literal["degC", "K"] = "degC"

    @field_validator("t_end")
    @classmethod
    def _check_t(cls, v: float) -> float:
        return _positive("t_end", v, "s (the time span [0, t_end] would be empty)")

    @model_validator(mode="after")
    def _check_all(self) -> "HeatProblem":
        faces = self.geometry.face_names()
        unknown = sorted(set(self.boundaries) - set(faces) - {"all"})
        if unknown:
            raise ValueError(
                f"boundaries: unknown face(s) {unknown} for a {self.geometry.kind}; valid faces: "
                f"{list(faces)} (or 'all')"
            )
        bcs = self.resolved_boundaries()
        k = self.material.conductivity
        needs_k = [f for f, bc in bcs.items() if isinstance(bc, Convection) or (isinstance(bc, Neumann) and bc.flux != 0)]
        if k is None and (needs_k or self.source is not None):
            what = f"faces {needs_k}" if needs_k else "the heat source"
            raise ValueError(
                f"material: {what} need conductivity [W/(m K)] (and hence density and specific heat) "
                "to turn W into kelvin; give conductivity with diffusivity, or conductivity, density "
                "and specific_heat"
            )
        if self.source is not None and self.source.power is not None and self.geometry.kind in ("rod", "plate"):
            raise ValueError(
                f"source: a total power [W] needs a 3D body; give power_density [W/m^3] for a {self.geometry.kind}"
            )
        # temperatures in kelvin cannot be negative
        if self.temperature_unit == "K":
            temps = [("initial", self.base_temperature)]
            temps += [(f"boundaries.{f}", bc.temperature) for f, bc in bcs.items() if isinstance(bc, Dirichlet)]
            temps += [(f"boundaries.{f}.ambient", bc.ambient) for f, bc in bcs.items() if isinstance(bc, Convection)]
            for where, t in temps:
                if t < 0:
                    raise ValueError(f"{where}: {t} K is below absolute zero")
        ic = self.initial
        if isinstance(ic, ModeInitial):
            self._check_mode(ic, bcs)
        else:
            for f, bc in bcs.items():
                if isinstance(bc, Dirichlet) and not math.isclose(bc.temperature, ic.temperature, rel_tol=1e-9, abs_tol=1e-9):
                    raise ValueError(
                        f"inconsistent conditions: face {f!r} is held at {bc.temperature} {self.temperature_unit} but "
                        f"the initial temperature is {ic.temperature} {self.temperature_unit}; a jump at t = 0 has no "
                        "smooth solution - make them equal, or use a convection boundary (h, ambient) instead"
                    )
        return self

    def _check_mode(self, ic: ModeInitial, bcs: dict[str, Any]) -> None:
        g = self.geometry
        if len(ic.modes) != g.unit_dims:
            axes = "(r, z)" if isinstance(g, Cylinder) else "(" + ", ".join("xyz"[: g.unit_dims]) + ")"
            raise ValueError(f"initial.modes needs {g.unit_dims} mode number(s) {axes} for a {g.kind}, got {ic.modes}")
        if isinstance(g, Cylinder) and g.inner_radius > 0:
            raise ValueError("initial: a mode initial condition needs a solid cylinder (inner_radius = 0); use a constant")
        for f, bc in bcs.items():
            if isinstance(bc, Convection):
                raise ValueError(
                    f"inconsistent conditions: a mode initial condition is an eigenmode of fixed/insulated faces, but "
                    f"face {f!r} is convective; use a constant initial temperature"
                )
            if isinstance(bc, Neumann) and bc.flux != 0:
                raise ValueError(
                    f"inconsistent conditions: a mode initial condition needs insulated faces (flux 0), face {f!r} has "
                    f"flux {bc.flux} W/m^2; use a constant initial temperature"
                )
            if isinstance(bc, Dirichlet) and not math.isclose(bc.temperature, ic.offset, rel_tol=1e-9, abs_tol=1e-9):
                raise ValueError(
                    f"inconsistent conditions: face {f!r} is held at {bc.temperature} {self.temperature_unit} but the "
                    f"mode initial condition is {ic.offset} (its offset) on that face; make them equal"
                )
        if self.source is not None:
            raise ValueError("inconsistent conditions: a mode initial condition has no heat source; remove source")
        for axis, m in enumerate(ic.modes):
            kinds = self.axis_kinds(axis, bcs)
            if isinstance(g, Cylinder) and axis == 0:
                if kinds[0] == "D" and m < 1:
                    raise ValueError("initial.modes[0] (radial) must be >= 1 with a fixed-temperature side face")
            elif kinds == ("D", "D") and m < 1:
                raise ValueError(f"initial.modes[{axis}] must be >= 1 between two fixed-temperature faces")
            elif kinds in (("D", "N"), ("N", "D")) and m < 1:
                raise ValueError(f"initial.modes[{axis}] must be >= 1 between a fixed and an insulated face")

    # -- helpers -------------------------------------------------------------------
    def resolved_boundaries(self) -> dict[str, Dirichlet | Neumann | Convection]:
        """Every face's condition (explicit, else ``"all"``, else insulated)."""
        default = self.boundaries.get("all", INSULATED)
        return {f: self.boundaries.get(f, default) for f in self.geometry.face_names()}

    def axis_kinds(self, axis: int, bcs: dict | None = None) -> tuple[str, ...]:
        """Condition kinds ('D'/'N'/'R') on the faces of unit axis ``axis`` (low face first)."""
        bcs = bcs if bcs is not None else self.resolved_boundaries()
        letter = {"dirichlet": "D", "neumann": "N", "convection": "R"}
        faces = [f for f in self.geometry.faces() if f.axis == axis]
        faces.sort(key=lambda f: f.at)
        if isinstance(self.geometry, Cylinder) and axis == 0 and len(faces) == 1:
            return (letter[bcs[faces[0].name].kind],)
        return tuple(letter[bcs[f.name].kind] for f in faces)

    @property
    def alpha(self) -> float:
        return self.material.alpha

    @property
    def base_temperature(self) -> float:
        """The temperature the solution is measured from (initial constant or mode offset)."""
        ic = self.initial
        return float(ic.temperature if isinstance(ic, ConstantInitial) else ic.offset)

    @property
    def source_rate(self) -> float:
        """Heating rate of the source, q / (rho c_p) [K/s] (0 without a source)."""
        if self.source is None:
            return 0.0
        q = self.source.power_density
        if q is None:
            q = self.source.power / self.geometry.measure  # type: ignore[operator]
        return float(q / self.material.heat_capacity)  # type: ignore[operator]

    @property
    def temperature_scale(self) -> float:
        """A typical temperature change [unit], used to scale the network output."""
        T0 = self.base_temperature
        cands = [0.0]
        if isinstance(self.initial, ModeInitial):
            cands.append(abs(self.initial.amplitude))
        k = self.material.conductivity
        for bc in self.resolved_boundaries().values():
            if isinstance(bc, Dirichlet):
                cands.append(abs(bc.temperature - T0))
            elif isinstance(bc, Convection):
                cands.append(abs(bc.ambient - T0))
            elif bc.flux != 0:
                # surface rise of a semi-infinite body under a constant flux
                cands.append(2.0 * abs(bc.flux) * math.sqrt(self.alpha * self.t_end / math.pi) / k)  # type: ignore[operator]
        cands.append(abs(self.source_rate) * self.t_end)
        scale = max(cands)
        return scale if scale > 0 else 1.0

    @property
    def has_analytic(self) -> bool:
        """Whether an exact separable solution exists (a mode initial condition)."""
        return isinstance(self.initial, ModeInitial)

    @property
    def ambient_shift_ok(self) -> bool:
        """True if all prescribed temperatures equal the initial one (uniform ambient).

        The heat equation is linear, so the solution of such a problem for another
        ambient temperature ``T_a`` is the solution plus ``T_a - base_temperature``;
        this is how a process-temperature sensor drives a trained field.
        """
        if not isinstance(self.initial, ConstantInitial):
            return False
        T0 = self.initial.temperature
        for bc in self.resolved_boundaries().values():
            if isinstance(bc, Dirichlet) and bc.temperature != T0:
                return False
            if isinstance(bc, Convection) and bc.ambient != T0:
                return False
        return True

    def to_json_dict(self) -> dict:
        """A JSON-serialisable dict that :meth:`model_validate` reads back."""
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------- presets
def _rod() -> HeatProblem:
    # DeepXDE's heat example: u_t = 0.4 u_xx on [0, 1] x [0, 1], u(x, 0) = sin(pi x), zero ends.
    return HeatProblem(
        name="rod",
        geometry=Rod(length=1.0),
        material=Material(diffusivity=0.4),
        t_end=1.0,
        initial=ModeInitial(amplitude=1.0, modes=(1,), offset=0.0),
        boundaries={"all": Dirichlet(temperature=0.0)},
    )


def _plate() -> HeatProblem:
    return HeatProblem(
        name="plate",
        geometry=Plate(size=(1.0, 1.0)),
        material=Material(diffusivity=0.1),
        t_end=1.0,
        initial=ModeInitial(amplitude=1.0, modes=(1, 1), offset=0.0),
        boundaries={"all": Dirichlet(temperature=0.0)},
    )


def _box() -> HeatProblem:
    return HeatProblem(
        name="box",
        geometry=Box(size=(1.0, 1.0, 1.0)),
        material=Material(diffusivity=0.05),
        t_end=1.0,
        initial=ModeInitial(amplitude=1.0, modes=(1, 1, 1), offset=0.0),
        boundaries={"all": Dirichlet(temperature=0.0)},
    )


def _cylinder() -> HeatProblem:
    # The housing of twin3d's default electric motor (radius 0.2 m, housing 0.56 m long)
    # as a lumped solid: 1.5 kW of losses heat it from 25 degC for one hour; the fins
    # shed heat to 25 degC air, the fan end (z = 0) is blown harder, the drive-end
    # flange (z = length) is insulated.
    return HeatProblem(
        name="cylinder",
        geometry=Cylinder(radius=0.2, length=0.56),
        material=Material(conductivity=25.0, density=6000.0, specific_heat=500.0),
        t_end=3600.0,
        initial=ConstantInitial(temperature=25.0),
        boundaries={
            "side": Convection(h=25.0, ambient=25.0),
            "bottom": Convection(h=80.0, ambient=25.0),
            "top": Neumann(flux=0.0),
        },
        source=Source(power=1500.0),
    )


PRESETS = {"rod": _rod, "plate": _plate, "box": _box, "cylinder": _cylinder}


def preset_problem(name: str) -> HeatProblem:
    """A ready-made problem: ``rod``, ``plate``, ``box`` or ``cylinder`` (motor housing).

    ``rod``/``plate``/``box`` are unit domains with zero-temperature faces and the first
    sine mode as initial condition (analytic solutions; ``rod`` is DeepXDE's heat
    example). ``cylinder`` is an electric-motor housing heated by its losses and cooled
    by convection (reference: finite volumes).
    """
    try:
        return PRESETS[name]()
    except KeyError:
        raise InputError(f"unknown thermal problem {name!r}; valid: {sorted(PRESETS)}") from None
