"""The twin3d error hierarchy.

Every error raised on purpose by twin3d derives from :class:`Twin3DError` and from
the built-in exception that best describes it, so callers can catch either.
Messages say what was wrong, where (file, line, field) and what would be valid.
"""

from __future__ import annotations

__all__ = [
    "Twin3DError",
    "InputError",
    "SpecError",
    "UnsupportedFormatError",
    "NotFittedError",
    "ModelFileError",
    "TrainingError",
]


class Twin3DError(Exception):
    """Base class of all errors twin3d raises on purpose."""


class InputError(Twin3DError, ValueError):
    """Bad input data: missing columns, NaN values, mismatched grids, empty files..."""


class SpecError(Twin3DError, ValueError):
    """A scene spec that does not validate; the message names file and location."""


class UnsupportedFormatError(Twin3DError, ValueError):
    """A file extension or format no reader/writer handles; lists the supported ones."""


class NotFittedError(Twin3DError, RuntimeError):
    """A predictor was used before ``fit`` (mirrors scikit-learn's NotFittedError)."""


class ModelFileError(Twin3DError, ValueError):
    """A model file that is corrupt, of another version, or asks for untrusted types."""


class TrainingError(Twin3DError, RuntimeError):
    """Training diverged (NaN/inf loss) or could not proceed."""
