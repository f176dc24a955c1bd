"""Label map -> named organ surfaces in world millimetres.

A segmentation (a label map :class:`~twin3d.io.volumes.Volume`) becomes one triangle
surface per label, named and coloured from a :class:`~twin3d.anatomy.labels.LabelTable`, in the label
map's RAS+ world frame (millimetres), with per-organ volume, area and centroid.
:func:`~twin3d.anatomy.organs.organs_to_scene` turns them into a :class:`~twin3d.scene.Scene` (units
``"mm"``, one ``"organ"`` asset per label with its semantic label) for the USD and
render backends.

Methods
-------
``"surface_nets"`` (default)
    One multi-label pass of VTK's ``vtkSurfaceNets3D`` over the whole (cropped)
    label map: every wall between two labels is generated once and shared by both
    organs, so neighbouring organs fit without gaps or overlaps. The shared mesh is
    smoothed once with a windowed-sinc low-pass filter (Taubin's, Nuttall window, as
    VTK's ``vtkWindowedSincPolyDataFilter``; unlike the surface-nets built-in
    smoother it does not shrink small organs), run here over the smoothing stencils
    that the surface-nets pass builds, then split per organ. A wall face points out
    of the first of its two ``BoundaryLabels`` and *into* the second; those faces
    are flipped for the second organ, giving every organ outward-facing triangles.
    The per-vertex and per-triangle stages (label scan, smoothing, split,
    measurements, per-organ assembly with normals) are compiled numba kernels
    (:mod:`twin3d.anatomy.kernels`) run on all cores.
``"flying_edges"``
    Per label, ``vtkDiscreteFlyingEdges3D`` on the label's bounding box (plus one
    voxel of padding), then ``vtkWindowedSincPolyDataFilter`` with the same
    settings. Every surface is closed, but neighbours are smoothed independently, so
    their walls no longer coincide.

Both build surfaces in voxel-index space and map them with the full affine
(origin, spacing, direction cosines); the triangle winding is reversed when the
affine mirrors (negative determinant) so normals stay outward in world space.

The NumPy and numba stages share one thread pool of this module (the compiled kernels
release the GIL); VTK's filters use VTK's own threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyvista as pv

from .._util import progress_bar
from ..errors import InputError
from ..io.volumes import Volume, as_labelmap
from .labels import LabelTable, load_label_table

__all__ = [
    "OrganSurface",
    "labelmap_to_surfaces",
    "SURFACE_METHODS",
    "DEFAULT_SMOOTHING_ITERATIONS",
    "DEFAULT_PASSBAND",
    "MIN_SMOOTHED_VOLUME_RATIO",
    "BYTES_PER_BOX_VOXEL",
    "scan_labels",
    "sinc_coefficients",
    "windowed_sinc_stencils",
    "split_quads",
    "wall_measures",
    "point_mean",
]

#: Surface extraction methods accepted by :func:`labelmap_to_surfaces`.
SURFACE_METHODS = ("surface_nets", "flying_edges")

#: Default windowed-sinc smoothing: iterations and pass band (as in 3D Slicer's
#: closed-surface conversion with smoothing factor 0.5).
DEFAULT_SMOOTHING_ITERATIONS = 20
DEFAULT_PASSBAND = 0.01


@dataclass(eq=False)
class OrganSurface:
    """One organ's surface in world millimetres (RAS+), with its measurements.

    Attributes
    ----------
    label, name, color
        Label id, organ name and RGB colour (0-1) from the label table.
    mesh
        Closed-or-shared-wall triangle surface, outward-facing, world mm; carries
        point normals (``"Normals"``).
    volume_ml
        Volume enclosed by the surface (divergence theorem), millilitres.
    area_mm2
        Surface area, mm^2.
    centroid_mm
        Centroid of the enclosed *volume* (not the mean of the vertices), world mm.
    voxel_count, voxel_volume_ml
        Number of voxels with this label and their total volume.
    """

    label: int
    name: str
    color: tuple[float, float, float]
    mesh: pv.PolyData
    volume_ml: float
    area_mm2: float
    centroid_mm: np.ndarray
    voxel_count: int
    voxel_volume_ml: float
    method: str = "surface_nets"

    @property
    def n_triangles(self) -> int:
        return int(self.mesh.n_cells)

    def summary(self) -> dict[str, Any]:
        """JSON-ready measurements."""
        return {
            "label": self.label,
            "name": self.name,
            "volume_ml": round(self.volume_ml, 4),
            "voxel_volume_ml": round(self.voxel_volume_ml, 4),
            "area_mm2": round(self.area_mm2, 2),
            "centroid_mm": [round(float(v), 3) for v in self.centroid_mm],
            "voxels": self.voxel_count,
            "triangles": self.n_triangles,
        }


def _n_threads() -> int:
    """CPU cores this process may use (at most 8)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


_POOL: tuple[int, ThreadPoolExecutor] | None = None
_WORKER_PREFIX = "twin3d-surfaces"


def _pool() -> ThreadPoolExecutor:
    """Worker threads for the NumPy stages (NumPy releases the GIL in the kernels used here).

    A forked child gets a fresh pool (the parent's threads do not exist there).
    """
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(_n_threads(), thread_name_prefix=_WORKER_PREFIX))
    return _POOL[1]


