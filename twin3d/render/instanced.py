"""Scale-friendly VTK rendering of twin scenes: instancing, merging and level of detail.

A factory of 10,000 machines is drawn with a number of VTK actors that depends on
the number of *distinct* meshes, not on the number of machines:

* **Instancing.** Equipment whose mesh object is shared by many assets (the
  equipment cache shares one mesh per kind and parameters) is drawn with one
  ``vtkGlyph3DMapper`` per prototype part: every machine is one GPU instance
  (position, quaternion, scale, color). Recoloring a frame rewrites one RGB triple
  per instance.
* **Merging.** All other assets (unique meshes such as organs, or assets with
  per-vertex fields) are merged into one world-space mesh per (group, opacity),
  with normals computed once; a frame only rewrites the color array.
* **Level of detail.** Each instanced prototype also has two decimated versions;
  each instance uses the one that fits its projected size on screen (a machine a
  few pixels wide does not need 900 triangles). The choice is updated whenever
  the camera or window changes.

:class:`InstancedRenderer` is twin3d's one renderer (``set_frame``, ``set_camera``,
``title``, ``image``, ``close``, color modes: any field, ``labels``, ``material``;
per-group visibility and opacity, an orbiting camera and picking): PNG renders,
animations, render jobs and the interactive viewer all build on it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..colors import Legend, default_color_by, field_legend, label_colors, lookup_table_colors, map_values
from ..errors import InputError
from ..scene import Asset, Scene
from .offscreen import CAMERAS, _use_all_cores, parse_size

__all__ = ["InstancedRenderer", "InstancedGeometry", "camera_pose", "FIXED_COLOR_MODES", "LOD_PIXELS"]

#: Color modes that exist for every scene besides its fields.
FIXED_COLOR_MODES = ("labels", "material")
#: Projected radius (pixels) above which an instance uses LOD 0 (full mesh), LOD 1; below: LOD 2.
LOD_PIXELS = (24.0, 6.0)
#: Fraction of triangles kept at LOD 1 and LOD 2.
LOD_KEEP = (1.0, 0.2, 0.06)
#: With ``instancing="auto"``, meshes shared by at least this many assets are instanced.
MIN_INSTANCES = 8
_FEATURE_ANGLE = 30.0


# --------------------------------------------------------------------------- scene walk
@dataclass
class _Entry:
    path: str
    asset: Asset
    matrix: np.ndarray
    group: str


def _walk_world(scene: Scene) -> Iterator[_Entry]:
    """Visible mesh assets with their world matrices and top-level group, depth first, in O(n)."""
    for path, asset, m, visible in scene.walk_world():
        if visible and asset.mesh is not None and asset.mesh.n_points > 0:
            yield _Entry(path, asset, m, path.split("/", 1)[0])


def _decompose(ms: np.ndarray, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split world matrices ``T @ R @ S`` into translation, quaternion (w, x, y, z), scale.

    Returns ``(t, q, s, ok)``; ``ok`` is False where the 3x3 part has shear or a
    mirror (those assets are merged instead of instanced).
    """
    from scipy.spatial.transform import Rotation

    a = ms[:, :3, :3]
    s = np.linalg.norm(a, axis=1)  # column norms, shape (n, 3)
    ok = np.all(s > 1e-12, axis=1)
    r = a / np.where(s > 1e-12, s, 1.0)[:, None, :]
    ortho = np.abs(np.einsum("nij,nik->njk", r, r) - np.eye(3)).max(axis=(1, 2)) < tol * 100
    ok &= ortho & (np.linalg.det(r) > 0)
    q = np.zeros((len(ms), 4))
    q[:, 0] = 1.0
    if ok.any():
        xyzw = Rotation.from_matrix(r[ok]).as_quat()
        q[ok] = xyzw[:, [3, 0, 1, 2]]
    return ms[:, :3, 3].copy(), q, s, ok


def _mesh_parts(asset: Asset) -> tuple[np.ndarray, int]:
    """Per-cell part index and number of parts (one part when the mesh has none)."""
    mesh = asset.mesh
    n_parts = max(1, len(asset.parts))
    if asset.parts and "part_id" in mesh.cell_data:
        pid = np.asarray(mesh.cell_data["part_id"], dtype=np.int64)
        pid = np.clip(pid, 0, n_parts - 1)
    else:
        pid = np.zeros(mesh.n_cells, dtype=np.int64)
    return pid, n_parts


def _part_table(asset: Asset, n_parts: int) -> np.ndarray:
    """(n_parts, 3) uint8 part colors of an asset (material color where a part has none)."""
    base = asset.material.base_color
    if asset.parts:
        cols = [p.color if p.color is not None else base for p in asset.parts]
    else:
        cols = [base]
    cols = cols + [base] * (n_parts - len(cols))
    return np.clip(np.rint(np.asarray(cols, dtype=float) * 255), 0, 255).astype(np.uint8)


def _with_normals(mesh, keep_ids: bool = False):
    """Triangle mesh with split (sharp-edge) point normals; optionally the source point ids."""
    import pyvista as pv

    pts = np.asarray(mesh.points, dtype=np.float64)
    faces = np.asarray(mesh.regular_faces, dtype=np.int64)
    base = pv.PolyData.from_regular_faces(pts, faces)
    base.point_data["src_id"] = np.arange(base.n_points, dtype=np.int64)
    if base.n_cells:
        out = base.compute_normals(cell_normals=False, point_normals=True, split_vertices=True,
                                   feature_angle=_FEATURE_ANGLE, consistent_normals=False, auto_orient_normals=False)
    else:
        out = base
        out.point_data["Normals"] = np.zeros((out.n_points, 3), np.float32)
    keep = {"Normals"} | ({"src_id"} if keep_ids else set())
    for name in list(out.point_data.keys()):
        if name not in keep:
            del out.point_data[name]
    out.point_data.active_normals_name = "Normals"
    return out


