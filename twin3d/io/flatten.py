"""A scene flattened for mesh files: each visible asset's triangles, normals and colours
at one frame, in a target unit and up axis (what the glTF, OBJ, PLY and STL writers write).

* **Units and axes.** :func:`conversion` is the 4x4 matrix from scene coordinates to the
  target's (a uniform scale to the target unit, then a rotation when the up axes differ:
  Z-up -> Y-up maps ``(x, y, z)`` to ``(x, z, -y)``). Local geometry is scaled to the
  target unit; :attr:`FlatAsset.local_matrix` / :attr:`FlatAsset.world_matrix` act on it.
* **Normals.** Split at sharp edges (30 degrees, as the renderer and the USD writer do)
  for meshes up to 200,000 triangles, smooth point normals above; each split vertex
  keeps its source point (:attr:`Surface.src_id`) so per-point data follows it.
* **Colours** come from :func:`twin3d.colors.asset_colors` (the renderer's rules):
  one colour for the asset, one per part or face group (:class:`FaceGroup`: a primitive
  or a material in the file), or one per vertex (:attr:`Surface.rgba`). Per-face colours
  with many distinct values are turned into per-vertex colours by duplicating only the
  vertices whose faces disagree (:func:`unweld`), so every face keeps its exact colour.
  Colours are the display values twin3d shows (sRGB); writers whose format wants linear
  values (glTF) convert them with :func:`srgb_to_linear`.

Geometry shared by several assets (repeated equipment) is prepared once and the same
arrays are reused, so a writer can store it once (glTF accessors).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np

from ..colors import AssetColors, asset_colors
from ..errors import InputError
from ..scene import UNITS, Asset, Material, Scene

__all__ = ["Surface", "FaceGroup", "FlatAsset", "conversion", "flatten", "merge", "unweld", "srgb_to_linear",
           "SPLIT_NORMALS_MAX_TRIANGLES", "MAX_FACE_GROUPS"]

#: Above this many triangles a mesh gets smooth point normals (no split at sharp edges).
SPLIT_NORMALS_MAX_TRIANGLES = 200_000
#: Per-face colours with at most this many distinct values become face groups; more become vertex colours.
MAX_FACE_GROUPS = 32
_FEATURE_ANGLE = 30.0


@dataclass
class FaceGroup:
    """Faces of a surface drawn with one colour: a glTF primitive, an OBJ material.

    ``name`` is the part name (``""`` for a whole asset, ``color_<k>`` for a colour
    group); ``rgba`` the display colour and opacity (white when the surface has vertex
    colours, which then carry the colour).
    """

    name: str
    faces: np.ndarray
    rgba: tuple[float, float, float, float]


@dataclass
class Surface:
    """Triangles ready to write: points (float64), faces (int64, ``(m, 3)``), unit normals."""

    points: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    src_id: np.ndarray
    st: np.ndarray | None = None
    rgba: np.ndarray | None = None
    groups: list[FaceGroup] = field(default_factory=list)

    @property
    def n_points(self) -> int:
        return int(len(self.points))

    @property
    def n_faces(self) -> int:
        return int(len(self.faces))

    def corner_rgba(self) -> np.ndarray:
        """``(m, 3, 4)`` colour of every face corner."""
        if self.rgba is not None:
            return self.rgba[self.faces]
        out = np.empty((self.n_faces, 3, 4), np.float32)
        for g in self.groups:
            out[g.faces] = np.asarray(g.rgba, np.float32)
        return out

    def with_vertex_colors(self) -> "Surface":
        """The same faces (same order, same groups) with a colour per vertex.

        Vertices shared by faces of different colours are duplicated (:func:`unweld`).
        """
        if self.rgba is not None:
            return self
        if len(self.groups) == 1:
            rgba = np.broadcast_to(np.asarray(self.groups[0].rgba, np.float32), (self.n_points, 4)).copy()
            return replace(self, rgba=rgba)
        return replace(unweld(self, self.corner_rgba()), groups=self.groups)


@dataclass
class FlatAsset:
    """One visible mesh asset ready for a file (coordinates in the target unit and axes)."""

    path: str
    asset: Asset
    surface: Surface
    #: local -> world in the target frame (``conversion @ world @ unit scale**-1``)
    world_matrix: np.ndarray
    colors: AssetColors

    @property
    def name(self) -> str:
        return self.asset.name

    @property
    def material(self) -> Material:
        return self.asset.material

    @property
    def texture(self) -> str | None:
        """The material's texture image (``Material.texture``) when the surface has ``st`` and
        its colours are its own (not a field's or a label's, which take precedence)."""
        tex = getattr(self.asset.material, "texture", None)
        own = self.colors.source in ("material", "parts", "displayColor")
        return str(tex) if tex and own and self.surface.st is not None else None

    def world_surface(self) -> Surface:
        """The surface in world coordinates (normals transformed, winding kept outward for mirrors)."""
        return transform_surface(self.surface, self.world_matrix)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """Display (sRGB) colour values in [0, 1] -> linear values (glTF's colour space)."""
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def conversion(scene: Scene, *, units: str = "m", up: str | None = None) -> np.ndarray:
    """4x4 matrix from scene coordinates to ``units`` with ``up`` (``"Y"``, ``"Z"`` or None: the scene's)."""
    if units not in UNITS:
        raise InputError(f"unknown units {units!r}; valid: {', '.join(UNITS)}")
    up = scene.up_axis if up is None else up
    if up not in ("Y", "Z"):
        raise InputError(f"up axis must be 'Y' or 'Z', got {up!r}")
    m = np.eye(4)
    m[:3, :3] *= scene.meters_per_unit / UNITS[units]
    if scene.up_axis == "Z" and up == "Y":
        rot = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)  # (x, y, z) -> (x, z, -y)
    elif scene.up_axis == "Y" and up == "Z":
        rot = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float)  # (x, y, z) -> (x, -z, y)
    else:
        rot = np.eye(3)
    m[:3, :3] = rot @ m[:3, :3]
    return m


