"""Scene specs: YAML files validated with pydantic, turned into a :class:`~twin3d.scene.Scene`.

A spec has core keys (``name``, ``units``, ``assets``, ``appearance``...) and *sections*
that switch capabilities on (``risk:``, ``thermal:``, an asset's ``sensors:``...). This
module names no capability: the sections are whatever :mod:`twin3d.sections` has
registered; only those a spec uses are imported, validated and applied, in their
declared order (sensors first), each through the same ``apply(scene, section, context)``.

A bad spec raises :class:`~twin3d.errors.SpecError` naming the file, the line, the
location inside it (``assets[3].transform.rotate``) and what would be valid; a missing
input file named in it raises :class:`~twin3d.errors.MissingFileError` with the same
location. Unknown keys are errors. See ``scenes/factory_line.yaml`` for an example.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
from pydantic import Field as PField, PrivateAttr, field_validator, model_validator

from .errors import InputError, MissingFileError, SpecError, Twin3DError
from .sections import SECTION_COUNTS, SectionContext, SpecSection, get_section, section_keys
from .spectypes import Color, Opacity, Scale, Strict, Units, Vec3, check_finite
from .yamlspec import YamlDocument, read_yaml

__all__ = ["SceneSpec", "AssetSpec", "load_spec", "build_scene", "spec_from_dict", "load_scene", "SCENE_EXTENSIONS"]

#: File extensions of scene specs.
SCENE_EXTENSIONS = (".yaml", ".yml")


class TransformSpec(Strict):
    """Placement: translate (scene units), rotate (Euler XYZ degrees), scale."""

    translate: Vec3 = (0.0, 0.0, 0.0)
    rotate: Vec3 = (0.0, 0.0, 0.0)
    scale: Scale = 1.0


class MaterialSpec(Strict):
    roughness: float = PField(0.5, ge=0, le=1)
    metallic: float = PField(0.0, ge=0, le=1)
    opacity: Opacity = 1.0


class RepeatSpec(Strict):
    """Place ``count`` copies, each shifted by ``offset`` from the previous one."""

    count: int = PField(ge=1, le=1_000_000)
    offset: Vec3


class _WithSections(Strict):
    """A spec level that also holds registered sections (validated by :func:`spec_from_dict`)."""

    _sections: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def sections(self) -> dict[str, Any]:
        """``{key: validated section}`` of the registered sections present here."""
        return self._sections

    def __getattr__(self, name: str) -> Any:
        sections = self.__pydantic_private__.get("_sections", {}) if self.__pydantic_private__ else {}
        if name in sections:
            return sections[name]
        return super().__getattr__(name)


class AssetSpec(_WithSections):
    """One asset (or a row of ``repeat.count`` copies named ``<name>_01``...)."""

    name: str
    kind: Optional[str] = None
    mesh: Optional[str] = None
    mesh_units: Optional[Units] = None
    params: dict[str, Any] = PField(default_factory=dict)
    group: Optional[str] = None
    transform: TransformSpec = PField(default_factory=TransformSpec)
    repeat: Optional[RepeatSpec] = None
    color: Optional[Color] = None
    material: MaterialSpec = PField(default_factory=MaterialSpec)
    label: Optional[str] = None
    metadata: dict[str, Any] = PField(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        from .scene import valid_name

        try:
            return valid_name(v)
        except InputError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("group")
    @classmethod
    def _group(cls, v):
        from .scene import valid_name

        if v is not None:
            for part in v.split("/"):
                try:
                    valid_name(part)
                except InputError as exc:
                    raise ValueError(f"group path {v!r}: {exc}") from None
        return v

    @field_validator("kind")
    @classmethod
    def _kind(cls, v):
        from .equipment import EQUIPMENT

        if v is not None and v not in EQUIPMENT:
            raise ValueError(f"unknown equipment kind {v!r}; valid: {', '.join(sorted(EQUIPMENT))}")
        return v

    @field_validator("params")
    @classmethod
    def _params(cls, v, info):
        kind = info.data.get("kind")
        if kind is None or not v:
            return v  # 'params' without 'kind' is refused below
        return _equipment_params(kind, v)

    @model_validator(mode="after")
    def _geometry(self):
        if (self.kind is None) == (self.mesh is None):
            raise ValueError("give exactly one of 'kind' (procedural equipment) or 'mesh' (a mesh file)")
        if self.mesh is not None and self.params:
            raise ValueError("'params' only applies to procedural equipment ('kind')")
        return self


def _equipment_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` checked against the equipment function's signature: known names, each value
    of the annotated type (``length: long`` is refused as not a number)."""
    import inspect

    from pydantic import TypeAdapter, ValidationError

    from .equipment import EQUIPMENT

    valid = inspect.signature(EQUIPMENT[kind], eval_str=True).parameters
    bad = sorted(set(params) - set(valid))
    if bad:
        raise ValueError(f"unknown params {bad} for kind {kind!r}; valid: {sorted(valid)}")
    out = {}
    for name, value in params.items():
        annotation = valid[name].annotation
        if annotation is inspect.Parameter.empty:
            out[name] = value
            continue
        try:
            out[name] = TypeAdapter(annotation).validate_python(value)
        except ValidationError as exc:
            msg = exc.errors(include_url=False)[0]["msg"]
            raise ValueError(f"{name}: {msg} (got {value!r}); default: {valid[name].default!r}") from None
    return out


