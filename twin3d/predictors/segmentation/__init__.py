"""Organ segmentation with a MONAI 3D UNet: train, segment, save and load.

==================  ==================================================================
module              what it holds
==================  ==================================================================
``config``          the model's settings and the schema of its JSON file
                    (:class:`NetworkConfig`, :class:`PreprocessingConfig`,
                    :class:`InferenceConfig`, :class:`ModelFileConfig`)
``network``         the network and how it is run: :class:`SegmentationModel`
                    (scikit-learn contract), :func:`segment`, :func:`dice_scores`
``training``        training on image/label-map pairs (what ``fit`` runs), :func:`train`
``files``           model files ``NAME.pt`` + ``NAME.json``: :func:`save_model`,
                    :func:`load_model`, :func:`model_paths`
``phantom_model``   the shipped model trained on generated phantoms:
                    :func:`train_phantom_model`, :func:`default_phantom_model_path`,
                    :func:`evaluate_model`
``section``         the scene spec's ``segmentation:`` section (:class:`SegmentationSpec`)
``_common``         what the modules share (device choice, input checks, MONAI tensors)
==================  ==================================================================

Typical use::

    from twin3d.phantom import make_phantom
    from twin3d.predictors.segmentation import default_phantom_model_path, dice_scores, load_model, segment

    model = load_model(default_phantom_model_path())
    image, truth, names = make_phantom(seed=12345)
    labelmap = segment(image, model)            # Volume on the image's grid
    print(dice_scores(labelmap, truth, model.labels_))

From the command line: ``twin3d segment IMAGE --model M --out SEG``, ``twin3d segment
train ...`` (``--phantom N`` for the phantom model) and ``twin3d segment evaluate``.
Names are imported lazily: importing this package loads neither torch nor MONAI.
"""

from __future__ import annotations

from ...lazy import lazy_exports

_LAZY = {
    # settings
    "NetworkConfig": "config",
    "PreprocessingConfig": "config",
    "InferenceConfig": "config",
    "ModelFileConfig": "config",
    # network and inference
    "SegmentationModel": "network",
    "segment": "network",
    "dice_scores": "network",
    # training
    "train": "training",
    # model files
    "save_model": "files",
    "load_model": "files",
    "model_paths": "files",
    # the phantom model
    "train_phantom_model": "phantom_model",
    "default_phantom_model_path": "phantom_model",
    "evaluate_model": "phantom_model",
    "PHANTOM_TRAIN_SEEDS": "phantom_model",
    "PHANTOM_VALIDATION_SEEDS": "phantom_model",
    "PHANTOM_MODEL_DEFAULTS": "phantom_model",
    "PHANTOM_EVALUATION_SEEDS": "phantom_model",
    # scene spec section
    "SegmentationSpec": "section",
    "PhantomSource": "section",
    "apply_segmentation_spec": "section",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
