"""AI predictors: each writes fields on scene assets (or, for segmentation, new assets).

==================  ============================================================
package             what it predicts
==================  ============================================================
``risk/``           calibrated failure probability of a machine from its sensors
``thermal/``        PINN temperature field on a part (torch or TensorFlow)
``segmentation/``   a label map from a CT/MR volume (MONAI UNet) -> organ assets
==================  ============================================================

Every predictor follows scikit-learn's estimator contract (``__init__`` stores
parameters, ``fit`` returns ``self``, learned state ends in ``_``, predicting before
``fit`` raises :class:`~twin3d.errors.NotFittedError`) and saves models in formats that
run no code on load. Each has a ``section`` module: its scene-spec section
(:class:`twin3d.sections.SpecSection`), registered in :mod:`twin3d.sections`.
"""