class AppearanceSpec(Strict):
    """Look of one asset after the scene is built (e.g. a translucent ``body`` organ)."""

    opacity: Optional[Opacity] = None
    color: Optional[Color] = None
    visible: Optional[bool] = None


class SceneSpec(_WithSections):
    """Top level of a scene spec file (plus the registered sections it uses)."""

    name: str = "scene"
    description: str = ""
    units: Units = "m"
    up_axis: Literal["Y", "Z"] = "Z"
    fps: float = PField(10.0, gt=0, le=1000)
    color_by: Optional[str] = None
    floor: Optional[bool] = PField(None, description="draw a floor in renders (default: for scenes in metres)")
    assets: list[AssetSpec] = PField(default_factory=list)
    appearance: dict[str, AppearanceSpec] = PField(
        default_factory=dict, description="asset name or path -> opacity/color/visible, applied last"
    )

    @model_validator(mode="after")
    def _unique(self):
        seen: dict[str, int] = {}
        for i, a in enumerate(self.assets):
            key = f"{a.group or ''}/{a.name}"
            if key in seen:
                raise ValueError(f"assets[{i}]: name {a.name!r} already used by assets[{seen[key]}] in the same group")
            seen[key] = i
        return self


# --------------------------------------------------------------------------- loading
def _split_sections(data: dict, core: type, scope: str, doc: YamlDocument, at: tuple) -> tuple[dict, dict]:
    """``data`` -> (core keys, {section key: raw value}); unknown keys are located errors."""
    if not isinstance(data, dict):
        return data, {}
    registered = section_keys(scope)  # type: ignore[arg-type]
    core_part, sections = {}, {}
    for k, v in data.items():
        if k in core.model_fields:
            core_part[k] = v
        elif k in registered:
            sections[k] = v
        else:
            valid = [*core.model_fields, *registered]
            line = doc.lines.get(at + (k,))
            where = f"{doc.source}{f':{line}' if line else ''}"
            from .yamlspec import format_location

            err = SpecError(f"{where}: {format_location(at + (k,))}: unknown key {k!r}; valid keys: {', '.join(valid)}")
            err.located = True
            raise err
    return core_part, sections


def _validate_section(key: str, raw: Any, doc: YamlDocument, at: tuple) -> tuple[SpecSection, Any]:
    section = get_section(key)
    return section, doc.validate(section.model, raw, at=at + (key,))


