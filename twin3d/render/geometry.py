"""Scene -> merged world-space VTK geometry, shared by renders, animations and the viewer.

All assets are transformed to world space and merged into a few ``PolyData``
batches (by opacity), so rendering cost does not grow per actor: a 10,000-machine
factory is one or two actors. Per-frame coloring only swaps a point array.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyvista as pv

from ..colors import FIELD_DEFAULTS, Legend, legend_for, map_values
from ..scene import Asset, Scene

__all__ = ["SceneGeometry", "Batch", "default_color_by"]


def default_color_by(scene: Scene) -> str | None:
    """The field that colors a scene by default: ``color_by`` metadata, risk, temperature."""
    if scene.metadata.get("color_by"):
        return scene.metadata["color_by"] or None
    names = scene.field_names()
    for preferred in ("risk", "temperature"):
        if preferred in names:
            return preferred
    return None


@dataclass
class Batch:
    """One merged mesh: assets with the same opacity."""

    opacity: float
    mesh: pv.PolyData
    assets: list[int]  # indices into SceneGeometry.assets
    point_ranges: list[tuple[int, int]]  # per asset (start, stop) in mesh points


@dataclass
class SceneGeometry:
    """World-space merged geometry of a scene plus per-asset bookkeeping."""

    scene: Scene
    paths: list[str] = field(default_factory=list)
    assets: list[Asset] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    centers: np.ndarray | None = None  # per-asset world bounding-box top centre
    _mesh_cache: dict = field(default_factory=dict)

    @classmethod
    def from_scene(cls, scene: Scene) -> "SceneGeometry":
        g = cls(scene)
        by_opacity: dict[float, list[tuple[int, pv.PolyData]]] = {}
        tops = []
        for path, asset in scene.walk():
            if asset.mesh is None or asset.mesh.n_points == 0 or not asset.visible or not _visible_path(scene, path):
                continue
            idx = len(g.assets)
            g.paths.append(path)
            g.assets.append(asset)
            m = scene.world_matrix(path)
            pts = np.asarray(asset.mesh.points, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]
            faces = g._faces(asset.mesh)
            if np.linalg.det(m[:3, :3]) < 0:
                faces = faces[:, ::-1]
            rgb = asset.face_colors()
            if rgb is None:
                rgb = np.broadcast_to(np.asarray(asset.material.base_color), (asset.mesh.n_cells, 3))
            by_opacity.setdefault(asset.material.opacity, []).append((idx, pts, faces, rgb))
            lo, hi = pts.min(0), pts.max(0)
            tops.append([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2]] if scene.up_axis == "Z" else
                        [(lo[0] + hi[0]) / 2, hi[1], (lo[2] + hi[2]) / 2])
        for opacity, items in sorted(by_opacity.items(), reverse=True):
            n_pts = np.cumsum([0] + [len(it[1]) for it in items])
            points = np.concatenate([it[1] for it in items]).astype(np.float32)
            faces = np.concatenate([it[2] + off for it, off in zip(items, n_pts[:-1])])
            mesh = pv.PolyData.from_regular_faces(points, faces)
            mesh.cell_data["part_rgb"] = (np.concatenate([it[3] for it in items]) * 255).astype(np.uint8)
            asset_id = np.concatenate([np.full(len(it[2]), it[0], np.int32) for it in items])
            mesh.cell_data["asset_index"] = asset_id
            g.batches.append(Batch(opacity, mesh, [it[0] for it in items],
                                   [(int(a), int(b)) for a, b in zip(n_pts[:-1], n_pts[1:])]))
        g.centers = np.asarray(tops, dtype=float).reshape(-1, 3)
        return g

    def _faces(self, mesh: pv.PolyData) -> np.ndarray:
        key = id(mesh)
        if key not in self._mesh_cache:
            self._mesh_cache[key] = np.asarray(mesh.regular_faces, dtype=np.int64)
        return self._mesh_cache[key]

    # -- coloring
    def legend(self, color_by: str | None) -> Legend | None:
        """Legend for field ``color_by`` over all assets and frames (None if no asset has it)."""
        if not color_by:
            return None
        fields = [a.fields[color_by] for a in self.assets if color_by in a.fields]
        if not fields:
            return None
        f0 = fields[0]
        default_clim = FIELD_DEFAULTS.get(color_by, {}).get("clim")
        if f0.clim is not None:
            clim = f0.clim
        elif default_clim is not None:
            clim = default_clim
        else:
            lo = min(f.value_range()[0] for f in fields)
            hi = max(f.value_range()[1] for f in fields)
            clim = (lo, hi if hi > lo else lo + 1.0)
        return legend_for(color_by, f0.colormap, clim, f0.unit)

    def point_scalars(self, batch: Batch, color_by: str, frame: int) -> np.ndarray:
        """Field values at every point of ``batch`` (NaN where an asset lacks the field)."""
        out = np.full(batch.mesh.n_points, np.nan, dtype=np.float32)
        for ai, (s, e) in zip(batch.assets, batch.point_ranges):
            f = self.assets[ai].fields.get(color_by)
            if f is None:
                continue
            out[s:e] = f.frame(frame)
        return out

    def colors(self, batch: Batch, color_by: str | None, frame: int, legend: Legend | None) -> np.ndarray:
        """Per-point RGB (uint8) for a batch: field colors where present, else part colors."""
        part = batch.mesh.cell_data["part_rgb"]
        # per-point part color: take the color of one cell using each point
        faces = np.asarray(batch.mesh.regular_faces)
        rgb = np.zeros((batch.mesh.n_points, 3), dtype=np.uint8)
        rgb[faces[:, 0]] = part
        rgb[faces[:, 1]] = part
        rgb[faces[:, 2]] = part
        if color_by and legend is not None:
            vals = self.point_scalars(batch, color_by, frame)
            has = np.isfinite(vals)
            if has.any():
                rgb[has] = (map_values(vals[has], legend.colormap, legend.clim) * 255).astype(np.uint8)
        return rgb

    def asset_values(self, color_by: str, frame: int) -> np.ndarray:
        """One value per asset (mean over vertices for vertex fields; NaN if absent)."""
        out = np.full(len(self.assets), np.nan)
        for i, a in enumerate(self.assets):
            f = a.fields.get(color_by)
            if f is not None:
                out[i] = float(np.nanmean(f.frame(frame)))
        return out


def _visible_path(scene: Scene, path: str) -> bool:
    node = scene.root
    for name in path.split("/"):
        node = next(c for c in node.children if c.name == name)
        if not node.visible:
            return False
    return True
