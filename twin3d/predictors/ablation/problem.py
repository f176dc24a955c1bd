"""The Pennes bioheat problem of a thermal ablation in one organ of a label map.

.. math::

    \\rho c \\, \\partial_t T = \\nabla \\cdot (k \\nabla T) - \\omega_b \\rho_b c_b (T - T_a) + Q(x, t)

in the organ taken from a label map (any voxel grid and affine, RAS millimetres), with

* **tissue** properties from :mod:`.tissue` (literature values per organ);
* **large vessels** found by name in the label table (aorta, inferior vena cava, portal
  and splenic vein, hepatic vessels where present) held at blood temperature ``T_a``:
  every organ voxel face shared with a vessel voxel is a Dirichlet face (or a wall with
  a finite heat-transfer coefficient, ``vessel_wall_h``);
* the organ **surface** insulated (default) or convective (``Surface("convective", h)``);
* where the computational box cuts through the organ (the crop around the target, or
  the edge of the scan) the organ is held at body temperature (far field);
* the **source** an :class:`Applicator` at a target point and direction depositing its
  power ``P`` [W] for ``duration_s`` as a documented power-density pattern: an
  axisymmetric Gaussian ellipsoid centred on the target,
  ``Q = P / ((2 pi)^(3/2) s_r^2 s_a) exp(-r^2 / (2 s_r^2) - z^2 / (2 s_a^2))`` (``z``
  along the applicator, ``r`` across it), or a uniform ball of radius ``a``
  (``Q = 3 P / (4 pi a^3)``, used for verification against the closed form).

The computational grid keeps the label map's voxel axes; it can be cropped to a box of
``margin_mm`` around the target and resampled to ``spacing_mm`` (labels resampled by
interpolating each class indicator linearly and taking the largest, so boundaries are
smoother than nearest-neighbour copies of coarse voxels).

Everything a solver needs is exposed in physical units so that the finite-volume
reference (:mod:`.reference`) and a network solver can share the problem: the voxel
codes (:attr:`AblationProblem.codes`), organ and vessel masks, a smoothed signed
distance to the organ boundary (:meth:`AblationProblem.signed_distance`), properties
per point, the power density ``Q(x, t)`` (:meth:`AblationProblem.power_density`) and
the time span.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import InputError
from .tissue import BLOOD, BODY_TEMPERATURE_C, Blood, Tissue, tissue_for

__all__ = [
    "DEFAULT_DIRECTION",
    "DEFAULT_VESSELS",
    "DURATION_RANGE_S",
    "FAR_FIELD",
    "FIRST_VESSEL",
    "ORGAN",
    "OUTSIDE",
    "POWER_RANGE_W",
    "AblationProblem",
    "Applicator",
    "Surface",
    "ablation_problem",
    "resolve_vessels",
]

#: Codes of :attr:`AblationProblem.codes`: other tissue / outside, the organ (the unknowns),
#: organ held at body temperature where the box cuts it, then one code per vessel.
OUTSIDE, ORGAN, FAR_FIELD, FIRST_VESSEL = 0, 1, 2, 3

#: Vessel names looked for when ``vessels="auto"`` (twin3d's built-in table and
#: TotalSegmentator's ``total`` and ``liver_vessels`` tasks name them so).
DEFAULT_VESSELS = (
    "aorta",
    "inferior_vena_cava",
    "portal_vein",
    "splenic_vein",
    "portal_vein_and_splenic_vein",
    "hepatic_vein",
    "hepatic_veins",
    "hepatic_vessel",
    "hepatic_vessels",
    "liver_vessel",
    "liver_vessels",
)

#: Applicator axis when none is given: from the patient's right towards the left (RAS
#: ``(-1, 0, 0)``), a lateral intercostal approach to the right liver lobe.
DEFAULT_DIRECTION = (-1.0, 0.0, 0.0)

#: Physical ranges accepted for the power absorbed in tissue [W] (clinical RF and
#: microwave generators deliver up to about 200 W) and the heating time [s] (1 s to 1 h).
POWER_RANGE_W = (0.0, 250.0)
DURATION_RANGE_S = (1.0, 3600.0)
_SIGMA_RANGE_MM = (0.5, 30.0)
_COOL_RANGE_S = (0.0, 3600.0)
_MARGIN_RANGE_MM = (5.0, 500.0)
_SPACING_RANGE_MM = (0.25, 10.0)


def _vec3(value: Any, what: str) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        v = np.array([])
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise InputError(f"{what} must be 3 finite numbers (x, y, z), got {value!r}")
    return v


def _in_range(value: Any, lo: float, hi: float, what: str, unit: str, why: str = "", *, closed_lo: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number in {'[' if closed_lo else '('}{lo:g}, {hi:g}] {unit}, got {value!r}") from None
    ok = math.isfinite(v) and (v >= lo if closed_lo else v > lo) and v <= hi
    if not ok:
        extra = f" ({why})" if why else ""
        raise InputError(f"{what} must be in {'[' if closed_lo else '('}{lo:g}, {hi:g}] {unit}{extra}, got {value!r}")
    return v


# --------------------------------------------------------------------------- applicator
@dataclass(frozen=True)
class Applicator:
    """An ablation applicator: where it heats, along which axis, how much and how long.

    Attributes
    ----------
    target_mm
        Centre of the heating pattern, world millimetres (RAS).
    direction
        Applicator axis (unit vector, RAS; normalised here), pointing towards the tip.
    power_w
        Power absorbed in tissue [W], in (0, 250].
    duration_s
        Heating time [s], in [1, 3600].
    pattern
        ``"gaussian"`` (ellipsoidal Gaussian, ``sigma_radial_mm`` across and
        ``sigma_axial_mm`` along the axis) or ``"ball"`` (uniform ball of ``radius_mm``).
    """

    target_mm: tuple[float, float, float]
    power_w: float
    duration_s: float
    direction: tuple[float, float, float] = DEFAULT_DIRECTION
    pattern: str = "gaussian"
    sigma_radial_mm: float = 3.0
    sigma_axial_mm: float = 7.5
    radius_mm: float = 5.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_mm", tuple(_vec3(self.target_mm, "target").tolist()))
        d = _vec3(self.direction, "direction")
        n = float(np.linalg.norm(d))
        if not n > 1e-9:
            raise InputError(f"direction must be a non-zero vector (the applicator axis), got {self.direction!r}")
        object.__setattr__(self, "direction", tuple((d / n).tolist()))
        object.__setattr__(self, "power_w", _in_range(
            self.power_w, *POWER_RANGE_W, "power", "W", "power absorbed in tissue; RF and microwave generators "
            "deliver up to about 200 W"))
        object.__setattr__(self, "duration_s", _in_range(
            self.duration_s, *DURATION_RANGE_S, "time", "s", "heating time from 1 s to 1 h", closed_lo=True))
        if self.pattern not in ("gaussian", "ball"):
            raise InputError(f"pattern must be 'gaussian' or 'ball', got {self.pattern!r}")
        for name in ("sigma_radial_mm", "sigma_axial_mm"):
            object.__setattr__(self, name, _in_range(getattr(self, name), *_SIGMA_RANGE_MM, name, "mm"))
        object.__setattr__(self, "radius_mm", _in_range(self.radius_mm, 0.5, 50.0, "radius_mm", "mm"))

    @property
    def target(self) -> np.ndarray:
        return np.asarray(self.target_mm, dtype=np.float64)

    @property
    def axis(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=np.float64)

    @property
    def tip_mm(self) -> np.ndarray:
        """End of the heated zone along the axis: target + 2 sigma_axial (Gaussian) or + radius (ball)."""
        reach = 2.0 * self.sigma_axial_mm if self.pattern == "gaussian" else self.radius_mm
        return self.target + reach * self.axis

    @property
    def reach_mm(self) -> float:
        """Distance from the target beyond which the pattern deposits (almost) nothing."""
        if self.pattern == "ball":
            return self.radius_mm
        return 5.0 * max(self.sigma_radial_mm, self.sigma_axial_mm)

    def power_density(self, points_mm: np.ndarray) -> np.ndarray:
        """Power density [W/m^3] while heating, at world points ``(n, 3)`` mm."""
        p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3) - self.target
        if self.pattern == "ball":
            a = self.radius_mm * 1e-3
            q = self.power_w / (4.0 / 3.0 * math.pi * a**3)
            return np.where(np.einsum("ij,ij->i", p, p) <= self.radius_mm**2, q, 0.0)
        z = p @ self.axis
        r2 = np.einsum("ij,ij->i", p, p) - z * z
        sr, sa = self.sigma_radial_mm * 1e-3, self.sigma_axial_mm * 1e-3
        norm = self.power_w / ((2.0 * math.pi) ** 1.5 * sr * sr * sa)
        return norm * np.exp(-np.maximum(r2, 0.0) / (2.0 * self.sigma_radial_mm**2) - z * z / (2.0 * self.sigma_axial_mm**2))

    def moved(self, target_mm: Sequence[float]) -> Applicator:
        """The same applicator at another target."""
        from dataclasses import replace

        return replace(self, target_mm=tuple(_vec3(target_mm, "target").tolist()))

    def summary(self) -> dict[str, Any]:
        out = {"target_mm": list(self.target_mm), "direction": [round(v, 6) for v in self.direction],
               "tip_mm": [round(float(v), 3) for v in self.tip_mm], "power_w": self.power_w,
               "duration_s": self.duration_s, "pattern": self.pattern}
        if self.pattern == "gaussian":
            out.update(sigma_radial_mm=self.sigma_radial_mm, sigma_axial_mm=self.sigma_axial_mm)
        else:
            out.update(radius_mm=self.radius_mm)
        return out


@dataclass(frozen=True)
class Surface:
    """Condition on the organ surface where it meets other tissue: insulated or convective.

    ``convective``: heat flux ``h (T - ambient_c)`` out of the organ, ``h`` in W/(m^2 K).
    """

    kind: str = "insulated"
    h: float | None = None
    ambient_c: float = BODY_TEMPERATURE_C

    def __post_init__(self) -> None:
        if self.kind not in ("insulated", "convective"):
            raise InputError(f"surface must be 'insulated' or 'convective', got {self.kind!r}")
        if self.kind == "convective":
            if self.h is None:
                raise InputError("a convective surface needs h, the heat-transfer coefficient in W/(m^2 K)")
            object.__setattr__(self, "h", _in_range(self.h, 0.0, 1e5, "surface h", "W/(m^2 K)"))
        elif self.h is not None:
            raise InputError("h is only used with surface 'convective'")
        object.__setattr__(self, "ambient_c", _in_range(self.ambient_c, 0.0, 60.0, "surface ambient", "degC"))


# --------------------------------------------------------------------------- problem
@dataclass(eq=False)
class AblationProblem:
    """A Pennes bioheat problem on a voxel grid (see the module docstring).

    Attributes
    ----------
    codes
        The computational grid: a :class:`~twin3d.io.volumes.Volume` of ``int16``
        codes (``OUTSIDE`` 0, ``ORGAN`` 1 = the unknowns, ``FAR_FIELD`` 2, vessels from 3)
        with its RAS affine in millimetres.
    organ, organ_label
        Organ name and its id in the label map.
    vessels
        Vessel name -> code in :attr:`codes` (only vessels present in the box).
    vessel_labels
        Vessel name -> label id in the label map (every sink asked for or found).
    vessel_distance_mm
        Vessel name -> distance from the target to the vessel's nearest voxel centre.
    tissue, blood, applicator, surface
        See :class:`~.tissue.Tissue`, :class:`~.tissue.Blood`, :class:`Applicator`,
        :class:`Surface`.
    cool_s
        Time simulated after the power is switched off (damage keeps accumulating).
    vessel_wall_h
        Heat-transfer coefficient of the vessel walls [W/(m^2 K)]; ``None`` = the wall is
        at blood temperature (ideal sink).
    labelmap
        The label map the problem was built from (for organ surfaces), or ``None``.
    source
        Where the label map came from (for messages and reports).
    """

    codes: Any
    organ: str
    organ_label: int
    applicator: Applicator
    tissue: Tissue
    blood: Blood = BLOOD
    surface: Surface = field(default_factory=Surface)
    vessels: dict[str, int] = field(default_factory=dict)
    vessel_labels: dict[str, int] = field(default_factory=dict)
    vessel_distance_mm: dict[str, float] = field(default_factory=dict)
    cool_s: float = 60.0
    vessel_wall_h: float | None = None
    labelmap: Any = None
    source: str = "label map"

    # -- grid
    @property
    def spacing_mm(self) -> np.ndarray:
        return self.codes.spacing

    @property
    def spacing_m(self) -> np.ndarray:
        return self.codes.spacing * 1e-3

    @property
    def voxel_volume_m3(self) -> float:
        return float(np.prod(self.spacing_m))

    @property
    def organ_mask(self) -> np.ndarray:
        """Boolean grid mask of the unknowns (organ voxels not held at the far field)."""
        return self.codes.array == ORGAN

    @property
    def n_unknowns(self) -> int:
        return int(np.count_nonzero(self.organ_mask))

    def vessel_mask(self, name: str | None = None) -> np.ndarray:
        """Boolean grid mask of one vessel (by name) or of all vessels."""
        a = self.codes.array
        if name is None:
            return a >= FIRST_VESSEL
        if name not in self.vessels:
            raise InputError(f"no vessel {name!r} in the computational box; vessels: {sorted(self.vessels)}")
        return a == self.vessels[name]

    def domain_points_mm(self) -> np.ndarray:
        """World coordinates (n, 3) mm of the unknowns, in C order of the grid."""
        ijk = np.argwhere(self.organ_mask)
        return self.codes.index_to_world(ijk)

    def inside(self, points_mm: np.ndarray) -> np.ndarray:
        """Whether world points fall in an organ (unknown) voxel of the grid."""
        idx = np.rint(self.codes.world_to_index(np.asarray(points_mm, dtype=np.float64).reshape(-1, 3))).astype(np.int64)
        shape = np.array(self.codes.shape)
        ok = np.all((idx >= 0) & (idx < shape), axis=1)
        out = np.zeros(len(idx), dtype=bool)
        out[ok] = self.organ_mask[tuple(idx[ok].T)]
        return out

    def signed_distance(self, smooth_mm: float = 0.0) -> np.ndarray:
        """Signed distance to the organ boundary on the grid [mm]: negative inside, positive outside.

        Measured between voxel centres and the face half-way to the nearest voxel of the
        other kind (so the boundary is the zero level). ``smooth_mm`` > 0 smooths it with a
        Gaussian of that standard deviation (a smooth distance for hard constraints).
        """
        from scipy import ndimage

        inside = self.organ_mask
        sp = self.spacing_mm
        d_out = ndimage.distance_transform_edt(~inside, sampling=sp)
        d_in = ndimage.distance_transform_edt(inside, sampling=sp)
        half = 0.5 * float(sp.min())
        sdf = np.where(inside, -(d_in - half), d_out - half)
        if smooth_mm > 0:
            sdf = ndimage.gaussian_filter(sdf, sigma=smooth_mm / sp)
        return sdf

    # -- physics
    @property
    def body_temperature_c(self) -> float:
        return float(self.blood.temperature_c)

    @property
    def t_end(self) -> float:
        """End of the simulated time [s]: heating plus cooling."""
        return float(self.applicator.duration_s + self.cool_s)

    def power_on(self, t: float | np.ndarray) -> np.ndarray:
        """1 while the applicator heats (``0 <= t < duration_s``), else 0."""
        t = np.asarray(t, dtype=np.float64)
        return ((t >= 0) & (t < self.applicator.duration_s)).astype(np.float64)

    def power_density(self, points_mm: np.ndarray, t: float = 0.0) -> np.ndarray:
        """Q(x, t) [W/m^3] at world points (n, 3) mm and time ``t`` [s]."""
        return self.applicator.power_density(points_mm) * float(self.power_on(t))

    def properties_at(self, points_mm: np.ndarray) -> dict[str, np.ndarray]:
        """Conductivity [W/(m K)], heat capacity rho c [J/(m^3 K)] and perfusion coefficient
        omega_b rho_b c_b [W/(m^3 K)] at world points (one homogeneous tissue per organ)."""
        n = np.asarray(points_mm).reshape(-1, 3).shape[0]
        t = self.tissue
        return {
            "conductivity": np.full(n, t.conductivity),
            "heat_capacity": np.full(n, t.heat_capacity),
            "perfusion_coefficient": np.full(n, t.perfusion_coefficient(self.blood)),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "organ": self.organ,
            "organ_label": self.organ_label,
            "source": self.source,
            "applicator": self.applicator.summary(),
            "cool_s": self.cool_s,
            "tissue": self.tissue.summary(),
            "blood": {"density_kg_m3": self.blood.density, "specific_heat_J_kgK": self.blood.specific_heat,
                      "temperature_c": self.blood.temperature_c},
            "perfusion_length_mm": round(self.tissue.perfusion_length(self.blood) * 1e3, 3),
            "surface": {"kind": self.surface.kind, "h_W_m2K": self.surface.h, "ambient_c": self.surface.ambient_c},
            "vessel_wall_h_W_m2K": self.vessel_wall_h,
            "grid": {"shape": list(self.codes.shape), "spacing_mm": [round(float(s), 4) for s in self.spacing_mm],
                     "unknowns": self.n_unknowns},
        }


# --------------------------------------------------------------------------- building
def _label_presence(arr: np.ndarray) -> np.ndarray:
    """Voxel count per label id (index = label)."""
    if arr.dtype in (np.uint8, np.uint16):
        return np.bincount(arr.ravel(), minlength=1)
    ids, counts = np.unique(arr, return_counts=True)
    out = np.zeros(int(ids.max()) + 1, dtype=np.int64)
    out[ids.astype(np.int64)] = counts
    return out


def resolve_vessels(table, counts: np.ndarray, vessels: str | Iterable[str] | None, *, source: str,
                    organ: str) -> dict[str, int]:
    """Vessel name -> label id: ``"auto"`` finds :data:`DEFAULT_VESSELS` present in the map;
    named vessels must be in the table and in the map."""
    names = table.names
    by_name = {n: i for i, n in names.items()}
    if vessels is None:
        return {}
    if isinstance(vessels, str):
        if vessels == "auto":
            return {n: by_name[n] for n in DEFAULT_VESSELS
                    if n in by_name and by_name[n] < len(counts) and counts[by_name[n]] > 0}
        if vessels in ("none", ""):
            return {}
        vessels = [v.strip() for v in vessels.split(",") if v.strip()]
    out: dict[str, int] = {}
    for v in vessels:
        if v == organ:
            raise InputError(f"vessel {v!r} is the organ being ablated; name vessels other than the organ")
        if v not in by_name:
            vesselish = sorted(n for n in by_name
                               if any(w in n for w in ("vein", "vena", "aorta", "arter", "vessel", "trunk")))
            raise InputError(f"no vessel {v!r} in label table {table.name!r}; vessel names there: "
                             f"{vesselish or 'none'}")
        label = by_name[v]
        if label >= len(counts) or counts[label] == 0:
            present = sorted(n for n in DEFAULT_VESSELS if n in by_name and by_name[n] < len(counts)
                             and counts[by_name[n]] > 0)
            raise InputError(f"{source}: the label map has no voxels of vessel {v!r} (label {label}); "
                             f"vessels present: {present or 'none'}; drop it from the vessels asked for")
        out[v] = label
    return out


def _check_orthogonal(lm, source: str) -> None:
    d = lm.direction
    if not np.allclose(d.T @ d, np.eye(3), atol=1e-3):
        raise InputError(f"{source}: the voxel axes are not orthogonal (a sheared affine, e.g. gantry tilt); "
                         "resample the label map onto an orthogonal grid first")


def _target_checks(lm, table, organ: str, organ_label: int, target: np.ndarray, source: str) -> None:
    idx = lm.world_to_index(target)
    shape = np.array(lm.shape)
    if np.any(idx < -0.5) or np.any(idx > shape - 0.5):
        lo, hi = lm.world_bounds()
        raise InputError(
            f"target {_fmt(target)} mm lies outside the label map{'' if source == 'label map' else ' ' + source} "
            f"(voxel centres span "
            f"{_fmt(lo)} to {_fmt(hi)} mm, RAS); give a point inside the {organ}")
    ijk = tuple(np.clip(np.rint(idx).astype(int), 0, shape - 1))
    label = int(lm.array[ijk])
    if label == organ_label:
        return
    what = "background (label 0)" if label == 0 else f"{table.info(label).name!r} (label {label})"
    organ_ijk = np.argwhere(lm.array == organ_label)
    world = lm.index_to_world(organ_ijk)
    dist = np.linalg.norm(world - target, axis=1)
    k = int(np.argmin(dist))
    raise InputError(
        f"target {_fmt(target)} mm lies outside the {organ}: voxel {list(map(int, ijk))} of {source} is {what}; "
        f"the nearest {organ} voxel is at {_fmt(world[k])} mm, {dist[k]:.1f} mm away")


def _fmt(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{float(x):.1f}" for x in np.asarray(v).reshape(-1)) + ")"


def _computational_grid(lm, classes: list[tuple[int, int]], target: np.ndarray, spacing_mm: float | None,
                        margin_mm: float | None):
    """Crop/resample the label map around ``target``: an int16 code Volume.

    ``classes`` are (label id, code) pairs; every other label is ``OUTSIDE``.
    """
    from scipy import ndimage

    from ...budgets import check_memory
    from ...io.volumes import Volume

    sp_old = lm.spacing
    shape = np.array(lm.shape, dtype=np.float64)
    sp_new = sp_old.copy() if spacing_mm is None else np.full(3, float(spacing_mm))
    t_idx = lm.world_to_index(target)
    if margin_mm is None:
        lo, hi = np.full(3, -0.5), shape - 0.5
    else:
        half = margin_mm / sp_old
        lo = np.maximum(t_idx - half, -0.5)
        hi = np.minimum(t_idx + half, shape - 0.5)
    r = sp_new / sp_old  # new step in old index units
    n = np.floor((hi - lo) / r).astype(np.int64) + 1
    n = np.maximum(n, 3)
    start = lo + ((hi - lo) - (n - 1) * r) / 2.0
    n_vox = int(np.prod(n))
    per_voxel = 3 * 8 + 4 * (len(classes) + 3) + 2  # coordinates, class weights, codes
    check_memory(n_vox * per_voxel, "the ablation grid",
                 detail=f"{'x'.join(map(str, n.tolist()))} voxels at {sp_new.round(3).tolist()} mm x {per_voxel} B; "
                        "use a coarser --spacing or a smaller --margin")
    affine = lm.affine.copy()
    affine[:3, :3] = lm.affine[:3, :3] * r
    affine[:3, 3] = lm.index_to_world(start)
    axes = [start[a] + r[a] * np.arange(n[a]) for a in range(3)]
    same_grid = np.allclose(r, 1.0) and np.allclose(start, np.round(start))
    arr = lm.array
    if same_grid:  # an integer crop: copy the labels
        s = np.round(start).astype(int)
        sub = arr[s[0]:s[0] + n[0], s[1]:s[1] + n[1], s[2]:s[2] + n[2]]
        codes = np.zeros(sub.shape, dtype=np.int16)
        for label, code in classes:
            codes[sub == label] = code
    else:
        # crop the source to the box (+1 voxel) so the interpolation reads little
        lo_i = np.maximum(np.floor(start).astype(int) - 1, 0)
        hi_i = np.minimum(np.ceil(start + (n - 1) * r).astype(int) + 2, np.array(lm.shape))
        src = arr[lo_i[0]:hi_i[0], lo_i[1]:hi_i[1], lo_i[2]:hi_i[2]]
        grids = np.meshgrid(*[ax - lo_i[a] for a, ax in enumerate(axes)], indexing="ij")
        coords = np.stack([g.ravel() for g in grids])
        del grids
        best = np.zeros(n_vox, dtype=np.float32)
        total = np.zeros(n_vox, dtype=np.float32)
        codes_flat = np.zeros(n_vox, dtype=np.int16)
        for label, code in classes:
            w = ndimage.map_coordinates((src == label).astype(np.float32), coords, order=1, mode="constant", cval=0.0)
            total += w
            win = w > best
            best[win] = w[win]
            codes_flat[win] = code
        other = 1.0 - total  # weight of every other label (and of the outside)
        codes_flat[other >= best] = OUTSIDE
        codes = codes_flat.reshape(tuple(n))
    # organ voxels on the faces of the box: held at body temperature (far field)
    faces = np.zeros(codes.shape, dtype=bool)
    faces[[0, -1], :, :] = True
    faces[:, [0, -1], :] = True
    faces[:, :, [0, -1]] = True
    codes[faces & (codes == ORGAN)] = FAR_FIELD
    return Volume(codes, affine, "RAS")


def ablation_problem(
    labelmap,
    applicator: Applicator,
    *,
    organ: str = "liver",
    table=None,
    vessels: str | Iterable[str] | None = "auto",
    spacing_mm: float | None = None,
    margin_mm: float | None = 40.0,
    tissue: Tissue | None = None,
    blood: Blood | None = None,
    surface: Surface | str | None = None,
    cool_s: float = 60.0,
    vessel_wall_h: float | None = None,
    source: str | None = None,
) -> AblationProblem:
    """Build the ablation problem of ``applicator`` in ``organ`` of a label map.

    Parameters
    ----------
    labelmap
        A label map :class:`~twin3d.io.volumes.Volume` or a path (NIfTI / DICOM folder).
    applicator
        Target, direction, power, time and pattern (:class:`Applicator`).
    organ
        Organ name in ``table``.
    table
        Label table (see :func:`twin3d.anatomy.labels.load_label_table`; default builtin).
    vessels
        ``"auto"`` (the :data:`DEFAULT_VESSELS` the map holds), a list of names (each must
        be in the table and in the map), or ``None`` / ``"none"`` for no heat sinks.
    spacing_mm
        Isotropic voxel size of the computational grid; ``None`` keeps the map's voxels.
    margin_mm
        Half-size of the box around the target that is simulated (``None``: the whole map).
    tissue, blood
        Properties (default: :func:`~.tissue.tissue_for` ``organ`` and :data:`~.tissue.BLOOD`).
    surface
        ``"insulated"`` (default), or a :class:`Surface`.
    cool_s
        Time simulated after the power is switched off [s], in [0, 3600].
    vessel_wall_h
        Vessel wall heat-transfer coefficient [W/(m^2 K)]; ``None``: ideal sink.
    source
        Name of the label map in messages (default: its path).
    """
    from ...anatomy.labels import load_label_table
    from ...io.volumes import Volume, as_labelmap, read_labelmap

    if not isinstance(applicator, Applicator):
        raise InputError(f"applicator must be an Applicator, got {type(applicator).__name__}")
    if isinstance(labelmap, (str, os.PathLike)):
        src = source or str(labelmap)
        lm = read_labelmap(labelmap)
    elif isinstance(labelmap, Volume):
        src = source or "label map"
        lm = as_labelmap(labelmap, source=src)
    else:
        raise InputError(f"labelmap must be a Volume or a path, got {type(labelmap).__name__}")
    lm = lm.to_ras()
    _check_orthogonal(lm, src)
    tbl = load_label_table(table)
    cool_s = _in_range(cool_s, *_COOL_RANGE_S, "cool_s", "s", closed_lo=True)
    if spacing_mm is not None:
        spacing_mm = _in_range(spacing_mm, *_SPACING_RANGE_MM, "spacing", "mm")
    if margin_mm is not None:
        margin_mm = _in_range(margin_mm, *_MARGIN_RANGE_MM, "margin", "mm")
    if vessel_wall_h is not None:
        vessel_wall_h = _in_range(vessel_wall_h, 0.0, 1e6, "vessel_wall_h", "W/(m^2 K)")
    if surface is None or isinstance(surface, str):
        surface = Surface(surface or "insulated")
    if not isinstance(surface, Surface):
        raise InputError(f"surface must be 'insulated', 'convective' or a Surface, got {surface!r}")

    if organ not in tbl.names.values():
        raise InputError(f"no organ {organ!r} in label table {tbl.name!r}; names: {sorted(tbl.names.values())}")
    organ_label = tbl.id_of(organ)
    counts = _label_presence(lm.array)
    if organ_label >= len(counts) or counts[organ_label] == 0:
        present = sorted(tbl.info(i).name for i in np.nonzero(counts)[0] if i > 0)
        raise InputError(f"{src}: the label map has no voxels of organ {organ!r} (label {organ_label} in table "
                         f"{tbl.name!r}); organs present: {present}; is it the right label table (--labels)?")
    tissue = tissue or tissue_for(organ)
    if not isinstance(tissue, Tissue):
        raise InputError(f"tissue must be a Tissue, got {type(tissue).__name__}")
    blood = blood or BLOOD
    vessel_labels = resolve_vessels(tbl, counts, vessels, source=src, organ=organ)

    target = applicator.target
    _target_checks(lm, tbl, organ, organ_label, target, src)
    distances = {}
    for name, label in vessel_labels.items():
        world = lm.index_to_world(np.argwhere(lm.array == label))
        distances[name] = float(np.linalg.norm(world - target, axis=1).min())

    classes = [(organ_label, ORGAN)] + [(label, FIRST_VESSEL + i) for i, label in enumerate(vessel_labels.values())]
    codes = _computational_grid(lm, classes, target, spacing_mm, margin_mm)
    present_codes = set(np.unique(codes.array).tolist())
    vessels_in_box = {name: FIRST_VESSEL + i for i, name in enumerate(vessel_labels)
                      if FIRST_VESSEL + i in present_codes}
    problem = AblationProblem(
        codes=codes, organ=organ, organ_label=organ_label, applicator=applicator, tissue=tissue, blood=blood,
        surface=surface, vessels=vessels_in_box, vessel_labels=vessel_labels, vessel_distance_mm=distances,
        cool_s=cool_s, vessel_wall_h=vessel_wall_h, labelmap=lm, source=src,
    )
    if not problem.inside(target[None])[0]:
        raise InputError(
            f"target {_fmt(target)} mm lies on the edge of the {organ} (its voxel is not {organ} on the "
            f"{'x'.join(f'{s:g}' for s in codes.spacing.round(3))} mm computational grid); move it inside the organ")
    if problem.n_unknowns == 0:  # pragma: no cover - the target voxel is an unknown
        raise InputError(f"no {organ} voxels to simulate around the target")
    return problem

