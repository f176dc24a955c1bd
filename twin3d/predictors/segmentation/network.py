"""The segmentation network and how it is run: :class:`SegmentationModel`, :func:`segment`, :func:`dice_scores`.

The network (MONAI :class:`~monai.networks.nets.UNet`) is kept separate from how it is
run: preprocessing uses MONAI transforms as shipped (``Orientation`` to RAS,
``Spacing`` to the model's voxel size, ``ScaleIntensityRange`` for the HU window),
inference uses MONAI's :class:`~monai.inferers.SlidingWindowInferer`, and the class
probabilities are resampled back onto the input grid (``ResampleToMatch``) before the
arg-max, so the label map returned has exactly the input's shape and affine.

Training (:meth:`SegmentationModel.fit`) is in :mod:`.training`, model files in
:mod:`.files`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
from pydantic import ValidationError

from ...errors import InputError, NotFittedError
from ...io.volumes import Volume
from . import _common
from .config import FORMAT, FORMAT_VERSION, InferenceConfig, ModelFileConfig, NetworkConfig, PreprocessingConfig

if TYPE_CHECKING:  # torch/MONAI are imported lazily: `import twin3d...` stays cheap
    import torch

__all__ = ["SegmentationModel", "segment", "dice_scores", "unet_parameters"]


def unet_parameters(net: NetworkConfig) -> int:
    """About how many weights the MONAI ``UNet`` of ``net`` has (within ~5 % for the usual
    configurations): ``27 x max(1, num_res_units) x 2 x sum(c_i x c_(i+1))`` over the channel
    widths, input channel included (3x3x3 kernels, down and up paths)."""
    c = [1, *(int(v) for v in net.channels)]
    pairs = sum(c[i] * c[i + 1] for i in range(len(c) - 1))
    return 27 * max(1, int(net.num_res_units)) * 2 * pairs


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
    def configs(self) -> tuple[NetworkConfig, PreprocessingConfig, InferenceConfig, dict[int, str]]:
        """The validated settings: ``(network, preprocessing, inference, {id: name})``.

        Parameters are checked here, at the boundary (as scikit-learn does in ``fit``);
        bad ones raise :class:`~twin3d.errors.InputError`.
        """
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
                    "twin3d_version": _common.twin3d_version(),
                    "network": net,
                    "labels": _common.label_names(self.labels),
                    "preprocessing": pre,
                    "inference": inf,
                    "weights": {"file": "x.pt", "sha256": "0" * 64},
                }
            ).labels
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'] if p not in ('network', 'preprocessing', 'inference'))}: "
                f"{str(e['msg']).removeprefix('Value error, ')}"
                for e in exc.errors(include_url=False)[:5])
            raise InputError(f"SegmentationModel: invalid parameters: {problems}") from None
        except (ValueError, TypeError) as exc:
            raise InputError(f"SegmentationModel: invalid parameters: {' '.join(str(exc).split())}") from None
        factor = int(np.prod(net.strides))
        if any(r % factor for r in inf.roi_size):
            raise InputError(
                f"SegmentationModel: roi_size {inf.roi_size} must be divisible by the product of "
                f"strides ({factor})"
            )
        return net, pre, inf, labels

    def build_network(self, net: NetworkConfig, n_classes: int, *,
                      what: str = "the segmentation network") -> "torch.nn.Module":
        """A fresh (untrained) MONAI ``UNet`` for ``net`` with ``n_classes`` outputs (background + labels).

        Refused with :class:`~twin3d.errors.BudgetError` when its weights (float32, plus
        their initialisation) would not fit the memory budget (:mod:`twin3d.budgets`).
        """
        from ...budgets import check_memory

        n_params = unet_parameters(net)
        check_memory(n_params * 4.0 * 2, what,
                     detail=f"about {n_params:,} float32 weights for channels {list(net.channels)}, "
                            "built and initialised")
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

    def preprocessing(self, pre: PreprocessingConfig, class_ids: np.ndarray | None = None):
        """MONAI dict transforms: orient to RAS, resample (labels: nearest), HU window.

        Keys ``"image"`` (and ``"label"`` when ``class_ids`` is given, for training).
        """
        from monai.transforms import Compose, Orientationd, ScaleIntensityRanged, Spacingd

        keys = ["image"] if class_ids is None else ["image", "label"]
        modes = "bilinear" if class_ids is None else ("bilinear", "nearest")
        return Compose(
            [
                Orientationd(keys=keys, axcodes=pre.orientation, labels=_common.RAS_LABELS),
                Spacingd(keys=keys, pixdim=pre.spacing_mm, mode=modes),
                ScaleIntensityRanged(
                    keys="image", a_min=pre.hu_window[0], a_max=pre.hu_window[1], b_min=0.0, b_max=1.0, clip=True
                ),
            ]
        )

    def training_memory(self, net: NetworkConfig, inf: InferenceConfig, n_classes: int) -> tuple[float, str]:
        """Estimated memory of one training step in bytes, and how it was counted: the
        weights with their gradients and AdamW's two moments (4 x float32 each), and the
        activations autograd keeps for ``batch_size`` crops of ``roi_size`` (about six
        float32 maps per channel of every level, at that level's resolution)."""
        n_params = unet_parameters(net)
        voxels = float(np.prod(inf.roi_size))
        per_voxel = 0.0
        scale = 1.0
        for k, ch in enumerate(net.channels):
            per_voxel += 2 * ch / scale  # down and up paths
            if k < len(net.strides):
                scale *= float(net.strides[k]) ** 3
        per_voxel += n_classes
        activations = float(self.batch_size) * voxels * per_voxel * 4 * 6
        detail = (f"about {n_params:,} weights x 16 B, plus activations of {self.batch_size} crop(s) of "
                  f"{'x'.join(map(str, inf.roi_size))} voxels")
        return n_params * 16.0 + activations, detail

    def inference_memory(self, image: Volume, pre: PreprocessingConfig, n_classes: int) -> tuple[float, str]:
        """Estimated memory of :meth:`predict` on ``image`` in bytes, and how it was counted: the
        image resampled to ``spacing_mm`` with one float32 logit and probability map per class,
        and the input-sized float32/int64 arrays of the resampling back and the arg-max."""
        n_in = float(np.prod(image.shape))
        ratio = image.voxel_volume_mm3 / float(np.prod(pre.spacing_mm))
        n_model = n_in * ratio
        nbytes = n_model * 4 * (2 + 2 * n_classes) + n_in * 24
        detail = (f"{'x'.join(map(str, image.shape))} voxels, about {n_model:,.0f} at the model's "
                  f"{'x'.join(f'{v:g}' for v in pre.spacing_mm)} mm spacing x {n_classes} classes")
        return nbytes, detail

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
        from .training import fit_model

        return fit_model(self, images, labelmaps, validation=validation, device=device, progress=progress)

    # ------------------------------------------------------------ inference
    def check_fitted(self) -> None:
        """Raise :class:`~twin3d.errors.NotFittedError` unless the model is trained (or loaded)."""
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
        self.check_fitted()
        torch = _common.torch()
        from monai.data import MetaTensor
        from monai.inferers import SlidingWindowInferer
        from monai.transforms import ResampleToMatch

        net_cfg, pre, inf, labels = self.configs()
        image = _common.check_volume(image, "image")
        from ...budgets import check_memory

        nbytes, detail = self.inference_memory(image, pre, len(labels) + 1)
        check_memory(nbytes, "segmenting the image", detail=detail)
        if not np.all(np.isfinite(image.array)):
            raise InputError("image has NaN or infinite voxel values")
        dev = _common.resolve_device(device)
        original = _common.meta_tensor(image, np.float32)
        x = self.preprocessing(pre)({"image": original})["image"]
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



def segment(image: Volume, model: SegmentationModel | str | os.PathLike, *, device: str = "auto") -> Volume:
    """Segment ``image`` with ``model`` (a model or the path of its ``.pt``/``.json``).

    Returns a label map on ``image``'s grid; see :meth:`SegmentationModel.predict`.
    """
    if not isinstance(model, SegmentationModel):
        from .files import load_model

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
    torch = _common.torch()
    from monai.metrics import DiceMetric
    from monai.networks.utils import one_hot

    pred = _common.check_labelmap(prediction, "prediction")
    ref = _common.check_labelmap(reference, "reference")
    pred.check_same_grid(ref, names=("prediction", "reference label map"))
    labels = _common.label_names(labels)
    if not labels:
        raise InputError("dice_scores: no labels to score")
    ids = np.array([0, *sorted(labels)])

    def classes(arr: np.ndarray) -> np.ndarray:
        """Class index of every voxel (ids outside the table count as background); no
        lookup table sized by the largest id, so a label id of 4e9 costs nothing."""
        pos = np.clip(np.searchsorted(ids, arr), 0, len(ids) - 1)
        return np.where(ids[pos] == arr, pos, 0)

    p = one_hot(torch.as_tensor(classes(pred.array))[None, None], num_classes=len(ids), dim=1)
    r = one_hot(torch.as_tensor(classes(ref.array))[None, None], num_classes=len(ids), dim=1)
    metric = DiceMetric(include_background=False, reduction="none", ignore_empty=True)
    values = metric(p, r)[0].numpy()
    return {labels[int(k)]: float(v) for k, v in zip(ids[1:], values)}

