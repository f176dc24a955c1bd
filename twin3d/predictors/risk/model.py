"""The failure-risk estimator: a calibrated, fast failure-probability model for machines.

Design (measured in ``benchmarks/risk.py``, explained in ``docs/risk.md``):

1. **Physics features** (:mod:`.features`). When the AI4I process variables are
   present, the model adds temperature difference, mechanical power and strain to the
   raw columns; product type L/M/H becomes a code 0/1/2. Any other numeric table is
   used as it is.
2. **A compact tree, split at exact values** (:mod:`.tree`). A scikit-learn decision
   tree is grown on the *ranks* of the feature values (exact in float32) and its split
   points are mapped back to float64 midpoints between neighbouring training values.
   So the learned limits (power, temperature difference, strain by product type...)
   are as sharp as the data, unlike histogram binning or float32 casting.
3. **Depth, calibration and decision threshold learned from data** by an inner
   stratified cross-validation: the depth that minimises the out-of-fold Brier score,
   an isotonic map from out-of-fold tree probabilities to observed failure rates,
   and the probability cut that maximises out-of-fold F1. Nothing is hard-coded.
4. **Fast prediction.** The fitted tree is a handful of numpy arrays; prediction is a
   vectorised level-by-level traversal (in cache-sized chunks) that returns the
   calibrated probability stored per node: millions of rows per second on one core.

:class:`FailureRiskModel` follows the scikit-learn estimator contract (it passes
scikit-learn's estimator checks). Model files: :mod:`.files`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from ...errors import InputError, TrainingError
from ...sensors.tables import require_columns
from ..._util import progress_bar
from ..base import check_is_fitted
from .features import array_columns, compute_features, feature_names, frame_columns, input_table
from .tree import rank_codes, rank_cuts, traverse, tree_arrays, truncate

__all__ = ["FailureRiskModel"]

#: Candidate depths of ``max_depth="auto"``.
_DEPTH_GRID = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12)


def _isotonic(raw: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic map raw -> P(y=1) as breakpoints (x, y) for np.interp."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(raw, y)
    return np.asarray(iso.X_thresholds_, dtype=np.float64), np.asarray(iso.y_thresholds_, dtype=np.float64)


def _best_f1_threshold(proba: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Probability cut maximising F1 of ``proba >= cut`` (midway to the next lower value)."""
    vals = np.unique(proba)[::-1]  # distinct, descending
    pos = y.sum()
    best_f1, best_i = -1.0, 0
    for i, v in enumerate(vals):
        pred = proba >= v
        tp = np.count_nonzero(pred & (y == 1))
        npred = np.count_nonzero(pred)
        f1 = 2.0 * tp / (npred + pos) if (npred + pos) else 0.0
        if f1 > best_f1:
            best_f1, best_i = f1, i
    if best_f1 <= 0.0:
        return float(np.nextafter(vals[0], np.inf)), 0.0
    upper = vals[best_i]
    lower = vals[best_i + 1] if best_i + 1 < vals.size else 0.0
    return float((upper + lower) / 2.0), float(best_f1)


