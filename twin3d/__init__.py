"""twin3d: AI-driven 3D digital twins in USD and VTK.

The public API is imported lazily so that ``import twin3d`` stays cheap and has no
side effects (no USD plugin registration, no torch/TensorFlow import).
"""

from __future__ import annotations

from .lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "Scene": "twin3d.scene",
    "Asset": "twin3d.scene",
    "Field": "twin3d.scene",
    "Part": "twin3d.scene",
    "Transform": "twin3d.scene",
    "Material": "twin3d.scene",
    "Twin3DError": "twin3d.errors",
    "InputError": "twin3d.errors",
    "SpecError": "twin3d.errors",
    "UnsupportedFormatError": "twin3d.errors",
    "NotFittedError": "twin3d.errors",
    "ModelFileError": "twin3d.errors",
    "TrainingError": "twin3d.errors",
    "load_spec": "twin3d.spec",
    "build_scene": "twin3d.spec",
    "read_mesh": "twin3d.io",
    "write_scene": "twin3d.io.writers",
    "make_equipment": "twin3d.equipment",
    "write_usd": "twin3d.usd",
    "read_usd": "twin3d.usd",
    "render_png": "twin3d.render",
    "render_image": "twin3d.render",
    "render_animation": "twin3d.render.animate",
    "InstancedRenderer": "twin3d.render.renderer",
    "Viewer": "twin3d.render.viewer",
    "run_render_job": "twin3d.render.jobs",
    "validate_usd": "twin3d.usd",
    "load_scene": "twin3d.spec",
    "MissingFileError": "twin3d.errors",
    "Volume": "twin3d.io.volumes",
    "read_volume": "twin3d.io.volumes",
    "read_labelmap": "twin3d.io.volumes",
    "write_nifti": "twin3d.io.volumes",
    "labelmap_to_surfaces": "twin3d.anatomy",
    "organs_to_scene": "twin3d.anatomy",
    "load_label_table": "twin3d.anatomy",
    "make_phantom": "twin3d.phantom",
    "simulate_ai4i": "twin3d.sensors",
    "FailureRiskModel": "twin3d.predictors.risk",
    "SegmentationModel": "twin3d.predictors.segmentation",
    "segment": "twin3d.predictors.segmentation",
    "ThermalPINN": "twin3d.predictors.thermal",
    "preset_problem": "twin3d.predictors.thermal",
    "thermal_field": "twin3d.predictors.thermal",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, extra=("__version__",))
