"""USD stage -> Scene. Reads twin3d stages and any other USD file with meshes.

Rules: ``Xform`` prims become groups; a prim of kind ``component`` (or with
``TwinAssetAPI``) becomes one asset whose mesh merges every ``Mesh`` below it
(each mesh or ``part`` GeomSubset becomes a named part); a ``Mesh`` outside a
component becomes an asset of its own. Transforms are kept relative to the parent
asset. Colors come from ``primvars:displayColor`` (or the bound preview surface's
``diffuseColor``); ``primvars:twin:*`` become fields; ``TwinSensorAPI`` attributes
become sensor series. Instances are expanded (instance proxies).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyvista as pv

from ..errors import InputError, MissingFileError, UnsupportedFormatError
from ..scene import UNITS, Asset, Field, Material, Part, Scene, Transform, make_name
from .schema import ASSET_API, register_schema

__all__ = ["read_usd", "stage_to_scene"]

READ_EXTENSIONS = (".usd", ".usda", ".usdc", ".usdz")


def _twin_layer_data(stage) -> dict:
    data = stage.GetRootLayer().customLayerData or {}
    return dict(data.get("twin3d", {}))


def _np(m) -> np.ndarray:
    """Gf.Matrix4d (row vectors) -> numpy column-vector convention."""
    return np.array(m, dtype=float).T


class _Reader:
    def __init__(self, stage):
        from pxr import Usd, UsdGeom, UsdShade

        self.Usd, self.UsdGeom, self.UsdShade = Usd, UsdGeom, UsdShade
        self.stage = stage
        self.cache = UsdGeom.XformCache(Usd.TimeCode.Default())
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

    def _all_time_codes(self) -> np.ndarray | None:
        s, e = self.stage.GetStartTimeCode(), self.stage.GetEndTimeCode()
        if not self.stage.HasAuthoredTimeCodeRange() or e <= s:
            return None
        return np.arange(s, e + 1.0)

    def world(self, prim) -> np.ndarray:
        return _np(self.cache.GetLocalToWorldTransform(prim))

    # -- values
    def _series(self, attr, per_frame):
        """Static value or list of per-frame values for ``attr``."""
        if attr.GetNumTimeSamples() > 0 and self.time_codes is not None:
            return [per_frame(attr.Get(self.Usd.TimeCode(float(t)))) for t in self.time_codes], True
        return per_frame(attr.Get()), False

    def mesh_arrays(self, prim):
        UsdGeom = self.UsdGeom
        mesh = UsdGeom.Mesh(prim)
        pts = mesh.GetPointsAttr().Get()
        if pts is None or len(pts) == 0:
            return None
        pts = np.asarray(pts, dtype=np.float64)
        counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get() or [], dtype=np.int64)
        idx = np.asarray(mesh.GetFaceVertexIndicesAttr().Get() or [], dtype=np.int64)
        if counts.size == 0:
            return None
        if counts.sum() != idx.size or (idx.size and (idx.max() >= len(pts) or idx.min() < 0)):
            raise InputError(f"{prim.GetPath()}: faceVertexCounts/faceVertexIndices do not match the points")
        # triangulate polygons by fans (vectorised per face size)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        tris, face_of_tri = [], []
        for n in np.unique(counts):
            if n < 3:
                continue
            sel = np.flatnonzero(counts == n)
            base = starts[sel]
            for k in range(1, n - 1):
                tris.append(np.stack([idx[base], idx[base + k], idx[base + k + 1]], 1))
                face_of_tri.append(sel)
        if not tris:
            return None
        tri = np.concatenate(tris)
        fot = np.concatenate(face_of_tri)
        order = np.argsort(fot, kind="stable")
        tri, fot = tri[order], fot[order]
        orient = mesh.GetOrientationAttr().Get()
        if orient == UsdGeom.Tokens.leftHanded:
            tri = tri[:, ::-1]
        return pts, tri, fot, counts.size

    def colors(self, prim, n_points: int, n_faces: int, fot: np.ndarray):
        """(per-face colors for triangles | None, constant color | None, per-vertex colors | None)."""
        pv_api = self.UsdGeom.PrimvarsAPI(prim)
        primvar = pv_api.FindPrimvarWithInheritance("displayColor")
        if primvar and primvar.HasAuthoredValue():
            from pxr import Tf

            try:
                vals = primvar.ComputeFlattened()
            except Tf.ErrorException:
                vals = None
            if vals is not None and len(vals):
                c = np.asarray(vals, dtype=float)
                interp = primvar.GetInterpolation()
                if interp == "constant" or len(c) == 1:
                    return None, tuple(c[0]), None
                if interp == "uniform" and len(c) == n_faces:
                    return c[fot], None, None
                if interp in ("vertex", "varying") and len(c) == n_points:
                    return None, None, c
        # bound material's diffuseColor
        mat, _ = self.UsdShade.MaterialBindingAPI(prim).ComputeBoundMaterial()
        if mat:
            shader = mat.ComputeSurfaceSource()[0]
            if shader:
                inp = shader.GetInput("diffuseColor")
                if inp and inp.Get() is not None and not inp.HasConnectedSource():
                    return None, tuple(float(v) for v in inp.Get()), None
        return None, None, None

    def fields(self, prim, n_points: int) -> dict[str, Field]:
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
            conv = (lambda v: float(v)) if assoc == "asset" else (lambda v: np.asarray(v, dtype=np.float32))
            vals, animated = self._series(attr, conv)
            if vals is None:
                continue
            if assoc == "vertex" and (np.asarray(vals).shape[-1] != n_points):
                continue
            clim = custom.get("clim")
            out[fname] = Field(
                fname,
                np.asarray(vals),
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
        """An asset at ``prim`` whose geometry merges ``meshes`` (Mesh prims below or itself)."""
        world = self.world(prim)
        to_local = np.linalg.inv(world)
        pieces, parts, point_cols, fields_list = [], [], [], []
        constant = None
        for mprim in meshes:
            arr = self.mesh_arrays(mprim)
            if arr is None:
                continue
            pts, tri, fot, n_faces = arr
            m = to_local @ self.world(mprim)
            pts = pts @ m[:3, :3].T + m[:3, 3]
            if np.linalg.det(m[:3, :3]) < 0:
                tri = tri[:, ::-1]
            fc, const, vc = self.colors(mprim, len(pts), n_faces, fot)
            poly = pv.PolyData.from_regular_faces(pts, tri)
            # parts: GeomSubsets of family "part", else the mesh itself
            subsets = self.UsdGeom.Subset.GetGeomSubsets(self.UsdGeom.Imageable(mprim), "face", "part")
            part_id = np.full(len(tri), -1, dtype=np.int32)
            if subsets:
                for sub in subsets:
                    faces = np.asarray(sub.GetIndicesAttr().Get() or [], dtype=np.int64)
                    hit = np.isin(fot, faces)
                    color = sub.GetPrim().GetCustomDataByKey("twin3d:color")
                    parts.append(Part(sub.GetPrim().GetName(), None if color is None else tuple(float(c) for c in color)))
                    part_id[hit] = len(parts) - 1
                if (part_id < 0).any():
                    parts.append(Part(make_name(mprim.GetName()) + "_rest", const))
                    part_id[part_id < 0] = len(parts) - 1
            else:
                parts.append(Part(make_name(mprim.GetName()), const))
                part_id[:] = len(parts) - 1
            poly.cell_data["part_id"] = part_id
            # part colors from uniform displayColor
            if fc is not None:
                for pid in np.unique(part_id):
                    if parts[pid].color is None:
                        parts[pid].color = tuple(float(v) for v in fc[part_id == pid][0])
            elif const is not None:
                constant = constant or const
                for pid in np.unique(part_id):
                    if parts[pid].color is None:
                        parts[pid].color = const
            if vc is not None:
                point_cols.append(vc)
            fields_list.append(self.fields(mprim, len(pts)))
            pieces.append(poly)
        opacity = 1.0
        for mprim in meshes:
            op = self.UsdGeom.PrimvarsAPI(mprim).FindPrimvarWithInheritance("displayOpacity")
            if op and op.HasAuthoredValue():
                vals = op.Get()
                if vals is not None and len(vals):
                    opacity = float(np.clip(np.min(np.asarray(vals, dtype=float)), 0.0, 1.0))
        mesh = None
        if pieces:
            mesh = pieces[0] if len(pieces) == 1 else pv.merge(pieces, merge_points=False)
            if point_cols and len(point_cols) == len(pieces):
                mesh.point_data["displayColor"] = np.concatenate(point_cols).astype(np.float32)
        name = make_name(prim.GetName())
        base = constant or (parts[0].color if parts and parts[0].color else (0.7, 0.7, 0.7))
        asset = Asset(
            name,
            mesh=mesh,
            transform=Transform.from_matrix(np.linalg.inv(parent_world) @ world),
            material=Material(name=str(prim.GetCustomDataByKey("twin3d:material") or "default"),
                              base_color=tuple(float(np.clip(c, 0, 1)) for c in base), opacity=opacity),
            parts=parts if mesh is not None else [],
        )
        self.annotate(prim, asset)
        if mesh is not None and len(fields_list) == 1:
            for f in fields_list[0].values():
                asset.set_field(f)
            # constant fields authored on the (instance) asset prim itself
        if mesh is not None:
            for f in self.fields(prim, mesh.n_points).values():
                if f.name not in asset.fields:
                    asset.set_field(f)
        return asset

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
        vis = self.UsdGeom.Imageable(prim).GetVisibilityAttr().Get() if prim.IsA(self.UsdGeom.Imageable) else None
        if vis == self.UsdGeom.Tokens.invisible:
            asset.visible = False

    def is_component(self, prim) -> bool:
        return self.Usd.ModelAPI(prim).GetKind() == "component" or prim.HasAPI(ASSET_API)

    def children(self, prim):
        pred = self.Usd.TraverseInstanceProxies(self.Usd.PrimDefaultPredicate)
        return prim.GetFilteredChildren(pred)

    def meshes_below(self, prim) -> list:
        pred = self.Usd.TraverseInstanceProxies(self.Usd.PrimDefaultPredicate)
        return [p for p in self.Usd.PrimRange(prim, pred) if p.IsA(self.UsdGeom.Mesh)]

    def visit(self, prim, parent: Asset, parent_world: np.ndarray) -> None:
        UsdGeom = self.UsdGeom
        for child in self.children(prim):
            if child.IsA(self.UsdShade.Material) or child.IsA(self.UsdShade.Shader):
                continue
            if child.IsA(UsdGeom.Mesh):
                asset = self.make_asset(child, parent_world, [child])
                self._add(parent, asset)
                continue
            if not child.IsA(UsdGeom.Imageable):
                continue
            if self.is_component(child):
                asset = self.make_asset(child, parent_world, self.meshes_below(child))
                self._add(parent, asset)
                continue
            if not self.meshes_below(child):
                continue
            world = self.world(child) if child.IsA(UsdGeom.Xformable) else parent_world
            group = Asset(make_name(child.GetName()), transform=Transform.from_matrix(np.linalg.inv(parent_world) @ world))
            self.annotate(child, group)
            self._add(parent, group)
            self.visit(child, group, world)

    @staticmethod
    def _add(parent: Asset, asset: Asset) -> None:
        base, k = asset.name, 1
        while any(c.name == asset.name for c in parent.children):
            asset.name = f"{base}_{k}"
            k += 1
        parent.add(asset)


def stage_to_scene(stage, *, name: str | None = None) -> Scene:
    """Convert an open ``Usd.Stage`` into a :class:`Scene`."""
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
    reader = _Reader(stage)
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
            if a.mesh is not None:
                a.mesh.points = a.mesh.points * s
    return scene


def read_usd(path: str | Path) -> Scene:
    """Read a USD file (``.usd``, ``.usda``, ``.usdc``, ``.usdz``) into a :class:`Scene`."""
    path = Path(path)
    if path.suffix.lower() not in READ_EXTENSIONS:
        raise UnsupportedFormatError(f"{path}: not a USD file; supported: {', '.join(READ_EXTENSIONS)}")
    if not path.exists():
        raise MissingFileError(path, what="USD file")
    if not path.is_file():
        raise InputError(f"{path}: is a folder, expected a USD file")
    register_schema()
    from pxr import Tf, Usd

    try:
        stage = Usd.Stage.Open(str(path))
    except Tf.ErrorException as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise InputError(f"{path}: not a valid USD file ({msg})") from None
    if stage is None:
        raise InputError(f"{path}: not a valid USD file")
    return stage_to_scene(stage, name=path.stem)
