"""Risk model files: skops files loaded with a pinned trusted-type list.

:func:`save_model` writes a fitted :class:`~.model.FailureRiskModel` with its metadata
(format version, twin3d and scikit-learn versions, feature names, training-data
fingerprint, cross-validation metrics) atomically; :func:`load_model` reads it back
with a pinned trusted-type list (:data:`TRUSTED_TYPES`): a file that asks for any other
type is refused before anything in it is constructed
(:class:`~twin3d.errors.ModelFileError`). A file of another format version is refused
too; a missing file raises :class:`~twin3d.errors.MissingFileError`.
"""

from __future__ import annotations

import datetime as _dt
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ...errors import InputError, MissingFileError, ModelFileError
from .model import FailureRiskModel

__all__ = ["TRUSTED_TYPES", "MODEL_FORMAT", "MODEL_FORMAT_VERSION", "save_model", "load_model", "read_model_info"]

#: Identifier and version of the model file format.
MODEL_FORMAT = "twin3d.failure_risk"
MODEL_FORMAT_VERSION = 1
#: The only non-builtin type a risk model file may contain (numpy arrays and builtin
#: containers are trusted by skops itself).
TRUSTED_TYPES: list[str] = ["twin3d.predictors.risk.FailureRiskModel"]


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

    from ... import __version__
    from ..._util import atomic_path

    if not isinstance(model, FailureRiskModel):
        raise InputError(f"save_model expects a FailureRiskModel, got {type(model).__name__}")
    model.check_fitted()
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
        raise ModelFileError(f"{path}: not a readable skops model file ({type(exc).__name__}: {' '.join(str(exc).split())})") from None


def read_model_info(path: str | os.PathLike) -> dict[str, Any]:
    """Load a model file (safely) and return its metadata (everything but the model)."""
    info = _load_payload(Path(path))
    return {k: v for k, v in info.items() if k != "model"}


def _load_payload(path: Path) -> dict[str, Any]:
    import skops.io as sio

    if not path.exists():
        raise MissingFileError(path, what="risk model file")
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
        raise ModelFileError(f"{path}: cannot load the model file ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
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
        model.check_fitted()
    except Exception:
        raise ModelFileError(f"{path}: the model in the file is not fitted") from None
    return payload


def load_model(path: str | os.PathLike) -> FailureRiskModel:
    """Load a model file written by :func:`save_model`.

    The types the file asks for are checked first (:func:`skops.io.get_untrusted_types`
    only reads the file's schema): anything outside :data:`TRUSTED_TYPES` (and the
    numpy/builtin types skops trusts) is refused with :class:`ModelFileError` before
    any object is constructed. A file of another format version is refused too.

    The returned model has ``file_info_`` (versions, fingerprint, CV metrics). A file
    that does not exist raises :class:`~twin3d.errors.MissingFileError`.
    """
    payload = _load_payload(Path(path))
    model = payload["model"]
    model.file_info_ = {k: v for k, v in payload.items() if k != "model"}
    return model
