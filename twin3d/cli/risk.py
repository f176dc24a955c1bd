"""``twin3d risk``: train, evaluate and apply the failure-risk model; simulate sensor data.

Commands (mounted by :func:`register`)::

    twin3d risk train DATA.csv --out MODEL.skops [--target COLUMN] [--report REPORT.json]
    twin3d risk predict MODEL.skops DATA.csv --out PRED.csv
    twin3d risk simulate --out DATA.csv [--machines N] [--steps N] [--seed S]

Library errors (:class:`~twin3d.errors.Twin3DError`, ``OSError``) become one line on
stderr and exit code 2 through the main CLI's ``handle_errors``; every output is
written atomically, so a failed run leaves no partial file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer

from ..errors import InputError, UnsupportedFormatError
from .errors import handle_errors

__all__ = ["register", "train", "predict", "simulate"]

_METRIC_LABELS = [
    ("f1", "F1 (failure class)"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("brier", "Brier score"),
    ("ece", "expected calibration error"),
]


def _parse_mapping(items: Optional[list[str]]) -> dict[str, str] | None:
    """``["torque=M [Nm]", ...]`` -> ``{"torque": "M [Nm]"}``."""
    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--column {item!r}: expected CANONICAL=CSV_COLUMN, e.g. torque='Torque [Nm]'")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _parse_list(text: Optional[str]) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InputError("--features: give a comma-separated list of column names")
    return items


def _check_suffix(path: Path, suffixes: tuple[str, ...], what: str) -> None:
    if path.suffix.lower() not in suffixes:
        raise UnsupportedFormatError(f"{path}: {what} must be a {' or '.join(suffixes)} file")


def train(
    data: Path = typer.Argument(..., help="Training table (CSV): AI4I 2020 schema or any numeric sensor table."),
    out: Path = typer.Option(..., "--out", "-o", help="Model file to write (.skops)."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Label column (default: 'Machine failure')."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the CV metrics and model summary as JSON."),
    features: Optional[str] = typer.Option(None, "--features", help="Comma-separated feature columns (default: AI4I variables, else all others)."),
    column: Optional[list[str]] = typer.Option(None, "--column", help="Map a CSV column to a canonical name: CANONICAL=CSV_COLUMN (repeatable)."),
    folds: int = typer.Option(5, "--folds", min=2, max=20, help="Folds of the stratified cross-validation."),
    seed: int = typer.Option(0, "--seed", help="Seed of the cross-validation folds and the model."),
) -> None:
    """Cross-validate (stratified k-fold, fixed seed), print and save the metrics, then fit on all rows."""
    from ..predictors.risk import FailureRiskModel, cross_validate_risk, save_model
    from ..sensors import read_sensor_csv, training_table
    from .._util import OutputSet

    _check_suffix(out, (".skops",), "--out")
    if report is not None:
        _check_suffix(report, (".json",), "--report")
    if not 0 <= seed < 2**32:
        raise InputError(f"--seed must be an integer in [0, 2**32 - 1], got {seed}")
    t0 = time.perf_counter()
    table = read_sensor_csv(data, columns=_parse_mapping(column))
    X, y, target_name = training_table(table, target=target, features=_parse_list(features))
    typer.echo(
        f"{data}: {len(y)} rows, {int(y.sum())} failures ({100.0 * y.mean():.2f} %), target {target_name!r}, "
        f"inputs: {', '.join(map(str, X.columns))}"
    )
    model = FailureRiskModel(random_state=seed)
    metrics = cross_validate_risk(model, X, y, n_splits=folds, seed=seed)
    _print_metrics(metrics, title=f"{folds}-fold stratified cross-validation (seed {seed})")
    model.fit(X, y)
    summary = {
        "data": str(data),
        "target": target_name,
        "rows": int(len(y)),
        "failures": int(y.sum()),
        "inputs": [str(c) for c in X.columns],
        "features": list(model.features_),
        "cv": metrics,
        "model": {
            "file": str(out),
            "depth": int(model.depth_),
            "nodes": int(model.tree_left_.size),
            "threshold": float(model.threshold_),
            "training_fingerprint": model.training_fingerprint_,
        },
        "seconds": round(time.perf_counter() - t0, 3),
    }
    with OutputSet() as outputs:  # the model and its report, or neither
        save_model(model, outputs.path(out), cv_metrics=metrics)
        if report is not None:
            outputs.path(report).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    typer.echo(
        f"wrote {out} (tree depth {model.depth_}, {model.tree_left_.size} nodes, decision threshold "
        f"{model.threshold_:.3f})" + (f" and {report}" if report is not None else "")
    )


def _print_metrics(metrics: dict[str, Any], *, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label in _METRIC_LABELS:
        table.add_row(label, f"{metrics[key]:.4f}")
    table.add_row("rows / failures", f"{metrics['n_rows']} / {metrics['n_failures']}")
    Console(soft_wrap=True).print(table)


def predict(
    model_path: Path = typer.Argument(..., metavar="MODEL.skops", help="Model file from 'twin3d risk train'."),
    data: Path = typer.Argument(..., help="Table (CSV) with the model's input columns."),
    out: Path = typer.Option(..., "--out", "-o", help="Output CSV: the input rows plus failure_probability and failure_predicted."),
    column: Optional[list[str]] = typer.Option(None, "--column", help="Map a CSV column to a canonical name: CANONICAL=CSV_COLUMN (repeatable)."),
) -> None:
    """Score every row of a table with a saved model."""
    import numpy as np

    from ..predictors.risk import load_model
    from ..sensors import read_sensor_csv
    from .._util import atomic_path

    _check_suffix(out, (".csv",), "--out")
    model = load_model(model_path)
    table = read_sensor_csv(data, columns=_parse_mapping(column))
    t0 = time.perf_counter()
    proba = model.failure_probability(table)
    dt = time.perf_counter() - t0
    labels = model.classes_[(proba >= model.threshold_).astype(np.int64)]
    result = table.rename(columns=table.attrs.get("original_columns", {}))  # the file's own column names
    result["failure_probability"] = proba
    result["failure_predicted"] = labels
    with atomic_path(out) as tmp:
        result.to_csv(tmp, index=False)
    typer.echo(
        f"wrote {out}: {len(result)} rows, {int((proba >= model.threshold_).sum())} predicted failures, "
        f"mean risk {proba.mean():.4f} (scored in {dt * 1e3:.0f} ms)"
    )


def simulate(
    out: Path = typer.Option(..., "--out", "-o", help="CSV file to write (AI4I 2020 column names)."),
    machines: int = typer.Option(1, "--machines", min=1, help="Number of machines."),
    steps: int = typer.Option(10000, "--steps", min=1, help="Steps (products) per machine."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same data)."),
    step_seconds: float = typer.Option(60.0, "--step-seconds", min=1e-9, help="Seconds per step (the 'time [s]' column)."),
) -> None:
    """Write AI4I 2020-style sensor data from the process simulator."""
    from ..sensors import simulate_ai4i, to_ai4i_schema
    from .._util import atomic_path

    _check_suffix(out, (".csv",), "--out")
    if seed < 0:
        raise InputError(f"--seed must be an integer >= 0, got {seed}")
    table = simulate_ai4i(machines, steps, seed=seed, step_seconds=step_seconds)
    csv = to_ai4i_schema(table).rename(columns={"time": "time [s]"})
    with atomic_path(out) as tmp:
        csv.to_csv(tmp, index=False)
    typer.echo(
        f"wrote {out}: {len(csv)} rows ({machines} machine(s) x {steps} steps), "
        f"{int(table['machine_failure'].sum())} failures"
    )


def register(app: typer.Typer) -> None:
    """Add the ``risk`` command group to ``app``."""
    risk_app = typer.Typer(
        name="risk",
        help="Failure-risk model: train with cross-validation, predict, simulate AI4I sensor data.",
        no_args_is_help=True,
    )
    risk_app.command("train")(handle_errors(train))
    risk_app.command("predict")(handle_errors(predict))
    risk_app.command("simulate")(handle_errors(simulate))
    app.add_typer(risk_app, name="risk")
