"""Evaluating failure classifiers: metrics and stratified cross-validation.

:func:`cross_validate_risk` cross-validates any scikit-learn classifier with
``predict_proba`` (the :class:`~.model.FailureRiskModel`, the random-forest baseline)
and reports :func:`risk_metrics` on the pooled out-of-fold predictions: F1, precision,
recall, ROC-AUC, PR-AUC, Brier score and :func:`expected_calibration_error`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from ...errors import InputError

__all__ = ["expected_calibration_error", "risk_metrics", "cross_validate_risk"]


def expected_calibration_error(y_true: Any, proba: Any, n_bins: int = 10) -> float:
    """Expected calibration error with ``n_bins`` equal-width probability bins on [0, 1].

    ``sum_b (n_b / n) * |mean(proba in b) - fraction of positives in b|``.
    """
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(proba, dtype=np.float64).reshape(-1)
    if y.size != p.size or y.size == 0:
        raise InputError(f"expected_calibration_error: {y.size} labels for {p.size} probabilities")
    b = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    sp = np.bincount(b, weights=p, minlength=n_bins)
    sy = np.bincount(b, weights=y, minlength=n_bins)
    return float(np.abs(sp - sy).sum() / y.size)


def risk_metrics(y_true: Any, proba: Any, y_pred: Any) -> dict[str, float]:
    """F1, precision, recall (failure class), ROC-AUC, PR-AUC, Brier score and ECE."""
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(proba, dtype=np.float64)
    yp = np.asarray(y_pred).astype(np.int64)
    return {
        "f1": float(f1_score(y, yp, zero_division=0)),
        "precision": float(precision_score(y, yp, zero_division=0)),
        "recall": float(recall_score(y, yp, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
    }


def cross_validate_risk(
    model: Any,
    X: Any,
    y: Any,
    *,
    n_splits: int = 5,
    seed: int = 0,
    progress: bool | None = None,
    return_predictions: bool = False,
):
    """Stratified k-fold cross-validation of a binary failure classifier.

    ``model`` is cloned for every fold (any scikit-learn classifier with
    ``predict_proba`` works, e.g. the random-forest baseline). Metrics are computed
    on the pooled out-of-fold predictions (``predict`` for F1/precision/recall, the
    failure-class probability for the others).

    Returns
    -------
    dict
        ``f1, precision, recall, roc_auc, pr_auc, brier, ece`` plus ``n_rows``,
        ``n_failures``, ``n_splits``, ``seed``, ``fold_f1`` and ``fit_seconds``;
        with ``return_predictions`` also the out-of-fold ``(proba, pred)`` arrays.
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    from ..._util import progress_bar

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise InputError(f"seed must be an integer in [0, 2**32 - 1], got {seed!r}")
    y = np.asarray(y)
    classes = np.unique(y)
    if classes.size != 2:
        raise InputError(f"cross-validation needs a binary target, got classes {classes.tolist()}")
    y01 = (y == classes[1]).astype(np.int64)
    if np.bincount(y01).min() < n_splits:
        raise InputError(
            f"{n_splits}-fold stratified cross-validation needs at least {n_splits} rows of each class; "
            f"got {np.bincount(y01).tolist()} (normal, failure)"
        )
    n = y.shape[0]
    proba = np.zeros(n, dtype=np.float64)
    pred = np.zeros(n, dtype=np.int64)
    fold_f1 = []
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    t0 = time.perf_counter()

    def rows(idx):
        return X.iloc[idx] if isinstance(X, pd.DataFrame) else np.asarray(X)[idx]

    from sklearn.metrics import f1_score

    with progress_bar("cross-validating", total=n_splits, enabled=progress) as advance:
        for k, (tr, te) in enumerate(skf.split(np.zeros(n), y01)):
            m = clone(model)
            quiet = {k: False for k in m.get_params() if k == "progress" or k.endswith("__progress")}
            if quiet:  # one progress bar at a time: the folds', not each fit's
                m.set_params(**quiet)
            m.fit(rows(tr), y[tr])
            pr = m.predict_proba(rows(te))
            pos = int(np.flatnonzero(np.asarray(m.classes_) == classes[1])[0])
            proba[te] = pr[:, pos]
            pred[te] = (np.asarray(m.predict(rows(te))) == classes[1]).astype(np.int64)
            fold_f1.append(float(f1_score(y01[te], pred[te], zero_division=0)))
            advance(1, fold=k + 1, f1=f"{fold_f1[-1]:.3f}")
    out: dict[str, Any] = risk_metrics(y01, proba, pred)
    out.update(
        n_rows=int(n),
        n_failures=int(y01.sum()),
        n_splits=int(n_splits),
        seed=int(seed),
        fold_f1=fold_f1,
        fit_seconds=float(time.perf_counter() - t0),
    )
    if return_predictions:
        return out, proba, pred
    return out
