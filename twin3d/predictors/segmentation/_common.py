"""What the modules of the segmentation package share: torch, devices, input checks.

Private to :mod:`twin3d.predictors.segmentation`: the device choice (``"auto"`` ->
CUDA when available), the checks every image and label map goes through, the MONAI
tensor that carries a volume's affine, and label-table normalisation. torch and MONAI
are imported here, inside the functions, the first time they are needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ...errors import InputError
from ...io.volumes import Volume, as_labelmap

if TYPE_CHECKING:  # torch/MONAI are imported lazily: `import twin3d...` stays cheap
    import torch as _torch_module

#: World axes of a volume's affine (RAS+), as MONAI's ``Orientation`` names them.
RAS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))


def torch():
    """The ``torch`` module (imported on first use)."""
    import torch as _torch

    return _torch


def resolve_device(device: str | None) -> "_torch_module.device":
    """``"auto"`` -> CUDA when available, else CPU; otherwise an explicit device."""
    t = torch()
    device = "auto" if device is None else str(device)
    if device == "auto":
        return t.device("cuda" if t.cuda.is_available() else "cpu")
    if device == "cpu":
        return t.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not t.cuda.is_available():
            raise InputError(f"device {device!r} requested but no CUDA GPU is available; use 'cpu' or 'auto'")
        try:
            return t.device(device)
        except RuntimeError as exc:
            raise InputError(f"bad device {device!r}: {exc}") from None
    raise InputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def check_volume(volume: Any, what: str) -> Volume:
    """A numeric 3D :class:`Volume` in RAS (LPS volumes are converted)."""
    if not isinstance(volume, Volume):
        raise InputError(f"{what} must be a twin3d Volume, got {type(volume).__name__}")
    if volume.array.size == 0:
        raise InputError(f"{what} is empty (shape {volume.array.shape})")
    if not (np.issubdtype(volume.array.dtype, np.number) or volume.array.dtype == bool):
        raise InputError(f"{what} must hold numbers, got dtype {volume.array.dtype}")
    return volume.to_ras()


def check_labelmap(volume: Any, what: str) -> Volume:
    """A valid label map (whole-number ids >= 0, unsigned dtype) in RAS."""
    return as_labelmap(check_volume(volume, what), source=what)


def meta_tensor(volume: Volume, dtype=None):
    """A channel-first MONAI MetaTensor carrying the volume's affine (RAS)."""
    t = torch()
    from monai.data import MetaTensor

    arr = np.ascontiguousarray(volume.array)
    tensor = t.as_tensor(arr if dtype is None else arr.astype(dtype))[None]
    return MetaTensor(tensor, affine=t.as_tensor(volume.affine, dtype=t.float64))


def label_names(labels: Mapping[Any, Any]) -> dict[int, str]:
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


def twin3d_version() -> str:
    """The installed twin3d version (recorded in model files)."""
    from ... import __version__

    return __version__
