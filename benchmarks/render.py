"""Render and export speed at scale: the factory animation, and 100 / 1,000 / 10,000 machines.

    .venv/bin/python benchmarks/render.py [--sizes 100 1000 10000] [--frames 5] [--repeat 3]
                                          [--reference-max 10000] [--size 1280x720]

In one run it prints a table (median seconds; "ours" vs a reference from the same run):

* factory line animation (18 machines, animated risk) at 1280x720 off-screen:
  frames per second of twin3d's renderer (``twin3d.render.renderer``) vs the plain
  pyvista way (one ``add_mesh`` actor per machine, recolored per frame), and of the
  whole ``render_animation`` to MP4 (rendering + H.264 encoding);
* N machines in a grid (6 equipment kinds, one animated risk value per machine):
  renderer setup, time per frame (recolor + render + read back) for twin3d's
  renderer vs one pyvista actor per machine, and USD export time of ``write_usd`` with
  the default layout (one prototype per kind, referenced by each machine, colours and the
  risk field on each machine's mesh; instancing="auto") vs a full mesh per machine.

Targets (issue 6): a 10,000-machine frame < 2 s and its USD export < 5 s on 2 cores.
The load average is printed: on a shared machine the numbers are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

KINDS = ("cnc_mill", "centrifugal_pump", "electric_motor", "storage_tank", "robot_arm", "control_cabinet")


def grid_scene(n: int, n_frames: int):
    """``n`` machines on a 4 m grid, each with an animated per-asset risk."""
    from twin3d.equipment import equipment_asset
    from twin3d.scene import Field, Scene, Transform

    scene = Scene(f"grid_{n}", units="m", fps=10)
    plant = scene.group("plant")
    side = int(np.ceil(np.sqrt(n)))
    rng = np.random.default_rng(0)
    times = np.arange(n_frames) * 60.0
    for i in range(n):
        r, c = divmod(i, side)
        a = equipment_asset(f"m{i:05d}", KINDS[i % len(KINDS)], transform=Transform(translate=(c * 4.0, r * 4.0, 0.0)))
        a.set_field(Field("risk", np.clip(rng.beta(1.2, 12.0) + 0.05 * rng.standard_normal(n_frames), 0, 1),
                          association="asset", times=times, unit="1"))
        plant.add(a)
    return scene


class ActorPerAssetRenderer:
    """The reference: plain pyvista, one actor per asset, colored per frame by its risk."""

    def __init__(self, scene, size):
        import pyvista as pv

        from twin3d.colors import map_values

        self._map = map_values
        self.plotter = pv.Plotter(off_screen=True, window_size=list(size))
        self.plotter.set_background("white")
        self.items = []
        for path, asset, m, visible in scene.walk_world():
            if asset.mesh is None or not visible:
                continue
            actor = self.plotter.add_mesh(asset.mesh.transform(m, inplace=False), color=asset.material.base_color)
            self.items.append((actor, asset.fields.get("risk")))
        self.plotter.camera_position = "iso"

    def set_frame(self, frame: int) -> None:
        for actor, risk in self.items:
            if risk is not None:
                actor.prop.color = tuple(self._map(risk.frame(frame), "risk", (0.0, 1.0)).tolist())

    def image(self):
        self.plotter.render()
        return self.plotter.screenshot(return_img=True)

    def close(self) -> None:
        self.plotter.close()


def factory_scene(n_frames: int):
    """``scenes/factory_line.yaml`` as built (with its predicted risk animation when the spec has
    one), else with a random-walk risk per machine over ``n_frames`` frames."""
    from twin3d.scene import Field
    from twin3d.spec import build_scene

    scene = build_scene(Path(__file__).resolve().parents[1] / "scenes" / "factory_line.yaml")
    if scene.n_frames > 1:
        return scene
    rng = np.random.default_rng(1)
    times = np.arange(n_frames) * 60.0
    for a in scene.assets():
        walk = np.clip(0.05 + np.cumsum(rng.normal(0, 0.03, n_frames)), 0, 1)
        a.set_field(Field("risk", walk, association="asset", times=times, unit="1"))
    return scene


def frame_times(renderer, n_frames: int, count: int) -> list[float]:
    """Seconds per frame (set_frame + render + read back) over ``count`` frames after a warm-up."""
    renderer.set_frame(0)
    renderer.image()  # first render uploads the geometry: not a steady-state frame
    out = []
    for k in range(count):
        t0 = time.perf_counter()
        renderer.set_frame((k + 1) % n_frames)
        renderer.image()
        out.append(time.perf_counter() - t0)
    return out


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    res = fn()
    return time.perf_counter() - t0, res


def median_of(fn, repeat: int) -> float:
    return statistics.median(timed(fn)[0] for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--frames", type=int, default=5, help="frames timed per case (median reported)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of each USD export (median reported)")
    ap.add_argument("--reference-max", type=int, default=10000,
                    help="largest machine count also rendered with the actor-per-machine reference (slow at 10,000)")
    ap.add_argument("--size", default="1280x720")
    args = ap.parse_args()

    os.environ.setdefault("TWIN3D_NO_PROGRESS", "1")
    from twin3d.render.animate import render_animation
    from twin3d.render.renderer import InstancedRenderer
    from twin3d.render.presets import parse_size
    from twin3d.usd import write_usd

    size = parse_size(args.size)
    tmp = Path(tempfile.mkdtemp(prefix="twin3d-bench-render-"))
    load0 = os.getloadavg()
    rows: list[tuple[str, str, str, str]] = []

    def row(case, ours, ref=None, unit="s", higher_is_better=False):
        fmt = (lambda v: f"{v:.2f}") if unit == "fps" else (lambda v: f"{v:.3f}")
        ratio = "-" if ref is None else f"{(ours / ref) if higher_is_better else (ref / ours):.2f}"
        rows.append((case, fmt(ours), "-" if ref is None else fmt(ref), ratio))
        print(f"  {case}: {fmt(ours)}" + ("" if ref is None else f" (reference {fmt(ref)})"), flush=True)

    # ---------------------------------------------------------------- factory animation
    factory = factory_scene(30)
    n_anim = factory.n_frames
    print(f"factory animation, {len(factory.assets())} machines, {n_anim} frames, colored by "
          f"{factory.field_names()}, {size[0]}x{size[1]}", flush=True)
    count = max(args.frames, 10)
    for aa in ("msaa", "none"):
        r = InstancedRenderer(factory, size=size, anti_aliasing=aa)
        ours = frame_times(r, n_anim, count)
        r.close()
        if aa == "msaa":
            ref_r = ActorPerAssetRenderer(factory, size=size)  # pyvista's default: 4x MSAA
            ref = frame_times(ref_r, n_anim, count)
            ref_r.close()
            row("factory animation: frames/s (render only, 4x MSAA)", 1 / statistics.median(ours),
                1 / statistics.median(ref), unit="fps", higher_is_better=True)
        else:
            row("factory animation: frames/s (render only, no anti-aliasing)", 1 / statistics.median(ours), unit="fps")
    n_video = min(n_anim, 30)
    t_mp4, _ = timed(lambda: render_animation(factory, tmp / "factory.mp4", size=size, frames=n_video))
    row(f"factory animation: frames/s to MP4 ({n_video} frames, MSAA, encode incl.)", n_video / t_mp4, unit="fps")

    # ---------------------------------------------------------------- N machines
    for n in args.sizes:
        print(f"{n:,} machines", flush=True)
        t_build, scene = timed(lambda: grid_scene(n, 10))
        row(f"{n:,} machines: build scene", t_build)
        t_setup, r = timed(lambda: InstancedRenderer(scene, size=size))
        times = frame_times(r, 10, args.frames)
        tri = r.geometry.triangles()
        lod = r.lod_counts()
        r.image()
        import imageio.v3 as iio

        iio.imwrite(tmp / f"grid_{n}.png", r.image())
        r.close()
        ref_setup = ref_frame = None
        if n <= args.reference_max:
            ref_setup, ref_r = timed(lambda: ActorPerAssetRenderer(scene, size=size))
            ref_frame = statistics.median(frame_times(ref_r, 10, min(args.frames, 2 if n >= 10000 else args.frames)))
            ref_r.close()
        row(f"{n:,} machines: renderer setup", t_setup, ref_setup)
        row(f"{n:,} machines: frame time", statistics.median(times), ref_frame)
        print(f"    {tri['instanced_full']:,} triangles at full detail; instances per LOD level {lod}", flush=True)
        usd = tmp / f"grid_{n}.usdc"
        write_usd(scene, usd)  # warm-up (schema registration)
        t_usd = median_of(lambda: write_usd(scene, usd), args.repeat)
        t_flat = median_of(lambda: write_usd(scene, tmp / f"grid_{n}_flat.usdc", instancing="never"),
                           1 if n >= 10000 else args.repeat)
        row(f"{n:,} machines: USD export (instanced vs not)", t_usd, t_flat)
        print(f"    {usd.name}: {usd.stat().st_size / 1e6:.1f} MB; without instancing "
              f"{(tmp / f'grid_{n}_flat.usdc').stat().st_size / 1e6:.1f} MB", flush=True)

    load1 = os.getloadavg()
    print()
    print(f"{os.cpu_count()} CPU cores; load average {load0[0]:.1f} at start, {load1[0]:.1f} at end; "
          f"images in {tmp}")
    print(f"median of {args.frames} frames; USD exports median of {args.repeat}; "
          "reference = one pyvista actor per machine for rendering, write_usd(instancing='never') for USD")
    w = max(len(r[0]) for r in rows)
    print(f"{'case':{w}s} {'twin3d':>10s} {'reference':>10s} {'ratio':>7s}")
    for case, ours, ref, ratio in rows:
        print(f"{case:{w}s} {ours:>10s} {ref:>10s} {ratio:>7s}")
    print("ratio: speed-up of twin3d over the reference (higher is better)")


if __name__ == "__main__":
    main()
