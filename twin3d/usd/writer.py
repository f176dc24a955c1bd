"""Scene -> USD stage: every asset's colours and fields on its own Mesh prim.

Layout (see ``docs/usd.md``): ``/World`` (Xform, kind assembly, default prim) > groups
(Xform, kind group) > assets (Xform, kind component, ``TwinAssetAPI``,
``TwinSensorAPI:<sensor>``, ``SemanticsLabelsAPI:class``, sensors) > ``geom`` (Mesh with
extent, normals, ``primvars:displayColor``, ``primvars:twin:<field>``, a ``GeomSubset``
per part). Materials are shared ``UsdPreviewSurface`` shaders under ``/World/Looks``
whose diffuse colour reads ``displayColor`` through a ``UsdPrimvarReader_float3``.

**Appearance on the mesh.** Importers such as Blender's read ``displayColor`` (and any
primvar) only from the Mesh prim itself, not inherited from an ancestor, and read only
array-valued primvars. So an asset's colour and raw fields are authored on its ``geom``
Mesh: ``primvars:displayColor`` and ``primvars:twin:<field>`` (``float[]``; one value,
``constant``, for a per-asset field), time-sampled when animated.

**Geometry stored once.** Equipment repeated on several assets (the same mesh object) is
written once, as a prototype under ``/Prototypes`` (a ``class`` prim: never drawn), and
each asset *references* it. An asset whose appearance is its own (any field) references
it *without* ``instanceable`` and authors only an ``over "geom"`` with its primvars; an
asset that looks like the prototype (no fields) becomes a native instance
(``instanceable``). ``instancing="always"`` makes every asset it can a native instance
(per-asset colours and fields then sit on the instance prim as constant primvars that
the prototype's mesh inherits -- the layout Hydra and Omniverse instance best, but one
that importers reading only the mesh do not colour); ``instancing="never"`` writes a
full mesh per asset.

**Only per-asset overrides per asset.** When every asset that references a prototype
(without ``instanceable``) has the same identity and fields -- API schemas, material name,
``twin:assetType``, ``twin:fieldNames``, ``twin:sensorNames``, semantic label, and the same
per-asset fields with the same units and ranges -- what they share is authored once, on the
prototype: those attributes and metadata on its Xform, and the *declarations* of
``primvars:displayColor`` and ``primvars:twin:<field>`` (type, ``constant`` interpolation,
``customData``) on its Mesh. Each asset then authors only what is its own: name, kind,
reference, transform, ``twin:assetId``, sensors, metadata and the *values* (time samples)
of its primvars on its ``over "geom"``. The composed stage -- what every USD reader
sees -- is the same as with everything authored per asset.

**Colours of a field** come from the field's colour table (:data:`N_COLOR_LEVELS`
samples of its colormap over the scene-wide range, then the asset's base colour for
values that are not finite; :func:`color_levels`). A per-asset field gives the mesh a
``constant`` colour per frame, taken from the table (so a stage holds at most a few
hundred distinct colour values, which the crate file stores once each); a vertex field
gives an *indexed* ``displayColor``: the table plus, per frame, one index per point.

**Speed.** The light, per-asset part of the stage (prims, metadata, scalar attributes,
time samples) is printed as usda text and parsed by Sdf in one call
(:mod:`twin3d.usd.usdatext`); the heavy arrays (points, topology, normals, colour tables,
vertex fields) are authored afterwards with Sdf specs and ``Vt.*Array.FromNumpy``. The time
samples of every per-asset field are formatted for all assets at once (float32 values in 9
significant digits), colour samples from the colour table's entries printed once each.

Animated fields become time samples, one time code per scene frame; the real data times
(seconds) are kept in the layer's ``customLayerData["twin3d"]["frameTimes"]``.
"""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._util import atomic_path
from ..colors import default_color_by, field_legend, lookup_table_colors
from ..errors import InputError, UnsupportedFormatError
from ..scene import Asset, Field, Material, Scene, make_name
from . import usdatext as ut
from .schema import ASSET_API, SENSOR_API, register_schema

__all__ = ["write_usd", "scene_to_layer", "color_levels", "USD_EXTENSIONS", "INSTANCING", "N_COLOR_LEVELS"]

USD_EXTENSIONS = (".usda", ".usdc", ".usd")
#: Valid values of ``write_usd(instancing=...)``.
INSTANCING = ("auto", "always", "never")
FORMAT_VERSION = 1
#: Colormap samples in a field's colour table; entry ``N_COLOR_LEVELS`` is the base colour
#: (shown where the field's value is not finite).
N_COLOR_LEVELS = 256

# how an asset's mesh is written
_MESH = "mesh"            # a full Mesh below the asset
_REFERENCE = "reference"  # references a prototype; an ``over "geom"`` carries its appearance
_INSTANCE = "instance"    # a native instance of a prototype (instanceable)


