"""Thermal PINN: problems, references, training accuracy (torch + TensorFlow), model files.

Accuracy tests train real models with small budgets and compare them with analytic
solutions written out here (independently of the library's reference module).
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from twin3d.errors import InputError, MissingFileError, ModelFileError, NotFittedError, TrainingError
from twin3d.predictors.thermal import (
    ConstantInitial,
    Convection,
    Cylinder,
    Dirichlet,
    HeatProblem,
    Material,
    ModeInitial,
    Neumann,
    Plate,
    Rod,
    Source,
    ThermalPINN,
    analytic_solution,
    finite_volume_solution,
    preset_problem,
    reference_solution,
    relative_l2,
    resolve_backend,
)

HAS_TF = importlib.util.find_spec("tensorflow") is not None
needs_tf = pytest.mark.skipif(not HAS_TF, reason="TensorFlow is not installed (optional extra: pip install 'twin3d[tf]')")


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


# --------------------------------------------------------------------------- trained fixtures
@pytest.fixture(scope="module")
def rod_torch() -> ThermalPINN:
    return ThermalPINN(adam_steps=20, lbfgs_steps=300, progress=False).fit(preset_problem("rod"))


# --------------------------------------------------------------------------- accuracy
def test_rod_torch_below_1e3_against_the_exact_solution(rod_torch):
    assert rod_torch.reference_kind_ == "analytic"
    assert rod_torch.rel_l2_ < 1e-3
    # independent check at random points: u = exp(-0.4 pi^2 t) sin(pi x)
    rng = np.random.default_rng(1)
    x, t = rng.uniform(0, 1, 4000), rng.uniform(0, 1, 4000)
    exact = np.exp(-0.4 * np.pi**2 * t) * np.sin(np.pi * x)
    assert _rel(rod_torch.predict_pointwise(x[:, None], t), exact) < 1e-3
    # hard constraints: initial condition and zero ends hold exactly
    assert np.allclose(rod_torch.predict(np.array([[0.0], [1.0]]), [0.3, 0.9]), 0.0, atol=1e-7)
    assert np.allclose(rod_torch.predict(x[:50, None], 0.0)[0], np.sin(np.pi * x[:50]), atol=1e-6)


def test_plate_torch_below_1e3():
    p = preset_problem("plate")
    m = ThermalPINN(adam_steps=20, lbfgs_steps=300, progress=False).fit(p)
    assert m.rel_l2_ < 1e-3
    rng = np.random.default_rng(2)
    xy, t = rng.uniform(0, 1, (3000, 2)), rng.uniform(0, 1, 3000)
    exact = np.exp(-0.1 * 2 * np.pi**2 * t) * np.sin(np.pi * xy[:, 0]) * np.sin(np.pi * xy[:, 1])
    assert _rel(m.predict_pointwise(xy, t), exact) < 1e-3


def test_box_torch_below_1e2():
    p = preset_problem("box")
    m = ThermalPINN(adam_steps=20, lbfgs_steps=120, n_interior=2048, progress=False).fit(p)
    assert m.rel_l2_ < 1e-2
    rng = np.random.default_rng(3)
    xyz, t = rng.uniform(0, 1, (3000, 3)), rng.uniform(0, 1, 3000)
    exact = np.exp(-0.05 * 3 * np.pi**2 * t) * np.prod(np.sin(np.pi * xyz), axis=1)
    assert _rel(m.predict_pointwise(xyz, t), exact) < 1e-2


_TF_SCRIPT = r"""
import json, sys, numpy as np
from twin3d.predictors.thermal import ThermalPINN, preset_problem
out = sys.argv[1]
rod_tf = ThermalPINN(backend="tensorflow", adam_steps=20, lbfgs_steps=300, progress=False).fit(preset_problem("rod"))
rod_pt = ThermalPINN(adam_steps=20, lbfgs_steps=300, progress=False).fit(preset_problem("rod"))
x = np.linspace(0, 1, 101)[:, None]
adam_tf = [h[2] for h in rod_tf.history_ if h[0] == "adam"]
adam_pt = [h[2] for h in rod_pt.history_ if h[0] == "adam"]
path = rod_tf.save(out + "/rod.npz")
with np.load(path, allow_pickle=False) as z:
    cfg_backend = json.loads(str(z["config"]))["backend"]
    w0_shape = list(z["w0"].shape)
