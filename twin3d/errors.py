"""The twin3d error hierarchy.

Every error raised on purpose by twin3d derives from :class:`Twin3DError` and from
the built-in exception that best describes it, so callers can catch either.
Messages say what was wrong, where (file, line, field) and what would be valid.
"""

from __future__ import annotations

__all__ = [
    "Twin3DError",
    "InputError",
    "MissingFileError",
    "SpecError",
    "UnsupportedFormatError",
    "NotFittedError",
    "ModelFileError",
    "TrainingError",
    "ConfinementError",
    "BudgetError",
    "Twin3DWarning",
]


class Twin3DError(Exception):
    """Base class of all errors twin3d raises on purpose."""

    #: True once the message names where in a scene spec the error arose (``file:line: section: ...``)
    located: bool = False


class InputError(Twin3DError, ValueError):
    """Bad input data: missing columns, NaN values, mismatched grids, empty files..."""


class MissingFileError(InputError, FileNotFoundError):
    """An input file (mesh, volume, CSV, model, spec...) that does not exist.

    It is an :class:`InputError` *and* the built-in :class:`FileNotFoundError`, so
    ``except FileNotFoundError`` keeps working. ``filename`` is the missing path; the
    message names it and, for a file named inside a scene spec, the spec and section.
    """

    def __init__(self, path, message: str | None = None, *, what: str = "file"):
        text = message if message is not None else f"{path}: no such {what}"
        super().__init__(text)
        self.filename = str(path)
        self.what = what

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self):  # picklable across worker processes
        return (_rebuild_missing, (self.filename, str(self), self.what))


def _rebuild_missing(path: str, message: str, what: str) -> "MissingFileError":
    return MissingFileError(path, message, what=what)


def require_file(path, *, what: str = "file"):
    """``path`` as a :class:`~pathlib.Path` if it is an existing file, else :class:`MissingFileError`."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        if p.is_dir():
            raise InputError(f"{p}: is a folder, expected a {what}")
        raise MissingFileError(p, what=what)
    return p


def require_path(path, *, what: str = "file or folder"):
    """``path`` as a :class:`~pathlib.Path` if it exists (file or folder), else :class:`MissingFileError`."""
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise MissingFileError(p, what=what)
    return p


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


class ConfinementError(InputError, PermissionError):
    """A reference inside a file (glTF buffer, USD sublayer, OBJ ``.mtl``...) that points
    outside the folders twin3d may read: the file's own folder and those the user allows
    (``--allow-path DIR``, :func:`twin3d.confine.allow_paths`, ``TWIN3D_ALLOW_PATH``)."""


class BudgetError(InputError, MemoryError):
    """A request whose estimated memory or time is above the documented budget
    (:mod:`twin3d.budgets`); the message gives the estimate, the limit and how to raise it."""


class Twin3DWarning(UserWarning):
    """Base class of the warnings twin3d emits (the command line prints them as ``twin3d: warning: ...``)."""
