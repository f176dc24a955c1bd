"""Failure-risk model: accuracy on real AI4I data, sklearn contract, safe model files, scenes, spec section.

The ``twin3d risk`` commands are tested in ``test_cli_risk.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import require_real_data
from sklearn.base import clone
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from twin3d.errors import InputError, MissingFileError, ModelFileError, NotFittedError, SpecError
from twin3d.predictors.risk import (
    MODEL_FORMAT_VERSION,
    TRUSTED_TYPES,
    FailureRiskModel,
    RiskSpec,
    apply_risk,
    apply_risk_spec,
    cross_validate_risk,
    expected_calibration_error,
    load_model,
    read_model_info,
    risk_metrics,
    save_model,
    top_risk_assets,
    train_on_simulator,
)
from twin3d.predictors.risk.features import compute_features, feature_names, frame_columns, input_table
from twin3d.scene import Asset, Scene
from twin3d.sensors import AI4I_QUANTITIES, apply_sensor_sources, read_sensor_csv, sensor_table, simulate_ai4i, training_table
from twin3d.spec import build_scene, load_spec


@pytest.fixture(scope="module")
def ai4i() -> tuple[pd.DataFrame, np.ndarray]:
    path = require_real_data("ai4i2020.csv")
    X, y, _ = training_table(read_sensor_csv(path))
    return X, y


@pytest.fixture(scope="module")
def sim_model() -> FailureRiskModel:
    return train_on_simulator(machines=10, steps=600, seed=0)


def _sim_xy(machines=4, steps=500, seed=0):
    t = simulate_ai4i(machines, steps, seed=seed, initial_wear="random")
    return t[list(AI4I_QUANTITIES)], t["machine_failure"].to_numpy()


# --------------------------------------------------------------------------- accuracy on real data
def test_real_ai4i_cross_validation_meets_targets(ai4i, record_property):
    X, y = ai4i
    m = cross_validate_risk(FailureRiskModel(), X, y, n_splits=5, seed=0)
    record_property("ai4i_cv", {k: m[k] for k in ("f1", "precision", "recall", "roc_auc", "pr_auc", "brier", "ece")})
    print(f"\nAI4I 5-fold CV: F1 {m['f1']:.4f} Brier {m['brier']:.5f} ECE {m['ece']:.5f} ROC-AUC {m['roc_auc']:.4f}")
    assert m["f1"] >= 0.90
    assert m["brier"] <= 0.0066
    assert m["ece"] <= 0.005
    assert m["n_rows"] == 10000 and m["n_failures"] == 339 and len(m["fold_f1"]) == 5
    # an honest ceiling: ~15 % of failures (tool wear, unflagged) cannot be predicted from one row
    assert m["recall"] < 0.88


def test_simulator_trained_model_generalises_to_real_data(ai4i, record_property):
    X, y = ai4i
    model = train_on_simulator(machines=50, steps=1000, seed=0)
    m = risk_metrics(y, model.failure_probability(X), model.predict(X))
    record_property("sim_to_real_f1", m["f1"])
    print(f"\nsimulator-trained model on the real AI4I rows: F1 {m['f1']:.4f} precision {m['precision']:.4f} "
          f"recall {m['recall']:.4f} Brier {m['brier']:.5f} ECE {m['ece']:.5f}")
    assert m["f1"] >= 0.85
    assert m["brier"] <= 0.0080


def test_physics_features_matter_on_real_data(ai4i):
    X, y = ai4i
    with_phys = cross_validate_risk(FailureRiskModel(), X, y)["f1"]
    without = cross_validate_risk(FailureRiskModel(physics=False), X, y)["f1"]
    assert with_phys > without + 0.05


# --------------------------------------------------------------------------- design properties
def test_splits_are_exact_in_float64():
    # the label flips between two values 1e-12 apart (float32 cannot tell them apart)
    rng = np.random.default_rng(0)
    base = rng.uniform(5.0, 12.0, 400)
    x = np.concatenate([base, [8.6 - 1e-12] * 20, [8.6 + 1e-12] * 20])
    y = (x < 8.6).astype(int)
    assert np.float32(8.6 - 1e-12) == np.float32(8.6 + 1e-12)
    model = FailureRiskModel().fit(x.reshape(-1, 1), y)
    assert np.array_equal(model.predict(x.reshape(-1, 1)), y)
    internal = model.tree_left_ != np.arange(model.tree_left_.size)
    assert np.any(np.abs(model.tree_threshold_[internal] - 8.6) < 1e-11)


def test_thresholds_are_learned_from_a_generic_sensor_table():
    # temperature / vibration / pressure; failure iff vibration > 7.1 mm/s or temperature > 81 degC
    rng = np.random.default_rng(1)
    n = 3000
    df = pd.DataFrame({"temperature": rng.normal(70, 5, n), "vibration": rng.gamma(4, 1.2, n), "pressure": rng.normal(5, 0.3, n)})
    y = ((df.vibration > 7.1) | (df.temperature > 81)).astype(int).to_numpy()
    model = FailureRiskModel().fit(df.iloc[:2000], y[:2000])
    assert model.features_ == ["temperature", "vibration", "pressure"]  # no AI4I inputs -> no physics features
    internal = model.tree_left_ != np.arange(model.tree_left_.size)
    thr = {model.features_[f]: [] for f in range(3)}
    for f, t in zip(model.tree_feature_[internal], model.tree_threshold_[internal]):
        thr[model.features_[f]].append(t)
    # the learned split lies between the nearest training values on either side of the true limit
    v = np.sort(df.vibration.iloc[:2000].to_numpy())
    lo, hi = v[v <= 7.1].max(), v[v > 7.1].min()
    assert any(lo <= t < hi for t in thr["vibration"])
    tv = np.sort(df.temperature.iloc[:2000].to_numpy())
    lo, hi = tv[tv <= 81].max(), tv[tv > 81].min()
    assert any(lo <= t < hi for t in thr["temperature"])
    m = risk_metrics(y[2000:], model.failure_probability(df.iloc[2000:]), model.predict(df.iloc[2000:]))
    assert m["f1"] > 0.97
    assert 0.0 < model.threshold_ < 1.0 and model.threshold_ != 0.5


def test_probabilities_are_calibrated_and_valid(sim_model):
    X, y = _sim_xy(machines=6, steps=1000, seed=7)
    p = sim_model.predict_proba(X)
    assert p.shape == (len(X), 2) and np.allclose(p.sum(axis=1), 1.0)
    assert p.min() >= 0.0 and p.max() <= 1.0
    # calibration on fresh simulator data
    assert expected_calibration_error(y, p[:, 1]) < 0.01
    assert abs(p[:, 1].mean() - y.mean()) < 0.01
    # isotonic map is non-decreasing
    assert np.all(np.diff(sim_model.calibration_y_) >= 0)


def test_physics_features_are_computed_from_ai4i_columns():
    X = pd.DataFrame({"Type": ["L", "H"], "Air temperature [K]": [300.0, 301.0], "Process temperature [K]": [309.5, 311.0],
                      "Rotational speed [rpm]": [1500.0, 1200.0], "Torque [Nm]": [40.0, 60.0], "Tool wear [min]": [100.0, 210.0]})
    frame, arr = input_table(X)
    assert arr is None and list(frame.columns) == list(AI4I_QUANTITIES)  # AI4I headers -> canonical names
    inputs = list(frame.columns)
    cols, n = frame_columns(frame, inputs), len(frame)
    names = feature_names(inputs, True)
    assert names[-3:] == ["temperature_difference", "power", "strain"]
    assert feature_names(inputs, False) == inputs
    F = compute_features(cols, names, n)
    assert np.allclose(F[names.index("temperature_difference")], [9.5, 10.0])
    assert np.allclose(F[names.index("power")], [40 * 1500 * 2 * np.pi / 60, 60 * 1200 * 2 * np.pi / 60])
    assert np.allclose(F[names.index("strain")], [4000.0, 12600.0])
    assert np.allclose(F[names.index("product_type")], [0.0, 2.0])


def test_ece_matches_a_hand_computed_value():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.05, 0.15, 0.15, 0.95, 0.95])
    # bins: [0,.1): p .05 y 0 -> |.05-0|*1; [.1,.2): mean p .15, frac .5 -> |.15-.5|*2; [.9,1]: |.95-1|*2
    expected = (0.05 + 0.35 * 2 + 0.05 * 2) / 5
    assert np.isclose(expected_calibration_error(y, p), expected)


# --------------------------------------------------------------------------- sklearn contract
@parametrize_with_checks([FailureRiskModel()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_clone_cross_val_predict_and_pipeline():
    X, y = _sim_xy()
    model = FailureRiskModel(max_depth=4, random_state=3)
    c = clone(model)
    assert c.get_params() == model.get_params() and not hasattr(c, "tree_feature_")
    proba = cross_val_predict(FailureRiskModel(), X, y, cv=3, method="predict_proba")
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(1), 1)
    num = X.drop(columns="product_type").to_numpy()
    pipe = make_pipeline(StandardScaler(), FailureRiskModel()).fit(num, y)
    assert pipe.predict(num).shape == (len(X),)
    # string labels are kept
    labels = np.where(y == 1, "failure", "ok")
    m = FailureRiskModel().fit(X, labels)
    assert set(m.predict(X)) <= {"failure", "ok"} and m.classes_.tolist() == ["failure", "ok"]


def test_predict_before_fit_raises_not_fitted():
    from sklearn.exceptions import NotFittedError as SkNotFitted

    X, _ = _sim_xy(1, 20)
    for err in (NotFittedError, SkNotFitted):
        with pytest.raises(err, match="not fitted"):
            FailureRiskModel().predict_proba(X)


# --------------------------------------------------------------------------- bad input
def test_bad_input_errors(sim_model):
    X, y = _sim_xy(1, 200)
    with pytest.raises(InputError, match=r"missing columns \['tool_wear'\].*available columns"):
        sim_model.predict_proba(X.drop(columns="tool_wear"))
    Xn = X.copy()
    Xn.loc[5, "torque"] = np.nan
    with pytest.raises(InputError, match=r"'torque' has missing \(NaN/empty\) values at rows 6"):
        sim_model.predict_proba(Xn)
    Xi = X.copy()
    Xi.loc[[2, 9], "air_temperature"] = np.inf
    with pytest.raises(InputError, match=r"'air_temperature' has infinite values at rows 3, 10"):
        sim_model.predict_proba(Xi)
    Xs = X.astype({"rotational_speed": object})
    Xs.loc[3, "rotational_speed"] = "fast"
    with pytest.raises(InputError, match=r"non-numeric values at rows 4: 'fast'"):
        sim_model.predict_proba(Xs)
    with pytest.raises(InputError, match="only one class"):
        FailureRiskModel().fit(X, np.zeros(len(X), dtype=int))
    with pytest.raises(InputError, match="Only binary"):
        FailureRiskModel().fit(X, np.arange(len(X)) % 3)
    with pytest.raises(InputError, match="rows but y has"):
        FailureRiskModel().fit(X, y[:-1])
    with pytest.raises(InputError, match="0 rows"):
        FailureRiskModel().fit(np.empty((0, 3)), np.empty(0))
    with pytest.raises(InputError, match="max_depth"):
        FailureRiskModel(max_depth=0).fit(X, y)


# --------------------------------------------------------------------------- model files
def test_save_load_roundtrip(sim_model, tmp_path):
    path = save_model(sim_model, tmp_path / "m.skops", cv_metrics={"f1": np.float64(0.9), "fold_f1": [0.8, 1.0]})
    loaded = load_model(path)
    X, _ = _sim_xy(2, 300, seed=9)
    assert np.array_equal(loaded.predict_proba(X), sim_model.predict_proba(X))
    info = loaded.file_info_
    assert info["format_version"] == MODEL_FORMAT_VERSION
    assert info["feature_names"] == sim_model.features_
    assert info["feature_names"][-3:] == ["temperature_difference", "power", "strain"]
    assert info["training_fingerprint"].startswith("sha256:") and len(info["training_fingerprint"]) == 71
    assert info["cv_metrics"] == {"f1": 0.9, "fold_f1": [0.8, 1.0]}
    assert info["twin3d_version"] and info["sklearn_version"]
    assert read_model_info(path)["n_train"] == sim_model.n_train_
    # the fingerprint changes with the training data
    X2, y2 = _sim_xy(2, 300, seed=1)
    assert FailureRiskModel().fit(X2, y2).training_fingerprint_ != sim_model.training_fingerprint_
    # saving an unfitted model fails and leaves no file
    with pytest.raises(NotFittedError):
        save_model(FailureRiskModel(), tmp_path / "u.skops")
    assert not (tmp_path / "u.skops").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m.skops"]


class Payload:
    """A type a malicious file could ask for; constructing it would leave a trace."""

    touched: list = []

    def __setstate__(self, state):  # pragma: no cover - must never run
        Payload.touched.append(state)
        self.__dict__.update(state)


def test_untrusted_types_are_refused_without_executing(sim_model, tmp_path):
    import skops.io as sio

    bad = tmp_path / "evil.skops"
    obj = Payload()
    obj.x = 1
    sio.dump({"format": "twin3d.failure_risk", "format_version": MODEL_FORMAT_VERSION, "model": obj}, bad)
    with pytest.raises(ModelFileError, match=r"refusing to load.*test_risk.Payload.*nothing in the file was executed"):
        load_model(bad)
    assert Payload.touched == []
    # a real model file rewritten to ask for a dangerous builtin
    good = save_model(sim_model, tmp_path / "good.skops")
    evil = tmp_path / "evil2.skops"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(evil, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "schema.json":
                data = data.replace(b'"FailureRiskModel"', b'"system"').replace(b'"twin3d.predictors.risk"', b'"os"')
            zout.writestr(item, data)
    with pytest.raises(ModelFileError, match=r"os\.system"):
        load_model(evil)
    assert TRUSTED_TYPES == ["twin3d.predictors.risk.FailureRiskModel"]


def test_other_versions_and_corrupt_files_are_refused(sim_model, tmp_path):
    import skops.io as sio

    old = tmp_path / "old.skops"
    sio.dump({"format": "twin3d.failure_risk", "format_version": 99, "twin3d_version": "9.9", "model": None}, old)
    with pytest.raises(ModelFileError, match=r"format version 99 .* not supported.*reads version 1"):
        load_model(old)
    other = tmp_path / "other.skops"
    sio.dump({"weights": [1.0, 2.0]}, other)
    with pytest.raises(ModelFileError, match="not a twin3d failure-risk model"):
        load_model(other)
    junk = tmp_path / "junk.skops"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ModelFileError, match="not a skops model file"):
        load_model(junk)
    with pytest.raises(MissingFileError, match=r"missing\.skops: no such risk model file") as err:
        load_model(tmp_path / "missing.skops")
    assert isinstance(err.value, FileNotFoundError) and err.value.filename == str(tmp_path / "missing.skops")


# --------------------------------------------------------------------------- scenes
def _factory(n=4, frames=40, meshes=False):
    scene = Scene("line")
    for i in range(n):
        name = f"mill_{i + 1:02d}"
        if meshes:
            from twin3d.equipment import equipment_asset

            asset = equipment_asset(name, "cnc_mill")
        else:
            asset = Asset(name)
        scene.add(asset, parent=scene.group("line"))
    scene.add(Asset("cabinet"))
    sources = {f"mill_{i + 1:02d}": {"source": "simulator", "seed": 4, "steps": frames,
                                      "torque_mean": 40.0 + 6 * i} for i in range(n)}
    apply_sensor_sources(scene, sources)
    return scene


def test_apply_risk_scores_every_machine_and_frame_in_one_call(sim_model, monkeypatch):
    scene = _factory()
    calls = []
    orig = FailureRiskModel.failure_probability

    def counting(self, X):
        calls.append(len(X))
        return orig(self, X)

    monkeypatch.setattr(FailureRiskModel, "failure_probability", counting)
    fields = apply_risk(scene, sim_model)
    assert calls == [4 * 40]
    assert sorted(fields) == [f"line/mill_{i:02d}" for i in range(1, 5)]
    assert "risk" not in scene.get("cabinet").fields  # no sensors, not scored
    monkeypatch.setattr(FailureRiskModel, "failure_probability", orig)
    for path, f in fields.items():
        a = scene.get(path)
        assert f.association == "asset" and f.values.shape == (40,) and f.unit == "1"
        assert f.colormap == "risk" and f.clim == (0.0, 1.0)
        assert np.array_equal(f.times, a.sensors["torque"].times)
        expected = sim_model.failure_probability(sensor_table(a, AI4I_QUANTITIES))
        assert np.allclose(f.values, expected)
    top = top_risk_assets(scene, 2)
    assert len(top) == 2 and top[0][1] >= top[1][1]


def test_apply_risk_errors(sim_model):
    scene = Scene("empty")
    scene.add(Asset("m"))
    with pytest.raises(InputError, match="no asset .* carries the sensors"):
        apply_risk(scene, sim_model)
    scene = _factory(1, 5)
    with pytest.raises(InputError, match="lacks sensors"):
        apply_risk(scene, sim_model, assets=["cabinet"])


def test_risk_spec_and_usd_export(sim_model, tmp_path):
    scene = _factory(2, 12, meshes=True)
    save_model(sim_model, tmp_path / "m.skops")
    spec = RiskSpec.model_validate({"model": "m.skops"})
    fields = apply_risk_spec(scene, spec, base_dir=tmp_path)
    assert len(fields) == 2 and scene.metadata["risk_model"].endswith("m.skops")
    with pytest.raises(Exception, match="not both"):
        RiskSpec.model_validate({"model": "m.skops", "train": {"machines": 2}})
    with pytest.raises(Exception, match="extra"):
        RiskSpec.model_validate({"modell": "m.skops"})
    # USD: sensors and risk as time samples (through the lead's writer)
    usd = pytest.importorskip("twin3d.usd")
    from pxr import Usd

    path = usd.write_usd(scene, tmp_path / "line.usda")
    stage = Usd.Stage.Open(str(path))
    prims = [p for p in stage.Traverse() if p.GetAttribute("twin:sensor:torque:value")]
    assert len(prims) == 2
    torque = prims[0].GetAttribute("twin:sensor:torque:value")
    assert len(torque.GetTimeSamples()) == 12
    risk_attrs = [a for p in stage.Traverse() for a in p.GetAttributes() if a.GetName() == "primvars:twin:risk"]
    assert len(risk_attrs) == 2
    samples = risk_attrs[0].GetTimeSamples()
    assert len(samples) == 12
    got = sorted(float(np.ravel(a.Get(samples[3]))[0]) for a in risk_attrs)
    want = sorted(float(f.values[3]) for f in fields.values())
    assert np.allclose(got, want, atol=1e-6)


def test_model_class_keeps_its_public_path():
    # model files record this type name; it is the one TRUSTED_TYPES allows
    assert f"{FailureRiskModel.__module__}.{FailureRiskModel.__qualname__}" == TRUSTED_TYPES[0]
    from twin3d.predictors.risk.model import FailureRiskModel as same

    assert same is FailureRiskModel


def test_check_fitted_is_public(sim_model):
    sim_model.check_fitted()
    with pytest.raises(NotFittedError, match="not fitted"):
        FailureRiskModel().check_fitted()


# --------------------------------------------------------------------------- spec section
def _spec(tmp_path, risk: str):
    p = tmp_path / "line.yaml"
    p.write_text(textwrap.dedent(f"""\
        name: line
        assets:
          - name: mill
            kind: cnc_mill
            sensors: {{source: simulator, steps: 20}}
        {risk}
        """))
    return p


def test_spec_risk_model_file_relative_to_the_spec(sim_model, tmp_path):
    (tmp_path / "models").mkdir()
    save_model(sim_model, tmp_path / "models" / "m.skops")
    scene = build_scene(load_spec(_spec(tmp_path, "risk: {model: models/m.skops}")))
    f = scene.get("mill").fields["risk"]
    assert f.values.shape == (20,) and np.all((f.values >= 0) & (f.values <= 1))
    assert scene.metadata["risk_model"] == str(tmp_path / "models" / "m.skops")
    expected = sim_model.failure_probability(sensor_table(scene.get("mill"), AI4I_QUANTITIES))
    assert np.allclose(f.values, expected)


def test_spec_with_a_missing_risk_model_names_the_spec_section_and_file(tmp_path):
    spec_path = _spec(tmp_path, "risk: {model: missing.skops}")
    with pytest.raises(MissingFileError) as err:
        build_scene(load_spec(spec_path))
    msg = str(err.value)
    assert msg.startswith(f"{spec_path}:6: risk.model: "), msg
    assert str(tmp_path / "missing.skops") in msg and "no such risk model" in msg
    assert isinstance(err.value, FileNotFoundError) and err.value.filename == str(tmp_path / "missing.skops")


def test_spec_with_a_corrupt_risk_model_is_a_located_error(tmp_path):
    (tmp_path / "junk.skops").write_bytes(b"garbage")
    spec_path = _spec(tmp_path, "risk: {model: junk.skops}")
    with pytest.raises(SpecError) as err:
        build_scene(load_spec(spec_path))
    msg = str(err.value)
    assert msg.startswith(f"{spec_path}:") and "risk" in msg and "not a skops model file" in msg


def test_section_modules_import_no_heavy_library():
    code = ("import sys, twin3d.sensors.section, twin3d.predictors.risk.section, twin3d.predictors.risk, twin3d.sensors; "
            "print([m for m in ('sklearn', 'pandas', 'scipy', 'skops', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- budgets and seeds (issue 14)
def test_risk_train_section_is_refused_before_simulating(tmp_path):
    from twin3d.budgets import count_limit_set
    from twin3d.errors import BudgetError
    from twin3d.spec import build_scene

    spec = tmp_path / "line.yaml"
    spec.write_text("name: line\nassets:\n  - {name: m, kind: electric_motor}\n"
                    "risk:\n  train: {machines: 100000, steps: 1000000}\n")
    with pytest.raises(BudgetError) as err:
        build_scene(spec)
    assert str(err.value).startswith(f"{spec}:5: risk.train: training on simulator data needs about 45.5 TiB "
                                     "(100,000 machines x 1,000,000 steps x 500 B)")
    spec.write_text(spec.read_text().replace("100000, steps: 1000000", "50, steps: 1000"))
    with count_limit_set("steps", 10_000):
        with pytest.raises(BudgetError, match=r"asks for 50,000 steps \(50 machines x 1,000 steps\)"):
            build_scene(spec)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5])
def test_bad_seeds_are_input_errors(seed):
    from twin3d.errors import InputError
    from twin3d.predictors.risk import FailureRiskModel, cross_validate_risk

    X = pd.DataFrame({"a": np.arange(40.0)})
    y = (np.arange(40) % 4 == 0).astype(int)
    with pytest.raises(InputError, match="random_state must be None or an integer"):
        FailureRiskModel(random_state=seed).fit(X, y)
    with pytest.raises(InputError, match="seed must be an integer in"):
        cross_validate_risk(FailureRiskModel(), X, y, n_splits=2, seed=seed)
