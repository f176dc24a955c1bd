"""Tiny helpers shared by the predictors (scikit-learn estimator contract)."""

from __future__ import annotations

from typing import Any, Sequence

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from ..errors import NotFittedError

__all__ = ["PredictorNotFittedError", "check_is_fitted"]


class PredictorNotFittedError(NotFittedError, _SklearnNotFittedError):
    """Raised when a predictor is used before ``fit``.

    It is twin3d's :class:`~twin3d.errors.NotFittedError` *and* scikit-learn's
    ``NotFittedError``, so callers and scikit-learn's own checks can catch either.
    """


def check_is_fitted(estimator: Any, attributes: str | Sequence[str] | None = None) -> None:
    """Raise :class:`PredictorNotFittedError` unless ``estimator`` has been fitted.

    Parameters
    ----------
    estimator
        The predictor.
    attributes
        Learned attribute name(s) that must exist. By default any attribute ending in
        ``_`` (and not starting with ``_``) counts, as in scikit-learn.
    """
    if attributes is None:
        fitted = any(k.endswith("_") and not k.startswith("_") for k in vars(estimator))
    else:
        names = [attributes] if isinstance(attributes, str) else list(attributes)
        fitted = all(hasattr(estimator, n) for n in names)
    if not fitted:
        name = type(estimator).__name__
        raise PredictorNotFittedError(
            f"this {name} is not fitted yet: call fit(X, y) first (or load a trained model file)"
        )