def _sdf():
    register_schema()
    from pxr import Gf, Sdf, Vt

    return Sdf, Vt, Gf


def color_levels(values, clim: tuple[float, float]) -> np.ndarray:
    """Indices into a field's colour table: ``values`` scaled to ``0..N_COLOR_LEVELS-1``
    over ``clim`` (clipped), and ``N_COLOR_LEVELS`` (the base colour) where not finite."""
    lo, hi = clim
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        q = np.clip(np.rint((v - lo) / (hi - lo) * (N_COLOR_LEVELS - 1)), 0, N_COLOR_LEVELS - 1)
    return np.where(np.isfinite(v), q, N_COLOR_LEVELS).astype(np.int32)


# --------------------------------------------------------------------------- Sdf helpers
class _Author:
    """Thin helpers over Sdf specs (the heavy part of the stage)."""

    def __init__(self, layer):
        self.Sdf, self.Vt, self.Gf = _sdf()
        self.layer = layer
        self.T = self.Sdf.ValueTypeNames

    def prim(self, path: str, type_name: str = "", specifier=None, kind: str | None = None):
        """The prim spec at ``path`` (created, or the one the text already declared)."""
        Sdf = self.Sdf
        spec = self.layer.GetPrimAtPath(path)
        if not spec:
            spec = Sdf.CreatePrimInLayer(self.layer, path)
            spec.specifier = Sdf.SpecifierDef if specifier is None else specifier
        elif specifier is not None:
            spec.specifier = specifier
        if type_name:
            spec.typeName = type_name
        if kind:
            spec.kind = kind
        return spec

    def attr(self, prim, name: str, type_name, value=None, *, uniform: bool = False, interpolation: str | None = None):
        var = self.Sdf.VariabilityUniform if uniform else self.Sdf.VariabilityVarying
        a = self.Sdf.AttributeSpec(prim, name, type_name, var)
        if value is not None:
            a.default = value
        if interpolation:
            a.SetInfo("interpolation", interpolation)
        return a

    def samples(self, attr_spec, values_per_frame) -> None:
        for i, v in enumerate(values_per_frame):
            self.layer.SetTimeSample(attr_spec.path, float(i), v)

    def api_schemas(self, prim, names: list[str]) -> None:
        prim.SetInfo("apiSchemas", self.Sdf.TokenListOp.Create(prependedItems=names))

    def rel(self, prim, name: str, target: str) -> None:
        r = self.Sdf.RelationshipSpec(prim, name, False)
        r.targetPathList.Prepend(self.Sdf.Path(target))

    def connect(self, attr_spec, target: str) -> None:
        attr_spec.connectionPathList.Prepend(self.Sdf.Path(target))


def _f3(vt, arr) -> object:
    return vt.Vec3fArray.FromNumpy(np.ascontiguousarray(arr, dtype=np.float32))


@dataclass
class _MeshData:
    points: np.ndarray
    counts: np.ndarray
    indices: np.ndarray
    normals: np.ndarray
    normals_interp: str
    extent: np.ndarray


def _mesh_data(mesh) -> _MeshData:
    """Triangle arrays plus normals (faceVarying with sharp edges kept, or vertex)."""
    faces = np.asarray(mesh.regular_faces if mesh.n_cells else np.zeros((0, 3), int))
    pts = np.asarray(mesh.points, dtype=np.float32)
    if "Normals" in mesh.point_data and mesh.point_data["Normals"].shape == (mesh.n_points, 3):
        normals, interp = np.asarray(mesh.point_data["Normals"], np.float32), "vertex"
    elif mesh.n_cells == 0:
        normals, interp = np.zeros((0, 3), np.float32), "vertex"
    elif mesh.n_cells > 200_000:
        # large smooth meshes (organs, scans): vertex normals
        n = mesh.compute_normals(cell_normals=False, point_normals=True, split_vertices=False,
                                 consistent_normals=False, auto_orient_normals=False)
        normals, interp = np.asarray(n.point_data["Normals"], np.float32), "vertex"
    else:
        # split at sharp edges (30 deg) so machined parts look machined; one normal per face corner
        n = mesh.compute_normals(cell_normals=False, point_normals=True, split_vertices=True,
                                 feature_angle=30.0, consistent_normals=False, auto_orient_normals=False)
        normals = np.asarray(n.point_data["Normals"], np.float32)[np.asarray(n.regular_faces).ravel()]
        interp = "faceVarying"
    ext = np.array([pts.min(0), pts.max(0)], np.float32) if len(pts) else np.zeros((2, 3), np.float32)
    return _MeshData(pts, np.full(len(faces), 3, np.int32), faces.astype(np.int32).ravel(), normals, interp, ext)


