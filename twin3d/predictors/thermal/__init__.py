"""Thermal PINN twin: physics-informed temperature fields on equipment.

Declare a heat problem (:class:`HeatProblem`, or :func:`preset_problem` for ``rod``,
``plate``, ``box``, ``cylinder``), train a :class:`ThermalPINN` on it (torch by
default, TensorFlow as an option, see :mod:`.backend`), check it against
:func:`reference_solution` (analytic or finite volumes), save/load it, and put its
field on an asset with :func:`thermal_field`.

Modules: ``problem`` (heat problems), ``reference`` (analytic and finite-volume
solutions), ``_core`` (what the backends share), ``backend`` + ``_torch`` /
``_tensorflow`` (chosen at call time), ``pinn`` (the estimator), ``twin`` (fields on
scene assets), ``section`` (the scene spec's ``thermal:`` section).

Names are imported lazily: importing this package loads neither torch nor TensorFlow.
"""

from __future__ import annotations

from ...lazy import lazy_exports

_LAZY = {
    # problems
    "HeatProblem": "problem", "Rod": "problem", "Plate": "problem", "Box": "problem", "Cylinder": "problem",
    "Material": "problem", "Dirichlet": "problem", "Neumann": "problem", "Convection": "problem",
    "ConstantInitial": "problem", "ModeInitial": "problem", "Source": "problem",
    "preset_problem": "problem", "PRESETS": "problem",
    # backends
    "resolve_backend": "backend", "get_backend": "backend", "available_backends": "backend", "ENV_VAR": "backend",
    # solver
    "ThermalPINN": "pinn", "load_model": "pinn",
    # references
    "ReferenceSolution": "reference", "analytic_solution": "reference", "finite_volume_solution": "reference",
    "reference_solution": "reference", "relative_l2": "reference",
    # scene
    "DomainMap": "twin", "thermal_field": "twin", "pretrained_model_path": "twin",
    # scene spec section
    "ThermalSpec": "section", "ThermalTrainSpec": "section", "ThermalSection": "section",
    "apply_thermal_spec": "section",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
