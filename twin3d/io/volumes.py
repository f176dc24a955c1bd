"""Volumes: a voxel array with its 4x4 voxel-to-world affine (RAS+ millimetres)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Volume"]


@dataclass
class Volume:
    """A 3D image or label map.

    ``array[i, j, k]`` is the voxel whose centre is ``affine @ [i, j, k, 1]`` in world
    millimetres. World coordinates are **RAS+** (nibabel/NIfTI convention: +x from the
    patient's left to Right, +y posterior to Anterior, +z inferior to
    Superior). DICOM's LPS+ is converted on reading (x and y negated).
    """

    array: np.ndarray
    affine: np.ndarray
    coordinate_system: str = "RAS"
