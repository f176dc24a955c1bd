"""USD ``Mesh`` prims as triangle arrays, and primvars expanded onto the triangles.

A USD mesh is a list of polygons; its primvars live on one of five kinds of element:
``constant`` (one value), ``uniform`` (one per face), ``vertex`` / ``varying`` (one
per point) and ``faceVarying`` (one per face corner). twin3d's meshes are triangles
with data per point (``point_data``) or per triangle (``cell_data``). This module

* triangulates a mesh by fans and keeps, for every triangle corner, the face-vertex
  (``faceVarying`` element) it came from (:func:`triangulate`, :func:`read_mesh`);
* expands any primvar to one value per triangle corner (:func:`expand`);
* reduces per-corner values to the smallest exact form: one value per triangle
  (:func:`per_triangle`) or per point (:func:`per_point`) -- or, when a point carries
  different values on different faces (a UV seam, a colour edge), gives it one copy
  per distinct value so each face corner keeps its own (:func:`split_points`).

Plain NumPy; the only USD calls are in :func:`read_mesh`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["MeshArrays", "triangulate", "read_mesh", "expand", "per_triangle", "per_point", "split_points",
           "mesh_bytes", "INTERPOLATIONS"]

#: The primvar interpolations of USD, all understood by :func:`expand`.
INTERPOLATIONS = ("constant", "uniform", "vertex", "varying", "faceVarying")


@dataclass
class MeshArrays:
    """A triangulated USD mesh.

    Attributes
    ----------
    points
        (n, 3) float64 points.
    tris
        (m, 3) int64 point index of each triangle corner.
    corners
        (m, 3) int64 face-vertex index of each triangle corner (the element a
        ``faceVarying`` primvar value belongs to).
    face_of_tri
        (m,) int64 USD face each triangle comes from (the element of a ``uniform`` value).
    n_faces
        Number of USD faces (including degenerate ones that gave no triangle).
    """

    points: np.ndarray
    tris: np.ndarray
    corners: np.ndarray
    face_of_tri: np.ndarray
    n_faces: int

    @property
    def n_points(self) -> int:
        return len(self.points)

    @property
    def n_face_vertices(self) -> int:
        return int(self.corners.max()) + 1 if self.corners.size else 0


def mesh_bytes(n_points: int, n_triangles: int) -> float:
    """Memory a mesh of ``n_points`` points and ``n_triangles`` triangles takes while it is
    read (triangle arrays, colours, the PolyData): about 64 B per point and 220 B per
    triangle -- the estimate checked against :func:`twin3d.budgets.memory_budget`."""
    return 64.0 * n_points + 220.0 * n_triangles


def triangulate(points, counts, indices, *, left_handed: bool = False, where: str = "mesh") -> MeshArrays | None:
    """Fan-triangulate polygons given as USD ``faceVertexCounts`` / ``faceVertexIndices``.

    Triangles are ordered by face. ``left_handed`` reverses each triangle's winding
    (USD ``orientation = "leftHanded"``). Returns None for a mesh without triangles;
    points that are not finite and indices that do not match the points raise
    :class:`~twin3d.errors.InputError` naming ``where`` (and the first bad index).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if counts.size == 0 or len(pts) == 0:
        return None
    if not np.isfinite(pts.sum()):  # cheap; the exact test only when something is off
        finite = np.isfinite(pts).all(axis=1)
    else:
        finite = None
    if finite is not None and not finite.all():
        i = int(np.argmin(finite))
        raise InputError(f"{where}: point {i} is not finite ({', '.join(f'{v:g}' for v in pts[i])}); "
                         "expected finite coordinates")
    if (counts < 0).any() or counts.sum() != idx.size or (idx.size and (idx.max() >= len(pts) or idx.min() < 0)):
        raise InputError(f"{where}: faceVertexCounts/faceVertexIndices do not match the {len(pts)} points")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    corner_l, face_l = [], []
    for n in np.unique(counts):
        if n < 3:
            continue
        sel = np.flatnonzero(counts == n)
        base = starts[sel]
        for k in range(1, n - 1):
            corner_l.append(np.stack([base, base + k, base + k + 1], 1))
            face_l.append(sel)
    if not corner_l:
        return None
    corners = np.concatenate(corner_l)
    fot = np.concatenate(face_l)
    order = np.argsort(fot, kind="stable")
    corners, fot = corners[order], fot[order]
    if left_handed:
        corners = corners[:, ::-1]
    corners = np.ascontiguousarray(corners)
    return MeshArrays(pts, idx[corners], corners, fot, int(counts.size))