def _metadata_json(meta: dict) -> str:
    def conv(o):
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (np.floating, np.integer)):
            return o.item()
        raise TypeError(f"metadata value of type {type(o).__name__} is not JSON-serialisable")

    return json.dumps(meta, default=conv, sort_keys=True)


def _color_field(asset: Asset, color_by: str | None) -> Field | None:
    name = asset.metadata.get("color_by", color_by)
    if name and name in asset.fields:
        return asset.fields[name]
    return None


def _material_key(m: Material) -> tuple:
    return (m.base_color, m.roughness, m.metallic, m.opacity)


def _explicit_colors(mesh) -> tuple[str, np.ndarray] | None:
    """Explicit ``displayColor`` point or cell data (colours read from another tool)."""
    for interp, data, n in (("vertex", mesh.point_data, mesh.n_points), ("uniform", mesh.cell_data, mesh.n_cells)):
        if "displayColor" in data:
            rgb = np.asarray(data["displayColor"], np.float32).reshape(-1, 3)
            if len(rgb) == n:
                return interp, np.clip(rgb, 0.0, 1.0)
    return None


def _explicit_opacity(mesh) -> tuple[str, np.ndarray] | None:
    for interp, data, n in (("vertex", mesh.point_data, mesh.n_points), ("uniform", mesh.cell_data, mesh.n_cells)):
        if "displayOpacity" in data:
            a = np.asarray(data["displayOpacity"], np.float32).reshape(-1)
            if len(a) == n:
                return interp, np.clip(a, 0.0, 1.0)
    return None


