"""Thermal ablation: closed-form verification, damage, heat sinks, the real CT map, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import require_real_data

from twin3d.errors import BudgetError, InputError
from twin3d.io.volumes import Volume
from twin3d.predictors.ablation.damage import (
    ARRHENIUS,
    DamageIntegrator,
    arrhenius_damage,
    arrhenius_rate,
    cem43,
)
from twin3d.predictors.ablation.lesion import (
    lesion_summary,
    lesion_surface,
    run_ablation,
)
from twin3d.predictors.ablation.problem import (
    FAR_FIELD,
    ORGAN,
    Applicator,
    Surface,
    ablation_problem,
)
from twin3d.predictors.ablation.reference import (
    analytic_ball_rise,
    build_operator,
    finite_volume_solution,
    steady_state,
)
from twin3d.predictors.ablation.tissue import BLOOD, TISSUES, Tissue

SEG = "ct/abdomen_seg_3mm.nii.gz"
LIVER = TISSUES["liver"]


# --------------------------------------------------------------------------- fixtures
def _box_map(shape=(41, 41, 31), spacing=2.0, vein_x_mm: float | None = 10.0, vein_radius_mm=4.0):
    """A 'liver' (builtin label 2) filling the grid inside a 2-voxel 'body' rim, with an
    optional 'portal_vein' (label 9) cylinder along z at x = vein_x_mm."""
    arr = np.full(shape, 1, dtype=np.uint8)
    arr[2:-2, 2:-2, 2:-2] = 2
    aff = np.diag([spacing, spacing, spacing, 1.0])
    aff[:3, 3] = -(np.array(shape) - 1) / 2.0 * spacing
    vol = Volume(arr, aff)
    if vein_x_mm is not None:
        ijk = np.indices(shape).reshape(3, -1).T
        xyz = vol.index_to_world(ijk)
        in_vein = (xyz[:, 0] - vein_x_mm) ** 2 + xyz[:, 1] ** 2 <= vein_radius_mm**2
        arr.reshape(-1)[in_vein] = 9
    return vol


def _app(target, power=30.0, duration=180.0, **kw):
    return Applicator(target_mm=target, power_w=power, duration_s=duration, **kw)


# --------------------------------------------------------------------------- closed form
def test_steady_ball_source_matches_the_closed_form_within_2_percent():
    """Uniform ball (a = 5 mm, 5 W) in a 61 mm cube of perfused liver, 1 mm voxels: the FV
    steady state is within 2 % of the analytic rise at every voxel 2 mm or more outside the
    ball (out to 20 mm, where the rise is still 0.4 % of its peak)."""
    n, a, power = 61, 5.0, 5.0
    lm = Volume(np.full((n, n, n), 2, np.uint8), np.diag([1.0, 1.0, 1.0, 1.0]) @ _centred(n, 1.0))
    prob = ablation_problem(lm, _app((0, 0, 0), power=power, pattern="ball", radius_mm=a), margin_mm=None)
    steady = steady_state(prob)
    r = np.linalg.norm(steady.points_mm, axis=1)
    exact = analytic_ball_rise(r * 1e-3, power_w=power, radius_m=a * 1e-3, conductivity=LIVER.conductivity,
                               perfusion_coefficient=LIVER.perfusion_coefficient(BLOOD))
    shell = (r >= a + 2.0) & (r <= 20.0)
    rel = np.abs(steady.rise[shell] - exact[shell]) / exact[shell]
    assert shell.sum() > 20000 and rel.max() < 0.02, rel.max()
    inside = r <= a
    assert np.abs(steady.rise[inside] - exact[inside]).max() < 0.01 * exact.max()
    # the closed form itself: continuous at r = a, conduction limit without perfusion
    x = np.array([a - 1e-6, a + 1e-6]) * 1e-3
    th = analytic_ball_rise(x, power_w=power, radius_m=a * 1e-3, conductivity=0.5, perfusion_coefficient=2e4)
    assert th[0] == pytest.approx(th[1], rel=1e-5)
    far = analytic_ball_rise(np.array([0.02]), power_w=1.0, radius_m=1e-3, conductivity=0.5, perfusion_coefficient=0)
    assert far[0] == pytest.approx(1.0 / (4 * math.pi * 0.5 * 0.02))


def _centred(n: int, h: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = -(n - 1) / 2.0 * h
    return m


def test_transient_reaches_the_steady_state_and_conserves_energy():
    lm = Volume(np.full((25, 25, 25), 2, np.uint8), np.diag([2.0, 2.0, 2.0, 1.0]) @ _centred(25, 1.0))
    app = _app((0, 0, 0), power=5.0, duration=1200.0, pattern="ball", radius_mm=5.0)
    prob = ablation_problem(lm, app, margin_mm=None, cool_s=0.0)
    sol = finite_volume_solution(prob, dt_s=10.0, n_times=3)
    steady = steady_state(prob)
    # 1200 s is > 8 perfusion time constants (rho c / (omega rho_b c_b) = 143 s)
    assert np.abs(sol.values[-1] - steady.values_c).max() < 1e-3 * steady.rise.max()
    e = sol.energy_j
    assert e["delivered"] == pytest.approx(5.0 * 1200.0, rel=0.02)  # the ball, voxelised, holds ~all of P
    assert e["balance_error"] < 1e-6
    # backward Euler agrees at steady state too
    be = finite_volume_solution(prob, dt_s=10.0, n_times=2, method="backward-euler")
    assert np.abs(be.values[-1] - steady.values_c).max() < 1e-3 * steady.rise.max()


# --------------------------------------------------------------------------- damage
def test_cem43_and_arrhenius_known_values():
    t = np.array([0.0, 240 * 60.0])
    assert cem43(np.full((2, 1), 43.0), t)[0] == pytest.approx(240.0)
    assert cem43(np.full((2, 1), 44.0), np.array([0.0, 60.0]))[0] == pytest.approx(2.0)
    assert cem43(np.full((2, 1), 41.0), np.array([0.0, 60.0]))[0] == pytest.approx(1.0 / 16.0)
    # Henriques-Moritz: Omega = 1 after 17 min at 50 degC, 4 min at 52 degC, 30 s at 55 degC
    assert 1 / arrhenius_rate(np.array(50.0)) / 60 == pytest.approx(17.4, rel=0.02)
    assert 1 / arrhenius_rate(np.array(52.0)) / 60 == pytest.approx(4.1, rel=0.02)
    assert 1 / arrhenius_rate(np.array(55.0)) == pytest.approx(29.6, rel=0.02)
    # the liver set's poor low-temperature extrapolation (documented): Omega = 1 within ~1 h at 37 degC
    assert 1 / arrhenius_rate(np.array(37.0), ARRHENIUS["liver"]) < 3600
    # the step integrator equals the batch integral above its floor
    rng = np.random.default_rng(0)
    temps = 37 + np.cumsum(rng.uniform(0, 2, size=(30, 5)), axis=0)
    times = np.arange(30) * 2.0
    d = DamageIntegrator(temps[0], floor_c=0.0)
    for row in temps[1:]:
        d.step(row, 2.0)
    np.testing.assert_allclose(d.omega, arrhenius_damage(temps, times), rtol=1e-12)
    np.testing.assert_allclose(d.cem43, cem43(temps, times), rtol=1e-12)
    np.testing.assert_array_equal(d.max_temperature, temps.max(axis=0))
    with pytest.raises(InputError, match="unknown lesion criterion"):
        d.lesion("necrosis")


# --------------------------------------------------------------------------- heat sinks (synthetic)
def test_a_large_vessel_cools_the_ablation_and_makes_the_lesion_smaller():
    vol = _box_map()
    near, far = (3.0, 0.0, 0.0), (-12.0, 0.0, 0.0)
    runs = {}
    for name, target, vessels in (("near", near, "auto"), ("near_off", near, None), ("far", far, "auto")):
        runs[name] = run_ablation(vol, _app(target), vessels=vessels, margin_mm=None, scene=False)
    v = {k: r.lesion.volume_ml for k, r in runs.items()}
    assert v["far"] > 1.0 and v["near"] < 0.85 * v["far"], v
    assert v["near"] < v["near_off"], v  # the same ablation without the vein as a sink
    rep = runs["near"].report
    (vein,) = rep["vessels"]
    assert vein["name"] == "portal_vein" and vein["heat_removed_j"] > 0.05 * rep["energy_j"]["delivered"]
    assert rep["cooling_vessels"] == ["portal_vein"]
    assert runs["far"].report["vessels"][0]["heat_removed_j"] < 0.2 * vein["heat_removed_j"]
    for r in runs.values():
        assert r.report["energy_j"]["balance_error"] < 1e-6


def test_lesion_measures_surface_and_mirrored_grid():
    vol = _box_map(vein_x_mm=None)
    res = run_ablation(vol, _app((0.0, 0.0, 0.0), direction=(0, 0, 1)), margin_mm=None, scene=False)
    les = res.lesion
    assert les.volume_ml > 1.0 and les.margin_mm is not None and les.margin_mm > 3.0
    assert les.length_mm > les.diameter_mm  # elongated along the applicator (sigma_axial > sigma_radial)
    assert les.equivalent_diameter_mm == pytest.approx((6 * les.volume_ml * 1e3 / math.pi) ** (1 / 3))
    surf = lesion_surface(res.solution)
    assert surf.volume_ml == pytest.approx(les.volume_ml, rel=0.08)
    assert np.linalg.norm(surf.centroid_mm) < 2.0  # centred on the target
    # a tumour bigger than the lesion leaves a negative margin
    assert lesion_summary(res.solution, tumor_radius_mm=50.0).margin_mm < 0
    # the same anatomy stored with a mirrored affine (i axis reversed) gives the same lesion
    mirrored = run_ablation(vol.flip(0), _app((0.0, 0.0, 0.0), direction=(0, 0, 1)), margin_mm=None, scene=False)
    assert mirrored.lesion.volume_ml == pytest.approx(les.volume_ml, rel=1e-6)
    assert mirrored.report["max_temperature_c"] == pytest.approx(res.report["max_temperature_c"], rel=1e-6)


def test_crop_resample_and_problem_interface():
    vol = _box_map()
    prob = ablation_problem(vol, _app((-12.0, 0.0, 0.0)), spacing_mm=1.5, margin_mm=15.0)
    assert np.allclose(prob.spacing_mm, 1.5)
    codes = prob.codes.array
    assert (codes == FAR_FIELD).any() and not (codes[1:-1, 1:-1, 1:-1] == FAR_FIELD).any()
    assert prob.n_unknowns == int((codes == ORGAN).sum())
    # PINN-facing interface: signed distance (negative inside), properties, Q(x, t), time span
    sdf = prob.signed_distance(smooth_mm=1.0)
    assert sdf[prob.organ_mask].max() < 1.0 and sdf[codes != ORGAN].min() > -1.0
    pts = prob.domain_points_mm()[:5]
    props = prob.properties_at(pts)
    assert np.allclose(props["conductivity"], LIVER.conductivity)
    q0 = prob.power_density(np.array([[-12.0, 0.0, 0.0]]), t=0.0)[0]
    assert q0 > 0 and prob.power_density(np.array([[-12.0, 0.0, 0.0]]), t=prob.applicator.duration_s)[0] == 0
    assert prob.t_end == pytest.approx(180.0 + 60.0)
    assert prob.inside(np.array([[-12.0, 0.0, 0.0], [500.0, 0, 0]])).tolist() == [True, False]
    op = build_operator(prob)
    assert 0.8 * 30.0 < op.source.sum() < 30.0  # the 15 mm box cuts the Gaussian's tail (sigma_axial 7.5 mm)
    whole = build_operator(ablation_problem(vol, _app((-12.0, 0.0, 0.0)), margin_mm=None))
    assert whole.source.sum() == pytest.approx(30.0, rel=0.01)  # (a little falls on the vein)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, needle", [
    ({"power_w": 0.0}, "power must be in (0, 250] W"),
    ({"power_w": 1000.0}, "power must be in (0, 250] W"),
    ({"duration_s": 0.5}, "time must be in [1, 3600] s"),
    ({"duration_s": float("nan")}, "time must be in [1, 3600] s"),
    ({"direction": (0, 0, 0)}, "direction must be a non-zero vector"),
    ({"target_mm": (1, 2)}, "target must be 3 finite numbers"),
    ({"sigma_radial_mm": 100.0}, "sigma_radial_mm must be in (0.5, 30]"),
])
def test_applicator_out_of_physical_range(kwargs, needle):
    base = {"target_mm": (0, 0, 0), "power_w": 30.0, "duration_s": 60.0}
    with pytest.raises(InputError) as err:
        Applicator(**{**base, **kwargs})
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_bad_problems_say_what_and_where():
    vol = _box_map()

    def fails(needles, *args, **kw):
        with pytest.raises(InputError) as err:
            ablation_problem(*args, **kw)
        msg = str(err.value)
        assert "\n" not in msg
        for n in needles:
            assert n in msg, msg
        return msg

    fails(["lies outside the label map", "voxel centres span"], vol, _app((500.0, 0, 0)))
    fails(["lies outside the liver", "'body' (label 1)", "nearest liver voxel", "mm away"], vol,
          _app((0.0, 0.0, 28.0)))
    fails(["lies outside the liver", "'portal_vein' (label 9)"], vol, _app((10.0, 0.0, 0.0)))
    fails(["no organ 'lver'", "names:"], vol, _app((0, 0, 0)), organ="lver")
    fails(["has no voxels of organ 'spleen'", "organs present", "--labels"], vol, _app((0, 0, 0)), organ="spleen")
    fails(["no literature tissue properties for organ 'body'"], vol, _app((0, 0, 0)), organ="body")
    fails(["has no voxels of vessel 'inferior_vena_cava'", "vessels present: ['portal_vein']"], vol,
          _app((0, 0, 0)), vessels=["inferior_vena_cava"])
    fails(["no vessel 'hepatic_artery' in label table 'builtin'"], vol, _app((0, 0, 0)), vessels=["hepatic_artery"])
    with pytest.raises(InputError, match="a convective surface needs h"):
        Surface("convective")
    fails(["spacing must be in (0.25, 10] mm"], vol, _app((0, 0, 0)), spacing_mm=0.0)
    sheared = Volume(vol.array, vol.affine @ np.array([[1, 0.3, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]))
    fails(["not orthogonal"], sheared, _app((0, 0, 0)))
    with pytest.raises(InputError, match="perfusion must be in"):
        Tissue("x", 1000, 3600, 0.5, perfusion=-1)
    from twin3d.budgets import memory_budget_set

    with memory_budget_set("64M"), pytest.raises(BudgetError, match="the ablation grid needs about .* --spacing"):
        ablation_problem(vol, _app((0, 0, 0)), spacing_mm=0.26, margin_mm=500.0)


# --------------------------------------------------------------------------- real CT label map
FAR_TARGET = (95.04, 167.32, 148.30)  # right lobe, 40 mm from the nearest large vessel
NEAR_IVC_TARGET = (11.04, 176.32, 169.30)  # 6 mm from the inferior vena cava


def test_real_ct_liver_ablation_heat_sink_next_to_the_vena_cava():
    """On TotalSegmentator's real label map (3 mm voxels, simulated at 2 mm around the target):
    40 W for 5 min gives a plausible lesion; next to the IVC the vein removes heat and the
    same ablation gives a smaller lesion than away from vessels, and than at the same place
    with the vessels not treated as sinks."""
    seg = require_real_data(SEG)
    kw = {"table": "totalsegmentator", "spacing_mm": 2.0, "margin_mm": 35.0, "scene": False}
    far = run_ablation(seg, _app(FAR_TARGET, power=40.0, duration=300.0), **kw)
    near = run_ablation(seg, _app(NEAR_IVC_TARGET, power=40.0, duration=300.0), **kw)
    near_off = run_ablation(seg, _app(NEAR_IVC_TARGET, power=40.0, duration=300.0), vessels=None, **kw)
    v_far, v_near, v_off = far.lesion.volume_ml, near.lesion.volume_ml, near_off.lesion.volume_ml
    assert 4.0 < v_far < 40.0, v_far  # a 2-4 cm zone, the size of clinical single-applicator ablations
    assert v_near < 0.9 * v_far and v_near < v_off, (v_far, v_near, v_off)
    ivc = next(v for v in near.report["vessels"] if v["name"] == "inferior_vena_cava")
    assert ivc["distance_mm"] == pytest.approx(6.0, abs=0.1)
    assert ivc["heat_removed_j"] > 0.1 * near.report["energy_j"]["delivered"]
    assert near.report["cooling_vessels"][0] == "inferior_vena_cava"
    assert sum(v["heat_removed_j"] for v in far.report["vessels"]) < 0.01 * far.report["energy_j"]["delivered"]
    for r in (far, near, near_off):
        assert r.report["energy_j"]["balance_error"] < 1e-6
        assert r.lesion.margin_mm > 0


def test_real_ct_bad_inputs():
    from twin3d.io.volumes import read_labelmap

    seg = require_real_data(SEG)
    lm = read_labelmap(seg)
    ivc = lm.index_to_world(np.argwhere(lm.array == 63))
    in_ivc = ivc[np.argmin(np.linalg.norm(ivc - NEAR_IVC_TARGET, axis=1))]
    with pytest.raises(InputError, match=r"lies outside the liver: voxel .* is 'inferior_vena_cava' \(label 63\)"):
        ablation_problem(lm, _app(tuple(in_ivc)), table="totalsegmentator")
    with pytest.raises(InputError, match="no voxels of organ 'prostate' .* is it the right label table"):
        ablation_problem(lm, _app(FAR_TARGET), organ="prostate", table="builtin")
    with pytest.raises(InputError, match="no voxels of vessel 'superior_vena_cava'"):
        ablation_problem(lm, _app(FAR_TARGET), table="totalsegmentator", vessels=["superior_vena_cava"])


# --------------------------------------------------------------------------- spec section
def test_spec_section_adds_the_ablation_and_writes_the_report(tmp_path):
    import json

    from twin3d.errors import SpecError
    from twin3d.io.volumes import write_nifti
    from twin3d.spec import build_scene

    write_nifti(_box_map(shape=(31, 31, 23)), tmp_path / "seg.nii.gz")
    spec = tmp_path / "abl.yaml"
    spec.write_text(
        "name: abl\nunits: mm\nablation:\n  labelmap: seg.nii.gz\n  organ: liver\n  target: [-8, 0, 0]\n"
        "  power: 30\n  time: 120\n  frames: 5\n  report: out/report.json\n")
    scene = build_scene(spec)
    liver = scene.get("organs/liver")
    assert liver.fields["temperature"].values.shape[0] == 5
    lesion = scene.get("ablation/lesion")
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["lesion_volume_ml"] == pytest.approx(scene.metadata["ablation_report"]["lesion_volume_ml"])
    assert lesion.metadata["volume_ml"] == pytest.approx(rep["lesion_volume_ml"], rel=0.1)
    # errors are located in the spec; nothing is written
    bad = tmp_path / "bad.yaml"
    bad.write_text("units: mm\nablation:\n  labelmap: seg.nii.gz\n  target: [0, 0, 21]\n  power: 30\n  time: 60\n"
                   "  report: bad.json\n")
    with pytest.raises(SpecError, match=r"bad.yaml:2: ablation: .*lies outside the liver"):
        build_scene(bad)
    assert not (tmp_path / "bad.json").exists()
    bad.write_text("units: mm\nablation:\n  labelmap: seg.nii.gz\n  target: [0, 0, 0]\n  power: 900\n  time: 60\n")
    with pytest.raises(SpecError, match=r"bad.yaml:5: ablation.power"):
        build_scene(bad)