def _in_worker() -> bool:
    return threading.current_thread().name.startswith(_WORKER_PREFIX)


def _row_chunks(n: int, min_rows: int = 100_000, cuts: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Split ``range(n)`` into one contiguous chunk per thread (none smaller than ``min_rows``).

    With ``cuts`` (sorted allowed boundaries, e.g. the first cell of every wall) the
    chunk boundaries snap to them.
    """
    k = max(1, min(_n_threads(), n // max(min_rows, 1)))
    bounds = np.linspace(0, n, k + 1).round().astype(np.int64)
    if cuts is not None and k > 1:
        bounds[1:-1] = cuts[np.clip(np.searchsorted(cuts, bounds[1:-1]), 0, len(cuts) - 1)]
        bounds = np.unique(bounds)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _run_chunks(fn: Callable[[int, int], Any], chunks: list[tuple[int, int]]) -> list[Any]:
    """``[fn(a, b) for a, b in chunks]``, on the worker threads (in order; serially inside a worker)."""
    if len(chunks) <= 1 or _in_worker():
        return [fn(a, b) for a, b in chunks]
    return list(_pool().map(lambda ab: fn(*ab), chunks))


def _enable_smp() -> None:
    """Use all cores in VTK's threaded filters unless the user chose a backend."""
    from vtkmodules.vtkCommonCore import vtkSMPTools

    if os.environ.get("VTK_SMP_BACKEND_IN_USE"):
        return
    if vtkSMPTools.GetBackend() == "Sequential":
        vtkSMPTools.SetBackend("STDThread")


def scan_labels(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Label ids present (excluding 0), their voxel counts, and the ``[lo, hi)`` box of
    the non-zero voxels (one threaded pass; ``lo = hi = 0`` when all are background)."""
    from . import kernels as K

    hi_value = int(arr.max()) if arr.size else 0
    if hi_value == 0:
        z = np.zeros(3, np.int64)
        return np.zeros(0, np.int64), np.zeros(0, np.int64), z, z
    if hi_value >= 1 << 20:  # very wide ids: count with a sort, box from the mask
        ids, counts = np.unique(arr, return_counts=True)
        keep = ids != 0
        nz = np.nonzero(arr)
        return (
            ids[keep].astype(np.int64), counts[keep].astype(np.int64),
            np.array([v.min() for v in nz]), np.array([v.max() + 1 for v in nz]),
        )
    big = np.iinfo(np.int64).max

    def scan(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        counts = np.zeros(hi_value + 1, np.int64)
        box = np.array([big, -1, big, -1, big, -1], np.int64)
        K.scan_labels(arr, a, b, counts, box)
        return counts, box

    parts = _run_chunks(scan, _row_chunks(len(arr), min_rows=8))
    counts = sum(p[0] for p in parts)
    boxes = np.stack([p[1] for p in parts])
    lo, hi = boxes[:, 0::2].min(axis=0), boxes[:, 1::2].max(axis=0)
    ids = np.flatnonzero(counts)
    ids = ids[ids != 0]
    return ids.astype(np.int64), counts[ids], lo, hi


def _padded(sub: np.ndarray, dtype: np.dtype | None = None, order: Literal["C", "F"] = "F") -> np.ndarray:
    """``sub`` with one voxel of zeros on every side, in ``order`` (copied in threaded slabs)."""
    out = np.zeros(tuple(s + 2 for s in sub.shape), dtype=dtype or sub.dtype, order=order)
    axis = 2 if order == "F" else 0  # slabs along the slowest axis are contiguous in ``out``

    def copy(a: int, b: int) -> None:
        src = [slice(None)] * 3
        dst = [slice(1, -1)] * 3
        src[axis], dst[axis] = slice(a, b), slice(1 + a, 1 + b)
        out[tuple(dst)] = sub[tuple(src)]

    _run_chunks(copy, _row_chunks(sub.shape[axis], min_rows=4))
    return out


def _image_data(arr: np.ndarray):
    """A vtkImageData (unit spacing, origin 0) whose point scalars view ``arr``.

    VTK's x axis is the array's fastest axis: axis 0 of a Fortran-ordered array,
    axis 2 of a C-ordered one (then VTK's (x, y, z) = array indices (k, j, i)).
    """
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData

    fortran = arr.flags.f_contiguous
    if not (fortran or arr.flags.c_contiguous):
        raise RuntimeError("_image_data needs a contiguous array")
    img = vtkImageData()
    img.SetDimensions(*(arr.shape if fortran else arr.shape[::-1]))
    flat = arr.ravel(order="F" if fortran else "C")
    scal = numpy_to_vtk(flat, deep=False)
    scal.SetName("labels")
    img.GetPointData().SetScalars(scal)  # numpy_to_vtk keeps a reference to ``flat``
    return img


def _windowed_sinc(poly, iterations: int, passband: float):
    from vtkmodules.vtkFiltersCore import vtkWindowedSincPolyDataFilter

    ws = vtkWindowedSincPolyDataFilter()
    ws.SetInputData(poly)
    ws.SetNumberOfIterations(int(iterations))
    ws.SetPassBand(float(passband))
    ws.BoundarySmoothingOff()
    ws.FeatureEdgeSmoothingOff()
    ws.NonManifoldSmoothingOn()
    ws.NormalizeCoordinatesOn()
    ws.Update()
    return ws.GetOutput()


#: Nuttall window terms (4-term, continuous first derivative), the default window of
#: VTK's windowed-sinc filter; its half-window is applied to the Chebyshev terms.
_NUTTALL = (0.355768, 0.487396, 0.144232, 0.012604)


def sinc_coefficients(iterations: int, passband: float) -> np.ndarray:
    """Chebyshev coefficients of the windowed-sinc low-pass filter (Taubin, Zhang & Golub 1996).

    The filter acts on the spectrum of ``M = (I + W) / 2`` (``W`` = neighbour
    average): with ``M``'s eigenvalues written as ``cos(theta)``, the ideal low pass
    keeps ``theta < theta_pb`` where ``cos(theta_pb) = 1 - passband / 2``. Its
    Fourier-Chebyshev series is truncated to ``iterations`` terms and tapered with a
    Nuttall half-window; the cut-off is then shifted (Newton on the offset) so that
    the filter passes exactly 1 at the pass band, which keeps low frequencies -- an
    organ's size and shape -- at scale.
    """
    n = int(iterations)
    i = np.arange(n + 1, dtype=np.float64)
    x = np.pi * i / (n + 1)
    window = sum(a * np.cos(k * x) for k, a in enumerate(_NUTTALL))
    theta_pb = float(np.arccos(1.0 - 0.5 * passband))
    at_pb = np.cos(i * theta_pb)  # T_i at the pass band
    safe_i = np.maximum(i, 1.0)

    def series(t: float) -> tuple[np.ndarray, np.ndarray]:
        c = np.where(i == 0, t / np.pi, 2.0 * np.sin(i * t) / (safe_i * np.pi)) * window
        dc = np.where(i == 0, 1.0 / np.pi, 2.0 * np.cos(i * t) / np.pi) * window
        return c, dc

    offset = 0.0
    for _ in range(100):
        c, dc = series(theta_pb + offset)
        err = float(c @ at_pb) - 1.0
        if abs(err) < 1e-12 or n < 2:
            break
        offset -= err / float(dc @ at_pb)
    return c


def windowed_sinc_stencils(points: np.ndarray, stencils, iterations: int, passband: float) -> np.ndarray:
    """Windowed-sinc smoothing of ``points`` (float32, N x 3) over the given smoothing stencils.

    ``stencils`` (a vtkCellArray: the neighbours of every point) come from the
    surface-nets pass; ``W`` averages each point's neighbours. The filter
    ``sum_i c_i T_i(M) x`` with ``M = (I + W) / 2`` is evaluated with Clenshaw's
    recurrence ``b_k = c_k x + 2 M b_{k+1} - b_{k+2}`` in float32 about the centroid
    (one compiled pass over the mesh per coefficient, split over threads).
    """
    from vtkmodules.util.numpy_support import vtk_to_numpy

    from . import kernels as K

    n = len(points)
    if stencils.GetNumberOfCells() != n:
        raise RuntimeError(f"smoothing stencils for {stencils.GetNumberOfCells()} points, mesh has {n}")
    offsets = vtk_to_numpy(stencils.GetOffsetsArray())
    neighbours = vtk_to_numpy(stencils.GetConnectivityArray())
    if len(neighbours) < np.iinfo(np.int32).max:  # half the index traffic of VTK's 64-bit ids
        neighbours = neighbours.astype(np.int32)
    sizes = np.diff(offsets)
    sizes = sizes.astype(np.uint8) if sizes.max(initial=0) < 256 else sizes.astype(np.int64)
    coeffs = sinc_coefficients(iterations, passband).astype(np.float32)
    centre = point_mean(points).astype(np.float32)
    x = np.asarray(points, np.float32) - centre
    b1, b2 = np.zeros_like(x), np.zeros_like(x)
    chunks = _row_chunks(n)

    def sweep(kernel, *args) -> None:
        _run_chunks(lambda a, b: kernel(sizes, int(offsets[a]), neighbours, x, *args, a, b), chunks)

    for c in coeffs[:0:-1]:  # k = n .. 1
        sweep(K.clenshaw_step, b1, b2, c)
        b1, b2 = b2, b1
    out = np.empty_like(x)
    sweep(K.clenshaw_final, b1, b2, coeffs[0], centre, out)
    return out


def _poly_arrays(poly) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (a copy, the filter's precision), cell offsets and connectivity (views, 32 or 64 bit)."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    pts = vtk_to_numpy(poly.GetPoints().GetData()).copy() if poly.GetPoints() else np.zeros((0, 3), np.float32)
    polys = poly.GetPolys()
    return pts, vtk_to_numpy(polys.GetOffsetsArray()), vtk_to_numpy(polys.GetConnectivityArray())


def _triangles(points: np.ndarray, offsets: np.ndarray, conn: np.ndarray) -> tuple[np.ndarray, int]:
    """Triangulate the polygons of a VTK mesh; returns ``(int32 triangles, per)``.

    Every input cell becomes ``per`` consecutive triangles (1 for triangles, 2 for
    quads, which are split along their shorter diagonal, keeping the winding).
    """
    sizes = np.diff(offsets)
    if sizes.size == 0:
        return np.zeros((0, 3), np.int32), 1
    if np.all(sizes == 3):
        return conn.reshape(-1, 3).astype(np.int32, copy=False), 1
    if np.all(sizes == 4):
        return split_quads(points, conn.reshape(-1, 4).astype(np.int32, copy=False)), 2
    raise RuntimeError(f"unexpected polygon sizes {np.unique(sizes).tolist()} from a VTK filter (expected triangles or quads)")


def split_quads(points: np.ndarray, quads: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """Quads ``(a, b, c, d)`` (taken in ``order``) -> two triangles each, cut along the
    shorter diagonal, same winding."""
    from . import kernels as K

    if order is None:
        order = np.arange(len(quads), dtype=np.int64)
    tris = np.empty((2 * len(order), 3), np.int32)
    _run_chunks(lambda a, b: K.split_quads(points, quads, order, tris, a, b), _row_chunks(len(order)))
    return tris


def _decimate_pro(points: np.ndarray, tris: np.ndarray, reduction: float, *, keep_boundary: bool):
    """vtkDecimatePro (topology preserved); returns ``(triangles in input point ids)``."""
    from vtkmodules.vtkFiltersCore import vtkDecimatePro

    mesh = pv.PolyData.from_regular_faces(points, tris)
    mesh.point_data["twin3d_id"] = np.arange(len(points), dtype=np.float64)  # exact for < 2**53 points
    dec = vtkDecimatePro()
    dec.SetInputData(mesh)
    dec.SetTargetReduction(float(reduction))
    dec.PreserveTopologyOn()
    dec.SplittingOff()
    dec.SetFeatureAngle(60.0)
    dec.SetBoundaryVertexDeletion(not keep_boundary)
    dec.Update()
    out = pv.wrap(dec.GetOutput())
    if out.n_cells == 0:
        return tris
    ids = np.asarray(out.point_data["twin3d_id"]).astype(np.int64)
    return ids[out.regular_faces]


@dataclass
class _SharedMesh:
    """Output of the multi-label surface-nets pass.

    Points are in VTK's frame of the padded crop; ``to_index`` (4 x 4) maps them to
    label-map voxel indices. Cells are grouped by wall: the cells
    ``starts[w]:starts[w + 1]`` (``per`` triangles each, so triangles
    ``per * starts[w]:per * starts[w + 1]``) separate the labels
    ``walls[w] = (inside, outside)``; in VTK's frame their triangles face away from
    ``inside`` (outward for it, inward for ``outside``, which may be 0 = background).
    """

    points: np.ndarray  # float32, smoothed
    raw: np.ndarray | None  # float32, before smoothing (None when not smoothed)
    to_index: np.ndarray  # float64 4 x 4
    tris: np.ndarray  # int32 triangles
    per: int
    starts: np.ndarray  # int64, n_walls + 1
    walls: np.ndarray  # int64 (n_walls, 2) label values


def _group_by_wall(pairs: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order that groups cells by their (label0, label1) pair; returns ``(order, starts, walls)``."""
    if n_cells == 0:
        return np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros((0, 2), np.int64)
    if pairs.dtype.itemsize <= 2:  # 8/16-bit labels index the key directly
        a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
        hi = int(max(a.max(), b.max())) + 1
    else:  # wide label values: number the labels present first
        uniq, inv = np.unique(pairs, return_inverse=True)
        inv = inv.reshape(-1, 2)
        a, b, hi = inv[:, 0].astype(np.int64), inv[:, 1].astype(np.int64), len(uniq)
    key = a * hi + b
    # 16-bit keys sort with numpy's radix sort
    sort_key = key.astype(np.uint16) if hi * hi <= 1 << 16 else key
    order = np.argsort(sort_key, kind="stable")
    key_sorted = key[order]
    first = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    starts = np.r_[first, n_cells].astype(np.int64)
    cells = order[first]
    walls = np.stack([pairs[cells, 0], pairs[cells, 1]], axis=1).astype(np.int64)
    return order, starts, walls


def _surface_nets(
    arr: np.ndarray,
    labels: np.ndarray,
    box: tuple[np.ndarray, np.ndarray],
    iterations: int,
    passband: float,
    decimate: float | None,
    advance,
) -> _SharedMesh:
    """One multi-label surface-nets pass over the label map cropped to ``box`` (``[lo, hi)``
    around the non-zero voxels), smoothed once."""
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkFiltersCore import vtkSurfaceNets3D

    lo, hi = box
    sub = arr[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    # C order: a plain slab copy (a Fortran-ordered copy transposes); VTK then sees
    # the axes reversed, which ``to_index`` undoes.
    padded = _padded(sub, order="C")
    img = _image_data(padded)
    sn = vtkSurfaceNets3D()
    sn.SetInputData(img)
    sn.SetBackgroundLabel(0)
    for i, lab in enumerate(labels):
        sn.SetLabel(i, float(lab))
    if iterations > 0:
        # Its own (constrained Laplacian) smoother shrinks small organs, so it runs one
        # pass that moves nothing (relaxation 0) only to build the smoothing stencils;
        # the windowed sinc below uses them.
        sn.SmoothingOn()
        sn.SetNumberOfIterations(1)
        sn.SetRelaxationFactor(0.0)
    else:
        sn.SmoothingOff()
    sn.SetOutputMeshTypeToQuads()  # fewer cells to sort; triangulated afterwards
    sn.Update()
    poly = sn.GetOutput()
    advance(1, step="surface nets")
    points, offsets, conn = _poly_arrays(poly)
    points = points.astype(np.float32, copy=False)
    raw = None
    if iterations > 0 and len(points):
        raw = points
        points = windowed_sinc_stencils(raw, sn.GetSmoother().GetSmoothingStencils(), iterations, passband)
        advance(1, step="smoothing")
    pairs = vtk_to_numpy(poly.GetCellData().GetArray("BoundaryLabels")).reshape(-1, 2)
    n_cells = len(offsets) - 1
    if n_cells and poly.GetPolys().IsHomogeneous() != 4:
        sizes = np.diff(offsets)
        raise RuntimeError(f"unexpected polygon sizes {np.unique(sizes).tolist()} from vtkSurfaceNets3D (expected quads)")
    order, starts, walls = _group_by_wall(pairs, n_cells)
    tris, per = split_quads(points, conn.reshape(-1, 4), order), 2
    if decimate:
        # Per wall, with its border vertices kept: neighbours still share their walls.
        new_tris, new_starts = [], [0]
        lut = np.empty(len(points), np.int64)
        for w in range(len(walls)):
            t = tris[per * starts[w] : per * starts[w + 1]]
            used = np.unique(t)
            lut[used] = np.arange(len(used))
            dt = _decimate_pro(points[used], lut[t], decimate, keep_boundary=True)
            new_tris.append(used[dt].astype(np.int32))
            new_starts.append(new_starts[-1] + len(dt))
        tris, starts, per = np.concatenate(new_tris), np.asarray(new_starts, np.int64), 1
        advance(1, step="decimation")
    to_index = np.zeros((4, 4))  # VTK (x, y, z) = padded-crop (k, j, i) -> label map (i, j, k)
    to_index[[0, 1, 2], [2, 1, 0]] = 1.0
    to_index[:3, 3] = lo - 1
    to_index[3, 3] = 1.0
    return _SharedMesh(points, raw, to_index, tris, per, starts, walls)


#: A smoothed organ keeping less than this share of its voxel volume is too small for
#: the low-pass filter (e.g. a single voxel collapses to a point); it keeps its
#: unsmoothed, voxel-exact vertices.
MIN_SMOOTHED_VOLUME_RATIO = 0.5


def wall_measures(world: np.ndarray, tris: np.ndarray, tri_starts: np.ndarray):
    """Per wall: signed volume, area and volume moment (about ``ref``) of its triangles.

    Returns ``(ref, volume, area, moment, cross)``; ``cross`` (float32) is twice each
    triangle's area-weighted normal. Volumes and moments are those of the cones from
    ``ref`` (the point mean), so they add up to an organ's over its closed surface.
    One compiled pass (float64 sums), each thread on a run of whole walls.
    """
    from . import kernels as K

    ref = point_mean(world)
    cross = np.empty((len(tris), 3), np.float32)
    n_walls = len(tri_starts) - 1
    sums = np.zeros((n_walls, 5))
    if len(tris):

        def measure(a: int, b: int) -> None:
            w0, w1 = np.searchsorted(tri_starts, [a, b])  # chunks start and end on wall starts
            K.wall_sums(world, tris, tri_starts, ref, cross, sums, int(w0), int(w1))

        _run_chunks(measure, _row_chunks(len(tris), cuts=tri_starts[:-1]))
    return ref, sums[:, 0] / 6.0, sums[:, 1] / 2.0, sums[:, 2:] / 24.0, cross


def _shared_organs(
    world: np.ndarray,
    mesh: _SharedMesh,
    mirrored: bool,
    present: np.ndarray,
    selected: np.ndarray,
    *,
    voxel_mm3: np.ndarray | None = None,
    raw_world: Callable[[], np.ndarray] | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, float, float, np.ndarray]]:
    """Measure and split the shared multi-label mesh.

    ``world`` are the world-space points of ``mesh``; ``mirrored``: the affine
    mirrors, so every triangle faces the other way in world space. Every triangle is
    measured once; a wall counts with its own orientation for the organ it faces
    away from and reversed for the other. With ``raw_world`` (returns the points
    before smoothing) and ``voxel_mm3`` (voxel volume per label of ``present``),
    organs that smoothing collapsed get their unsmoothed vertices back. Yields, per
    selected label, ``(label, points, outward faces, vertex normals, volume mm^3,
    area mm^2, volume centroid)``; the vertex normals are each organ's own (at a
    junction, where walls of several organs meet, only that organ's faces count).
    """
    from . import kernels as K

    n_lab = len(present)
    tris, per, starts = mesh.tris, mesh.per, mesh.starts
    tri_starts = starts * per
    present = np.asarray(present, np.int64)
    order = np.argsort(present, kind="stable")
    sorted_ids = present[order]

    def slot(ids: np.ndarray) -> np.ndarray:
        """Index of each label id in ``present``; background and unknown ids -> the spare bin
        ``n_lab`` (a search, not a table sized by the largest id: ids may reach 2^32)."""
        ids = np.asarray(ids, np.int64)
        pos = np.clip(np.searchsorted(sorted_ids, ids), 0, max(n_lab - 1, 0))
        found = sorted_ids[pos] == ids if n_lab else np.zeros(ids.shape, bool)
        return np.where(found, order[pos] if n_lab else 0, n_lab)

    out_k, in_k = slot(mesh.walls[:, 0]), slot(mesh.walls[:, 1])
    if mirrored:  # in world space the triangles face away from the second label
        out_k, in_k = in_k, out_k
    nb = n_lab + 1

    def per_organ(ref, vol_w, area_w, mom_w):
        vol = np.bincount(out_k, vol_w, nb) - np.bincount(in_k, vol_w, nb)
        area = np.bincount(out_k, area_w, nb) + np.bincount(in_k, area_w, nb)
        mom = np.stack([np.bincount(out_k, m, nb) - np.bincount(in_k, m, nb) for m in mom_w.T], 1)
        return vol, area, mom

    ref, vol_w, area_w, mom_w, cross = wall_measures(world, tris, tri_starts)
    vol, areas, mom = per_organ(ref, vol_w, area_w, mom_w)
    if raw_world is not None and voxel_mm3 is not None:
        collapsed = np.zeros(nb, bool)
        collapsed[:n_lab] = vol[:n_lab] < MIN_SMOOTHED_VOLUME_RATIO * voxel_mm3
        if collapsed.any():
            walls = np.flatnonzero(collapsed[out_k] | collapsed[in_k])
            restore = np.unique(np.concatenate([tris[tri_starts[w] : tri_starts[w + 1]].ravel() for w in walls]))
            world = world.copy()
            world[restore] = raw_world()[restore]
            ref, vol_w, area_w, mom_w, cross = wall_measures(world, tris, tri_starts)
            vol, areas, mom = per_organ(ref, vol_w, area_w, mom_w)

    scratch = threading.local()  # per thread: vertex stamp + local-id buffers for organ_mesh

    def organ(k: int, label: int):
        i = int(slot(np.array([label]))[0])
        fwd, rev = np.flatnonzero(out_k == i), np.flatnonzero(in_k == i)
        walls = np.concatenate([fwd, rev])
        signs = np.r_[np.ones(len(fwd)), -np.ones(len(rev))].astype(np.float32)
        if getattr(scratch, "stamp", None) is None:
            scratch.stamp = np.full(len(world), -1, np.int32)
            scratch.lut = np.empty(len(world), np.int32)
        pts, faces, normals = K.organ_mesh(
            world, tris, cross, tri_starts[walls], tri_starts[walls + 1], signs, scratch.stamp, scratch.lut, k
        )
        v = float(vol[i])
        centroid = ref + mom[i] / v if v != 0 and len(faces) else np.full(3, np.nan)
        return int(label), pts, faces, normals, v if len(faces) else 0.0, float(areas[i]), centroid

    jobs = list(enumerate(int(v) for v in selected))
    if len(jobs) > 1 and _n_threads() > 1 and not _in_worker():
        yield from _pool().map(lambda kl: organ(*kl), jobs)
    else:
        for k, label in jobs:
            yield organ(k, label)


def _flying_edges(
    arr: np.ndarray, labels: np.ndarray, iterations: int, passband: float, decimate: float | None, advance
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Per-label closed surfaces: index-space points and outward triangles."""
    from scipy import ndimage
    from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D

    if int(labels.max()) < 1 << 20:
        compact, boxes_for = arr, {int(lab): int(lab) for lab in labels}
    else:  # huge ids: find_objects allocates one slot per id
        uniq, inv = np.unique(arr, return_inverse=True)
        compact = inv.reshape(arr.shape).astype(np.int64)
        boxes_for = {int(v): int(i) for i, v in enumerate(uniq)}
    boxes = ndimage.find_objects(compact)
    for label in labels:
        sl = boxes[boxes_for[int(label)] - 1]
        lo = np.array([s.start for s in sl])
        mask = compact[sl] == boxes_for[int(label)]
        padded = _padded(mask, np.uint8, order="F")
        img = _image_data(padded)
        fe = vtkDiscreteFlyingEdges3D()
        fe.SetInputData(img)
        fe.ComputeNormalsOff()
        fe.ComputeGradientsOff()
        fe.ComputeScalarsOff()
        fe.SetValue(0, 1.0)
        fe.Update()
        poly = fe.GetOutput()
        points, offsets, conn = _poly_arrays(poly)
        points = points.astype(np.float64)
        tris, _ = _triangles(points, offsets, conn)
        raw_volume = _signed_volume(points, tris)
        if raw_volume < 0:  # make the faces outward (the filter's winding is not documented)
            tris = tris[:, ::-1].copy()
            raw_volume = -raw_volume
        if iterations > 0 and len(tris):
            smoothed = _poly_arrays(_windowed_sinc(poly, iterations, passband))[0].astype(np.float64)
            # same points and cells, moved; organs too small for the filter keep their raw surface
            if _signed_volume(smoothed, tris) >= MIN_SMOOTHED_VOLUME_RATIO * raw_volume:
                points = smoothed
        if decimate and len(tris):
            tris = _decimate_pro(points, tris, decimate, keep_boundary=False)
            if _signed_volume(points, tris) < 0:
                tris = tris[:, ::-1].copy()
        advance(1, organ=int(label))
        yield int(label), points + (lo - 1), tris


def point_mean(points: np.ndarray) -> np.ndarray:
    """Mean of the rows of ``points`` (N x 3), float64, threaded."""
    from . import kernels as K

    if len(points) == 0:
        return np.zeros(3)
    parts = _run_chunks(lambda a, b: K.point_sum(points, a, b), _row_chunks(len(points)))
    return np.sum(parts, axis=0) / len(points)


def _affine_points(points: np.ndarray, lin: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``points @ lin.T + shift`` (float32 out, float64 maths), threaded."""
    from . import kernels as K

    out = np.empty(points.shape, np.float32)
    lin, shift = np.ascontiguousarray(lin, np.float64), np.ascontiguousarray(shift, np.float64)
    _run_chunks(lambda a, b: K.affine_points(points, lin, shift, out, a, b), _row_chunks(len(points)))
    return out


def _signed_volume(points: np.ndarray, tris: np.ndarray) -> float:
    if len(tris) == 0:
        return 0.0
    ref = points.mean(axis=0)
    v0, v1, v2 = points[tris[:, 0]] - ref, points[tris[:, 1]] - ref, points[tris[:, 2]] - ref
    return float(np.einsum("ij,ij->i", v0, np.cross(v1, v2)).sum() / 6.0)


def _compact(points: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the points ``faces`` use; renumber faces."""
    mark = np.zeros(len(points), bool)
    mark[faces.ravel()] = True
    used = np.flatnonzero(mark)
    lut = np.empty(len(points), np.int64)
    lut[used] = np.arange(len(used))
    return points[used], lut[faces]


def _measure(points: np.ndarray, faces: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Enclosed volume (mm^3), area (mm^2), volume centroid and area-weighted face normals."""
    if len(faces) == 0:
        return 0.0, 0.0, np.full(3, np.nan), np.zeros((0, 3))
    ref = points.mean(axis=0)  # shift for numerical accuracy; results do not depend on it
    v0, v1, v2 = points[faces[:, 0]] - ref, points[faces[:, 1]] - ref, points[faces[:, 2]] - ref
    cross = np.cross(v1 - v0, v2 - v0)
    area = 0.5 * float(np.linalg.norm(cross, axis=1).sum())
    tet = np.einsum("ij,ij->i", v0, np.cross(v1, v2)) / 6.0  # signed volumes of (ref, v0, v1, v2)
    vol = float(tet.sum())
    if abs(vol) > 0:
        centroid = ref + (tet[:, None] * (v0 + v1 + v2)).sum(axis=0) / (4.0 * vol)
    else:
        centroid = np.full(3, np.nan)
    return vol, area, centroid, cross


def _vertex_normals(n_points: int, faces: np.ndarray, face_normals: np.ndarray) -> np.ndarray:
    normals = np.zeros((n_points, 3))
    for c in range(3):
        normals[:, c] = sum(np.bincount(faces[:, k], weights=face_normals[:, c], minlength=n_points) for k in range(3))
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    norm[norm == 0] = 1.0
    return (normals / norm).astype(np.float32)


def _check_smoothing(smoothing: bool | int | None) -> int:
    if smoothing is None or smoothing is False:
        return 0
    if smoothing is True:
        return DEFAULT_SMOOTHING_ITERATIONS
    if isinstance(smoothing, (int, np.integer)) and 0 <= int(smoothing) <= 1000:
        return int(smoothing)
    raise InputError(
        f"smoothing must be True/False or a number of windowed-sinc iterations in [0, 1000], got {smoothing!r}"
    )


#: Peak memory of :func:`labelmap_to_surfaces` per voxel of the box around the labels
#: (measured: about 29 B on a 256x208x136 phantom, VTK's surface nets and smoothing included).
BYTES_PER_BOX_VOXEL = 24


def labelmap_to_surfaces(
    labelmap: Volume,
    table: LabelTable | Mapping[Any, Any] | str | os.PathLike | None = None,
    *,
    method: Literal["surface_nets", "flying_edges"] = "surface_nets",
    smoothing: bool | int | None = True,
    passband: float = DEFAULT_PASSBAND,
    decimate: float | None = None,
    labels: Iterable[int] | None = None,
    progress: bool | None = None,
) -> dict[str, OrganSurface]:
    """Turn a label map into one named surface per label, in world millimetres.

    Parameters
    ----------
    labelmap
        Integer label map (0 = background); see :func:`~twin3d.io.volumes.read_labelmap`.
        LPS volumes are converted to RAS; the surfaces are in the RAS+ world frame.
    table
        Label names and colours (see :func:`load_label_table`); labels missing from
        the table are named ``label_<id>``.
    method
        ``"surface_nets"`` (default: one multi-label pass, shared walls, no gaps) or
        ``"flying_edges"`` (per label, closed surfaces; neighbours may leave gaps).
    smoothing
        Windowed-sinc iterations (``True`` = 20, ``False``/0 = none: staircase
        surfaces that enclose the voxels exactly).
    passband
        Windowed-sinc pass band (0 < passband < 2; smaller = smoother). 0.01 as 3D
        Slicer's default smoothing.
    decimate
        Optional target reduction in [0, 1) of the triangle count (``vtkDecimatePro``
        with topology preserved). With surface nets each wall is decimated on its own
        with its border kept, so neighbours still share their walls.
    labels
        Only these label ids (default: every non-zero label present). With surface
        nets all labels still shape the walls.
    progress
        Show a progress bar (default: only on an interactive terminal).

    Returns
    -------
    dict[str, OrganSurface]
        Organ name -> surface, in label order.

    Raises
    ------
    InputError
        Not a label map (float values, negative ids), an empty label map, unknown
        ``labels``, or bad parameters.
    """
    if method not in SURFACE_METHODS:
        raise InputError(f"unknown surface method {method!r}; valid: {list(SURFACE_METHODS)}")
    iterations = _check_smoothing(smoothing)
    if iterations and not (0.0 < float(passband) < 2.0):
        raise InputError(f"passband must be in (0, 2), got {passband!r}")
    if decimate is not None and not (0.0 <= float(decimate) < 1.0):
        raise InputError(f"decimate must be a target reduction in [0, 1), got {decimate!r}")
    decimate = float(decimate) if decimate else None
    lm = as_labelmap(labelmap).to_ras()
    tbl = load_label_table(table)
    arr = lm.array
    present, counts, box_lo, box_hi = scan_labels(arr)
    if present.size == 0:
        raise InputError(
            f"the label map is empty: all {arr.size} voxels are background (0); there are no organs to extract"
        )
    from ..budgets import check_memory

    box = np.asarray(box_hi, np.float64) - np.asarray(box_lo, np.float64) + 2
    check_memory(float(np.prod(box)) * BYTES_PER_BOX_VOXEL, "extracting organ surfaces",
                 detail=f"a {'x'.join(str(int(v)) for v in box)} voxel box around the labels x "
                        f"{BYTES_PER_BOX_VOXEL} B (padded copies, surface nets, smoothing)")
    count_of = dict(zip(present.tolist(), counts.tolist()))
    if labels is not None:
        wanted = np.unique(np.asarray(list(labels), dtype=np.int64))
        missing = [int(v) for v in wanted if int(v) not in count_of]
        if missing:
            raise InputError(f"label(s) {missing} are not in the label map; present: {present.tolist()}")
        selected = wanted
    else:
        selected = present

    _enable_smp()
    affine = lm.affine
    lin, shift = affine[:3, :3], affine[:3, 3]
    mirrored = np.linalg.det(lin) < 0
    voxel_ml = lm.voxel_volume_mm3 / 1000.0

    def make(label, world, faces, normals, vol, area, centroid) -> OrganSurface:
        mesh = pv.PolyData.from_regular_faces(world, faces)
        if len(faces):
            mesh.point_data["Normals"] = normals
            mesh.point_data.active_normals_name = "Normals"
        info = tbl.info(label)
        return OrganSurface(
            label=label,
            name=info.name,
            color=info.color,
            mesh=mesh,
            volume_ml=vol / 1000.0,
            area_mm2=area,
            centroid_mm=np.asarray(centroid, dtype=np.float64),
            voxel_count=int(count_of[label]),
            voxel_volume_ml=count_of[label] * voxel_ml,
            method=method,
        )

    out: dict[str, OrganSurface] = {}
    if method == "surface_nets":
        total = 1 + (iterations > 0) + (decimate is not None) + len(selected)
        with progress_bar("organ surfaces", total, enabled=progress) as advance:
            shared = _surface_nets(arr, present, (box_lo, box_hi), iterations, passband, decimate, advance)
            to_world = affine @ shared.to_index
            sn_lin, sn_shift = to_world[:3, :3], to_world[:3, 3]
            world = _affine_points(shared.points, sn_lin, sn_shift)
            raw = shared.raw

            def raw_world() -> np.ndarray:
                return _affine_points(raw, sn_lin, sn_shift)

            voxel_mm3 = counts * lm.voxel_volume_mm3
            for item in _shared_organs(
                world, shared, bool(np.linalg.det(sn_lin) < 0), present, selected,
                voxel_mm3=voxel_mm3, raw_world=None if raw is None else raw_world,
            ):
                s = make(*item)
                out[s.name] = s
                advance(1, organ=s.name)
    else:
        with progress_bar("organ surfaces", len(selected), enabled=progress) as advance:
            for label, points, faces in _flying_edges(arr, selected, iterations, passband, decimate, advance):
                pts, faces = _compact(points, faces)
                world = pts @ lin.T + shift
                if mirrored:
                    faces = faces[:, ::-1]
                vol, area, centroid, fn = _measure(world, faces)
                s = make(label, world, faces, _vertex_normals(len(world), faces, fn), vol, area, centroid)
                out[s.name] = s
    return out
