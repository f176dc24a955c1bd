"""Scene -> USD stage, authored at the Sdf level for speed.

Layout (see DESIGN.md):

``/World`` (Xform, kind assembly, default prim) > groups (Xform, kind group) >
assets (Xform, kind component, ``TwinAssetAPI``, ``TwinSensorAPI:<sensor>``,
``SemanticsLabelsAPI:class``) > ``geom`` (Mesh with extent, normals,
``primvars:displayColor``, ``primvars:twin:<field>``, ``GeomSubset`` per part).
Materials are shared ``UsdPreviewSurface`` shaders under ``/World/Looks`` whose
diffuse color reads ``displayColor`` through a ``UsdPrimvarReader_float3``.

Repeated geometry (the same mesh object on several assets without per-vertex
fields) is written once as a prototype under ``/Prototypes`` (a ``class`` prim,
not rendered) and referenced by *instanceable* asset prims; their per-asset
colors and fields are constant primvars on the asset prim, inherited by the mesh.

Animated fields become time samples, one time code per scene frame; the real data
times (seconds) are kept in the layer's ``customLayerData["twin3d"]["frameTimes"]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._util import atomic_path
from ..colors import default_color_by, field_legend, lookup_table_colors, map_values
from ..errors import InputError, UnsupportedFormatError
from ..scene import Asset, Field, Material, Scene
from .schema import ASSET_API, SENSOR_API, register_schema

__all__ = ["write_usd", "scene_to_layer", "USD_EXTENSIONS"]

USD_EXTENSIONS = (".usda", ".usdc", ".usd")
FORMAT_VERSION = 1
N_COLOR_LEVELS = 256


def _sdf():
    register_schema()
    from pxr import Gf, Sdf, Vt

    return Sdf, Vt, Gf


# --------------------------------------------------------------------------- helpers
class _Author:
    """Thin helpers over Sdf specs."""

    def __init__(self, layer):
        self.Sdf, self.Vt, self.Gf = _sdf()
        self.layer = layer
        self.T = self.Sdf.ValueTypeNames

    def prim(self, path: str, type_name: str = "", specifier=None, kind: str | None = None):
        Sdf = self.Sdf
        spec = Sdf.CreatePrimInLayer(self.layer, path)
        spec.specifier = Sdf.SpecifierDef if specifier is None else specifier
        if type_name:
            spec.typeName = type_name
        if kind:
            spec.kind = kind
        return spec

    def attr(self, prim, name: str, type_name, value=None, *, uniform: bool = False, interpolation: str | None = None,
             custom: bool = False):
        Sdf = self.Sdf
        var = Sdf.VariabilityUniform if uniform else Sdf.VariabilityVarying
        a = Sdf.AttributeSpec(prim, name, type_name, var, custom)
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


# --------------------------------------------------------------------------- writer
class _Writer:
    def __init__(self, scene: Scene, layer, color_by: str | None, instancing: str):
        self.a = _Author(layer)
        self.scene = scene
        self.color_by = default_color_by(scene) if color_by is None else (color_by or None)
        if instancing not in ("auto", "always", "never"):
            raise InputError(f"instancing must be 'auto', 'always' or 'never', got {instancing!r}")
        self.instancing = instancing
        self.materials: dict[tuple, str] = {}
        self._mesh_cache: dict[int, _MeshData] = {}
        self.prototypes: dict[tuple, str] = {}
        self.times = scene.times
        self.n_frames = 1 if self.times is None else int(self.times.size)
        self._mesh_users: dict[int, int] = {}
        fields_by_name: dict[str, list] = {}
        for _, asset in scene.walk():
            if asset.mesh is not None:
                self._mesh_users[id(asset.mesh)] = self._mesh_users.get(id(asset.mesh), 0) + 1
            for name, f in asset.fields.items():
                fields_by_name.setdefault(name, []).append(f)
        # one color scale per field for the whole scene (the same as the VTK color bar)
        self.legends = {name: field_legend(fs, name) for name, fs in fields_by_name.items()}
        # per-asset fields: map every asset's values to colors in one vectorised call per field
        self._asset_colors: dict[int, np.ndarray] = {}
        for name, fs in fields_by_name.items():
            fs = [f for f in fs if f.association == "asset"]
            if not fs:
                continue
            legend = self.legends[name]
            vals = [np.atleast_1d(f.values) for f in fs]
            cols = map_values(np.concatenate(vals), legend.colormap, legend.clim)
            start = 0
            for f, v in zip(fs, vals):
                self._asset_colors[id(f)] = cols[start:start + v.size]
                start += v.size

    # -- materials
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

    # -- transforms
    def xform_ops(self, prim, asset: Asset) -> None:
        a, T, tr = self.a, self.a.T, asset.transform
        if tr.is_identity:
            return
        if tr.matrix_override is not None:
            a.attr(prim, "xformOp:transform", T.Matrix4d, a.Gf.Matrix4d(tr.matrix.T.tolist()))
            order = ["xformOp:transform"]
        else:
            order = []
            if any(tr.translate):
                a.attr(prim, "xformOp:translate", T.Double3, a.Gf.Vec3d(*tr.translate))
                order.append("xformOp:translate")
            if any(tr.rotate):
                a.attr(prim, "xformOp:rotateXYZ", T.Float3, a.Gf.Vec3f(*tr.rotate))
                order.append("xformOp:rotateXYZ")
            if tr.scale != (1.0, 1.0, 1.0):
                a.attr(prim, "xformOp:scale", T.Float3, a.Gf.Vec3f(*tr.scale))
                order.append("xformOp:scale")
        a.attr(prim, "xformOpOrder", T.TokenArray, a.Vt.TokenArray(order), uniform=True)

    # -- fields as primvars
    def field_primvar(self, prim, f: Field) -> None:
        a, T, Vt = self.a, self.a.T, self.a.Vt
        name = f"primvars:twin:{f.name}"
        if f.association == "asset":
            spec = a.attr(prim, name, T.Float, None if f.animated else float(f.values), interpolation="constant")
            if f.animated:
                a.samples(spec, [float(v) for v in f.values])
        else:
            spec = a.attr(prim, name, T.FloatArray, None if f.animated else Vt.FloatArray.FromNumpy(f.values),
                          interpolation="vertex")
            if f.animated:
                a.samples(spec, [Vt.FloatArray.FromNumpy(np.ascontiguousarray(v)) for v in f.values])
        custom = {"unit": f.unit, "association": f.association}
        if f.colormap:
            custom["colormap"] = f.colormap
        if f.clim:
            custom["clim"] = a.Vt.DoubleArray(list(f.clim))
        if f.description:
            custom["description"] = f.description
        spec.customData = custom

    def display_color(self, prim, asset: Asset, field: Field | None) -> None:
        """displayColor: from the color field if any, else per-part (uniform) or material color."""
        a, T, Vt = self.a, self.a.T, self.a.Vt
        if field is not None:
            legend = self.legends[field.name]
            cmap, clim = legend.colormap, legend.clim
            if field.association == "asset":
                spec = a.attr(prim, "primvars:displayColor", T.Color3fArray, interpolation="constant")
                cols = self._asset_colors[id(field)]
                if field.animated:
                    a.samples(spec, [_f3(Vt, c[None]) for c in cols])
                else:
                    spec.default = _f3(Vt, cols[:1])
            elif not field.animated:
                spec = a.attr(prim, "primvars:displayColor", T.Color3fArray, _f3(Vt, map_values(field.values, cmap, clim)),
                              interpolation="vertex")
            else:
                # indexed: a static color table and per-frame indices (far smaller than colors per frame)
                table = lookup_table_colors(cmap, N_COLOR_LEVELS)
                spec = a.attr(prim, "primvars:displayColor", T.Color3fArray, _f3(Vt, table), interpolation="vertex")
                idx_spec = a.attr(prim, "primvars:displayColor:indices", T.IntArray)
                lo, hi = clim
                q = np.clip(np.rint((field.values - lo) / (hi - lo) * (N_COLOR_LEVELS - 1)), 0, N_COLOR_LEVELS - 1)
                q = np.where(np.isfinite(field.values), q, N_COLOR_LEVELS // 2).astype(np.int32)
                idx_spec.default = Vt.IntArray.FromNumpy(np.ascontiguousarray(q[0]))
                a.samples(idx_spec, [Vt.IntArray.FromNumpy(np.ascontiguousarray(row)) for row in q])
            spec.customData = {"twin3d": {"colorBy": field.name, "colormap": cmap,
                                          "clim": a.Vt.DoubleArray([float(clim[0]), float(clim[1])])}}
            return
        face_cols = asset.face_colors()
        if face_cols is not None and not np.allclose(face_cols, face_cols[:1]):
            a.attr(prim, "primvars:displayColor", T.Color3fArray, _f3(Vt, face_cols), interpolation="uniform")
        else:
            base = face_cols[0] if face_cols is not None else asset.material.base_color
            a.attr(prim, "primvars:displayColor", T.Color3fArray, _f3(Vt, np.asarray(base)[None]),
                   interpolation="constant")

    def mesh(self, path: str, asset: Asset, color_field: Field | None, *, write_colors: bool = True,
             write_fields: bool = True) -> None:
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
        if asset.material.opacity < 1.0:
            a.attr(m, "primvars:displayOpacity", T.FloatArray, Vt.FloatArray([asset.material.opacity]),
                   interpolation="constant")
        if write_colors:
            self.display_color(m, asset, color_field)
        if write_fields:
            for f in asset.fields.values():
                self.field_primvar(m, f)
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

    # -- tree
    def asset_prim(self, path: str, asset: Asset, parent_kind: str) -> None:
        a, T, Vt = self.a, self.a.T, self.a.Vt
        is_component = asset.mesh is not None and parent_kind in ("assembly", "group")
        kind = "component" if is_component else ("group" if asset.mesh is None and parent_kind in ("assembly", "group") else None)
        prim = a.prim(path, "Xform", kind=kind)
        if not asset.visible:
            a.attr(prim, "visibility", T.Token, "invisible")
        self.xform_ops(prim, asset)
        apis = []
        if asset.mesh is not None or asset.sensors:
            apis.append(ASSET_API)
            a.attr(prim, "twin:assetType", T.Token, asset.asset_type, uniform=True)
            a.attr(prim, "twin:assetId", T.String, str(asset.metadata.get("asset_id", asset.name)), uniform=True)
            if asset.fields:
                a.attr(prim, "twin:fieldNames", T.TokenArray, Vt.TokenArray(sorted(asset.fields)), uniform=True)
            if asset.sensors:
                a.attr(prim, "twin:sensorNames", T.TokenArray, Vt.TokenArray(sorted(asset.sensors)), uniform=True)
        for sname, series in sorted(asset.sensors.items()):
            apis.append(f"{SENSOR_API}:{sname}")
            v = a.attr(prim, f"twin:sensor:{sname}:value", T.Double)
            if series.animated:
                a.samples(v, [float(x) for x in series.values])
            else:
                v.default = float(series.values)
            a.attr(prim, f"twin:sensor:{sname}:unit", T.String, series.unit, uniform=True)
            a.attr(prim, f"twin:sensor:{sname}:quantity", T.String, sname, uniform=True)
        if asset.semantic_label:
            apis.append("SemanticsLabelsAPI:class")
            a.attr(prim, "semantics:labels:class", T.TokenArray, Vt.TokenArray([asset.semantic_label]))
        if apis:
            a.api_schemas(prim, apis)
        custom = {"material": asset.material.name}
        if asset.metadata:
            custom["metadata"] = _metadata_json(asset.metadata)
        prim.customData = {"twin3d": custom}

        if asset.mesh is not None:
            color_field = _color_field(asset, self.color_by)
            shared = self._mesh_users.get(id(asset.mesh), 0) > 1
            has_vertex = any(f.association == "vertex" for f in asset.fields.values())
            use_instance = (self.instancing == "always" or (self.instancing == "auto" and shared)) and not has_vertex
            if use_instance:
                proto = self.prototype(asset, colored=color_field is not None)
                prim.referenceList.Prepend(self.a.Sdf.Reference("", proto))
                prim.instanceable = True
                # per-asset values as constant primvars on the instance, inherited by the mesh
                if color_field is not None:
                    self.display_color(prim, asset, color_field)
                for f in asset.fields.values():
                    self.field_primvar(prim, f)
            else:
                self.mesh(f"{path}/geom", asset, color_field)
        for child in asset.children:
            self.asset_prim(f"{path}/{child.name}", child, kind or "")

    def prototype(self, asset: Asset, colored: bool) -> str:
        parts = tuple((p.name, p.color) for p in asset.parts)
        m = asset.material
        key = (id(asset.mesh), parts, colored, m.base_color, m.roughness, m.metallic, m.opacity)
        if key not in self.prototypes:
            if not self.prototypes:
                self.a.prim("/Prototypes", "Scope", specifier=self.a.Sdf.SpecifierClass)
            path = f"/Prototypes/{asset.asset_type or 'mesh'}_{len(self.prototypes)}"
            self.a.prim(path, "Xform")
            self.mesh(f"{path}/geom", asset, None, write_colors=not colored, write_fields=False)
            self.prototypes[key] = path
        return self.prototypes[key]

    def write(self) -> None:
        a, Vt = self.a, self.a.Vt
        scene = self.scene
        layer = a.layer
        world = a.prim("/World", "Xform", kind="assembly")
        world.documentation = f"twin3d scene {scene.name!r}"
        layer.defaultPrim = "World"
        fps = float(scene.fps)
        info = {
            "upAxis": scene.up_axis,
            "metersPerUnit": float(scene.meters_per_unit),
            "timeCodesPerSecond": fps,
            "framesPerSecond": fps,
        }
        for k, v in info.items():
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
        for child in scene.root.children:
            self.asset_prim(f"/World/{child.name}", child, "assembly")


def scene_to_layer(scene: Scene, *, color_by: str | None = None, instancing: str = "auto", fmt: str = "usdc"):
    """Author ``scene`` into a new anonymous ``Sdf.Layer`` (``fmt`` ``usda``/``usdc``)."""
    Sdf, _, _ = _sdf()
    layer = Sdf.Layer.CreateAnonymous(f"twin3d.{fmt}")
    with Sdf.ChangeBlock():
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
        ``"auto"``: repeated meshes without per-vertex fields become instanceable
        references to one prototype; ``"always"``/``"never"``.

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