# --------------------------------------------------------------------------- the model
class FailureRiskModel(ClassifierMixin, BaseEstimator):
    """Calibrated probability of machine failure from one sensor reading.

    Follows the scikit-learn estimator contract (``clone``, ``cross_val_predict``,
    pipelines). Binary targets only (failure / no failure).

    Parameters
    ----------
    max_depth : int or "auto", default="auto"
        Depth of the decision tree; ``"auto"`` picks it from 1-12 by inner
        cross-validation (lowest out-of-fold Brier score).
    min_samples_leaf : int, default=1
        Minimum training rows per leaf.
    physics : bool, default=True
        Add physics features (temperature difference, power, strain) when their
        AI4I inputs are present (DataFrame columns with canonical or AI4I names).
    exact_splits : bool, default=True
        Grow the tree on value ranks so split points are float64 midpoints between
        neighbouring training values. ``False`` grows it on float32-cast features
        (scikit-learn's own precision; kept for comparison).
    calibration : {"isotonic", "none"}, default="isotonic"
        Map out-of-fold tree probabilities to observed failure rates.
    cv : int, default=5
        Folds of the inner stratified cross-validation (depth, calibration, threshold).
    random_state : int or None, default=0
        Seed of the inner folds and the tree.
    progress : bool or None, default=None
        Show a progress bar while fitting (``None``: only on an interactive terminal).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        Labels; ``classes_[1]`` is the failure class.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of str
        Input column names as given (only when fitted on a DataFrame).
    input_columns_ : list of str
        Canonical input column names (AI4I headers renamed, e.g. ``torque``).
    features_ : list of str
        Model features: inputs plus the physics features that could be computed.
    depth_ : int
        Tree depth used.
    threshold_ : float
        Learned decision threshold on the calibrated probability (max out-of-fold F1).
    tree_feature_, tree_threshold_, tree_left_, tree_right_ : ndarray
        The fitted tree (float64 thresholds, ``x <= threshold`` goes left, leaves
        point to themselves).
    node_proba_ : ndarray
        Calibrated failure probability of every node.
    calibration_x_, calibration_y_ : ndarray
        Isotonic calibration breakpoints (tree probability -> calibrated).
    inner_brier_ : dict
        Out-of-fold Brier score of each candidate depth.
    oof_f1_ : float
        Out-of-fold F1 at ``threshold_`` in the inner cross-validation.
    training_fingerprint_ : str
        SHA-256 of the training inputs and labels.
    n_train_ : int
        Number of training rows.
    """

    def __init__(
        self,
        max_depth: int | Literal["auto"] = "auto",
        min_samples_leaf: int = 1,
        physics: bool = True,
        exact_splits: bool = True,
        calibration: Literal["isotonic", "none"] = "isotonic",
        cv: int = 5,
        random_state: int | None = 0,
        progress: bool | None = None,
    ) -> None:
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.physics = physics
        self.exact_splits = exact_splits
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state
        self.progress = progress

    # -- sklearn tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = False
        return tags

    # -- input handling
    def _columns(self, X: Any, *, fitting: bool) -> tuple[dict[str, np.ndarray], int]:
        """Input columns by name (and the row count); when ``fitting``, record the input names."""
        frame, arr = input_table(X)
        if frame is not None:
            n = len(frame)
            if fitting:
                inputs = [str(c) for c in frame.columns]
                self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
                self.input_columns_ = inputs
                self.n_features_in_ = len(inputs)
            else:
                inputs = self.input_columns_
                require_columns(frame, inputs)
            if n == 0:
                raise InputError("the input table has no rows")
            if not inputs:
                raise InputError("the input table has no columns")
            return frame_columns(frame, inputs), n
        assert arr is not None
        if arr.shape[0] == 0:
            raise InputError(f"the input has 0 rows (shape {arr.shape}); at least one row is required")
        if arr.shape[1] == 0:
            raise InputError(
                f"the input has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
            )
        if fitting:
            self.n_features_in_ = arr.shape[1]
            self.input_columns_ = [f"x{j}" for j in range(arr.shape[1])]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif arr.shape[1] != self.n_features_in_:
            raise InputError(
                f"X has {arr.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input ({', '.join(self.input_columns_)})"
            )
        return array_columns(arr, self.input_columns_), arr.shape[0]

    def _used_features(self) -> tuple[list[str], np.ndarray]:
        """Features the tree splits on, and the tree's feature indices remapped to them."""
        internal = self.tree_left_ != np.arange(self.tree_left_.size)
        used = np.unique(self.tree_feature_[internal]) if internal.any() else np.zeros(1, dtype=np.int64)
        remap = np.zeros(len(self.features_), dtype=np.int64)
        remap[used] = np.arange(used.size)
        return [self.features_[i] for i in used], remap[self.tree_feature_]

    # -- fit
    def fit(self, X: Any, y: Any) -> "FailureRiskModel":
        """Fit the tree, pick its depth, calibrate it and learn the decision threshold.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Sensor readings. A DataFrame with the AI4I quantities (canonical names or
            AI4I headers) gets physics features; ``product_type`` may be L/M/H.
        y : array-like of shape (n_samples,)
            Binary labels (e.g. 0 = normal, 1 = failure).

        Returns
        -------
        self
        """
        from sklearn.model_selection import StratifiedKFold
        from sklearn.tree import DecisionTreeClassifier
        from sklearn.utils.multiclass import check_classification_targets, type_of_target
        from sklearn.utils.validation import column_or_1d

        self._check_params()
        if y is None:
            raise InputError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        cols, n = self._columns(X, fitting=True)
        y = column_or_1d(y, warn=True)
        if y.shape[0] != n:
            raise InputError(f"X has {n} rows but y has {y.shape[0]} labels")
        if pd.isna(pd.Series(y)).any():
            raise InputError("y has missing labels (NaN) at rows " + ", ".join(str(i + 1) for i in np.flatnonzero(pd.isna(pd.Series(y)))[:10]))
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise InputError(
                f"the target has only one class ({classes[0]!r} in all {n} rows); "
                "training needs both failures and normal rows"
            )
        if classes.size > 2 or type_of_target(y) not in ("binary",):
            raise InputError(
                f"Only binary classification is supported (failure / no failure); the target has "
                f"{classes.size} classes: {classes[:10].tolist()}"
            )
        y_enc = y_enc.astype(np.int64)
        self.classes_ = classes
        counts = np.bincount(y_enc, minlength=2)
        if counts.min() < 2:
            raise InputError(
                f"the target has {counts.min()} row(s) of class {classes[int(np.argmin(counts))]!r}: "
                "at least 2 rows of each class are needed"
            )

        names = feature_names(self.input_columns_, self.physics)
        F = compute_features(cols, names, n)
        self.features_ = names
        self.n_train_ = int(n)
        self.training_fingerprint_ = _fingerprint(self.input_columns_, cols, y_enc)

        if self.exact_splits:
            cuts = rank_cuts(F)
            codes = rank_codes(F, cuts)
        else:
            cuts = None
            codes = np.ascontiguousarray(F.T, dtype=np.float32)
        depths = _DEPTH_GRID if self.max_depth == "auto" else (int(self.max_depth),)
        grow = max(depths)
        seed = self.random_state

        def grow_tree(idx: np.ndarray):
            dt = DecisionTreeClassifier(max_depth=grow, min_samples_leaf=self.min_samples_leaf, random_state=seed)
            dt.fit(codes[idx], y_enc[idx])
            if dt.tree_.n_outputs != 1 or dt.classes_.size != 2:
                raise TrainingError("a training fold lacks one of the classes")
            return tree_arrays(dt)

        # inner cross-validation: out-of-fold tree probabilities at every candidate depth
        n_folds = int(min(self.cv, counts.min()))
        oof = np.zeros((len(depths), n), dtype=np.float64)
        with progress_bar("training risk model", total=n_folds + 1, enabled=self.progress) as advance:
            skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
            for k, (tr, te) in enumerate(skf.split(np.zeros(n), y_enc)):
                feat, thr, left, right, frac = grow_tree(tr)
                nodes = traverse(codes[te].T.astype(np.float64), feat, thr, left, right, grow, every_level=True)
                for i, d in enumerate(depths):
                    oof[i, te] = frac[nodes[min(d, grow)]]
                advance(1, fold=f"{k + 1}/{n_folds}")
            brier = ((oof - y_enc[None, :]) ** 2).mean(axis=1)
            best = int(np.argmin(brier))
            self.inner_brier_ = {int(d): float(b) for d, b in zip(depths, brier)}
            self.depth_ = int(depths[best])

            if self.calibration == "isotonic":
                cx, cy = _isotonic(oof[best], y_enc)
            else:
                cx, cy = np.array([0.0, 1.0]), np.array([0.0, 1.0])
            self.calibration_x_, self.calibration_y_ = cx, cy
            oof_cal = np.interp(oof[best], cx, cy)
            self.threshold_, self.oof_f1_ = _best_f1_threshold(oof_cal, y_enc)

            # final tree on all rows, pruned to the chosen depth, split points back in float64
            feat, thr, left, right, frac = grow_tree(np.arange(n))
            advance(1, depth=self.depth_)
        feat, thr, left, right, (frac,) = truncate(feat, thr, left, right, [frac], self.depth_)
        internal = left != np.arange(left.size)
        raw_thr = np.full(thr.size, np.inf)
        for i in np.flatnonzero(internal):
            raw_thr[i] = cuts[feat[i]][int(np.floor(thr[i]))] if cuts is not None else thr[i]
        self.tree_feature_ = feat.astype(np.int32)
        self.tree_threshold_ = raw_thr
        self.tree_left_ = left.astype(np.int32)
        self.tree_right_ = right.astype(np.int32)
        self.node_raw_proba_ = frac
        self.node_proba_ = np.clip(np.interp(frac, cx, cy), 0.0, 1.0)
        return self

    def _check_params(self) -> None:
        md = self.max_depth
        if not (md == "auto" or (isinstance(md, (int, np.integer)) and not isinstance(md, bool) and md >= 1)):
            raise InputError(f"max_depth must be 'auto' or an integer >= 1, got {md!r}")
        if not (isinstance(self.min_samples_leaf, (int, np.integer)) and self.min_samples_leaf >= 1):
            raise InputError(f"min_samples_leaf must be an integer >= 1, got {self.min_samples_leaf!r}")
        if self.calibration not in ("isotonic", "none"):
            raise InputError(f"calibration must be 'isotonic' or 'none', got {self.calibration!r}")
        if not (isinstance(self.cv, (int, np.integer)) and self.cv >= 2):
            raise InputError(f"cv must be an integer >= 2, got {self.cv!r}")
        rs = self.random_state
        if rs is not None and not (isinstance(rs, (int, np.integer)) and not isinstance(rs, bool) and 0 <= rs < 2**32):
            raise InputError(f"random_state must be None or an integer in [0, 2**32 - 1], got {rs!r}")

    # -- predict
    def check_fitted(self) -> None:
        """Raise :class:`~twin3d.predictors.base.PredictorNotFittedError` unless the model is fitted.

        The error is twin3d's :class:`~twin3d.errors.NotFittedError` and scikit-learn's.
        """
        check_is_fitted(self, ["tree_feature_", "node_proba_", "threshold_"])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, shape (n_samples, 2): columns ``classes_`` (failure last)."""
        self.check_fitted()
        p = self.failure_probability(X)
        return np.column_stack([1.0 - p, p])

    def failure_probability(self, X: Any) -> np.ndarray:
        """Calibrated probability of the failure class, shape (n_samples,)."""
        self.check_fitted()
        cols, n = self._columns(X, fitting=False)
        names, feat = self._used_features()
        F = compute_features(cols, names, n)
        nodes = traverse(F, feat, self.tree_threshold_, self.tree_left_, self.tree_right_, self.depth_)
        return self.node_proba_[nodes]

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels: the failure class where the probability reaches ``threshold_``."""
        self.check_fitted()
        p = self.failure_probability(X)
        return self.classes_[(p >= self.threshold_).astype(np.int64)]

    # -- files
    def save(self, path: str | os.PathLike, *, cv_metrics: Mapping[str, Any] | None = None) -> Path:
        """Save with skops (atomically); see :func:`save_model`."""
        from .files import save_model

        return save_model(self, path, cv_metrics=cv_metrics)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FailureRiskModel":
        """Load a model saved by :meth:`save`; see :func:`load_model`."""
        from .files import load_model

        return load_model(path)


def _fingerprint(names: Sequence[str], cols: Mapping[str, np.ndarray], y: np.ndarray) -> str:
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode("utf-8") + b"\0")
        h.update(np.ascontiguousarray(cols[name], dtype=np.float64).tobytes())
    h.update(b"y\0" + np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return "sha256:" + h.hexdigest()


# The public home of the class (and the type name model files record, see
# ``TRUSTED_TYPES`` in :mod:`.files`) is the package: ``twin3d.predictors.risk.FailureRiskModel``.
FailureRiskModel.__module__ = "twin3d.predictors.risk"
