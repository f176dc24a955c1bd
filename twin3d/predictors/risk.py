"""Failure risk: a calibrated, fast failure-probability model for machines.

Design (measured in ``benchmarks/risk.py``, explained in ``docs/risk.md``):

1. **Physics features.** When the AI4I process variables are present, the model adds
   temperature difference (process - air, K), mechanical power (torque x angular
   speed, W) and strain (tool wear x torque, min*Nm) to the raw columns; product
   type L/M/H becomes a code 0/1/2. Any other numeric table is used as it is.
   Features are computed in float64, in this module (not in a saved pipeline), so
   the model file needs a single trusted type.
2. **A compact tree, split at exact values.** A scikit-learn decision tree is grown
   on the *ranks* of the feature values (exact in float32) and its split points are
   mapped back to float64 midpoints between neighbouring training values. So the
   learned limits (power, temperature difference, strain by product type...) are
   as sharp as the data, unlike histogram binning or float32 casting.
3. **Depth, calibration and decision threshold learned from data** by an inner
   stratified cross-validation: the depth that minimises the out-of-fold Brier score,
   an isotonic map from out-of-fold tree probabilities to observed failure rates,
   and the probability cut that maximises out-of-fold F1. Nothing is hard-coded.
4. **Fast prediction.** The fitted tree is a handful of numpy arrays; prediction is a
   vectorised level-by-level traversal (in cache-sized chunks) that returns the
   calibrated probability stored per node: millions of rows per second on one core.

Models are saved with skops (:func:`save_model`) and loaded with a pinned trusted-type
list (:data:`TRUSTED_TYPES`): a file that asks for any other type is refused before
anything in it is constructed (:class:`~twin3d.errors.ModelFileError`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import time
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field as PField, model_validator
from sklearn.base import BaseEstimator, ClassifierMixin

from ..errors import InputError, ModelFileError, TrainingError
from ..sensors import (
    AI4I_QUANTITIES,
    check_numeric,
    canonical_columns,
    product_type_codes,
    require_columns,
)
from .._util import progress_bar
from .base import check_is_fitted

if TYPE_CHECKING:  # pragma: no cover
    from ..scene import Field, Scene

__all__ = [
    "FailureRiskModel",
    "PHYSICS_FEATURES",
    "TRUSTED_TYPES",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "save_model",
    "load_model",
    "read_model_info",
    "expected_calibration_error",
    "risk_metrics",
    "cross_validate_risk",
    "train_on_simulator",
    "apply_risk",
    "top_risk_assets",
    "RiskTrainSpec",
    "RiskSpec",
    "apply_risk_spec",
]

#: Physics features added when their inputs are present: name -> (inputs, unit).
PHYSICS_FEATURES: dict[str, tuple[tuple[str, ...], str]] = {
    "temperature_difference": (("process_temperature", "air_temperature"), "K"),
    "power": (("torque", "rotational_speed"), "W"),
    "strain": (("tool_wear", "torque"), "min*Nm"),
}
#: Identifier and version of the model file format.
MODEL_FORMAT = "twin3d.failure_risk"
MODEL_FORMAT_VERSION = 1
#: The only non-builtin type a risk model file may contain (numpy arrays and builtin
#: containers are trusted by skops itself).
TRUSTED_TYPES: list[str] = ["twin3d.predictors.risk.FailureRiskModel"]

_DEPTH_GRID = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12)
_CHUNK = 65536


# --------------------------------------------------------------------------- features
def _input_frame(X: Any) -> tuple[pd.DataFrame | None, np.ndarray | None]:
    """Split input into (DataFrame with str columns, None) or (None, 2D float array)."""
    if isinstance(X, pd.DataFrame):
        if all(isinstance(c, str) for c in X.columns):
            return canonical_columns(X), None
        X = X.to_numpy()
    try:
        import scipy.sparse as sp

        if sp.issparse(X):
            raise InputError("sparse input is not supported: pass a dense table (DataFrame or 2D array)")
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(X)
    if np.iscomplexobj(arr):
        raise InputError("Complex data not supported: sensor values must be real numbers")
    if arr.ndim != 2:
        raise InputError(
            f"expected a 2D table (rows x columns), got an array of shape {arr.shape}. Reshape your data: "
            "X.reshape(1, -1) for a single row, X.reshape(-1, 1) for a single column"
        )
    if arr.dtype.kind in "USa":
        try:
            arr = arr.astype(np.float64)
        except ValueError as exc:
            raise InputError(f"non-numeric values in the input: {exc}") from None
    arr = arr.astype(np.float64, copy=False)  # TypeError for objects that are not numbers
    return None, arr


def _check_finite_array(arr: np.ndarray) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        rows, cols = np.nonzero(bad)
        kinds = "NaN" if np.isnan(arr[rows[0], cols[0]]) else "infinite"
        shown = ", ".join(f"X[{r}, {c}]" for r, c in zip(rows[:5], cols[:5]))
        raise InputError(
            f"input has {bad.sum()} NaN/infinite values (first: {kinds} at {shown}); "
            "fill or remove them explicitly, nothing is dropped silently"
        )


def _feature_names(inputs: Sequence[str], physics: bool) -> list[str]:
    names = list(inputs)
    if physics:
        for feat, (needs, _unit) in PHYSICS_FEATURES.items():
            if all(n in inputs for n in needs) and feat not in names:
                names.append(feat)
    return names


def _compute_features(cols: Mapping[str, np.ndarray], names: Sequence[str], n: int) -> np.ndarray:
    """Feature matrix, *feature-major* (k, n) float64, from input columns (physics features here)."""
    F = np.empty((len(names), n), dtype=np.float64)
    for j, name in enumerate(names):
        if name in cols:
            F[j] = cols[name]
            continue
        if name == "temperature_difference":
            np.subtract(cols["process_temperature"], cols["air_temperature"], out=F[j])
        elif name == "power":
            np.multiply(cols["torque"], cols["rotational_speed"], out=F[j])
            F[j] *= 2.0 * np.pi / 60.0
        elif name == "strain":
            np.multiply(cols["tool_wear"], cols["torque"], out=F[j])
        else:  # pragma: no cover - guarded by _feature_names
            raise InputError(f"cannot compute feature {name!r}")
        bad = np.flatnonzero(~np.isfinite(F[j]))
        if bad.size:
            raise InputError(
                f"feature {name!r} is not finite at rows {', '.join(str(r + 1) for r in bad[:5])} "
                "(input values out of range?)"
            )
    return F


# --------------------------------------------------------------------------- tree helpers
def _rank_cuts(F: np.ndarray) -> list[np.ndarray]:
    """Per feature (rows of the feature-major ``F``): midpoints between consecutive distinct values (float64)."""
    cuts = []
    for j in range(F.shape[0]):
        u = np.unique(F[j])
        c = (u[:-1] + u[1:]) * 0.5
        if c.size >= 2**24:  # keep rank codes exact in float32
            c = c[np.linspace(0, c.size - 1, 2**24 - 1).astype(np.int64)]
        cuts.append(c)
    return cuts


def _rank_codes(F: np.ndarray, cuts: Sequence[np.ndarray]) -> np.ndarray:
    """Rank codes (n, k): number of cut points below each value (exact small integers, float32)."""
    out = np.empty(F.shape[::-1], dtype=np.float32)
    for j, c in enumerate(cuts):
        out[:, j] = np.searchsorted(c, F[j], side="left")
    return out


def _tree_arrays(tree) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(feature, threshold, left, right, positive fraction) of a fitted sklearn tree; leaves self-loop."""
    t = tree.tree_
    left = t.children_left.astype(np.int64)
    right = t.children_right.astype(np.int64)
    feat = t.feature.astype(np.int64)
    thr = t.threshold.astype(np.float64)
    leaf = left < 0
    idx = np.arange(left.size)
    left[leaf] = idx[leaf]
    right[leaf] = idx[leaf]
    feat[leaf] = 0
    thr[leaf] = np.inf
    val = t.value[:, 0, :].astype(np.float64)
    frac = val[:, 1] / np.maximum(val.sum(axis=1), 1e-300)
    return feat, thr, left, right, frac


