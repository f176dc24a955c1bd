"""Scene specs: YAML files validated with pydantic, turned into a :class:`~twin3d.scene.Scene`.

A bad spec raises :class:`~twin3d.errors.SpecError` naming the file, the line, the
location inside it (``assets[3].transform.rotate``) and what would be valid.
Unknown keys are errors. See ``scenes/factory_line.yaml`` for an example.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field as PField, ValidationError, field_validator, model_validator

from .anatomy import AnatomySpec, apply_anatomy_spec
from .errors import InputError, SpecError, Twin3DError
from .predictors.risk import RiskSpec, apply_risk_spec
from .predictors.segmentation import SegmentationSpec, apply_segmentation_spec
from .predictors.thermal.twin import ThermalSpec, apply_thermal_spec
from .scene import UNITS, Asset, Material, Scene, Transform, valid_name
from .sensors import SensorSource, apply_sensor_source

__all__ = ["SceneSpec", "AssetSpec", "load_spec", "build_scene", "spec_from_dict"]

Vec3 = tuple[float, float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class TransformSpec(_Strict):
    """Placement: translate (scene units), rotate (Euler XYZ degrees), scale."""

    translate: Vec3 = (0.0, 0.0, 0.0)
    rotate: Vec3 = (0.0, 0.0, 0.0)
    scale: Union[float, Vec3] = 1.0

    @field_validator("scale")
    @classmethod
    def _positive_scale(cls, v):
        vals = np.broadcast_to(np.asarray(v, dtype=float), 3)
        if np.any(vals <= 0) or not np.all(np.isfinite(vals)):
            raise ValueError("scale must be positive")
        return v

    @field_validator("translate", "rotate")
    @classmethod
    def _finite(cls, v):
        if not np.all(np.isfinite(v)):
            raise ValueError("values must be finite numbers")
        return v

    def to_transform(self) -> Transform:
        return Transform(translate=self.translate, rotate=self.rotate, scale=self.scale)


class MaterialSpec(_Strict):
    roughness: float = PField(0.5, ge=0, le=1)
    metallic: float = PField(0.0, ge=0, le=1)
    opacity: float = PField(1.0, ge=0, le=1)


class RepeatSpec(_Strict):
    """Place ``count`` copies, each shifted by ``offset`` from the previous one."""

    count: int = PField(ge=1, le=1_000_000)
    offset: Vec3


class AssetSpec(_Strict):
    """One asset (or a row of ``repeat.count`` copies named ``<name>_01``...)."""

    name: str
    kind: Optional[str] = None
    mesh: Optional[str] = None
    mesh_units: Optional[str] = None
    params: dict[str, Any] = PField(default_factory=dict)
    group: Optional[str] = None
    transform: TransformSpec = PField(default_factory=TransformSpec)
    repeat: Optional[RepeatSpec] = None
    color: Optional[Vec3] = None
    material: MaterialSpec = PField(default_factory=MaterialSpec)
    label: Optional[str] = None
    metadata: dict[str, Any] = PField(default_factory=dict)
    sensors: Optional[SensorSource] = None

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        try:
            return valid_name(v)
        except InputError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("group")
    @classmethod
    def _group(cls, v):
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

    @field_validator("mesh_units")
    @classmethod
    def _units(cls, v):
        if v is not None and v not in UNITS:
            raise ValueError(f"unknown units {v!r}; valid: {', '.join(UNITS)}")
        return v

    @field_validator("color")
    @classmethod
    def _color(cls, v):
        if v is not None and not all(0 <= c <= 1 for c in v):
            raise ValueError("color components must be in [0, 1]")
        return v

    @model_validator(mode="after")
    def _geometry(self):
        if (self.kind is None) == (self.mesh is None):
            raise ValueError("give exactly one of 'kind' (procedural equipment) or 'mesh' (a mesh file)")
        if self.mesh is not None and self.params:
            raise ValueError("'params' only applies to procedural equipment ('kind')")
        if self.kind is not None:
            from .equipment import EQUIPMENT
            import inspect

            valid = inspect.signature(EQUIPMENT[self.kind]).parameters
            bad = sorted(set(self.params) - set(valid))
            if bad:
                raise ValueError(f"unknown params {bad} for kind {self.kind!r}; valid: {sorted(valid)}")
        return self


class AppearanceSpec(_Strict):
    """Look of one asset after the scene is built (e.g. a translucent ``body`` organ)."""

    opacity: Optional[float] = PField(None, ge=0, le=1)
    color: Optional[Vec3] = None
    visible: Optional[bool] = None

    @field_validator("color")
    @classmethod
    def _color(cls, v):
        if v is not None and not all(0 <= c <= 1 for c in v):
            raise ValueError("color components must be in [0, 1]")
        return v


class SceneSpec(_Strict):
    """Top level of a scene spec file."""

    name: str = "scene"
    description: str = ""
    units: str = "m"
    up_axis: Literal["Y", "Z"] = "Z"
    fps: float = PField(10.0, gt=0, le=1000)
    color_by: Optional[str] = None
    floor: Optional[bool] = PField(None, description="draw a floor in renders (default: for scenes in metres)")
    assets: list[AssetSpec] = PField(default_factory=list)
    risk: Optional[RiskSpec] = None
    thermal: list[ThermalSpec] = PField(default_factory=list)
    anatomy: Optional[AnatomySpec] = None
    segmentation: Optional[SegmentationSpec] = None
    appearance: dict[str, AppearanceSpec] = PField(
        default_factory=dict, description="asset name or path -> opacity/color/visible, applied last"
    )

    @field_validator("units")
    @classmethod
    def _units(cls, v):
        if v not in UNITS:
            raise ValueError(f"unknown units {v!r}; valid: {', '.join(UNITS)}")
        return v

    @model_validator(mode="after")
    def _unique(self):
        if not self.assets and self.anatomy is None and self.segmentation is None:
            raise ValueError("a scene needs 'assets' (equipment or mesh files), 'anatomy' or 'segmentation'")
        seen: dict[str, int] = {}
        for i, a in enumerate(self.assets):
            key = f"{a.group or ''}/{a.name}"
            if key in seen:
                raise ValueError(f"assets[{i}]: name {a.name!r} already used by assets[{seen[key]}] in the same group")
            seen[key] = i
        return self


# --------------------------------------------------------------------------- loading
def _line_index(text: str) -> dict[tuple, int]:
    """Map YAML locations (tuples of keys/indices) to 1-based line numbers."""
    import yaml

    out: dict[tuple, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return out

    def walk(node, loc):
        out[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                out[loc + (k.value,)] = k.start_mark.line + 1
                walk(v, loc + (k.value,))
                out[loc + (k.value,)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, loc + (i,))

    if root is not None:
        walk(root, ())
    return out


def _fmt_loc(loc: tuple) -> str:
    s = ""
    for part in loc:
        if isinstance(part, int):
            s += f"[{part}]"
        else:
            s += ("." if s else "") + str(part)
    return s or "(top level)"


def _spec_error(exc: ValidationError, source: str, lines: dict[tuple, int]) -> SpecError:
    msgs = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in ("function-after", "tagged-union"))))
        # pydantic adds union branch names (e.g. 'tuple[float, float, float]'): drop them
        where = _fmt_loc(loc)
        line = None
        probe = loc
        while probe and line is None:
            line = lines.get(probe)
            probe = probe[:-1]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            parent = loc[:-1]
            msg = f"unknown key {loc[-1]!r}" + _valid_keys(parent)
        elif err["type"] == "missing":
            msg = f"missing required key {loc[-1]!r}"
        msgs.append(f"{source}{f':{line}' if line else ''}: {where}: {msg}")
    text = msgs[0] if len(msgs) == 1 else msgs[0] + f" (and {len(msgs) - 1} more: " + "; ".join(m.split(': ', 1)[1] for m in msgs[1:4]) + ")"
    return SpecError(text)


def _valid_keys(parent: tuple) -> str:
    model = SceneSpec
    for p in parent:
        if isinstance(p, int):
            continue
        field = model.model_fields.get(p)
        if field is None:
            return ""
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        cand = [a for a in (inner or (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not cand:
            return ""
        model = cand[0]
    return f"; valid keys: {', '.join(model.model_fields)}"


def spec_from_dict(data: Any, *, source: str = "<spec>", text: str | None = None) -> SceneSpec:
    """Validate a spec given as a dict; errors name ``source`` and (with ``text``) lines."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a scene spec must be a mapping with at least 'assets', got {type(data).__name__}")
    try:
        return SceneSpec.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(exc, source, _line_index(text) if text else {}) from None


