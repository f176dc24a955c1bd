"""Failure risk: a calibrated, fast failure-probability model for machines.

Modules (data flows features -> tree -> model -> files -> scene):

:mod:`~twin3d.predictors.risk.features`
    Model inputs as float64 columns and the physics features (temperature difference,
    power, strain) added when the AI4I process variables are present.
:mod:`~twin3d.predictors.risk.tree`
    The decision tree as numpy arrays: rank codes for exact float64 splits, pruning,
    the vectorised traversal that makes prediction fast.
:mod:`~twin3d.predictors.risk.model`
    :class:`FailureRiskModel`, a scikit-learn estimator: physics features, an
    exact-split tree whose depth, isotonic calibration and decision threshold are
    learned by inner cross-validation.
:mod:`~twin3d.predictors.risk.evaluation`
    :func:`cross_validate_risk` (stratified k-fold, any scikit-learn classifier),
    :func:`risk_metrics`, :func:`expected_calibration_error`.
:mod:`~twin3d.predictors.risk.files`
    skops model files: :func:`save_model`, :func:`load_model` (a pinned
    :data:`TRUSTED_TYPES` list, checked before anything is constructed),
    :func:`read_model_info`.
:mod:`~twin3d.predictors.risk.training`
    :func:`train_on_simulator`: a model trained on AI4I simulator data for demos.
:mod:`~twin3d.predictors.risk.scene`
    :func:`apply_risk` (score every machine at every frame, one vectorised call) and
    :func:`top_risk_assets`.
:mod:`~twin3d.predictors.risk.section`
    The ``risk:`` section of scene specs: :class:`RiskSpec`, :class:`RiskTrainSpec`,
    :func:`apply_risk_spec`.

The design is measured in ``benchmarks/risk.py`` and explained in ``docs/risk.md``.
Names are imported lazily: importing this package loads neither scikit-learn nor pandas.
"""

from __future__ import annotations

from ...lazy import lazy_exports

_LAZY = {
    # model
    "FailureRiskModel": "model",
    # features
    "PHYSICS_FEATURES": "features",
    # files
    "TRUSTED_TYPES": "files", "MODEL_FORMAT": "files", "MODEL_FORMAT_VERSION": "files",
    "save_model": "files", "load_model": "files", "read_model_info": "files",
    # evaluation
    "expected_calibration_error": "evaluation", "risk_metrics": "evaluation", "cross_validate_risk": "evaluation",
    # demo model
    "train_on_simulator": "training",
    # scenes
    "apply_risk": "scene", "top_risk_assets": "scene",
    # scene-spec section
    "RiskTrainSpec": "section", "RiskSpec": "section", "apply_risk_spec": "section",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