def _node_depths(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    depth = np.zeros(left.size, dtype=np.int64)
    for i in range(left.size):  # sklearn numbers children after parents
        if left[i] != i:
            depth[left[i]] = depth[i] + 1
            depth[right[i]] = depth[i] + 1
    return depth


def _traverse(F: np.ndarray, feat, thr, left, right, levels: int, *, every_level: bool = False):
    """Node reached by each row after ``levels`` steps (or the node at every level).

    ``F`` is feature-major, shape (k, n). Rows are processed in cache-sized chunks.
    """
    k, n = F.shape
    F = np.ascontiguousarray(F)
    flat = F.reshape(-1)
    if every_level:
        out = np.empty((levels + 1, n), dtype=np.int64)
    else:
        out = np.empty(n, dtype=np.int64)
    offsets = np.arange(k, dtype=np.int64) * n
    for s in range(0, n, _CHUNK):
        e = min(n, s + _CHUNK)
        rows = np.arange(s, e, dtype=np.int64)
        node = np.zeros(e - s, dtype=np.int64)
        if every_level:
            out[0, s:e] = node
        for lev in range(levels):
            go_left = flat[offsets[feat[node]] + rows] <= thr[node]
            node = np.where(go_left, left[node], right[node])
            if every_level:
                out[lev + 1, s:e] = node
        if not every_level:
            out[s:e] = node
    return out


def _truncate(feat, thr, left, right, values: Sequence[np.ndarray], depth: int):
    """Prune a tree back to ``depth`` and drop unreachable nodes (renumbered breadth-first)."""
    depths = _node_depths(left, right)
    order = []
    queue = [0]
    while queue:
        i = queue.pop(0)
        order.append(i)
        if left[i] != i and depths[i] < depth:
            queue.extend([left[i], right[i]])
    order = np.asarray(order, dtype=np.int64)
    new_id = np.full(left.size, -1, dtype=np.int64)
    new_id[order] = np.arange(order.size)
    is_leaf = (left[order] == order) | (depths[order] >= depth)
    nl = np.where(is_leaf, np.arange(order.size), new_id[left[order]])
    nr = np.where(is_leaf, np.arange(order.size), new_id[right[order]])
    nf = np.where(is_leaf, 0, feat[order])
    nt = np.where(is_leaf, np.inf, thr[order])
    return nf, nt, nl, nr, [np.asarray(v)[order] for v in values]


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
        frame, arr = _input_frame(X)
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
            cols: dict[str, np.ndarray] = {}
            numeric = [c for c in inputs if c != "product_type"]
            values = check_numeric(frame, numeric) if numeric else np.empty((n, 0))
            for j, c in enumerate(numeric):
                cols[c] = values[:, j]
            if "product_type" in inputs:
                cols["product_type"] = product_type_codes(frame["product_type"], table=frame)
            return cols, n
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
        _check_finite_array(arr)
        cols = {name: arr[:, j] for j, name in enumerate(self.input_columns_)}
        if "product_type" in cols:
            cols["product_type"] = product_type_codes(cols["product_type"])
        return cols, arr.shape[0]

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

        names = _feature_names(self.input_columns_, self.physics)
        F = _compute_features(cols, names, n)
        self.features_ = names
        self.n_train_ = int(n)
        self.training_fingerprint_ = _fingerprint(self.input_columns_, cols, y_enc)

        if self.exact_splits:
            cuts = _rank_cuts(F)
            codes = _rank_codes(F, cuts)
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
            return _tree_arrays(dt)

        # inner cross-validation: out-of-fold tree probabilities at every candidate depth
        n_folds = int(min(self.cv, counts.min()))
        oof = np.zeros((len(depths), n), dtype=np.float64)
        with progress_bar("training risk model", total=n_folds + 1, enabled=self.progress) as advance:
            skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
            for k, (tr, te) in enumerate(skf.split(np.zeros(n), y_enc)):
                feat, thr, left, right, frac = grow_tree(tr)
                nodes = _traverse(codes[te].T.astype(np.float64), feat, thr, left, right, grow, every_level=True)
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
        feat, thr, left, right, (frac,) = _truncate(feat, thr, left, right, [frac], self.depth_)
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

    # -- predict
    def _check_fitted(self) -> None:
        check_is_fitted(self, ["tree_feature_", "node_proba_", "threshold_"])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, shape (n_samples, 2): columns ``classes_`` (failure last)."""
        self._check_fitted()
        p = self.failure_probability(X)
        return np.column_stack([1.0 - p, p])

    def failure_probability(self, X: Any) -> np.ndarray:
        """Calibrated probability of the failure class, shape (n_samples,)."""
        self._check_fitted()
        cols, n = self._columns(X, fitting=False)
        names, feat = self._used_features()
        F = _compute_features(cols, names, n)
        nodes = _traverse(F, feat, self.tree_threshold_, self.tree_left_, self.tree_right_, self.depth_)
        return self.node_proba_[nodes]

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels: the failure class where the probability reaches ``threshold_``."""
        self._check_fitted()
        p = self.failure_probability(X)
        return self.classes_[(p >= self.threshold_).astype(np.int64)]

    # -- files
    def save(self, path: str | os.PathLike, *, cv_metrics: Mapping[str, Any] | None = None) -> Path:
        """Save with skops (atomically); see :func:`save_model`."""
        return save_model(self, path, cv_metrics=cv_metrics)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FailureRiskModel":
        """Load a model saved by :meth:`save`; see :func:`load_model`."""
        return load_model(path)


def _fingerprint(names: Sequence[str], cols: Mapping[str, np.ndarray], y: np.ndarray) -> str:
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode("utf-8") + b"\0")
        h.update(np.ascontiguousarray(cols[name], dtype=np.float64).tobytes())
    h.update(b"y\0" + np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return "sha256:" + h.hexdigest()


# --------------------------------------------------------------------------- files
def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays inside dicts/lists to plain Python (JSON types)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def save_model(model: FailureRiskModel, path: str | os.PathLike, *, cv_metrics: Mapping[str, Any] | None = None) -> Path:
    """Write a fitted model to a skops file, atomically.

    The file holds a dict with the format name and version, the twin3d and
    scikit-learn versions, the creation time, the model, its feature names, its
    training-data fingerprint and (optionally) its cross-validation metrics.
    """
    import sklearn
    import skops.io as sio

    from .. import __version__
    from .._util import atomic_path

    if not isinstance(model, FailureRiskModel):
        raise InputError(f"save_model expects a FailureRiskModel, got {type(model).__name__}")
    model._check_fitted()
    path = Path(path)
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "twin3d_version": __version__,
        "sklearn_version": sklearn.__version__,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "input_columns": list(model.input_columns_),
        "feature_names": list(model.features_),
        "training_fingerprint": model.training_fingerprint_,
        "n_train": int(model.n_train_),
        "cv_metrics": _jsonable(dict(cv_metrics)) if cv_metrics is not None else None,
        "model": model,
    }
    with atomic_path(path) as tmp:
        sio.dump(payload, tmp)
    return path


