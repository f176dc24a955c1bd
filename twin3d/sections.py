"""The one contract between scene specs and the capabilities they switch on.

A capability (sensors, risk, thermal, anatomy, segmentation, and the ones to come) is
one module that defines a :class:`SpecSection`: its spec key, a pydantic model of its
section, and one ``apply(scene, section, context)``. It becomes usable in scene specs
with one registration line in :data:`BUILTIN_SECTIONS` below (or, from another package,
an entry point in the ``twin3d.sections`` group whose value is ``module:ATTRIBUTE``)::

    # twin3d/predictors/wear.py
    class WearSpec(BaseModel): ...

    def apply(scene, section: WearSpec, context: SectionContext) -> None:
        model = load(context.resolve(section.model, what="wear model"))
        ...

    SECTION = SpecSection("wear", WearSpec, apply, order=25)

    # here:
    register_section("wear", "twin3d.predictors.wear:SECTION", order=25)

:mod:`twin3d.spec` names no capability: it validates the registered sections a spec
uses, importing only those, and applies them in ``order`` (sensors first: they set
the timeline the predictors read). The module a registration points to must be light
to import (pydantic and numpy; heavy libraries imported inside ``apply``), so that
loading and validating a spec stays fast.

``scope="asset"`` sections (``sensors``) sit inside each asset entry and are applied
once per asset, with ``context.asset`` set to that asset's path.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from .errors import InputError, MissingFileError, SpecError, Twin3DError

if TYPE_CHECKING:
    from .scene import Scene
    from .yamlspec import YamlDocument

__all__ = [
    "SpecSection",
    "SectionContext",
    "register_section",
    "section_keys",
    "get_section",
    "BUILTIN_SECTIONS",
    "SECTION_COUNTS",
]

#: Key of ``context.shared`` holding ``{section key: how many times it runs in this build}``
#: (an asset-scoped section once per asset, repeat copies included), set before the first
#: section runs: a section can size the whole build's work (and refuse it) up front.
SECTION_COUNTS = "section_counts"

Scope = Literal["scene", "asset"]


@dataclass(frozen=True)
class SpecSection:
    """What a capability registers for its key in scene specs.

    Attributes
    ----------
    key
        The key in the spec (``risk``, ``thermal``...).
    model
        The pydantic model of the section, or any type pydantic validates
        (``list[ThermalSpec]``).
    apply
        ``apply(scene, section, context) -> None``: changes ``scene`` in place (adds
        fields, sensors or assets). Raise :class:`~twin3d.errors.Twin3DError` subclasses;
        ``context.error(...)`` gives located messages for a part of the section.
    order
        Sections are applied in increasing order (sensors 0, predictors 10-40).
    scope
        ``"scene"`` (top-level key) or ``"asset"`` (a key of each asset entry).
    summary
        One line for ``twin3d info`` and error messages.
    """

    key: str
    model: Any
    apply: Callable[["Scene", Any, "SectionContext"], None]
    order: int = 50
    scope: Scope = "scene"
    summary: str = ""

    def run(self, scene: "Scene", section: Any, context: "SectionContext") -> None:
        """``apply`` a validated section; every error comes out located (``file:line: key...: message``)."""
        try:
            self.apply(scene, section, context)
        except (Twin3DError, FileNotFoundError) as exc:
            raise context.locate(exc) from None

    def apply_to(self, scene: "Scene", data: Any, *, base_dir: str | Path = ".", asset: str | None = None) -> Any:
        """Validate ``data`` (the section as a dict/list, or already a model) and apply it outside a spec file.

        For scripts: relative paths resolve against ``base_dir``; errors read as in a spec
        (``<spec>: thermal[0].asset: ...``). ``asset`` names the asset of an asset-scoped
        section. Returns the validated section.
        """
        from pydantic import BaseModel

        location = ("assets", asset, self.key) if self.scope == "asset" else (self.key,)
        context = SectionContext(spec_file=None, base_dir=Path(base_dir), location=location, asset=asset)
        value = data if isinstance(data, BaseModel) else context.validate(self.model, data)
        self.run(scene, value, context)
        return value


@dataclass
class SectionContext:
    """What ``apply`` knows about where its section came from.

    Attributes
    ----------
    spec_file
        The spec file (``None`` for a spec given as a dict).
    base_dir
        The folder relative paths in the spec are resolved against.
    location
        Where the section is in the spec: ``("risk",)``, ``("assets", 2, "sensors")``.
    asset
        For ``scope="asset"`` sections: the path of the asset being set up.
    shared
        A dict shared by all sections of one build (caches: a CSV read once for many assets).
    outputs
        The build's :class:`~twin3d._util.OutputSet`: files a section writes go through
        :meth:`output_path`, so they appear only if the whole command succeeds.
    """

    spec_file: Path | None
    base_dir: Path
    location: tuple
    document: "YamlDocument | None" = None
    asset: str | None = None
    shared: dict = field(default_factory=dict)
    outputs: Any = None

    def output_path(self, relative: str | Path, *, at: tuple = ()) -> Path:
        """Where to write a file the section produces (relative to the spec's folder).

        The file must stay inside the spec's folder (or a folder allowed with
        ``--allow-path`` / :func:`twin3d.confine.allow_paths`): a spec cannot write
        elsewhere. Inside a build the file goes to a temporary that is renamed only when
        the whole build (and the command around it) succeeds; a failing spec leaves
        nothing written.
        """
        from .confine import check_reference
        from .errors import ConfinementError

        p = self.resolve(relative, must_exist=False, at=at)
        try:
            check_reference(str(p), referrer=self.spec_file or Path(self.base_dir) / "<spec>",
                            what="output", base=self.base_dir)
        except ConfinementError as exc:
            raise self.error(f"output {str(relative)!r} would be written outside the spec's folder "
                             f"{self.base_dir}; write it there or allow its folder with --allow-path",
                             at=at, cls=ConfinementError) from exc
        return self.outputs.path(p) if self.outputs is not None else p

    @property
    def source(self) -> str:
        return str(self.spec_file) if self.spec_file is not None else "<spec>"

    def where(self, at: tuple = ()) -> str:
        """``spec.yaml:12: thermal[0].model`` for messages."""
        loc = tuple(self.location) + tuple(at)
        if self.document is not None:
            return self.document.where(loc)
        from .yamlspec import format_location

        return f"{self.source}: {format_location(loc)}"

    def error(self, message: str, *, at: tuple = (), cls: type[Twin3DError] = SpecError) -> Twin3DError:
        """A located error (``file:line: section.path: message``) to raise from ``apply``."""
        exc = cls(f"{self.where(at)}: {message}")
        exc.located = True
        return exc

    def locate(self, exc: BaseException, *, at: tuple = ()) -> Twin3DError:
        """``exc`` re-raised with this section's location in front of its message.

        A :class:`~twin3d.errors.MissingFileError` (or a bare ``FileNotFoundError``) stays a
        ``MissingFileError``; other twin3d errors become :class:`~twin3d.errors.SpecError`.
        """
        if isinstance(exc, Twin3DError) and exc.located:
            return exc
        if isinstance(exc, MissingFileError):
            out: Twin3DError = MissingFileError(exc.filename, f"{self.where(at)}: {exc}", what=exc.what)
        elif isinstance(exc, FileNotFoundError):
            name = exc.filename or (exc.args[0] if exc.args else "?")
            out = MissingFileError(name, f"{self.where(at)}: {name}: no such file")
        else:
            out = SpecError(f"{self.where(at)}: {exc}")
        out.located = True
        return out

    def resolve(self, relative: str | Path, *, what: str = "file", must_exist: bool = True,
                at: tuple = ()) -> Path:
        """``relative`` resolved against the spec's folder; a located :class:`MissingFileError` if absent."""
        p = Path(relative).expanduser()
        if not p.is_absolute():
            p = self.base_dir / p
        if must_exist and not p.exists():
            err = MissingFileError(p, f"{self.where(at)}: {p}: no such {what}", what=what)
            err.located = True
            raise err
        return p

    def validate(self, model: Any, data: Any, *, at: tuple = ()) -> Any:
        """Validate part of the section against a pydantic model or type, with located errors."""
        from .yamlspec import YamlDocument

        doc = self.document or YamlDocument(source=self.source, data=None)
        return doc.validate(model, data, at=tuple(self.location) + tuple(at))


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class _Registration:
    key: str
    target: str | SpecSection  # "module:ATTRIBUTE" (imported when first used) or the section itself
    order: int
    scope: Scope