# --------------------------------------------------------------------------- geometry
def _base_surface(mesh, scale: float) -> Surface:
    """Triangles of ``mesh`` scaled by ``scale``, with normals (split at sharp edges when small)."""
    import pyvista as pv

    pts = np.asarray(mesh.points, dtype=np.float64) * scale
    faces = np.asarray(mesh.regular_faces, dtype=np.int64) if mesh.n_cells else np.zeros((0, 3), np.int64)
    base = pv.PolyData.from_regular_faces(pts, faces)
    base.point_data["src_id"] = np.arange(base.n_points, dtype=np.int64)
    split = len(faces) <= SPLIT_NORMALS_MAX_TRIANGLES
    out = base.compute_normals(cell_normals=False, point_normals=True, split_vertices=split,
                               feature_angle=_FEATURE_ANGLE, consistent_normals=False, auto_orient_normals=False)
    normals = np.asarray(out.point_data["Normals"], dtype=np.float64)
    length = np.linalg.norm(normals, axis=1)
    bad = ~(length > 1e-12)
    normals[bad] = (0.0, 0.0, 1.0)
    normals[~bad] /= length[~bad, None]
    src = np.asarray(out.point_data["src_id"], dtype=np.int64)
    new_faces = np.asarray(out.regular_faces, dtype=np.int64) if out.n_cells else np.zeros((0, 3), np.int64)
    st = None
    if "st" in mesh.point_data:
        st = np.asarray(mesh.point_data["st"], dtype=np.float32).reshape(mesh.n_points, -1)[:, :2][src]
    return Surface(np.asarray(out.points, dtype=np.float64), new_faces, normals.astype(np.float32), src, st)