def _untrusted(path: Path) -> list[str]:
    import skops.io as sio

    try:
        return list(sio.get_untrusted_types(file=path))
    except Exception as exc:  # noqa: BLE001 - any parse failure means a bad file
        raise ModelFileError(f"{path}: not a readable skops model file ({type(exc).__name__}: {exc})") from None


def read_model_info(path: str | os.PathLike) -> dict[str, Any]:
    """Load a model file (safely) and return its metadata (everything but the model)."""
    info = _load_payload(Path(path))
    return {k: v for k, v in info.items() if k != "model"}


def _load_payload(path: Path) -> dict[str, Any]:
    import skops.io as sio

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a skops model file (expected a .skops zip archive)")
    untrusted = [t for t in _untrusted(path) if t not in TRUSTED_TYPES]
    if untrusted:
        raise ModelFileError(
            f"{path}: refusing to load: the file asks for types outside the trusted list: {untrusted}; "
            f"trusted: {TRUSTED_TYPES} (nothing in the file was executed)"
        )
    try:
        payload = sio.load(path, trusted=TRUSTED_TYPES)
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(f"{path}: cannot load the model file ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not a twin3d failure-risk model file (format {MODEL_FORMAT!r} expected)")
    version = payload.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model file format version {version!r} (written by twin3d {payload.get('twin3d_version')!r}) "
            f"is not supported; this twin3d reads version {MODEL_FORMAT_VERSION}: retrain with 'twin3d risk train'"
        )
    model = payload.get("model")
    if not isinstance(model, FailureRiskModel):
        raise ModelFileError(f"{path}: the file holds no FailureRiskModel")
    try:
        model._check_fitted()
    except Exception:
        raise ModelFileError(f"{path}: the model in the file is not fitted") from None
    return payload