def _sub_mesh(points: np.ndarray, faces: np.ndarray):
    import pyvista as pv

    used, inv = np.unique(faces.ravel(), return_inverse=True)
    return pv.PolyData.from_regular_faces(points[used], inv.reshape(-1, 3))


def _decimated(mesh, keep: float):
    """``mesh`` decimated to about ``keep`` of its triangles (at least 8), with normals."""
    if keep >= 1.0 or mesh.n_cells <= 12:
        return _with_normals(mesh)
    target = max(8, int(round(mesh.n_cells * keep)))
    if target >= mesh.n_cells:
        return _with_normals(mesh)
    dec = mesh.decimate(1.0 - target / mesh.n_cells, volume_preservation=True)
    if dec.n_cells == 0:
        return _with_normals(mesh)
    return _with_normals(dec.triangulate())


def _mesh_keys(assets: list[Asset]) -> list[object]:
    """A key per asset that is equal for equal meshes (same object, or same content)."""
    by_id: dict[int, object] = {}
    keys = []
    for a in assets:
        k = by_id.get(id(a.mesh))
        if k is None:
            m = a.mesh
            h = hashlib.blake2b(digest_size=16)
            h.update(np.ascontiguousarray(m.points, dtype=np.float32).tobytes())
            h.update(np.ascontiguousarray(m.faces).tobytes())
            if "part_id" in m.cell_data:
                h.update(np.ascontiguousarray(m.cell_data["part_id"]).tobytes())
            k = (m.n_points, m.n_cells, h.hexdigest())
            by_id[id(m)] = k
        keys.append(k)
    return keys


# --------------------------------------------------------------------------- geometry
@dataclass
class Prototype:
    """A mesh shared by many assets: per part, one source mesh per level of detail."""

    mesh_id: object
    n_parts: int
    levels: list[list[object]]  # [lod][part] -> PolyData with Normals, or None (empty part)
    local_lo: np.ndarray
    local_hi: np.ndarray

    @property
    def triangles(self) -> list[int]:
        return [sum(0 if s is None else s.n_cells for s in lvl) for lvl in self.levels]


@dataclass
class InstanceSet:
    """Instances of one prototype within one (group, opacity) actor set."""

    group: str
    opacity: float
    proto: Prototype
    assets: np.ndarray  # global asset indices, shape (n,)
    t: np.ndarray
    q: np.ndarray
    s: np.ndarray
    centers: np.ndarray  # world bounding-box centres
    radii: np.ndarray  # world bounding radius
    part_rgb: np.ndarray  # (n, n_parts, 3) uint8 material colors
    level: np.ndarray = field(default=None)  # (n,) current LOD per instance
    inputs: list = field(default_factory=list)  # per LOD: PolyData of instance points
    actors: list = field(default_factory=list)  # per LOD: list of (part, actor)
    selected: list = field(default_factory=list)  # per LOD: indices into this set


@dataclass
class MergedBatch:
    """Assets merged into one world-space mesh (one actor)."""

    group: str
    opacity: float
    mesh: object  # PolyData with Normals and rgb
    assets: np.ndarray  # global asset indices in point order
    point_ranges: list[tuple[int, int]]
    asset_of_point: np.ndarray
    asset_of_cell: np.ndarray
    src_id: np.ndarray  # point id in the asset's own mesh (vertex fields)
    part_rgb: np.ndarray  # (n_points, 3) uint8
    actor: object = None
    locator: object = None


