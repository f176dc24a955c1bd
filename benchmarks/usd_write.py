"""USD write speed and size: a 1M-triangle mesh against VTK's binary PLY writer, and the
10,000-machine grid with an animated risk per machine in each layout of the USD writer.

    .venv/bin/python benchmarks/usd_write.py [--repeat 3] [--triangles 1000000]
                                             [--assets 10000] [--frames 20] [--never]

* 1M triangles: ``write_usd`` to ``.usdc`` vs ``vtkPLYWriter`` (binary), median of ``--repeat``
  (``--triangles 0`` skips it).
* ``--assets`` machines on a grid (``benchmarks/render.py``'s :func:`grid_scene`: 6 equipment
  kinds, one animated risk value per machine over ``--frames`` frames), written with
  per-mesh colours (``instancing="auto"``, the default: each machine references its kind's
  prototype and carries its own ``displayColor`` and ``twin:risk`` on its mesh) and with
  native instances (``instancing="always"``: colours inherited from instanceable prims)
  in interleaved rounds (one of each per round, ``--repeat`` rounds, medians), split into
  authoring the layer (``scene_to_layer``) and exporting it (the crate file); the CPU time
  of the write (all threads; less sensitive than the wall time to other processes on a
  shared machine) and file sizes. ``--never`` adds one write with a full mesh per machine.

Prints a table and the load average; the machines are shared, so compare figures from the
same run. To measure an older checkout with this script, put it first on the path:
``PYTHONPATH=<old tree> .venv/bin/python benchmarks/usd_write.py ...``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyvista as pv
import vtk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render import grid_scene  # the 10,000-machine grid of the render benchmark


def big_mesh(n_tri: int) -> pv.PolyData:
    # a sphere with theta*phi*2 ~= n_tri triangles
    res = int(np.sqrt(n_tri / 2))
    return pv.Sphere(radius=1.0, theta_resolution=res, phi_resolution=res + 2).triangulate()


def time_it(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def settle(timeout: float = 5.0) -> None:
    """Wait until this process is idle. USD tears a released layer's data down on worker
    threads (``WorkMoveDestroyAsync``: ~0.4 s of CPU for the 10,000-machine layer after
    ``del layer``), which would otherwise run during -- and slow down -- the next timed
    write; so each write starts on a quiet process, as a single write in a program does."""
    gc.collect()
    end = time.perf_counter() + timeout
    last = time.process_time()
    while time.perf_counter() < end:
        time.sleep(0.1)
        now = time.process_time()
        if now - last < 0.005:
            return
        last = now


def timed_write(scene, path: Path, instancing: str) -> tuple[float, float, float, float]:
    """(total, author, export, CPU) seconds of ``write_usd(scene, path, instancing=...)``: the
    two stages timed separately (``write_usd`` is ``scene_to_layer`` + ``Export``), and the
    process's CPU time over both; started on a quiet process (:func:`settle`)."""
    from twin3d.usd import scene_to_layer

    settle()
    c0 = time.process_time()
    t0 = time.perf_counter()
    layer = scene_to_layer(scene, instancing=instancing)
    t1 = time.perf_counter()
    if not layer.Export(str(path)):
        raise OSError(f"could not write {path}")
    t2 = time.perf_counter()
    return t2 - t0, t1 - t0, t2 - t1, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--triangles", type=int, default=1_000_000)
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--never", action="store_true", help="also write once with a full mesh per machine")
    args = ap.parse_args()

    import twin3d

    load0 = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="twin3d-bench-"))
    rows: list[tuple[str, str, str, str]] = []

    print(f"twin3d from {Path(twin3d.__file__).parent}", flush=True)
    # ------------------------------------------------------------------ one big mesh
    if args.triangles > 0:
        one_big_mesh(args, tmp, rows)

    # ------------------------------------------------------------------ many machines
    t0 = time.perf_counter()
    many = grid_scene(args.assets, args.frames)
    t_build = time.perf_counter() - t0
    rows.append((f"{args.assets:,} machines x {args.frames} frames: build the scene", f"{t_build:.3f}", "-", "-"))
    layouts = {"auto": "per-mesh colours (auto)", "always": "native instances (always)"}
    paths = {m: tmp / f"many_{m}.usdc" for m in layouts}
    for m in layouts:
        timed_write(many, paths[m], m)  # warm-up
    runs: dict[str, list] = {m: [] for m in layouts}
    for r in range(args.repeat):
        for m in (layouts if r % 2 == 0 else reversed(list(layouts))):  # alternate which goes first
            runs[m].append(timed_write(many, paths[m], m))
        print(f"round {r + 1}: " + ", ".join(f"{m} {runs[m][-1][0]:.2f} s (CPU {runs[m][-1][3]:.2f} s)" for m in layouts),
              flush=True)
    med = {m: [statistics.median(x[k] for x in runs[m]) for k in range(4)] for m in layouts}
    size = {m: paths[m].stat().st_size / 1e6 for m in layouts}
    ref = med["always"][0]
    for m, label in layouts.items():
        total, author, export, cpu = med[m]
        rows.append((f"{args.assets:,} machines: write .usdc, {label}", f"{total:.3f}",
                     f"{ref:.3f}" if m != "always" else "-", f"{ref / total:.2f}" if m != "always" else "-"))
        rows.append(("  of which author the layer / export the crate file", f"{author:.2f} / {export:.2f}", "-", "-"))
        rows.append(("  CPU time of the write (all threads)", f"{cpu:.2f}", f"{med['always'][3]:.2f}" if m != "always" else "-",
                     f"{med['always'][3] / cpu:.2f}" if m != "always" else "-"))
        rows.append(("  file size [MB]", f"{size[m]:.2f}", f"{size['always']:.2f}" if m != "always" else "-",
                     f"{size[m] / size['always']:.2f}x" if m != "always" else "-"))
    if args.never:
        flat = tmp / "many_never.usdc"
        total, author, export, cpu = timed_write(many, flat, "never")
        rows.append((f"{args.assets:,} machines: write .usdc, a full mesh each (never)", f"{total:.3f}", "-", "-"))
        rows.append(("  of which author / export; CPU; file size [MB]",
                     f"{author:.2f} / {export:.2f}; {cpu:.2f}; {flat.stat().st_size / 1e6:.2f}", "-", "-"))

    load1 = os.getloadavg()
    print()
    print(f"{os.cpu_count()} CPU cores; load average {load0[0]:.1f} at start, {load1[0]:.1f} at end; "
          f"medians of {args.repeat} (interleaved rounds for the layouts); files in {tmp}")
    w = max(len(r[0]) for r in rows)
    print(f"{'case':{w}s} {'twin3d':>12s} {'reference':>10s} {'ratio':>7s}")
    for case, ours, refv, ratio in rows:
        print(f"{case:{w}s} {ours:>12s} {refv:>10s} {ratio:>7s}")
    print("ratio: reference / twin3d for times (higher is faster), twin3d / reference for sizes")


