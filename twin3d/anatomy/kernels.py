"""Compiled (numba) kernels for the multi-label surface pipeline in :mod:`twin3d.anatomy.surfaces`.

Every kernel works on a half-open range ``[a, b)`` of its rows and releases the GIL,
so :mod:`twin3d.anatomy.surfaces` splits the work over its own thread pool (no numba
threading layer, nothing nested, safe after a fork). Results do not depend on how
the rows are split: each kernel writes only its own rows (or, for the wall sums,
whole walls).

Kernels are compiled on first use and cached next to this file (or in numba's
user cache directory when that is read-only), so only the first run in a fresh
installation pays a few seconds of compilation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "scan_labels",
    "clenshaw_step",
    "clenshaw_final",
    "split_quads",
    "wall_sums",
    "organ_mesh",
    "point_sum",
    "affine_points",
]

_JIT = dict(nogil=True, cache=True)


@njit(**_JIT)
def scan_labels(arr, a, b, counts, box):  # pragma: no cover - compiled
    """Voxel count per label value and bounding box of the non-zero voxels, planes ``[a, b)``.

    ``counts`` (int64, length > max label) is added to; ``box`` (int64[6]: lo/hi along
    the three axes, hi exclusive) is widened. Runs of equal values are counted at once
    (label maps are mostly long runs).
    """
    n1, n2 = arr.shape[1], arr.shape[2]
    for i in range(a, b):
        for j in range(n1):
            first = -1
            last = -1
            run_value = arr[i, j, 0]
            run = 0
            for k in range(n2):
                v = arr[i, j, k]
                if v != run_value:
                    counts[run_value] += run
                    run_value = v
                    run = 0
                run += 1
                if v != 0:
                    if first < 0:
                        first = k
                    last = k
            counts[run_value] += run
            if first >= 0:
                box[0] = min(box[0], i)
                box[1] = max(box[1], i + 1)
                box[2] = min(box[2], j)
                box[3] = max(box[3], j + 1)
                box[4] = min(box[4], first)
                box[5] = max(box[5], last + 1)


@njit(inline="always")
def _stencil_mean(sizes, neighbours, s, i, v):  # pragma: no cover - compiled
    """Mean of ``v`` over the stencil ``neighbours[s:s + sizes[i]]`` (``v[i]`` if it is empty)."""
    e = s + sizes[i]
    if e == s:
        return v[i, 0], v[i, 1], v[i, 2]
    s0 = np.float32(0.0)
    s1 = np.float32(0.0)
    s2 = np.float32(0.0)
    for j in range(s, e):
        k = neighbours[j]
        s0 += v[k, 0]
        s1 += v[k, 1]
        s2 += v[k, 2]
    w = np.float32(1.0) / np.float32(e - s)
    return s0 * w, s1 * w, s2 * w


@njit(nogil=True, cache=True, fastmath=True)
def clenshaw_step(sizes, start, neighbours, x, b1, b2, c, a, b):  # pragma: no cover - compiled
    """One Clenshaw step of a Chebyshev series in ``M = (I + W) / 2``, rows ``[a, b)``.

    ``b2 <- c x + 2 M b1 - b2 = c x + b1 + W b1 - b2`` in place; ``W b1`` is the mean of
    ``b1`` over each row's stencil: row ``i`` has the ``sizes[i]`` neighbours that follow
    those of row ``i - 1`` in ``neighbours``, starting at ``start`` for row ``a`` (a
    row without neighbours keeps its own value). Small ``sizes`` (uint8) instead of
    offsets keep the memory traffic of the pass down.
    """
    s = start
    for i in range(a, b):
        m0, m1, m2 = _stencil_mean(sizes, neighbours, s, i, b1)
        s += sizes[i]
        b2[i, 0] = c * x[i, 0] + b1[i, 0] + m0 - b2[i, 0]
        b2[i, 1] = c * x[i, 1] + b1[i, 1] + m1 - b2[i, 1]
        b2[i, 2] = c * x[i, 2] + b1[i, 2] + m2 - b2[i, 2]


@njit(nogil=True, cache=True, fastmath=True)
def clenshaw_final(sizes, start, neighbours, x, b1, b2, c0, centre, out, a, b):  # pragma: no cover - compiled
    """Last Clenshaw step: ``out = c0 x + M b1 - b2 + centre``, rows ``[a, b)``."""
    s = start
    for i in range(a, b):
        m0, m1, m2 = _stencil_mean(sizes, neighbours, s, i, b1)
        s += sizes[i]
        out[i, 0] = c0 * x[i, 0] + np.float32(0.5) * (b1[i, 0] + m0) - b2[i, 0] + centre[0]
        out[i, 1] = c0 * x[i, 1] + np.float32(0.5) * (b1[i, 1] + m1) - b2[i, 1] + centre[1]
        out[i, 2] = c0 * x[i, 2] + np.float32(0.5) * (b1[i, 2] + m2) - b2[i, 2] + centre[2]


@njit(**_JIT)
def split_quads(points, quads, order, tris, a, b):  # pragma: no cover - compiled
    """Quads ``quads[order[q]]`` -> triangles ``tris[2q]``, ``tris[2q + 1]``, for ``q`` in ``[a, b)``.

    Each quad ``(p0, p1, p2, p3)`` is cut along its shorter diagonal, keeping its
    winding: ``(p0, p1, p2) + (p0, p2, p3)`` or ``(p0, p1, p3) + (p1, p2, p3)``.
    """
    for q in range(a, b):
        r = order[q]
        p0, p1, p2, p3 = quads[r, 0], quads[r, 1], quads[r, 2], quads[r, 3]
        d02 = 0.0
        d13 = 0.0
        for c in range(3):
            u = points[p0, c] - points[p2, c]
            v = points[p1, c] - points[p3, c]
            d02 += u * u
            d13 += v * v
        t = 2 * q
        tris[t, 0] = p0
        tris[t, 1] = p1
        tris[t + 1, 1] = p2
        tris[t + 1, 2] = p3
        if d02 > d13:
            tris[t, 2] = p3
            tris[t + 1, 0] = p1
        else:
            tris[t, 2] = p2
            tris[t + 1, 0] = p0


@njit(**_JIT)
def wall_sums(points, tris, tri_starts, ref, cross, sums, w0, w1):  # pragma: no cover - compiled
    """Per wall ``w`` in ``[w0, w1)`` (triangles ``tri_starts[w]:tri_starts[w + 1]``):

    ``sums[w] = (6 x signed volume, 2 x area, 24 x volume moment xyz)`` of the cones
    from ``ref`` over its triangles (float64), and ``cross[t]`` = each triangle's edge
    cross product (twice its area-weighted normal, float32).
    """
    for w in range(w0, w1):
        vol = 0.0
        area = 0.0
        mx = 0.0
        my = 0.0
        mz = 0.0
        for t in range(tri_starts[w], tri_starts[w + 1]):
            i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
            x0 = points[i0, 0] - ref[0]
            y0 = points[i0, 1] - ref[1]
            z0 = points[i0, 2] - ref[2]
            x1 = points[i1, 0] - ref[0]
            y1 = points[i1, 1] - ref[1]
            z1 = points[i1, 2] - ref[2]
            x2 = points[i2, 0] - ref[0]
            y2 = points[i2, 1] - ref[1]
            z2 = points[i2, 2] - ref[2]
            ax, ay, az = x1 - x0, y1 - y0, z1 - z0
            bx, by, bz = x2 - x0, y2 - y0, z2 - z0
            cx = ay * bz - az * by
            cy = az * bx - ax * bz
            cz = ax * by - ay * bx
            cross[t, 0] = cx
            cross[t, 1] = cy
            cross[t, 2] = cz
            tet = x0 * cx + y0 * cy + z0 * cz  # 6 x signed volume of (ref, p0, p1, p2)
            vol += tet
            area += np.sqrt(cx * cx + cy * cy + cz * cz)
            mx += tet * (x0 + x1 + x2)
            my += tet * (y0 + y1 + y2)
            mz += tet * (z0 + z1 + z2)
        sums[w, 0] = vol
        sums[w, 1] = area
        sums[w, 2] = mx
        sums[w, 3] = my
        sums[w, 4] = mz


@njit(**_JIT)
def organ_mesh(points, tris, cross, starts, ends, signs, stamp, lut, oid):  # pragma: no cover - compiled
    """One organ from its walls: triangles ``starts[s]:ends[s]`` with orientation ``signs[s]``.

    A wall with sign -1 has its triangles reversed. Returns ``(points, faces,
    normals)``: the organ's vertices (in order of first use), its faces in those local
    ids and the unit vertex normals (sum of the organ's own oriented ``cross`` at each
    vertex). ``stamp``/``lut`` (int32, one per
    global vertex) are scratch: ``stamp[v] == oid`` marks vertices already numbered
    for this organ, so the same buffers serve many organs without clearing.
    """
    n_faces = 0
    for s in range(len(starts)):
        n_faces += ends[s] - starts[s]
    faces = np.empty((n_faces, 3), np.int32)
    used = np.empty(min(3 * n_faces, len(stamp)), np.int32)  # untouched beyond nv
    nv = 0
    f = 0
    for s in range(len(starts)):
        forward = signs[s] > 0
        for t in range(starts[s], ends[s]):
            for c in range(3):
                v = tris[t, c]
                if stamp[v] != oid:
                    stamp[v] = oid
                    lut[v] = nv
                    used[nv] = v
                    nv += 1
                faces[f, c if forward else 2 - c] = lut[v]
            f += 1
    acc = np.zeros((nv, 3), np.float64)
    f = 0
    for s in range(len(starts)):
        sign = signs[s]
        for t in range(starts[s], ends[s]):
            for c in range(3):
                local = faces[f, c]
                acc[local, 0] += sign * cross[t, 0]
                acc[local, 1] += sign * cross[t, 1]
                acc[local, 2] += sign * cross[t, 2]
            f += 1
    pts = np.empty((nv, 3), points.dtype)
    normals = np.empty((nv, 3), np.float32)
    for i in range(nv):
        v = used[i]
        pts[i, 0] = points[v, 0]
        pts[i, 1] = points[v, 1]
        pts[i, 2] = points[v, 2]
        n = np.sqrt(acc[i, 0] ** 2 + acc[i, 1] ** 2 + acc[i, 2] ** 2)
        if n == 0.0:
            n = 1.0
        normals[i, 0] = acc[i, 0] / n
        normals[i, 1] = acc[i, 1] / n
        normals[i, 2] = acc[i, 2] / n
    return pts, faces, normals


@njit(**_JIT)
def point_sum(points, a, b):  # pragma: no cover - compiled
    """Sum of ``points[a:b]`` (N x 3) in float64."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for i in range(a, b):
        s0 += points[i, 0]
        s1 += points[i, 1]
        s2 += points[i, 2]
    return np.array([s0, s1, s2])


@njit(**_JIT)
def affine_points(points, lin, shift, out, a, b):  # pragma: no cover - compiled
    """``out[i] = lin @ points[i] + shift`` for rows ``[a, b)`` (float64 maths)."""
    for i in range(a, b):
        x, y, z = points[i, 0], points[i, 1], points[i, 2]
        for r in range(3):
            out[i, r] = lin[r, 0] * x + lin[r, 1] * y + lin[r, 2] * z + shift[r]
