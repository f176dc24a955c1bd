"""The synthetic CT phantom: realism (HU, volumes, anatomy), reproducibility, variation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from twin3d.errors import InputError
from twin3d.io.volumes import Volume
from twin3d.phantom import PHANTOM_LABELS, make_phantom

NAMES = {v: k for k, v in PHANTOM_LABELS.items()}


@pytest.fixture(scope="module")
def phantoms():
    """Three phantoms at 4 mm (fast), one per seed, both contrast phases represented."""
    return {
        seed: make_phantom(spacing_mm=4.0, seed=seed, phase=phase)
        for seed, phase in ((11, "native"), (12, "portal_venous"), (13, None))
    }


def _interior(labels: np.ndarray, label: int, erode: int = 1) -> np.ndarray:
    mask = labels == label
    return ndimage.binary_erosion(mask, iterations=erode) if erode else mask


def _volume_ml(labelmap: Volume, label: int) -> float:
    return float((labelmap.array == label).sum() * abs(np.linalg.det(labelmap.affine[:3, :3])) / 1000.0)


def _centroid_mm(labelmap: Volume, label: int) -> np.ndarray:
    idx = np.argwhere(labelmap.array == label).mean(axis=0)
    return labelmap.affine[:3, :3] @ idx + labelmap.affine[:3, 3]


def test_outputs_grid_and_types():
    image, labelmap, labels = make_phantom(spacing_mm=(4.0, 4.0, 5.0), seed=1)
    assert isinstance(image, Volume) and isinstance(labelmap, Volume)
    assert image.array.dtype == np.int16 and labelmap.array.dtype == np.uint8
    assert image.array.shape == labelmap.array.shape == (96, 78, 41)  # default FOV 384x312x204 mm
    np.testing.assert_allclose(image.affine[:3, :3], np.diag([4.0, 4.0, 5.0]))
    np.testing.assert_array_equal(image.affine, labelmap.affine)
    assert image.coordinate_system == "RAS"
    assert labels == PHANTOM_LABELS
    assert set(np.unique(labelmap.array)) == {0, *PHANTOM_LABELS}
    # explicit shape: the field of view is cropped around the centre
    small, small_lab, _ = make_phantom(shape=(40, 30, 20), spacing_mm=4.0, seed=1)
    assert small.array.shape == small_lab.array.shape == (40, 30, 20)


def test_label_names_match_builtin_table():
    from twin3d.anatomy import builtin_table

    names = builtin_table().names
    for ident, name in PHANTOM_LABELS.items():
        assert names[ident] == name


def test_reproducible_by_seed():
    a_img, a_lab, _ = make_phantom(spacing_mm=6.0, seed=42)
    b_img, b_lab, _ = make_phantom(spacing_mm=6.0, seed=42)
    np.testing.assert_array_equal(a_img.array, b_img.array)
    np.testing.assert_array_equal(a_lab.array, b_lab.array)
    np.testing.assert_array_equal(a_img.affine, b_img.affine)


def test_variation_across_seeds(phantoms):
    livers = [_volume_ml(lab, NAMES["liver"]) for _, lab, _ in phantoms.values()]
    spleens = [_volume_ml(lab, NAMES["spleen"]) for _, lab, _ in phantoms.values()]
    kidney_c = [_centroid_mm(lab, NAMES["kidney_right"]) for _, lab, _ in phantoms.values()]
    assert max(livers) / min(livers) > 1.05, livers
    assert max(spleens) / min(spleens) > 1.05, spleens
    spread = max(np.linalg.norm(a - b) for a in kidney_c for b in kidney_c)
    assert spread > 3.0, kidney_c  # organ positions move by millimetres between patients
    imgs = [img.array for img, _, _ in phantoms.values()]
    assert not np.array_equal(imgs[0], imgs[1])


# plausible adult volumes (ml) for organs that lie completely inside the default FOV
VOLUME_RANGES = {
    "liver": (800, 2800),
    "spleen": (70, 450),
    "kidney_left": (60, 280),
    "kidney_right": (60, 280),
    "aorta": (25, 180),  # a ~2.5 cm tube over the 20 cm field of view
    "spine": (150, 700),
    "body": (5000, 25000),
}


def test_label_volumes_plausible(phantoms):
    for seed, (_, lab, _) in phantoms.items():
        for name, (lo, hi) in VOLUME_RANGES.items():
            ml = _volume_ml(lab, NAMES[name])
            assert lo <= ml <= hi, f"seed {seed}: {name} {ml:.0f} ml outside {lo}-{hi} ml"


def test_hounsfield_values_per_organ(phantoms):
    native_img, native_lab, _ = phantoms[11]
    pv_img, pv_lab, _ = phantoms[12]
    # (native median range, portal-venous median range) in HU, interior voxels
    expected = {
        "liver": ((40, 75), (85, 135)),
        "spleen": ((30, 65), (90, 145)),
        "kidney_left": ((15, 50), (110, 210)),
        "kidney_right": ((15, 50), (110, 210)),
        "aorta": ((25, 60), (100, 200)),
    }
    for name, (native_range, pv_range) in expected.items():
        for (img, lab), (lo, hi), phase in (
            ((native_img, native_lab), native_range, "native"),
            ((pv_img, pv_lab), pv_range, "portal venous"),
        ):
            med = float(np.median(img.array[_interior(lab.array, NAMES[name])]))
            assert lo <= med <= hi, f"{phase} {name}: median {med:.0f} HU outside {lo}-{hi}"
    for img, lab, _ in phantoms.values():
        spine = img.array[_interior(lab.array, NAMES["spine"], erode=0)]
        assert 150 <= np.median(spine) <= 600 and np.percentile(spine, 95) > 400  # cancellous + cortical
        body = img.array[_interior(lab.array, NAMES["body"])]
        assert np.percentile(body, 25) < -60  # fat
        assert np.percentile(body, 75) > 0  # muscle, bowel, fluid
        air = img.array[lab.array == 0]
        assert np.median(air) < -900


def test_noise_and_partial_volume():
    img, lab, _ = make_phantom(spacing_mm=3.0, shape=(96, 80, 40), seed=5, noise_hu=15.0, phase="native")
    liver = _interior(lab.array, NAMES["liver"], erode=2)
    std = float(img.array[liver].std())
    assert 12.0 <= std <= 25.0, std  # noise 15 HU (+ mild liver texture)
    clean, clean_lab, _ = make_phantom(spacing_mm=3.0, shape=(96, 80, 40), seed=5, noise_hu=0.0, phase="native")
    np.testing.assert_array_equal(clean_lab.array, lab.array)  # noise does not change the anatomy
    liver_hu = float(np.median(clean.array[liver]))
    # liver voxels touching only fat are blurred towards fat: the partial-volume effect
    # of the point-spread function
    liver_mask = clean_lab.array == NAMES["liver"]
    fat = (clean_lab.array == NAMES["body"]) & (clean.array < -60)
    fat_hu = float(np.median(clean.array[fat]))
    liver_edge = liver_mask & ndimage.binary_dilation(fat) & ~ndimage.binary_dilation(~liver_mask & ~fat)
    assert liver_edge.sum() > 50
    assert fat_hu + 20 < np.median(clean.array[liver_edge]) < liver_hu - 20


def test_anatomical_layout(phantoms):
    """RAS: liver and right kidney at +x (patient's right), aorta left-anterior of the spine."""
    for seed, (_, lab, _) in phantoms.items():
        c = {name: _centroid_mm(lab, ident) for ident, name in PHANTOM_LABELS.items()}
        spine = c["spine"]
        assert c["liver"][0] > spine[0] + 20, seed
        assert c["spleen"][0] < spine[0] - 40, seed
        assert c["kidney_right"][0] > spine[0] + 40 > spine[0] - 40 > c["kidney_left"][0], seed
        assert c["aorta"][0] < spine[0] and c["aorta"][1] > spine[1], seed
        assert c["liver"][1] > spine[1] + 30, seed  # liver anterior to the spine
        # kidneys lie beside the spine in z, the liver and spleen above them
        assert c["liver"][2] > c["kidney_right"][2] and c["spleen"][2] > c["kidney_left"][2], seed


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(shape=(10, 10)), "3 entries"),
        (dict(shape=(4, 40, 40)), ">= 8"),
        (dict(spacing_mm=-1.0), "positive"),
        (dict(spacing_mm=(3.0, 0.1, 3.0)), "0.25-20"),
        (dict(phase="arterial"), "native"),
        (dict(noise_hu=-3.0), "noise_hu"),
        (dict(shape=(1000, 1000, 1000)), "at most"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_phantom(**kwargs)
