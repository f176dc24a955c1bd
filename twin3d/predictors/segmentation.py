"""Organ segmentation with a MONAI 3D UNet: train, segment, save and load.

The network (MONAI :class:`~monai.networks.nets.UNet`) is kept separate from how it is
run: preprocessing uses MONAI transforms as shipped (``Orientation`` to RAS,
``Spacing`` to the model's voxel size, ``ScaleIntensityRange`` for the HU window),
inference uses MONAI's :class:`~monai.inferers.SlidingWindowInferer`, and the class
probabilities are resampled back onto the input grid (``ResampleToMatch``) before the
arg-max, so the label map returned has exactly the input's shape and affine.

A model on disk is two files side by side (nothing in them runs code on load):

``NAME.pt``
    The network's ``state_dict``, read with ``torch.load(..., weights_only=True)``.
``NAME.json``
    Network config, label id -> name table, preprocessing, inference settings, the
    twin3d version, the SHA-256 of ``NAME.pt`` (a mismatched pair is refused) and what
    training measured (iterations, time, per-label validation Dice).

Typical use::

    from twin3d.phantom import make_phantom
    from twin3d.predictors.segmentation import load_model, segment, dice_scores

    model = load_model("assets/models/phantom_unet.pt")
    image, truth, names = make_phantom(seed=12345)
    labelmap = segment(image, model)            # Volume on the image's grid
    print(dice_scores(labelmap, truth, model.labels_))

Regenerate the shipped phantom model (about 5 minutes on 2 busy CPU cores; see
``docs/segmentation.md`` for the measured numbers)::

    python -m twin3d.predictors.segmentation train-phantom --out assets/models/phantom_unet.pt --threads 1
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .._util import atomic_path, progress_bar
from ..errors import InputError, ModelFileError, NotFittedError, TrainingError, Twin3DError
from ..io.volumes import Volume, as_labelmap

if TYPE_CHECKING:  # torch/MONAI are imported lazily: `import twin3d...` stays cheap
    import torch

__all__ = [
    "SegmentationModel",
    "NetworkConfig",
    "PreprocessingConfig",
    "InferenceConfig",
    "ModelFileConfig",
    "train",
    "segment",
    "save_model",
    "load_model",
    "dice_scores",
    "train_phantom_model",
    "default_phantom_model_path",
    "PHANTOM_TRAIN_SEEDS",
    "PHANTOM_VALIDATION_SEEDS",
    "PHANTOM_MODEL_DEFAULTS",
    "SegmentationSpec",
    "PhantomSource",
    "apply_segmentation_spec",
]

FORMAT = "twin3d-segmentation"
FORMAT_VERSION = 1
_RAS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))  # world axes of the affine: RAS+

#: Seeds of the phantoms :func:`train_phantom_model` trains on (``range(start, start + n)``)
#: and validates on; unseen-phantom tests use seeds outside both ranges.
PHANTOM_TRAIN_SEEDS = range(1000, 2000)
PHANTOM_VALIDATION_SEEDS = range(2000, 3000)

#: The recipe of the shipped phantom model (:func:`train_phantom_model` defaults).
PHANTOM_MODEL_DEFAULTS: dict[str, Any] = {"n_train": 24, "n_validation": 3, "iterations": 1200, "learning_rate": 1e-2}


# --------------------------------------------------------------------------- config
class NetworkConfig(BaseModel):
    """The MONAI ``UNet`` (3D, one input channel) of a segmentation model."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["monai.networks.nets.UNet"] = "monai.networks.nets.UNet"
    channels: tuple[int, ...] = Field(default=(16, 32, 64, 128), min_length=2)
    strides: tuple[int, ...] = Field(default=(2, 2, 2), min_length=1)
    num_res_units: int = Field(default=1, ge=0, le=4)
    norm: Literal["INSTANCE", "BATCH"] = "INSTANCE"
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)

    @field_validator("channels", "strides")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(v < 1 for v in value):
            raise ValueError("all entries must be >= 1")
        return value

    @model_validator(mode="after")
    def _strides_match_channels(self) -> "NetworkConfig":
        if len(self.strides) != len(self.channels) - 1:
            raise ValueError(
                f"strides needs len(channels) - 1 = {len(self.channels) - 1} entries, got {len(self.strides)}"
            )
        return self