loaded = ThermalPINN.load(path)
pt = rod_pt.save(out + "/rod_torch.pt")
on_tf = ThermalPINN.load(pt, backend="tensorflow")
x2 = np.linspace(0, 1, 41)[:, None]
print(json.dumps({
    "backend": rod_tf.backend_, "rel_l2": rod_tf.rel_l2_,
    "adam_tf": adam_tf, "adam_pt": adam_pt,
    "max_diff_tf_vs_torch": float(np.max(np.abs(rod_tf.predict(x, [0.25, 0.75]) - rod_pt.predict(x, [0.25, 0.75])))),
    "file_backend": cfg_backend, "w0_shape": w0_shape, "loaded_backend": loaded.backend_,
    "reload_diff": float(np.max(np.abs(loaded.predict(x2, [0.2, 0.9]) - rod_tf.predict(x2, [0.2, 0.9])))),
    "cross_backend": on_tf.backend_,
    "cross_diff": float(np.max(np.abs(on_tf.predict(x2, [0.2, 0.9]) - rod_pt.predict(x2, [0.2, 0.9])))),
}))
"""


@needs_tf
def test_rod_tensorflow_below_1e3_same_as_torch_and_model_files(tmp_path):
    """TensorFlow backend: accuracy, agreement with torch, save/load and cross-backend loading.

    Runs in a fresh interpreter: TensorFlow's bundled LLVM and Mesa's (loaded by any VTK
    render earlier in the test session) cannot share a process (see docs/thermal.md).
    """
    import os

    env = dict(os.environ, TWIN3D_NO_PROGRESS="1", TF_CPP_MIN_LOG_LEVEL="2")
    res = subprocess.run([sys.executable, "-c", _TF_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         env=env, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    r = json.loads(res.stdout.strip().splitlines()[-1])
    assert r["backend"] == "tensorflow" and r["rel_l2"] < 1e-3
    # same weights, points and Adam: the Adam phase matches torch to float32 rounding
    assert len(r["adam_tf"]) == len(r["adam_pt"]) > 0
    assert np.allclose(r["adam_tf"], r["adam_pt"], rtol=1e-4)
    # and both end up at the same field
    assert r["max_diff_tf_vs_torch"] < 2e-3
    # weights + a JSON string in an .npz (no pickle); reloads exactly; torch files run on TF
    assert r["file_backend"] == "tensorflow" and r["w0_shape"] == [2, 32]
    assert r["loaded_backend"] == "tensorflow" and r["reload_diff"] < 1e-7
    assert r["cross_backend"] == "tensorflow" and r["cross_diff"] < 1e-6


def test_soft_constraints_also_train():
    """Conditions as loss terms (the classic PINN) work, just slower than hard constraints."""
    m = ThermalPINN(constraints="soft", adam_steps=100, lbfgs_steps=200, n_interior=512, progress=False)
    m.fit(preset_problem("rod"))
    assert m.rel_l2_ < 2e-2
    assert m.config()["constraints"] == "soft"


def test_convective_cylinder_with_source_against_finite_volumes():
    """A small Robin + source problem: the PINN follows the finite-volume reference."""
    p = HeatProblem(
        name="small_cylinder",
        geometry=Cylinder(radius=0.1, length=0.2),
        material=Material(conductivity=20.0, density=5000.0, specific_heat=500.0),
        t_end=600.0,
        initial=ConstantInitial(temperature=20.0),
        boundaries={"side": Convection(h=50.0, ambient=20.0), "bottom": Dirichlet(temperature=20.0)},
        source=Source(power_density=2e4),
    )
    m = ThermalPINN(adam_steps=50, lbfgs_steps=250, progress=False).fit(p)
    assert m.reference_kind_ == "finite-volume"
    assert m.rel_l2_ < 2e-2
    # the fixed face holds exactly, and the hot spot is on the axis at the insulated end
    vals = m.predict(np.array([[0.05, 0.0, 0.0], [0.0, 0.0, 0.2], [0.1, 0.0, 0.2]]), [600.0])[0]
    assert abs(vals[0] - 20.0) < 1e-5
    assert vals[1] > vals[2] > 20.0


# --------------------------------------------------------------------------- references
@pytest.mark.parametrize(
    "name, cells, tol",
    [("rod", 100, 1e-4), ("plate", 40, 5e-4), ("box", 12, 5e-3)],
)
def test_finite_volumes_match_the_analytic_solution(name, cells, tol):
    p = preset_problem(name)
    fv = finite_volume_solution(p, cells=cells, steps=200, n_times=11)
    exact = analytic_solution(p, fv.points, fv.times)
    assert relative_l2(fv.values, exact) < tol


def test_finite_volumes_converge_at_second_order():
    p = preset_problem("plate")
    errs = []
    for n in (16, 32):
        fv = finite_volume_solution(p, cells=n, steps=400, n_times=5)
        errs.append(relative_l2(fv.values, analytic_solution(p, fv.points, fv.times)))
    assert 3.0 < errs[0] / errs[1] < 5.0


def test_cylinder_bessel_mode_against_finite_volumes():
    p = HeatProblem(
        geometry=Cylinder(radius=0.2, length=0.5),
        material=Material(diffusivity=1e-5),
        t_end=600.0,
        initial=ModeInitial(amplitude=5.0, modes=(1, 1), offset=20.0),
        boundaries={"side": Dirichlet(temperature=20.0)},  # ends insulated: cos(pi z / L)
    )
    fv = finite_volume_solution(p, cells=(48, 48), steps=200, n_times=6)
    exact = analytic_solution(p, fv.points, fv.times)
    assert relative_l2(fv.values, exact, base=20.0) < 1e-3
    # the analytic solution itself: J0(j01 r/R) cos(pi z/L) decaying at alpha (j01^2/R^2 + pi^2/L^2)
    j01 = 2.404825557695773
    r, z, t = 0.07, 0.1, 300.0
    u = 20.0 + 5.0 * np.exp(-1e-5 * ((j01 / 0.2) ** 2 + (np.pi / 0.5) ** 2) * t)
    from scipy.special import j0

    u_ref = 20.0 + (u - 20.0) * j0(j01 * r / 0.2) * np.cos(np.pi * z / 0.5)
    assert analytic_solution(p, np.array([[r, 0.0, z]]), [t])[0, 0] == pytest.approx(u_ref, rel=1e-12)


def test_finite_volumes_source_and_convection_physics():
    # insulated rod + uniform source: mean temperature rises by q t / (rho c) exactly
    k, rho, c, q = 10.0, 1000.0, 500.0, 1e5
    p = HeatProblem(geometry=Rod(length=0.5), material=Material(conductivity=k, density=rho, specific_heat=c),
                    t_end=100.0, initial=ConstantInitial(temperature=0.0), source=Source(power_density=q))
    fv = finite_volume_solution(p, cells=50, steps=50, n_times=3)
    assert fv.values[-1].mean() == pytest.approx(q * 100.0 / (rho * c), rel=1e-10)
    # long run, source + fixed ends: steady parabola u = q x (L - x) / (2 k)
    p2 = HeatProblem(geometry=Rod(length=0.5), material=Material(conductivity=k, density=rho, specific_heat=c),
                     t_end=2e5, initial=ConstantInitial(temperature=0.0),
                     boundaries={"all": Dirichlet(temperature=0.0)}, source=Source(power_density=q))
    fv2 = finite_volume_solution(p2, cells=100, steps=400, n_times=2)
    x = fv2.points[:, 0]
    assert relative_l2(fv2.values[-1], q * x * (0.5 - x) / (2 * k)) < 1e-3
    # convection both sides, steady: flux balance q L = 2 h (u_surface - ambient)
    h = 25.0
    p3 = HeatProblem(geometry=Rod(length=0.5), material=Material(conductivity=k, density=rho, specific_heat=c),
                     t_end=2e6, initial=ConstantInitial(temperature=20.0),
                     boundaries={"all": Convection(h=h, ambient=20.0)}, source=Source(power_density=q))
    fv3 = finite_volume_solution(p3, cells=100, steps=400, n_times=2)
    u = fv3.values[-1]
    x = fv3.points[:, 0]
    exact = 20.0 + q * 0.5 / (2 * h) + q * x * (0.5 - x) / (2 * k)
    assert relative_l2(u, exact, base=20.0) < 1e-3


def test_reference_solution_picks_analytic_or_finite_volumes():
    assert reference_solution(preset_problem("rod")).kind == "analytic"
    ref = reference_solution(preset_problem("cylinder"))
    assert ref.kind == "finite-volume"
    assert ref.values.shape == (ref.times.size, ref.points.shape[0])
    assert np.all(ref.values[0] == 25.0)


def test_relative_l2_measures_change_from_base():
    ref = np.array([300.0, 301.0, 302.0])
    assert relative_l2(ref + 0.01, ref) < 1e-4  # an offset hides the error...
    assert relative_l2(ref + 0.01, ref, base=300.0) == pytest.approx(0.01 * math.sqrt(3) / math.sqrt(5))
    with pytest.raises(InputError, match="constant"):
        relative_l2(ref, np.full(3, 300.0), base=300.0)


# --------------------------------------------------------------------------- validation
def _problem(**over):
    kw = dict(geometry=Rod(length=1.0), material=Material(diffusivity=1e-4), t_end=10.0,
              initial=ConstantInitial(temperature=20.0))
    kw.update(over)
    return HeatProblem(**kw)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: Material(diffusivity=-1.0), r"diffusivity must be > 0"),
        (lambda: _problem(material={"diffusivity": -2.0}), r"material.*diffusivity must be > 0"),
        (lambda: Rod(length=0.0), r"empty rod"),
        (lambda: Plate(size=(1.0, -1.0)), r"size\[y\].*empty plate"),
        (lambda: Cylinder(radius=0.1, inner_radius=0.1), r"inner_radius.*empty domain"),
        (lambda: _problem(t_end=0.0), r"t_end must be > 0"),
        (lambda: _problem(boundaries={"x0": Dirichlet(temperature=80.0)}), r"inconsistent conditions: face 'x0' is held at 80"),
        (lambda: _problem(boundaries={"top": Dirichlet(temperature=20.0)}), r"unknown face.*'top'.*valid faces: \['x0', 'x1'\]"),
        (lambda: _problem(boundaries={"x1": Convection(h=10.0, ambient=20.0)}), r"need conductivity"),
        (lambda: _problem(initial=ModeInitial(modes=(1,)), boundaries={"all": Convection(h=5.0, ambient=0.0)},
                          material=Material(diffusivity=1e-4, conductivity=1.0)), r"convective"),
        (lambda: _problem(initial=ModeInitial(modes=(1, 1))), r"needs 1 mode number"),
        (lambda: Material(conductivity=1.0, density=1.0, specific_heat=1.0, diffusivity=5.0), r"inconsistent properties"),
        (lambda: _problem(temperature_unit="K", initial=ConstantInitial(temperature=-5.0)), r"below absolute zero"),
        (lambda: Source(), r"exactly one of power_density"),
        (lambda: Convection(h=-1.0, ambient=0.0), r"h must be > 0"),
    ],
)
def test_invalid_problems_raise_clear_input_errors(build, match):
    with pytest.raises(InputError, match=match):
        build()


def test_problem_round_trips_through_json():
    p = preset_problem("cylinder")
    again = HeatProblem.model_validate(json.loads(json.dumps(p.to_json_dict())))
    assert again == p
    assert p.resolved_boundaries()["top"] == Neumann(flux=0.0)
    with pytest.raises(InputError, match="unknown thermal problem 'sphere'.*valid"):
        preset_problem("sphere")


def test_estimator_parameter_and_input_errors(rod_torch):
    with pytest.raises(InputError, match="constraints"):
        ThermalPINN(constraints="medium").fit(preset_problem("rod"))
    with pytest.raises(InputError, match="nothing to train"):
        ThermalPINN(adam_steps=0, lbfgs_steps=0).fit(preset_problem("rod"))
    with pytest.raises(NotFittedError, match="not fitted"):
        ThermalPINN().predict(np.zeros((1, 1)), 0.0)
    with pytest.raises(InputError, match="outside the rod domain"):
        rod_torch.predict(np.array([[1.5]]), 0.5)
    assert rod_torch.predict(np.array([[1.5]]), 0.5, clip=True)[0, 0] == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(InputError, match=r"outside the trained span \[0, 1.0\]"):
        rod_torch.predict(np.array([[0.5]]), 2.0)
    with pytest.raises(InputError, match=r"shape \(n, 1\)"):
        rod_torch.predict(np.zeros((3, 2)), 0.5)


def test_nan_loss_raises_training_error_and_leaves_model_unfitted():
    m = ThermalPINN(adam_steps=20, lbfgs_steps=0, lr=1e20, evaluate=False, progress=False)
    with pytest.raises(TrainingError, match=r"diverged: the loss is nan at Adam step"):
        m.fit(preset_problem("rod"))
    with pytest.raises(NotFittedError):
        m.predict(np.zeros((1, 1)), 0.0)


# --------------------------------------------------------------------------- backends
def test_backend_is_chosen_by_argument_then_environment(monkeypatch):
    monkeypatch.delenv("TWIN3D_BACKEND", raising=False)
    assert resolve_backend() == "torch"
    monkeypatch.setenv("TWIN3D_BACKEND", "tf")
    assert resolve_backend() == "tensorflow"
    assert resolve_backend("torch") == "torch"
    monkeypatch.setenv("TWIN3D_BACKEND", "jax")
    with pytest.raises(InputError, match=r"unknown thermal backend 'jax' \(from environment variable TWIN3D_BACKEND\); valid: \['tensorflow', 'torch'\]"):
        resolve_backend()
    with pytest.raises(InputError, match="from argument"):
        resolve_backend("mxnet")


def test_importing_the_package_loads_no_framework():
    code = (
        "import sys, twin3d.predictors.thermal as t\n"
        "from twin3d.predictors.thermal import ThermalPINN, HeatProblem, thermal_field, preset_problem\n"
        "preset_problem('rod')\n"
        "loaded = [m for m in ('torch', 'tensorflow') if sys.modules.get(m) is not None]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_batched_prediction_equals_small_batches(rod_torch):
    x = np.random.default_rng(5).uniform(0, 1, (70_000, 1))
    big = rod_torch.predict(x, [0.4, 0.8])  # per-frame batched path
    small = np.concatenate([rod_torch.predict(x[i : i + 7000], [0.4, 0.8]) for i in range(0, 70_000, 7000)], axis=1)
    assert np.array_equal(big, small)


# --------------------------------------------------------------------------- model files
def test_torch_save_load_round_trip(rod_torch, tmp_path):
    import torch

    path = rod_torch.save(tmp_path / "rod.pt")
    blob = torch.load(path, weights_only=True)  # loadable with the safe loader
    config = json.loads(blob["config"])
    assert config["backend"] == "torch" and config["layers"] == [2, 32, 32, 32, 1]
    assert config["report"]["rel_l2"] == pytest.approx(rod_torch.rel_l2_)
    loaded = ThermalPINN.load(path)
    x = np.linspace(0, 1, 57)[:, None]
    assert np.array_equal(loaded.predict(x, [0.1, 0.6]), rod_torch.predict(x, [0.1, 0.6]))
    assert loaded.problem_ == rod_torch.problem_
    assert loaded.score() == pytest.approx(rod_torch.rel_l2_, rel=1e-6)
    with pytest.raises(InputError, match=r"saved as '\.pt'"):
        rod_torch.save(tmp_path / "rod.npz")
    assert rod_torch.save(tmp_path / "no_suffix") == tmp_path / "no_suffix.pt"


def test_bad_model_files_raise_model_file_errors(tmp_path, rod_torch):
    import torch

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError, match="not a twin3d thermal model"):
        ThermalPINN.load(junk)
    # a pickle that would run code on load is refused by weights_only=True
    evil = tmp_path / "evil.pt"
    torch.save({"config": "{}", "state_dict": {}, "payload": _Evil()}, evil)
    with pytest.raises(ModelFileError, match="not a readable twin3d thermal model"):
        ThermalPINN.load(evil)
    # a truncated file
    good = rod_torch.save(tmp_path / "good.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ModelFileError):
        ThermalPINN.load(cut)
    # weights that do not match the config
    bad = tmp_path / "bad.npz"
    cfg = rod_torch.config()
    np.savez(bad, config=np.array(json.dumps(cfg)), w0=np.zeros((3, 32)), b0=np.zeros(32))
    assert zipfile.is_zipfile(bad)
    with pytest.raises(ModelFileError, match="do not match the layer sizes"):
        ThermalPINN.load(bad)
    with pytest.raises(MissingFileError, match="missing.pt: no such thermal model file"):
        ThermalPINN.load(tmp_path / "missing.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_failed_save_keeps_the_previous_file(rod_torch, tmp_path, monkeypatch):
    path = rod_torch.save(tmp_path / "m.pt")
    before = path.read_bytes()
    import torch

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        rod_torch.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


@needs_tf
def test_tensorflow_after_a_vtk_render_is_a_clear_error_not_a_crash():
    code = (
        "import numpy as np, pyvista as pv\n"
        "from twin3d.errors import Twin3DError\n"
        "from twin3d.predictors.thermal import ThermalPINN, preset_problem\n"
        "p = pv.Plotter(off_screen=True); p.add_mesh(pv.Sphere()); p.screenshot(); p.close()\n"
        "try:\n"
        "    ThermalPINN(backend='tensorflow', adam_steps=1, lbfgs_steps=0, progress=False).fit(preset_problem('rod'))\n"
        "except Twin3DError as exc:\n"
        "    print('CLEAR:', exc)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "CLEAR:" in res.stdout and "cannot share one process" in res.stdout


# --------------------------------------------------------------------------- budgets and malformed files (issue 14)
def test_training_memory_estimate_and_budget():
    from twin3d.budgets import memory_budget_set
    from twin3d.errors import BudgetError

    rod = preset_problem("rod")
    small, _ = ThermalPINN().training_memory(rod)
    assert 1e6 < small < 2e7  # the default 32x32x32 network: a few MB
    # L-BFGS-B keeps 2 x 50 float64 vectors of all weights: dominant for wide networks
    no_lbfgs, _ = ThermalPINN(hidden=(2000, 2000), lbfgs_steps=0).training_memory(rod)
    with_lbfgs, detail = ThermalPINN(hidden=(2000, 2000)).training_memory(rod)
    n_params = 3 * 2000 + 2001 * 2000 + 2001
    assert with_lbfgs - no_lbfgs == pytest.approx(n_params * 108 * 8)
    assert "4,010,001 weights (layers 2-2000-2000-1)" in detail
    with pytest.raises(BudgetError) as err:
        ThermalPINN(hidden=(100_000,) * 3).fit(rod)
    assert "training the thermal PINN on 'rod' needs about 16.2 TiB" in str(err.value)
    with memory_budget_set("1M"), pytest.raises(BudgetError, match="memory budget of 1 MiB"):
        ThermalPINN().fit(rod)


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seeds_are_input_errors(seed):
    with pytest.raises(InputError, match="seed must be an integer >= 0"):
        ThermalPINN(seed=seed).fit(preset_problem("rod"))


def _npz_model(path, config, arrays):
    payload = {"config": np.array(json.dumps(config))}
    for i in range(len(arrays) // 2):
        payload[f"w{i}"], payload[f"b{i}"] = arrays[2 * i], arrays[2 * i + 1]
    np.savez(path, **payload)


@pytest.mark.parametrize("change, match", [
    (lambda c: [1, 2], "its config is a list"),
    (lambda c: {**c, "layers": ["a", 2]}, "invalid model config"),
    (lambda c: {**c, "layers": None}, "invalid model config"),
    (lambda c: {**c, "layers": [2]}, "do not match the layer sizes"),
    (lambda c: {**c, "training": [1]}, "'training' and 'report' must be mappings"),
    (lambda c: {**c, "training": {**c["training"], "lr": "abc"}}, "could not convert string to float"),
    (lambda c: {**c, "training": {**c["training"], "hidden": "abc"}}, "'training.hidden' must be a list"),
    (lambda c: {**c, "training": {**c["training"], "n_interior": "x"}}, "n_interior must be a positive integer"),
    (lambda c: {**c, "problem": [1]}, "invalid problem in model config"),
    (lambda c: {**c, "version": "x"}, "model format version 'x' is not an integer"),
    (lambda c: {**c, "backend": "jax"}, "unknown thermal backend 'jax'"),
])
def test_malformed_model_configs_are_one_line_model_file_errors(tmp_path, rod_torch, change, match):
    path = tmp_path / "m.npz"
    _npz_model(path, change(rod_torch.config()), rod_torch.network_.arrays())
    with pytest.raises(ModelFileError, match=match) as err:
        ThermalPINN.load(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_npz_model_arrays_are_sized_from_their_headers_before_reading(tmp_path, rod_torch):
    from twin3d.budgets import memory_budget_set
    from twin3d.errors import BudgetError

    path = tmp_path / "m.npz"
    config = rod_torch.config()
    np.savez_compressed(path, config=np.array(json.dumps(config)), w0=np.zeros((2, 200_000)), b0=np.zeros(200_000))
    assert path.stat().st_size < 100_000  # zeros compress: the file is small, its arrays are not
    with memory_budget_set("5M"), pytest.raises(BudgetError) as err:
        ThermalPINN.load(path)
    assert "largest of shape (2, 200000)" in str(err.value)
