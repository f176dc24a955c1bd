"""Start-up time of the ``twin3d`` command, beside references from the same run.

    .venv/bin/python benchmarks/startup.py [--rounds 7]

Each round runs every command once (interleaved, so drifts in a shared machine's speed
hit all of them alike); the table gives medians over rounds and ratios:

* ``twin3d --help`` and ``twin3d info SPEC`` (validate the spec, build its geometry, list
  its sections without running them) against a bare ``python -c pass`` (the floor) and
  against ``python -c "import sklearn, pandas, scipy"`` — what loading any spec imported
  before the section registry (every predictor module was imported by ``spec.py``);
* ``twin3d info --run SPEC`` (sensors and predictors run: the factory spec trains its risk
  model on simulator data) for scale.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _twin3d() -> list[str]:
    exe = Path(sys.executable).with_name("twin3d")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "twin3d"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--spec", default=str(REPO / "scenes" / "factory_line.yaml"))
    args = ap.parse_args()

    cmds = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "import sklearn, pandas, scipy (old spec import)": [sys.executable, "-c", "import sklearn, pandas, scipy"],
        "twin3d --help": [*_twin3d(), "--help"],
        "twin3d info SPEC": [*_twin3d(), "info", args.spec],
        "twin3d info --run SPEC": [*_twin3d(), "info", "--run", args.spec],
    }
    env = dict(os.environ, TWIN3D_NO_PROGRESS="1")
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.rounds):
        for name, cmd in cmds.items():
            t0 = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, env=env, cwd=REPO)
            times[name].append(time.perf_counter() - t0)
            if res.returncode != 0:
                raise SystemExit(f"{name} failed: {res.stderr.decode()[-2000:]}")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"load average at the end: {os.getloadavg()[0]:.2f}; {args.rounds} interleaved rounds, medians")
    print(f"{'command':<50} {'median s':>9}")
    for k, v in med.items():
        print(f"{k:<50} {v:9.3f}")
    ref = med["import sklearn, pandas, scipy (old spec import)"]
    floor = med["python -c pass (floor)"]
    print()
    for k in ("twin3d --help", "twin3d info SPEC"):
        print(f"{k:<20} {med[k]:.3f} s: {med[k] - floor:.3f} s above the bare interpreter; "
              f"importing sklearn+pandas+scipy alone takes {ref / med[k]:.1f}x as long")
    print(f"twin3d info --run SPEC / twin3d info SPEC: {med['twin3d info --run SPEC'] / med['twin3d info SPEC']:.1f}x")


if __name__ == "__main__":
    main()