def one_big_mesh(args, tmp: Path, rows: list) -> None:
    """``write_usd`` of one ``--triangles`` mesh vs VTK's binary PLY writer (a row of ``rows``)."""
    from twin3d.scene import Asset, Scene
    from twin3d.usd import write_usd

    mesh = big_mesh(args.triangles)
    scene = Scene("big", units="m")
    scene.add(Asset("sphere", mesh=mesh))
    usdc, ply = tmp / "big.usdc", tmp / "big.ply"

    def vtk_ply():
        w = vtk.vtkPLYWriter()
        w.SetFileTypeToBinary()
        w.SetFileName(str(ply))
        w.SetInputData(mesh)
        w.Write()

    write_usd(scene, usdc)  # warm-up (plugin registration, first stage)
    t_ours = time_it(lambda: write_usd(scene, usdc), args.repeat)
    t_ply = time_it(vtk_ply, args.repeat)
    rows.append((f"{mesh.n_cells:,} triangles: .usdc (ours) vs VTK binary PLY", f"{t_ours:.3f}", f"{t_ply:.3f}",
                 f"{t_ply / t_ours:.2f}"))
    print(f"big mesh: .usdc {usdc.stat().st_size / 1e6:.1f} MB, .ply {ply.stat().st_size / 1e6:.1f} MB", flush=True)


if __name__ == "__main__":
    main()
