"""The ``thermal`` section of a scene spec: PINN temperature fields on assets.

Example (YAML)::

    thermal:
      - asset: drive_motor
        model: ../assets/thermal/motor_housing.pt   # relative to the spec file
        part: housing
      - asset: bar
        problem: rod                                 # or a full HeatProblem mapping
        train: {adam_steps: 20, lbfgs_steps: 500}    # trained while the scene loads

Each entry loads (or trains) a :class:`~.pinn.ThermalPINN` and attaches its temperature
field to the named asset (:func:`~.twin.thermal_field`). Frames follow the scene timeline
when the scene has one, else the entry's ``frames`` over the problem's time span.

Light to import: torch (and SciPy) load only when a section is applied.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal, Sequence

from pydantic import Field as PField, model_validator

from ...errors import BudgetError, MissingFileError, SpecError, Twin3DError
from ...sections import SectionContext, SpecSection
from ...spectypes import Strict
from .problem import HeatProblem, preset_problem

__all__ = ["ThermalTrainSpec", "ThermalSpec", "ThermalSection", "apply", "apply_thermal_spec", "SECTION"]


class ThermalTrainSpec(Strict):
    """Training settings for a thermal model built while the scene is loaded."""

    backend: Literal["torch", "tensorflow"] | None = None
    hidden: list[Annotated[int, PField(ge=1)]] = PField(default_factory=lambda: [32, 32, 32], min_length=1)
    adam_steps: int = PField(20, ge=0)
    lbfgs_steps: int = PField(2000, ge=0)
    lr: float = PField(1e-3, gt=0)
    seed: int = PField(0, ge=0)
    dtype: Literal["float32", "float64"] = "float32"

    def estimator(self):
        """An unfitted :class:`~.pinn.ThermalPINN` with these settings."""
        from .pinn import ThermalPINN

        return ThermalPINN(backend=self.backend, hidden=tuple(self.hidden), adam_steps=self.adam_steps,
                           lbfgs_steps=self.lbfgs_steps, lr=self.lr, seed=self.seed, dtype=self.dtype)


class ThermalSpec(Strict):
    """One entry of the scene spec's ``thermal`` list.

    Give ``model`` (a saved model, path relative to the spec file) or ``problem``
    (a preset name ``rod|plate|box|cylinder`` or a full problem mapping, trained with
    ``train`` settings at load time). If both are given they must agree.
    """

    asset: str
    problem: Literal["rod", "plate", "box", "cylinder"] | HeatProblem | None = None
    model: str | None = None
    train: ThermalTrainSpec | None = None
    frames: int = PField(10, ge=1)
    part: str | None = None
    axis: Literal["x", "y", "z"] | None = None
    reverse: bool = False
    ambient: str | None = "auto"
    time_scale: float | None = PField(None, gt=0)
    field: str = "temperature"
    clim: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _check(self) -> "ThermalSpec":
        if self.model is None and self.problem is None:
            raise ValueError("give 'model' (a saved thermal model) or 'problem' (rod|plate|box|cylinder or a mapping)")
        if self.model is not None and self.train is not None:
            raise ValueError("give either 'model' (load) or 'train' (train at load time), not both")
        if self.clim is not None and not self.clim[1] > self.clim[0]:
            raise ValueError(f"clim must be (low, high) with high > low, got {self.clim}")
        return self

    def resolved_problem(self) -> HeatProblem | None:
        if self.problem is None:
            return None
        return preset_problem(self.problem) if isinstance(self.problem, str) else self.problem


#: The ``thermal`` section of a scene spec: a list of :class:`ThermalSpec`.
ThermalSection = list[ThermalSpec]


def apply(scene, section: Sequence[ThermalSpec], context: SectionContext) -> None:
    """Attach each entry's temperature field to its asset (errors name the entry: ``thermal[i]``)."""
    from .pinn import ThermalPINN
    from .twin import check_field_memory, thermal_field

    for i, item in enumerate(section):
        try:
            asset = scene.get(item.asset)
        except KeyError as exc:
            raise context.error(str(exc.args[0]), at=(i, "asset")) from None
        if asset.mesh is not None:  # before any model is trained or loaded
            n_frames = len(scene.times) if scene.times is not None else item.frames
            try:
                check_field_memory(n_frames, asset.mesh.n_points, asset)
            except BudgetError as exc:
                raise context.error(str(exc), at=(i, "frames") if scene.times is None else (i,),
                                    cls=BudgetError) from None
        try:
            problem = item.resolved_problem()
            if item.model is not None:
                path = context.resolve(item.model, what="thermal model", at=(i, "model"))
                model = ThermalPINN.load(path)
                if problem is not None and model.problem_ != problem:
                    raise context.error(
                        f"the model {path.name} was trained on problem {model.problem_.name!r}, which differs "
                        f"from the spec's problem {problem.name!r}; drop 'problem' or retrain", at=(i,))
            else:
                model = (item.train or ThermalTrainSpec()).estimator().fit(problem)
            thermal_field(
                asset, model, times=scene.times, frames=item.frames, part=item.part, axis=item.axis,
                reverse=item.reverse, ambient=item.ambient, time_scale=item.time_scale, name=item.field,
                clim=item.clim,
            )
        except MissingFileError as exc:
            raise context.locate(exc, at=(i,)) from None
        except Twin3DError as exc:
            if exc.located:
                raise
            raise context.error(f"asset {item.asset!r}: {exc}", at=(i,),
                                cls=BudgetError if isinstance(exc, BudgetError) else SpecError) from None


SECTION = SpecSection(
    "thermal", ThermalSection, apply, order=20,
    summary="PINN temperature fields on assets (a saved model, or a heat problem trained at load time)",
)


def apply_thermal_spec(scene, section: Sequence[ThermalSpec | dict[str, Any]],
                       base_dir: str | os.PathLike = ".") -> dict[str, Any]:
    """Apply a ``thermal`` section outside a spec file; returns ``{asset path: field}``.

    Convenience for scripts: validates ``section`` and runs :func:`apply` with paths
    relative to ``base_dir``. Errors name the entry (``thermal[i]``).
    """
    items = SECTION.apply_to(scene, list(section), base_dir=base_dir)
    out = {}
    for item in items:
        asset = scene.get(item.asset)
        out[next(p for p, a in scene.walk() if a is asset)] = asset.fields[item.field]
    return out
