"""USD write speed: twin3d's .usdc writer vs VTK's binary PLY writer on the same 1M-triangle mesh,
plus a 10,000-asset factory scene built and written.

    .venv/bin/python benchmarks/usd_write.py [--repeat 3] [--triangles 1000000] [--assets 10000]

Prints a table: median seconds (ours vs reference) and the ratio, from the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyvista as pv
import vtk


def big_mesh(n_tri: int) -> pv.PolyData:
    # a sphere with theta*phi*2 ~= n_tri triangles
    res = int(np.sqrt(n_tri / 2))
    m = pv.Sphere(radius=1.0, theta_resolution=res, phi_resolution=res + 2).triangulate()
    return m


def time_it(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--triangles", type=int, default=1_000_000)
    ap.add_argument("--assets", type=int, default=10_000)
    args = ap.parse_args()

    from twin3d.equipment import equipment_asset, EQUIPMENT
    from twin3d.scene import Asset, Scene, Transform
    from twin3d.usd import write_usd

    mesh = big_mesh(args.triangles)
    tmp = Path(tempfile.mkdtemp(prefix="twin3d-bench-"))
    scene = Scene("big", units="m")
    scene.add(Asset("sphere", mesh=mesh))
    usdc = tmp / "big.usdc"
    ply = tmp / "big.ply"

    def ours():
        write_usd(scene, usdc)

    def vtk_ply():
        w = vtk.vtkPLYWriter()
        w.SetFileTypeToBinary()
        w.SetFileName(str(ply))
        w.SetInputData(mesh)
        w.Write()

    ours()  # warm-up (plugin registration, first stage)
    t_ours = time_it(ours, args.repeat)
    t_ply = time_it(vtk_ply, args.repeat)

    # many assets: a grid of machines of 6 kinds (repeated geometry -> USD instancing)
    kinds = [k for k in EQUIPMENT if k != "control_cabinet"]

    def build_many():
        s = Scene("many", units="m")
        line = s.group("plant")
        side = int(np.ceil(np.sqrt(args.assets)))
        for i in range(args.assets):
            x, y = divmod(i, side)
            line.add(equipment_asset(f"m{i:05d}", kinds[i % len(kinds)], transform=Transform(translate=(x * 4.0, y * 4.0, 0))))
        return s

    t0 = time.perf_counter()
    many = build_many()
    t_build = time.perf_counter() - t0
    t_many = time_it(lambda: write_usd(many, tmp / "many.usdc"), args.repeat)
    t_many_flat = time_it(lambda: write_usd(many, tmp / "many_flat.usdc", instancing="never"), 1)

    print(f"mesh: {mesh.n_cells:,} triangles, {mesh.n_points:,} points; median of {args.repeat}")
    print(f"{'case':44s} {'twin3d [s]':>11s} {'reference [s]':>14s} {'ratio ref/ours':>15s}")
    print(f"{'1M triangles: .usdc (ours) vs VTK binary PLY':44s} {t_ours:11.3f} {t_ply:14.3f} {t_ply / t_ours:15.2f}")
    print(f"{f'{args.assets:,} assets: build scene':44s} {t_build:11.3f} {'-':>14s} {'-':>15s}")
    print(f"{f'{args.assets:,} assets: write .usdc (instanced)':44s} {t_many:11.3f} {'10 s target':>14s} {10.0 / (t_build + t_many):15.2f}")
    print(f"{f'{args.assets:,} assets: write .usdc (no instancing)':44s} {t_many_flat:11.3f} {'-':>14s} {'-':>15s}")
    print(f"file sizes: big.usdc {usdc.stat().st_size / 1e6:.1f} MB, big.ply {ply.stat().st_size / 1e6:.1f} MB, "
          f"many.usdc {(tmp / 'many.usdc').stat().st_size / 1e6:.1f} MB, many_flat.usdc {(tmp / 'many_flat.usdc').stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
