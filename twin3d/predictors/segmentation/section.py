"""The ``segmentation`` section of a scene spec: CT image -> UNet -> organ assets.

Example (YAML)::

    units: mm
    segmentation:
      phantom: {seed: 7}            # or: image: scans/ct.nii.gz   (exactly one)
      model: phantom                # the shipped phantom UNet, or path/to/model.pt
      labelmap_out: out/seg.nii.gz  # optional: keep the predicted label map

:func:`apply` segments the image (a file, or a generated phantom) with the model, turns
the label map into named organ surfaces (:func:`twin3d.anatomy.labelmap_to_surfaces`)
and adds them as assets under ``group`` (:func:`twin3d.anatomy.organs_to_scene`).
``scene.metadata["segmentation"]`` records the source, the model, the inference time
and, for a phantom (whose truth is known), the per-label Dice. A missing image or
model file is a :class:`~twin3d.errors.MissingFileError` naming the spec file and
``segmentation.image`` / ``segmentation.model``.

Light to import (pydantic only): torch and MONAI load when a section is applied.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, model_validator

from ...sections import SectionContext, SpecSection
from ...spectypes import Strict

__all__ = ["PhantomSource", "SegmentationSpec", "apply", "apply_segmentation_spec", "SECTION"]


class PhantomSource(Strict):
    """Spec: a synthetic phantom as the image (see :func:`twin3d.phantom.make_phantom`)."""

    seed: int = Field(default=0, ge=0)
    spacing_mm: float | tuple[float, float, float] = 3.0
    phase: Literal["native", "portal_venous"] | None = None


class SegmentationSpec(Strict):
    """The ``segmentation`` section of a scene spec (see the module docstring for an example)."""

    image: str | None = Field(default=None, description="NIfTI file or DICOM folder (relative to the spec file)")
    phantom: PhantomSource | None = None
    model: str = Field(default="phantom", description="'phantom' (shipped model) or a NAME.pt/NAME.json path")
    device: str = "auto"
    method: Literal["surface_nets", "flying_edges"] = "surface_nets"
    smoothing: bool | int = True
    decimate: float | None = Field(default=None, ge=0.0, lt=1.0)
    group: str = "organs"
    labelmap_out: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "SegmentationSpec":
        if (self.image is None) == (self.phantom is None):
            raise ValueError("give exactly one of 'image' (a file) or 'phantom' (a generated CT)")
        return self


def _model_path(section: SegmentationSpec, context: SectionContext) -> Path:
    """The model's ``.pt``: the shipped phantom model, or both files of the pair next to each other."""
    from ...errors import InputError
    from .files import model_paths
    from .phantom_model import default_phantom_model_path

    if section.model == "phantom":
        return default_phantom_model_path()
    path = context.resolve(section.model, must_exist=False)
    try:
        pair = model_paths(path)
    except InputError as exc:
        raise context.error(str(exc), at=("model",)) from None
    for p in pair:
        context.resolve(p, what="segmentation model file", at=("model",))
    return path


def apply(scene, section: SegmentationSpec, context: SectionContext) -> None:
    """Segment the section's image and add one organ asset per label to ``scene`` (units ``"mm"``)."""
    from ...anatomy.organs import organs_to_scene
    from ...anatomy.surfaces import labelmap_to_surfaces
    from .files import load_model
    from .network import dice_scores

    model_path = _model_path(section, context)
    model = load_model(model_path)
    truth = None
    if section.phantom is not None:
        from ...phantom import make_phantom

        ph = section.phantom
        image, truth, _ = make_phantom(spacing_mm=ph.spacing_mm, seed=ph.seed, phase=ph.phase)
        source = f"phantom seed {ph.seed}"
    else:
        from ...io.volumes import read_volume

        image = read_volume(context.resolve(section.image, what="CT image", at=("image",)))
        source = str(section.image)
    start = time.perf_counter()
    labelmap = model.predict(image, device=section.device)
    seconds = time.perf_counter() - start
    if section.labelmap_out:
        from ...io.volumes import write_nifti

        write_nifti(labelmap, context.output_path(section.labelmap_out, at=("labelmap_out",)))
    surfaces = labelmap_to_surfaces(
        labelmap, model.labels_, method=section.method, smoothing=section.smoothing, decimate=section.decimate
    )
    info: dict[str, Any] = {"source": source, "model": str(model_path), "inference_s": round(seconds, 2)}
    if truth is not None:
        info["dice"] = dice_scores(labelmap, truth, model.labels_)
    organs_to_scene(surfaces, scene=scene, group=section.group, metadata={"segmentation": info})


SECTION = SpecSection(
    "segmentation", SegmentationSpec, apply, order=40,
    summary="organs segmented from a CT (a file or a generated phantom) by a MONAI UNet",
)


def apply_segmentation_spec(
    spec: SegmentationSpec | Mapping[str, Any], scene, *, base_dir: str | os.PathLike = "."
):
    """Apply a ``segmentation`` section outside a spec file; returns ``scene``.

    Convenience for scripts: validates ``spec`` (a :class:`SegmentationSpec` or the raw
    mapping) and runs :func:`apply` with paths relative to ``base_dir``. Errors read as
    in a spec (``<spec>: segmentation.model: ...``).
    """
    SECTION.apply_to(scene, spec if isinstance(spec, SegmentationSpec) else dict(spec), base_dir=base_dir)
    return scene
