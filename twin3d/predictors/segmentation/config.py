"""The settings of a segmentation model, and the schema of its JSON file.

:class:`NetworkConfig` (the MONAI UNet), :class:`PreprocessingConfig` (orientation,
spacing, HU window), :class:`InferenceConfig` (sliding window) and
:class:`ModelFileConfig` (everything ``NAME.json`` holds, see
:mod:`~twin3d.predictors.segmentation.files`). Pydantic models, unknown keys refused.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "NetworkConfig",
    "PreprocessingConfig",
    "InferenceConfig",
    "WeightsInfo",
    "ModelFileConfig",
    "FORMAT",
    "FORMAT_VERSION",
]

#: ``format`` and ``format_version`` of a model's JSON file.
FORMAT = "twin3d-segmentation"
FORMAT_VERSION = 1


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
    """The weights file a model's JSON belongs to: its name and SHA-256."""

    model_config = ConfigDict(extra="forbid")

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ModelFileConfig(BaseModel):
    """Schema of a model's JSON file ``NAME.json`` (see :mod:`~twin3d.predictors.segmentation.files`)."""

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
