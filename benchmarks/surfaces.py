"""Organ surfaces from a label map: twin3d vs scikit-image vs a 3D-Slicer-style pipeline.

    .venv/bin/python benchmarks/surfaces.py [--upsample 4] [--repeat 3] [--seg PATH]

Input: the real TotalSegmentator segmentation ``../shared/data/ct/abdomen_seg_3mm.nii.gz``
(122x101x30 voxels, 3 mm, 41 organs) upsampled ``--upsample`` times per axis with
nearest-neighbour (4x: 488x404x120 voxels at 0.75 mm).

Methods, all producing one world-space (RAS mm) surface per label in the same run:

* ``twin3d surface_nets`` -- :func:`twin3d.anatomy.labelmap_to_surfaces` with its
  defaults: one multi-label ``vtkSurfaceNets3D`` pass, windowed-sinc smoothing
  (20 iterations, pass band 0.01), per-organ split with outward faces, volume,
  area, centroid and vertex normals.
* ``twin3d flying_edges`` -- the same function with ``method="flying_edges"``
  (closed per-label surfaces, each label cropped to its bounding box).
* ``skimage marching_cubes loop`` -- ``skimage.measure.marching_cubes(labels == id,
  0.5)`` per label on the whole volume (padded once by one voxel so that organs on
  the border close), vertices mapped through the affine (no smoothing).
* ``Slicer-style`` -- what 3D Slicer's binary-labelmap -> closed-surface conversion
  does per segment of a shared label map: ``vtkDiscreteFlyingEdges3D`` with the
  segment's label value over the (padded) label map, ``vtkWindowedSincPolyDataFilter``
  (20 iterations, pass band 0.01, boundary/feature smoothing off, non-manifold
  smoothing on, normalized coordinates), transform to world, ``vtkPolyDataNormals``
  (consistency on, splitting off).

VTK filters run with the STDThread SMP backend (all cores) for every method.

Gap check: on every wall between two labelled organs A and B (voxel faces with A on
one side and B on the other), sample points x on the wall and evaluate the signed
distances s_A(x), s_B(x) to the two surfaces (negative inside). Where the surfaces
share the wall, s_A + s_B = 0; a gap between them gives s_A + s_B > 0 (its width),
an overlap < 0. The table reports the largest gap and the share of wall samples
with a gap or an overlap wider than 0.1 mm.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pyvista as pv

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEG = REPO.parent / "shared" / "data" / "ct" / "abdomen_seg_3mm.nii.gz"


# --------------------------------------------------------------------------- data
def upsampled(path: Path, factor: int):
    from twin3d.io.volumes import Volume, read_labelmap

    lm = read_labelmap(path)
    if factor == 1:
        return lm
    a = lm.array
    for ax in range(3):
        a = np.repeat(a, factor, axis=ax)
    # voxel i' of the fine grid has its centre at coarse index (i' + 0.5) / f - 0.5
    scale = np.eye(4)
    scale[:3, :3] /= factor
    scale[:3, 3] = 0.5 / factor - 0.5
    return Volume(np.ascontiguousarray(a), lm.affine @ scale, "RAS")


# --------------------------------------------------------------------------- methods
def ours(lm, method="surface_nets"):
    from twin3d.anatomy import labelmap_to_surfaces

    s = labelmap_to_surfaces(lm, "totalsegmentator", method=method, progress=False)
    return {v.label: v.mesh for v in s.values()}


def skimage_loop(lm):
    from skimage.measure import marching_cubes

    a = np.pad(lm.array, 1)  # one voxel of background so organs on the border are closed too
    lin, t = lm.affine[:3, :3], lm.affine[:3, 3] - lm.affine[:3, :3] @ np.ones(3)
    labels = np.unique(a)
    out = {}
    for lab in labels[labels != 0]:
        verts, faces, _normals, _values = marching_cubes(a == lab, level=0.5)
        out[int(lab)] = (verts @ lin.T + t, faces)
    return out


def slicer_style(lm, iterations=20, passband=0.01):
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkCommonMath import vtkMatrix4x4
    from vtkmodules.vtkCommonTransforms import vtkTransform
    from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
    from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D, vtkTransformFilter

    a = lm.array
    labels = np.unique(a)
    labels = labels[labels != 0]
    # Slicer pads the shared label map by one voxel only if the border is not empty.
    border = any(np.any(np.take(a, i, axis=ax)) for ax in range(3) for i in (0, -1))
    pad = 1 if border else 0
    arr = np.pad(a, pad) if pad else a
    flat = np.asfortranarray(arr).ravel(order="F")
    img = vtkImageData()
    img.SetDimensions(*arr.shape)
    img.GetPointData().SetScalars(numpy_to_vtk(flat, deep=False))
    m = lm.affine.copy()
    m[:3, 3] -= m[:3, :3] @ np.full(3, pad)  # padded IJK -> world
    mat = vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            mat.SetElement(r, c, m[r, c])
    tr = vtkTransform()
    tr.SetMatrix(mat)
    out = {}
    for lab in labels:
        fe = vtkDiscreteFlyingEdges3D()
        fe.SetInputData(img)
        fe.ComputeGradientsOff()
        fe.ComputeNormalsOff()
        fe.SetValue(0, float(lab))
        fe.Update()
        ws = vtkWindowedSincPolyDataFilter()
        ws.SetInputConnection(fe.GetOutputPort())
        ws.SetNumberOfIterations(iterations)
        ws.SetPassBand(passband)
        ws.BoundarySmoothingOff()
        ws.FeatureEdgeSmoothingOff()
        ws.NonManifoldSmoothingOn()
        ws.NormalizeCoordinatesOn()
        tf = vtkTransformFilter()
        tf.SetInputConnection(ws.GetOutputPort())
        tf.SetTransform(tr)
        nm = vtkPolyDataNormals()
        nm.SetInputConnection(tf.GetOutputPort())
        nm.ConsistencyOn()
        nm.SplittingOff()
        nm.Update()
        out[int(lab)] = pv.wrap(nm.GetOutput())
    return out


# --------------------------------------------------------------------------- checks
def as_outward_mesh(m) -> pv.PolyData:
    if isinstance(m, tuple):
        m = pv.PolyData.from_regular_faces(*m)
    m = pv.PolyData(m.points.copy(), m.faces.copy()) if m.n_cells else m
    f = m.regular_faces
    p = np.asarray(m.points, float)
    if len(f) and np.einsum("ij,ij->i", p[f[:, 0]], np.cross(p[f[:, 1]], p[f[:, 2]])).sum() < 0:
        m = pv.PolyData.from_regular_faces(p, f[:, ::-1])
    return m


def volume_and_centroid(m) -> tuple[float, np.ndarray]:
    f = m.regular_faces
    p = np.asarray(m.points, float)
    ref = p.mean(0)
    v0, v1, v2 = p[f[:, 0]] - ref, p[f[:, 1]] - ref, p[f[:, 2]] - ref
    tet = np.einsum("ij,ij->i", v0, np.cross(v1, v2)) / 6
    vol = tet.sum()
    return float(vol), ref + (tet[:, None] * (v0 + v1 + v2)).sum(0) / (4 * vol)


def wall_samples(lm, per_pair: int, seed: int = 0) -> dict[tuple[int, int], np.ndarray]:
    """World points on the walls between two different non-zero labels."""
    a = lm.array
    rng = np.random.default_rng(seed)
    walls: dict[tuple[int, int], list[np.ndarray]] = {}
    for ax in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        x, y = a[tuple(lo)], a[tuple(hi)]
        sel = (x != y) & (x != 0) & (y != 0)
        idx = np.argwhere(sel).astype(float)
        la, lb = x[sel].astype(int), y[sel].astype(int)
        idx[:, ax] += 0.5
        key = np.minimum(la, lb) * 100000 + np.maximum(la, lb)
        for k in np.unique(key):
            walls.setdefault((int(k // 100000), int(k % 100000)), []).append(idx[key == k])
    out = {}
    for pair, chunks in walls.items():
        pts = np.concatenate(chunks)
        if len(pts) > per_pair:
            pts = pts[rng.choice(len(pts), per_pair, replace=False)]
        out[pair] = lm.index_to_world(pts)
    return out


def signed_distance(mesh: pv.PolyData, pts: np.ndarray) -> np.ndarray:
    from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
    from vtkmodules.vtkCommonCore import vtkDoubleArray
    from vtkmodules.vtkFiltersCore import vtkImplicitPolyDataDistance

    f = vtkImplicitPolyDataDistance()
    f.SetInput(mesh)
    res = vtkDoubleArray()
    f.FunctionValue(numpy_to_vtk(np.ascontiguousarray(pts, dtype=np.float64), deep=True), res)
    return vtk_to_numpy(res).copy()


def gap_check(meshes: dict[int, pv.PolyData], walls: dict[tuple[int, int], np.ndarray]) -> dict[str, float]:
    # group wall points by organ so each organ's locator is built once
    per_organ: dict[int, list[tuple[tuple[int, int], np.ndarray]]] = {}
    for pair, pts in walls.items():
        for lab in pair:
            per_organ.setdefault(lab, []).append((pair, pts))
    dist: dict[tuple[int, tuple[int, int]], np.ndarray] = {}
    for lab, items in per_organ.items():
        pts = np.concatenate([p for _, p in items])
        d = signed_distance(meshes[lab], pts)
        k = 0
        for pair, p in items:
            dist[(lab, pair)] = d[k : k + len(p)]
            k += len(p)
    g = np.concatenate([dist[(pair[0], pair)] + dist[(pair[1], pair)] for pair in walls])
    return {
        "pairs": len(walls),
        "samples": int(g.size),
        "max_gap_mm": float(max(g.max(), 0.0)) + 0.0,
        "gap_share": float(np.mean(g > 0.1)),
        "overlap_share": float(np.mean(g < -0.1)),
    }


# --------------------------------------------------------------------------- main
def timed(fn):
    """``(wall seconds, CPU seconds of all threads of this process, result)`` of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - t0, time.process_time() - c0, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seg", type=Path, default=DEFAULT_SEG, help="label map (default: the shared real CT segmentation)")
    ap.add_argument("--upsample", type=int, default=4, help="nearest-neighbour upsampling per axis (default 4)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per method; the median is reported")
    ap.add_argument("--wall-samples", type=int, default=2000, help="gap-check points per pair of neighbouring organs")
    ap.add_argument("--skip-skimage", action="store_true", help="leave out the (slow) scikit-image loop")
    args = ap.parse_args()
    if not args.seg.exists():
        raise SystemExit(f"{args.seg}: not found (the shared data folder is expected beside the repository)")

    from vtkmodules.vtkCommonCore import vtkSMPTools

    vtkSMPTools.SetBackend("STDThread")
    load0 = os.getloadavg()
    small = upsampled(args.seg, 1)
    lm = upsampled(args.seg, args.upsample)
    n_labels = int(np.count_nonzero(np.unique(lm.array)))
    print(
        f"label map {args.seg.name} x{args.upsample}: {lm.shape} voxels, spacing "
        f"{np.round(lm.spacing, 3).tolist()} mm, {n_labels} labels"
    )
    print(
        f"machine: {os.cpu_count()} cores, VTK SMP {vtkSMPTools.GetBackend()} "
        f"({vtkSMPTools.GetEstimatedNumberOfThreads()} threads), {platform.python_version()}; "
        f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}"
    )

    methods = [
        ("twin3d surface_nets (default)", lambda v: ours(v)),
        ("twin3d flying_edges", lambda v: ours(v, "flying_edges")),
        ("Slicer-style FE + windowed sinc", slicer_style),
    ]
    if not args.skip_skimage:
        methods.append(("skimage marching_cubes loop", skimage_loop))
    for _, fn in methods:  # warm-up on the small grid (imports, thread pool)
        fn(small)

    # Interleaved rounds (every method once per round): slow drifts of this shared
    # machine's speed then hit all methods alike instead of whichever ran at the time.
    wall = {name: [] for name, _ in methods}
    cpu = {name: [] for name, _ in methods}
    results = {}
    for _ in range(args.repeat):
        for name, fn in methods:
            w, c, results[name] = timed(lambda: fn(lm))
            wall[name].append(w)
            cpu[name].append(c)
    rows = []
    for name, _ in methods:
        meshes = {k: as_outward_mesh(m) for k, m in results.pop(name).items()}
        rows.append((name, statistics.median(wall[name]), statistics.median(cpu[name]), meshes))
        print(f"  {name}: {', '.join(f'{t:.2f}' for t in wall[name])} s wall")

    walls = wall_samples(lm, args.wall_samples)
    liver = 5  # TotalSegmentator id
    idx = np.argwhere(lm.array == liver)
    vox_vol = len(idx) * lm.voxel_volume_mm3
    vox_cen = lm.index_to_world(idx.mean(0))
    t_ref, c_ref = rows[0][1], rows[0][2]
    header = (
        f"{'method':34s} {'wall s':>7s} {'vs ours':>8s} {'CPU s':>7s} {'vs ours':>8s} {'surfaces':>8s} {'triangles':>10s} "
        f"{'liver dV':>9s} {'liver dC':>9s} {'max gap':>8s} {'gap>0.1':>8s} {'ovl>0.1':>8s}"
    )
    print()
    print(header)
    print("-" * len(header))
    for name, med, cpu, meshes in rows:
        tri = sum(m.n_cells for m in meshes.values())
        v, c = volume_and_centroid(meshes[liver])
        gc = gap_check(meshes, walls)
        print(
            f"{name:34s} {med:7.2f} {med / t_ref:7.1f}x {cpu:7.2f} {cpu / c_ref:7.1f}x {len(meshes):8d} {tri:10d} "
            f"{100 * (v / vox_vol - 1):+8.2f}% {np.linalg.norm(c - vox_cen):7.2f}mm "
            f"{gc['max_gap_mm']:6.2f}mm {100 * gc['gap_share']:7.2f}% {100 * gc['overlap_share']:7.2f}%"
        )
    load1 = os.getloadavg()
    print()
    print(
        f"Medians of {args.repeat} interleaved runs each; 'vs ours' = median / twin3d default median (wall clock; CPU = "
        f"seconds of all threads of the process, less sensitive to other load). liver dV / dC: enclosed "
        f"volume error and volume-centroid distance vs the voxels. Gap check on {gc['pairs']} neighbouring organ "
        f"pairs, {gc['samples']} wall points. Load average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}."
    )


if __name__ == "__main__":
    main()
