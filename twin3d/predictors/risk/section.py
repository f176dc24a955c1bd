"""The ``risk:`` section of a scene spec: which failure-risk model scores the machines.

Example (YAML)::

    risk:
      model: models/line.skops        # from 'twin3d risk train', relative to the spec
      assets: [line/cnc_mill_01]      # default: every asset with the model's sensors
    # or: risk: {train: {machines: 20, steps: 1000, seed: 0}}   (simulator data)

:func:`apply` is the section's ``apply(scene, section, context)`` (registered as
:data:`SECTION`, after the sensors); :func:`apply_risk_spec` does the same from Python.

Light to import (pydantic only): scikit-learn, pandas and skops load when the section
is applied.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Optional

from pydantic import Field as PField, model_validator

from ...errors import InputError
from ...sections import SectionContext, SpecSection
from ...spectypes import Strict

if TYPE_CHECKING:  # pragma: no cover
    from ...scene import Field, Scene

__all__ = ["RiskTrainSpec", "RiskSpec", "apply_risk_spec", "apply", "SECTION"]


class RiskTrainSpec(Strict):
    """Scene spec: train the risk model on AI4I simulator data."""

    source: Literal["simulator"] = "simulator"
    machines: int = PField(20, ge=1, le=100_000)
    steps: int = PField(1000, ge=10, le=1_000_000)
    seed: int = PField(0, ge=0)


class RiskSpec(Strict):
    """Scene spec, top level ``risk:``: which model scores the machines.

    Give ``model`` (a ``.skops`` file from ``twin3d risk train``, relative to the spec)
    or ``train`` (train on simulator data); with neither, a simulator-trained model
    with default settings is used.
    """

    model: Optional[str] = None
    train: Optional[RiskTrainSpec] = None
    assets: Optional[list[str]] = PField(None, description="asset paths/names to score (default: all with sensors)")
    field: str = "risk"

    @model_validator(mode="after")
    def _one(self):
        if self.model is not None and self.train is not None:
            raise ValueError("give either 'model' (a .skops file) or 'train' (train on simulator data), not both")
        return self


def apply_risk_spec(scene: "Scene", spec: RiskSpec | Mapping[str, Any], *, base_dir: str | os.PathLike = ".") -> dict[str, "Field"]:
    """Load or train the model a :class:`RiskSpec` names and :func:`apply_risk` it to ``scene``."""
    if isinstance(spec, Mapping):
        from pydantic import ValidationError

        try:
            spec = RiskSpec.model_validate(dict(spec))
        except ValidationError as exc:
            raise InputError(f"invalid risk section: {exc.errors()[0]['msg']}") from None
    from .files import load_model
    from .scene import apply_risk
    from .training import train_on_simulator

    if spec.model is not None:
        path = Path(spec.model)
        if not path.is_absolute():
            path = Path(base_dir) / path
        model = load_model(path)
        source = str(path)
    else:
        tr = spec.train or RiskTrainSpec()
        model = train_on_simulator(tr.machines, tr.steps, tr.seed)
        source = f"simulator ({tr.machines} machines x {tr.steps} steps, seed {tr.seed})"
    fields = apply_risk(scene, model, assets=spec.assets, field_name=spec.field)
    scene.metadata["risk_model"] = source
    return fields


def apply(scene: "Scene", section: RiskSpec, context: SectionContext) -> None:
    """Score the scene's machines with the model the ``risk:`` section names (or trains).

    A ``model`` path is resolved against the spec's folder; a missing file is a located
    :class:`~twin3d.errors.MissingFileError` (``spec.yaml:12: risk.model: ...: no such
    risk model``).
    """
    if section.model is not None:
        path = context.resolve(section.model, what="risk model", at=("model",))
        section = section.model_copy(update={"model": str(path)})
    else:
        _check_training(section.train or RiskTrainSpec(), context)
    apply_risk_spec(scene, section, base_dir=context.base_dir)


def _check_training(train: RiskTrainSpec, context: SectionContext) -> None:
    """Refuse ``risk.train`` machines x steps above the ``steps`` count limit or the memory
    budget (:mod:`twin3d.budgets`) before simulating anything, naming ``risk.train``."""
    from ...budgets import check_count
    from ...errors import BudgetError
    from .training import check_training_budget

    rows = train.machines * train.steps
    what = f"{context.where(('train',))}: training on simulator data"
    try:
        check_training_budget(train.machines, train.steps, what)
        check_count("steps", rows, what, detail=f"{train.machines:,} machines x {train.steps:,} steps")
    except BudgetError as exc:
        exc.located = True
        raise


#: The top-level ``risk`` section (after the sensors: order 10).
SECTION = SpecSection(
    "risk",
    RiskSpec,
    apply,
    order=10,
    scope="scene",
    summary="failure-risk model scoring every machine with sensors (a .skops file or simulator-trained)",
)
