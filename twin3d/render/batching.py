"""Geometry batching for the renderer: a scene's assets as instance sets and merged batches.

A factory of 10,000 machines is drawn with a number of VTK actors that depends on
the number of *distinct* meshes, not on the number of machines. This module decides
how each asset is drawn and prepares the data; :mod:`twin3d.render.renderer` turns it
into VTK actors. Everything here is plain NumPy / pyvista data (no plotter, no window):

* **Instancing.** Equipment whose mesh is shared by many assets (the equipment cache
  shares one mesh per kind and parameters; meshes read back from USD are matched by
  content) becomes one :class:`Prototype` per mesh and an :class:`InstanceSet` per
  (group, opacity): every machine is one GPU instance (position, quaternion, scale,
  colour), so recolouring a frame rewrites one RGB triple per instance.
* **Merging.** All other assets (unique meshes such as organs, or assets with
  per-vertex fields) are merged into one world-space mesh per (group, opacity), a
  :class:`MergedBatch`, with normals computed once; a frame only rewrites its colours.
* **Level of detail.** Each prototype also has two decimated versions (:data:`LOD_KEEP`);
  :meth:`InstanceSet.lod_levels` picks for each instance the one that fits its projected
  size on screen (:data:`LOD_PIXELS`).
* **Colours.** :class:`InstancedGeometry` maps a colour mode (a field, ``labels`` or
  ``material``) at a frame to the RGB arrays of batches and instances. In ``material``
  mode a mesh's explicit colours (``point_data`` / ``cell_data["displayColor"]``, e.g.
  read from a USD file) and its diffuse texture (``Material.texture`` mapped through
  ``point_data["st"]``) are drawn; such assets are merged, not instanced, and each
  texture gets its own batch. Field colours and label colours take precedence.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..colors import Legend, field_legend, label_colors, map_values
from ..errors import InputError
from ..scene import Asset, Scene

__all__ = ["InstancedGeometry", "Prototype", "InstanceSet", "MergedBatch", "FIXED_COLOR_MODES", "LOD_PIXELS",
           "has_explicit_colors", "texture_of",
           "LOD_KEEP", "MIN_INSTANCES", "rgb_u8"]

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


def _u8(rgb) -> np.ndarray:
    return np.clip(np.rint(np.asarray(rgb, dtype=np.float64).reshape(-1, 3) * 255), 0, 255).astype(np.uint8)


def has_explicit_colors(asset: Asset) -> bool:
    """Whether an asset's mesh carries explicit colours (per point or per triangle)."""
    m = asset.mesh
    return m is not None and ("displayColor" in m.point_data or "displayColor" in m.cell_data)


def texture_of(asset: Asset) -> str | None:
    """The diffuse texture file drawn on an asset (its material's, when the mesh has ``st``)."""
    m = asset.mesh
    if m is None or not asset.material.texture or "st" not in m.point_data:
        return None
    return str(asset.material.texture)