def spec_from_document(doc: YamlDocument) -> SceneSpec:
    """Validate a parsed spec: core keys, then each registered section it uses."""
    data = doc.data
    if not isinstance(data, dict):
        raise SpecError(f"{doc.source}: a scene spec must be a mapping with at least 'assets', got {type(data).__name__}")
    check_finite(doc)
    core, scene_sections = _split_sections(data, SceneSpec, "scene", doc, ())
    assets_raw = core.get("assets")
    asset_sections: list[dict] = []
    if isinstance(assets_raw, list):
        cleaned = []
        for i, a in enumerate(assets_raw):
            a_core, a_sec = _split_sections(a, AssetSpec, "asset", doc, ("assets", i))
            cleaned.append(a_core)
            asset_sections.append(a_sec)
        core = {**core, "assets": cleaned}
    spec = doc.validate(SceneSpec, core)
    for key, raw in scene_sections.items():
        spec._sections[key] = _validate_section(key, raw, doc, ())[1]
    for i, (a, secs) in enumerate(zip(spec.assets, asset_sections)):
        for key, raw in secs.items():
            a._sections[key] = _validate_section(key, raw, doc, ("assets", i))[1]
    if not spec.assets and not scene_sections:
        raise SpecError(f"{doc.source}: a scene needs 'assets' (equipment or mesh files) or a section that adds "
                        f"assets; sections: {', '.join(section_keys('scene'))}")
    spec._document = doc  # type: ignore[attr-defined]
    return spec


def spec_from_dict(data: Any, *, source: str = "<spec>", text: str | None = None,
                   base_dir: str | Path | None = None) -> SceneSpec:
    """Validate a spec given as a dict; errors name ``source`` and (with ``text``) lines.

    Relative paths inside it resolve against ``base_dir`` (default: the current folder).
    """
    doc = YamlDocument(source=source, data=data, text=text,
                       path=(Path(base_dir) / "<spec>") if base_dir is not None else None)
    return spec_from_document(doc)


def load_spec(path: str | Path) -> SceneSpec:
    """Read and validate a YAML scene spec file."""
    return spec_from_document(read_yaml(path, what="scene spec"))


# --------------------------------------------------------------------------- building
def _asset_from_spec(a: AssetSpec, name: str, translate_offset: np.ndarray, base_dir: Path, scene_units: str,
                     doc: YamlDocument, index: int, meshes: dict | None = None):
    """One asset (one copy of a ``repeat``); ``meshes`` keeps an entry's mesh file read once for all its copies."""
    from .scene import UNITS, Asset, Material, Transform

    tr = a.transform
    tr = Transform(translate=np.asarray(tr.translate) + translate_offset, rotate=tr.rotate, scale=tr.scale)
    if a.kind is not None:
        from .equipment import equipment_asset

        try:
            asset = equipment_asset(name, a.kind, transform=tr, color=a.color, **a.params)
        except InputError as exc:
            raise doc.error(("assets", index, "params"), str(exc)) from None
    else:
        from .io import read_mesh

        mesh_path = Path(a.mesh).expanduser()
        if not mesh_path.is_absolute():
            mesh_path = base_dir / mesh_path
        mesh = meshes.get(index) if meshes is not None else None
        if mesh is None:
            try:
                mesh = read_mesh(mesh_path)
            except MissingFileError as exc:
                raise _located_missing(doc, ("assets", index, "mesh"), exc) from None
            except Twin3DError as exc:
                raise doc.error(("assets", index, "mesh"), str(exc), cls=_located_class(exc)) from None
            if a.mesh_units and a.mesh_units != scene_units:
                mesh = mesh.scale(UNITS[a.mesh_units] / UNITS[scene_units], inplace=False)
            if meshes is not None:
                meshes[index] = mesh  # the copies of a repeat share it, as repeated equipment does
        asset = Asset(name, mesh=mesh, transform=tr, asset_type="mesh",
                      material=Material(name=mesh_path.stem, base_color=a.color or (0.7, 0.7, 0.7)),
                      metadata={"source_file": str(mesh_path)})
    asset.material = Material(name=asset.material.name, base_color=asset.material.base_color,
                              roughness=a.material.roughness, metallic=a.material.metallic, opacity=a.material.opacity)
    if a.label:
        asset.semantic_label = a.label
    asset.metadata.update(a.metadata)
    return asset