def read_mesh(mesh, time, *, where: str | None = None) -> MeshArrays | None:
    """Triangulate a ``UsdGeom.Mesh`` at ``time`` (None when it has no triangles).

    The memory triangulation takes (:func:`mesh_bytes`) is checked against the budget
    first; errors name ``where`` (default: the prim path).
    """
    from pxr import UsdGeom

    from ..budgets import check_memory

    where = where or str(mesh.GetPath())
    pts = mesh.GetPointsAttr().Get(time)
    if pts is None or len(pts) == 0:
        return None
    counts = mesh.GetFaceVertexCountsAttr().Get(time)
    indices = mesh.GetFaceVertexIndicesAttr().Get(time)
    if counts is None or indices is None:
        return None
    arrays = {}
    for name, value, shape in (("points", pts, (-1, 3)), ("faceVertexCounts", counts, (-1,)),
                               ("faceVertexIndices", indices, (-1,))):
        a = np.asarray(value)
        if a.ndim != len(shape) or (len(shape) == 2 and a.shape[1] != 3) or a.dtype.kind not in "iuf":
            raise InputError(f"{where}.{name}: expected {'point3f[]' if name == 'points' else 'int[]'} values, "
                             f"got {a.dtype} of shape {a.shape}")
        arrays[name] = a
    pts, counts, indices = arrays["points"], arrays["faceVertexCounts"], arrays["faceVertexIndices"]
    if counts.dtype.kind == "f" or indices.dtype.kind == "f":
        raise InputError(f"{where}: faceVertexCounts and faceVertexIndices must be integers")
    n_tri = max(len(indices) - 2 * len(counts), 0)  # sum(count - 2): exact when every face has 2+ corners
    check_memory(mesh_bytes(len(pts), n_tri), f"{where}: USD mesh", detail=f"{len(pts):,} points, {n_tri:,} triangles")
    left = mesh.GetOrientationAttr().Get() == UsdGeom.Tokens.leftHanded
    return triangulate(pts, counts, indices, left_handed=left, where=where)


def expand(values, interpolation: str, arrays: MeshArrays) -> np.ndarray | None:
    """(m, 3, k) per-corner values of a primvar (already flattened), or None.

    None when the number of values fits no element of ``interpolation`` (the USD
    rule: such a primvar is ignored). A single value is constant whatever its
    declared interpolation.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    m = len(arrays.tris)
    if len(v) == 1 or interpolation == "constant":
        if len(v) < 1:
            return None
        return np.broadcast_to(v[0], (m, 3, v.shape[1]))
    if interpolation == "uniform":
        if len(v) != arrays.n_faces:
            return None
        return np.broadcast_to(v[arrays.face_of_tri][:, None, :], (m, 3, v.shape[1]))
    if interpolation in ("vertex", "varying"):
        if len(v) != arrays.n_points:
            return None
        return v[arrays.tris]
    if interpolation == "faceVarying":
        if len(v) < arrays.n_face_vertices:
            return None
        return v[arrays.corners]
    return None


def per_triangle(corner_values: np.ndarray) -> np.ndarray | None:
    """(m, k) values when each triangle's three corners agree, else None."""
    c = np.asarray(corner_values)
    if np.array_equal(c[:, 0], c[:, 1]) and np.array_equal(c[:, 0], c[:, 2]):
        return np.array(c[:, 0])
    return None


def per_point(corner_values: np.ndarray, tris: np.ndarray, n_points: int) -> np.ndarray | None:
    """(n_points, k) values when every point has one value on all its corners, else None.

    Points used by no triangle get zeros.
    """
    c = np.asarray(corner_values)
    k = c.shape[-1]
    out = np.zeros((n_points, k), dtype=c.dtype)
    flat_t = tris.reshape(-1)
    flat_c = c.reshape(-1, k)
    out[flat_t] = flat_c
    if not np.array_equal(out[flat_t], flat_c):
        return None
    return out


def split_points(tris: np.ndarray, keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give every point one copy per distinct key among its triangle corners.

    Parameters
    ----------
    tris
        (m, 3) point indices.
    keys
        Per-corner arrays (m, 3, k_i) whose values must stay with their corner.

    Returns
    -------
    new_tris, source_point, source_corner
        (m, 3) triangles over the new points; for each new point, the original point
        it copies and one flat corner index (into ``tris.reshape(-1)``) whose key
        values it carries. Points used by no triangle are dropped.
    """
    m = len(tris)
    cols = [tris.reshape(-1, 1).astype(np.float64)]
    cols += [np.asarray(k, dtype=np.float64).reshape(m * 3, -1) for k in keys]
    rows = np.ascontiguousarray(np.concatenate(cols, axis=1))
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    return inverse.reshape(m, 3).astype(np.int64), tris.reshape(-1)[first].astype(np.int64), first.astype(np.int64)