def load_model(path: str | os.PathLike) -> FailureRiskModel:
    """Load a model file written by :func:`save_model`.

    The types the file asks for are checked first (:func:`skops.io.get_untrusted_types`
    only reads the file's schema): anything outside :data:`TRUSTED_TYPES` (and the
    numpy/builtin types skops trusts) is refused with :class:`ModelFileError` before
    any object is constructed. A file of another format version is refused too.

    The returned model has ``file_info_`` (versions, fingerprint, CV metrics).
    """
    payload = _load_payload(Path(path))
    model = payload["model"]
    model.file_info_ = {k: v for k, v in payload.items() if k != "model"}
    return model


# --------------------------------------------------------------------------- evaluation
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

    from .._util import progress_bar

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


# --------------------------------------------------------------------------- demo model
@lru_cache(maxsize=8)
def _train_cached(machines: int, steps: int, seed: int) -> FailureRiskModel:
    from ..sensors import simulate_ai4i

    table = simulate_ai4i(machines, steps, seed=seed, initial_wear="random")
    X = table[list(AI4I_QUANTITIES)]
    return FailureRiskModel(random_state=seed).fit(X, table["machine_failure"].to_numpy())


def train_on_simulator(machines: int = 20, steps: int = 1000, seed: int = 0) -> FailureRiskModel:
    """A model trained on AI4I simulator data (``machines * steps`` rows, a few seconds).

    The package ships no data set, so demos train here. Results are cached per
    arguments within a process; a fresh (unshared) copy is returned each time.
    """
    import copy

    if machines < 1 or steps < 1:
        raise InputError(f"train_on_simulator: machines and steps must be >= 1, got {machines}, {steps}")
    return copy.deepcopy(_train_cached(int(machines), int(steps), int(seed)))


