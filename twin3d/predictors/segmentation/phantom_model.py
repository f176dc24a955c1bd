"""The phantom segmentation model: trained on generated CT phantoms, shipped with twin3d.

No pretrained weights can be downloaded, so twin3d trains a small UNet on synthetic
phantoms (:func:`twin3d.phantom.make_phantom`) and ships it as
``assets/models/phantom_unet.pt`` + ``.json`` (:func:`default_phantom_model_path`).
:func:`train_phantom_model` is its recipe (:data:`PHANTOM_MODEL_DEFAULTS`, seeds
:data:`PHANTOM_TRAIN_SEEDS` / :data:`PHANTOM_VALIDATION_SEEDS`); :func:`evaluate_model`
measures a model's Dice on unseen phantoms and its inference time.

Regenerate the shipped model (about 5 minutes on 2 busy CPU cores; see
``docs/segmentation.md`` for the measured numbers)::

    twin3d segment train --phantom 24 --threads 1 --out assets/models/phantom_unet.pt

and measure it with ``twin3d segment evaluate --seeds 7 --seeds 4242``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..._util import progress_bar
from ...errors import InputError
from . import _common
from .files import load_model, model_paths, save_model
from .network import SegmentationModel, dice_scores

__all__ = [
    "PHANTOM_TRAIN_SEEDS",
    "PHANTOM_VALIDATION_SEEDS",
    "PHANTOM_MODEL_DEFAULTS",
    "PHANTOM_EVALUATION_SEEDS",
    "REGENERATE_COMMAND",
    "default_phantom_model_path",
    "train_phantom_model",
    "evaluate_model",
]

#: Seeds of the phantoms :func:`train_phantom_model` trains on (``range(start, start + n)``)
#: and validates on; unseen-phantom tests use seeds outside both ranges.
PHANTOM_TRAIN_SEEDS = range(1000, 2000)
PHANTOM_VALIDATION_SEEDS = range(2000, 3000)

#: The recipe of the shipped phantom model (:func:`train_phantom_model` defaults).
PHANTOM_MODEL_DEFAULTS: dict[str, Any] = {"n_train": 24, "n_validation": 3, "iterations": 1200, "learning_rate": 1e-2}


#: Unseen phantoms (in neither seed range above) :func:`evaluate_model` scores by default.
PHANTOM_EVALUATION_SEEDS = (7, 4242)

#: The command that regenerates the shipped phantom model.
REGENERATE_COMMAND = (
    f"twin3d segment train --phantom {PHANTOM_MODEL_DEFAULTS['n_train']} --threads 1 "
    "--out assets/models/phantom_unet.pt"
)


def default_phantom_model_path() -> Path:
    """Path of the shipped phantom UNet (``phantom_unet.pt`` of the package's ``assets/models``).

    Raises :class:`~twin3d.errors.MissingFileError` (with the command that regenerates it)
    if this installation lacks it.
    """
    from ...resources import asset_path

    return asset_path("models", "phantom_unet.pt", what="phantom segmentation model", regenerate=REGENERATE_COMMAND)


def train_phantom_model(
    out: str | os.PathLike | None = None,
    *,
    n_train: int | None = None,
    n_validation: int | None = None,
    spacing_mm: float = 3.0,
    device: str = "auto",
    progress: bool | None = None,
    command: str | None = None,
    **params: Any,
) -> SegmentationModel:
    """Train a UNet on synthetic phantoms (:func:`twin3d.phantom.make_phantom`).

    Training phantoms use seeds ``PHANTOM_TRAIN_SEEDS[:n_train]``, validation phantoms
    ``PHANTOM_VALIDATION_SEEDS[:n_validation]``; the per-label validation Dice ends up in
    the model's ``validation_dice_`` and JSON. ``params`` go to :class:`SegmentationModel`
    (defaults: :data:`PHANTOM_MODEL_DEFAULTS`). If ``out`` is given the model is saved
    there (``NAME.pt`` + ``NAME.json``); ``command`` is recorded in its JSON.
    """
    from ...phantom import PHANTOM_LABELS, make_phantom

    n_train = PHANTOM_MODEL_DEFAULTS["n_train"] if n_train is None else n_train
    n_validation = PHANTOM_MODEL_DEFAULTS["n_validation"] if n_validation is None else n_validation
    params = {
        "iterations": PHANTOM_MODEL_DEFAULTS["iterations"],
        "learning_rate": PHANTOM_MODEL_DEFAULTS["learning_rate"],
        **params,
    }

    if not isinstance(n_train, int) or not 1 <= n_train <= len(PHANTOM_TRAIN_SEEDS):
        raise InputError(f"n_train must be an integer in 1..{len(PHANTOM_TRAIN_SEEDS)}, got {n_train!r}")
    if not isinstance(n_validation, int) or not 0 <= n_validation <= len(PHANTOM_VALIDATION_SEEDS):
        raise InputError(f"n_validation must be an integer in 0..{len(PHANTOM_VALIDATION_SEEDS)}, got {n_validation!r}")
    if out is not None:
        model_paths(out)  # fail on a bad name before minutes of training
    images, labelmaps = [], []
    with progress_bar("Making phantoms", n_train + n_validation, enabled=progress) as advance:
        for seed in PHANTOM_TRAIN_SEEDS[:n_train]:
            img, lab, _ = make_phantom(spacing_mm=spacing_mm, seed=seed)
            images.append(img)
            labelmaps.append(lab)
            advance(1)
        validation = []
        for seed in PHANTOM_VALIDATION_SEEDS[:n_validation]:
            img, lab, _ = make_phantom(spacing_mm=spacing_mm, seed=seed)
            validation.append((img, lab))
            advance(1)
    model = SegmentationModel(PHANTOM_LABELS, **params)
    model.fit(images, labelmaps, validation=validation, device=device, progress=progress)
    model.training_info_["data"] = (
        f"make_phantom(spacing_mm={spacing_mm}) seeds "
        f"{PHANTOM_TRAIN_SEEDS.start}..{PHANTOM_TRAIN_SEEDS.start + n_train - 1} "
        f"(validation {PHANTOM_VALIDATION_SEEDS.start}..{PHANTOM_VALIDATION_SEEDS.start + n_validation - 1})"
    )
    if command:
        model.training_info_["command"] = command
    if out is not None:
        save_model(model, out)
    return model


def evaluate_model(
    model: SegmentationModel | str | os.PathLike | None = None,
    *,
    seeds: Sequence[int] = PHANTOM_EVALUATION_SEEDS,
    images: Sequence[str | os.PathLike] = (),
    repeat: int = 3,
    device: str = "auto",
) -> dict[str, Any]:
    """Dice on unseen phantoms and inference times of a segmentation model.

    Parameters
    ----------
    model
        A :class:`~.network.SegmentationModel`, the path of its ``.pt``/``.json``, or
        ``None`` for the shipped phantom model.
    seeds
        Phantom seeds to segment and score (:func:`twin3d.phantom.make_phantom` at 3 mm).
    images
        Volumes (NIfTI files or DICOM folders) to time inference on as well.
    repeat
        Inference runs per phantom or image (the median time is reported).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    dict
        ``model`` (its path, or ``"<in memory>"``), ``device``, ``torch_threads``,
        ``phantoms`` (per seed: ``seed``, ``shape``, ``dice`` {organ: Dice},
        ``mean_dice``, ``median_s``), ``mean_dice`` and ``min_dice`` over the phantoms
        (``None`` without seeds) and ``images`` (per path: ``path``, ``shape``,
        ``median_s``, ``min_s``, ``max_s``, ``n``).
    """
    from ...io.volumes import read_volume
    from ...phantom import make_phantom

    if not isinstance(repeat, (int, np.integer)) or repeat < 1:
        raise InputError(f"repeat must be an integer >= 1, got {repeat!r}")
    if isinstance(model, SegmentationModel):
        name = "<in memory>"
    else:
        path = default_phantom_model_path() if model is None else Path(model)
        model, name = load_model(path), str(path)
    _common.resolve_device(device)  # a bad device fails before any phantom is made

    def timed(image) -> tuple[Any, list[float]]:
        times, pred = [], None
        for _ in range(int(repeat)):
            start = time.perf_counter()
            pred = model.predict(image, device=device)
            times.append(time.perf_counter() - start)
        return pred, times

    phantoms = []
    for seed in seeds:
        image, truth, names = make_phantom(seed=int(seed))
        pred, times = timed(image)
        scores = dice_scores(pred, truth, names)
        phantoms.append({
            "seed": int(seed),
            "shape": tuple(int(n) for n in image.array.shape),
            "dice": scores,
            "mean_dice": float(np.nanmean(list(scores.values()))),
            "median_s": float(np.median(times)),
        })
    timings = []
    for path in images:
        image = read_volume(path)
        _, times = timed(image)
        timings.append({
            "path": str(path),
            "shape": tuple(int(n) for n in image.array.shape),
            "median_s": float(np.median(times)),
            "min_s": float(np.min(times)),
            "max_s": float(np.max(times)),
            "n": len(times),
        })
    means = [p["mean_dice"] for p in phantoms]
    return {
        "model": name,
        "device": device,
        "torch_threads": _common.torch().get_num_threads(),
        "phantoms": phantoms,
        "mean_dice": float(np.mean(means)) if means else None,
        "min_dice": float(np.min(means)) if means else None,
        "images": timings,
    }