def unweld(surface: Surface, corner_rgba: np.ndarray) -> Surface:
    """A surface with one colour per vertex from per-corner colours ``(m, 3, 4)``.

    A vertex is duplicated once per distinct colour of the corners that use it, so
    vertices inside an evenly coloured region stay shared. Faces keep their order;
    the result has one white face group (the vertex colours carry the colour).
    """
    m = surface.n_faces
    flat = np.ascontiguousarray(np.asarray(corner_rgba, np.float32).reshape(m * 3, 4))
    colors, cidx = np.unique(flat, axis=0, return_inverse=True)
    cidx = cidx.reshape(-1)
    vid = surface.faces.reshape(-1)
    key = vid * len(colors) + cidx
    uniq, inverse = np.unique(key, return_inverse=True)
    new_vid = uniq // len(colors)
    new_col = colors[uniq % len(colors)]
    return Surface(
        points=surface.points[new_vid],
        faces=inverse.reshape(m, 3).astype(np.int64),
        normals=surface.normals[new_vid],
        src_id=surface.src_id[new_vid],
        st=None if surface.st is None else surface.st[new_vid],
        rgba=new_col.astype(np.float32),
        groups=[FaceGroup("", np.arange(m), (1.0, 1.0, 1.0, 1.0))],
    )


def transform_surface(surface: Surface, matrix: np.ndarray) -> Surface:
    """``surface`` moved by a 4x4 matrix (normals by the inverse transpose; faces flipped for mirrors)."""
    a = matrix[:3, :3]
    pts = surface.points @ a.T + matrix[:3, 3]
    try:
        inv_t = np.linalg.inv(a).T
    except np.linalg.LinAlgError:
        inv_t = np.eye(3)
    nrm = surface.normals.astype(np.float64) @ inv_t.T
    length = np.linalg.norm(nrm, axis=1)
    bad = ~(length > 1e-12)
    nrm[bad] = (0.0, 0.0, 1.0)
    nrm[~bad] /= length[~bad, None]
    faces = surface.faces[:, ::-1].copy() if np.linalg.det(a) < 0 else surface.faces
    return replace(surface, points=pts, faces=faces, normals=nrm.astype(np.float32))


def _per_cell(values, association: str, asset: Asset, n_cols: int) -> np.ndarray:
    """Per-triangle rows of a constant or per-cell array (``n_cols`` wide)."""
    n = asset.mesh.n_cells
    if association == "constant":
        return np.broadcast_to(np.asarray(values, np.float32).reshape(1, n_cols), (n, n_cols))
    return np.asarray(values, np.float32).reshape(n, n_cols)


