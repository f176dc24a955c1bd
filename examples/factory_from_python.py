"""Factory risk twin built in Python: machines in a row, simulated sensor streams, a risk model.

The same kind of twin as ``factory_from_spec.py``, step by step: a :class:`twin3d.Scene`
of procedural equipment, one simulated AI4I 2020 sensor stream per machine, a
:class:`twin3d.FailureRiskModel` (a scikit-learn classifier) trained on separate
simulator data, its failure risk on every machine at every frame, then USD and PNG.

    python examples/factory_from_python.py --machines 6 --steps 200
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import twin3d
from twin3d.equipment import equipment_asset
from twin3d.predictors.risk import apply_risk, top_risk_assets
from twin3d.sensors import AI4I_QUANTITIES, attach_sensors, machine_streams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="examples-out/factory_from_python", help="output folder")
    parser.add_argument("--machines", type=int, default=4, help="CNC mills in the row")
    parser.add_argument("--steps", type=int, default=100, help="frames of the timeline (one minute each)")
    parser.add_argument("--train-machines", type=int, default=20, help="simulated machines to train the model on")
    parser.add_argument("--train-steps", type=int, default=1000, help="steps per simulated training machine")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="1280x720", help="image size WxH")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. Geometry: a conveyor with a row of CNC mills beside it (metres, Z up).
    scene = twin3d.Scene("python_line", units="m", up_axis="Z", fps=10)
    line = scene.group("line")
    n, pitch = args.machines, 3.2
    scene.add(equipment_asset("conveyor", "belt_conveyor", length=pitch * n, n_legs=n + 1,
                              transform=twin3d.Transform(translate=(pitch * (n - 1) / 2, 1.8, 0.0))), parent=line)
    for i in range(n):
        mill = equipment_asset(f"cnc_{i + 1:02d}", "cnc_mill", transform=twin3d.Transform(translate=(pitch * i, 0, 0)))
        scene.add(mill, parent=line)

    # 2. Sensors: one AI4I stream per machine (a long table), split per machine and attached
    #    as each mill's sensors; their times become the scene timeline.
    table = twin3d.simulate_ai4i(n, args.steps, seed=args.seed, torque_mean=45.0, initial_wear="random")
    streams = machine_streams(table, machine_column="machine", time_column="time")
    for i, (times, rows) in enumerate(streams.values()):
        attach_sensors(scene.get(f"cnc_{i + 1:02d}"), rows, times)

    # 3. Predictor: fit the risk model on other simulated machines (inputs: the six AI4I quantities).
    train = twin3d.simulate_ai4i(args.train_machines, args.train_steps, seed=args.seed + 1, initial_wear="random")
    model = twin3d.FailureRiskModel(random_state=args.seed)
    model.fit(train[list(AI4I_QUANTITIES)], train["machine_failure"].to_numpy())
    print(f"trained on {len(train)} simulated rows ({train['machine_failure'].mean():.1%} failures)")

    # 4. Score every machine at every frame: each mill gets an animated "risk" field in [0, 1].
    apply_risk(scene, model)
    print("riskiest machines (peak over the timeline):")
    for path, risk in top_risk_assets(scene, 3):
        print(f"  risk {risk:5.1%}  {path}")

    # 5. Write the USD stage, and a picture (coloured by risk) of the riskiest machine's worst frame.
    usd = twin3d.write_usd(scene, out / "python_line.usdc", color_by="risk")
    worst = scene.get(top_risk_assets(scene, 1)[0][0])
    frame = int(np.argmax(worst.fields["risk"].values))
    png = twin3d.render_png(scene, out / "python_line.png", frame=frame, size=args.size, color_by="risk", label_top=3)
    print(f"wrote {usd}")
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
