"""The ``ablation`` section of a scene spec: a thermal ablation simulated in a segmented organ.

Example (YAML)::

    units: mm
    ablation:
      labelmap: data/abdomen_seg.nii.gz      # NIfTI file or DICOM folder, relative to the spec
      labels: totalsegmentator               # builtin | totalsegmentator | table.json | {id: name}
      organ: liver
      target: [95.0, 167.3, 148.3]           # mm, RAS
      direction: [-1, 0, 0]                  # applicator axis, towards the tip
      power: 60                              # W absorbed in tissue
      time: 600                              # s of heating
      vessels: auto                          # or [portal_vein_and_splenic_vein, inferior_vena_cava], or none
      spacing: 1.5                           # mm, computational grid (default: the map's voxels)
      report: ablation.json                  # optional, written next to the spec with the outputs

:func:`apply` builds the problem (:func:`~.problem.ablation_problem`), solves it with
finite volumes and adds the organ (per-vertex ``temperature`` over time), the vessels, the
``lesion`` and the applicator to the scene (:func:`~.lesion.ablation_scene`); the report
(lesion volume, margin, peak temperature, heat removed per vessel) goes to
``scene.metadata["ablation_report"]`` and, with ``report:``, to a JSON file written only
when the whole build succeeds.

Light to import (pydantic and numpy): SciPy, VTK and the volume readers load in ``apply``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field as PField
from pydantic import field_validator

from ...anatomy.section import section_label_table
from ...sections import SectionContext, SpecSection
from ...spectypes import Strict
from .damage import ARRHENIUS, CRITERIA
from .problem import DEFAULT_DIRECTION, DURATION_RANGE_S, POWER_RANGE_W

__all__ = ["SECTION", "AblationSpec", "TissueSpec", "apply"]


class TissueSpec(Strict):
    """Tissue properties replacing the literature values (SI units; unset keys keep them)."""

    density: float | None = PField(None, gt=0, description="kg/m^3")
    specific_heat: float | None = PField(None, gt=0, description="J/(kg K)")
    conductivity: float | None = PField(None, gt=0, description="W/(m K)")
    perfusion: float | None = PField(None, ge=0, description="blood perfusion rate omega_b, 1/s")


class AblationSpec(Strict):
    """The ``ablation`` section of a scene spec (see the module docstring for an example)."""

    labelmap: str = PField(description="label map: NIfTI file or DICOM series folder, relative to the spec file")
    labels: str | dict[int, str | dict[str, Any]] = PField(
        default="builtin", description="label table: builtin, totalsegmentator, a JSON file, or {id: name}")
    organ: str = "liver"
    target: tuple[float, float, float] = PField(description="centre of the heating, mm (RAS)")
    direction: tuple[float, float, float] = DEFAULT_DIRECTION
    power: float = PField(gt=POWER_RANGE_W[0], le=POWER_RANGE_W[1], description="W absorbed in tissue")
    time: float = PField(ge=DURATION_RANGE_S[0], le=DURATION_RANGE_S[1], description="s of heating")
    cool: float = PField(60.0, ge=0, le=3600, description="s simulated after the power is off")
    pattern: Literal["gaussian", "ball"] = "gaussian"
    sigma_radial: float = PField(3.0, ge=0.5, le=30, description="mm, Gaussian width across the applicator")
    sigma_axial: float = PField(7.5, ge=0.5, le=30, description="mm, Gaussian width along the applicator")
    radius: float = PField(5.0, ge=0.5, le=50, description="mm, ball pattern radius")
    vessels: Literal["auto", "none"] | list[str] = "auto"
    vessel_wall_h: float | None = PField(None, gt=0, description="W/(m^2 K); null: vessel walls at blood temperature")
    surface: Literal["insulated", "convective"] = "insulated"
    surface_h: float | None = PField(None, gt=0, description="W/(m^2 K), for a convective surface")
    tissue: TissueSpec | None = None
    spacing: float | None = PField(None, gt=0.25, le=10, description="mm; default: the label map's voxels")
    margin: float | None = PField(40.0, ge=5, le=500, description="mm half-size of the simulated box; null: all")
    dt: float | None = PField(None, gt=0, le=60, description="s time step (default min(2 s, time / 10))")
    frames: int = PField(11, ge=2, le=1000)
    criterion: Literal["arrhenius", "cem43"] = "arrhenius"
    arrhenius: str = "henriques"
    threshold: float | None = PField(None, gt=0)
    tumor_radius: float = PField(0.0, ge=0, le=100, description="mm; the margin is measured from this sphere")
    opacity: float = PField(0.45, ge=0, le=1, description="organ opacity (the lesion shows through)")
    report: str | None = PField(None, description="JSON report file, relative to the spec file")

    @field_validator("arrhenius")
    @classmethod
    def _arrhenius(cls, v: str) -> str:
        if v not in ARRHENIUS:
            raise ValueError(f"unknown Arrhenius parameters {v!r}; valid: {sorted(ARRHENIUS)}")
        return v

    @field_validator("criterion")
    @classmethod
    def _criterion(cls, v: str) -> str:
        assert v in CRITERIA
        return v


def apply(scene, section: AblationSpec, context: SectionContext) -> None:
    """Simulate the ablation and add its assets to ``scene`` (units must be mm)."""
    import json

    from ..._util import atomic_path
    from ...errors import InputError
    from ...io.volumes import read_labelmap
    from .lesion import ablation_report, ablation_scene, lesion_summary, lesion_surface
    from .problem import Applicator, Surface, ablation_problem
    from .reference import finite_volume_solution
    from .tissue import TISSUES, Tissue

    if scene.units != "mm":
        raise context.error(f"the ablation is in millimetres (RAS) but the scene uses {scene.units!r}; "
                            "set 'units: mm'", at=())
    table = section_label_table(section.labels, context)
    path = context.resolve(section.labelmap, what="label map", at=("labelmap",))
    lm = read_labelmap(path)
    app = Applicator(target_mm=section.target, direction=section.direction, power_w=section.power,
                     duration_s=section.time, pattern=section.pattern, sigma_radial_mm=section.sigma_radial,
                     sigma_axial_mm=section.sigma_axial, radius_mm=section.radius)
    tissue = None
    if section.tissue is not None:
        values = section.tissue.model_dump()
        if section.organ in TISSUES:
            tissue = TISSUES[section.organ].with_values(**values)
        else:
            missing = [k for k, v in values.items() if v is None]
            if missing:
                raise InputError(f"organ {section.organ!r} has no literature tissue properties: give all of "
                                 f"tissue {sorted(values)} (missing {missing})")
            tissue = Tissue(section.organ, **values)
    surface = Surface("convective", h=section.surface_h) if section.surface == "convective" else Surface()
    vessels: Any = None if section.vessels == "none" else section.vessels
    problem = ablation_problem(lm, app, organ=section.organ, table=table, vessels=vessels,
                               spacing_mm=section.spacing, margin_mm=section.margin, tissue=tissue,
                               surface=surface, cool_s=section.cool, vessel_wall_h=section.vessel_wall_h,
                               source=section.labelmap)
    solution = finite_volume_solution(problem, dt_s=section.dt, n_times=section.frames, arrhenius=section.arrhenius)
    summary = lesion_summary(solution, criterion=section.criterion, threshold=section.threshold,
                             tumor_radius_mm=section.tumor_radius)
    surf = lesion_surface(solution, criterion=section.criterion, threshold=section.threshold)
    ablation_scene(solution, criterion=section.criterion, threshold=section.threshold, table=table,
                   organ_opacity=section.opacity, scene=scene, lesion=surf)
    report = ablation_report(solution, summary, lesion_mesh_volume_ml=None if surf is None else float(surf.volume_ml))
    scene.metadata["ablation_report"] = report
    if section.report is not None:
        out = context.output_path(section.report, at=("report",))
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(report, indent=2), encoding="utf-8")



SECTION = SpecSection(
    "ablation", AblationSpec, apply, order=50,
    summary="thermal ablation in a segmented organ: bioheat finite volumes, lesion surface and report",
)
