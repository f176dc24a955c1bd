"""USD's diagnostics while reading a stage, summarised as one warning per kind of problem.

USD reports every missing sublayer, unresolved reference or unreadable MaterialX file
as its own raw warning on stderr (``Warning: in _ReportErrors at line 3326 of
.../stage.cpp -- ...``), ten lines for a stage with ten broken references. While twin3d
reads a stage, :func:`collect_problems` traps those diagnostics (``pxr.Tf.DiagnosticTrap``,
which keeps them from being printed) and takes the structured list from
``stage.GetCompositionErrors()``; :class:`Problems` groups them by kind and
:meth:`Problems.warn` emits one :class:`UsdReadWarning` per kind::

    twin3d: warning: scene.usda: 2 unresolved references (materials/a.usd, props/chair.usd)
    twin3d: warning: scene.usda: 1 unreadable MaterialX file (materials/a.mtlx)

(usd-core, the USD build on PyPI, has no MaterialX plugin: a referenced ``.mtlx`` file is
never read, whether it exists or not.)

(The command line prints twin3d warnings in that form; in Python they are ordinary
warnings that ``warnings.filterwarnings`` can silence or turn into errors.)

Missing layers are errors: a missing sublayer, reference or payload, or a reference to
a prim a layer does not have (:data:`MISSING_KINDS`), would make geometry silently
disappear, so :meth:`Problems.raise_missing` raises an
:class:`~twin3d.errors.InputError` listing them (count and first items, one line)
unless missing layers are allowed -- ``read_usd(path, allow_missing=True)``, the
``--allow-missing`` option of the commands that read USD, or the
:func:`allow_missing_layers` block -- and then they are the one warning per kind above.
MaterialX files are not geometry: they stay warnings.

Errors that USD raises as exceptions (``pxr.Tf.ErrorException``: a corrupt ``.usdc``, a
``.usda`` syntax error) become one line with :func:`usd_error_text`.

Some of what USD prints bypasses its diagnostics: a corrupt ``.usdc`` can make it print
``failed call to posix_madvise(...)`` (or ``posix_fadvise``) straight to the C
``stderr``, and Python errors raised inside USD's callbacks are printed, not raised. So
:func:`stderr_captured` also sends file descriptor 2 to a temporary file while a file is
read; what lands there is counted as "other USD warnings".
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import warnings
from collections import OrderedDict
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator

from ..errors import InputError, Twin3DWarning

__all__ = ["Problems", "UsdReadWarning", "collect_problems", "KINDS", "MISSING_KINDS", "allow_missing_layers",
           "missing_layers_allowed", "usd_error_text", "stderr_captured"]

#: Kinds of problems, in the order they are reported (singular, plural).
KINDS: dict[str, tuple[str, str]] = {
    "sublayer": ("missing sublayer", "missing sublayers"),
    "reference": ("unresolved reference", "unresolved references"),
    "payload": ("unresolved payload", "unresolved payloads"),
    "materialx": ("unreadable MaterialX file", "unreadable MaterialX files"),
    "prim": ("reference to a missing prim", "references to missing prims"),
    "asset": ("unresolved asset path", "unresolved asset paths"),
    "texture": ("unreadable texture", "unreadable textures"),
    "empty": ("empty mesh (no points or faces), left out", "empty meshes (no points or faces), left out"),
    "collapsed": ("prim with a zero scale, left out", "prims with a zero scale, left out"),
    "composition": ("other composition error", "other composition errors"),
    "usd": ("other USD warning", "other USD warnings"),
}
#: Kinds that mean geometry is missing: errors unless missing layers are allowed.
MISSING_KINDS = ("sublayer", "reference", "payload", "prim")
_SHOWN = 3
_ALLOW_MISSING: ContextVar[bool] = ContextVar("twin3d_usd_allow_missing", default=False)

_ASSET = re.compile(r"Could not open asset @([^@]*)@ for (reference|payload)")
_SUBLAYER = re.compile(r"(?:Could not load|Cannot load|Unable to open) sublayer @([^@]*)@")
_PRIM = re.compile(r"[Uu]nresolved (?:reference|payload) prim path @([^@]*)@<([^>]*)>")


class UsdReadWarning(Twin3DWarning):
    """A problem found while reading a USD stage (broken references, textures...)."""


class Problems:
    """Problems found while reading one USD file, grouped by kind (see :data:`KINDS`)."""

    def __init__(self, source: str | Path) -> None:
        self.source = Path(str(source)).name or str(source)
        self.path = str(source)
        self.folder = str(Path(str(source)).resolve().parent) if Path(str(source)).is_absolute() or Path(
            str(source)).exists() else ""
        self.items: "OrderedDict[str, list[str]]" = OrderedDict((k, []) for k in KINDS)

    def add(self, kind: str, item: str) -> None:
        """Record one problem of ``kind`` about ``item`` (a path, a message); duplicates count once."""
        if kind not in self.items:
            raise ValueError(f"unknown problem kind {kind!r}; valid: {', '.join(KINDS)}")
        if item not in self.items[kind]:
            self.items[kind].append(item)

    def count(self, kind: str) -> int:
        return len(self.items[kind])

    def __bool__(self) -> bool:
        return any(self.items.values())

    def lines(self) -> list[str]:
        """One summary line per kind that occurred, e.g. ``a.usda: 3 unresolved references (x.usd, ...)``."""
        out = []
        for kind, items in self.items.items():
            if not items:
                continue
            one, many = KINDS[kind]
            items = sorted(items)  # USD composes in parallel: the order is not fixed
            shown = ", ".join(items[:_SHOWN]) + (", ..." if len(items) > _SHOWN else "")
            out.append(f"{self.source}: {len(items)} {one if len(items) == 1 else many} ({shown})")
        return out

    def raise_missing(self, allow: bool | None = None) -> None:
        """Raise an :class:`InputError` when layers or prims are missing (:data:`MISSING_KINDS`),
        unless ``allow`` (default: :func:`missing_layers_allowed`)."""
        if allow is None:
            allow = missing_layers_allowed()
        found = [(kind, self.items[kind]) for kind in MISSING_KINDS if self.items[kind]]
        if allow or not found:
            return
        parts = []
        for kind, items in found:
            one, many = KINDS[kind]
            items = sorted(items)
            shown = ", ".join(items[:_SHOWN]) + (", ..." if len(items) > _SHOWN else "")
            parts.append(f"{len(items)} {one if len(items) == 1 else many} ({shown})")
        raise InputError(f"{self.path}: {'; '.join(parts)}: their geometry would be missing; "
                         "pass --allow-missing (Python: read_usd(..., allow_missing=True)) to read the rest")

    def warn(self, stacklevel: int = 3) -> None:
        """Emit one :class:`UsdReadWarning` per kind of problem."""
        for line in self.lines():
            warnings.warn(line, UsdReadWarning, stacklevel=stacklevel)

    # -- sources
    def add_composition_errors(self, stage) -> None:
        """Sort ``stage.GetCompositionErrors()`` into kinds."""
        for err in stage.GetCompositionErrors():
            self.add_message(str(err), composition=True)

    def add_message(self, text: str, *, composition: bool = False) -> None:
        """Sort one USD diagnostic message into a kind (``usd`` when none fits)."""
        text = text.strip()
        m = _SUBLAYER.search(text)
        if m:
            self.add("materialx" if _is_mtlx(m.group(1)) else "sublayer", self.short(m.group(1)))
            return
        m = _ASSET.search(text)
        if m:
            path = m.group(1)
            self.add("materialx" if _is_mtlx(path) else m.group(2), self.short(path))
            return
        m = _PRIM.search(text)
        if m:
            self.add("prim", f"{self.short(m.group(1))}<{m.group(2)}>")
            return
        first = text.splitlines()[0] if text else "?"
        self.add("composition" if composition else "usd", first[:160])

    def short(self, path: str) -> str:
        """An asset path without USD's format arguments, relative to the file's folder when inside it."""
        path = path.split(":SDF_FORMAT_ARGS:")[0]
        if self.folder and path.startswith(self.folder + "/"):
            path = path[len(self.folder) + 1:]
        return path


def _is_mtlx(path: str) -> bool:
    return path.split(":SDF_FORMAT_ARGS:")[0].lower().endswith(".mtlx")


@contextlib.contextmanager
def allow_missing_layers(allow: bool = True) -> Iterator[None]:
    """Inside the block, :func:`~twin3d.usd.read_usd` reads stages whose sublayers,
    references or payloads are missing (one warning per kind) instead of refusing them."""
    token = _ALLOW_MISSING.set(bool(allow))
    try:
        yield
    finally:
        _ALLOW_MISSING.reset(token)


def missing_layers_allowed() -> bool:
    """Whether missing layers are allowed here (see :func:`allow_missing_layers`)."""
    return _ALLOW_MISSING.get()


_TF_ERROR = re.compile(r"Error in '[^']*' at line \d+ in file [^:]* : '(.*?)'\s*(?=\n\s*Error in '|\Z)", re.S)
_GENERIC = ("Failed to open layer", "Cannot open layer")


def usd_error_text(exc: BaseException, source: str | Path | None = None) -> str:
    """One line saying what USD's exception (``pxr.Tf.ErrorException``) reports.

    USD's text names its own C++ function and source file; this keeps its messages only
    (the first specific one: "Failed to open layer" says nothing new), with a ``.usda``
    syntax error's ``file:line:column`` turned into ``line L, column C``.
    """
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - undecodable bytes from a corrupt file
        text = ""
    messages = [m.strip() for m in _TF_ERROR.findall(text)] or [text.strip()]
    specific = [m for m in messages if m and not m.startswith(_GENERIC)]
    message = (specific or messages or ["unreadable"])[0] or "unreadable"
    if source is not None:  # "/abs/scene.usda:3:5: Expected }" -> "line 3, column 5: Expected }"
        name = re.escape(str(Path(str(source)).name))
        message = re.sub(r"(?:[^\s:]*/)?" + name + r":(\d+):(\d+):\s*", r"line \1, column \2: ", message)
    message = re.sub(r"\bpxrInternal_\w*?__pxrReserved__::|\bSdf_\w*Parser::", "", message)  # C++ namespaces
    message = " ".join(message.split())
    return message if len(message) <= 300 else message[:297] + "..."


def _commentary(diag) -> str:
    try:
        return str(diag.commentary)
    except Exception:  # noqa: BLE001 - USD passes on bytes of a corrupt file that are not UTF-8
        return "a USD diagnostic that is not valid text (a corrupt file?)"


@contextlib.contextmanager
def stderr_captured(lines: list[str]) -> Iterator[list[str]]:
    """Send file descriptor 2 to a temporary file inside the block; its non-empty lines are
    appended to ``lines`` when the block ends (also on errors).

    For what native code prints straight to ``stderr`` (USD's ``posix_madvise`` failures
    on corrupt crate files, errors printed from inside its Python bindings). The file
    descriptor is the process's: output of other threads in the block is captured too.
    Does nothing when file descriptor 2 cannot be duplicated.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield lines
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read(64 * 1024).decode("utf-8", errors="replace")
            lines.extend(" ".join(ln.split())[:160] for ln in text.splitlines() if ln.strip())


@contextlib.contextmanager
def collect_problems(source: str | Path) -> Iterator[Problems]:
    """Trap USD's diagnostics inside the block and sort them into a :class:`Problems`.

    Raw USD warnings and errors raised inside the block are not printed; those that
    come from stage composition are left out (``add_composition_errors`` reports them
    once, structured); every other one is counted under ``usd``. USD errors that
    become Python exceptions (``pxr.Tf.ErrorException``) still propagate.
    """
    from pxr import Tf

    problems = Problems(source)
    with Tf.DiagnosticTrap() as trap:
        try:
            yield problems
        finally:
            try:
                for diag in list(trap.GetErrors()) + list(trap.GetWarnings()):
                    if str(getattr(diag, "sourceFunction", "")).endswith("_ReportErrors"):
                        continue  # composition errors: reported from GetCompositionErrors
                    problems.add_message(_commentary(diag))
            finally:
                trap.Clear()  # else the trap prints what it holds when the block ends