class PreprocessingConfig(BaseModel):
    """How an image is prepared for the network (all with MONAI transforms)."""

    model_config = ConfigDict(extra="forbid")

    orientation: Literal["RAS"] = "RAS"
    spacing_mm: tuple[float, float, float] = (5.0, 5.0, 5.0)
    hu_window: tuple[float, float] = (-250.0, 450.0)

    @field_validator("spacing_mm")
    @classmethod
    def _spacing(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not math.isfinite(v) or v <= 0 for v in value):
            raise ValueError("spacing_mm must be 3 positive numbers")
        return value

    @field_validator("hu_window")
    @classmethod
    def _window(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            raise ValueError("hu_window must be (low, high) with low < high")
        return value


class InferenceConfig(BaseModel):
    """Sliding-window settings (patch size in voxels at the model spacing)."""

    model_config = ConfigDict(extra="forbid")

    roi_size: tuple[int, int, int] = (48, 48, 32)
    overlap: float = Field(default=0.25, ge=0.0, lt=1.0)
    sw_batch_size: int = Field(default=2, ge=1)
    mode: Literal["constant", "gaussian"] = "gaussian"


class WeightsInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ModelFileConfig(BaseModel):
    """Schema of a model's JSON file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["twin3d-segmentation"]
    format_version: int
    twin3d_version: str
    network: NetworkConfig
    labels: dict[int, str]
    preprocessing: PreprocessingConfig
    inference: InferenceConfig
    weights: WeightsInfo
    training: dict[str, Any] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[int, str]) -> dict[int, str]:
        if not value:
            raise ValueError("at least one label is needed")
        if any(k <= 0 or k > 65535 for k in value):
            raise ValueError("label ids must be 1..65535 (0 is background)")
        if any(not isinstance(v, str) or not v for v in value.values()):
            raise ValueError("label names must be non-empty strings")
        return dict(sorted(value.items()))


# --------------------------------------------------------------------------- helpers
def _torch():
    import torch

    return torch


def _resolve_device(device: str | None) -> "torch.device":
    """``"auto"`` -> CUDA when available, else CPU; otherwise an explicit device."""
    torch = _torch()
    device = "auto" if device is None else str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} requested but no CUDA GPU is available; use 'cpu' or 'auto'")
        try:
            return torch.device(device)
        except RuntimeError as exc:
            raise InputError(f"bad device {device!r}: {exc}") from None
    raise InputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def _check_volume(volume: Any, what: str) -> Volume:
    """A numeric 3D :class:`Volume` in RAS (LPS volumes are converted)."""
    if not isinstance(volume, Volume):
        raise InputError(f"{what} must be a twin3d Volume, got {type(volume).__name__}")
    if volume.array.size == 0:
        raise InputError(f"{what} is empty (shape {volume.array.shape})")
    if not (np.issubdtype(volume.array.dtype, np.number) or volume.array.dtype == bool):
        raise InputError(f"{what} must hold numbers, got dtype {volume.array.dtype}")
    return volume.to_ras()


def _check_labelmap(volume: Any, what: str) -> Volume:
    """A valid label map (whole-number ids >= 0, unsigned dtype) in RAS."""
    return as_labelmap(_check_volume(volume, what), source=what)


def _same_grid(a: Volume, b: Volume, names: tuple[str, str]) -> None:
    a.check_same_grid(b, names=names)


def _meta_tensor(volume: Volume, dtype=None):
    """A channel-first MONAI MetaTensor carrying the volume's affine (RAS)."""
    torch = _torch()
    from monai.data import MetaTensor

    arr = np.ascontiguousarray(volume.array)
    tensor = torch.as_tensor(arr if dtype is None else arr.astype(dtype))[None]
    return MetaTensor(tensor, affine=torch.as_tensor(volume.affine, dtype=torch.float64))


def _label_names(labels: Mapping[Any, Any]) -> dict[int, str]:
    """``{id: name}`` from a mapping of ids to names or to entries with a ``name``
    (e.g. a :class:`twin3d.anatomy.LabelTable`)."""
    if not isinstance(labels, Mapping):
        raise InputError(f"labels must be a mapping {{id: name}}, got {type(labels).__name__}")
    out: dict[int, str] = {}
    for key, value in labels.items():
        try:
            ident = int(key)
        except (TypeError, ValueError):
            raise InputError(f"label id {key!r} is not an integer") from None
        out[ident] = getattr(value, "name", value)
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version() -> str:
    from .. import __version__

    return __version__


def _model_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``x.pt`` / ``x.json`` -> (weights, config) paths of one model."""
    path = Path(path)
    if path.suffix not in (".pt", ".json"):
        raise InputError(f"model path must end in .pt or .json (the pair NAME.pt + NAME.json), got '{path}'")
    return path.with_suffix(".pt"), path.with_suffix(".json")


# --------------------------------------------------------------------------- the model
class SegmentationModel:
    """A MONAI 3D UNet that labels CT volumes, following scikit-learn's estimator contract.

    ``__init__`` only stores parameters; :meth:`fit` trains and returns ``self``; learned
    state ends in ``_``; :meth:`predict` before :meth:`fit` (or :func:`load_model`)
    raises :class:`~twin3d.errors.NotFittedError`.

    Parameters
    ----------
    labels : mapping of int to str
        Label id -> organ name (ids >= 1; 0 is background). Ids need not be contiguous.
    channels, strides, num_res_units, norm, dropout
        MONAI ``UNet`` settings (``spatial_dims=3``, one input channel, one output
        channel per label plus background).
    spacing_mm : 3 floats
        Voxel size the network works at; images are resampled to it (MONAI ``Spacing``).
    hu_window : (low, high)
        Hounsfield window mapped to [0, 1] with clipping (MONAI ``ScaleIntensityRange``).
    roi_size : 3 ints
        Training crop and sliding-window patch size, in voxels at ``spacing_mm``.
    overlap : float
        Sliding-window overlap.
    iterations, batch_size, learning_rate, seed
        Training: optimiser steps, crops per step, AdamW peak learning rate (warm-up then
        cosine decay), seed of the weight init and of the random crops.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained UNet (in eval mode).
    loss_history_ : list of float
        Dice+CE loss at every training step.
    validation_dice_ : dict of str to float
        Per-label Dice on the validation pairs given to :meth:`fit` (empty if none).
    training_info_ : dict
        What training measured: iterations, seconds, device, final loss, ...
    """

    def __init__(
        self,
        labels: Mapping[int, str],
        *,
        channels: Sequence[int] = (16, 32, 64, 128),
        strides: Sequence[int] = (2, 2, 2),
        num_res_units: int = 1,
        norm: str = "INSTANCE",
        dropout: float = 0.0,
        spacing_mm: Sequence[float] = (5.0, 5.0, 5.0),
        hu_window: Sequence[float] = (-250.0, 450.0),
        roi_size: Sequence[int] = (48, 48, 32),
        overlap: float = 0.25,
        iterations: int = 1000,
        batch_size: int = 2,
        learning_rate: float = 1e-2,
        seed: int = 0,
    ) -> None:
        self.labels = labels
        self.channels = channels
        self.strides = strides
        self.num_res_units = num_res_units
        self.norm = norm
        self.dropout = dropout
        self.spacing_mm = spacing_mm
        self.hu_window = hu_window
        self.roi_size = roi_size
        self.overlap = overlap
        self.iterations = iterations
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed

    # ------------------------------------------------------------ configuration
    def _configs(self) -> tuple[NetworkConfig, PreprocessingConfig, InferenceConfig, dict[int, str]]:
        """Validate the parameters (at the boundary, as scikit-learn does in fit)."""
        try:
            net = NetworkConfig(
                channels=tuple(self.channels),
                strides=tuple(self.strides),
                num_res_units=self.num_res_units,
                norm=self.norm,
                dropout=self.dropout,
            )
            pre = PreprocessingConfig(spacing_mm=tuple(self.spacing_mm), hu_window=tuple(self.hu_window))
            inf = InferenceConfig(roi_size=tuple(self.roi_size), overlap=self.overlap)
            labels = ModelFileConfig.model_validate(
                {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "twin3d_version": _version(),
                    "network": net,
                    "labels": _label_names(self.labels),
                    "preprocessing": pre,
                    "inference": inf,
                    "weights": {"file": "x.pt", "sha256": "0" * 64},
                }
            ).labels
        except (ValidationError, ValueError, TypeError) as exc:
            raise InputError(f"SegmentationModel: invalid parameters: {exc}") from None
        factor = int(np.prod(net.strides))
        if any(r % factor for r in inf.roi_size):
            raise InputError(
                f"SegmentationModel: roi_size {inf.roi_size} must be divisible by the product of "
                f"strides ({factor})"
            )
        return net, pre, inf, labels

    def _build_network(self, net: NetworkConfig, n_classes: int) -> "torch.nn.Module":
        from monai.networks.nets import UNet

        return UNet(
            spatial_dims=3,
            in_channels=1,
            out_channels=n_classes,
            channels=net.channels,
            strides=net.strides,
            num_res_units=net.num_res_units,
            norm=net.norm,
            dropout=net.dropout,
        )

    def _preprocess(self, pre: PreprocessingConfig, class_ids: np.ndarray | None = None):
        """MONAI dict transforms: orient to RAS, resample (labels: nearest), HU window."""
        from monai.transforms import Compose, Orientationd, ScaleIntensityRanged, Spacingd

        keys = ["image"] if class_ids is None else ["image", "label"]
        modes = "bilinear" if class_ids is None else ("bilinear", "nearest")
        return Compose(
            [
                Orientationd(keys=keys, axcodes=pre.orientation, labels=_RAS_LABELS),
                Spacingd(keys=keys, pixdim=pre.spacing_mm, mode=modes),
                ScaleIntensityRanged(
                    keys="image", a_min=pre.hu_window[0], a_max=pre.hu_window[1], b_min=0.0, b_max=1.0, clip=True
                ),
            ]
        )

    # ------------------------------------------------------------ training
    def fit(
        self,
        images: Sequence[Volume],
        labelmaps: Sequence[Volume],
        *,
        validation: Sequence[tuple[Volume, Volume]] | None = None,
        device: str = "auto",
        progress: bool | None = None,
    ) -> "SegmentationModel":
        """Train the UNet on image/label-map pairs.

        Every step draws ``batch_size`` random crops of ``roi_size`` (MONAI
        ``RandCropByLabelClassesd``: each class, background included, equally likely at
        the crop centre, so small organs are seen as often as the liver), with mild
        random intensity scaling/shifting, and takes an AdamW step on MONAI's
        ``DiceCELoss``.

        Parameters
        ----------
        images, labelmaps : sequences of Volume
            Pairs on identical grids (shape and affine). Label ids must be 0 or keys of
            ``labels``.
        validation : sequence of (image, labelmap), optional
            Held-out pairs; after training each is segmented with :meth:`predict` and the
            per-label Dice is stored in ``validation_dice_``.
        device : str
            ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        progress : bool, optional
            Force the progress bar on/off (default: only on an interactive terminal).

        Returns
        -------
        self

        Raises
        ------
        InputError
            Bad pairs (grids that differ, float label maps, unknown label ids, ...).
        TrainingError
            The loss became NaN or infinite.
        """
        torch = _torch()
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

        net_cfg, pre, inf, labels = self._configs()
        for name, value, low in (("iterations", self.iterations, 1), ("batch_size", self.batch_size, 1)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise InputError(f"SegmentationModel: {name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < 1):
            raise InputError(f"SegmentationModel: learning_rate must be in (0, 1), got {self.learning_rate!r}")
        images, labelmaps = list(images), list(labelmaps)
        if not images:
            raise InputError("fit: no training images given")
        if len(images) != len(labelmaps):
            raise InputError(f"fit: {len(images)} images but {len(labelmaps)} label maps; give one label map per image")
        dev = _resolve_device(device)
        class_ids = np.array([0, *labels.keys()])
        n_classes = len(class_ids)

        # ---- deterministic preprocessing once per pair (MONAI transforms), then the
        # per-class voxel indices the random crop samples from
        prepare = Compose(
            [
                self._preprocess(pre, class_ids),
                SpatialPadd(keys=["image", "label"], spatial_size=inf.roi_size),
                ClassesToIndicesd(keys="label", num_classes=n_classes, indices_postfix="_cls_indices"),
            ]
        )
        # ---- check everything (validation pairs too) before minutes of training
        pairs = [self._check_pair(img, lab, class_ids, f"training image {i}", f"training label map {i}")
                 for i, (img, lab) in enumerate(zip(images, labelmaps))]
        checked_validation = []
        for i, pair in enumerate(validation or []):
            try:
                v_img, v_lab = pair
            except (TypeError, ValueError):
                raise InputError(f"validation item {i} must be an (image, labelmap) pair") from None
            self._check_pair(v_img, v_lab, class_ids, f"validation image {i}", f"validation label map {i}")
            checked_validation.append((v_img, v_lab))
        data = [
            prepare({"image": _meta_tensor(img, np.float32), "label": _meta_tensor(classes)})
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
        augment.set_random_state(seed=int(self.seed))
        pick = np.random.default_rng(self.seed)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            network = self._build_network(net_cfg, n_classes)
        network = network.to(dev).train()
        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
        optimizer = torch.optim.AdamW(network.parameters(), lr=float(self.learning_rate), weight_decay=1e-5)
        scheduler = WarmupCosineSchedule(
            optimizer, warmup_steps=max(1, int(0.05 * self.iterations)), t_total=int(self.iterations)
        )

        history: list[float] = []
        start = time.perf_counter()
        with progress_bar("Training UNet", int(self.iterations), enabled=progress) as advance:
            for step in range(int(self.iterations)):
                crops = [augment(data[int(pick.integers(len(data)))])[0] for _ in range(int(self.batch_size))]
                x = torch.stack([c["image"].as_tensor() for c in crops]).float().to(dev)
                y = torch.stack([c["label"].as_tensor() for c in crops]).long().to(dev)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(network(x), y)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise TrainingError(
                        f"training diverged: the Dice+CE loss became {value} at step {step + 1} of "
                        f"{self.iterations}; lower learning_rate (now {self.learning_rate}) or check the "
                        "images for NaN/extreme values"
                    )
                loss.backward()
                optimizer.step()
                scheduler.step()
                history.append(value)
                advance(1, loss=f"{value:.3f}")
        seconds = time.perf_counter() - start

        self.network_ = network.eval()
        self.labels_ = labels
        self.loss_history_ = history
        self.training_info_ = {
            "iterations": int(self.iterations),
            "batch_size": int(self.batch_size),
            "learning_rate": float(self.learning_rate),
            "seed": int(self.seed),
            "n_images": len(data),
            "device": str(dev),
            "torch_threads": torch.get_num_threads(),
            "seconds": round(seconds, 1),
            "final_loss_mean_last_20": float(np.mean(history[-20:])),
        }
        self.validation_dice_ = {}
        if checked_validation:
            scores = []
            for v_img, v_lab in checked_validation:
                pred = self.predict(v_img, device=device)
                scores.append(dice_scores(pred, v_lab, labels))
            self.validation_dice_ = {
                name: float(np.nanmean([s[name] for s in scores])) for name in labels.values()
            }
            self.training_info_["validation_cases"] = len(scores)
            self.training_info_["validation_dice"] = dict(self.validation_dice_)
            self.training_info_["validation_mean_dice"] = float(np.nanmean(list(self.validation_dice_.values())))
        return self

    @classmethod
    def _check_pair(
        cls, image: Any, labelmap: Any, class_ids: np.ndarray, image_name: str, labelmap_name: str
    ) -> tuple[Volume, Volume]:
        """Validate an image/label-map pair; return (image, label map as class indices)."""
        img = _check_volume(image, image_name)
        if not np.all(np.isfinite(img.array)):
            raise InputError(f"{image_name} has NaN or infinite voxel values")
        lab = _check_labelmap(labelmap, labelmap_name)
        _same_grid(img, lab, (image_name, labelmap_name))
        return img, cls._to_classes(lab, class_ids, labelmap_name)

    @staticmethod
    def _to_classes(labelmap: Volume, class_ids: np.ndarray, what: str) -> Volume:
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

    # ------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                "this SegmentationModel is not trained yet: call fit(...) or load one with load_model(path)"
            )

    def predict(self, image: Volume, *, device: str = "auto") -> Volume:
        """Segment ``image``; the label map has the image's exact grid (shape, affine).

        The image is reoriented to RAS and resampled to ``spacing_mm`` (MONAI
        ``Orientation``/``Spacing``), windowed (``ScaleIntensityRange``), run through
        :class:`~monai.inferers.SlidingWindowInferer` (Gaussian blending), and the
        softmax probabilities are resampled back onto the input grid (MONAI
        ``ResampleToMatch``, trilinear, one class at a time to bound memory) before
        the arg-max.

        Parameters
        ----------
        image : Volume
            CT in Hounsfield units, RAS affine.
        device : str
            ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.

        Returns
        -------
        Volume
            Label ids (``uint8``, or ``uint16`` for ids > 255) with ``image``'s affine.
        """
        self._check_fitted()
        torch = _torch()
        from monai.data import MetaTensor
        from monai.inferers import SlidingWindowInferer
        from monai.transforms import ResampleToMatch

        net_cfg, pre, inf, labels = self._configs()
        image = _check_volume(image, "image")
        if not np.all(np.isfinite(image.array)):
            raise InputError("image has NaN or infinite voxel values")
        dev = _resolve_device(device)
        original = _meta_tensor(image, np.float32)
        x = self._preprocess(pre)({"image": original})["image"]
        inferer = SlidingWindowInferer(
            roi_size=inf.roi_size, sw_batch_size=inf.sw_batch_size, overlap=inf.overlap, mode=inf.mode
        )
        network = self.network_.to(dev).eval()
        with torch.inference_mode():
            logits = inferer(x.as_tensor()[None].to(dev), network)
            probs = torch.softmax(logits.float(), dim=1)[0].cpu()
        # back to the input grid, one class at a time (memory: two input-sized arrays)
        resample = ResampleToMatch(mode="bilinear", padding_mode="border")
        best = None
        classes = None
        for c in range(probs.shape[0]):
            p = MetaTensor(probs[c : c + 1], affine=x.affine)
            back = resample(p, img_dst=original).as_tensor()[0]
            if best is None:
                best, classes = back, torch.zeros(back.shape, dtype=torch.int64)
            else:
                better = back > best
                best = torch.where(better, back, best)
                classes[better] = c
        class_ids = np.array([0, *labels.keys()])
        dtype = np.uint8 if class_ids.max() <= 255 else np.uint16
        out = class_ids.astype(dtype)[classes.numpy()]
        return Volume(out, image.affine.copy())


# --------------------------------------------------------------------------- functions
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


def segment(image: Volume, model: SegmentationModel | str | os.PathLike, *, device: str = "auto") -> Volume:
    """Segment ``image`` with ``model`` (a model or the path of its ``.pt``/``.json``).

    Returns a label map on ``image``'s grid; see :meth:`SegmentationModel.predict`.
    """
    if not isinstance(model, SegmentationModel):
        model = load_model(model)
    return model.predict(image, device=device)


def dice_scores(prediction: Volume, reference: Volume, labels: Mapping[int, str]) -> dict[str, float]:
    """Per-label Dice of ``prediction`` against ``reference`` (MONAI ``DiceMetric``).

    Both label maps must share the grid. A label absent from the reference gets NaN
    (MONAI's ``ignore_empty``); background is not scored.

    Returns
    -------
    dict
        Organ name -> Dice in [0, 1] (or NaN), in ``labels`` order.
    """
    torch = _torch()
    from monai.metrics import DiceMetric
    from monai.networks.utils import one_hot

    pred = _check_labelmap(prediction, "prediction")
    ref = _check_labelmap(reference, "reference")
    _same_grid(pred, ref, ("prediction", "reference label map"))
    labels = _label_names(labels)
    if not labels:
        raise InputError("dice_scores: no labels to score")
    ids = np.array([0, *sorted(labels)])
    lut_size = int(max(pred.array.max(), ref.array.max(), ids.max())) + 1
    lut = np.zeros(lut_size, dtype=np.int64)  # ids outside the table count as background
    lut[ids] = np.arange(len(ids))
    p = one_hot(torch.as_tensor(lut[pred.array])[None, None], num_classes=len(ids), dim=1)
    r = one_hot(torch.as_tensor(lut[ref.array])[None, None], num_classes=len(ids), dim=1)
    metric = DiceMetric(include_background=False, reduction="none", ignore_empty=True)
    values = metric(p, r)[0].numpy()
    return {labels[int(k)]: float(v) for k, v in zip(ids[1:], values)}


def save_model(model: SegmentationModel, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``model`` as ``NAME.pt`` (state dict) + ``NAME.json`` (config), atomically.

    Parameters
    ----------
    model : SegmentationModel
        A trained model.
    path : path
        ``NAME.pt`` or ``NAME.json``; both files are written next to each other.

    Returns
    -------
    (Path, Path)
        The weights and config paths.
    """
    if not isinstance(model, SegmentationModel):
        raise InputError(f"save_model needs a SegmentationModel, got {type(model).__name__}")
    model._check_fitted()
    torch = _torch()
    net, pre, inf, labels = model._configs()
    pt_path, json_path = _model_paths(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.network_.state_dict().items()}
    # serialise in memory: the bytes then do not depend on the (temporary) file name,
    # so the same weights always give the same file and SHA-256
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    with atomic_path(pt_path) as tmp_pt:
        tmp_pt.write_bytes(payload)
        config = ModelFileConfig(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            twin3d_version=_version(),
            network=net,
            labels=labels,
            preprocessing=pre,
            inference=inf,
            weights=WeightsInfo(file=pt_path.name, sha256=digest),
            training=_jsonable(getattr(model, "training_info_", {})),
        )
        with atomic_path(json_path) as tmp_json:
            tmp_json.write_text(json.dumps(config.model_dump(mode="json"), indent=2) + "\n")
    return pt_path, json_path


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def load_model(path: str | os.PathLike) -> SegmentationModel:
    """Load a model saved by :func:`save_model` (no code runs on load).

    Parameters
    ----------
    path : path
        ``NAME.pt`` or ``NAME.json``; the other file must sit next to it.

    Raises
    ------
    ModelFileError
        Missing, corrupt or truncated files, a JSON that does not validate, weights whose
        SHA-256 differs from the JSON's (a mismatched pair), a weights file with anything
        but tensors (refused by ``weights_only=True``), or tensors that do not fit the
        network the JSON describes.
    """
    torch = _torch()
    pt_path, json_path = _model_paths(path)
    for p in (json_path, pt_path):
        if not p.is_file():
            raise ModelFileError(
                f"model file '{p}' not found (a model is the pair {pt_path.name} + {json_path.name} in one folder)"
            )
    try:
        raw = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            f"'{json_path}' is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"cannot read '{json_path}': {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ModelFileError(f"'{json_path}' is not a twin3d segmentation model (expected \"format\": \"{FORMAT}\")")
    if raw.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"'{json_path}' has format_version {raw.get('format_version')!r}; "
            f"this twin3d reads version {FORMAT_VERSION}"
        )
    try:
        config = ModelFileConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise ModelFileError(f"'{json_path}' does not describe a valid model: {problems}") from None
    if config.weights.file != pt_path.name:
        raise ModelFileError(
            f"'{json_path}' belongs to weights '{config.weights.file}', not '{pt_path.name}'"
        )
    digest = _sha256(pt_path)
    if digest != config.weights.sha256:
        raise ModelFileError(
            f"'{pt_path}' does not match '{json_path}' (SHA-256 {digest[:12]}... vs {config.weights.sha256[:12]}...): "
            "the weights were replaced, truncated or belong to another model"
        )
    try:
        state = torch.load(pt_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise ModelFileError(
            f"cannot load weights '{pt_path}' with weights_only=True: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"'{pt_path}' must hold a state dict (names -> tensors), got {type(state).__name__}")

    model = SegmentationModel(
        config.labels,
        channels=config.network.channels,
        strides=config.network.strides,
        num_res_units=config.network.num_res_units,
        norm=config.network.norm,
        dropout=config.network.dropout,
        spacing_mm=config.preprocessing.spacing_mm,
        hu_window=config.preprocessing.hu_window,
        roi_size=config.inference.roi_size,
        overlap=config.inference.overlap,
    )
    net_cfg, _pre, _inf, labels = model._configs()
    network = model._build_network(net_cfg, len(labels) + 1)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[:4]
        raise ModelFileError(
            f"weights '{pt_path}' do not fit the network in '{json_path}': {' '.join(first)}"
        ) from None
    model.network_ = network.eval()
    model.labels_ = labels
    model.loss_history_ = []
    model.training_info_ = dict(config.training)
    model.validation_dice_ = dict(config.training.get("validation_dice", {}))
    return model


# --------------------------------------------------------------------------- scene spec
class PhantomSource(BaseModel):
    """Spec: a synthetic phantom as the image (see :func:`twin3d.phantom.make_phantom`)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    spacing_mm: float | tuple[float, float, float] = 3.0
    phase: Literal["native", "portal_venous"] | None = None


class SegmentationSpec(BaseModel):
    """The ``segmentation`` section of a scene spec: image -> UNet -> organ assets.

    Example (YAML)::

        segmentation:
          phantom: {seed: 7}            # or: image: scans/ct.nii.gz
          model: phantom                # the shipped phantom UNet, or path/to/model.pt
          labelmap_out: out/seg.nii.gz  # optional: keep the predicted label map
    """

    model_config = ConfigDict(extra="forbid")

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


def apply_segmentation_spec(
    spec: SegmentationSpec | Mapping[str, Any], scene: Any, *, base_dir: str | os.PathLike = "."
) -> Any:
    """Segment the spec's image and add one organ asset per label to ``scene``.

    The image (a file, or a phantom) is segmented with the model, the label map is
    turned into named organ surfaces (:func:`twin3d.anatomy.labelmap_to_surfaces`) and
    those become assets under ``spec.group`` (:func:`twin3d.anatomy.organs_to_scene`).
    ``scene.metadata["segmentation"]`` records the model, the inference time and,
    for a phantom (whose truth is known), the per-label Dice.

    Parameters
    ----------
    spec : SegmentationSpec or mapping
        The spec section (a mapping is validated; errors raise :class:`InputError`).
    scene : Scene
        A scene in millimetres (``units="mm"``).
    base_dir : path
        Folder that relative paths in the spec are resolved against.

    Returns
    -------
    Scene
        ``scene``, with the organs added.
    """
    from ..anatomy import labelmap_to_surfaces, organs_to_scene

    if not isinstance(spec, SegmentationSpec):
        try:
            spec = SegmentationSpec.model_validate(spec)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(['segmentation', *map(str, e['loc'])])}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise InputError(f"invalid segmentation spec: {problems}") from None
    base = Path(base_dir)
    model_path = default_phantom_model_path() if spec.model == "phantom" else base / spec.model
    model = load_model(model_path)
    truth = None
    if spec.phantom is not None:
        from ..phantom import make_phantom

        ph = spec.phantom
        image, truth, _ = make_phantom(spacing_mm=ph.spacing_mm, seed=ph.seed, phase=ph.phase)
        source = f"phantom seed {spec.phantom.seed}"
    else:
        from ..io.volumes import read_volume

        image = read_volume(base / spec.image)
        source = str(spec.image)
    start = time.perf_counter()
    labelmap = model.predict(image, device=spec.device)
    seconds = time.perf_counter() - start
    if spec.labelmap_out:
        from ..io.volumes import write_nifti

        write_nifti(labelmap, base / spec.labelmap_out)
    surfaces = labelmap_to_surfaces(
        labelmap, model.labels_, method=spec.method, smoothing=spec.smoothing, decimate=spec.decimate
    )
    info: dict[str, Any] = {"source": source, "model": str(model_path), "inference_s": round(seconds, 2)}
    if truth is not None:
        info["dice"] = dice_scores(labelmap, truth, model.labels_)
    organs_to_scene(surfaces, scene=scene, group=spec.group, metadata={"segmentation": info})
    return scene


# --------------------------------------------------------------------------- phantom model
def default_phantom_model_path() -> Path:
    """Path of the phantom UNet shipped in the repository (``assets/models/phantom_unet.pt``)."""
    path = Path(__file__).resolve().parents[2] / "assets" / "models" / "phantom_unet.pt"
    if not path.is_file():
        raise ModelFileError(
            f"the shipped phantom model '{path}' is missing (a source checkout has it); regenerate it with "
            "'python -m twin3d.predictors.segmentation train-phantom --out assets/models/phantom_unet.pt'"
        )
    return path


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
    from ..phantom import PHANTOM_LABELS, make_phantom

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
        _model_paths(out)  # fail on a bad name before minutes of training
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


def _main(argv: Sequence[str] | None = None) -> int:
    """Module entry point (see the module docstring)::

        python -m twin3d.predictors.segmentation train-phantom --out assets/models/phantom_unet.pt
        python -m twin3d.predictors.segmentation evaluate --model assets/models/phantom_unet.pt --seeds 7 4242
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m twin3d.predictors.segmentation")
    sub = parser.add_subparsers(dest="command", required=True)
    tp = sub.add_parser("train-phantom", help="train the phantom UNet and save NAME.pt + NAME.json")
    tp.add_argument("--out", default="assets/models/phantom_unet.pt", help="NAME.pt, NAME.json or a folder")
    tp.add_argument("--n-train", type=int, default=PHANTOM_MODEL_DEFAULTS["n_train"])
    tp.add_argument("--n-validation", type=int, default=PHANTOM_MODEL_DEFAULTS["n_validation"])
    tp.add_argument("--iterations", type=int, default=PHANTOM_MODEL_DEFAULTS["iterations"])
    tp.add_argument("--learning-rate", type=float, default=PHANTOM_MODEL_DEFAULTS["learning_rate"])
    tp.add_argument("--seed", type=int, default=0)
    tp.add_argument("--device", default="auto")
    tp.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    tp.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    ev = sub.add_parser("evaluate", help="Dice on unseen phantoms and inference times")
    ev.add_argument("--model", default=None, help="NAME.pt (default: the shipped phantom model)")
    ev.add_argument("--seeds", type=int, nargs="*", default=[7, 4242], help="phantom seeds to score")
    ev.add_argument("--image", action="append", default=[], help="also time inference on this volume (repeatable)")
    ev.add_argument("--repeat", type=int, default=3, help="timing repeats (median reported)")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        _torch().set_num_threads(args.threads)
    try:
        if args.command == "train-phantom":
            out = Path(args.out)
            if out.is_dir() or args.out.endswith(("/", os.sep)):
                out = out / "phantom_unet.pt"
            model = train_phantom_model(
                out,
                n_train=args.n_train,
                n_validation=args.n_validation,
                device=args.device,
                progress=args.progress,
                iterations=args.iterations,
                learning_rate=args.learning_rate,
                seed=args.seed,
                command="python -m twin3d.predictors.segmentation " + " ".join(sys.argv[1:] if argv is None else argv),
            )
            info = model.training_info_
            print(f"saved {out.with_suffix('.pt')} + {out.with_suffix('.json')}")
            print(
                f"trained {info['iterations']} steps on {info['n_images']} phantoms in {info['seconds']} s "
                f"on {info['device']} ({info['torch_threads']} threads)"
            )
            for name, value in model.validation_dice_.items():
                print(f"  Dice {name:<14} {value:.3f}")
            if model.validation_dice_:
                print(f"  mean Dice      {info['validation_mean_dice']:.3f}")
        else:
            _evaluate(args)
    except Twin3DError as exc:
        parser.exit(2, f"error: {exc}\n")
    return 0


def _evaluate(args: Any) -> None:
    from ..io.volumes import read_volume
    from ..phantom import make_phantom

    model = load_model(args.model or default_phantom_model_path())
    torch = _torch()
    name = args.model or default_phantom_model_path()
    print(f"model {name}, torch threads {torch.get_num_threads()}, device {args.device}")
    means = []
    for seed in args.seeds:
        image, truth, names = make_phantom(seed=seed)
        times = []
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            pred = model.predict(image, device=args.device)
            times.append(time.perf_counter() - start)
        scores = dice_scores(pred, truth, names)
        mean = float(np.nanmean(list(scores.values())))
        means.append(mean)
        detail = " ".join(f"{k}={v:.3f}" for k, v in scores.items())
        print(f"phantom seed {seed} {'x'.join(map(str, image.array.shape))}: mean Dice {mean:.3f} ({detail}); "
              f"inference median {np.median(times):.2f} s")
    if means:
        print(f"mean Dice over {len(means)} unseen phantoms: {np.mean(means):.3f} (min {np.min(means):.3f})")
    for path in args.image:
        image = read_volume(path)
        times = []
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            model.predict(image, device=args.device)
            times.append(time.perf_counter() - start)
        print(f"{path} {'x'.join(map(str, image.array.shape))}: inference median {np.median(times):.2f} s "
              f"(min {np.min(times):.2f}, max {np.max(times):.2f}, n={len(times)})")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