def _located_class(exc: Twin3DError) -> type:
    """The class a located copy of ``exc`` keeps: budget and confinement errors stay what they are."""
    from .errors import BudgetError, ConfinementError

    return type(exc) if isinstance(exc, (BudgetError, ConfinementError)) else SpecError


def _check_asset_count(spec: SceneSpec, doc: YamlDocument) -> None:
    """Refuse, before building anything, a spec whose entries and ``repeat`` copies add up to
    more assets than the ``assets`` count limit (:mod:`twin3d.budgets`)."""
    from .budgets import check_count, count_limit

    limit = count_limit("assets")
    total = 0
    for i, a in enumerate(spec.assets):
        total += a.repeat.count if a.repeat else 1
        if total > limit:
            total_all = sum(e.repeat.count if e.repeat else 1 for e in spec.assets)
            loc = ("assets", i, "repeat", "count") if a.repeat else ("assets", i)
            n = len(spec.assets)
            detail = (f"{total_all:,} repeat copies of {a.name!r}" if n == 1 and a.repeat else
                      f"{n:,} asset entries, repeat copies included")
            check_count("assets", total_all, doc.where(loc), detail=detail)


def _located_missing(doc: YamlDocument, loc: tuple, exc: MissingFileError) -> MissingFileError:
    out = MissingFileError(exc.filename, f"{doc.where(loc)}: {exc}", what=exc.what)
    out.located = True
    return out


def _document(spec: SceneSpec, base_dir: str | Path | None) -> YamlDocument:
    doc = getattr(spec, "_document", None) or YamlDocument(source="<spec>", data=None)
    if base_dir is not None:
        doc = YamlDocument(source=doc.source, data=doc.data, text=doc.text, path=Path(base_dir) / "<spec>")
    return doc


def build_scene(spec: SceneSpec | str | Path, *, base_dir: str | Path | None = None, sections: bool = True,
                outputs=None):
    """Build a :class:`~twin3d.scene.Scene` from a spec object or a spec file path.

    Parameters
    ----------
    spec
        A :class:`SceneSpec` or the path of a YAML spec.
    base_dir
        Folder relative paths resolve against (default: the spec file's folder).
    sections
        Apply the spec's sections (sensors, predictors...). ``False`` builds the
        geometry only: no predictor runs, nothing is read or written for them.
    outputs
        An :class:`~twin3d._util.OutputSet` that collects the files sections write (e.g.
        ``segmentation.labelmap_out``); the caller commits it once its own outputs are
        written too. Without one, they are committed when the build succeeds and removed
        when it fails.
    """
    from ._util import OutputSet

    if outputs is None:
        with OutputSet() as own:
            return build_scene(spec, base_dir=base_dir, sections=sections, outputs=own)
    from .scene import Scene

    if not isinstance(spec, SceneSpec):
        spec = load_spec(spec)
    doc = _document(spec, base_dir)
    base = doc.base_dir
    _check_asset_count(spec, doc)
    scene = Scene(name=spec.name, units=spec.units, up_axis=spec.up_axis, fps=spec.fps)
    if spec.floor is not None:
        scene.metadata["floor"] = spec.floor
    if spec.description:
        scene.metadata["description"] = spec.description
    if spec.color_by is not None:
        scene.metadata["color_by"] = spec.color_by
    plan: list[tuple[int, int, str, Any, SectionContext]] = []
    shared: dict = {}
    meshes: dict[int, Any] = {}
    for i, a in enumerate(spec.assets):
        parent = scene.root
        if a.group:
            for part in a.group.split("/"):
                parent = scene.group(part, parent)
        count = a.repeat.count if a.repeat else 1
        width = max(2, len(str(count)))
        offset = np.asarray(a.repeat.offset if a.repeat else (0.0, 0.0, 0.0), dtype=float)
        for k in range(count):
            name = a.name if count == 1 else f"{a.name}_{k + 1:0{width}d}"
            asset = _asset_from_spec(a, name, offset * k, base, spec.units, doc, i, meshes)
            try:
                parent.add(asset)
            except InputError as exc:
                raise doc.error(("assets", i), str(exc)) from None
            path = f"{a.group}/{name}" if a.group else name
            for key, value in a.sections.items():
                ctx = SectionContext(doc.path, base, ("assets", i, key), doc, asset=path, shared=shared,
                                     outputs=outputs)
                plan.append((get_section(key).order, len(plan), key, value, ctx))
    for key, value in spec.sections.items():
        ctx = SectionContext(doc.path, base, (key,), doc, shared=shared, outputs=outputs)
        plan.append((get_section(key).order, len(plan), key, value, ctx))
    scene.metadata["spec_sections"] = sorted(spec.sections) + sorted({k for a in spec.assets for k in a.sections})
    # how often each section runs in this build, so a section can size the whole build's work
    # before its first run (e.g. sensors: assets with sensors x timeline steps)
    shared[SECTION_COUNTS] = Counter(p[2] for p in plan)
    if sections:
        for _, _, key, value, ctx in sorted(plan, key=lambda p: (p[0], p[1])):
            get_section(key).run(scene, value, ctx)
    _apply_appearance(scene, spec, doc)
    return scene