def load_spec(path: str | Path) -> SceneSpec:
    """Read and validate a YAML scene spec file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        raise SpecError(f"{path}: the spec file is empty")
    spec = spec_from_dict(data, source=str(path), text=text)
    spec._base_dir = path.parent  # type: ignore[attr-defined]
    spec._source = str(path)  # type: ignore[attr-defined]
    return spec


# --------------------------------------------------------------------------- building
def _asset_from_spec(a: AssetSpec, name: str, translate_offset: np.ndarray, base_dir: Path, scene_units: str,
                     source: str, index: int) -> Asset:
    from .equipment import equipment_asset

    tr = a.transform.to_transform()
    tr = Transform(translate=np.asarray(tr.translate) + translate_offset, rotate=tr.rotate, scale=tr.scale)
    if a.kind is not None:
        try:
            asset = equipment_asset(name, a.kind, transform=tr, color=a.color, **a.params)
        except InputError as exc:
            raise SpecError(f"{source}: assets[{index}].params: {exc}") from None
    else:
        from .io import read_mesh

        mesh_path = Path(a.mesh)
        if not mesh_path.is_absolute():
            mesh_path = base_dir / mesh_path
        try:
            mesh = read_mesh(mesh_path)
        except Twin3DError as exc:
            raise SpecError(f"{source}: assets[{index}].mesh: {exc}") from None
        if a.mesh_units and a.mesh_units != scene_units:
            mesh = mesh.scale(UNITS[a.mesh_units] / UNITS[scene_units], inplace=False)
        asset = Asset(name, mesh=mesh, transform=tr, asset_type="mesh",
                      material=Material(name=mesh_path.stem, base_color=a.color or (0.7, 0.7, 0.7)),
                      metadata={"source_file": str(mesh_path)})
    asset.material = Material(name=asset.material.name, base_color=asset.material.base_color,
                              roughness=a.material.roughness, metallic=a.material.metallic, opacity=a.material.opacity)
    if a.label:
        asset.semantic_label = a.label
    asset.metadata.update(a.metadata)
    return asset


def build_scene(spec: SceneSpec | str | Path, *, base_dir: str | Path | None = None) -> Scene:
    """Build a :class:`Scene` from a spec object or a spec file path."""
    if not isinstance(spec, SceneSpec):
        spec = load_spec(spec)
    base = Path(base_dir) if base_dir is not None else Path(getattr(spec, "_base_dir", "."))
    source = getattr(spec, "_source", "<spec>")
    scene = Scene(name=spec.name, units=spec.units, up_axis=spec.up_axis, fps=spec.fps)
    if spec.floor is not None:
        scene.metadata["floor"] = spec.floor
    if spec.description:
        scene.metadata["description"] = spec.description
    if spec.color_by is not None:
        scene.metadata["color_by"] = spec.color_by
    sensor_sources: list[tuple[int, Asset, Any]] = []
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
            asset = _asset_from_spec(a, name, offset * k, base, spec.units, source, i)
            try:
                parent.add(asset)
            except InputError as exc:
                raise SpecError(f"{source}: assets[{i}]: {exc}") from None
            if a.sensors is not None:
                sensor_sources.append((i, asset, a.sensors))
    _apply_predictors(scene, spec, sensor_sources, base, source)
    return scene


def _apply_predictors(scene: Scene, spec: SceneSpec, sensor_sources, base: Path, source: str) -> None:
    """Sensors first (they set the timeline), then the predictors that read them."""
    times = scene.times
    csv_cache: dict = {}
    for i, asset, src in sensor_sources:
        try:
            times = apply_sensor_source(asset, src, times=times, base_dir=base, csv_cache=csv_cache)
        except Twin3DError as exc:
            raise SpecError(f"{source}: assets[{i}].sensors ({asset.name}): {exc}") from None
    if spec.risk is not None:
        try:
            apply_risk_spec(scene, spec.risk, base_dir=base)
        except Twin3DError as exc:
            raise SpecError(f"{source}: risk: {exc}") from None
    if spec.thermal:
        try:
            apply_thermal_spec(scene, spec.thermal, base_dir=base)
        except SpecError as exc:
            raise SpecError(f"{source}: {exc}") from None
        except Twin3DError as exc:
            raise SpecError(f"{source}: thermal: {exc}") from None
    if spec.anatomy is not None:
        try:
            apply_anatomy_spec(spec.anatomy, scene, base_dir=base)
        except (Twin3DError, FileNotFoundError) as exc:
            raise SpecError(f"{source}: anatomy: {exc}") from None
    if spec.segmentation is not None:
        try:
            apply_segmentation_spec(spec.segmentation, scene, base_dir=base)
        except (Twin3DError, FileNotFoundError) as exc:
            raise SpecError(f"{source}: segmentation: {exc}") from None
    for name, look in spec.appearance.items():
        try:
            asset = scene.get(name)
        except KeyError as exc:
            raise SpecError(f"{source}: appearance.{name}: {exc.args[0]}") from None
        m = asset.material
        if look.opacity is not None or look.color is not None:
            asset.material = Material(name=m.name, base_color=look.color or m.base_color, roughness=m.roughness,
                                      metallic=m.metallic, opacity=m.opacity if look.opacity is None else look.opacity)
        if look.color is not None:
            asset.parts = [type(p)(p.name, tuple(look.color)) for p in asset.parts]
        if look.visible is not None:
            asset.visible = look.visible
