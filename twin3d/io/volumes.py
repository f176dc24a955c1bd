"""Volumes: a voxel array with its 4x4 voxel-to-world affine (RAS+ millimetres).

Readers
-------
* :func:`read_volume` -- NIfTI (``.nii``, ``.nii.gz``, through nibabel) or a DICOM
  series given as a folder of slices (through pydicom).
* :func:`read_labelmap` -- the same, plus the checks a segmentation needs (integer,
  non-negative label ids).
* :func:`write_nifti` -- atomic NIfTI writer.

Coordinates
-----------
``array[i, j, k]`` is the voxel whose *centre* lies at ``affine @ [i, j, k, 1]``.
World coordinates are stated explicitly by :attr:`Volume.coordinate_system`:

* ``"RAS"`` (the default, NIfTI/nibabel convention): axes point to the patient's
  **R**ight, **A**nterior and **S**uperior.
* ``"LPS"`` (DICOM convention): axes point to the patient's **L**eft, **P**osterior
  and **S**uperior.

The two differ by negating x and y: ``affine_ras = diag(-1, -1, 1, 1) @ affine_lps``.
DICOM series are converted to RAS on reading, so every volume twin3d reads is RAS.
"""

from __future__ import annotations

import os
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .._util import atomic_path
from ..errors import InputError, MissingFileError, UnsupportedFormatError

__all__ = [
    "Volume",
    "RAS_FROM_LPS",
    "read_volume",
    "read_labelmap",
    "as_labelmap",
    "write_nifti",
    "NIFTI_SUFFIXES",
]

#: 4x4 matrix converting LPS+ world coordinates to RAS+ (and back: it is its own inverse).
RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: File name endings read and written as NIfTI.
NIFTI_SUFFIXES = (".nii", ".nii.gz")

_COORDINATE_SYSTEMS = ("RAS", "LPS")


def _is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