# --------------------------------------------------------------------------- writer
class _Writer:
    def __init__(self, scene: Scene, layer, color_by: str | None, instancing: str):
        if instancing not in INSTANCING:
            raise InputError(f"instancing must be one of {', '.join(map(repr, INSTANCING))}, got {instancing!r}")
        self.a = _Author(layer)
        self.scene = scene
        self.color_by = default_color_by(scene) if color_by is None else (color_by or None)
        self.instancing = instancing
        self.materials: dict[tuple, str] = {}
        self._mesh_cache: dict[int, _MeshData] = {}
        self.prototypes: dict[tuple, str] = {}  # prototype key -> path, in the order of first use
        self._authored: set[str] = set()  # prototypes whose heavy specs are queued
        self._plans: dict[int, tuple] = {}  # id(asset) -> (mode, colour field, prototype path or None)
        self.shared: dict[str, tuple] = {}  # prototype path -> (asset, colour field) whose shared part it carries
        self.jobs: list = []  # the heavy specs, authored once the text is parsed
        self.times = scene.times
        self.n_frames = 1 if self.times is None else int(self.times.size)
        self._mesh_users: dict[int, int] = {}
        fields_by_name: dict[str, list] = {}
        for _, asset in scene.walk():
            if asset.mesh is not None:
                self._mesh_users[id(asset.mesh)] = self._mesh_users.get(id(asset.mesh), 0) + 1
            for name, f in asset.fields.items():
                fields_by_name.setdefault(name, []).append(f)
        # one colour scale per field for the whole scene (the same as the VTK colour bar)
        self.legends = {name: field_legend(fs, name) for name, fs in fields_by_name.items()}
        # per-asset fields, for every asset at once: colour-table entries (one vectorised call
        # per field) and the usda text of the time samples (one NumPy cast per field and length)
        self._levels: dict[int, np.ndarray] = {}
        self._samples: dict[int, str] = {}
        for name, fs in fields_by_name.items():
            fs = [f for f in fs if f.association == "asset"]
            if not fs:
                continue
            vals = [np.atleast_1d(f.values) for f in fs]
            levels = color_levels(np.concatenate(vals), self.legends[name].clim)
            start = 0
            by_length: dict[int, list[Field]] = {}
            for f, v in zip(fs, vals):
                self._levels[id(f)] = levels[start:start + v.size]
                start += v.size
                if f.animated:
                    by_length.setdefault(v.size, []).append(f)
            for group in by_length.values():
                texts = ut.float32_array_samples(np.stack([f.values for f in group]))
                self._samples.update(zip(map(id, group), texts))
        self._tables: dict[tuple, tuple] = {}
        self._meta_text: dict[tuple, str] = {}

    # ------------------------------------------------------------------ shared pieces
    def table(self, field: Field, base) -> tuple[object, list[str]]:
        """``field``'s colour table (:func:`color_levels` indexes it) for an asset of base colour
        ``base``: a ``Vt.Vec3fArray``, and each entry as the usda text of a one-colour
        ``color3f[]`` value, ``[(r, g, b)]``."""
        colormap = self.legends[field.name].colormap
        key = (colormap, tuple(base))
        if key not in self._tables:
            rgb = np.vstack([lookup_table_colors(colormap, N_COLOR_LEVELS), np.asarray(base, np.float32)[None]])
            rgb = rgb.astype(np.float32)
            numbers = ut.float32_texts(rgb)  # each float32 in as few digits as read back exactly
            texts = [f"[({r}, {g}, {b})]" for r, g, b in zip(numbers[0::3], numbers[1::3], numbers[2::3])]
            self._tables[key] = (_f3(self.a.Vt, rgb), texts)
        return self._tables[key]

    def color_custom(self, field: Field) -> dict:
        """``customData`` of a field-derived ``displayColor`` (readers recognise it by ``colorBy``)."""
        legend = self.legends[field.name]
        lo, hi = legend.clim
        return {"twin3d": {"colorBy": field.name, "colormap": legend.colormap, "clim": [float(lo), float(hi)]}}

    @staticmethod
    def field_custom(f: Field) -> dict:
        custom = {"unit": f.unit, "association": f.association}
        if f.colormap:
            custom["colormap"] = f.colormap
        if f.clim:
            custom["clim"] = [float(f.clim[0]), float(f.clim[1])]
        if f.description:
            custom["description"] = f.description
        return custom

    def plan(self, asset: Asset) -> str:
        """How ``asset``'s mesh is written: a full mesh, a reference with an over, or a native instance."""
        if self.instancing == "never":
            return _MESH
        has_vertex = any(f.association == "vertex" for f in asset.fields.values())
        can_instance = not has_vertex and not asset.children  # an instance takes no local opinions below it
        if self.instancing == "always":
            return _INSTANCE if can_instance else _REFERENCE
        if self._mesh_users.get(id(asset.mesh), 0) < 2:
            return _MESH
        return _REFERENCE if asset.fields or not can_instance else _INSTANCE

    @staticmethod
    def identity(asset: Asset, color_field: Field | None) -> tuple:
        """What :meth:`shared_text` prints for ``asset``: equal identities, equal text."""
        return (asset.asset_type, asset.semantic_label, asset.material.name, tuple(sorted(asset.fields)),
                tuple(sorted(asset.sensors)),
                color_field.name if color_field is not None and color_field.association == "asset" else None,
                tuple((f.name, f.unit, f.colormap, f.clim, f.description)
                      for f in asset.fields.values() if f.association == "asset"))

    def plan_all(self) -> None:
        """Every asset's layout (:meth:`plan`), its prototype, and which prototypes carry what
        their assets share (all their users reference them, with one :meth:`identity`)."""
        identities: dict[str, set] = {}
        for _, asset in self.scene.walk():
            if asset.mesh is None:
                continue
            mode = self.plan(asset)
            color_field = _color_field(asset, self.color_by)
            proto = None
            if mode != _MESH:
                parts = tuple((p.name, p.color) for p in asset.parts)
                key = (id(asset.mesh), parts, _material_key(asset.material), color_field is not None)
                proto = self.prototypes.get(key)
                if proto is None:
                    proto = self.prototypes[key] = f"/Prototypes/{make_name(asset.asset_type or 'mesh')}_{len(self.prototypes)}"
                    self.shared[proto] = (asset, color_field)
                identities.setdefault(proto, set()).add(
                    self.identity(asset, color_field) if mode == _REFERENCE else None)
            self._plans[id(asset)] = (mode, color_field, proto)
        for proto, ids in identities.items():
            if len(ids) > 1 or None in ids:
                del self.shared[proto]

    # ------------------------------------------------------------------ text (light specs)
    def _meta(self, key: tuple, custom: dict) -> str:
        text = self._meta_text.get(key)
        if text is None:
            text = self._meta_text[key] = f'(interpolation = "constant"; customData = {ut.dictionary(custom)})'
        return text

    def _color_meta(self, field: Field) -> str:
        return self._meta(("color", field.name), self.color_custom(field))

    def _field_meta(self, f: Field) -> str:
        custom = self.field_custom(f)
        return self._meta(("field", f.name, repr(custom)), custom)

    def appearance_text(self, out: list[str], asset: Asset, color_field: Field | None, declared: bool) -> None:
        """An asset's own colour and per-asset fields: constant array primvars, time-sampled
        when animated (importers such as Blender read only array-valued primvars). With
        ``declared``, their type, interpolation and customData are on the prototype's mesh
        (:meth:`shared_text`) and only the values are printed."""
        if color_field is not None and color_field.association == "asset":
            _, texts = self.table(color_field, asset.material.base_color)
            levels = self._levels[id(color_field)]
            meta = "" if declared else " " + self._color_meta(color_field)
            if color_field.animated:
                samples = ut.time_samples_text([texts[q] for q in levels.tolist()])
                if not declared:
                    out.append(f"color3f[] primvars:displayColor{meta}\n")
                out.append(f"color3f[] primvars:displayColor.timeSamples = {samples}\n")
            else:
                out.append(f"color3f[] primvars:displayColor = {texts[int(levels[0])]}{meta}\n")
        for f in asset.fields.values():
            if f.association != "asset":
                continue
            meta = "" if declared else " " + self._field_meta(f)
            name = f"float[] primvars:twin:{f.name}"
            if f.animated:
                if not declared:
                    out.append(f"{name}{meta}\n")
                out.append(f"{name}.timeSamples = {self._samples[id(f)]}\n")
            else:
                out.append(f"{name} = [{ut.float32_texts([f.values])[0]}]{meta}\n")

    def xform_text(self, out: list[str], asset: Asset) -> None:
        tr = asset.transform
        if tr.is_identity:
            return
        if tr.matrix_override is not None:
            out.append(f"matrix4d xformOp:transform = {ut.matrix(tr.matrix.T)}\n")
            order = '["xformOp:transform"]'
        else:
            ops = []
            if any(tr.translate):
                x, y, z = tr.translate
                out.append(f"double3 xformOp:translate = ({x!r}, {y!r}, {z!r})\n")
                ops.append('"xformOp:translate"')
            if any(tr.rotate):
                x, y, z = tr.rotate
                out.append(f"float3 xformOp:rotateXYZ = ({x!r}, {y!r}, {z!r})\n")
                ops.append('"xformOp:rotateXYZ"')
            if tr.scale != (1.0, 1.0, 1.0):
                x, y, z = tr.scale
                out.append(f"float3 xformOp:scale = ({x!r}, {y!r}, {z!r})\n")
                ops.append('"xformOp:scale"')
            order = "[" + ", ".join(ops) + "]"
        out.append(f"uniform token[] xformOpOrder = {order}\n")

    @staticmethod
    def _apis(asset: Asset, has_mesh: bool) -> list[str]:
        apis = [ASSET_API] if has_mesh or asset.sensors else []
        apis += [f"{SENSOR_API}:{s}" for s in sorted(asset.sensors)]
        if asset.semantic_label:
            apis.append("SemanticsLabelsAPI:class")
        return apis

    @staticmethod
    def identity_text(asset: Asset) -> str:
        """``twin:assetType``, ``twin:fieldNames`` and ``twin:sensorNames`` of an asset with a mesh or sensors."""
        text = f"uniform token twin:assetType = {ut.string(asset.asset_type)}\n"
        if asset.fields:
            text += f"uniform token[] twin:fieldNames = {ut.string_array(sorted(asset.fields))}\n"
        if asset.sensors:
            text += f"uniform token[] twin:sensorNames = {ut.string_array(sorted(asset.sensors))}\n"
        return text

    def shared_text(self, out: list[str], path: str) -> None:
        """The prototype at ``path`` (its geometry comes with the heavy specs) and, when its
        assets share it (:meth:`plan_all`), what they share: API schemas, material name,
        identity attributes, semantic label and the declarations of their primvars."""
        out.append(f"def Xform {ut.string(path.rsplit('/', 1)[1])}")
        if path not in self.shared:
            out.append("\n{\ndef Mesh \"geom\"\n{\n}\n}\n")
            return
        asset, color_field = self.shared[path]
        out.append(f" (\nprepend apiSchemas = {ut.string_array(self._apis(asset, True))}\n"
                   f"customData = {ut.dictionary({'twin3d': {'material': asset.material.name}})}\n)\n{{\n")
        out.append(self.identity_text(asset))
        if asset.semantic_label:
            out.append(f"token[] semantics:labels:class = {ut.string_array([asset.semantic_label])}\n")
        out.append('def Mesh "geom"\n{\n')
        if color_field is not None and color_field.association == "asset":
            out.append(f"color3f[] primvars:displayColor {self._color_meta(color_field)}\n")
        for f in asset.fields.values():
            if f.association == "asset":
                out.append(f"float[] primvars:twin:{f.name} {self._field_meta(f)}\n")
        out.append("}\n}\n")

    def asset_text(self, out: list[str], path: str, asset: Asset, parent_kind: str) -> None:
        has_mesh = asset.mesh is not None
        kind = ("component" if has_mesh else "group") if parent_kind in ("assembly", "group") else None
        mode, color_field, proto = self._plans[id(asset)] if has_mesh else (None, None, None)
        shared = proto in self.shared

        meta = []
        if kind:
            meta.append(f'kind = "{kind}"')
        if mode == _INSTANCE:
            meta.append("instanceable = true")
        if proto is not None:
            self.prototype(proto, asset, colored=color_field is not None)
            meta.append(f"prepend references = <{proto}>")
        if not shared:
            apis = self._apis(asset, has_mesh)
            if apis:
                meta.append(f"prepend apiSchemas = {ut.string_array(apis)}")
        custom = {} if shared else {"material": asset.material.name}
        if asset.metadata:
            custom["metadata"] = _metadata_json(asset.metadata)
        if custom:
            meta.append(f"customData = {ut.dictionary({'twin3d': custom})}")
        out.append(f"def Xform {ut.string(asset.name)} (\n" + "\n".join(meta) + "\n)\n{\n")

        if not asset.visible:
            out.append('token visibility = "invisible"\n')
        self.xform_text(out, asset)
        if has_mesh or asset.sensors:
            if not shared:
                out.append(self.identity_text(asset))
            out.append(f"uniform string twin:assetId = {ut.string(asset.metadata.get('asset_id', asset.name))}\n")
        for sname, series in sorted(asset.sensors.items()):
            name = f"double twin:sensor:{sname}:value"
            if series.animated:
                out.append(f"{name}.timeSamples = {ut.time_samples(series.values.tolist())}\n")
            else:
                out.append(f"{name} = {ut.number(series.values)}\n")
            out.append(f"uniform string twin:sensor:{sname}:unit = {ut.string(series.unit)}\n"
                       f"uniform string twin:sensor:{sname}:quantity = {ut.string(sname)}\n")
        if asset.semantic_label and not shared:
            out.append(f"token[] semantics:labels:class = {ut.string_array([asset.semantic_label])}\n")

        if mode == _INSTANCE:
            # on the instance prim: constant primvars the prototype's mesh inherits
            self.appearance_text(out, asset, color_field, declared=False)
        elif mode is not None:
            geom = f"{path}/geom"
            if mode == _MESH:
                out.append('def Mesh "geom" (\nprepend apiSchemas = ["MaterialBindingAPI"]\n)\n{\n')
                self.jobs.append(lambda: self.mesh(geom, asset, base_colors=color_field is None))
            else:
                out.append('over "geom"\n{\n')
            if any(f.association == "vertex" for f in asset.fields.values()):
                self.jobs.append(lambda: self.vertex_appearance(geom, asset, color_field))
            self.appearance_text(out, asset, color_field, declared=shared)
            out.append("}\n")
        for child in asset.children:
            self.asset_text(out, f"{path}/{child.name}", child, kind or "")
        out.append("}\n")

    def text(self) -> str:
        """The light part of the stage: ``/World``, every asset and the prototypes, as usda text."""
        scene = self.scene
        self.plan_all()
        world = f'def Xform "World" (\nkind = "assembly"\ndoc = {ut.string(f"twin3d scene {scene.name!r}")}\n)\n{{\n'
        out = [ut.HEADER, world]
        for child in scene.root.children:
            self.asset_text(out, f"/World/{child.name}", child, "assembly")
        out.append("}\n")
        if self.prototypes:
            out.append('class Scope "Prototypes"\n{\n')
            for proto in self.prototypes.values():
                self.shared_text(out, proto)
            out.append("}\n")
        return "".join(out)

    # ------------------------------------------------------------------ Sdf (heavy specs)
    def material(self, mat: Material) -> str:
        key = (mat.roughness, mat.metallic, mat.opacity)
        if key in self.materials:
            return self.materials[key]
        a, T = self.a, self.a.T
        if not self.materials:
            a.prim("/World/Looks", "Scope")
        name = f"/World/Looks/twin_{len(self.materials)}"
        m = a.prim(name, "Material")
        out = a.attr(m, "outputs:surface", T.Token)
        surf = a.prim(f"{name}/PreviewSurface", "Shader")
        a.attr(surf, "info:id", T.Token, "UsdPreviewSurface", uniform=True)
        diffuse = a.attr(surf, "inputs:diffuseColor", T.Color3f, a.Gf.Vec3f(0.7, 0.7, 0.7))
        a.attr(surf, "inputs:roughness", T.Float, float(mat.roughness))
        a.attr(surf, "inputs:metallic", T.Float, float(mat.metallic))
        a.attr(surf, "inputs:opacity", T.Float, float(mat.opacity))
        a.attr(surf, "outputs:surface", T.Token)
        reader = a.prim(f"{name}/DisplayColorReader", "Shader")
        a.attr(reader, "info:id", T.Token, "UsdPrimvarReader_float3", uniform=True)
        a.attr(reader, "inputs:varname", T.String, "displayColor")
        a.attr(reader, "inputs:fallback", T.Float3, a.Gf.Vec3f(0.7, 0.7, 0.7))
        a.attr(reader, "outputs:result", T.Float3)
        a.connect(diffuse, f"{name}/DisplayColorReader.outputs:result")
        a.connect(out, f"{name}/PreviewSurface.outputs:surface")
        self.materials[key] = name
        return name

    def vertex_appearance(self, path: str, asset: Asset, color_field: Field | None) -> None:
        """Vertex fields and a vertex colour field on the mesh at ``path`` (its own, or the
        ``over`` of a referenced prototype): the colours indexed -- the field's colour table
        and, per frame, one index per point."""
        a, T, Vt = self.a, self.a.T, self.a.Vt
        prim = a.layer.GetPrimAtPath(path)
        if color_field is not None and color_field.association == "vertex":
            vt_table, _ = self.table(color_field, asset.material.base_color)
            spec = a.attr(prim, "primvars:displayColor", T.Color3fArray, vt_table, interpolation="vertex")
            custom = self.color_custom(color_field)
            custom["twin3d"]["clim"] = Vt.DoubleArray(custom["twin3d"]["clim"])
            spec.customData = custom
            q = color_levels(color_field.values, self.legends[color_field.name].clim)
            idx = a.attr(prim, "primvars:displayColor:indices", T.IntArray)
            idx.default = Vt.IntArray.FromNumpy(np.ascontiguousarray(q[0] if color_field.animated else q))
            if color_field.animated:
                a.samples(idx, [Vt.IntArray.FromNumpy(np.ascontiguousarray(row)) for row in q])
        for f in asset.fields.values():
            if f.association != "vertex":
                continue
            spec = a.attr(prim, f"primvars:twin:{f.name}", T.FloatArray,
                          None if f.animated else Vt.FloatArray.FromNumpy(f.values), interpolation="vertex")
            if f.animated:
                a.samples(spec, [Vt.FloatArray.FromNumpy(np.ascontiguousarray(v)) for v in f.values])
            custom = self.field_custom(f)
            if "clim" in custom:
                custom["clim"] = Vt.DoubleArray(custom["clim"])
            spec.customData = custom

    def base_colors(self, prim, asset: Asset) -> None:
        """``displayColor`` without a field: explicit colours, else per part (uniform), else the material's."""
        a, T, Vt = self.a, self.a.T, self.a.Vt
        explicit = _explicit_colors(asset.mesh)
        if explicit is not None:
            a.attr(prim, "primvars:displayColor", T.Color3fArray, _f3(Vt, explicit[1]), interpolation=explicit[0])
            return
        face_cols = asset.face_colors()
        if face_cols is not None and not np.allclose(face_cols, face_cols[:1]):
            a.attr(prim, "primvars:displayColor", T.Color3fArray, _f3(Vt, face_cols), interpolation="uniform")
        else:
            base = face_cols[0] if face_cols is not None else asset.material.base_color
            a.attr(prim, "primvars:displayColor", T.Color3fArray, _f3(Vt, np.asarray(base)[None]),
                   interpolation="constant")

    def mesh(self, path: str, asset: Asset, *, base_colors: bool) -> None:
        """The geometry of a Mesh at ``path`` (an asset's own, or a prototype's): points,
        topology, extent, normals, opacity, material, parts, and -- with ``base_colors``,
        when no field colours it -- its explicit, part or material colours."""
        a, T, Vt = self.a, self.a.T, self.a.Vt
        md = self._mesh_cache.get(id(asset.mesh))
        if md is None:  # shared meshes (repeated equipment) are converted once
            md = self._mesh_cache[id(asset.mesh)] = _mesh_data(asset.mesh)
        m = a.prim(path, "Mesh")
        a.api_schemas(m, ["MaterialBindingAPI"])
        a.attr(m, "points", T.Point3fArray, _f3(Vt, md.points))
        a.attr(m, "faceVertexCounts", T.IntArray, Vt.IntArray.FromNumpy(md.counts))
        a.attr(m, "faceVertexIndices", T.IntArray, Vt.IntArray.FromNumpy(md.indices))
        a.attr(m, "extent", T.Float3Array, _f3(Vt, md.extent))
        a.attr(m, "normals", T.Normal3fArray, _f3(Vt, md.normals), interpolation=md.normals_interp)
        a.attr(m, "subdivisionScheme", T.Token, "none", uniform=True)
        opacity = _explicit_opacity(asset.mesh)
        if opacity is not None:
            a.attr(m, "primvars:displayOpacity", T.FloatArray,
                   Vt.FloatArray.FromNumpy(opacity[1] * np.float32(asset.material.opacity)), interpolation=opacity[0])
        elif asset.material.opacity < 1.0:
            a.attr(m, "primvars:displayOpacity", T.FloatArray, Vt.FloatArray([asset.material.opacity]),
                   interpolation="constant")
        if base_colors:
            self.base_colors(m, asset)
        a.rel(m, "material:binding", self.material(asset.material))
        # parts as face subsets
        if asset.parts and "part_id" in asset.mesh.cell_data:
            pid = np.asarray(asset.mesh.cell_data["part_id"])
            for i, part in enumerate(asset.parts):
                faces = np.flatnonzero(pid == i).astype(np.int32)
                if faces.size == 0:
                    continue
                s = a.prim(f"{path}/{part.name}", "GeomSubset")
                a.attr(s, "elementType", T.Token, "face", uniform=True)
                a.attr(s, "familyName", T.Token, "part", uniform=True)
                a.attr(s, "indices", T.IntArray, Vt.IntArray.FromNumpy(faces))
                if part.color is not None:
                    s.customData = {"twin3d": {"color": a.Gf.Vec3f(*part.color)}}
            a.attr(m, "subsetFamily:part:familyType", T.Token, "partition", uniform=True)

    def prototype(self, path: str, asset: Asset, *, colored: bool) -> None:
        """Queue the heavy specs of the prototype at ``path`` (declared by :meth:`text`), once:
        ``asset``'s geometry, parts and material, and its base colours unless a field colours
        its assets (``colored``)."""
        if path in self._authored:
            return
        if not self._authored:
            self.jobs.append(lambda: self.a.prim("/Prototypes", "Scope", specifier=self.a.Sdf.SpecifierClass))
        self._authored.add(path)

        def author():
            self.a.prim(path, "Xform")
            self.mesh(f"{path}/geom", asset, base_colors=not colored)

        self.jobs.append(author)

    # ------------------------------------------------------------------ the stage
    def write(self) -> None:
        a, Vt = self.a, self.a.Vt
        scene, layer = self.scene, self.a.layer
        if not layer.ImportFromString(self.text()):
            raise OSError("USD could not parse the stage text twin3d generated")
        layer.defaultPrim = "World"
        fps = float(scene.fps)
        for k, v in {"upAxis": scene.up_axis, "metersPerUnit": float(scene.meters_per_unit),
                     "timeCodesPerSecond": fps, "framesPerSecond": fps}.items():
            layer.pseudoRoot.SetInfo(k, v)
        if self.times is not None:
            layer.startTimeCode = 0.0
            layer.endTimeCode = float(self.n_frames - 1)
        data = {"version": FORMAT_VERSION, "sceneName": scene.name, "units": scene.units}
        if self.times is not None:
            data["frameTimes"] = Vt.DoubleArray(self.times.tolist())
        if self.color_by:
            data["colorBy"] = self.color_by
        if scene.metadata:
            data["metadata"] = _metadata_json(scene.metadata)
        layer.customLayerData = {"twin3d": data}
        jobs, self.jobs = self.jobs, []  # the jobs refer to self: no cycle left once they ran
        with a.Sdf.ChangeBlock():
            for job in jobs:
                job()


