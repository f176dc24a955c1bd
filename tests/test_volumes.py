"""Volumes: NIfTI and DICOM-series reading, label maps, the atomic NIfTI writer, flips."""

from __future__ import annotations

import shutil
import uuid
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import require_real_data

from twin3d.errors import InputError, UnsupportedFormatError
from twin3d.io.volumes import RAS_FROM_LPS, Volume, as_labelmap, read_labelmap, read_volume, write_nifti


@pytest.fixture(scope="module")
def ct_dir() -> Path:
    return require_real_data("ct/abdomen_ct_3mm.nii.gz").parent


def rotation(ax_deg: float, az_deg: float) -> np.ndarray:
    a, b = np.radians(ax_deg), np.radians(az_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    return rz @ rx


def oblique_affine(spacing=(0.8, 0.9, 2.5), origin=(-120.0, 35.5, -60.25), ax=10.0, az=20.0) -> np.ndarray:
    aff = np.eye(4)
    aff[:3, :3] = rotation(ax, az) @ np.diag(spacing)
    aff[:3, 3] = origin
    return aff


# --------------------------------------------------------------------------- DICOM writer for tests
def write_dicom_series(
    folder: Path,
    values: np.ndarray,
    affine_ras: np.ndarray,
    *,
    slope: float = 1.0,
    intercept: float = 0.0,
    series_uid: str | None = None,
    description: str = "test series",
) -> list[Path]:
    """Write ``values`` (indexed [i, j, k], RAS affine) as one CT DICOM file per k-slice.

    Follows the DICOM conventions directly: ImagePositionPatient is the LPS position
    of the first pixel of each slice, ImageOrientationPatient the LPS direction of a
    row (columns increase) then of a column (rows increase), PixelSpacing is
    (row spacing, column spacing). File names are random so that readers must sort
    by position.
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    lps = RAS_FROM_LPS @ affine_ras
    col_i, col_j = lps[:3, 0], lps[:3, 1]
    row_cos, col_cos = col_i / np.linalg.norm(col_i), col_j / np.linalg.norm(col_j)
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    stored = np.round((values - intercept) / slope).astype(np.int16)
    paths = []
    for k in range(values.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"{uuid.uuid4().hex}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SeriesDescription = description
        ds.Modality = "CT"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in lps[:3, :3] @ np.array([0.0, 0.0, k]) + lps[:3, 3]]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in np.r_[row_cos, col_cos]]
        ds.PixelSpacing = [f"{np.linalg.norm(col_j):.6f}", f"{np.linalg.norm(col_i):.6f}"]
        ds.SliceThickness = f"{np.linalg.norm(lps[:3, 2]):.6f}"
        ds.Rows, ds.Columns = values.shape[1], values.shape[0]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope = f"{slope:g}"
        ds.RescaleIntercept = f"{intercept:g}"
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()  # (rows, columns)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


@pytest.fixture()
def ct_like():
    rng = np.random.default_rng(3)
    values = rng.integers(-1000, 1500, size=(20, 16, 9)).astype(np.int16)
    return values, oblique_affine()


# --------------------------------------------------------------------------- Volume
def test_volume_geometry_helpers():
    aff = oblique_affine()
    v = Volume(np.zeros((4, 5, 6), np.int16), aff)
    assert np.allclose(v.spacing, [0.8, 0.9, 2.5])
    assert np.allclose(v.direction @ np.diag(v.spacing), aff[:3, :3])
    assert np.isclose(v.voxel_volume_mm3, 0.8 * 0.9 * 2.5)
    assert not v.is_mirrored
    ijk = np.array([[1.5, 2.0, 3.25], [0, 0, 0]])
    assert np.allclose(v.world_to_index(v.index_to_world(ijk)), ijk)
    assert np.allclose(v.index_to_world([0, 0, 0]), aff[:3, 3])
    lps = v.to_lps()
    assert lps.coordinate_system == "LPS"
    assert np.allclose(lps.index_to_world([1, 2, 3]) * [-1, -1, 1], v.index_to_world([1, 2, 3]))
    assert np.allclose(lps.to_ras().affine, aff)


def test_volume_orientation_codes():
    assert Volume(np.zeros((2, 2, 2)), np.eye(4)).orientation == "RAS"
    assert Volume(np.zeros((2, 2, 2)), np.diag([-1.0, -1, 1, 1])).orientation == "LPS"
    assert Volume(np.zeros((2, 2, 2)), np.eye(4), "LPS").orientation == "LPS"


@pytest.mark.parametrize(
    "array, affine, cs, match",
    [
        (np.zeros((3, 3)), np.eye(4), "RAS", "3D array"),
        (np.zeros((3, 3, 3)), np.eye(3), "RAS", "4x4"),
        (np.zeros((3, 3, 3)), np.diag([1.0, 0.0, 1.0, 1.0]), "RAS", "singular"),
        (np.zeros((3, 3, 3)), np.full((4, 4), np.nan), "RAS", "NaN"),
        (np.zeros((3, 3, 3)), np.eye(4), "XYZ", "coordinate_system"),
    ],
)
def test_volume_rejects_bad_input(array, affine, cs, match):
    with pytest.raises(InputError, match=match):
        Volume(array, affine, cs)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_flip_keeps_every_voxel_at_its_world_position(axis):
    rng = np.random.default_rng(axis)
    v = Volume(rng.integers(0, 1000, size=(5, 6, 7)), oblique_affine())
    f = v.flip(axis)
    assert f.is_mirrored != v.is_mirrored
    idx = np.argwhere(np.ones(v.shape, bool))
    # sample every voxel of the flipped volume at its world position in the original
    back = np.rint(v.world_to_index(f.index_to_world(idx))).astype(int)
    assert np.array_equal(v.array[tuple(back.T)], f.array[tuple(idx.T)])
    assert np.array_equal(f.flip(axis).array, v.array)
    assert np.allclose(f.flip(axis).affine, v.affine)


def test_check_same_grid_names_the_difference():
    a = Volume(np.zeros((4, 4, 4)), np.eye(4))
    a.check_same_grid(Volume(np.ones((4, 4, 4)), np.eye(4)))
    with pytest.raises(InputError, match="4x4x4 voxels.*4x4x5 voxels"):
        a.check_same_grid(Volume(np.zeros((4, 4, 5)), np.eye(4)))
    shifted = np.eye(4)
    shifted[0, 3] = 1.5
    with pytest.raises(InputError, match="different affines"):
        a.check_same_grid(Volume(np.zeros((4, 4, 4)), shifted), names=("CT", "segmentation"))


# --------------------------------------------------------------------------- NIfTI
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_round_trip(tmp_path, ct_like, suffix):
    values, aff = ct_like
    path = write_nifti(Volume(values, aff), tmp_path / f"ct{suffix}")
    back = read_volume(path)
    assert back.array.dtype == np.int16
    assert np.array_equal(back.array, values)
    assert np.allclose(back.affine, aff, atol=1e-5)
    img = nib.load(str(path))  # as any other tool sees it
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
    assert img.header.get_xyzt_units()[0] == "mm"
    assert np.allclose(img.header.get_zooms(), [0.8, 0.9, 2.5], atol=1e-5)


def test_write_nifti_converts_lps_and_bool(tmp_path):
    mask = np.zeros((3, 4, 5), bool)
    mask[1, 2, 3] = True
    lps_aff = oblique_affine()
    path = write_nifti(Volume(mask, lps_aff, "LPS"), tmp_path / "m.nii.gz")
    back = read_volume(path)
    assert back.array.dtype == np.uint8 and back.coordinate_system == "RAS"
    assert np.allclose(back.affine, RAS_FROM_LPS @ lps_aff, atol=1e-5)


def test_write_nifti_is_atomic(tmp_path, ct_like, monkeypatch):
    values, aff = ct_like
    target = write_nifti(Volume(values, aff), tmp_path / "seg.nii.gz")
    good = target.read_bytes()
    with pytest.raises(InputError, match="dtype complex"):
        write_nifti(Volume(values.astype(np.complex64), aff), target)

    def broken_save(img, filename):
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_nifti(Volume(values + 1, aff), target)
    assert target.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.nii.gz"]  # no temp file left


def test_write_nifti_rejects_other_extensions(tmp_path, ct_like):
    with pytest.raises(UnsupportedFormatError, match=r"\.nii, \.nii\.gz"):
        write_nifti(Volume(*ct_like), tmp_path / "ct.mha")
    assert not (tmp_path / "ct.mha").exists()


def test_truncated_nifti_is_a_clear_error(tmp_path, ct_like):
    path = write_nifti(Volume(*ct_like), tmp_path / "ct.nii.gz")
    data = path.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.nii\.gz.*truncated or corrupt"):
        read_volume(cut)
    raw = write_nifti(Volume(*ct_like), tmp_path / "ct.nii")
    short = tmp_path / "short.nii"
    short.write_bytes(raw.read_bytes()[:1000])
    with pytest.raises(InputError, match="short.nii"):
        read_volume(short)


def test_garbage_and_missing_files(tmp_path):
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(b"this is not an image" * 10)
    with pytest.raises(InputError, match="junk.nii.gz: not a readable NIfTI"):
        read_volume(junk)
    with pytest.raises(FileNotFoundError, match="nope.nii"):
        read_volume(tmp_path / "nope.nii")
    other = tmp_path / "scan.mha"
    other.write_bytes(b"x")
    with pytest.raises(UnsupportedFormatError, match="DICOM series"):
        read_volume(other)


def test_4d_nifti(tmp_path):
    one = tmp_path / "one.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((3, 4, 5, 1), np.float32), np.eye(4)), str(one))
    assert read_volume(one).shape == (3, 4, 5)
    two = tmp_path / "two.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((3, 4, 5, 2), np.float32), np.eye(4)), str(two))
    with pytest.raises(InputError, match="4-D image"):
        read_volume(two)


def test_real_ct_and_segmentation(ct_dir):
    ct = read_volume(ct_dir / "abdomen_ct_3mm.nii.gz")
    ref = nib.load(str(ct_dir / "abdomen_ct_3mm.nii.gz"))
    assert ct.shape == (122, 101, 30) and ct.array.dtype == np.int16
    assert np.allclose(ct.affine, ref.affine) and ct.orientation == "RAS"
    assert np.allclose(ct.spacing, 3.0)
    assert -1100 <= ct.array.min() < -900 and ct.array.max() > 1000  # Hounsfield units
    seg = read_labelmap(ct_dir / "abdomen_seg_3mm.nii.gz")
    assert seg.array.dtype == np.uint8 and len(np.unique(seg.array)) == 42
    assert seg.same_grid(ct)


# --------------------------------------------------------------------------- label maps
def test_labelmap_checks(tmp_path):
    aff = np.eye(4)
    ok = as_labelmap(Volume(np.array([0.0, 1.0, 2.0, 300.0]).reshape(1, 2, 2), aff))
    assert ok.array.dtype == np.uint16 and ok.array.max() == 300
    assert as_labelmap(Volume(np.full((2, 2, 2), 70000, np.int64), aff)).array.dtype == np.uint32
    with pytest.raises(InputError, match=r"non-integer values \(e.g. 0.5"):
        as_labelmap(Volume(np.array([0.0, 0.5, 1.0, 2.0]).reshape(1, 2, 2), aff), source="seg.nii")
    with pytest.raises(InputError, match="negative"):
        as_labelmap(Volume(np.array([0, -1, 1, 2]).reshape(1, 2, 2), aff))
    with pytest.raises(InputError, match="NaN"):
        as_labelmap(Volume(np.array([0, np.nan, 1, 2]).reshape(1, 2, 2), aff))
    ct = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(np.linspace(-1000, 1000, 60, dtype=np.float32).reshape(3, 4, 5), aff), str(ct))
    with pytest.raises(InputError, match="ct.nii.gz: float label map with non-integer values"):
        read_labelmap(ct)


# --------------------------------------------------------------------------- DICOM
def test_dicom_series_matches_nifti_of_same_data(tmp_path, ct_like):
    values, aff = ct_like
    nifti = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(values, aff), str(nifti))  # written by nibabel, not by twin3d
    write_dicom_series(tmp_path / "dcm", values, aff, intercept=-1024.0)
    dcm = read_volume(tmp_path / "dcm")
    ref = read_volume(nifti)
    assert dcm.coordinate_system == "RAS"
    assert dcm.array.dtype == np.int16
    assert np.array_equal(dcm.array, ref.array)
    assert np.allclose(dcm.affine, ref.affine, atol=1e-4)


def test_dicom_lps_to_ras_against_nibabel_and_header(tmp_path, ct_like):
    import pydicom
    from nibabel.nicom import dicomwrappers

    values, aff = ct_like
    files = write_dicom_series(tmp_path / "dcm", values, aff)
    vol = read_volume(tmp_path / "dcm")
    first = min(files, key=lambda f: int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber))
    ds = pydicom.dcmread(first)
    # voxel [0, 0, 0] is the first pixel of the first slice: DICOM LPS with x, y negated
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    assert np.allclose(vol.index_to_world([0, 0, 0]), ipp * [-1, -1, 1], atol=1e-4)
    # nibabel's DICOM wrapper indexes (row, column): swap its first two axes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = dicomwrappers.wrapper_from_data(ds)
        nib_aff = RAS_FROM_LPS @ w.affine
        nib_data = w.get_data()
    assert np.allclose(vol.affine[:3, 0], nib_aff[:3, 1], atol=1e-5)
    assert np.allclose(vol.affine[:3, 1], nib_aff[:3, 0], atol=1e-5)
    assert np.allclose(vol.affine[:3, 3], nib_aff[:3, 3], atol=1e-4)
    assert np.array_equal(vol.array[:, :, 0], nib_data.T)


def test_dicom_rescale_slope_intercept(tmp_path):
    values = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4) * 0.5 - 3.25
    write_dicom_series(tmp_path / "dcm", values, np.diag([0.7, 0.7, 1.5, 1.0]), slope=0.5, intercept=-3.25)
    vol = read_volume(tmp_path / "dcm")
    assert vol.array.dtype == np.float32
    assert np.allclose(vol.array, values)


def test_dicom_real_ct_round_trip(tmp_path, ct_dir):
    ct = read_volume(ct_dir / "abdomen_ct_3mm.nii.gz")
    write_dicom_series(tmp_path / "dcm", ct.array.astype(np.float64), ct.affine, intercept=-1024.0)
    back = read_volume(tmp_path / "dcm")
    assert np.array_equal(back.array, ct.array)
    assert np.allclose(back.affine, ct.affine, atol=1e-4)


@pytest.fixture()
def series(tmp_path):
    values = np.random.default_rng(0).integers(-100, 100, size=(6, 5, 8)).astype(np.float64)
    folder = tmp_path / "dcm"
    files = write_dicom_series(folder, values, np.diag([0.5, 0.5, 2.0, 1.0]))
    return folder, files


def _order(files):
    import pydicom

    return sorted(files, key=lambda f: int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber))


def test_dicom_missing_slice(series):
    folder, files = series
    _order(files)[3].unlink()
    with pytest.raises(InputError, match=r"about 1 missing slice.*gap 4 mm, expected 2 mm"):
        read_volume(folder)


def test_dicom_duplicate_slice(series):
    folder, files = series
    shutil.copy(_order(files)[2], folder / "copy.dcm")
    with pytest.raises(InputError, match="duplicate slice at 4 mm"):
        read_volume(folder)


def test_dicom_mixed_series(series):
    folder, files = series
    write_dicom_series(folder, np.zeros((6, 5, 3)), np.diag([0.5, 0.5, 3.0, 1.0]), series_uid="1.2.3.4", description="scout")
    with pytest.raises(InputError, match=r"mixed series .* 2 DICOM series.*scout.*series_uid"):
        read_volume(folder)
    assert read_volume(folder, series_uid="1.2.3.4").shape == (6, 5, 3)
    with pytest.raises(InputError, match="no series with SeriesInstanceUID '9.9'"):
        read_volume(folder, series_uid="9.9")


def test_dicom_mixed_orientation_and_size(series):
    import pydicom

    folder, files = series
    f = _order(files)[4]
    ds = pydicom.dcmread(f)
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.save_as(f)
    with pytest.raises(InputError, match="mixes orientations"):
        read_volume(folder)


def test_dicom_truncated_file_and_junk(series):
    folder, files = series
    (folder / "README.txt").write_text("not a DICOM file")  # ignored
    assert read_volume(folder).shape == (6, 5, 8)
    f = _order(files)[5]
    f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(InputError, match=f.name):
        read_volume(folder)


def test_dicom_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no DICOM files"):
        read_volume(tmp_path / "empty")


# --------------------------------------------------------------------------- budgets and confinement (issue 14)
def _header_only_nifti(path: Path, shape, *, dtype=np.int16, slope=None) -> None:
    import gzip

    img = nib.Nifti1Image(np.zeros((2, 2, 2), dtype), np.eye(4))
    img.header.set_data_shape(shape)
    if slope is not None:
        img.header.set_slope_inter(slope, 0.0)
    raw = img.header.binaryblock + b"\0" * 4 + b"\0" * 64
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)


def test_nifti_header_is_checked_before_any_voxel_is_read(tmp_path):
    from twin3d.budgets import memory_budget_set
    from twin3d.errors import BudgetError

    huge = tmp_path / "huge.nii.gz"
    _header_only_nifti(huge, (3000, 3000, 3000))
    with pytest.raises(BudgetError) as err:
        read_volume(huge)
    assert str(err.value).startswith(f"reading {huge} needs about 50.3 GiB (its header declares 3000x3000x3000 "
                                     "voxels of int16)")
    scaled = tmp_path / "scaled.nii.gz"  # scaled voxels become float64: 2 + 8 bytes each
    _header_only_nifti(scaled, (100, 100, 100), slope=2.0)
    with memory_budget_set("9M"), pytest.raises(BudgetError, match=r"needs about 9.54 MiB .*scaled to float64"):
        read_volume(scaled)
    short = tmp_path / "short.nii"  # uncompressed: the file size tells
    _header_only_nifti(short, (3000, 3000, 3000))
    with pytest.raises(InputError, match=r"declares 3000x3000x3000 voxels of int16 \(54,000,000,000 bytes\) but the "
                                         r"file holds 416 bytes of voxel data: truncated or corrupt"):
        read_volume(short)


def test_dicom_slices_linking_outside_the_folder_are_refused(series, tmp_path):
    from twin3d.confine import allow_paths
    from twin3d.errors import ConfinementError

    folder, files = series
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    moved = outside / files[0].name
    shutil.move(files[0], moved)
    files[0].symlink_to(moved)
    with pytest.raises(ConfinementError) as err:
        read_volume(folder)
    assert f"DICOM file '{files[0].name}' resolves to {moved}" in str(err.value)
    assert "--allow-path" in str(err.value)
    with allow_paths(outside):
        assert read_volume(folder).shape == (6, 5, 8)
    # a link that stays inside the series folder is fine
    (folder / "kept").mkdir()
    files[0].unlink()
    shutil.move(moved, folder / "kept" / moved.name)
    files[0].symlink_to(Path("kept") / moved.name)
    assert read_volume(folder).shape == (6, 5, 8)


def test_dicom_headers_are_checked_against_the_memory_budget(series):
    from twin3d.budgets import memory_budget_set
    from twin3d.errors import BudgetError

    folder, _ = series
    with memory_budget_set("1K"), pytest.raises(BudgetError) as err:
        read_volume(folder)
    assert f"reading the DICOM series {folder} needs about" in str(err.value)
    assert "8 slices of 5x6 pixels, 16-bit" in str(err.value)