# --------------------------------------------------------------------------- scenes
def apply_risk(
    scene: "Scene",
    model: FailureRiskModel,
    *,
    assets: Sequence[str] | None = None,
    field_name: str = "risk",
) -> dict[str, "Field"]:
    """Score every machine at every frame and attach a ``risk`` field to each.

    The machines are the assets (``assets``: paths or names; default: every asset)
    that carry all the sensors the model needs (``model.input_columns_``). All their
    frames are scored in one vectorised call. Each gets
    ``Field(field_name, p, association="asset", times=..., unit="1", colormap="risk",
    clim=(0, 1))``.

    Returns
    -------
    dict
        ``{asset path: Field}``.
    """
    from ..scene import Field

    model._check_fitted()
    needed = list(model.input_columns_)
    if assets is None:
        picked = [(p, a) for p, a in scene.walk() if all(n in a.sensors for n in needed)]
        if not picked:
            raise InputError(
                f"no asset in scene {scene.name!r} carries the sensors the risk model needs: {needed}; "
                "attach sensor streams first (a 'sensors' section in the spec, or twin3d.sensors.attach_sensors)"
            )
    else:
        picked = []
        paths = {id(a): p for p, a in scene.walk()}
        for key in assets:
            a = scene.get(key)
            missing = [n for n in needed if n not in a.sensors]
            if missing:
                raise InputError(
                    f"asset {key!r} lacks sensors {missing} needed by the risk model; its sensors: {sorted(a.sensors)}"
                )
            picked.append((paths[id(a)], a))
    times = None
    lengths = []
    for path, a in picked:
        t = a.sensors[needed[0]].times
        n = int(np.atleast_1d(a.sensors[needed[0]].values).shape[0])
        lengths.append(n)
        if t is not None:
            if times is None:
                times = t
            elif t is not times and (t.shape != times.shape or not (np.array_equal(t, times) or np.allclose(t, times))):
                raise InputError(f"asset {path!r}: its sensors are not on the scene timeline ({t.size} vs {times.size} frames)")
    big = pd.DataFrame(
        {n: np.concatenate([np.atleast_1d(np.asarray(a.sensors[n].values, dtype=np.float64)) for _, a in picked])
         for n in needed}
    )
    big.attrs["source"] = f"sensors of {len(picked)} assets"
    p = model.failure_probability(big)
    out: dict[str, Field] = {}
    start = 0
    for (path, a), n in zip(picked, lengths):
        vals = p[start:start + n]
        start += n
        f = Field(
            field_name,
            vals if times is not None else np.float64(vals[0]),
            association="asset",
            times=times,
            unit="1",
            colormap="risk",
            clim=(0.0, 1.0),
            description="calibrated probability of failure (twin3d FailureRiskModel)",
        )
        a.set_field(f)
        out[path] = f
    return out


