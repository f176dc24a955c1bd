"""Synthetic abdominal CT phantoms with exact label maps.

No pretrained segmentation weights can be downloaded, so the demo and the tests train a
small MONAI UNet on phantoms made here and segment an unseen one. A phantom is a CT-like
volume in Hounsfield units (HU) plus its label map, both on the same grid with a RAS+
voxel-to-world affine in millimetres (see :class:`twin3d.io.volumes.Volume`).

What a phantom contains (labelled structures in **bold**, the rest belongs to **body**):

- air (-1000 HU) around the patient and, optionally, a patient table under the back;
- the **body** outline (a rounded super-ellipse that changes along z), subcutaneous fat
  (about -100 HU), an abdominal muscle wall, paraspinal and psoas muscles, visceral fat,
  bowel loops with fluid and gas, the stomach with an air-fluid level, the inferior vena
  cava, lower ribs, intervertebral discs and the spinal canal;
- the **liver** (right lobe plus a left lobe crossing the midline), the **spleen**, the
  **kidney_left** and **kidney_right** (with renal sinus fat at the hilum), the **spine**
  (vertebral bodies with cortical shell and cancellous bone, pedicles, laminae,
  transverse and spinous processes) and the **aorta**.

Hounsfield values follow a native (non-contrast) or a portal-venous contrast phase, drawn
at random. Every phantom is different: body size and shape, organ positions, sizes,
rotations and irregular outlines (smooth random fields), vertebral level heights, bowel
loops, a global smooth deformation of the whole anatomy, contrast phase, noise level and
blur. The image is blurred with a Gaussian point-spread function (partial-volume effect
at organ borders) and then gets Gaussian noise, like a real reconstruction. The label
map is the exact tissue class at each voxel centre (before blur).

Directions follow RAS+: +x towards the patient's right (the liver side), +y anterior,
+z superior (head).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from .errors import InputError
from .io.volumes import Volume

__all__ = ["PHANTOM_LABELS", "PHANTOM_FOV_MM", "make_phantom"]

#: Label id -> organ name of every phantom label map (names follow twin3d's built-in
#: anatomical table in :mod:`twin3d.anatomy`); 0 is background (air, table).
PHANTOM_LABELS: dict[int, str] = {
    1: "body",
    2: "liver",
    3: "spleen",
    4: "kidney_left",
    5: "kidney_right",
    6: "spine",
    7: "aorta",
}

#: Default field of view (x, y, z) in millimetres; it holds every organ completely.
PHANTOM_FOV_MM: tuple[float, float, float] = (384.0, 312.0, 204.0)

_AIR = -1000.0


# --------------------------------------------------------------------------- helpers
@dataclass
class _Grid:
    """World coordinates (mm, anatomical frame) of every voxel centre, after warping."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray


def _rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix for Euler angles in degrees, applied X, then Y, then Z."""
    ax, ay, az = np.deg2rad([rx, ry, rz])
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


class _SmoothField:
    """A smooth random scalar field: a sum of random plane waves (random Fourier features).

    ``wavelength_mm`` bounds the spatial scale, so organ outlines get lobes and dents of
    that size rather than voxel-scale noise. Values have a standard deviation of about 1.
    """

    def __init__(self, rng: np.random.Generator, wavelength_mm: tuple[float, float], n_waves: int = 6):
        directions = rng.normal(size=(n_waves, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        wavelengths = rng.uniform(*wavelength_mm, size=n_waves)
        self.k = (2 * np.pi / wavelengths)[:, None] * directions
        self.phase = rng.uniform(0, 2 * np.pi, size=n_waves)
        self.scale = np.sqrt(2.0 / n_waves)

    def __call__(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = np.zeros(np.broadcast_shapes(x.shape, y.shape, z.shape), dtype=np.float32)
        for (kx, ky, kz), phase in zip(self.k, self.phase):
            out += np.cos(kx * x + ky * y + kz * z + phase, dtype=np.float32)
        return out * np.float32(self.scale)


def _ellipsoid(
    grid: _Grid,
    center: Sequence[float],
    semi_axes: Sequence[float],
    rotation_deg: Sequence[float] = (0.0, 0.0, 0.0),
    roughness: float = 0.0,
    field: _SmoothField | None = None,
) -> np.ndarray:
    """Normalised radius of a (rotated, irregular) ellipsoid: ``< 1`` inside.

    ``roughness`` is the relative amplitude of the smooth random outline perturbation.
    """
    rot = _rotation(*rotation_deg)
    dx, dy, dz = grid.x - center[0], grid.y - center[1], grid.z - center[2]
    # coordinates in the ellipsoid's own frame: R^T (p - c)
    u = rot[0, 0] * dx + rot[1, 0] * dy + rot[2, 0] * dz
    v = rot[0, 1] * dx + rot[1, 1] * dy + rot[2, 1] * dz
    w = rot[0, 2] * dx + rot[1, 2] * dy + rot[2, 2] * dz
    r = np.sqrt((u / semi_axes[0]) ** 2 + (v / semi_axes[1]) ** 2 + (w / semi_axes[2]) ** 2)
    if roughness and field is not None:
        r = r * (1.0 - roughness * field(grid.x, grid.y, grid.z))
    return r.astype(np.float32, copy=False)


def _check_spacing_shape(
    shape: Sequence[int] | None, spacing_mm: float | Sequence[float]
) -> tuple[tuple[int, int, int], np.ndarray]:
    spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,)).copy()
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise InputError(f"make_phantom: spacing_mm must be 3 positive numbers (mm), got {spacing_mm!r}")
    if np.any(spacing < 0.25) or np.any(spacing > 20):
        raise InputError(
            f"make_phantom: spacing_mm {tuple(spacing.tolist())} is outside the supported range 0.25-20 mm"
        )
    if shape is None:
        shape_t = tuple(int(np.ceil(f / s)) for f, s in zip(PHANTOM_FOV_MM, spacing))
    else:
        if len(tuple(shape)) != 3:
            raise InputError(f"make_phantom: shape must have 3 entries (x, y, z), got {shape!r}")
        try:
            shape_t = tuple(int(n) for n in shape)
        except (TypeError, ValueError):
            raise InputError(f"make_phantom: shape must be 3 integers, got {shape!r}") from None
        if any(n != s for n, s in zip(shape_t, shape)) or min(shape_t) < 8:
            raise InputError(f"make_phantom: shape must be 3 integers >= 8, got {shape!r}")
    n_voxels = int(np.prod(shape_t))
    if n_voxels > 64_000_000:
        raise InputError(
            f"make_phantom: grid {shape_t} has {n_voxels:,} voxels; at most 64,000,000 are supported "
            "(use a coarser spacing_mm or a smaller shape)"
        )
    return shape_t, spacing  # type: ignore[return-value]


# --------------------------------------------------------------------------- tissues
def _hu_table(rng: np.random.Generator, phase: str) -> dict[str, float]:
    """Mean Hounsfield values of one phantom (per-patient variation included)."""
    n = rng.normal
    if phase == "native":
        hu = {
            "liver": n(58, 6),
            "spleen": n(46, 4),
            "kidney": n(32, 4),
            "blood": n(42, 4),
        }
    else:  # portal venous
        hu = {
            "liver": n(108, 10),
            "spleen": n(118, 10),
            "kidney": n(165, 18),
            "blood": n(150, 15),
        }
    hu.update(
        {
            "fat": n(-100, 8),
            "visceral_fat": n(-92, 8),
            "muscle": n(50, 4) + (8 if phase != "native" else 0),
            "bowel_wall": n(35, 6) + (15 if phase != "native" else 0),
            "fluid": n(12, 4),
            "gas": n(-900, 40),
            "cortical_bone": n(750, 80),
            "cancellous_bone": n(230, 30),
            "disc": n(85, 8),
            "csf": n(15, 4),
            "table": n(-250, 60),
            "sinus_fat": n(-70, 10),
        }
    )
    return {k: float(v) for k, v in hu.items()}


def make_phantom(
    shape: Sequence[int] | None = None,
    spacing_mm: float | Sequence[float] = 3.0,
    seed: int | None = 0,
    *,
    phase: str | None = None,
    noise_hu: float | None = None,
) -> tuple[Volume, Volume, dict[int, str]]:
    """Make one synthetic abdominal CT and its exact label map.

    Parameters
    ----------
    shape : sequence of 3 int, optional
        Voxels along x, y, z. By default the grid covers :data:`PHANTOM_FOV_MM`
        (384 x 312 x 204 mm, every organ complete) at ``spacing_mm``; a smaller shape
        crops that field of view around its centre (organs may then be cut).
    spacing_mm : float or sequence of 3 float
        Voxel size in millimetres (x, y, z), 0.25-20 mm. Default 3 mm isotropic
        (128 x 104 x 68 voxels).
    seed : int or None
        Seed of all random choices; the same seed gives the same phantom bit for bit.
        ``None`` draws a fresh phantom.
    phase : {"native", "portal_venous"}, optional
        Contrast phase that sets the organ Hounsfield values; random (50/50) by default.
    noise_hu : float, optional
        Standard deviation of the image noise in HU; random in 8-18 HU by default.

    Returns
    -------
    image : Volume
        CT in Hounsfield units, ``int16``, RAS+ affine in mm (diagonal: axis-aligned,
        ``affine[:3, :3] = diag(spacing_mm)``).
    labelmap : Volume
        Label ids (``uint8``) on the same grid and affine; ids are those of ``labels``.
    labels : dict[int, str]
        Label id -> organ name (a copy of :data:`PHANTOM_LABELS`; 0 is background).

    Raises
    ------
    InputError
        For a bad shape, spacing or phase.

    Examples
    --------
    >>> image, labelmap, labels = make_phantom(spacing_mm=4.0, seed=3)
    >>> labels[2]
    'liver'
    """
    shape_t, spacing = _check_spacing_shape(shape, spacing_mm)
    if phase is not None and phase not in ("native", "portal_venous"):
        raise InputError(f"make_phantom: phase must be 'native' or 'portal_venous', got {phase!r}")
    if noise_hu is not None and (not np.isfinite(noise_hu) or noise_hu < 0):
        raise InputError(f"make_phantom: noise_hu must be a number >= 0, got {noise_hu!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InputError(f"make_phantom: seed must be an integer >= 0 or None, got {seed!r}")
    rng = np.random.default_rng(seed)
    phase = phase or ("native" if rng.random() < 0.5 else "portal_venous")
    hu = _hu_table(rng, phase)
    noise = float(rng.uniform(8, 18)) if noise_hu is None else float(noise_hu)

    # ---- grid: voxel centres in world mm, the field of view centred on the origin
    # (plus a random table offset, as a real scanner's isocentre is not the patient's).
    origin = -(np.asarray(shape_t) - 1) / 2.0 * spacing + rng.uniform(-15, 15, size=3) * [1, 1, 0.5]
    affine = np.eye(4)
    affine[:3, :3] = np.diag(spacing)
    affine[:3, 3] = origin
    wx = (origin[0] + spacing[0] * np.arange(shape_t[0], dtype=np.float32))[:, None, None]
    wy = (origin[1] + spacing[1] * np.arange(shape_t[1], dtype=np.float32))[None, :, None]
    wz = (origin[2] + spacing[2] * np.arange(shape_t[2], dtype=np.float32))[None, None, :]
    wx, wy, wz = np.broadcast_arrays(wx, wy, wz)

    # A smooth global deformation of the anatomy (posture, individual shape), then the
    # anatomical frame: body centre shifted from the scanner centre.
    warp = [_SmoothField(rng, (180, 420), n_waves=4) for _ in range(3)]
    amp = rng.uniform(3, 7)
    body_shift = rng.uniform(-8, 8, size=3) * [1, 1, 0]
    gx = (wx - body_shift[0] + amp * warp[0](wx, wy, wz)).astype(np.float32)
    gy = (wy - body_shift[1] + amp * warp[1](wx, wy, wz)).astype(np.float32)
    gz = (wz - body_shift[2] + amp * warp[2](wx, wy, wz)).astype(np.float32)
    grid = _Grid(gx, gy, gz)
    del wx, wy, wz

    image = np.full(shape_t, _AIR, dtype=np.float32)
    labels = np.zeros(shape_t, dtype=np.uint8)

    def paint(mask: np.ndarray, value: float | np.ndarray, label: int | None = None) -> None:
        image[mask] = value if np.ndim(value) == 0 else value[mask]
        if label is not None:
            labels[mask] = label

    # ---- body outline: a super-ellipse in x-y, flatter at the back, varying along z
    scale = rng.uniform(0.88, 1.12)
    half_w = 160.0 * scale * rng.uniform(0.93, 1.07)
    half_ant = 118.0 * scale * rng.uniform(0.9, 1.1)
    half_post = 0.82 * half_ant
    exponent = rng.uniform(2.2, 2.8)
    z_taper = 1.0 + rng.uniform(-0.06, 0.06) * gz / 100.0  # belly wider at the bottom or top
    body_field = _SmoothField(rng, (120, 300))
    half_y = np.where(gy >= 0, half_ant, half_post) * z_taper
    half_x = half_w * z_taper

    def superellipse(shrink_mm: float) -> np.ndarray:
        """< 1 inside the body outline moved inwards by ``shrink_mm``."""
        return (np.abs(gx) / (half_x - shrink_mm)) ** exponent + (np.abs(gy) / (half_y - shrink_mm)) ** exponent

    body_r = superellipse(0.0) * (1.0 - 0.03 * body_field(gx, gy, gz))
    body = body_r < 1.0
    back_y = -half_post  # y of the skin at the back (before the table)

    if rng.random() < 0.8:  # patient table: a curved carbon plate under the back
        table_top = back_y - rng.uniform(2, 10)
        curve = table_top + 0.0012 * gx**2
        table = (gy < curve) & (gy > curve - 12) & (np.abs(gx) < 230)
        paint(table & ~body, hu["table"], 0)

    fat_mm = rng.uniform(0.06, 0.2) * half_ant  # subcutaneous fat thickness
    wall_mm = rng.uniform(8, 14)  # abdominal muscle wall thickness
    cav_x = half_w - fat_mm - wall_mm  # half-width of the abdominal cavity
    cav_ant = half_ant - fat_mm - wall_mm  # y of its anterior wall
    paint(body, hu["fat"], 1)
    muscle_wall = superellipse(fat_mm) < 1.0
    paint(muscle_wall, hu["muscle"], 1)
    cavity = superellipse(fat_mm + wall_mm) < 1.0
    paint(cavity, hu["visceral_fat"], 1)

    # ---- landmarks of the spine: vertebral body centre line
    vert_y = back_y + rng.uniform(68, 82) * scale
    vert_x = rng.uniform(-4, 4)
    vb_a, vb_b = rng.uniform(21, 26) * scale, rng.uniform(16, 20) * scale  # vertebral body semi-axes
    canal_y = vert_y - vb_b - rng.uniform(8, 11)

    # ---- paraspinal (erector spinae) and psoas muscles, inside the body
    for side in (-1, 1):
        para = _ellipsoid(grid, (vert_x + side * 38 * scale, canal_y - 30 * scale, 0), (28 * scale, 24 * scale, 1e6))
        paint((para < 1) & body, hu["muscle"], 1)
        psoas_r = np.clip(-(gz + 10) / 90.0, 0, 1) * 24 * scale  # grows towards the pelvis
        psoas = ((gx - vert_x - side * 40 * scale) ** 2 + (gy - vert_y) ** 2) < psoas_r**2
        paint(psoas & cavity, hu["muscle"], 1)

    # ---- bowel loops (fluid-filled with walls, some with gas) in the lower/anterior cavity
    n_loops = int(rng.integers(18, 32))
    for _ in range(n_loops):
        c = (
            rng.uniform(-0.75, 0.75) * half_w,
            rng.uniform(-0.2, 0.8) * half_ant,
            rng.uniform(-100, 30),
        )
        radius = rng.uniform(12, 24)
        axes = (radius, radius * rng.uniform(0.6, 1.0), radius * rng.uniform(0.8, 2.0))
        rot = rng.uniform(-90, 90, size=3)
        loop = _ellipsoid(grid, c, axes, rot)
        inside = cavity & (loop < 1.0)
        paint(inside, hu["bowel_wall"], 1)
        content = inside & (loop < 1.0 - 3.0 / radius)
        if rng.random() < 0.45:  # gas rises anteriorly (patient supine): gas above the level
            level = c[1] + rng.uniform(-0.5, 0.5) * axes[1]
            paint(content & (gy > level), hu["gas"], 1)
            paint(content & (gy <= level), hu["fluid"], 1)
        else:
            paint(content, hu["fluid"] + rng.normal(0, 6), 1)

    # ---- stomach (left upper quadrant), air-fluid level
    st_c = (
        -0.4 * cav_x + rng.normal(0, 8),
        0.5 * (vert_y + cav_ant) + 15 + rng.normal(0, 6),
        55 + rng.normal(0, 8),
    )
    st_field = _SmoothField(rng, (60, 160))
    stomach = _ellipsoid(
        grid, st_c, np.array([45, 32, 45]) * scale * rng.uniform(0.8, 1.2), rng.uniform(-20, 20, 3), 0.08, st_field
    )
    st_in = cavity & (stomach < 1.0)
    paint(st_in, hu["bowel_wall"] + 10, 1)
    st_content = st_in & (stomach < 0.88)
    level = st_c[1] + rng.uniform(0.0, 0.5) * 32 * scale
    paint(st_content & (gy > level), hu["gas"], 1)
    paint(st_content & (gy <= level), hu["fluid"], 1)

    # ---- inferior vena cava (right of the aorta, flattened)
    ivc_c = (vert_x + 24 * scale + rng.normal(0, 3), vert_y + 36 * scale + rng.normal(0, 3))
    ivc = ((gx - ivc_c[0]) / (13 * scale)) ** 2 + ((gy - ivc_c[1]) / (9 * scale)) ** 2 < 1.0
    paint(ivc & cavity, hu["blood"] - (25 if phase != "native" else 0), 1)

    # ---- liver: right lobe + left lobe over the midline, irregular outline
    lv_size = rng.uniform(0.9, 1.1)
    lv_back, lv_front = vert_y - rng.uniform(20, 40), cav_ant  # AP extent it can fill
    lv_field = _SmoothField(rng, (70, 200))
    rl_c = (rng.uniform(0.4, 0.5) * cav_x, 0.5 * (lv_back + lv_front), rng.uniform(15, 30))
    rl_axes = np.array([0.55 * cav_x, 0.6 * (lv_front - lv_back), 66 * scale]) * lv_size
    right_lobe = _ellipsoid(grid, rl_c, rl_axes, rng.normal(0, 8, 3), 0.08, lv_field)
    ll_c = (
        rl_c[0] - rng.uniform(0.5, 0.6) * cav_x,
        lv_front - rng.uniform(25, 35) * scale,
        rl_c[2] + rng.uniform(10, 30),
    )
    left_lobe = _ellipsoid(grid, ll_c, np.array([50, 26, 38]) * scale * lv_size, rng.normal(0, 10, 3), 0.1, lv_field)
    liver = ((right_lobe < 1.0) | (left_lobe < 1.0)) & cavity
    liver_tex = hu["liver"] + 4.0 * _SmoothField(rng, (15, 40))(gx, gy, gz)
    paint(liver, liver_tex, 2)
    # hepatic/portal vessels inside the liver (tubes of blood, still labelled liver)
    for _ in range(int(rng.integers(3, 6))):
        p0 = np.array(rl_c) + rng.normal(0, 20, 3)
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        rel = np.stack([gx - p0[0], gy - p0[1], gz - p0[2]])
        t = np.tensordot(d, rel, axes=1)
        dist2 = (rel**2).sum(0) - t**2
        vessel = liver & (dist2 < rng.uniform(3, 6) ** 2) & (np.abs(t) < 60)
        paint(vessel, hu["blood"] + (20 if phase != "native" else -8), 2)

    # ---- spleen: posterolateral left upper quadrant, crescent-like (rotated ellipsoid)
    sp_size = rng.uniform(0.85, 1.15) * np.sqrt(scale)
    sp_c = (-rng.uniform(0.65, 0.75) * cav_x, vert_y + rng.uniform(5, 20), rng.uniform(30, 55))
    sp_field = _SmoothField(rng, (50, 140))
    sp_rot = (rng.normal(0, 8), rng.normal(0, 8), rng.normal(-40, 10))
    spleen_r = _ellipsoid(grid, sp_c, np.array([22, 50, 48]) * sp_size, sp_rot, 0.1, sp_field)
    paint((spleen_r < 1.0) & cavity, hu["spleen"], 3)

    # ---- kidneys: tilted ellipsoids with renal sinus fat at the medial hilum
    for label, side in ((5, 1), (4, -1)):  # 5 = kidney_right (+x), 4 = kidney_left (-x)
        size = rng.uniform(0.9, 1.1) * np.sqrt(scale)
        k_c = (
            vert_x + side * (rng.uniform(68, 82) * scale),
            vert_y - rng.uniform(-2, 10),
            (-20 if side > 0 else -8) + rng.normal(0, 8),
        )
        axes = np.array([28, 22, 56]) * size * rng.uniform(0.92, 1.08, 3)
        rot = (rng.normal(-8, 5), side * rng.normal(12, 5), side * rng.normal(-30, 8))
        k_field = _SmoothField(rng, (50, 140))
        kidney = _ellipsoid(grid, k_c, axes, rot, 0.05, k_field) < 1.0
        hilum_c = (k_c[0] - side * 0.75 * axes[0], k_c[1] + 0.35 * axes[1], k_c[2])
        sinus = _ellipsoid(grid, hilum_c, axes * [0.55, 0.5, 0.45], rot) < 1.0
        paint(kidney & cavity, hu["kidney"] + rng.normal(0, 5), label)
        paint(sinus & kidney & cavity, hu["sinus_fat"], 1)

    # ---- aorta: a tube left-anterior of the vertebral bodies, slightly winding
    ao_r = rng.uniform(10, 13.5) * scale
    ao_x = vert_x - rng.uniform(10, 20) * scale + 4 * np.sin(gz / 90.0 + rng.uniform(0, 6))
    ao_y = vert_y + vb_b + ao_r + rng.uniform(3, 10)
    aorta = (gx - ao_x) ** 2 + (gy - ao_y) ** 2 < ao_r**2
    paint(aorta & body, hu["blood"], 7)

    # ---- spine: vertebrae with discs, cortical shell, posterior elements
    level_h = rng.uniform(32, 38) * scale  # vertebral level height (body + disc)
    disc_h = rng.uniform(7, 10) * scale
    z_phase = np.mod(gz - rng.uniform(0, level_h), level_h)  # position within a level
    in_vertebra = z_phase > disc_h
    vb_r = np.sqrt(((gx - vert_x) / vb_a) ** 2 + ((gy - vert_y) / vb_b) ** 2)
    vb = vb_r < 1.0
    paint(vb & ~in_vertebra, hu["disc"], 1)  # intervertebral discs belong to "body"
    bone = np.where(vb_r > 1.0 - 2.5 / vb_b, hu["cortical_bone"], hu["cancellous_bone"]).astype(np.float32)
    paint(vb & in_vertebra, bone, 6)
    # posterior elements occupy the upper part of each level (pedicles/laminae/processes)
    post_z = in_vertebra & (z_phase > disc_h + 0.25 * (level_h - disc_h))
    canal_d = np.sqrt((gx - vert_x) ** 2 + (gy - canal_y) ** 2)
    canal = canal_d < 9.0 * scale
    arch = post_z & (canal_d < 17.0 * scale) & ~canal & (gy < vert_y - 0.5 * vb_b)
    spinous = post_z & (np.abs(gx - vert_x) < 4.5 * scale) & (gy < canal_y) & (gy > canal_y - 45 * scale)
    transverse = (
        post_z & (np.abs(gx - vert_x) < 40 * scale) & (np.abs(gx - vert_x) > 10 * scale)
        & (np.abs(gy - (canal_y + 2)) < 6 * scale) & (z_phase < disc_h + 0.75 * (level_h - disc_h))
    )
    paint(canal & body, hu["csf"], 1)
    paint((arch | spinous | transverse) & body, 0.5 * (hu["cortical_bone"] + hu["cancellous_bone"]), 6)

    # ---- lower ribs: oblique bony bands just inside the muscle wall, upper abdomen only
    shell = muscle_wall & ~(superellipse(fat_mm + 10.0) < 1.0)
    angle = np.arctan2(gy, gx)  # 0 = right, pi/2 = anterior
    rib_z = gz + 90.0 * np.abs(np.sin(angle))  # ribs descend steeply towards the front
    ribs = shell & (np.mod(rib_z, level_h) < 8 * scale) & (gz > -30 + 60 * np.clip(np.sin(angle), 0, 1)) & (labels < 2)
    paint(ribs, hu["cortical_bone"] * 0.7, 1)

    # ---- partial-volume blur (Gaussian point-spread function, sigma 1.0-1.8 mm) and noise
    psf_mm = rng.uniform(1.0, 1.8)
    image = ndimage.gaussian_filter(image, sigma=psf_mm / spacing, mode="nearest")
    image += rng.normal(0.0, noise, size=shape_t).astype(np.float32)
    ct = np.clip(np.rint(image), -1024, 3071).astype(np.int16)

    return Volume(ct, affine.copy()), Volume(labels, affine.copy()), dict(PHANTOM_LABELS)