class InstancedGeometry:
    """World-space renderable geometry of a scene: instance sets and merged batches.

    Parameters
    ----------
    scene
        The scene.
    instancing
        ``"auto"``: meshes shared by at least ``min_instances`` assets (without
        per-vertex fields) are instanced, the rest merged; ``"always"``: every shared
        or single mesh without vertex fields is instanced; ``"never"``: all merged.
    min_instances
        Threshold for ``"auto"``.
    """

    def __init__(self, scene: Scene, *, instancing: str = "auto", min_instances: int = MIN_INSTANCES) -> None:
        if instancing not in ("auto", "always", "never"):
            raise InputError(f"instancing must be 'auto', 'always' or 'never', got {instancing!r}")
        self.scene = scene
        entries = list(_walk_world(scene))
        self.paths = [e.path for e in entries]
        self.assets = [e.asset for e in entries]
        self.groups = [e.group for e in entries]
        self.group_names = list(dict.fromkeys(self.groups))
        self.index = {p: i for i, p in enumerate(self.paths)}
        n = len(entries)
        self.matrices = np.array([e.matrix for e in entries]).reshape(n, 4, 4)
        # meshes are identified by content, so repeated equipment read back from USD
        # (one mesh object per asset) is still recognised as repeated
        self.mesh_keys = _mesh_keys(self.assets)
        # world bounding boxes from each mesh's local box corners
        self.lo = np.zeros((n, 3))
        self.hi = np.zeros((n, 3))
        local_boxes: dict[object, np.ndarray] = {}
        by_mesh: dict[object, list[int]] = {}
        for i, a in enumerate(self.assets):
            by_mesh.setdefault(self.mesh_keys[i], []).append(i)
            if self.mesh_keys[i] not in local_boxes:
                b = np.array(a.mesh.bounds, dtype=float).reshape(3, 2)
                local_boxes[self.mesh_keys[i]] = np.array([[x, y, z, 1.0] for x in b[0] for y in b[1] for z in b[2]])
        for key, idx in by_mesh.items():
            idx = np.asarray(idx)
            w = np.einsum("nij,kj->nki", self.matrices[idx], local_boxes[key])[..., :3]
            self.lo[idx] = w.min(axis=1)
            self.hi[idx] = w.max(axis=1)
        up = 2 if scene.up_axis == "Z" else 1
        self.centers = (self.lo + self.hi) / 2
        self.tops = self.centers.copy()
        self.tops[:, up] = self.hi[:, up]

        # which assets are instanced
        t, q, s, ok = _decompose(self.matrices) if n else (np.zeros((0, 3)), np.zeros((0, 4)), np.zeros((0, 3)),
                                                           np.zeros(0, bool))
        has_vertex = np.array([any(f.association == "vertex" for f in a.fields.values()) for a in self.assets], bool)
        eligible = ok & ~has_vertex
        users: dict[object, int] = {}
        for i in np.flatnonzero(eligible):
            users[self.mesh_keys[i]] = users.get(self.mesh_keys[i], 0) + 1
        if instancing == "never":
            inst = np.zeros(n, bool)
        elif instancing == "always":
            inst = eligible.copy()
        else:
            inst = eligible & np.array([users.get(k, 0) >= min_instances for k in self.mesh_keys], bool)
        self.instanced_mask = inst

        self.prototypes: dict[object, Prototype] = {}
        self.instance_sets: list[InstanceSet] = []
        self.batches: list[MergedBatch] = []
        sets: dict[tuple, list[int]] = {}
        merged: dict[tuple, list[int]] = {}
        for i, a in enumerate(self.assets):
            key = (self.groups[i], float(a.material.opacity))
            if inst[i]:
                sets.setdefault(key + (self.mesh_keys[i],), []).append(i)
            else:
                merged.setdefault(key, []).append(i)
        for (group, opacity, mesh_id), idx in sets.items():
            idx = np.asarray(idx)
            proto = self._prototype(self.assets[idx[0]], mesh_id)
            n_parts = proto.n_parts
            part_rgb = np.stack([_part_table(self.assets[i], n_parts) for i in idx])
            radii = np.linalg.norm(self.hi[idx] - self.lo[idx], axis=1) / 2
            self.instance_sets.append(InstanceSet(group, opacity, proto, idx, t[idx], q[idx], s[idx],
                                                  self.centers[idx], radii, part_rgb))
        for (group, opacity), idx in merged.items():
            self.batches.append(self._merge(group, opacity, idx))

    # -- building
    def _prototype(self, asset: Asset, key) -> Prototype:
        if key in self.prototypes:
            return self.prototypes[key]
        mesh = asset.mesh
        pid, n_parts = _mesh_parts(asset)
        faces = np.asarray(mesh.regular_faces, dtype=np.int64)
        pts = np.asarray(mesh.points, dtype=np.float64)
        levels: list[list[object]] = [[] for _ in LOD_KEEP]
        for p in range(n_parts):
            sel = faces[pid == p]
            if len(sel) == 0:
                for lvl in levels:
                    lvl.append(None)
                continue
            sub = _sub_mesh(pts, sel)
            for k, keep in enumerate(LOD_KEEP):
                levels[k].append(_decimated(sub, keep))
        proto = Prototype(key, n_parts, levels, pts.min(0), pts.max(0))
        self.prototypes[key] = proto
        return proto

    def _merge(self, group: str, opacity: float, idx: list[int]) -> MergedBatch:
        import pyvista as pv

        # assets sharing a mesh are transformed together (vectorised)
        by_mesh: dict[object, list[int]] = {}
        for i in idx:
            by_mesh.setdefault(self.mesh_keys[i], []).append(i)
        pts_l, nrm_l, faces_l, aop_l, src_l, rgb_l, order = [], [], [], [], [], [], []
        ranges = []
        offset = 0
        for mesh_id, ids in by_mesh.items():
            a0 = self.assets[ids[0]]
            src = _with_normals(a0.mesh, keep_ids=True)
            src_id = np.asarray(src.point_data["src_id"], dtype=np.int64)
            pid, n_parts = _mesh_parts(a0)
            faces = np.asarray(src.regular_faces, dtype=np.int64)
            # part per output point (one cell using it)
            point_part = np.zeros(src.n_points, dtype=np.int64)
            if len(faces):
                # compute_normals keeps cell order, so pid still indexes the faces
                for c in range(3):
                    point_part[faces[:, c]] = pid
            p_local = np.asarray(src.points, dtype=np.float64)
            n_local = np.asarray(src.point_data["Normals"], dtype=np.float64)
            ms = self.matrices[ids]
            a = ms[:, :3, :3]
            pts = np.einsum("nij,pj->npi", a, p_local) + ms[:, None, :3, 3]
            inv_t = np.transpose(np.linalg.inv(a), (0, 2, 1))
            nrm = np.einsum("nij,pj->npi", inv_t, n_local)
            nrm /= np.maximum(np.linalg.norm(nrm, axis=2, keepdims=True), 1e-12)
            mirrored = np.linalg.det(a) < 0
            npts = src.n_points
            for k, i in enumerate(ids):
                f = faces[:, ::-1] if mirrored[k] else faces
                faces_l.append(f + offset)
                ranges.append((offset, offset + npts))
                order.append(i)
                offset += npts
            pts_l.append(pts.reshape(-1, 3))
            nrm_l.append(nrm.reshape(-1, 3))
            aop_l.append(np.repeat(np.asarray(ids, dtype=np.int32), npts))
            src_l.append(np.tile(src_id, len(ids)))
            rgb_l.append(np.concatenate([_part_table(self.assets[i], n_parts)[point_part] for i in ids]))
        points = np.concatenate(pts_l).astype(np.float32)
        faces = np.concatenate(faces_l)
        mesh = pv.PolyData.from_regular_faces(points, faces)
        mesh.point_data["Normals"] = np.concatenate(nrm_l).astype(np.float32)
        mesh.point_data.active_normals_name = "Normals"
        part_rgb = np.concatenate(rgb_l)
        mesh.point_data["rgb"] = part_rgb.copy()
        asset_of_point = np.concatenate(aop_l)
        asset_of_cell = asset_of_point[faces[:, 0]] if len(faces) else np.zeros(0, np.int32)
        return MergedBatch(group, opacity, mesh, np.asarray(order), ranges, asset_of_point, asset_of_cell,
                           np.concatenate(src_l), part_rgb)

    # -- queries
    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """World axis-aligned box ``(lo, hi)`` of all visible assets."""
        if not self.assets:
            return np.zeros(3), np.zeros(3)
        return self.lo.min(0), self.hi.max(0)

    def triangles(self) -> dict[str, int]:
        """Triangle counts: merged, and instanced at full detail."""
        merged = sum(int(b.mesh.n_cells) for b in self.batches)
        inst = sum(len(s.assets) * s.proto.triangles[0] for s in self.instance_sets)
        return {"merged": merged, "instanced_full": inst}

    def field_names(self) -> list[str]:
        return sorted({n for a in self.assets for n in a.fields})

    def legend(self, color_by: str) -> Legend | None:
        """Legend of field ``color_by`` over all assets and frames (None if no asset has it)."""
        return field_legend([a.fields.get(color_by) for a in self.assets], color_by)

    def asset_values(self, color_by: str, frame: int) -> np.ndarray:
        """One value per asset at ``frame`` (mean over vertices for vertex fields; NaN if absent)."""
        out = np.full(len(self.assets), np.nan)
        for i, a in enumerate(self.assets):
            f = a.fields.get(color_by)
            if f is not None:
                v = f.frame(frame)
                out[i] = float(v) if f.association == "asset" else float(np.nanmean(v))
        return out

    def label_keys(self) -> list[str]:
        """The label of each asset (semantic label, else asset type)."""
        return [a.semantic_label or a.asset_type or "unlabelled" for a in self.assets]

    def label_table(self) -> dict[str, np.ndarray]:
        """Label -> RGB (0-1), reproducible, in sorted label order."""
        names = sorted(set(self.label_keys()))
        cols = label_colors(len(names))
        return {n: cols[i] for i, n in enumerate(names)}


