"""``twin3d risk simulate | train | predict`` (twin3d/cli/risk.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from twin3d.predictors.risk import load_model
from twin3d.sensors import read_sensor_csv, training_table


def test_cli_simulate_train_predict(cli, tmp_path):
    data = tmp_path / "sim.csv"
    res = cli("risk", "simulate", "--out", data, "--machines", "2", "--steps", "1500", "--seed", "3")
    assert res.exit_code == 0, res.output
    assert f"wrote {data}: 3000 rows" in res.stdout
    model, report = tmp_path / "m.skops", tmp_path / "r.json"
    res = cli("risk", "train", data, "--out", model, "--report", report)
    assert res.exit_code == 0, res.output
    for label in ("F1", "precision", "recall", "ROC-AUC", "PR-AUC", "Brier", "calibration"):
        assert label in res.stdout
    rep = json.loads(report.read_text())
    assert set(rep["cv"]) >= {"f1", "precision", "recall", "roc_auc", "pr_auc", "brier", "ece"}
    assert rep["cv"]["n_splits"] == 5 and rep["rows"] == 3000
    loaded = load_model(model)
    assert loaded.file_info_["cv_metrics"]["f1"] == pytest.approx(rep["cv"]["f1"])
    pred = tmp_path / "p.csv"
    res = cli("risk", "predict", model, data, "--out", pred)
    assert res.exit_code == 0, res.output
    out = pd.read_csv(pred)
    assert "Torque [Nm]" in out.columns and len(out) == 3000
    X, _, _ = training_table(read_sensor_csv(data))
    assert np.allclose(out.failure_probability, loaded.failure_probability(X))
    assert np.array_equal(out.failure_predicted, loaded.predict(X))


def _one_line_error(res) -> str:
    """The single stderr line of a failed command (no traceback, nothing on stdout)."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    return lines[0]


def test_cli_errors_are_one_line_and_leave_no_output(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Type,Air temperature [K],Torque [Nm],Machine failure\nL,300,40,0\nM,301,41,1\n")
    model = tmp_path / "m.skops"
    res = cli("risk", "train", bad, "--out", model, "--features", "torque,vibration")
    assert res.exit_code == 2, res.output
    assert "missing columns ['vibration']" in res.output and "available columns" in res.output
    assert not model.exists()
    res = cli("risk", "train", bad, "--out", model, "--target", "Torque [Nm]")
    assert res.exit_code == 2 and "0/1 labels" in res.output and not model.exists()
    one = tmp_path / "one.csv"
    one.write_text("temperature,failed\n1,0\n2,0\n3,0\n")
    res = cli("risk", "train", one, "--out", model, "--target", "failed")
    assert res.exit_code == 2 and "single class" in res.output and not model.exists()
    junk = tmp_path / "junk.skops"
    junk.write_bytes(b"garbage")
    out = tmp_path / "p.csv"
    res = cli("risk", "predict", junk, one, "--out", out)
    assert res.exit_code == 2 and "not a skops model file" in _one_line_error(res) and not out.exists()


def test_cli_missing_files_are_named(cli, tmp_path):
    model = tmp_path / "m.skops"
    res = cli("risk", "train", tmp_path / "nope.csv", "--out", model)
    assert res.exit_code == 2 and not model.exists()
    assert f"{tmp_path / 'nope.csv'}: no such sensor CSV file" in _one_line_error(res)
    data = tmp_path / "sim.csv"
    assert cli("risk", "simulate", "--out", data, "--steps", "50").exit_code == 0
    out = tmp_path / "p.csv"
    res = cli("risk", "predict", tmp_path / "absent.skops", data, "--out", out)
    assert res.exit_code == 2 and not out.exists()
    assert f"{tmp_path / 'absent.skops'}: no such risk model file" in _one_line_error(res)


def test_cli_rejects_wrong_output_suffixes(cli, tmp_path):
    res = cli("risk", "simulate", "--out", tmp_path / "sim.txt", "--steps", "10")
    assert res.exit_code == 2 and "--out must be a .csv file" in _one_line_error(res)
    assert not (tmp_path / "sim.txt").exists()


def test_train_writes_model_and_report_or_neither(cli, tmp_path):
    data = tmp_path / "sim.csv"
    assert cli("risk", "simulate", "--out", data, "--machines", "1", "--steps", "800").exit_code == 0
    model = tmp_path / "m.skops"
    model.write_bytes(b"the previous model")
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the report's folder should be")
    res = cli("risk", "train", data, "--out", model, "--report", blocker / "r.json", "--folds", "2")
    assert res.exit_code == 2, res
    assert model.read_bytes() == b"the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.skops", "not_a_folder", "sim.csv"]
