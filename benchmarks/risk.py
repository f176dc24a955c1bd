"""Failure-risk model: the seed-style baseline vs twin3d's FailureRiskModel, in one run.

    .venv/bin/python benchmarks/risk.py [--rows 1000000] [--repeat 3] [--machines 10000 --frames 100]
                                        [--calibrated-forest] [--json out.json]

On ``../shared/data/ai4i2020.csv`` (real AI4I 2020 data, 10,000 rows):

1. 5-fold stratified cross-validation (seed 0) of
   - the seed-style baseline: ``RandomForestClassifier(n_estimators=100)`` on the raw
     columns (product type code, air/process temperature, speed, torque, tool wear);
   - ``FailureRiskModel()`` (physics features, exact-split tree, isotonic calibration);
   - with ``--calibrated-forest``: a random forest on the physics features with isotonic
     calibration (``CalibratedClassifierCV``), the accurate-but-slow design;
   metrics on the pooled out-of-fold predictions: F1 / precision / recall of the
   failure class, ROC-AUC, PR-AUC, Brier score, expected calibration error.
2. Prediction throughput on ``--rows`` rows (the real rows repeated), each model
   trained on all 10,000 rows: median rows/s over ``--repeat`` runs. The random
   forest predicts with ``n_jobs=2`` (both cores); FailureRiskModel runs on one
   thread. Two inputs for ours: the CSV form (product type as 'L'/'M'/'H' strings)
   and the scene form (numeric codes, as sensors store them).
3. Scoring a factory scene of ``--machines`` x ``--frames`` with ``apply_risk``
   (one vectorised call; includes gathering the sensors from the assets).

Prints one table with ratios (ours / baseline). Timings depend on machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ai4i2020.csv"


def raw_columns(X: pd.DataFrame) -> np.ndarray:
    """The seed-style raw feature matrix: product type code + the five numeric columns."""
    from twin3d.sensors import product_type_codes

    cols = [product_type_codes(X["product_type"])] + [
        X[c].to_numpy(dtype=float) for c in ("air_temperature", "process_temperature", "rotational_speed", "torque", "tool_wear")
    ]
    return np.column_stack(cols)


def physics_columns(X: pd.DataFrame) -> np.ndarray:
    raw = raw_columns(X)
    dT = raw[:, 2] - raw[:, 1]
    power = raw[:, 4] * raw[:, 3] * 2 * np.pi / 60
    strain = raw[:, 5] * raw[:, 4]
    return np.column_stack([raw, dT, power, strain])


def _rate(v: float) -> str:
    return f"{'-':>14s}" if not np.isfinite(v) else f"{v:14,.0f}"


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--machines", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--calibrated-forest", action="store_true", help="also run the calibrated random forest")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = ap.parse_args()
    if not args.data.is_file():
        print(f"benchmark needs the AI4I 2020 data at {args.data} (see ../shared/data/README.md)", file=sys.stderr)
        return 1

    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from twin3d.predictors.risk import FailureRiskModel, apply_risk, cross_validate_risk
    from twin3d.scene import Asset, Scene
    from twin3d.sensors import AI4I_QUANTITIES, PRODUCT_TYPES, read_sensor_csv, training_table

    X, y, _ = training_table(read_sensor_csv(args.data))
    load = os.getloadavg()
    print(f"data: {args.data} ({len(y)} rows, {int(y.sum())} failures); cores: {os.cpu_count()}; "
          f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    models: dict[str, object] = {
        "baseline RF(100), raw columns": make_pipeline(
            FunctionTransformer(raw_columns), RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1)
        ),
        "FailureRiskModel": FailureRiskModel(),
    }
    if args.calibrated_forest:
        models["RF(100) physics + isotonic"] = make_pipeline(
            FunctionTransformer(physics_columns),
            CalibratedClassifierCV(RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1),
                                   method="isotonic", cv=5),
        )

    ablations = {
        "  ablation: no physics features": FailureRiskModel(physics=False),
        "  ablation: float32 splits": FailureRiskModel(exact_splits=False),
        "  ablation: no calibration": FailureRiskModel(calibration="none"),
    }
    results: dict[str, dict] = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        m = cross_validate_risk(model, X, y, n_splits=5, seed=0, progress=False)
        m["cv_seconds"] = time.perf_counter() - t0
        results[name] = m
        print(f"  CV {name}: F1 {m['f1']:.4f}  ({m['cv_seconds']:.1f} s)", flush=True)

    for name, model in ablations.items():
        results[name] = cross_validate_risk(model, X, y, n_splits=5, seed=0, progress=False)
        results[name]["rows_per_s"] = float("nan")
        results[name]["threads"] = 1
        print(f"  CV {name.strip()}: F1 {results[name]['f1']:.4f}", flush=True)

    # throughput on --rows rows
    reps = int(np.ceil(args.rows / len(X)))
    big = pd.concat([X] * reps, ignore_index=True).iloc[: args.rows]
    big_codes = big.assign(product_type=big["product_type"].map({k: i for i, k in enumerate(PRODUCT_TYPES)}).astype(float))
    for name, model in models.items():
        fitted = model.fit(X, y)
        if isinstance(fitted, FailureRiskModel):
            fitted.failure_probability(big.iloc[:1000])  # warm up
            t_str = median_time(lambda: fitted.failure_probability(big), args.repeat)
            t_codes = median_time(lambda: fitted.failure_probability(big_codes), args.repeat)
            results[name]["rows_per_s"] = args.rows / t_str
            results[name]["rows_per_s_codes"] = args.rows / t_codes
            results[name]["threads"] = 1
        else:
            last = fitted.steps[-1][1]
            if isinstance(last, RandomForestClassifier):
                last.set_params(n_jobs=2)
            else:
                for cc in last.calibrated_classifiers_:
                    cc.estimator.set_params(n_jobs=2)
            rep = 1 if args.rows >= 500_000 else args.repeat
            t = median_time(lambda: fitted.predict_proba(big), rep)
            results[name]["rows_per_s"] = args.rows / t
            results[name]["rows_per_s_codes"] = float("nan")
            results[name]["threads"] = 2
        print(f"  throughput {name}: {results[name]['rows_per_s']:,.0f} rows/s", flush=True)

    # a factory scene: machines x frames scored by apply_risk
    ours = models["FailureRiskModel"]
    rng = np.random.default_rng(0)
    scene = Scene("bench", units="m")
    times = np.arange(args.frames, dtype=float)
    idx = rng.integers(0, len(X), size=(args.machines, args.frames))
    one = big_codes.iloc[: len(X)]
    cols = {q: one[q].to_numpy(dtype=float) for q in AI4I_QUANTITIES}
    for i in range(args.machines):
        a = Asset(f"m{i:05d}")
        for q in AI4I_QUANTITIES:
            a.set_sensor(q, cols[q][idx[i]], times)
        scene.add(a)
    t_scene = median_time(lambda: apply_risk(scene, ours), args.repeat)
    gathered = pd.DataFrame({q: np.concatenate([a.sensors[q].values for a in scene.assets(with_mesh=False)])
                             for q in AI4I_QUANTITIES})
    t_model = median_time(lambda: ours.failure_probability(gathered), args.repeat)

    # table
    base = results["baseline RF(100), raw columns"]
    header = f"{'model':34s} {'F1':>7s} {'prec':>7s} {'recall':>7s} {'ROC-AUC':>8s} {'PR-AUC':>7s} {'Brier':>8s} {'ECE':>8s} {'rows/s (1M)':>14s} {'threads':>7s}"
    print()
    print(f"5-fold stratified CV (seed 0) on {len(y)} AI4I rows; throughput on {args.rows:,} rows (median of {args.repeat})")
    print(header)
    print("-" * len(header))
    def row(name: str, r: dict) -> None:
        print(f"{name:34s} {r['f1']:7.4f} {r['precision']:7.4f} {r['recall']:7.4f} {r['roc_auc']:8.4f} {r['pr_auc']:7.4f} "
              f"{r['brier']:8.5f} {r['ece']:8.5f} {_rate(r['rows_per_s'])} {r['threads']:7d}")

    for name in models:
        row(name, results[name])
        if name == "FailureRiskModel":
            r = results[name]
            print(f"{'  ... scene form (type codes)':34s} {'':7s} {'':7s} {'':7s} {'':8s} {'':7s} {'':8s} {'':8s} "
                  f"{r['rows_per_s_codes']:14,.0f} {1:7d}")
    r = results["FailureRiskModel"]
    print(f"{'ratio ours / baseline':34s} {r['f1'] / base['f1']:7.3f} {'':7s} {'':7s} {'':8s} {'':7s} "
          f"{r['brier'] / base['brier']:8.3f} {r['ece'] / base['ece']:8.3f} {r['rows_per_s'] / base['rows_per_s']:14.1f}")
    for name in ablations:
        row(name, results[name])
    print(f"\napply_risk on a {args.machines:,} machines x {args.frames} frames scene ({args.machines * args.frames:,} rows, "
          f"gathering sensors + one predict + {args.machines:,} fields): {t_scene:.3f} s, of which the model call "
          f"{t_model:.3f} s (medians of {args.repeat})")
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        out = {"results": results, "scene_seconds": t_scene, "scene_model_seconds": t_model, "rows": args.rows,
               "machines": args.machines, "frames": args.frames, "loadavg_end": load}
        args.json.write_text(json.dumps(out, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