@contextmanager
def _cyclic_gc_paused():
    """Python's cyclic garbage collector paused (and restored as it was): authoring makes
    hundreds of thousands of short-lived strings and lists but no reference cycles, and the
    collector's passes over a large scene's objects cost about a sixth of the text's time.
    Reference counting still frees everything as it goes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def scene_to_layer(scene: Scene, *, color_by: str | None = None, instancing: str = "auto", fmt: str = "usdc"):
    """Author ``scene`` into a new anonymous ``Sdf.Layer`` (``fmt`` ``usda``/``usdc``)."""
    Sdf, _, _ = _sdf()
    layer = Sdf.Layer.CreateAnonymous(f"twin3d.{fmt}")
    with _cyclic_gc_paused():
        _Writer(scene, layer, color_by, instancing).write()
    return layer


def write_usd(scene: Scene, path: str | Path, *, color_by: str | None = None, instancing: str = "auto") -> Path:
    """Write ``scene`` to a USD file, atomically.

    Parameters
    ----------
    scene
        The scene.
    path
        ``.usdc`` (binary crate, best for large data), ``.usda`` (text) or ``.usd``
        (crate).
    color_by
        Field that drives ``displayColor`` (default: the scene's ``color_by``
        metadata, else ``risk``, else ``temperature``); ``""`` for part colors only.
    instancing
        ``"auto"`` (default): equipment repeated on several assets is stored once, as a
        prototype each asset references; assets with their own fields reference it
        without ``instanceable`` and carry their colours and fields on their own Mesh
        prim (``over "geom"``); assets without fields become native instances.
        ``"always"``: native instances wherever possible (per-asset colours and fields
        inherited from the instance prim). ``"never"``: a full mesh per asset.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in USD_EXTENSIONS:
        raise UnsupportedFormatError(f"cannot write USD to {path}: unsupported extension {ext!r}; use one of {', '.join(USD_EXTENSIONS)}")
    fmt = "usda" if ext == ".usda" else "usdc"
    layer = scene_to_layer(scene, color_by=color_by, instancing=instancing, fmt=fmt)
    with atomic_path(path) as tmp:
        if not layer.Export(str(tmp)):
            raise OSError(f"USD could not write {path}")
    return path
