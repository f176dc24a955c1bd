"""Thermal ablation on the real CT label map: finite-volume time, heat sink, literature check.

    .venv/bin/python benchmarks/ablation.py [--quick]

Prints markdown tables:

1. **FV time** for one ablation (60 W, 10 min + 1 min cooling) in the liver of
   ``../shared/data/ct/abdomen_seg_3mm.nii.gz`` at the map's 3 mm voxels and resampled to
   2 and 1.5 mm (box of 40 mm around the target): unknowns, steps, CG iterations per
   step, solve time, lesion volume. The PINN columns (training time, time to answer a
   moved target, PINN vs FV error) are left for the session that adds the PINN solver.
2. **Heat sink**: the same ablation 40 mm from the nearest large vessel, 6 mm from the
   inferior vena cava, and at that place with the vessels not treated as sinks.
3. **Literature check**: the in vivo porcine RF setting of Acad Radiol 2006;13(3):343-352
   (internally cooled electrode, 12 min, mean delivered energy 52.3 kJ, ablation volume
   13.1 +/- 4.7 cm^3) with the mean delivered power 52.3 kJ / 720 s = 72.6 W as the power
   absorbed around the electrode, and the fraction of it that would reproduce the volume.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEG = REPO.parent / "shared" / "data" / "ct" / "abdomen_seg_3mm.nii.gz"
FAR = (95.04, 167.32, 148.30)
NEAR_IVC = (11.04, 176.32, 169.30)


def _run(target, power, duration, spacing, vessels="auto", **kw):
    from twin3d.predictors.ablation.lesion import run_ablation
    from twin3d.predictors.ablation.problem import Applicator

    t0 = time.perf_counter()
    r = run_ablation(str(SEG), Applicator(target_mm=target, power_w=power, duration_s=duration, **kw),
                     table="totalsegmentator", spacing_mm=spacing, vessels=vessels, scene=False, progress=False)
    return r, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 mm and 2 mm grids only")
    args = ap.parse_args()
    if not SEG.exists():
        print(f"skipped: {SEG} is absent (a clone without ../shared/data)")
        return 0
    spacings = [None, 2.0] if args.quick else [None, 2.0, 1.5]

    print("## FV time (60 W, 600 s + 60 s cooling, far target, box +/-40 mm)\n")
    print("| grid | unknowns | steps | CG it./step | FV solve s | total s | lesion ml | max degC | "
          "PINN train s | PINN moved-target s | PINN vs FV rel-L2 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    for sp in spacings:
        r, total = _run(FAR, 60.0, 600.0, sp)
        s = r.solution.solver
        print(f"| {'3 mm (map)' if sp is None else f'{sp:g} mm'} | {s['unknowns']} | {s['steps']} | "
              f"{s['cg_iterations_per_step']} | {s['time_s']:.1f} | {total:.1f} | {r.lesion.volume_ml:.1f} | "
              f"{r.report['max_temperature_c']:.0f} | next session | next session | next session |")

    sp = 2.0 if args.quick else 1.5
    print(f"\n## Heat sink (60 W, 600 s, {sp:g} mm grid)\n")
    print("| placement | lesion ml | eq. diameter mm | margin mm | IVC heat removed kJ | share of delivered |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, target, vessels in (("40 mm from any large vessel", FAR, "auto"),
                                  ("6 mm from the IVC", NEAR_IVC, "auto"),
                                  ("6 mm from the IVC, vessels not sinks", NEAR_IVC, None)):
        r, _ = _run(target, 60.0, 600.0, sp, vessels=vessels)
        ivc = next((v for v in r.report["vessels"] if v["name"] == "inferior_vena_cava"), None)
        removed = 0.0 if ivc is None else ivc["heat_removed_j"] / 1000
        share = 0.0 if ivc is None else ivc["share_of_delivered"]
        print(f"| {name} | {r.lesion.volume_ml:.1f} | {r.lesion.equivalent_diameter_mm:.1f} | "
              f"{r.lesion.margin_mm:.1f} | {removed:.2f} | {share:.1%} |")

    print(f"\n## Literature check (RF, internally cooled 3 cm electrode, 12 min, in vivo porcine; {sp:g} mm grid)\n")
    published_ml, sd_ml = 13.1, 4.7
    eq = lambda v: (6 * v * 1e3 / math.pi) ** (1 / 3)  # noqa: E731
    print(f"published: {published_ml} +/- {sd_ml} cm^3 (equivalent sphere diameter {eq(published_ml):.1f} mm, "
          f"{eq(published_ml - sd_ml):.1f}-{eq(published_ml + sd_ml):.1f} mm for +/- 1 SD)\n")
    print("| absorbed power W (fraction of 72.6 W delivered) | lesion ml | eq. diameter mm | length mm | "
          "diameter mm | max degC | within +/- 1 SD |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for frac in (1.0, 0.75, 0.5, 0.4):
        p = 72.6 * frac
        r, _ = _run(FAR, p, 720.0, sp, sigma_radial_mm=3.0, sigma_axial_mm=7.5)
        v = r.lesion.volume_ml
        ok = abs(v - published_ml) <= sd_ml
        print(f"| {p:.1f} ({frac:.0%}) | {v:.1f} | {r.lesion.equivalent_diameter_mm:.1f} | {r.lesion.length_mm:.1f} | "
              f"{r.lesion.diameter_mm:.1f} | {r.report['max_temperature_c']:.0f} | {'yes' if ok else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
