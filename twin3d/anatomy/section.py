"""The ``anatomy`` section of a scene spec: an existing segmentation -> organ assets.

Example (YAML)::

    units: mm
    anatomy:
      labelmap: data/abdomen_seg.nii.gz   # NIfTI file or DICOM folder, relative to the spec
      labels: totalsegmentator            # builtin | totalsegmentator | table.json | {id: name}
      organs: [liver, spleen, kidney_left, kidney_right]   # optional subset (names)
      method: surface_nets                # or flying_edges (closed surfaces)
      smoothing: 20                       # windowed-sinc iterations; false = none
      decimate: 0.5                       # optional target reduction

:func:`apply` reads the label map, turns it into named organ surfaces
(:func:`~twin3d.anatomy.surfaces.labelmap_to_surfaces`) and adds one ``"organ"`` asset per
label to the scene (:func:`~twin3d.anatomy.organs.organs_to_scene`). A missing label map or
label-table file is a :class:`~twin3d.errors.MissingFileError` naming the spec file and
``anatomy.labelmap`` / ``anatomy.labels``.

Light to import (pydantic only): VTK, numba and the volume readers load when a section
is applied.
"""

from __future__ import annotations

import os
from typing import Any, Literal, Mapping

from pydantic import Field as PField
from pydantic import field_validator

from ..sections import SectionContext, SpecSection
from ..spectypes import Opacity, Strict

__all__ = ["AnatomySpec", "apply", "apply_anatomy_spec", "section_label_table", "SECTION"]


class AnatomySpec(Strict):
    """The ``anatomy`` section of a scene spec (see the module docstring for an example).

    The defaults are those of :func:`~twin3d.anatomy.surfaces.labelmap_to_surfaces`
    (``passband`` = ``DEFAULT_PASSBAND``, ``method`` one of ``SURFACE_METHODS``).
    """

    labelmap: str = PField(description="label map: NIfTI file or DICOM series folder, relative to the spec file")
    labels: str | dict[int, str | dict[str, Any]] = PField(
        default="builtin", description="label table: builtin, totalsegmentator, a JSON file, or {id: name}"
    )
    organs: list[str] | None = PField(default=None, description="only these organ names (default: every label)")
    method: Literal["surface_nets", "flying_edges"] = "surface_nets"
    smoothing: bool | int = PField(default=True, description="windowed-sinc iterations (true = 20, false/0 = none)")
    passband: float = PField(default=0.01, gt=0.0, lt=2.0)
    decimate: float | None = PField(default=None, ge=0.0, lt=1.0)
    group: str | None = PField(default="organs", description="group the organs go under (null: the root)")
    opacity: Opacity = 1.0
    series_uid: str | None = PField(default=None, description="DICOM SeriesInstanceUID when the folder has several")

    @field_validator("smoothing")
    @classmethod
    def _smoothing(cls, v: bool | int) -> bool | int:
        if not isinstance(v, bool) and not 0 <= v <= 1000:
            raise ValueError("smoothing must be true/false or a number of iterations in [0, 1000]")
        return v


def section_label_table(labels: Any, context: SectionContext):
    """A section's ``labels`` value as a label table: a built-in table's name, or a table
    file resolved against the spec's folder (a missing one is located at ``labels``)."""
    from .labels import TABLE_NAMES, load_label_table

    if isinstance(labels, str) and labels.lower() not in TABLE_NAMES:
        path = context.resolve(labels, must_exist=False)
        if path.suffix.lower() == ".json" or path.exists():
            labels = context.resolve(labels, what="label table", at=("labels",))
        # anything else: load_label_table says which names are valid
    return load_label_table(labels)


def apply(scene, section: AnatomySpec, context: SectionContext) -> None:
    """Read the section's label map and add one organ asset per label to ``scene`` (units ``"mm"``).

    ``scene.metadata`` gets ``labelmap`` (as written in the spec) and ``label_table``.
    """
    from ..io.volumes import read_labelmap
    from .organs import organs_to_scene
    from .surfaces import labelmap_to_surfaces

    table = section_label_table(section.labels, context)
    labelmap_path = context.resolve(section.labelmap, what="label map", at=("labelmap",))
    lm = read_labelmap(labelmap_path, series_uid=section.series_uid)
    subset = None
    if section.organs is not None:
        unknown = [n for n in section.organs if n not in table.names.values()]
        if unknown:
            raise context.error(
                f"{unknown} not in label table {table.name!r}; names: {sorted(table.names.values())}", at=("organs",)
            )
        subset = [table.id_of(n) for n in section.organs]
    surfaces = labelmap_to_surfaces(
        lm, table, method=section.method, smoothing=section.smoothing, passband=section.passband,
        decimate=section.decimate, labels=subset,
    )
    organs_to_scene(
        surfaces, scene=scene, group=section.group, opacity=section.opacity,
        metadata={"labelmap": section.labelmap, "label_table": table.name},
    )


SECTION = SpecSection(
    "anatomy", AnatomySpec, apply, order=30,
    summary="organ surfaces from an existing segmentation (label map + label table)",
)


def apply_anatomy_spec(
    spec: AnatomySpec | Mapping[str, Any], scene, *, base_dir: str | os.PathLike = "."
):
    """Apply an ``anatomy`` section outside a spec file; returns ``scene``.

    Convenience for scripts: validates ``spec`` (a :class:`AnatomySpec` or the raw
    mapping) and runs :func:`apply` with paths relative to ``base_dir``. Errors read as
    in a spec (``<spec>: anatomy.organs: ...``).
    """
    SECTION.apply_to(scene, spec if isinstance(spec, AnatomySpec) else dict(spec), base_dir=base_dir)
    return scene