# --------------------------------------------------------------------------- Volume
@dataclass(eq=False)
class Volume:
    """A 3D image or label map with its voxel-to-world affine.

    ``array[i, j, k]`` is the voxel whose centre is ``affine @ [i, j, k, 1]`` in world
    millimetres. World coordinates are **RAS+** by default (nibabel/NIfTI convention:
    +x towards the patient's Right, +y Anterior, +z Superior); ``"LPS"`` (DICOM's
    convention: Left, Posterior, Superior) is accepted and converted with
    :meth:`to_ras`. Readers in this module always return RAS volumes.

    Parameters
    ----------
    array
        3D voxel array, indexed ``[i, j, k]``.
    affine
        4x4 voxel-index-to-world matrix (column vectors), millimetres.
    coordinate_system
        ``"RAS"`` or ``"LPS"``: which world frame ``affine`` maps into.
    """

    array: np.ndarray
    affine: np.ndarray
    coordinate_system: str = "RAS"

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        if self.array.ndim != 3:
            raise InputError(
                f"a Volume needs a 3D array (i, j, k), got shape {self.array.shape}"
            )
        aff = np.asarray(self.affine, dtype=np.float64)
        if aff.shape != (4, 4):
            raise InputError(f"a Volume affine must be 4x4, got shape {aff.shape}")
        if not np.all(np.isfinite(aff)):
            raise InputError("the Volume affine contains NaN or infinite values")
        if not np.allclose(aff[3], [0.0, 0.0, 0.0, 1.0]):
            raise InputError(f"the last row of a Volume affine must be [0, 0, 0, 1], got {aff[3].tolist()}")
        if abs(np.linalg.det(aff[:3, :3])) < 1e-12:
            raise InputError("the Volume affine is singular (a voxel axis has zero length or axes are parallel)")
        self.affine = aff
        cs = str(self.coordinate_system).upper()
        if cs not in _COORDINATE_SYSTEMS:
            raise InputError(
                f"unknown coordinate_system {self.coordinate_system!r}; valid: {list(_COORDINATE_SYSTEMS)}"
            )
        self.coordinate_system = cs

    # -- geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """Number of voxels along i, j, k."""
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size along i, j, k in millimetres (lengths of the affine's columns)."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def direction(self) -> np.ndarray:
        """3x3 matrix whose columns are the unit world directions of the i, j, k axes."""
        return self.affine[:3, :3] / self.spacing

    @property
    def origin(self) -> np.ndarray:
        """World position (mm) of the centre of voxel ``[0, 0, 0]``."""
        return self.affine[:3, 3].copy()

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3 (``|det|`` of the affine's 3x3 part)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    @property
    def is_mirrored(self) -> bool:
        """True when the affine flips handedness (negative determinant)."""
        return bool(np.linalg.det(self.affine[:3, :3]) < 0)

    @property
    def orientation(self) -> str:
        """Axis codes of i, j, k in the volume's world frame, e.g. ``"RAS"`` or ``"LPI"``.

        Each letter names the world direction an index axis mostly points to.
        """
        import nibabel.orientations as nio

        labels = (("L", "R"), ("P", "A"), ("I", "S"))
        if self.coordinate_system == "LPS":
            labels = (("R", "L"), ("A", "P"), ("I", "S"))
        return "".join(nio.aff2axcodes(self.affine, labels=labels))

    def index_to_world(self, ijk: np.ndarray | Iterable[float]) -> np.ndarray:
        """Map voxel indices (``(3,)`` or ``(n, 3)``, fractional allowed) to world mm."""
        p = np.asarray(ijk, dtype=np.float64)
        return p @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_index(self, xyz: np.ndarray | Iterable[float]) -> np.ndarray:
        """Map world mm (``(3,)`` or ``(n, 3)``) to fractional voxel indices."""
        p = np.asarray(xyz, dtype=np.float64)
        inv = np.linalg.inv(self.affine)
        return p @ inv[:3, :3].T + inv[:3, 3]

    def world_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned world box ``(min, max)`` of the voxel *centres*."""
        n = np.array(self.shape) - 1
        corners = np.array([[a, b, c] for a in (0, n[0]) for b in (0, n[1]) for c in (0, n[2])], float)
        w = self.index_to_world(corners)
        return w.min(0), w.max(0)

    # -- derived volumes
    def with_array(self, array: np.ndarray) -> "Volume":
        """A volume on the same grid holding ``array`` (which must have the same shape)."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise InputError(f"array shape {array.shape} does not match the volume grid {self.array.shape}")
        return Volume(array, self.affine.copy(), self.coordinate_system)

    def to_ras(self) -> "Volume":
        """This volume with a RAS+ affine (LPS volumes have x and y negated)."""
        if self.coordinate_system == "RAS":
            return self
        return Volume(self.array, RAS_FROM_LPS @ self.affine, "RAS")

    def to_lps(self) -> "Volume":
        """This volume with an LPS+ affine (DICOM's patient frame)."""
        if self.coordinate_system == "LPS":
            return self
        return Volume(self.array, RAS_FROM_LPS @ self.affine, "LPS")

    def flip(self, axis: int) -> "Volume":
        """Reverse the voxel order along ``axis`` and adjust the affine to match.

        The result describes the *same* image in world space: every voxel keeps its
        world position, only its index changes (``i -> n - 1 - i``). The new affine
        has the opposite handedness.
        """
        if axis not in (0, 1, 2, -1, -2, -3):
            raise InputError(f"flip axis must be 0, 1 or 2, got {axis!r}")
        axis = axis % 3
        f = np.eye(4)
        f[axis, axis] = -1.0
        f[axis, 3] = self.array.shape[axis] - 1
        return Volume(np.flip(self.array, axis=axis), self.affine @ f, self.coordinate_system)

    def same_grid(self, other: "Volume", *, atol: float = 1e-3) -> bool:
        """True if ``other`` has the same shape, world frame and affine (within ``atol`` mm)."""
        a, b = self.to_ras(), other.to_ras()
        return a.shape == b.shape and bool(np.allclose(a.affine, b.affine, atol=atol))

    def check_same_grid(self, other: "Volume", *, names: tuple[str, str] = ("image", "label map"), atol: float = 1e-3) -> None:
        """Raise :class:`InputError` naming the difference unless both volumes share a grid."""
        a, b = self.to_ras(), other.to_ras()
        if a.shape != b.shape:
            raise InputError(
                f"the {names[0]} ({'x'.join(map(str, a.shape))} voxels) and the {names[1]} "
                f"({'x'.join(map(str, b.shape))} voxels) are not on the same grid; resample one onto the other"
            )
        if not np.allclose(a.affine, b.affine, atol=atol):
            diff = float(np.abs(a.affine - b.affine).max())
            raise InputError(
                f"the {names[0]} and the {names[1]} have the same size but different affines "
                f"(largest difference {diff:.4g} mm; spacing {np.round(a.spacing, 4).tolist()} vs "
                f"{np.round(b.spacing, 4).tolist()}, origin {np.round(a.origin, 3).tolist()} vs "
                f"{np.round(b.origin, 3).tolist()}); they are not on the same grid"
            )

    def __repr__(self) -> str:
        return (
            f"Volume(shape={self.shape}, dtype={self.array.dtype}, spacing={np.round(self.spacing, 4).tolist()}, "
            f"orientation={self.orientation!r}, coordinate_system={self.coordinate_system!r})"
        )


# --------------------------------------------------------------------------- readers
def read_volume(path: str | os.PathLike, *, series_uid: str | None = None) -> Volume:
    """Read a NIfTI file or a DICOM series folder into a RAS :class:`Volume`.

    Parameters
    ----------
    path
        A ``.nii`` / ``.nii.gz`` file, or a folder holding the slices of one DICOM
        series (files that are not DICOM are ignored).
    series_uid
        For a DICOM folder holding several series: the ``SeriesInstanceUID`` to read.

    Returns
    -------
    Volume
        Voxel values (DICOM: after rescale slope/intercept) and the RAS affine.

    Raises
    ------
    MissingFileError
        ``path`` does not exist (also a ``FileNotFoundError``).
    UnsupportedFormatError
        A file that is neither NIfTI nor a folder.
    InputError
        Corrupt or truncated files; DICOM folders with missing, duplicate or
        inconsistent slices or more than one series.
    """
    p = Path(path)
    if not p.exists():
        raise MissingFileError(p, f"{p}: no such file or folder", what="volume (NIfTI file or DICOM folder)")
    if p.is_dir():
        return _read_dicom_series(p, series_uid=series_uid)
    if _is_nifti(p):
        return _read_nifti(p)
    raise UnsupportedFormatError(
        f"{p}: unsupported volume format {''.join(p.suffixes) or '(no extension)'}; "
        f"valid: a NIfTI file ({', '.join(NIFTI_SUFFIXES)}) or a folder with one DICOM series"
    )


def read_labelmap(path: str | os.PathLike, *, series_uid: str | None = None) -> Volume:
    """Read a segmentation (NIfTI or DICOM folder) and check it is a label map.

    A float-typed file is accepted only if every value is a whole number; the
    result has the smallest unsigned integer dtype that holds the largest label.

    Raises
    ------
    InputError
        Non-integer, negative or non-finite values (with examples), plus every error
        of :func:`read_volume`.
    """
    vol = read_volume(path, series_uid=series_uid)
    return as_labelmap(vol, source=str(path))


def as_labelmap(volume: Volume, *, source: str = "label map") -> Volume:
    """Validate an in-memory volume as a label map and return it with an unsigned int dtype.

    Parameters
    ----------
    volume
        The candidate label map.
    source
        How to name it in error messages (usually the file path).
    """
    if not isinstance(volume, Volume):
        raise InputError(f"{source}: expected a twin3d Volume, got {type(volume).__name__}")
    a = volume.array
    if a.dtype == bool:
        return volume.with_array(a.astype(np.uint8))
    if a.dtype.kind not in "iuf":
        raise InputError(f"{source}: a label map must hold integers, got dtype {a.dtype}")
    if a.dtype.kind == "f":
        finite = np.isfinite(a)
        if not finite.all():
            raise InputError(f"{source}: label map contains {int((~finite).sum())} NaN/infinite values; labels must be whole numbers >= 0")
        frac = a != np.round(a)
        if frac.any():
            examples = np.unique(a[frac])[:5]
            raise InputError(
                f"{source}: float label map with non-integer values (e.g. {', '.join(f'{v:g}' for v in examples)}; "
                f"{int(frac.sum())} voxels); a label map must hold whole-number label ids — is this an image "
                f"rather than a segmentation?"
            )
    if a.size == 0:
        raise InputError(f"{source}: label map is empty (shape {a.shape})")
    hi = a.max()
    lo = 0 if a.dtype.kind == "u" else a.min()
    if lo < 0:
        raise InputError(f"{source}: label map has negative values (min {lo:g}); label ids must be >= 0 (0 = background)")
    if hi > np.iinfo(np.uint32).max:
        raise InputError(f"{source}: label id {hi:g} is too large (max {np.iinfo(np.uint32).max})")
    dtype = np.uint8 if hi <= 255 else np.uint16 if hi <= 65535 else np.uint32
    if a.dtype == dtype:
        return volume
    return volume.with_array(a.astype(dtype))


def _read_nifti(path: Path) -> Volume:
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    try:
        img = nib.load(str(path))
    except (ImageFileError, EOFError, zlib.error, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {' '.join(str(exc).split())})") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise UnsupportedFormatError(f"{path}: expected a NIfTI-1/2 image, got {type(img).__name__}")
    _check_nifti_size(path, img)
    try:
        data = np.asarray(img.dataobj)
    except (EOFError, zlib.error, OSError, ValueError) as exc:
        raise InputError(
            f"{path}: the voxel data cannot be read — the file is truncated or corrupt "
            f"({type(exc).__name__}: {' '.join(str(exc).split())})"
        ) from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(
            f"{path}: a {data.ndim}-D image with shape {data.shape}; twin3d reads 3-D volumes "
            f"(extract one frame of a time series or one channel first)"
        )
    # nibabel's best affine: sform if set, else qform, else a diagonal from the voxel sizes.
    affine = np.asarray(img.affine, dtype=np.float64)
    return Volume(data, affine, "RAS")


def _check_nifti_size(path: Path, img: Any) -> None:
    """Check the voxel count the header declares before any voxel is read.

    An uncompressed file shorter than its header says is refused as truncated; any file
    whose voxels (on-disk dtype, plus float64 when the header scales them) would not
    fit the memory budget is refused with :class:`~twin3d.errors.BudgetError` — a
    header of a few hundred bytes can claim 3000^3 voxels.
    """
    from ..budgets import check_memory

    header = img.header
    shape = tuple(int(v) for v in header.get_data_shape())
    if any(v < 0 for v in shape):
        raise InputError(f"{path}: the header declares a negative dimension {shape}")
    count = float(np.prod(shape, dtype=np.float64)) if shape else 0.0
    dtype = np.dtype(header.get_data_dtype())
    # nibabel moves the header's scl_slope/scl_inter to the array proxy when it loads a file
    slope, inter = getattr(img.dataobj, "slope", 1.0), getattr(img.dataobj, "inter", 0.0)
    scaled = bool(np.any(np.asarray(slope) != 1.0) or np.any(np.asarray(inter) != 0.0))
    on_disk = count * dtype.itemsize
    if not path.name.lower().endswith(".gz"):
        available = path.stat().st_size - int(header.get_data_offset())
        if on_disk > available:
            raise InputError(
                f"{path}: the header declares {'x'.join(map(str, shape))} voxels of {dtype} ({on_disk:,.0f} bytes) "
                f"but the file holds {max(available, 0):,} bytes of voxel data: truncated or corrupt"
            )
    check_memory(on_disk + (count * 8 if scaled else 0), f"reading {path}",
                 detail=f"its header declares {'x'.join(map(str, shape))} voxels of {dtype}"
                        + (", scaled to float64" if scaled else ""))


# --------------------------------------------------------------------------- DICOM
def _dicom_float_list(ds: Any, keyword: str, n: int, fname: str) -> np.ndarray:
    value = ds.get(keyword)
    if value is None:
        raise InputError(f"{fname}: DICOM slice has no {keyword}; cannot place it in 3D")
    try:
        arr = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{fname}: {keyword} is not numeric ({value!r})") from exc
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise InputError(f"{fname}: {keyword} must hold {n} finite numbers, got {value!r}")
    return arr


def _read_dicom_series(folder: Path, *, series_uid: str | None = None) -> Volume:
    import pydicom
    from pydicom.errors import InvalidDicomError

    from ..confine import check_reference

    files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".") and f.name.upper() != "DICOMDIR")
    for f in files:  # a slice that is a link to a file elsewhere is a reference outside the series
        check_reference(f.name, referrer=folder / "DICOM series", what="DICOM file", base=folder)
    headers: list[tuple[Path, Any]] = []
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except InvalidDicomError:
            continue  # not a DICOM file (README, thumbnails, ...): ignore it
        except Exception as exc:  # pydicom raises many types on broken files
            raise InputError(f"{f}: corrupt DICOM file ({type(exc).__name__}: {' '.join(str(exc).split())})") from exc
        headers.append((f, ds))
    if not headers:
        raise InputError(f"{folder}: no DICOM files found (a DICOM series is read from the folder holding its slices)")

    by_series: dict[str, list[tuple[Path, Any]]] = defaultdict(list)
    for f, ds in headers:
        by_series[str(ds.get("SeriesInstanceUID", "?"))].append((f, ds))
    if series_uid is not None:
        if series_uid not in by_series:
            raise InputError(f"{folder}: no series with SeriesInstanceUID {series_uid!r}; found: {sorted(by_series)}")
        chosen = by_series[series_uid]
    elif len(by_series) > 1:
        desc = "; ".join(
            f"{uid} ({str(items[0][1].get('SeriesDescription', '')) or 'no description'}, "
            f"{str(items[0][1].get('Modality', '?'))}, {len(items)} files)"
            for uid, items in sorted(by_series.items())
        )
        raise InputError(
            f"{folder}: mixed series — the folder holds {len(by_series)} DICOM series: {desc}. "
            f"Pass series_uid=... (CLI: --series) to choose one, or put each series in its own folder"
        )
    else:
        chosen = next(iter(by_series.values()))

    # Geometry of every slice.
    f0, ds0 = chosen[0]
    if int(ds0.get("NumberOfFrames", 1) or 1) > 1:
        raise InputError(f"{f0}: multi-frame (enhanced) DICOM is not supported; export the series as one file per slice")
    iop0 = _dicom_float_list(ds0, "ImageOrientationPatient", 6, str(f0))
    row_cos, col_cos = iop0[:3], iop0[3:]
    if not (abs(np.linalg.norm(row_cos) - 1) < 1e-3 and abs(np.linalg.norm(col_cos) - 1) < 1e-3 and abs(row_cos @ col_cos) < 1e-3):
        raise InputError(f"{f0}: ImageOrientationPatient {iop0.tolist()} is not two orthogonal unit vectors")
    normal = np.cross(row_cos, col_cos)
    rows, cols = int(ds0.get("Rows", 0)), int(ds0.get("Columns", 0))
    pixel_spacing = _dicom_float_list(ds0, "PixelSpacing", 2, str(f0))
    if np.any(pixel_spacing <= 0):
        raise InputError(f"{f0}: PixelSpacing must be positive, got {pixel_spacing.tolist()}")
    positions = []
    for f, ds in chosen:
        if int(ds.get("Rows", 0)) != rows or int(ds.get("Columns", 0)) != cols:
            raise InputError(
                f"{f}: slice size {ds.get('Rows')}x{ds.get('Columns')} differs from {rows}x{cols} in {f0.name}; "
                f"the series mixes image sizes"
            )
        iop = _dicom_float_list(ds, "ImageOrientationPatient", 6, str(f))
        if not np.allclose(iop, iop0, atol=1e-4):
            raise InputError(
                f"{f}: ImageOrientationPatient {iop.tolist()} differs from {iop0.tolist()} in {f0.name}; "
                f"the series mixes orientations (a localizer?)"
            )
        if not np.allclose(_dicom_float_list(ds, "PixelSpacing", 2, str(f)), pixel_spacing, rtol=1e-4):
            raise InputError(f"{f}: PixelSpacing differs from the other slices of the series")
        positions.append(_dicom_float_list(ds, "ImagePositionPatient", 3, str(f)))
    pos = np.array(positions)
    dist = pos @ normal
    order = np.argsort(dist, kind="stable")
    chosen = [chosen[i] for i in order]
    pos, dist = pos[order], dist[order]
    n = len(chosen)
    if n >= 2:
        gaps = np.diff(dist)
        tol_dup = 1e-3 * float(min(pixel_spacing))
        dup = np.flatnonzero(gaps < max(tol_dup, 1e-4))
        if dup.size:
            i = int(dup[0])
            raise InputError(
                f"{folder}: duplicate slice at {dist[i]:.4g} mm along the slice normal "
                f"({chosen[i][0].name} and {chosen[i + 1][0].name}); {dup.size} duplicate(s) in total"
            )
        step = float(np.median(gaps))
        bad = np.flatnonzero(np.abs(gaps - step) > 0.01 * step + 1e-3)
        if bad.size:
            i = int(bad[0])
            ratio = gaps[i] / step
            what = (
                f"about {int(round(ratio)) - 1} missing slice(s)"
                if ratio > 1.5 and abs(ratio - round(ratio)) < 0.1
                else "non-uniform slice spacing"
            )
            raise InputError(
                f"{folder}: {what} between {chosen[i][0].name} ({dist[i]:.4g} mm) and "
                f"{chosen[i + 1][0].name} ({dist[i + 1]:.4g} mm): gap {gaps[i]:.4g} mm, expected {step:.4g} mm "
                f"({bad.size} irregular gap(s) in {n} slices)"
            )
        step_vec = (pos[-1] - pos[0]) / (n - 1)
        expected = pos[0] + np.outer(np.arange(n), step_vec)
        off = float(np.abs(pos - expected).max())
        if off > 0.01 * step + 1e-3:
            raise InputError(
                f"{folder}: slice positions do not lie on a straight line (off by up to {off:.3g} mm); "
                f"the series is not a regular stack"
            )
    else:
        thickness = ds0.get("SpacingBetweenSlices") or ds0.get("SliceThickness") or 1.0
        step_vec = normal * float(thickness)

    # Pixels, rescaled slice by slice: first check what the headers declare fits in memory
    from ..budgets import check_memory

    bits = int(ds0.get("BitsAllocated", 16) or 16)
    voxels = float(rows) * float(cols) * n
    check_memory(voxels * (max(bits, 8) / 8 * 2 + 8), f"reading the DICOM series {folder}",
                 detail=f"{n} slices of {rows}x{cols} pixels, {bits}-bit, stacked and rescaled")
    slopes, intercepts, planes = [], [], []
    for f, _ in chosen:
        try:
            ds = pydicom.dcmread(f)
            px = ds.pixel_array
        except Exception as exc:
            raise InputError(
                f"{f}: cannot decode the pixel data ({type(exc).__name__}: {' '.join(str(exc).split())}); the file may be truncated, "
                f"or compressed with a codec that needs an extra package (pylibjpeg or gdcm)"
            ) from exc
        if px.shape != (rows, cols):
            raise InputError(f"{f}: pixel data shape {px.shape} does not match Rows x Columns = {rows}x{cols}")
        slopes.append(float(ds.get("RescaleSlope", 1.0) or 1.0))
        intercepts.append(float(ds.get("RescaleIntercept", 0.0) or 0.0))
        planes.append(px.T)  # (columns, rows): i runs along the row direction
    raw = np.stack(planes, axis=2)
    s = np.array(slopes)[None, None, :]
    b = np.array(intercepts)[None, None, :]
    if np.all(s == 1.0) and np.all(b == 0.0):
        data = raw
    else:
        values = raw.astype(np.float64) * s + b
        integral = np.all(np.mod(slopes, 1) == 0) and np.all(np.mod(intercepts, 1) == 0)
        if integral and values.min() >= np.iinfo(np.int16).min and values.max() <= np.iinfo(np.int16).max:
            data = values.astype(np.int16)
        elif integral and values.min() >= np.iinfo(np.int32).min and values.max() <= np.iinfo(np.int32).max:
            data = values.astype(np.int32)
        else:
            data = values.astype(np.float32)

    lps = np.eye(4)
    lps[:3, 0] = row_cos * pixel_spacing[1]  # i: along a row, column spacing
    lps[:3, 1] = col_cos * pixel_spacing[0]  # j: down a column, row spacing
    lps[:3, 2] = step_vec
    lps[:3, 3] = pos[0]
    return Volume(data, RAS_FROM_LPS @ lps, "RAS")


