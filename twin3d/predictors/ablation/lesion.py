"""The ablation zone: its measures, its surface (the ``lesion`` asset), the scene and the report.

* :func:`lesion_summary` -- volume (ml), equivalent-sphere diameter, length along and
  diameter across the applicator, and the **margin**: the distance from the target to the
  nearest tissue that is *not* ablated (the lesion boundary), minus the tumour radius
  when one is given (negative: the target or tumour is not covered);
* :func:`lesion_surface` -- the lesion mask turned into a surface with the anatomy
  pipeline (:func:`~twin3d.anatomy.surfaces.labelmap_to_surfaces`);
* :func:`ablation_scene` -- the organ (coloured by temperature over time, a per-vertex
  field ``temperature`` in degC per frame), the large vessels, the ``lesion`` and the
  applicator as scene assets in millimetres (RAS);
* :func:`ablation_report` -- a JSON-ready report: lesion volume, maximum temperature,
  margin, and which vessels cool the ablation (heat each removes);
* :func:`run_ablation` -- label map + applicator -> problem -> finite volumes -> scene
  and report, the one call the CLI and the spec section make.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InputError
from .problem import AblationProblem, Applicator
from .reference import AblationSolution

__all__ = [
    "LESION_COLOR",
    "AblationResult",
    "LesionSummary",
    "ablation_report",
    "ablation_scene",
    "lesion_summary",
    "lesion_surface",
    "run_ablation",
]

#: Colour of the lesion asset (RGB 0-1).
LESION_COLOR = (0.85, 0.1, 0.1)


@dataclass(frozen=True)
class LesionSummary:
    """Measures of the ablation zone (millimetres and millilitres)."""

    criterion: str
    threshold: float
    voxels: int
    volume_ml: float
    equivalent_diameter_mm: float
    length_mm: float
    diameter_mm: float
    margin_mm: float | None
    tumor_radius_mm: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def lesion_summary(solution: AblationSolution, *, criterion: str = "arrhenius", threshold: float | None = None,
                   tumor_radius_mm: float = 0.0) -> LesionSummary:
    """Measure the ablation zone of ``solution`` (see the module docstring for the margin)."""
    from scipy import ndimage

    from .damage import CRITERIA

    if criterion not in CRITERIA:
        raise InputError(f"unknown lesion criterion {criterion!r}; valid: {sorted(CRITERIA)}")
    thr = CRITERIA[criterion] if threshold is None else float(threshold)
    if not (math.isfinite(tumor_radius_mm) and tumor_radius_mm >= 0):
        raise InputError(f"tumor radius must be >= 0 mm, got {tumor_radius_mm!r}")
    prob = solution.problem
    mask = solution.lesion_mask(criterion, thr)
    sp = prob.spacing_mm
    n = int(mask.sum())
    volume_ml = n * prob.voxel_volume_m3 * 1e6
    eq_d = (6.0 * volume_ml * 1e3 / math.pi) ** (1.0 / 3.0) if n else 0.0
    app = prob.applicator
    length = diameter = 0.0
    margin: float | None = None
    if n:
        pts = prob.codes.index_to_world(np.argwhere(mask)) - app.target
        z = pts @ app.axis
        rho = np.sqrt(np.maximum(np.einsum("ij,ij->i", pts, pts) - z * z, 0.0))
        h = float(np.mean(sp))
        length = float(z.max() - z.min() + h)
        diameter = float(2.0 * rho.max() + h)
        t_idx = tuple(np.rint(prob.codes.world_to_index(app.target)).astype(int))
        if mask[t_idx]:
            # distance from each lesion voxel centre to the nearest voxel centre outside the lesion
            d = ndimage.distance_transform_edt(mask, sampling=sp)
            margin = float(d[t_idx] - 0.5 * float(sp.min()) - tumor_radius_mm)
        else:
            d = ndimage.distance_transform_edt(~mask, sampling=sp)
            margin = float(-(d[t_idx] - 0.5 * float(sp.min())) - tumor_radius_mm)
    return LesionSummary(criterion=criterion, threshold=thr, voxels=n, volume_ml=volume_ml,
                         equivalent_diameter_mm=eq_d, length_mm=length, diameter_mm=diameter, margin_mm=margin,
                         tumor_radius_mm=float(tumor_radius_mm))


def lesion_surface(solution: AblationSolution, *, criterion: str = "arrhenius", threshold: float | None = None,
                   smoothing: bool | int = True):
    """The ablation zone as an :class:`~twin3d.anatomy.surfaces.OrganSurface` named ``lesion``
    (world mm, RAS), or ``None`` when nothing is ablated."""
    from ...anatomy.labels import LabelTable
    from ...anatomy.surfaces import labelmap_to_surfaces
    from ...io.volumes import Volume

    mask = solution.lesion_mask(criterion, threshold)
    if not mask.any():
        return None
    vol = Volume(mask.astype(np.uint8), solution.problem.codes.affine.copy(), "RAS")
    table = LabelTable({1: {"name": "lesion", "color": list(LESION_COLOR)}}, name="lesion")
    return labelmap_to_surfaces(vol, table, smoothing=smoothing, progress=False)["lesion"]


def _applicator_mesh(app: Applicator, shaft_mm: float = 80.0, radius_mm: float = 0.9):
    import pyvista as pv

    tip = app.tip_mm
    centre = tip - 0.5 * shaft_mm * app.axis
    return pv.Cylinder(center=centre, direction=app.axis, radius=radius_mm, height=shaft_mm, resolution=16,
                       capping=True).triangulate()


def ablation_scene(solution: AblationSolution, *, criterion: str = "arrhenius", threshold: float | None = None,
                   table=None, organ_opacity: float = 0.45, scene=None, name: str = "ablation",
                   lesion=None):
    """The ablation as a scene (millimetres, RAS).

    Assets: ``organs/<organ>`` with the per-vertex field ``temperature`` (degC, one row per
    frame of ``solution.times``), ``organs/<vessel>`` for each heat sink, and
    ``ablation/lesion`` (red; metadata volume_ml, voxel_volume_ml) and
    ``ablation/applicator``. Pass ``scene`` to add them to an existing scene (its units
    must be mm).
    """
    from ...anatomy.labels import load_label_table
    from ...anatomy.organs import organs_to_scene
    from ...anatomy.surfaces import labelmap_to_surfaces
    from ...scene import Asset, Field, Material

    prob = solution.problem
    if prob.labelmap is None:
        raise InputError("the problem keeps no label map to take the organ surface from")
    tbl = load_label_table(table)
    labels = [prob.organ_label] + list(prob.vessel_labels.values())
    surfaces = labelmap_to_surfaces(prob.labelmap, tbl, labels=labels, progress=False)
    organ_surface = surfaces.get(tbl.info(prob.organ_label).name)
    scene = organs_to_scene(surfaces, scene=scene, name=name,
                            metadata={"labelmap": prob.source, "ablation": prob.applicator.summary()})
    organs = scene.get("organs")
    organ_asset = next(a for a in organs.children if a.metadata.get("label") == prob.organ_label)
    organ_asset.material = Material(name=f"{organ_asset.name}_material", base_color=organ_asset.material.base_color,
                                    roughness=0.6, opacity=float(organ_opacity))
    if organ_surface is not None:
        values = solution.sample(np.asarray(organ_asset.mesh.points, dtype=np.float64))
        organ_asset.set_field(Field("temperature", values.astype(np.float32), association="vertex",
                                    times=np.asarray(solution.times, dtype=np.float64), unit="degC",
                                    colormap="temperature",
                                    description=f"ablation, finite volumes ({solution.solver.get('method')})"))
    for child in organs.children:
        if child is not organ_asset:
            child.metadata["heat_sink"] = True
    group = scene.group("ablation")
    surf = lesion if lesion is not None else lesion_surface(solution, criterion=criterion, threshold=threshold)
    if surf is not None:
        group.add(Asset("lesion", mesh=surf.mesh, asset_type="lesion", semantic_label="lesion",
                        material=Material(name="lesion_material", base_color=LESION_COLOR, roughness=0.5),
                        metadata={"volume_ml": float(surf.volume_ml), "voxel_volume_ml": float(surf.voxel_volume_ml),
                                  "criterion": criterion, "coordinate_system": "RAS"}))
    group.add(Asset("applicator", mesh=_applicator_mesh(prob.applicator), asset_type="applicator",
                    material=Material(name="applicator_material", base_color=(0.75, 0.75, 0.78), metallic=0.8,
                                      roughness=0.3),
                    metadata=prob.applicator.summary()))
    scene.metadata["color_by"] = "temperature"
    return scene


def ablation_report(solution: AblationSolution, lesion: LesionSummary, *, lesion_mesh_volume_ml: float | None = None
                    ) -> dict[str, Any]:
    """A JSON-ready report of one ablation (units in the key names)."""
    prob = solution.problem
    vessels = []
    for name, label in prob.vessel_labels.items():
        vessels.append({
            "name": name,
            "label": int(label),
            "distance_mm": round(prob.vessel_distance_mm.get(name, float("nan")), 3),
            "in_contact": name in prob.vessels and solution.vessel_energy_j.get(name, 0.0) > 0,
            "heat_removed_j": round(solution.vessel_energy_j.get(name, 0.0), 3),
            "peak_power_w": round(solution.vessel_peak_w.get(name, 0.0), 4),
        })
    vessels.sort(key=lambda v: -v["heat_removed_j"])
    delivered = solution.energy_j["delivered"]
    for v in vessels:
        v["share_of_delivered"] = round(v["heat_removed_j"] / delivered, 5) if delivered > 0 else 0.0
    lesion_d = lesion.to_dict()
    if lesion_mesh_volume_ml is not None:
        lesion_d["mesh_volume_ml"] = round(lesion_mesh_volume_ml, 4)
    return {
        "format": "twin3d.ablation-report",
        "version": 1,
        "organ": prob.organ,
        "labelmap": prob.source,
        "applicator": prob.applicator.summary(),
        "cool_s": prob.cool_s,
        "lesion": lesion_d,
        "lesion_volume_ml": round(lesion.volume_ml, 4),
        "margin_mm": None if lesion.margin_mm is None else round(lesion.margin_mm, 3),
        "max_temperature_c": round(solution.max_temperature_c, 3),
        "target_temperature_end_of_heating_c": round(
            float(solution.target_temperature[solution.solver["heating_steps"]]), 3),
        "vessels": vessels,
        "cooling_vessels": [v["name"] for v in vessels if v["heat_removed_j"] > 0],
        "energy_j": {k: round(v, 3) for k, v in solution.energy_j.items()},
        "power_in_organ_w": round(solution.power_in_organ_w, 4),
        "problem": prob.summary(),
        "solver": solution.solver,
        "frames_s": [round(float(t), 3) for t in solution.times],
    }


@dataclass(eq=False)
class AblationResult:
    """What :func:`run_ablation` returns."""

    problem: AblationProblem
    solution: AblationSolution
    lesion: LesionSummary
    scene: Any
    report: dict[str, Any]


def run_ablation(labelmap, applicator: Applicator, *, organ: str = "liver", table=None,
                 vessels: str | Iterable[str] | None = "auto", spacing_mm: float | None = None,
                 margin_mm: float | None = 40.0, tissue=None, surface=None, cool_s: float = 60.0,
                 vessel_wall_h: float | None = None, dt_s: float | None = None, n_times: int = 11,
                 method: str = "crank-nicolson", criterion: str = "arrhenius", threshold: float | None = None,
                 tumor_radius_mm: float = 0.0, scene: bool = True, organ_opacity: float = 0.45,
                 source: str | None = None, progress: bool | None = None) -> AblationResult:
    """Label map + applicator -> problem -> finite volumes -> lesion, scene and report.

    Parameters are those of :func:`~.problem.ablation_problem`,
    :func:`~.reference.finite_volume_solution` and :func:`lesion_summary`; ``scene=False``
    skips the surfaces (report only).
    """
    from .problem import ablation_problem
    from .reference import finite_volume_solution

    problem = ablation_problem(labelmap, applicator, organ=organ, table=table, vessels=vessels,
                               spacing_mm=spacing_mm, margin_mm=margin_mm, tissue=tissue, surface=surface,
                               cool_s=cool_s, vessel_wall_h=vessel_wall_h, source=source)
    solution = finite_volume_solution(problem, dt_s=dt_s, n_times=n_times, method=method, progress=progress)
    summary = lesion_summary(solution, criterion=criterion, threshold=threshold, tumor_radius_mm=tumor_radius_mm)
    built = None
    mesh_ml = None
    if scene:
        surf = lesion_surface(solution, criterion=criterion, threshold=threshold)
        mesh_ml = None if surf is None else float(surf.volume_ml)
        built = ablation_scene(solution, criterion=criterion, threshold=threshold, table=table,
                               organ_opacity=organ_opacity, lesion=surf)
    report = ablation_report(solution, summary, lesion_mesh_volume_ml=mesh_ml)
    if built is not None:
        built.metadata["ablation_report"] = {k: report[k] for k in ("lesion_volume_ml", "margin_mm",
                                                                    "max_temperature_c", "cooling_vessels")}
    return AblationResult(problem, solution, summary, built, report)
