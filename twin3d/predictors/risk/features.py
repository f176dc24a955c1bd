"""Model inputs and physics features of the failure-risk model.

Input tables become float64 columns by canonical name (:func:`input_table`,
:func:`frame_columns`, :func:`array_columns`; product type L/M/H becomes a code 0/1/2).
When the AI4I process variables are present, :func:`feature_names` adds the physics
features of :data:`PHYSICS_FEATURES` and :func:`compute_features` computes them:
temperature difference (process - air, K), mechanical power (torque x angular speed,
W) and strain (tool wear x torque, min*Nm). Any other numeric table is used as it is.
Features are computed in float64 here (not in a saved pipeline), so a model file needs
a single trusted type.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ...errors import InputError
from ...sensors.tables import canonical_columns, check_numeric, product_type_codes

__all__ = [
    "PHYSICS_FEATURES",
    "input_table",
    "check_finite",
    "frame_columns",
    "array_columns",
    "feature_names",
    "compute_features",
]

#: Physics features added when their inputs are present: name -> (inputs, unit).
PHYSICS_FEATURES: dict[str, tuple[tuple[str, ...], str]] = {
    "temperature_difference": (("process_temperature", "air_temperature"), "K"),
    "power": (("torque", "rotational_speed"), "W"),
    "strain": (("tool_wear", "torque"), "min*Nm"),
}


def input_table(X: Any) -> tuple[pd.DataFrame | None, np.ndarray | None]:
    """Split model input into ``(DataFrame, None)`` or ``(None, 2D float64 array)``.

    A DataFrame with string column names keeps them, AI4I headers renamed to canonical
    names (``Torque [Nm]`` -> ``torque``); any other input must be a dense, real, 2D
    table of numbers (:class:`~twin3d.errors.InputError` otherwise, saying how to fix it).
    """
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
            raise InputError(f"non-numeric values in the input: {' '.join(str(exc).split())}") from None
    arr = arr.astype(np.float64, copy=False)  # TypeError for objects that are not numbers
    return None, arr


def check_finite(arr: np.ndarray) -> None:
    """Raise :class:`~twin3d.errors.InputError` naming the first NaN/infinite entries of ``arr``."""
    bad = ~np.isfinite(arr)
    if bad.any():
        rows, cols = np.nonzero(bad)
        kinds = "NaN" if np.isnan(arr[rows[0], cols[0]]) else "infinite"
        shown = ", ".join(f"X[{r}, {c}]" for r, c in zip(rows[:5], cols[:5]))
        raise InputError(
            f"input has {bad.sum()} NaN/infinite values (first: {kinds} at {shown}); "
            "fill or remove them explicitly, nothing is dropped silently"
        )


def frame_columns(frame: pd.DataFrame, inputs: Sequence[str]) -> dict[str, np.ndarray]:
    """The ``inputs`` columns of a table as float64 arrays (``product_type`` as codes 0/1/2).

    Values are checked (:func:`~twin3d.sensors.check_numeric`): non-numeric, NaN or
    infinite values raise :class:`~twin3d.errors.InputError` with their rows.
    """
    n = len(frame)
    cols: dict[str, np.ndarray] = {}
    numeric = [c for c in inputs if c != "product_type"]
    values = check_numeric(frame, numeric) if numeric else np.empty((n, 0))
    for j, c in enumerate(numeric):
        cols[c] = values[:, j]
    if "product_type" in inputs:
        cols["product_type"] = product_type_codes(frame["product_type"], table=frame)
    return cols


def array_columns(arr: np.ndarray, inputs: Sequence[str]) -> dict[str, np.ndarray]:
    """The columns of a 2D float array named ``inputs`` (checked finite; ``product_type`` as codes)."""
    check_finite(arr)
    cols = {name: arr[:, j] for j, name in enumerate(inputs)}
    if "product_type" in cols:
        cols["product_type"] = product_type_codes(cols["product_type"])
    return cols


def feature_names(inputs: Sequence[str], physics: bool) -> list[str]:
    """Model features: the ``inputs``, plus (with ``physics``) each physics feature whose inputs are present."""
    names = list(inputs)
    if physics:
        for feat, (needs, _unit) in PHYSICS_FEATURES.items():
            if all(n in inputs for n in needs) and feat not in names:
                names.append(feat)
    return names


def compute_features(cols: Mapping[str, np.ndarray], names: Sequence[str], n: int) -> np.ndarray:
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
        else:  # pragma: no cover - guarded by feature_names
            raise InputError(f"cannot compute feature {name!r}")
        bad = np.flatnonzero(~np.isfinite(F[j]))
        if bad.size:
            raise InputError(
                f"feature {name!r} is not finite at rows {', '.join(str(r + 1) for r in bad[:5])} "
                "(input values out of range?)"
            )
    return F
