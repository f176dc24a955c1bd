"""Training a :class:`~.network.SegmentationModel` on image/label-map pairs.

:func:`fit_model` is what :meth:`SegmentationModel.fit <.network.SegmentationModel.fit>`
runs: every input pair is checked first (grids, label ids; validation pairs too), then
preprocessed once with MONAI transforms, and each step takes an AdamW step on MONAI's
``DiceCELoss`` over random crops centred on each class equally often. :func:`train`
builds and fits a model in one call. Training on generated phantoms is in
:mod:`.phantom_model`.
"""

from __future__ import annotations

import math
import time
from typing import Any, Mapping, Sequence

import numpy as np

from ..._util import progress_bar
from ...errors import InputError, TrainingError
from ...io.volumes import Volume
from . import _common
from .network import SegmentationModel, dice_scores

__all__ = ["fit_model", "train", "check_pair", "to_classes"]


def fit_model(
    model: SegmentationModel,
    images: Sequence[Volume],
    labelmaps: Sequence[Volume],
    *,
    validation: Sequence[tuple[Volume, Volume]] | None = None,
    device: str = "auto",
    progress: bool | None = None,
) -> SegmentationModel:
    """Train ``model``'s UNet on image/label-map pairs; returns ``model``.

    See :meth:`SegmentationModel.fit <.network.SegmentationModel.fit>` for the
    parameters, what training does and the errors raised.
    """
    torch = _common.torch()
    from monai.losses import DiceCELoss
    from monai.optimizers import WarmupCosineSchedule
    from monai.transforms import (
        ClassesToIndicesd,
        Compose,
        RandCropByLabelClassesd,
        RandScaleIntensityd,
        RandShiftIntensityd,
        SpatialPadd,
    )

    net_cfg, pre, inf, labels = model.configs()
    for name, value, low in (("iterations", model.iterations, 1), ("batch_size", model.batch_size, 1),
                             ("seed", model.seed, 0)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"SegmentationModel: {name} must be an integer >= {low}, got {value!r}")
    if not (isinstance(model.learning_rate, (int, float)) and 0 < model.learning_rate < 1):
        raise InputError(f"SegmentationModel: learning_rate must be in (0, 1), got {model.learning_rate!r}")
    images, labelmaps = list(images), list(labelmaps)
    if not images:
        raise InputError("fit: no training images given")
    if len(images) != len(labelmaps):
        raise InputError(f"fit: {len(images)} images but {len(labelmaps)} label maps; give one label map per image")
    dev = _common.resolve_device(device)
    class_ids = np.array([0, *labels.keys()])
    n_classes = len(class_ids)
    from ...budgets import check_memory

    nbytes, detail = model.training_memory(net_cfg, inf, n_classes)
    check_memory(nbytes, "training the segmentation network", detail=detail)

    # ---- deterministic preprocessing once per pair (MONAI transforms), then the
    # per-class voxel indices the random crop samples from
    prepare = Compose(
        [
            model.preprocessing(pre, class_ids),
            SpatialPadd(keys=["image", "label"], spatial_size=inf.roi_size),
            ClassesToIndicesd(keys="label", num_classes=n_classes, indices_postfix="_cls_indices"),
        ]
    )
    # ---- check everything (validation pairs too) before minutes of training
    pairs = [check_pair(img, lab, class_ids, f"training image {i}", f"training label map {i}")
             for i, (img, lab) in enumerate(zip(images, labelmaps))]
    checked_validation = []
    for i, pair in enumerate(validation or []):
        try:
            v_img, v_lab = pair
        except (TypeError, ValueError):
            raise InputError(f"validation item {i} must be an (image, labelmap) pair") from None
        check_pair(v_img, v_lab, class_ids, f"validation image {i}", f"validation label map {i}")
        checked_validation.append((v_img, v_lab))
    data = [
        prepare({"image": _common.meta_tensor(img, np.float32), "label": _common.meta_tensor(classes)})
        for img, classes in pairs
    ]
    del pairs

    augment = Compose(
        [
            RandCropByLabelClassesd(
                keys=["image", "label"],
                label_key="label",
                spatial_size=inf.roi_size,
                num_classes=n_classes,
                ratios=[1.0] * n_classes,
                num_samples=1,
                indices_key="label_cls_indices",
                warn=False,
            ),
            RandScaleIntensityd(keys="image", factors=0.1, prob=0.5),
            RandShiftIntensityd(keys="image", offsets=0.05, prob=0.5),
        ]
    )
    augment.set_random_state(seed=int(model.seed))
    pick = np.random.default_rng(model.seed)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(model.seed))
        network = model.build_network(net_cfg, n_classes)
    network = network.to(dev).train()
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.AdamW(network.parameters(), lr=float(model.learning_rate), weight_decay=1e-5)
    scheduler = WarmupCosineSchedule(
        optimizer, warmup_steps=max(1, int(0.05 * model.iterations)), t_total=int(model.iterations)
    )

    history: list[float] = []
    start = time.perf_counter()
    with progress_bar("Training UNet", int(model.iterations), enabled=progress) as advance:
        for step in range(int(model.iterations)):
            crops = [augment(data[int(pick.integers(len(data)))])[0] for _ in range(int(model.batch_size))]
            x = torch.stack([c["image"].as_tensor() for c in crops]).float().to(dev)
            y = torch.stack([c["label"].as_tensor() for c in crops]).long().to(dev)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(network(x), y)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingError(
                    f"training diverged: the Dice+CE loss became {value} at step {step + 1} of "
                    f"{model.iterations}; lower learning_rate (now {model.learning_rate}) or check the "
                    "images for NaN/extreme values"
                )
            loss.backward()
            optimizer.step()
            scheduler.step()
            history.append(value)
            advance(1, loss=f"{value:.3f}")
    seconds = time.perf_counter() - start

    model.network_ = network.eval()
    model.labels_ = labels
    model.loss_history_ = history
    model.training_info_ = {
        "iterations": int(model.iterations),
        "batch_size": int(model.batch_size),
        "learning_rate": float(model.learning_rate),
        "seed": int(model.seed),
        "n_images": len(data),
        "device": str(dev),
        "torch_threads": torch.get_num_threads(),
        "seconds": round(seconds, 1),
        "final_loss_mean_last_20": float(np.mean(history[-20:])),
    }
    model.validation_dice_ = {}
    if checked_validation:
        scores = []
        for v_img, v_lab in checked_validation:
            pred = model.predict(v_img, device=device)
            scores.append(dice_scores(pred, v_lab, labels))
        model.validation_dice_ = {
            name: float(np.nanmean([s[name] for s in scores])) for name in labels.values()
        }
        model.training_info_["validation_cases"] = len(scores)
        model.training_info_["validation_dice"] = dict(model.validation_dice_)
        model.training_info_["validation_mean_dice"] = float(np.nanmean(list(model.validation_dice_.values())))
    return model