def _render_mesh(asset: Asset):
    """``(mesh with normals, source point ids, material rgb | None, st | None)`` of an asset.

    Per-triangle and per-part colours are drawn exactly: a point shared by triangles of
    different colours or parts is split first (one copy per colour and part).
    ``material rgb`` is None when the part colours apply; textured meshes are white
    (the texture is multiplied by it).
    """
    import pyvista as pv

    mesh = asset.mesh
    split_src = split_rgb = None
    base = mesh
    faces = np.asarray(mesh.regular_faces, dtype=np.int64)
    keys = []
    cell_colors = "displayColor" in mesh.cell_data and "displayColor" not in mesh.point_data
    if cell_colors:
        keys.append(_u8(mesh.cell_data["displayColor"]).astype(np.int64))
    pid, n_parts = _mesh_parts(asset)
    if n_parts > 1 and len(faces):
        point_part = np.zeros(mesh.n_points, dtype=np.int64)
        point_part[faces.reshape(-1)] = np.repeat(pid, 3)
        if (point_part[faces] != pid[:, None]).any():  # points shared by parts
            keys.append(pid[:, None])
    if keys:
        key = np.concatenate([faces.reshape(-1, 1)] + [np.repeat(k, 3, axis=0) for k in keys], axis=1)
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        split_src = uniq[:, 0]
        split_rgb = uniq[:, 1:4].astype(np.uint8) if cell_colors else None
        base = pv.PolyData.from_regular_faces(np.asarray(mesh.points, dtype=np.float64)[split_src],
                                              np.asarray(inverse).reshape(-1, 3))
    src = _with_normals(base, keep_ids=True)
    src_id = np.asarray(src.point_data["src_id"], dtype=np.int64)
    rgb = None
    if split_src is not None:
        if split_rgb is not None:
            rgb = split_rgb[src_id]
        src_id = split_src[src_id]
    if "displayColor" in mesh.point_data:
        rgb = _u8(mesh.point_data["displayColor"])[src_id]
    st = None
    if texture_of(asset) is not None:
        st = np.asarray(mesh.point_data["st"], dtype=np.float32).reshape(-1, 2)[src_id]
        rgb = np.full((len(src_id), 3), 255, np.uint8)
    return src, src_id, rgb, st


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
            for where, data in (("p", m.point_data), ("c", m.cell_data)):
                for name in ("displayColor", "st"):  # explicit colours and texture coordinates
                    if name in data:
                        h.update(f"{where}{name}".encode())
                        h.update(np.ascontiguousarray(data[name], dtype=np.float32).tobytes())
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
    # filled by the renderer:
    level: np.ndarray = field(default=None)  # (n,) current LOD per instance
    inputs: list = field(default_factory=list)  # per LOD: PolyData of instance points
    actors: list = field(default_factory=list)  # per LOD: list of (part, actor)
    selected: list = field(default_factory=list)  # per LOD: indices into this set

    def points(self, sel: np.ndarray):
        """The instances ``sel`` as glyph input: points with ``quat``, ``scale`` and ``rgb_<part>`` arrays."""
        import pyvista as pv

        inp = pv.PolyData(self.t[sel].astype(np.float64)) if len(sel) else pv.PolyData()
        if len(sel):
            inp.point_data["quat"] = self.q[sel]
            inp.point_data["scale"] = self.s[sel]
            for p in range(self.proto.n_parts):
                inp.point_data[f"rgb_{p}"] = self.part_rgb[sel, p]
        return inp

    def lod_levels(self, camera_position, view_angle: float, window_height: int,
                   parallel_scale: float | None = None) -> np.ndarray:
        """(n,) int8 level of detail per instance from its projected radius in pixels.

        ``parallel_scale`` is given for a parallel projection (then the distance does
        not matter); see :data:`LOD_PIXELS` for the thresholds.
        """
        if parallel_scale is not None:
            px = self.radii / max(float(parallel_scale), 1e-9) * (window_height / 2)
        else:
            pos = np.asarray(camera_position, float)
            dist = np.maximum(np.linalg.norm(self.centers - pos, axis=1), 1e-9)
            px = self.radii / (dist * math.tan(math.radians(view_angle) / 2)) * (window_height / 2)
        return np.where(px >= LOD_PIXELS[0], 0, np.where(px >= LOD_PIXELS[1], 1, 2)).astype(np.int8)


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
    part_rgb: np.ndarray  # (n_points, 3) uint8 material colours (white where textured)
    texture: str | None = None  # diffuse image drawn in material mode (mesh has "st")
    plain_rgb: np.ndarray | None = None  # (n_points, 3) uint8 colours without the texture
    # filled by the renderer:
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
        # explicit colours and textures are drawn from merged batches
        explicit = np.array([has_explicit_colors(a) or texture_of(a) is not None for a in self.assets], bool)
        eligible = ok & ~has_vertex & ~explicit
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
                merged.setdefault(key + (texture_of(a),), []).append(i)
        for (group, opacity, mesh_id), idx in sets.items():
            idx = np.asarray(idx)
            proto = self._prototype(self.assets[idx[0]], mesh_id)
            n_parts = proto.n_parts
            part_rgb = np.stack([_part_table(self.assets[i], n_parts) for i in idx])
            radii = np.linalg.norm(self.hi[idx] - self.lo[idx], axis=1) / 2
            self.instance_sets.append(InstanceSet(group, opacity, proto, idx, t[idx], q[idx], s[idx],
                                                  self.centers[idx], radii, part_rgb))
        for (group, opacity, texture), idx in merged.items():
            self.batches.append(self._merge(group, opacity, idx, texture))

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

    def _merge(self, group: str, opacity: float, idx: list[int], texture: str | None = None) -> MergedBatch:
        import pyvista as pv

        # assets sharing a mesh are transformed together (vectorised)
        by_mesh: dict[object, list[int]] = {}
        for i in idx:
            by_mesh.setdefault(self.mesh_keys[i], []).append(i)
        pts_l, nrm_l, faces_l, aop_l, src_l, rgb_l, order = [], [], [], [], [], [], []
        st_l, plain_l = [], []
        ranges = []
        offset = 0
        for mesh_id, ids in by_mesh.items():
            a0 = self.assets[ids[0]]
            src, src_id, explicit_rgb, st = _render_mesh(a0)
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
            plain = np.concatenate([_part_table(self.assets[i], n_parts)[point_part] for i in ids])
            rgb_l.append(plain if explicit_rgb is None else np.tile(explicit_rgb, (len(ids), 1)))
            plain_l.append(plain)
            if texture is not None:
                st_l.append(np.tile(st, (len(ids), 1)))
        points = np.concatenate(pts_l).astype(np.float32)
        faces = np.concatenate(faces_l)
        mesh = pv.PolyData.from_regular_faces(points, faces)
        mesh.point_data["Normals"] = np.concatenate(nrm_l).astype(np.float32)
        mesh.point_data.active_normals_name = "Normals"
        part_rgb = np.concatenate(rgb_l)
        mesh.point_data["rgb"] = part_rgb.copy()
        if texture is not None:
            mesh.point_data["st"] = np.concatenate(st_l).astype(np.float32)
            mesh.point_data.active_texture_coordinates_name = "st"
        asset_of_point = np.concatenate(aop_l)
        asset_of_cell = asset_of_point[faces[:, 0]] if len(faces) else np.zeros(0, np.int32)
        return MergedBatch(group, opacity, mesh, np.asarray(order), ranges, asset_of_point, asset_of_cell,
                           np.concatenate(src_l), part_rgb, texture, np.concatenate(plain_l))

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

    # -- colours (plain arrays; the renderer copies them into its VTK arrays)
    def label_rgb(self) -> np.ndarray:
        """(n_assets, 3) uint8: the colour of each asset's label (see :meth:`label_table`)."""
        table = self.label_table()
        keys = self.label_keys()
        return np.clip(np.rint(np.array([table[k] for k in keys]) * 255), 0, 255).astype(np.uint8).reshape(-1, 3)

    def asset_colors(self, color_by: str, frame: int, legend: Legend | None,
                     label_rgb: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-asset override colours for a colour mode at ``frame``: ``(rgb, has)``, or None.

        ``labels``: every asset its label colour (``label_rgb``, computed when not given);
        a field with a legend: assets with a finite per-asset value get its colour
        (``has`` marks them); ``material`` (or no legend): None, the part colours stay.
        """
        n = len(self.assets)
        if color_by == "labels":
            return (self.label_rgb() if label_rgb is None else label_rgb), np.ones(n, bool)
        if color_by == "material" or legend is None:
            return None
        rgb = np.zeros((n, 3), np.uint8)
        has = np.zeros(n, bool)
        vals = np.full(n, np.nan)
        for i, a in enumerate(self.assets):
            f = a.fields.get(color_by)
            if f is not None and f.association == "asset":
                vals[i] = float(f.frame(frame))
        ok = np.isfinite(vals)
        if ok.any():
            rgb[ok] = rgb_u8(vals[ok], legend)
            has[ok] = True
        return rgb, has

    def batch_rgb(self, batch: MergedBatch, asset_colors: tuple[np.ndarray, np.ndarray] | None, color_by: str,
                  legend: Legend | None, frame: int) -> np.ndarray:
        """(n_points, 3) uint8 colours of a merged batch: part colours, asset overrides, vertex fields.

        A textured batch is white in ``material`` mode (the texture shows) and takes its
        plain material colours in the other modes (drawn without the texture).
        """
        textured = batch.texture is not None and batch.plain_rgb is not None
        rgb = (batch.plain_rgb if textured and color_by != "material" else batch.part_rgb).copy()
        if asset_colors is not None:
            col, has = asset_colors
            m = has[batch.asset_of_point]
            rgb[m] = col[batch.asset_of_point[m]]
        if legend is not None:
            # per-vertex fields of the color field
            for ai, (s, e) in zip(batch.assets, batch.point_ranges):
                f = self.assets[ai].fields.get(color_by)
                if f is None or f.association != "vertex":
                    continue
                v = np.asarray(f.frame(frame), dtype=np.float64)[batch.src_id[s:e]]
                good = np.isfinite(v)
                seg = rgb[s:e]
                seg[good] = rgb_u8(v[good], legend)
                rgb[s:e] = seg
        return rgb

    @staticmethod
    def instance_rgb(iset: InstanceSet, sel: np.ndarray, part: int,
                     asset_colors: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        """(len(sel), 3) uint8 colours of part ``part`` of the instances ``sel`` of ``iset``."""
        rgb = iset.part_rgb[sel, part].copy()
        if asset_colors is not None:
            col, has = asset_colors
            assets = iset.assets[sel]
            m = has[assets]
            rgb[m] = col[assets[m]]
        return rgb


def rgb_u8(values: np.ndarray, legend: Legend) -> np.ndarray:
    """Values -> (n, 3) uint8 RGB through the legend's colour map and range."""
    return np.clip(np.rint(map_values(values, legend.colormap, legend.clim) * 255), 0, 255).astype(np.uint8)