def top_risk_assets(scene: "Scene", n: int = 3, *, frame: int | None = None, field_name: str = "risk") -> list[tuple[str, float]]:
    """The ``n`` assets with the highest risk at ``frame`` (default: peak over time)."""
    rows = []
    for path, a in scene.walk():
        f = a.fields.get(field_name)
        if f is None:
            continue
        v = f.frame(frame) if frame is not None else np.max(f.values)
        rows.append((path, float(v)))
    rows.sort(key=lambda r: -r[1])
    return rows[: max(0, int(n))]


# --------------------------------------------------------------------------- spec
class RiskTrainSpec(BaseModel):
    """Scene spec: train the risk model on AI4I simulator data."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["simulator"] = "simulator"
    machines: int = PField(20, ge=1, le=100_000)
    steps: int = PField(1000, ge=10, le=1_000_000)
    seed: int = 0


class RiskSpec(BaseModel):
    """Scene spec, top level ``risk:``: which model scores the machines.

    Give ``model`` (a ``.skops`` file from ``twin3d risk train``, relative to the spec)
    or ``train`` (train on simulator data); with neither, a simulator-trained model
    with default settings is used.
    """

    model_config = ConfigDict(extra="forbid")

    model: Optional[str] = None
    train: Optional[RiskTrainSpec] = None
    assets: Optional[list[str]] = PField(None, description="asset paths/names to score (default: all with sensors)")
    field: str = "risk"

    @model_validator(mode="after")
    def _one(self):
        if self.model is not None and self.train is not None:
            raise ValueError("give either 'model' (a .skops file) or 'train' (train on simulator data), not both")
        return self


def apply_risk_spec(scene: "Scene", spec: RiskSpec | Mapping[str, Any], *, base_dir: str | os.PathLike = ".") -> dict[str, "Field"]:
    """Load or train the model a :class:`RiskSpec` names and :func:`apply_risk` it to ``scene``."""
    if isinstance(spec, Mapping):
        from pydantic import ValidationError

        try:
            spec = RiskSpec.model_validate(dict(spec))
        except ValidationError as exc:
            raise InputError(f"invalid risk section: {exc.errors()[0]['msg']}") from None
    if spec.model is not None:
        path = Path(spec.model)
        if not path.is_absolute():
            path = Path(base_dir) / path
        model = load_model(path)
        source = str(path)
    else:
        tr = spec.train or RiskTrainSpec()
        model = train_on_simulator(tr.machines, tr.steps, tr.seed)
        source = f"simulator ({tr.machines} machines x {tr.steps} steps, seed {tr.seed})"
    fields = apply_risk(scene, model, assets=spec.assets, field_name=spec.field)
    scene.metadata["risk_model"] = source
    return fields