_REGISTRY: dict[str, _Registration] = {}
_LOADED: dict[str, SpecSection] = {}
_ENTRY_POINTS_LOADED = False


def register_section(key: str, target: str | SpecSection, *, order: int = 50, scope: Scope = "scene") -> None:
    """Make ``key`` a valid spec section.

    ``target`` is the :class:`SpecSection` itself, or ``"package.module:NAME"`` naming it
    (imported only when a spec uses ``key``).
    """
    if not key.isidentifier():
        raise InputError(f"section key {key!r} must be an identifier")
    _REGISTRY[key] = _Registration(key, target, order, scope)
    _LOADED.pop(key, None)


#: The built-in sections: key -> (module:attribute, order, scope). One line per capability.
BUILTIN_SECTIONS: dict[str, tuple[str, int, Scope]] = {
    "sensors": ("twin3d.sensors.section:SECTION", 0, "asset"),
    "risk": ("twin3d.predictors.risk.section:SECTION", 10, "scene"),
    "thermal": ("twin3d.predictors.thermal.section:SECTION", 20, "scene"),
    "anatomy": ("twin3d.anatomy.section:SECTION", 30, "scene"),
    "segmentation": ("twin3d.predictors.segmentation.section:SECTION", 40, "scene"),
    "ablation": ("twin3d.predictors.ablation.section:SECTION", 50, "scene"),
}

for _key, (_target, _order, _scope) in BUILTIN_SECTIONS.items():
    register_section(_key, _target, order=_order, scope=_scope)


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="twin3d.sections"):
        if ep.name not in _REGISTRY:
            # order and scope come from the SpecSection once loaded
            _REGISTRY[ep.name] = _Registration(ep.name, ep.value, 50, "scene")


def section_keys(scope: Scope = "scene") -> list[str]:
    """The registered keys of one scope, in application order."""
    _load_entry_points()
    regs = [r for r in _REGISTRY.values() if r.scope == scope]
    return [r.key for r in sorted(regs, key=lambda r: (r.order, r.key))]


def get_section(key: str) -> SpecSection:
    """The :class:`SpecSection` registered for ``key`` (its module is imported now)."""
    _load_entry_points()
    if key in _LOADED:
        return _LOADED[key]
    reg = _REGISTRY.get(key)
    if reg is None:
        raise InputError(f"no spec section {key!r}; registered: {', '.join(sorted(_REGISTRY))}")
    target = reg.target
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        try:
            section = getattr(importlib.import_module(module), attr or "SECTION")
        except (ImportError, AttributeError) as exc:
            raise SpecError(f"spec section {key!r}: cannot load {target} ({exc})") from None
    else:
        section = target
    if not isinstance(section, SpecSection) or section.key != key:
        raise SpecError(f"spec section {key!r}: {target} is not a SpecSection with key {key!r}")
    _LOADED[key] = section
    return section