def check_pair(
    image: Any, labelmap: Any, class_ids: np.ndarray, image_name: str, labelmap_name: str
) -> tuple[Volume, Volume]:
    """Validate an image/label-map pair; return (image, label map as class indices)."""
    img = _common.check_volume(image, image_name)
    if not np.all(np.isfinite(img.array)):
        raise InputError(f"{image_name} has NaN or infinite voxel values")
    lab = _common.check_labelmap(labelmap, labelmap_name)
    img.check_same_grid(lab, names=(image_name, labelmap_name))
    return img, to_classes(lab, class_ids, labelmap_name)


def to_classes(labelmap: Volume, class_ids: np.ndarray, what: str) -> Volume:
    """Label ids -> class indices 0..C-1 (ids not in the table are an error)."""
    arr = labelmap.array
    present = np.unique(arr)
    unknown = np.setdiff1d(present, class_ids)
    if unknown.size:
        raise InputError(
            f"{what} has label ids {unknown[:10].tolist()} that are not in the label table "
            f"(known: {class_ids[1:].tolist()})"
        )
    dtype = np.uint8 if len(class_ids) < 256 else np.int64
    lut = np.zeros(int(max(present.max(), class_ids.max())) + 1, dtype=dtype)
    lut[class_ids] = np.arange(len(class_ids))
    return Volume(lut[arr], labelmap.affine)


def train(
    images: Sequence[Volume],
    labelmaps: Sequence[Volume],
    labels: Mapping[int, str],
    *,
    validation: Sequence[tuple[Volume, Volume]] | None = None,
    device: str = "auto",
    progress: bool | None = None,
    **params: Any,
) -> SegmentationModel:
    """Train a :class:`SegmentationModel` (``params`` are its constructor's keywords).

    Equivalent to ``SegmentationModel(labels, **params).fit(images, labelmaps, ...)``.
    """
    return SegmentationModel(labels, **params).fit(
        images, labelmaps, validation=validation, device=device, progress=progress
    )
