"""Thermal ablation in a segmented organ: the Pennes bioheat problem, its finite-volume
reference, thermal damage and the lesion as a 3D asset.

A label map gives the organ (the domain) and the large vessels (heat sinks at blood
temperature); an applicator at a target point heats it (:class:`Applicator`); the
finite-volume reference (:func:`finite_volume_solution`) gives the temperature over
time, the thermal dose and the Arrhenius damage; the ablation zone becomes a ``lesion``
surface asset next to the organ coloured by temperature over time
(:func:`ablation_scene`), with a report of lesion volume, margin, peak temperature and
the heat each vessel removes (:func:`ablation_report`).

==============  ================================================================
module          what it holds
==============  ================================================================
``tissue``      literature tissue and blood properties (:data:`TISSUES`)
``problem``     :class:`AblationProblem`, :class:`Applicator`, :func:`ablation_problem`
``reference``   finite volumes (:func:`finite_volume_solution`, :func:`steady_state`),
                the closed form :func:`analytic_ball_rise`
``damage``      CEM43 and Arrhenius damage (:class:`DamageIntegrator`)
``lesion``      lesion measures and surface, the ablation scene and report
``section``     the scene spec's ``ablation:`` section
==============  ================================================================

Names are imported lazily: importing this package loads neither SciPy nor VTK.
"""

from __future__ import annotations

from ...lazy import lazy_exports

_LAZY = {
    # tissue
    "Tissue": "tissue", "Blood": "tissue", "TISSUES": "tissue", "BLOOD": "tissue", "tissue_for": "tissue",
    # problem
    "Applicator": "problem", "Surface": "problem", "AblationProblem": "problem", "ablation_problem": "problem",
    "DEFAULT_VESSELS": "problem", "POWER_RANGE_W": "problem", "DURATION_RANGE_S": "problem",
    # reference
    "finite_volume_solution": "reference", "steady_state": "reference", "analytic_ball_rise": "reference",
    "AblationSolution": "reference", "build_operator": "reference",
    # damage
    "cem43": "damage", "arrhenius_damage": "damage", "DamageIntegrator": "damage", "ARRHENIUS": "damage",
    # lesion, scene, report
    "LesionSummary": "lesion", "lesion_summary": "lesion", "lesion_surface": "lesion",
    "ablation_scene": "lesion", "ablation_report": "lesion", "run_ablation": "lesion",
    # scene spec section
    "AblationSpec": "section",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
