"""Thermal twin: train a physics-informed network (PINN) on a heat problem and put its field on assets.

1. Train a :class:`twin3d.ThermalPINN` on a preset problem (``plate``: a square plate
   cooling from its first sine mode; ``rod``: DeepXDE's heat example) and measure its
   relative L2 error against the analytic reference solution.
2. Save it, load it back (no code runs while loading) and lay its field on a plate mesh.
3. Put the shipped motor model (``pretrained_model_path()``) on a procedural electric motor.

    python examples/thermal_twin.py --problem plate --lbfgs-steps 300
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyvista as pv

import twin3d
from twin3d.equipment import equipment_asset
from twin3d.predictors.thermal import (
    pretrained_model_path,
    reference_solution,
    thermal_field,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="examples-out/thermal_twin", help="output folder")
    parser.add_argument("--problem", default="plate", choices=["plate", "rod"], help="preset heat problem")
    parser.add_argument("--adam-steps", type=int, default=20, help="Adam warm-up steps")
    parser.add_argument("--lbfgs-steps", type=int, default=300, help="L-BFGS iterations (more: lower error)")
    parser.add_argument("--frames", type=int, default=10, help="frames of the animated fields")
    parser.add_argument("--size", default="1280x720", help="image size WxH")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. Train and check against the analytic solution.
    problem = twin3d.preset_problem(args.problem)
    model = twin3d.ThermalPINN(adam_steps=args.adam_steps, lbfgs_steps=args.lbfgs_steps).fit(problem)
    reference = reference_solution(problem)
    print(f"{problem.name}: trained in {model.train_time_s_:.1f} s, "
          f"relative L2 error vs the {reference.kind} solution: {model.score(reference):.2e}")

    # 2. Save / load: a .pt file with the weights and a JSON description of the problem.
    saved = model.save(out / f"{problem.name}_pinn.pt")
    model = twin3d.ThermalPINN.load(saved)
    print(f"saved and reloaded {saved}: error {model.score(reference):.2e}")

    # Both twins share one timeline (seconds); each model's time span is stretched over it.
    times = np.linspace(0.0, 10.0, args.frames)

    # The trained field on a thin 1 m x 1 m plate (a surface mesh; its two long axes are the domain).
    sheet = pv.Plane(center=(0.5, 0.5, 0.0), i_size=1.0, j_size=1.0, i_resolution=40, j_resolution=40)
    plate = twin3d.Asset(f"{problem.name}_part", mesh=sheet, material=twin3d.Material("steel", (0.6, 0.62, 0.65)))
    thermal_field(plate, model, times=times)
    plate_scene = twin3d.Scene(f"{problem.name}_twin", units="m")
    plate_scene.add(plate)

    # 3. The shipped motor model (one hour of heating) on the housing of a procedural motor.
    motor = equipment_asset("drive_motor", "electric_motor", length=0.8, radius=0.2)
    thermal_field(motor, pretrained_model_path(), part="housing", times=times)
    motor_scene = twin3d.Scene("motor_twin", units="m")
    motor_scene.add(motor)

    # Write each twin as USD (temperature per vertex, time-sampled) and a PNG: the plate as it
    # starts to cool (first frame), the motor when it is hottest (last frame).
    for scene, asset, frame in ((plate_scene, plate, 0), (motor_scene, motor, -1)):
        temp = asset.fields["temperature"].values  # (frames, vertices), degC
        print(f"{asset.name}: {temp[0].mean():.2f} -> {temp[-1].mean():.2f} degC (mean over the vertices)")
        for path in (twin3d.write_usd(scene, out / f"{scene.name}.usdc"),
                     twin3d.render_png(scene, out / f"{scene.name}.png", frame=frame, size=args.size)):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
