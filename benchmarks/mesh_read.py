"""Mesh read speed: ``twin3d.read_mesh`` against ``pyvista.read`` (VTK's readers, what
``read_mesh`` used before issue 14) on a generated 1M-triangle mesh.

    .venv/bin/python benchmarks/mesh_read.py [--rounds 5] [--triangles 1000000] [--formats stl,ply,obj,glb,vtp,usdc]
    PYTHONPATH=/tmp/base .venv/bin/python benchmarks/mesh_read.py   # the same against an older tree

The mesh (a sphere with per-vertex colours and normals) is written once per format: binary
STL and binary PLY (with RGB colours) and OBJ (``v``/``vn``, ``f a//a``) by VTK's writers,
GLB by twin3d's glTF writer, VTP by VTK, USDC (one Mesh prim) by plain pxr — its
reference is a bare pxr read of points and indices, so its ratio is the cost of
``read_usd``'s checks and scene building. Each round reads every file once with each
reader, interleaved; the table gives medians of wall and CPU time (CPU includes the VTK
reader's child process; steadier on a loaded machine), their ratios (twin3d / reference)
and the sizes. The reference is ``pyvista.read`` (for glTF plus combining its blocks and extracting
the surface, as the old reader did). ``read_mesh`` checks what it reads (counts, indices,
finite coordinates) and, for ``.vtk``/``.vtp``, runs VTK in a child process. Prints which
``twin3d`` was imported and the load average: the machines are shared, compare figures
from one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyvista as pv


def sphere(n_tri: int) -> pv.PolyData:
    res = int(np.sqrt(n_tri / 2))
    mesh = pv.Sphere(radius=1.0, theta_resolution=res, phi_resolution=res + 2).triangulate()
    rng = np.random.default_rng(0)
    mesh.point_data["RGB"] = rng.integers(0, 256, (mesh.n_points, 3)).astype(np.uint8)
    return mesh


def write_files(mesh: pv.PolyData, folder: Path, formats: list[str]) -> dict[str, Path]:
    files = {}
    for fmt in formats:
        path = folder / f"sphere.{fmt}"
        if fmt == "ply":
            mesh.save(path, texture="RGB")
        elif fmt == "glb":
            from twin3d.io.writers import write_scene
            from twin3d.scene import Asset, Scene

            scene = Scene("bench", units="m", up_axis="Y")
            plain = pv.PolyData.from_regular_faces(np.asarray(mesh.points), np.asarray(mesh.regular_faces))
            scene.add(Asset("sphere", mesh=plain))
            write_scene(scene, path, color_by="material")
        elif fmt == "usdc":  # one Mesh prim, written with plain pxr
            from pxr import Usd, UsdGeom, Vt

            stage = Usd.Stage.CreateNew(str(path))
            UsdGeom.SetStageMetersPerUnit(stage, 1.0)
            geom = UsdGeom.Mesh.Define(stage, "/sphere")
            geom.GetPointsAttr().Set(Vt.Vec3fArray.FromNumpy(np.asarray(mesh.points, np.float32)))
            faces = np.asarray(mesh.regular_faces, np.int32)
            geom.GetFaceVertexCountsAttr().Set(Vt.IntArray.FromNumpy(np.full(len(faces), 3, np.int32)))
            geom.GetFaceVertexIndicesAttr().Set(Vt.IntArray.FromNumpy(faces.ravel()))
            stage.SetDefaultPrim(geom.GetPrim())
            stage.GetRootLayer().Save()
        elif fmt in ("stl", "obj", "vtp"):
            mesh.save(path)
        else:
            raise SystemExit(f"unknown format {fmt!r}: stl, ply, obj, glb, vtp, usdc")
        files[fmt] = path
    return files


def reference(path: Path):
    """What read_mesh did before: pyvista.read (+ blocks combined for glTF); for USD, the
    bare minimum with pxr (points and triangle indices of the one mesh, no checks)."""
    if path.suffix == ".usdc":
        from pxr import Usd, UsdGeom

        stage = Usd.Stage.Open(str(path))  # kept alive while its prims are used
        geom = UsdGeom.Mesh(stage.GetPrimAtPath("/sphere"))
        points = np.asarray(geom.GetPointsAttr().Get())
        faces = np.asarray(geom.GetFaceVertexIndicesAttr().Get()).reshape(-1, 3)
        return pv.PolyData.from_regular_faces(points, faces)
    data = pv.read(path)
    if isinstance(data, pv.MultiBlock):
        data = data.combine(merge_points=False).extract_surface(algorithm="dataset_surface")
    return data


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the VTK reader's child process):
    steadier than wall time on a shared machine."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--triangles", type=int, default=1_000_000)
    ap.add_argument("--formats", default="stl,ply,obj,glb,vtp,usdc")
    args = ap.parse_args()

    import twin3d
    from twin3d.io import read_mesh
    from twin3d.usd import register_schema

    register_schema()  # before any stage is created

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    mesh = sphere(args.triangles)
    load0 = os.getloadavg()
    print(f"twin3d from {Path(twin3d.__file__).parent}; {mesh.n_cells:,} triangles, {mesh.n_points:,} points; "
          f"{args.rounds} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(mesh, Path(tmp), formats)
        ours = {f: [] for f in formats}
        ref = {f: [] for f in formats}
        counts = {}
        for _ in range(args.rounds):
            for fmt, path in files.items():
                t0, c0 = time.perf_counter(), cpu_seconds()
                m = read_mesh(path)
                t1, c1 = time.perf_counter(), cpu_seconds()
                r = reference(path)
                t2, c2 = time.perf_counter(), cpu_seconds()
                ours[fmt].append((t1 - t0, c1 - c0))
                ref[fmt].append((t2 - t1, c2 - c1))
                counts[fmt] = (m.n_cells, r.n_cells)
        print(f"load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}")
        print("| format | size | read_mesh wall | pyvista.read wall | ratio | read_mesh CPU | pyvista.read CPU "
              "| ratio | triangles (read_mesh / VTK) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for fmt, path in files.items():
            a, b = (statistics.median(t[0] for t in x[fmt]) for x in (ours, ref))
            ac, bc = (statistics.median(t[1] for t in x[fmt]) for x in (ours, ref))
            size = path.stat().st_size / 1024**2
            print(f"| {fmt} | {size:.0f} MiB | {a:.3f} s | {b:.3f} s | {a / b:.2f} | {ac:.3f} s | {bc:.3f} s | "
                  f"{ac / bc:.2f} | {counts[fmt][0]:,} / {counts[fmt][1]:,} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