def _apply_colors(base: Surface, asset: Asset, colors: AssetColors) -> Surface:
    """The asset's colours on its (shared) base surface: face groups or vertex colours."""
    rgb, alpha = colors.rgb, colors.alpha
    assoc = {colors.association, colors.alpha_association}
    n_faces = base.n_faces
    if assoc == {"constant"}:
        rgba = (*(float(v) for v in np.asarray(rgb).reshape(3)), float(alpha))
        return replace(base, groups=[FaceGroup("", np.arange(n_faces), rgba)])
    if "point" not in assoc:
        # per-face colours (parts, explicit face colours, per-face opacity): compute_normals keeps cell order
        cell_rgba = np.concatenate([_per_cell(rgb, colors.association, asset, 3),
                                    _per_cell(alpha, colors.alpha_association, asset, 1)], axis=1)
        if colors.source == "parts" and colors.alpha_association == "constant":
            pid = np.clip(np.asarray(asset.mesh.cell_data["part_id"], dtype=np.int64), 0, len(asset.parts) - 1)
            groups = []
            for i, part in enumerate(asset.parts):
                sel = np.flatnonzero(pid == i)
                if sel.size:
                    groups.append(FaceGroup(part.name, sel, tuple(float(v) for v in cell_rgba[sel[0]])))
            return replace(base, groups=groups)
        uniq, inverse = np.unique(cell_rgba, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        if len(uniq) <= MAX_FACE_GROUPS:
            groups = [FaceGroup("" if len(uniq) == 1 else f"color_{k}", np.flatnonzero(inverse == k),
                                tuple(float(v) for v in uniq[k])) for k in range(len(uniq))]
            return replace(base, groups=groups)
        return unweld(base, np.repeat(cell_rgba[:, None, :], 3, axis=1))
    # something per point: colour every corner, then unweld where corners of a vertex disagree
    src = base.src_id
    corner = np.empty((n_faces, 3, 4), np.float32)
    if colors.association == "point":
        corner[..., :3] = np.asarray(rgb, np.float32)[src][base.faces]
    else:
        corner[..., :3] = _per_cell(rgb, colors.association, asset, 3)[:, None, :]
    if colors.alpha_association == "point":
        corner[..., 3] = np.asarray(alpha, np.float32).reshape(-1)[src][base.faces]
    else:
        corner[..., 3] = _per_cell(alpha, colors.alpha_association, asset, 1)
    if colors.association == "point" and colors.alpha_association != "cell":
        point_rgba = np.empty((base.n_points, 4), np.float32)
        point_rgba[:, :3] = np.asarray(rgb, np.float32)[src]
        point_rgba[:, 3] = (np.asarray(alpha, np.float32).reshape(-1)[src] if colors.alpha_association == "point"
                            else float(alpha))
        return replace(base, rgba=point_rgba, groups=[FaceGroup("", np.arange(n_faces), (1.0, 1.0, 1.0, 1.0))])
    return unweld(base, corner)


def _walk(scene: Scene) -> Iterator[tuple[str, Asset, np.ndarray]]:
    for path, asset, matrix, visible in scene.walk_world():
        if visible and asset.mesh is not None and asset.mesh.n_points > 0 and asset.mesh.n_cells > 0:
            yield path, asset, matrix


def flatten(scene: Scene, *, frame: int, color_by: str | None = None, units: str = "m",
            up: str | None = None) -> list[FlatAsset]:
    """Every visible mesh asset of ``scene`` with its surface and colours at ``frame``.

    Surfaces are in asset-local coordinates scaled to ``units``; ``world_matrix`` places
    them in the target frame (``units``, ``up``). Assets sharing a mesh share the arrays
    of one base surface (points, faces, normals), so a writer can store them once.
    """
    colors = asset_colors(scene, color_by, frame)
    conv = conversion(scene, units=units, up=up)
    k = scene.meters_per_unit / UNITS[units]
    unscale = np.diag([1.0 / k, 1.0 / k, 1.0 / k, 1.0])
    cache: dict[int, Surface] = {}
    out = []
    for path, asset, matrix in _walk(scene):
        base = cache.get(id(asset.mesh))
        if base is None:
            base = cache[id(asset.mesh)] = _base_surface(asset.mesh, k)
        surface = _apply_colors(base, asset, colors[path])
        out.append(FlatAsset(path, asset, surface, conv @ matrix @ unscale, colors[path]))
    return out


def merge(surfaces: list[Surface]) -> Surface:
    """One surface from many (world coordinates); vertex colours kept when any surface has them."""
    if not surfaces:
        raise InputError("nothing to merge: no surfaces")
    if any(s.rgba is not None for s in surfaces):
        surfaces = [s.with_vertex_colors() for s in surfaces]
    offsets = np.cumsum([0] + [s.n_points for s in surfaces])
    face_offsets = np.cumsum([0] + [s.n_faces for s in surfaces])
    rgba = np.concatenate([s.rgba for s in surfaces]) if surfaces[0].rgba is not None else None
    groups = []
    for s, fo in zip(surfaces, face_offsets):
        groups += [FaceGroup(g.name, g.faces + fo, g.rgba) for g in s.groups]
    st = None
    if all(s.st is not None for s in surfaces):
        st = np.concatenate([s.st for s in surfaces])
    return Surface(
        points=np.concatenate([s.points for s in surfaces]),
        faces=np.concatenate([s.faces + o for s, o in zip(surfaces, offsets)]),
        normals=np.concatenate([s.normals for s in surfaces]),
        src_id=np.concatenate([s.src_id for s in surfaces]),
        st=st,
        rgba=rgba,
        groups=groups,
    )
