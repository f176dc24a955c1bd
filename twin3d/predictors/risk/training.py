"""A demo risk model trained on AI4I simulator data.

The package ships no data set, so demos (and scene specs without a ``risk.model``
file) train here: :func:`train_on_simulator`.
"""

from __future__ import annotations

from functools import lru_cache

from ...errors import InputError
from ...sensors.schema import AI4I_QUANTITIES
from ...sensors.simulator import simulate_ai4i
from .model import FailureRiskModel

__all__ = ["train_on_simulator", "BYTES_PER_TRAINING_ROW", "check_training_budget"]

#: Peak memory of :func:`train_on_simulator` per simulated row (simulation, features and
#: the tree fit), measured: about 480 B.
BYTES_PER_TRAINING_ROW = 500


def check_training_budget(machines: int, steps: int, what: str = "training the risk model on simulator data") -> None:
    """Refuse ``machines x steps`` simulated rows above the memory budget (:mod:`twin3d.budgets`)."""
    from ...budgets import check_memory

    rows = float(machines) * float(steps)
    check_memory(rows * BYTES_PER_TRAINING_ROW, what,
                 detail=f"{machines:,} machines x {steps:,} steps x {BYTES_PER_TRAINING_ROW} B")


@lru_cache(maxsize=8)
def _train_cached(machines: int, steps: int, seed: int) -> FailureRiskModel:
    table = simulate_ai4i(machines, steps, seed=seed, initial_wear="random")
    X = table[list(AI4I_QUANTITIES)]
    return FailureRiskModel(random_state=seed).fit(X, table["machine_failure"].to_numpy())


def train_on_simulator(machines: int = 20, steps: int = 1000, seed: int = 0) -> FailureRiskModel:
    """A model trained on AI4I simulator data (``machines * steps`` rows, a few seconds).

    The package ships no data set, so demos train here. Results are cached per
    arguments within a process; a fresh (unshared) copy is returned each time.
    """
    import copy

    if machines < 1 or steps < 1:
        raise InputError(f"train_on_simulator: machines and steps must be >= 1, got {machines}, {steps}")
    from ...sensors.simulator import check_seed

    check_seed(seed)
    check_training_budget(machines, steps)
    return copy.deepcopy(_train_cached(int(machines), int(steps), int(seed)))