# --------------------------------------------------------------------------- camera
def camera_pose(lo: np.ndarray, hi: np.ndarray, up_axis: str, camera: str, azimuth: float = 0.0,
                aspect: float = 16 / 9, patient: str | None = None) -> dict:
    """Camera ``position``, ``focal_point``, ``up``, ``view_angle`` for a preset.

    Presets: ``iso``, ``front``, ``side``, ``top``; with ``patient`` = ``"RAS"``/``"LPS"``
    the anatomical ones: front = anterior, side = patient's left, top = superior;
    ``azimuth`` (degrees) turns the view direction about the up axis (a turntable).
    ``aspect`` (width / height): windows narrower than 16:9 move the camera back so
    the scene still fits horizontally.
    """
    if camera not in CAMERAS:
        raise InputError(f"unknown camera {camera!r}; valid: {', '.join(CAMERAS)}")
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    c = (lo + hi) / 2
    radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-6)
    if patient in ("RAS", "LPS"):
        a = 1.0 if patient == "RAS" else -1.0
        dirs = {"iso": (-0.7 * a, 1.3 * a, 0.6), "front": (0, a, 0.05), "side": (-a, 0, 0.05), "top": (0, 0, 1)}
        up = (0, a, 0) if camera == "top" else (0, 0, 1)
        axis = np.array([0.0, 0.0, 1.0])
    elif up_axis == "Z":
        dirs = {"iso": (1.0, -1.3, 0.9), "front": (0, -1, 0.12), "side": (1, 0, 0.12), "top": (0, 0, 1)}
        up = (0, 1, 0) if camera == "top" else (0, 0, 1)
        axis = np.array([0.0, 0.0, 1.0])
    else:
        dirs = {"iso": (1.0, 0.9, 1.3), "front": (0, 0.12, 1), "side": (1, 0.12, 0), "top": (0, 1, 0)}
        up = (0, 0, -1) if camera == "top" else (0, 1, 0)
        axis = np.array([0.0, 1.0, 0.0])
    d = np.asarray(dirs[camera], float)
    d /= np.linalg.norm(d)
    up = np.asarray(up, float)
    if azimuth:
        th = math.radians(azimuth)
        k = axis

        def rot(v):  # Rodrigues
            return v * math.cos(th) + np.cross(k, v) * math.sin(th) + k * np.dot(k, v) * (1 - math.cos(th))

        d, up = rot(d), rot(up)
    view_angle = 30.0
    dist = radius / math.sin(math.radians(view_angle / 2)) * (0.8 if camera == "iso" else 0.95)
    if aspect < 16 / 9:
        half_v = math.radians(view_angle / 2)
        half_h = math.atan(math.tan(half_v) * max(aspect, 1e-3))
        half_wide = math.atan(math.tan(half_v) * 16 / 9)
        dist *= math.sin(half_wide) / math.sin(half_h) if camera != "top" else 1.0
    return {"position": tuple(c + d * dist), "focal_point": tuple(c), "up": tuple(up), "view_angle": view_angle}


# --------------------------------------------------------------------------- renderer
def _rgb_u8(values: np.ndarray, legend: Legend) -> np.ndarray:
    return np.clip(np.rint(map_values(values, legend.colormap, legend.clim) * 255), 0, 255).astype(np.uint8)