def _apply_appearance(scene, spec: SceneSpec, doc: YamlDocument) -> None:
    from .scene import Material

    for name, look in spec.appearance.items():
        try:
            asset = scene.get(name)
        except KeyError as exc:
            raise doc.error(("appearance", name), str(exc.args[0])) from None
        m = asset.material
        if look.opacity is not None or look.color is not None:
            asset.material = Material(name=m.name, base_color=look.color or m.base_color, roughness=m.roughness,
                                      metallic=m.metallic, opacity=m.opacity if look.opacity is None else look.opacity)
        if look.color is not None:
            asset.parts = [type(p)(p.name, tuple(look.color)) for p in asset.parts]
        if look.visible is not None:
            asset.visible = look.visible


# --------------------------------------------------------------------------- any scene file
def load_scene(path: str | Path, *, sections: bool = True, outputs=None, allow_missing: bool = False):
    """A :class:`~twin3d.scene.Scene` from a scene spec (YAML; its sections are applied) or a USD file.

    ``sections=False`` builds a spec's geometry without running its sections. Files a
    spec's sections write (``segmentation.labelmap_out``) go to ``outputs`` (an
    :class:`~twin3d._util.OutputSet` the caller commits, as ``twin3d build`` does); by
    default they are not written at all: loading a scene to look at, render or export
    it writes nothing else. ``allow_missing``: USD files (the file itself, or meshes a
    spec names) are read even when sublayers, references or payloads are missing
    (:func:`twin3d.usd.read_usd`).
    """
    from .errors import UnsupportedFormatError

    if allow_missing:
        from .usd.diagnostics import allow_missing_layers

        with allow_missing_layers():
            return load_scene(path, sections=sections, outputs=outputs)

    path = Path(path)
    ext = path.suffix.lower()
    if not path.exists():
        raise MissingFileError(path, what="scene file")
    if ext in SCENE_EXTENSIONS:
        if outputs is not None:
            return build_scene(path, sections=sections, outputs=outputs)
        from ._util import OutputSet

        with OutputSet(dry_run=True) as dropped:
            return build_scene(path, sections=sections, outputs=dropped)
    from .io import USD_EXTENSIONS as USD_READ_EXTENSIONS

    if ext in USD_READ_EXTENSIONS:
        from .usd import read_usd

        return read_usd(path)
    raise UnsupportedFormatError(
        f"{path}: cannot load a scene from {ext or 'a file without extension'!r}; "
        f"use a scene spec ({', '.join(SCENE_EXTENSIONS)}) or a USD file ({', '.join(USD_READ_EXTENSIONS)})"
    )
