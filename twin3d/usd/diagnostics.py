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
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

from ..errors import Twin3DWarning

__all__ = ["Problems", "UsdReadWarning", "collect_problems", "KINDS"]

#: Kinds of problems, in the order they are reported (singular, plural).
KINDS: dict[str, tuple[str, str]] = {
    "sublayer": ("missing sublayer", "missing sublayers"),
    "reference": ("unresolved reference", "unresolved references"),
    "payload": ("unresolved payload", "unresolved payloads"),
    "materialx": ("unreadable MaterialX file", "unreadable MaterialX files"),
    "prim": ("reference to a missing prim", "references to missing prims"),
    "asset": ("unresolved asset path", "unresolved asset paths"),
    "texture": ("unreadable texture", "unreadable textures"),
    "composition": ("other composition error", "other composition errors"),
    "usd": ("other USD warning", "other USD warnings"),
}
_SHOWN = 3

_ASSET = re.compile(r"Could not open asset @([^@]*)@ for (reference|payload)")
_SUBLAYER = re.compile(r"(?:Could not load|Cannot load|Unable to open) sublayer @([^@]*)@")
_PRIM = re.compile(r"[Uu]nresolved (?:reference|payload) prim path @([^@]*)@<([^>]*)>")


class UsdReadWarning(Twin3DWarning):
    """A problem found while reading a USD stage (broken references, textures...)."""


class Problems:
    """Problems found while reading one USD file, grouped by kind (see :data:`KINDS`)."""

    def __init__(self, source: str | Path) -> None:
        self.source = Path(str(source)).name or str(source)
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
            for diag in list(trap.GetErrors()) + list(trap.GetWarnings()):
                if str(getattr(diag, "sourceFunction", "")).endswith("_ReportErrors"):
                    continue  # composition errors: reported from GetCompositionErrors
                problems.add_message(str(diag.commentary))
            trap.Clear()