class InstancedRenderer:
    """A pyvista plotter showing a scene with instancing, merging and LOD.

    Parameters
    ----------
    scene
        The scene.
    size
        Window size ``(width, height)`` or ``"WxH"``.
    camera
        ``iso``, ``front``, ``side`` or ``top``.
    color_by
        Color mode: a field name, ``"labels"`` (one color per semantic label),
        ``"material"`` (part/material colors; ``""`` is the same). Default: the
        scene's ``color_by``, else ``risk``, else ``temperature``, else material.
    floor
        Draw a floor plane (default: scenes in metres, i.e. factories).
    label_top
        Label the N assets with the highest value of the color field.
    off_screen
        Render without a window (default True). The viewer passes False.
    instancing, min_instances
        See :class:`InstancedGeometry`.
    lod
        Use decimated prototypes for instances that are small on screen.
    anti_aliasing
        ``"msaa"`` (4 samples, best edges), ``"fxaa"`` (a cheaper post-process) or
        ``"none"`` (fastest: about 3x faster frames with software OpenGL).
    background
        Background color.
    """

    def __init__(self, scene: Scene, *, size=(1280, 720), camera: str = "iso", color_by: str | None = None,
                 floor: bool | None = None, label_top: int = 0, off_screen: bool = True, instancing: str = "auto",
                 min_instances: int = MIN_INSTANCES, lod: bool = True, anti_aliasing: str = "msaa",
                 background: str = "white") -> None:
        import pyvista as pv

        from .._util import check_no_tensorflow_for_rendering

        check_no_tensorflow_for_rendering()
        _use_all_cores()
        if camera not in CAMERAS:
            raise InputError(f"unknown camera {camera!r}; valid: {', '.join(CAMERAS)}")
        if anti_aliasing not in ("msaa", "fxaa", "none"):
            raise InputError(f"anti_aliasing must be 'msaa', 'fxaa' or 'none', got {anti_aliasing!r}")
        self.scene = scene
        self.size = parse_size(size)
        self.geometry = InstancedGeometry(scene, instancing=instancing, min_instances=min_instances)
        if not self.geometry.assets:
            raise InputError(f"scene {scene.name!r} has no visible geometry to render")
        self.times = scene.times  # validates the shared timeline once (it walks every field)
        self.n_frames = 1 if self.times is None else int(self.times.size)
        self.lod = bool(lod)
        self.label_top = int(label_top)
        self.frame = 0
        self.azimuth = 0.0
        self.camera = camera
        self.group_visible = {g: True for g in self.geometry.group_names}
        self.group_opacity = {g: 1.0 for g in self.geometry.group_names}
        self.plotter = pv.Plotter(off_screen=off_screen, window_size=list(self.size))
        self.plotter.ren_win.SetMultiSamples(4 if anti_aliasing == "msaa" else 0)
        if anti_aliasing == "fxaa":
            self.plotter.renderer.SetUseFXAA(True)
        self.plotter.set_background(background)
        self._lod_key = None
        self._legend_title: str | None = None
        self._has_category_legend = False
        self._actor_owner: dict[int, tuple] = {}
        self._peeling = False
        self.color_by = self._resolve_mode(default_color_by(scene) if color_by is None else color_by)
        self.legend: Legend | None = None
        self._label_rgb = self._make_label_rgb()
        self._build_actors()
        show_floor = bool(scene.metadata.get("floor", scene.units == "m")) if floor is None else floor
        if show_floor:
            self._add_floor()
        self._apply_group_state()
        self.set_camera(camera)
        self.set_color_by(self.color_by)
        self.plotter.renderer.AddObserver("StartEvent", lambda *_: self._update_lod())

    # -- modes
    @property
    def color_modes(self) -> list[str]:
        """Available color modes: fields (risk, temperature first), then labels, material."""
        names = self.geometry.field_names()
        first = [n for n in ("risk", "temperature") if n in names]
        return first + [n for n in names if n not in first] + list(FIXED_COLOR_MODES)

    def _resolve_mode(self, mode: str | None) -> str:
        if mode is None or mode == "":
            return "material"
        if mode not in self.color_modes:
            raise InputError(f"cannot color by {mode!r}: valid color modes for scene {self.scene.name!r}: "
                             f"{', '.join(self.color_modes)}")
        return mode

    def _make_label_rgb(self) -> np.ndarray:
        table = self.geometry.label_table()
        keys = self.geometry.label_keys()
        return np.clip(np.rint(np.array([table[k] for k in keys]) * 255), 0, 255).astype(np.uint8).reshape(-1, 3)

    # -- actors
    def _build_actors(self) -> None:
        import vtk

        for bi, batch in enumerate(self.geometry.batches):
            mapper = vtk.vtkPolyDataMapper()
            mapper.SetInputData(batch.mesh)
            self._color_mapper(mapper, "rgb")
            actor = vtk.vtkActor()
            actor.SetMapper(mapper)
            self._style(actor, batch.opacity)
            self.plotter.add_actor(actor, name=f"merged_{bi}", reset_camera=False, render=False)
            batch.actor = actor
            self._actor_owner[id(actor)] = ("merged", batch)
        for si, iset in enumerate(self.geometry.instance_sets):
            iset.level = np.zeros(len(iset.assets), dtype=np.int8)
            for lod in range(len(LOD_KEEP)):
                inp = self._instance_input(iset, np.arange(len(iset.assets)) if lod == 0 else np.zeros(0, int))
                iset.inputs.append(inp)
                iset.selected.append(np.arange(len(iset.assets)) if lod == 0 else np.zeros(0, int))
                actors = []
                for part, src in enumerate(iset.proto.levels[lod]):
                    if src is None:
                        continue
                    mapper = vtk.vtkGlyph3DMapper()
                    mapper.SetInputData(inp)
                    mapper.SetSourceData(src)
                    mapper.SetOrientationModeToQuaternion()
                    mapper.SetOrientationArray("quat")
                    mapper.OrientOn()
                    mapper.SetScaleModeToScaleByVectorComponents()
                    mapper.SetScaleArray("scale")
                    mapper.ScalingOn()
                    mapper.SetScaleFactor(1.0)
                    mapper.ClampingOff()
                    self._color_mapper(mapper, f"rgb_{part}")
                    actor = vtk.vtkActor()
                    actor.SetMapper(mapper)
                    self._style(actor, iset.opacity)
                    self.plotter.add_actor(actor, name=f"inst_{si}_{lod}_{part}", reset_camera=False, render=False)
                    actors.append((part, actor))
                    self._actor_owner[id(actor)] = ("instanced", iset, lod)
                iset.actors.append(actors)

    @staticmethod
    def _color_mapper(mapper, array: str) -> None:
        mapper.SetScalarModeToUsePointFieldData()
        mapper.SelectColorArray(array)
        mapper.SetColorModeToDirectScalars()
        mapper.ScalarVisibilityOn()

    @staticmethod
    def _style(actor, opacity: float) -> None:
        prop = actor.GetProperty()
        prop.SetInterpolationToGouraud()
        prop.SetSpecular(0.3)
        prop.SetSpecularPower(20)
        prop.SetOpacity(float(opacity))

    def _instance_input(self, iset: InstanceSet, sel: np.ndarray):
        import pyvista as pv

        inp = pv.PolyData(iset.t[sel].astype(np.float64)) if len(sel) else pv.PolyData()
        if len(sel):
            inp.point_data["quat"] = iset.q[sel]
            inp.point_data["scale"] = iset.s[sel]
            for p in range(iset.proto.n_parts):
                inp.point_data[f"rgb_{p}"] = iset.part_rgb[sel, p]
        return inp

    def _add_floor(self) -> None:
        import pyvista as pv

        lo, hi = self.geometry.bounds
        c = (lo + hi) / 2
        ext = hi - lo
        if self.scene.up_axis == "Z":
            plane = pv.Plane(center=(c[0], c[1], lo[2] - 0.005), direction=(0, 0, 1),
                             i_size=ext[0] * 1.25 + 2, j_size=ext[1] * 1.4 + 2)
        else:
            plane = pv.Plane(center=(c[0], lo[1] - 0.005, c[2]), direction=(0, 1, 0),
                             i_size=ext[2] * 1.4 + 2, j_size=ext[0] * 1.25 + 2)
        actor = self.plotter.add_mesh(plane, color=(0.86, 0.87, 0.88), ambient=0.2, specular=0.0, name="floor",
                                      pickable=False, reset_camera=False, render=False)
        actor.SetPickable(False)

    # -- camera and LOD
    def set_camera(self, camera: str, azimuth: float = 0.0) -> None:
        """Point the camera at the scene from a preset, turned by ``azimuth`` degrees."""
        lo, hi = self.geometry.bounds
        w, h = self.plotter.window_size
        pose = camera_pose(lo, hi, self.scene.up_axis, camera, azimuth, aspect=w / max(h, 1),
                           patient=self.scene.metadata.get("coordinate_system"))
        cam = self.plotter.camera
        cam.focal_point = pose["focal_point"]
        cam.position = pose["position"]
        cam.up = pose["up"]
        cam.view_angle = pose["view_angle"]
        self.plotter.renderer.ResetCameraClippingRange()
        self.camera = camera
        self.azimuth = float(azimuth)

    def _update_lod(self) -> None:
        """Assign each instance the level of detail its on-screen size needs."""
        if not self.geometry.instance_sets:
            return
        cam = self.plotter.camera
        win_h = int(self.plotter.window_size[1])
        key = (tuple(cam.position), tuple(cam.focal_point), float(cam.view_angle), bool(cam.parallel_projection),
               float(cam.parallel_scale), win_h, self.lod)
        if key == self._lod_key:
            return
        self._lod_key = key
        pos = np.asarray(cam.position, float)
        for iset in self.geometry.instance_sets:
            if not self.lod:
                level = np.zeros(len(iset.assets), np.int8)
            else:
                if cam.parallel_projection:
                    px = iset.radii / max(float(cam.parallel_scale), 1e-9) * (win_h / 2)
                else:
                    dist = np.maximum(np.linalg.norm(iset.centers - pos, axis=1), 1e-9)
                    px = iset.radii / (dist * math.tan(math.radians(cam.view_angle) / 2)) * (win_h / 2)
                level = np.where(px >= LOD_PIXELS[0], 0, np.where(px >= LOD_PIXELS[1], 1, 2)).astype(np.int8)
            if iset.level is not None and np.array_equal(level, iset.level) and iset.selected:
                continue
            iset.level = level
            for lod in range(len(LOD_KEEP)):
                sel = np.flatnonzero(level == lod)
                iset.selected[lod] = sel
                inp = self._instance_input(iset, sel)
                iset.inputs[lod] = inp
                for part, actor in iset.actors[lod]:
                    actor.GetMapper().SetInputData(inp)
            self._recolor_set(iset)
        self._apply_group_state()

    def lod_counts(self) -> list[int]:
        """Number of instances at each level of detail (after the last render)."""
        self._update_lod()
        counts = [0] * len(LOD_KEEP)
        for iset in self.geometry.instance_sets:
            for lod in range(len(LOD_KEEP)):
                counts[lod] += len(iset.selected[lod])
        return counts

    # -- colors
    def set_color_by(self, mode: str | None) -> None:
        """Switch the color mode (a field name, ``labels`` or ``material``) and its legend."""
        self.color_by = self._resolve_mode(mode)
        field_mode = self.color_by not in FIXED_COLOR_MODES
        self.legend = self.geometry.legend(self.color_by) if field_mode else None
        self._recolor()
        self._update_legend()
        self._update_labels()

    def _asset_rgb(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-asset override colors for the current mode and frame: ``(rgb, has)``."""
        n = len(self.geometry.assets)
        if self.color_by == "labels":
            return self._label_rgb, np.ones(n, bool)
        if self.color_by == "material" or self.legend is None:
            return None
        rgb = np.zeros((n, 3), np.uint8)
        has = np.zeros(n, bool)
        vals = np.full(n, np.nan)
        for i, a in enumerate(self.geometry.assets):
            f = a.fields.get(self.color_by)
            if f is not None and f.association == "asset":
                vals[i] = float(f.frame(self.frame))
        ok = np.isfinite(vals)
        if ok.any():
            rgb[ok] = _rgb_u8(vals[ok], self.legend)
            has[ok] = True
        return rgb, has

    def _recolor(self) -> None:
        self._asset_colors = self._asset_rgb()
        for batch in self.geometry.batches:
            self._recolor_batch(batch)
        for iset in self.geometry.instance_sets:
            self._recolor_set(iset)

    def _recolor_batch(self, batch: MergedBatch) -> None:
        rgb = batch.part_rgb.copy()
        over = self._asset_colors
        if over is not None:
            col, has = over
            m = has[batch.asset_of_point]
            rgb[m] = col[batch.asset_of_point[m]]
        if self.legend is not None:
            # per-vertex fields of the color field
            for ai, (s, e) in zip(batch.assets, batch.point_ranges):
                f = self.geometry.assets[ai].fields.get(self.color_by)
                if f is None or f.association != "vertex":
                    continue
                v = np.asarray(f.frame(self.frame), dtype=np.float64)[batch.src_id[s:e]]
                good = np.isfinite(v)
                seg = rgb[s:e]
                seg[good] = _rgb_u8(v[good], self.legend)
                rgb[s:e] = seg
        batch.mesh.point_data["rgb"][:] = rgb
        batch.mesh.GetPointData().GetArray("rgb").Modified()
        batch.mesh.Modified()

    def _recolor_set(self, iset: InstanceSet) -> None:
        over = getattr(self, "_asset_colors", None)
        for lod in range(len(LOD_KEEP)):
            sel = iset.selected[lod] if iset.selected else np.zeros(0, int)
            if not len(sel):
                continue
            inp = iset.inputs[lod]
            assets = iset.assets[sel]
            for p in range(iset.proto.n_parts):
                rgb = iset.part_rgb[sel, p].copy()
                if over is not None:
                    col, has = over
                    m = has[assets]
                    rgb[m] = col[assets[m]]
                inp.point_data[f"rgb_{p}"] = rgb
            inp.Modified()

    def _update_legend(self) -> None:
        import pyvista as pv

        if self._legend_title is not None:
            self.plotter.remove_scalar_bar(self._legend_title, render=False)
            self.plotter.remove_actor("legend_carrier", render=False)
            self._legend_title = None
        if self._has_category_legend:
            self.plotter.remove_legend(render=False)
            self._has_category_legend = False
        if self.legend is not None:
            legend = self.legend
            lut = pv.LookupTable()
            cols = lookup_table_colors(legend.colormap, 256)
            lut.values = np.hstack([cols * 255, np.full((256, 1), 255)]).astype(np.uint8)
            lut.scalar_range = legend.clim
            carrier = pv.PolyData(np.zeros((2, 3)))
            carrier["v"] = np.array(legend.clim, dtype=float)
            actor = self.plotter.add_mesh(carrier, scalars="v", cmap=lut, clim=legend.clim, opacity=0.0,
                                          show_scalar_bar=False, name="legend_carrier", pickable=False,
                                          reset_camera=False, render=False)
            actor.SetPickable(False)
            span = legend.clim[1] - legend.clim[0]
            fs = int(np.clip(16 * min(self.size[1] / 720, self.size[0] / 1280 * 1.5), 8, 20))
            self.plotter.add_scalar_bar(title=legend.label, mapper=actor.mapper, color="black", vertical=True,
                                        position_x=0.88, position_y=0.15, height=0.7, width=0.06, n_labels=6,
                                        fmt="%.3g" if span < 10 else "%.0f", title_font_size=fs,
                                        label_font_size=max(fs - 2, 7), render=False)
            self._legend_title = legend.label
        elif self.color_by == "labels":
            table = self.geometry.label_table()
            if len(table) <= 24:
                self.plotter.add_legend(labels=[[k.replace("_", " "), tuple(v)] for k, v in table.items()],
                                        bcolor="white", face="rectangle", loc="lower right",
                                        size=(0.22, min(0.04 * len(table) + 0.02, 0.8)), name="categories")
                self._has_category_legend = True

    # -- labels
    def _update_labels(self) -> None:
        self.plotter.remove_actor("labels", render=False)
        if not self.label_top or self.color_by in FIXED_COLOR_MODES:
            return
        vals = self.geometry.asset_values(self.color_by, self.frame)
        if not np.isfinite(vals).any():
            return
        order = np.argsort(np.where(np.isfinite(vals), -vals, np.inf), kind="stable")[: self.label_top]
        order = [int(i) for i in order if np.isfinite(vals[i])]
        unit = self.legend.unit if self.legend else ""
        if self.color_by == "risk":
            texts = [f"{self.geometry.assets[i].name}: {vals[i] * 100:.0f}%" for i in order]
        else:
            texts = [f"{self.geometry.assets[i].name}: {vals[i]:.3g} {unit}".strip() for i in order]
        lo, hi = self.geometry.bounds
        lift = np.zeros(3)
        lift[2 if self.scene.up_axis == "Z" else 1] = 0.02 * float(np.linalg.norm(hi - lo))
        pts = self.geometry.tops[order] + lift
        self.plotter.add_point_labels(pts, texts, font_size=14, point_size=1, shape_opacity=0.75, text_color="black",
                                      shape_color="white", name="labels", always_visible=True, show_points=False,
                                      render=False)

    # -- groups
    def set_group_visible(self, group: str, visible: bool) -> None:
        """Show or hide every asset of top-level group ``group``."""
        self._check_group(group)
        self.group_visible[group] = bool(visible)
        self._apply_group_state()

    def set_group_opacity(self, group: str, opacity: float) -> None:
        """Opacity factor (0-1) of group ``group`` (multiplies the materials' opacity)."""
        self._check_group(group)
        o = float(opacity)
        if not 0.0 <= o <= 1.0:
            raise InputError(f"opacity must be in [0, 1], got {opacity}")
        self.group_opacity[group] = o
        self._apply_group_state()

    def _check_group(self, group: str) -> None:
        if group not in self.group_visible:
            raise InputError(f"no group {group!r} in scene {self.scene.name!r}; groups: "
                             f"{', '.join(self.geometry.group_names)}")

    def _apply_group_state(self) -> None:
        translucent = False
        for batch in self.geometry.batches:
            o = batch.opacity * self.group_opacity[batch.group]
            vis = self.group_visible[batch.group] and o > 0
            batch.actor.SetVisibility(vis)
            batch.actor.GetProperty().SetOpacity(o)
            translucent |= vis and o < 1
        for iset in self.geometry.instance_sets:
            o = iset.opacity * self.group_opacity[iset.group]
            vis = self.group_visible[iset.group] and o > 0
            for lod, actors in enumerate(iset.actors):
                n = len(iset.selected[lod]) if iset.selected else 0
                for _, actor in actors:
                    actor.SetVisibility(vis and n > 0)
                    actor.GetProperty().SetOpacity(o)
            translucent |= vis and o < 1
        if translucent and not self._peeling:
            # depth peeling does not work with a multisampled window (translucent
            # geometry vanishes with EGL/Mesa): switch MSAA for FXAA in that case
            if self.plotter.ren_win.GetMultiSamples() > 0:
                self.plotter.ren_win.SetMultiSamples(0)
                self.plotter.renderer.SetUseFXAA(True)
            self.plotter.enable_depth_peeling()
            self._peeling = True

    # -- frames
    def set_frame(self, frame: int) -> None:
        """Show frame ``frame`` of the timeline (recolors in place)."""
        f = int(frame)
        if f < 0:
            f += self.n_frames
        if not 0 <= f < self.n_frames:
            raise InputError(f"frame {frame} out of range: the scene has {self.n_frames} frame(s) (0..{self.n_frames - 1})")
        self.frame = f
        if self.color_by not in FIXED_COLOR_MODES:
            self._recolor()
            self._update_labels()

    def frame_time(self, frame: int | None = None) -> float | None:
        """Data time (seconds) of ``frame`` (default: the current one), None for a static scene."""
        if self.times is None:
            return None
        return float(self.times[self.frame if frame is None else frame])

    # -- output
    def title(self, text: str) -> None:
        actor = self.plotter.add_text(text, position="upper_left", font_size=12, color="black", name="title",
                                      render=False)
        actor.SetPickable(False)

    def render(self) -> None:
        self.plotter.render()

    def image(self) -> np.ndarray:
        """Render and return the RGB image (H, W, 3) uint8."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(return_img=True))[..., :3]

    def pick(self, x: float, y: float) -> int | None:
        """Index (into ``geometry.assets``) of the asset drawn at display pixel ``(x, y)``, or None.

        ``(x, y)`` are VTK display coordinates (origin lower left).
        """
        import vtk

        self._update_lod()
        picker = vtk.vtkPropPicker()
        if not picker.Pick(float(x), float(y), 0.0, self.plotter.renderer):
            return None
        owner = self._actor_owner.get(id(picker.GetViewProp()))
        if owner is None:
            return None
        p = np.asarray(picker.GetPickPosition(), float)
        if owner[0] == "merged":
            batch = owner[1]
            if batch.locator is None:
                batch.locator = vtk.vtkStaticCellLocator()
                batch.locator.SetDataSet(batch.mesh)
                batch.locator.BuildLocator()
            closest = [0.0, 0.0, 0.0]
            cell = vtk.reference(0)
            sub = vtk.reference(0)
            dist2 = vtk.reference(0.0)
            batch.locator.FindClosestPoint(p.tolist(), closest, cell, sub, dist2)
            return int(batch.asset_of_cell[int(cell)])
        iset, lod = owner[1], owner[2]
        cand = iset.assets[iset.selected[lod]]
        if not len(cand):
            return None
        lo, hi = self.geometry.lo[cand], self.geometry.hi[cand]
        tol = 1e-3 * max(float(np.linalg.norm(self.geometry.bounds[1] - self.geometry.bounds[0])), 1e-9)
        inside = np.all((p >= lo - tol) & (p <= hi + tol), axis=1)
        if inside.any():
            vol = np.prod(hi - lo, axis=1)
            return int(cand[np.flatnonzero(inside)[np.argmin(vol[inside])]])
        return int(cand[np.argmin(np.linalg.norm((lo + hi) / 2 - p, axis=1))])

    def display_position(self, index: int) -> tuple[float, float]:
        """Display coordinates of the centre of asset ``index`` (for picking it)."""
        ren = self.plotter.renderer
        c = self.geometry.centers[index]
        ren.SetWorldPoint(float(c[0]), float(c[1]), float(c[2]), 1.0)
        ren.WorldToDisplay()
        x, y, _ = ren.GetDisplayPoint()
        return float(x), float(y)

    def close(self) -> None:
        self.plotter.close()

    def __enter__(self) -> "InstancedRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