# --------------------------------------------------------------------------- writer
def write_nifti(volume: Volume, path: str | os.PathLike) -> Path:
    """Write ``volume`` as NIfTI-1 (``.nii`` or ``.nii.gz``), atomically.

    The affine is written as both sform and qform (code 1, scanner RAS) with
    millimetre units; LPS volumes are converted to RAS first. Boolean arrays are
    stored as uint8, int64 as int32 when the values fit.

    Returns
    -------
    Path
        The written path.
    """
    import nibabel as nib

    p = Path(path)
    if not _is_nifti(p):
        raise UnsupportedFormatError(
            f"{p}: cannot write {''.join(p.suffixes) or '(no extension)'} as NIfTI; valid: {', '.join(NIFTI_SUFFIXES)}"
        )
    if not isinstance(volume, Volume):
        raise InputError(f"write_nifti expects a twin3d Volume, got {type(volume).__name__}")
    vol = volume.to_ras()
    data = vol.array
    if data.dtype == bool:
        data = data.astype(np.uint8)
    elif data.dtype in (np.int64, np.uint64):
        if data.size and (data.min() < np.iinfo(np.int32).min or data.max() > np.iinfo(np.int32).max):
            raise InputError(f"{p}: int64 values outside the int32 range cannot be written portably to NIfTI")
        data = data.astype(np.int32)
    elif data.dtype.kind not in "iuf":
        raise InputError(f"{p}: cannot write a volume of dtype {data.dtype} to NIfTI; use an integer or float array")
    img = nib.Nifti1Image(np.ascontiguousarray(data), vol.affine)
    img.set_sform(vol.affine, code=1)
    img.set_qform(vol.affine, code=1)
    img.header.set_xyzt_units("mm")
    with atomic_path(p) as tmp:
        nib.save(img, str(tmp))
    return p
