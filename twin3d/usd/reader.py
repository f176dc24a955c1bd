"""USD stage -> Scene. Reads twin3d stages and any other USD file with meshes.

Rules (``docs/usd.md``, "Reading foreign USD", has the full list):

* ``Xform`` (and typeless) prims become groups; a prim of kind ``component`` (or with
  ``TwinAssetAPI``) becomes one asset whose mesh merges every ``Mesh`` below it (each
  mesh or ``part`` / ``materialBind`` GeomSubset becomes a named part); a ``Mesh``
  outside a component becomes an asset of its own. Transforms are kept relative to the
  parent asset.
* Native instances (instance proxies) become one asset each; a ``UsdGeomPointInstancer``
  becomes a group with one asset per visible instance (positions, orientations,
  scales, proto indices, invisible ids), its prototypes are not drawn on their own.
* ``purpose``: ``guide`` prims are skipped, and ``proxy`` prims too when the stage has
  ``render`` ones. Payloads are loaded.
* Colours, opacities, materials and textures: see :mod:`twin3d.usd.appearance`.
* ``primvars:twin:*`` become fields, ``TwinSensorAPI`` attributes sensor series.
* Geometry and transforms are read at the stage's start time code (the first time
  sample when the stage has no time range): the scene model animates fields, not
  geometry.
* Composition problems (missing sublayers, references, payloads, MaterialX files,
  unresolved textures) are reported as one :class:`~twin3d.usd.diagnostics.UsdReadWarning`
  per kind, and USD's own raw warnings are not printed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingFileError, UnsupportedFormatError
from ..scene import UNITS, Asset, Field, Material, Part, Scene, Transform, make_name
from .appearance import DEFAULT_COLOR, LEVELS, Looks, analyse_mesh
from .diagnostics import Problems, collect_problems
from .meshdata import read_mesh
from .schema import ASSET_API, register_schema

__all__ = ["read_usd", "stage_to_scene", "READ_EXTENSIONS"]

READ_EXTENSIONS = (".usd", ".usda", ".usdc", ".usdz")


def _twin_layer_data(stage) -> dict:
    data = stage.GetRootLayer().customLayerData or {}
    return dict(data.get("twin3d", {}))


def _np(m) -> np.ndarray:
    """Gf.Matrix4d (row vectors) -> numpy column-vector convention."""
    return np.array(m, dtype=float).T


def _asset_value(v) -> float:
    """A per-asset field value: a scalar, or the one element of a constant ``float[]``
    primvar (the USD writer's form, since importers such as Blender read only array primvars)."""
    return float(np.asarray(v, dtype=np.float64).reshape(-1)[0])


def _sub_poly(poly, mask: np.ndarray):
    """``(sub_mesh, used)``: the triangles ``mask`` of ``poly`` with their data; ``used`` are the
    indices of its points in ``poly``."""
    import pyvista as pv

    faces = np.asarray(poly.regular_faces, dtype=np.int64)[mask]
    used, inverse = np.unique(faces.reshape(-1), return_inverse=True)
    sub = pv.PolyData.from_regular_faces(np.asarray(poly.points, dtype=np.float64)[used],
                                         np.asarray(inverse).reshape(-1, 3))
    for k in poly.point_data.keys():
        sub.point_data[k] = np.asarray(poly.point_data[k])[used]
    for k in poly.cell_data.keys():
        sub.cell_data[k] = np.asarray(poly.cell_data[k])[mask]
    return sub, used


def _flipped(poly):
    """``poly`` with every triangle's winding reversed (a mirroring transform), data kept."""
    out = type(poly).from_regular_faces(np.asarray(poly.points), np.asarray(poly.regular_faces)[:, ::-1])
    for k in poly.point_data.keys():
        out.point_data[k] = poly.point_data[k]
    for k in poly.cell_data.keys():
        out.cell_data[k] = poly.cell_data[k]
    return out


def _merge_polys(polys: list):
    """Concatenate triangle meshes with the point and cell arrays they all have."""
    import pyvista as pv

    if len(polys) == 1:
        return polys[0]
    offsets = np.cumsum([0] + [p.n_points for p in polys[:-1]])
    pts = np.concatenate([np.asarray(p.points, dtype=np.float64) for p in polys])
    faces = np.concatenate([np.asarray(p.regular_faces, dtype=np.int64) + o for p, o in zip(polys, offsets)])
    out = pv.PolyData.from_regular_faces(pts, faces)
    for name in set.intersection(*(set(p.point_data.keys()) for p in polys)):
        out.point_data[name] = np.concatenate([np.asarray(p.point_data[name]) for p in polys])
    for name in set.intersection(*(set(p.cell_data.keys()) for p in polys)):
        out.cell_data[name] = np.concatenate([np.asarray(p.cell_data[name]) for p in polys])
    return out


class _Reader:
    def __init__(self, stage, problems: Problems):
        from pxr import Usd, UsdGeom, UsdShade

        self.Usd, self.UsdGeom, self.UsdShade = Usd, UsdGeom, UsdShade
        self.stage = stage
        self.problems = problems
        # geometry and transforms: the start time (usdview's first frame), else the first sample
        self.time = (Usd.TimeCode(stage.GetStartTimeCode()) if stage.HasAuthoredTimeCodeRange()
                     else Usd.TimeCode.EarliestTime())
        self.cache = UsdGeom.XformCache(self.time)
        self.looks = Looks(problems, self.time)
        self.pred = Usd.TraverseInstanceProxies(Usd.PrimDefaultPredicate)
        data = _twin_layer_data(stage)
        self.ours = "version" in data
        self.frame_times = np.asarray(data["frameTimes"], float) if "frameTimes" in data else None
        tcps = stage.GetTimeCodesPerSecond() or 24.0
        if self.frame_times is None:
            codes = self._all_time_codes()
            self.time_codes = codes
            self.frame_times = None if codes is None else codes / tcps
        else:
            self.time_codes = np.arange(self.frame_times.size, dtype=float)
        self.has_render_purpose = self._any_render_purpose()
        self._arrays: dict[tuple, object] = {}  # triangulated meshes by where their topology comes from

    def _all_time_codes(self) -> np.ndarray | None:
        s, e = self.stage.GetStartTimeCode(), self.stage.GetEndTimeCode()
        if not self.stage.HasAuthoredTimeCodeRange() or e <= s:
            return None
        return np.arange(s, e + 1.0)

    def _any_render_purpose(self) -> bool:
        render = self.UsdGeom.Tokens.render
        for prim in self.Usd.PrimRange.Stage(self.stage, self.pred):
            if prim.IsA(self.UsdGeom.Imageable):
                attr = self.UsdGeom.Imageable(prim).GetPurposeAttr()
                if attr.HasAuthoredValue() and attr.Get() == render:
                    return True
        return False

    def world(self, prim) -> np.ndarray:
        return _np(self.cache.GetLocalToWorldTransform(prim))

    # -- what is drawn
    def skipped(self, prim) -> bool:
        """Prims not drawn: guides, proxies beside render geometry, invisible geometry below a component."""
        if not prim.IsA(self.UsdGeom.Imageable):
            return False
        attr = self.UsdGeom.Imageable(prim).GetPurposeAttr()
        if not attr.HasAuthoredValue():
            return False
        purpose = attr.Get()
        T = self.UsdGeom.Tokens
        return purpose == T.guide or (purpose == T.proxy and self.has_render_purpose)

    def is_drawable_container(self, prim) -> bool:
        return prim.IsA(self.UsdGeom.Imageable) or prim.GetTypeName() == ""

    # -- values
    def _series(self, attr, per_frame):
        """Static value or list of per-frame values for ``attr``."""
        if attr.GetNumTimeSamples() > 0 and self.time_codes is not None:
            return [per_frame(attr.Get(self.Usd.TimeCode(float(t)))) for t in self.time_codes], True
        return per_frame(attr.Get()), False

    def mesh_arrays(self, prim):
        """Triangulated mesh; meshes whose topology and points come from the same place
        (native instances of one prototype, references to one prototype) are triangulated once."""
        mesh = self.UsdGeom.Mesh(prim)
        key = []
        for attr in (mesh.GetPointsAttr(), mesh.GetFaceVertexCountsAttr(), mesh.GetFaceVertexIndicesAttr(),
                     mesh.GetOrientationAttr()):
            stack = attr.GetPropertyStack(self.time)
            key.append((stack[0].layer.identifier, str(stack[0].path)) if stack else None)
        key = tuple(key)
        if key not in self._arrays:
            self._arrays[key] = read_mesh(mesh, self.time)
        return self._arrays[key]

    def fields(self, prim, n_points: int, source_point: np.ndarray | None = None) -> dict[str, Field]:
        out = {}
        pv_api = self.UsdGeom.PrimvarsAPI(prim)
        for primvar in pv_api.FindPrimvarsWithInheritance():
            name = primvar.GetPrimvarName()
            if not name.startswith("twin:"):
                continue
            fname = name.split(":", 1)[1]
            attr = primvar.GetAttr()
            custom = attr.GetCustomData() or {}
            assoc = custom.get("association") or ("asset" if primvar.GetInterpolation() == "constant" else "vertex")
            conv = _asset_value if assoc == "asset" else (lambda v: np.asarray(v, dtype=np.float32))
            vals, animated = self._series(attr, conv)
            if vals is None:
                continue
            vals = np.asarray(vals)
            if assoc == "vertex":
                if vals.shape[-1] != n_points:
                    continue
                if source_point is not None:  # points split for colours / texture seams
                    vals = vals[..., source_point]
            clim = custom.get("clim")
            out[fname] = Field(
                fname,
                vals,
                association=assoc,
                times=self.frame_times if animated else None,
                unit=str(custom.get("unit", "")),
                colormap=custom.get("colormap"),
                clim=tuple(clim) if clim is not None else None,
                description=str(custom.get("description", "")),
            )
        return out

    # -- assets
    def make_asset(self, prim, parent_world: np.ndarray, meshes: list) -> Asset:
        """An asset at ``prim`` whose geometry merges ``meshes`` (Mesh prims below or itself).

        An asset draws one texture: when its meshes (or the faces of one mesh) use
        different textures, or some faces are textured and others not, ``prim`` becomes
        a group with one asset per mesh and texture instead.
        """
        world = self.world(prim)
        to_local = np.linalg.inv(world)
        units = []  # (mesh prim, arrays, look, mesh -> asset matrix, triangle mask | None, texture | None)
        for mprim in meshes:
            arrays = self.mesh_arrays(mprim)
            if arrays is None:
                continue
            look = analyse_mesh(mprim, arrays, self.looks, self.time)
            rel = to_local @ self.world(mprim)
            if look.texture_of_tri is None:
                units.append((mprim, arrays, look, rel, None, None))
                continue
            ids = np.unique(look.texture_of_tri)
            for t in ids:
                mask = None if len(ids) == 1 else look.texture_of_tri == t
                units.append((mprim, arrays, look, rel, mask, look.textures[t] if t >= 0 else None))
        transform = Transform.from_matrix(np.linalg.inv(parent_world) @ world)
        if len({u[5] for u in units}) <= 1:
            asset = self._assemble(make_name(prim.GetName()), prim, units, transform)
            if asset.mesh is not None:  # constant fields authored on the (instance) asset prim itself
                for f in self.fields(prim, asset.mesh.n_points).values():
                    if f.name not in asset.fields:
                        asset.set_field(f)
            return asset
        group = Asset(make_name(prim.GetName()), transform=transform)
        self.annotate(prim, group)
        for unit in units:
            name = make_name(unit[0].GetName())
            if unit[4] is not None:  # one mesh in several textures: one asset per texture
                name += "_" + (make_name(Path(unit[5]).stem) if unit[5] else "untextured")
            self._add(group, self._assemble(name, None, [unit], Transform()))
        return group

    def _assemble(self, name: str, prim, units: list, transform: Transform) -> Asset:
        """One asset merging ``units`` (see :meth:`make_asset`); annotated from ``prim`` when given."""
        looks = [u[2] for u in units]
        # one storage level for all pieces (see twin3d.usd.appearance.LEVELS)
        c_level = max((LEVELS.index(lk.color_level) for lk in looks), default=0)
        o_level = max((LEVELS.index(lk.opacity_level) for lk in looks), default=0)
        if len({lk.constant_opacity for lk in looks if lk.opacity_level == "part"}) > 1:
            o_level = max(o_level, 1)
        texture = units[0][5] if units else None
        polys, parts, fields_list = [], [], []
        for mprim, arrays, look, rel, mask, _tex in units:
            poly, source = look.build(LEVELS[c_level], LEVELS[o_level], with_st=texture is not None)
            if mask is not None:
                poly, used = _sub_poly(poly, mask)
                source = used if source is None else source[used]
            if not np.allclose(rel, np.eye(4)):
                pts = np.asarray(poly.points, dtype=np.float64)
                poly.points = pts @ rel[:3, :3].T + rel[:3, 3]
                if np.linalg.det(rel[:3, :3]) < 0:
                    poly = _flipped(poly)
            poly.cell_data["part_id"] = np.asarray(poly.cell_data["part_id"], np.int32) + len(parts)
            parts.extend(Part(p.name, p.color) for p in look.parts)
            fields_list.append(self.fields(mprim, arrays.n_points, source))
            polys.append(poly)
        mesh = _merge_polys(polys) if polys else None
        material = self._material(prim, units, texture)
        asset = Asset(name, mesh=mesh, transform=transform, material=material,
                      parts=parts if mesh is not None else [])
        if prim is not None:
            self.annotate(prim, asset)
        if mesh is not None and len(fields_list) == 1:
            for f in fields_list[0].values():
                asset.set_field(f)
        return asset

    def _material(self, prim, units: list, texture: str | None) -> Material:
        looks = [u[2] for u in units]
        if looks:
            first = looks[0]
            uniform = {lk.uniform_color for lk in looks}
            if len(uniform) == 1 and None not in uniform:
                base = uniform.pop()
            else:
                base = next((p.color for p in first.parts if p.color is not None), DEFAULT_COLOR)
            opacity = min(lk.constant_opacity for lk in looks)
            name = first.look.name or "default"
            metallic, roughness = first.look.metallic, first.look.roughness
        else:
            base, opacity, name, metallic, roughness = DEFAULT_COLOR, 1.0, "default", 0.0, 0.5
        custom = prim.GetCustomDataByKey("twin3d:material") if prim is not None else None
        return Material(name=str(custom or name), base_color=tuple(float(np.clip(c, 0, 1)) for c in base),
                        opacity=float(np.clip(opacity, 0, 1)), metallic=metallic, roughness=roughness,
                        texture=texture)

    def annotate(self, prim, asset: Asset) -> None:
        if prim.HasAPI(ASSET_API):
            t = prim.GetAttribute("twin:assetType").Get()
            if t:
                asset.asset_type = str(t)
        labels = prim.GetAttribute("semantics:labels:class")
        if labels and labels.Get():
            asset.semantic_label = str(labels.Get()[0])
        meta = prim.GetCustomDataByKey("twin3d:metadata")
        if meta:
            asset.metadata.update(json.loads(meta))
        for attr in prim.GetAttributes():
            n = attr.GetName()
            if n.startswith("twin:sensor:") and n.endswith(":value"):
                sname = n[len("twin:sensor:"):-len(":value")]
                vals, animated = self._series(attr, lambda v: float("nan") if v is None else float(v))
                unit_attr = prim.GetAttribute(f"twin:sensor:{sname}:unit")
                unit = str(unit_attr.Get() or "") if unit_attr else ""
                if animated:
                    asset.sensors[sname] = Field(sname, np.asarray(vals), association="asset", times=self.frame_times, unit=unit)
                elif vals is not None:
                    asset.sensors[sname] = Field(sname, np.asarray(vals), association="asset", unit=unit)
        vis = self.UsdGeom.Imageable(prim).GetVisibilityAttr().Get(self.time) if prim.IsA(self.UsdGeom.Imageable) else None
        if vis == self.UsdGeom.Tokens.invisible:
            asset.visible = False

    def is_component(self, prim) -> bool:
        return self.Usd.ModelAPI(prim).GetKind() == "component" or prim.HasAPI(ASSET_API)

    def children(self, prim):
        return prim.GetFilteredChildren(self.pred)

    def below(self, prim) -> tuple[list, bool]:
        """``(meshes, has_instancer)``: the drawn Mesh prims below ``prim`` (itself included)
        and whether a PointInstancer is among its descendants (its prototypes are not listed)."""
        UsdGeom = self.UsdGeom
        meshes, has_instancer = [], False
        it = iter(self.Usd.PrimRange(prim, self.pred))
        for p in it:
            if self.skipped(p) or (p != prim and p.IsA(UsdGeom.Imageable)
                                   and UsdGeom.Imageable(p).GetVisibilityAttr().Get(self.time) == UsdGeom.Tokens.invisible):
                it.PruneChildren()
                continue
            if p.IsA(UsdGeom.PointInstancer):
                has_instancer = True
                it.PruneChildren()
            elif p.IsA(UsdGeom.Mesh):
                meshes.append(p)
        return meshes, has_instancer

    def visit(self, prim, parent: Asset, parent_world: np.ndarray) -> None:
        for child in self.children(prim):
            self.visit_prim(child, parent, parent_world)

    def visit_prim(self, child, parent: Asset, parent_world: np.ndarray) -> Asset | None:
        """Add what ``child`` draws under ``parent``; returns the asset added (or None)."""
        UsdGeom = self.UsdGeom
        if child.IsA(self.UsdShade.Material) or child.IsA(self.UsdShade.Shader) or self.skipped(child):
            return None
        if child.IsA(UsdGeom.PointInstancer):
            return self.instancer(child, parent, parent_world)
        if child.IsA(UsdGeom.Mesh):
            return self._add(parent, self.make_asset(child, parent_world, [child]))
        if not self.is_drawable_container(child):
            return None
        meshes, has_instancer = self.below(child)
        if not meshes and not has_instancer:
            return None
        if self.is_component(child) and not has_instancer:
            return self._add(parent, self.make_asset(child, parent_world, meshes))
        world = self.world(child) if child.IsA(UsdGeom.Xformable) else parent_world
        group = Asset(make_name(child.GetName()), transform=Transform.from_matrix(np.linalg.inv(parent_world) @ world))
        self.annotate(child, group)
        self.visit(child, group, world)
        return self._add(parent, group) if group.children else None

    # -- point instancers
    def instancer(self, prim, parent: Asset, parent_world: np.ndarray) -> Asset | None:
        """A PointInstancer: a group with one asset (a copy of its prototype) per visible instance."""
        UsdGeom = self.UsdGeom
        inst = UsdGeom.PointInstancer(prim)
        where = str(prim.GetPath())
        targets = list(inst.GetPrototypesRel().GetForwardedTargets())
        indices = inst.GetProtoIndicesAttr().Get(self.time)
        if not targets or indices is None or len(indices) == 0:
            return None
        indices = np.asarray(indices, dtype=np.int64)
        xforms = inst.ComputeInstanceTransformsAtTime(self.time, self.time, UsdGeom.PointInstancer.IncludeProtoXform,
                                                      UsdGeom.PointInstancer.IgnoreMask)
        if xforms is None or len(xforms) != len(indices):
            self.problems.add("usd", f"{where}: positions, orientations or scales do not match protoIndices")
            return None
        mask = list(inst.ComputeMaskAtTime(self.time) or [])
        world = self.world(prim)
        group = Asset(make_name(prim.GetName()), transform=Transform.from_matrix(np.linalg.inv(parent_world) @ world))
        self.annotate(prim, group)
        templates: dict[int, Asset | None] = {}
        for i, (pi, m) in enumerate(zip(indices, xforms)):
            if mask and not mask[i]:
                continue
            if not 0 <= pi < len(targets):
                self.problems.add("usd", f"{where}: protoIndices {pi} has no prototype ({len(targets)} prototypes)")
                continue
            if pi not in templates:
                templates[pi] = self._template(targets[pi])
            tmpl = templates[pi]
            if tmpl is None:
                continue
            group.add(_instance_copy(tmpl, f"{tmpl.name}_{i}", Transform.from_matrix(_np(m))))
        if not group.children:
            return None
        return self._add(parent, group)

    def _template(self, path):
        """A prototype read once, in its own frame (instances share its meshes).

        Its meshes merge into one asset, as a component's do; a prototype holding
        point instancers of its own becomes a group.
        """
        proto = self.stage.GetPrimAtPath(path)
        if not proto or self.skipped(proto):
            return None
        meshes, has_instancer = self.below(proto)
        if not has_instancer and not proto.IsA(self.UsdGeom.PointInstancer):
            return self.make_asset(proto, self.world(proto), meshes) if meshes else None
        return self.visit_prim(proto, Asset("prototypes"), self.world(proto))

    @staticmethod
    def _add(parent: Asset, asset: Asset) -> Asset:
        base, k = asset.name, 1
        while parent.child(asset.name) is not None:
            asset.name = f"{base}_{k}"
            k += 1
        return parent.add(asset)


def _instance_copy(template: Asset, name: str, transform: Transform) -> Asset:
    """A copy of an asset tree that shares its meshes, under a new name and transform."""
    out = Asset(name, mesh=template.mesh, transform=transform, material=copy.copy(template.material),
                asset_type=template.asset_type, semantic_label=template.semantic_label,
                parts=[Part(p.name, p.color) for p in template.parts], fields=dict(template.fields),
                sensors=dict(template.sensors), metadata=dict(template.metadata), visible=template.visible)
    for child in template.children:
        out.add(_instance_copy(child, child.name, child.transform))
    return out


def _convert(stage, name: str | None, problems: Problems) -> Scene:
    from pxr import UsdGeom

    mpu = UsdGeom.GetStageMetersPerUnit(stage)
    data = _twin_layer_data(stage)
    units = data.get("units")
    if units not in UNITS or not np.isclose(UNITS[units], mpu):
        units = next((u for u, v in UNITS.items() if np.isclose(v, mpu, rtol=1e-6)), None)
    up = str(UsdGeom.GetStageUpAxis(stage))
    fps = stage.GetFramesPerSecond() or stage.GetTimeCodesPerSecond() or 24.0
    scene = Scene(
        name=name or str(data.get("sceneName") or Path(stage.GetRootLayer().identifier).stem or "scene"),
        units=units or "m",
        up_axis="Z" if up == "Z" else "Y",
        fps=float(fps),
    )
    if data.get("colorBy"):
        scene.metadata["color_by"] = str(data["colorBy"])
    if data.get("metadata"):
        scene.metadata.update(json.loads(data["metadata"]))
    reader = _Reader(stage, problems)
    default = stage.GetDefaultPrim()
    if reader.ours and default:
        reader.visit(default, scene.root, reader.world(default))
    else:
        reader.visit(stage.GetPseudoRoot(), scene.root, np.eye(4))
    if units is None:  # unknown unit: convert all geometry to metres
        s = float(mpu)
        for _, a in scene.walk():
            m = a.transform.matrix
            m[:3, 3] *= s
            a.transform = Transform.from_matrix(m)
        for mesh in {id(a.mesh): a.mesh for _, a in scene.walk() if a.mesh is not None}.values():
            mesh.points = mesh.points * s  # shared meshes (instances) scaled once
    return scene


def stage_to_scene(stage, *, name: str | None = None) -> Scene:
    """Convert an open ``Usd.Stage`` into a :class:`Scene`.

    Problems found on the way (unresolved references, textures...) are emitted as one
    :class:`~twin3d.usd.diagnostics.UsdReadWarning` per kind.
    """
    source = stage.GetRootLayer().identifier
    with collect_problems(source) as problems:
        problems.add_composition_errors(stage)
        scene = _convert(stage, name, problems)
    problems.warn()
    return scene


def read_usd(path: str | Path) -> Scene:
    """Read a USD file (``.usd``, ``.usda``, ``.usdc``, ``.usdz``) into a :class:`Scene`.

    Composition problems (missing sublayers, references, payloads, MaterialX files,
    unresolved textures) do not stop the read: each kind is reported once as a
    :class:`~twin3d.usd.diagnostics.UsdReadWarning` (``twin3d: warning: ...`` on the
    command line), and USD's raw warnings are not printed.
    """
    path = Path(path)
    if path.suffix.lower() not in READ_EXTENSIONS:
        raise UnsupportedFormatError(f"{path}: not a USD file; supported: {', '.join(READ_EXTENSIONS)}")
    if not path.exists():
        raise MissingFileError(path, what="USD file")
    if not path.is_file():
        raise InputError(f"{path}: is a folder, expected a USD file")
    register_schema()
    from pxr import Tf, Usd

    with collect_problems(path) as problems:
        try:
            stage = Usd.Stage.Open(str(path))
        except Tf.ErrorException as exc:
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise InputError(f"{path}: not a valid USD file ({msg})") from None
        if stage is None:
            raise InputError(f"{path}: not a valid USD file")
        problems.add_composition_errors(stage)
        scene = _convert(stage, path.stem, problems)
    problems.warn()
    return scene
