"""The ``sensors:`` section of an asset in a scene spec: where its sensor streams come from.

Each asset entry may carry one sensor source, discriminated by ``source``::

    assets:
      - name: cnc_mill
        kind: cnc_mill
        sensors: {source: simulator, seed: 3, steps: 200}      # SimulatorSource
      - name: pump
        kind: pump
        sensors: {source: csv, path: plant.csv, machine_column: id, machine: p1}   # CsvSource

:func:`apply` is the section's ``apply(scene, section, context)`` (registered as
:data:`SECTION`, applied first: the streams set the timeline the predictors read).
:func:`apply_sensor_source` / :func:`apply_sensor_sources` do the same from Python.

New kinds of sources (live streams...) are one more model in :data:`SensorSource` and
one more branch in :func:`apply_sensor_source`.

Light to import (pydantic and numpy): the simulator and pandas are imported when a
source is applied.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Mapping, Optional, Union

import numpy as np
from pydantic import Field as PField, field_validator, model_validator

from ..errors import InputError
from ..sections import SectionContext, SpecSection
from ..spectypes import Strict

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..scene import Asset, Scene

__all__ = [
    "SimulatorSource",
    "CsvSource",
    "SensorSource",
    "apply_sensor_source",
    "apply_sensor_sources",
    "apply",
    "SECTION",
    "TIMELINE_KEY",
    "CSV_CACHE_KEY",
]


class SimulatorSource(Strict):
    """Scene spec: sensor streams from the AI4I 2020 simulator (:func:`~twin3d.sensors.simulate_ai4i`).

    The stream of each asset is seeded from ``seed`` and the asset's name, so assets
    get different but reproducible streams.
    """

    source: Literal["simulator"] = "simulator"
    seed: int = 0
    steps: Optional[int] = PField(None, ge=1, le=10_000_000, description="steps if the scene has no timeline yet")
    step_seconds: float = PField(60.0, gt=0)
    product_mix: tuple[float, float, float] = (0.6, 0.3, 0.1)
    air_temperature_mean: float = PField(300.0, gt=0)
    torque_mean: float = PField(40.0, gt=0)
    torque_std: float = PField(10.0, ge=0)
    tool_life: tuple[float, float] = (200.0, 240.0)
    initial_wear: Union[float, Literal["random"]] = "random"

    @field_validator("product_mix")
    @classmethod
    def _mix(cls, v):
        if any(p < 0 for p in v) or sum(v) <= 0:
            raise ValueError("product_mix must be 3 non-negative weights for L, M, H")
        return v

    @field_validator("tool_life")
    @classmethod
    def _life(cls, v):
        if not 0 < v[0] <= v[1]:
            raise ValueError("tool_life must be [low, high] with 0 < low <= high")
        return v


class CsvSource(Strict):
    """Scene spec: sensor streams read from a CSV file (AI4I schema or mapped columns)."""

    source: Literal["csv"] = "csv"
    path: str
    columns: dict[str, str] = PField(
        default_factory=dict, description="canonical name -> CSV column, e.g. {torque: 'M [Nm]'}"
    )
    machine_column: Optional[str] = None
    machine: Optional[Union[int, str]] = None
    time_column: Optional[str] = None
    step_seconds: float = PField(60.0, gt=0)
    sensors: Optional[list[str]] = PField(None, description="canonical names to attach (default: AI4I ones, else all numeric)")
    units: dict[str, str] = PField(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _canon(cls, v):
        from ..scene import valid_name

        for k in v:
            try:
                valid_name(k)
            except InputError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _machine(self):
        if (self.machine is None) != (self.machine_column is None):
            raise ValueError("give both 'machine_column' and 'machine' (which rows belong to this asset), or neither")
        return self


#: A per-asset sensor source in a scene spec (``source: simulator`` or ``source: csv``).
SensorSource = Annotated[Union[SimulatorSource, CsvSource], PField(discriminator="source")]


def _asset_seed(seed: int, name: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode("utf-8"))])


def apply_sensor_source(
    asset: "Asset",
    source: SimulatorSource | CsvSource | Mapping[str, Any],
    *,
    times: np.ndarray | None = None,
    base_dir: str | os.PathLike = ".",
    csv_cache: dict[Path, "pd.DataFrame"] | None = None,
) -> np.ndarray:
    """Attach the sensor streams a spec section describes to ``asset``.

    Parameters
    ----------
    asset
        The machine.
    source
        A :class:`SimulatorSource` / :class:`CsvSource` (or the dict of one).
    times
        The scene timeline (seconds). The simulator runs one step per frame; CSV
        streams are resampled onto it. Without it, the source sets the timeline
        (simulator: ``steps`` x ``step_seconds``; CSV: its time column or row order).
    base_dir
        Folder that relative CSV paths are resolved against (the spec's folder).
    csv_cache
        Shared dict so several assets reading the same file parse it once.

    Returns
    -------
    numpy.ndarray
        The times the sensors were attached on.
    """
    from .streams import attach_sensors, machine_streams

    if isinstance(source, Mapping):
        from pydantic import TypeAdapter, ValidationError

        try:
            source = TypeAdapter(SensorSource).validate_python(dict(source))
        except ValidationError as exc:
            raise InputError(f"asset {asset.name!r}: invalid sensor source: {exc.errors()[0]['msg']}") from None
    if isinstance(source, SimulatorSource):
        from .simulator import simulate_ai4i

        if times is None:
            steps = source.steps if source.steps is not None else 200
            t = np.arange(steps, dtype=np.float64) * source.step_seconds
        else:
            t = np.asarray(times, dtype=np.float64)
        table = simulate_ai4i(
            1,
            seed=_asset_seed(source.seed, asset.name),
            times=t,
            product_mix=source.product_mix,
            air_temperature_mean=source.air_temperature_mean,
            torque_mean=source.torque_mean,
            torque_std=source.torque_std,
            tool_life=source.tool_life,
            initial_wear=source.initial_wear,
        )
        attach_sensors(asset, table, t)
        asset.metadata["sensor_source"] = "simulator"
        return t
    if isinstance(source, CsvSource):
        from .tables import read_sensor_csv

        path = Path(source.path)
        if not path.is_absolute():
            path = Path(base_dir) / path
        cache = csv_cache if csv_cache is not None else {}
        key = path.resolve()
        if key not in cache:
            cache[key] = read_sensor_csv(path, columns=source.columns or None)
        table = cache[key]
        streams = machine_streams(
            table, machine_column=source.machine_column, time_column=source.time_column,
            step_seconds=source.step_seconds,
        )
        if source.machine_column is not None:
            match = [k for k in streams if k == source.machine or str(k) == str(source.machine)]
            if not match:
                shown = list(streams)[:20]
                raise InputError(
                    f"{path}: no rows with {source.machine_column} = {source.machine!r} for asset {asset.name!r}; "
                    f"machines in the file: {shown}{' ...' if len(streams) > 20 else ''}"
                )
            src_t, rows = streams[match[0]]
        else:
            src_t, rows = streams[None]
        attach_sensors(asset, rows, src_t, new_times=times, names=source.sensors, units=source.units)
        asset.metadata["sensor_source"] = str(path)
        return src_t if times is None else np.asarray(times, dtype=np.float64)
    raise InputError(f"asset {asset.name!r}: unknown sensor source {source!r}")


def apply_sensor_sources(
    scene: "Scene",
    sources: Mapping[str, SimulatorSource | CsvSource | Mapping[str, Any]],
    *,
    times: np.ndarray | None = None,
    base_dir: str | os.PathLike = ".",
) -> np.ndarray | None:
    """Attach sensor streams to several assets (``{asset path or name: source}``).

    All assets share one timeline: ``times`` if given, else the scene's current
    timeline, else the first source's own times (later sources are resampled onto it).
    Returns the timeline used.
    """
    t = times if times is not None else scene.times
    cache: dict[Path, "pd.DataFrame"] = {}
    for key, src in sources.items():
        asset = scene.get(key)
        t = apply_sensor_source(asset, src, times=t, base_dir=base_dir, csv_cache=cache)
    return t


# --------------------------------------------------------------------------- the spec section
#: Key of the scene timeline in ``context.shared``: set by the first sensor source of a
#: build, shared by all assets (later sources are resampled onto it).
TIMELINE_KEY = "timeline"
#: Key of the CSV cache in ``context.shared`` (one parse per file for all assets).
CSV_CACHE_KEY = "sensor_csv"


def apply(scene: "Scene", section: SimulatorSource | CsvSource, context: SectionContext) -> None:
    """Attach the asset's sensor streams (the ``sensors:`` section of ``context.asset``).

    All assets of one build share a timeline, kept in ``context.shared["timeline"]``:
    the scene's timeline when the first source is applied, else the first source's own
    times. A CSV path is resolved against the spec's folder (a missing file is a
    located :class:`~twin3d.errors.MissingFileError`); each file is parsed once.
    """
    asset = scene.get(context.asset)
    shared = context.shared
    if TIMELINE_KEY not in shared:
        shared[TIMELINE_KEY] = scene.times
    cache = shared.setdefault(CSV_CACHE_KEY, {})
    if isinstance(section, CsvSource):
        path = context.resolve(section.path, what="sensor CSV", at=("path",))
        section = section.model_copy(update={"path": str(path)})
    _check_build_budget(section, context)
    shared[TIMELINE_KEY] = apply_sensor_source(
        asset, section, times=shared[TIMELINE_KEY], base_dir=context.base_dir, csv_cache=cache
    )


#: Bytes a sensor stream keeps per asset and timeline step (six AI4I sensors, float64, plus
#: a per-frame prediction such as the risk).
BYTES_PER_SENSOR_STEP = 64
_BUDGET_CHECKED = "sensors_budget_checked"


def _check_build_budget(section: SimulatorSource | CsvSource, context: SectionContext) -> None:
    """Before the first stream of a build: refuse assets-with-sensors x timeline steps above the
    ``steps`` count limit or the memory budget (:mod:`twin3d.budgets`), naming the section.

    The timeline is the scene's, else the first source's own (a simulator's ``steps``; a
    CSV's rows, known once the first CSV stream is read, so that case is checked at the
    second asset).
    """
    from ..budgets import check_count, check_memory, format_size
    from ..errors import BudgetError
    from ..sections import SECTION_COUNTS
    from .simulator import BYTES_PER_SIMULATED_ROW

    shared = context.shared
    if shared.get(_BUDGET_CHECKED):
        return
    timeline = shared.get(TIMELINE_KEY)
    if timeline is not None:
        steps, at = len(timeline), ()
    elif isinstance(section, SimulatorSource):
        steps, at = (section.steps or 200), (("steps",) if section.steps is not None else ())
    else:
        return  # a CSV stream sets the timeline: checked before the next asset
    shared[_BUDGET_CHECKED] = True
    n_assets = max(1, int(shared.get(SECTION_COUNTS, {}).get("sensors", 1)))
    total = n_assets * steps
    what = f"{context.where(at)}: the build's sensor data"
    detail = f"{n_assets:,} asset{'s' if n_assets != 1 else ''} with sensors x {steps:,} timeline steps"
    nbytes = total * BYTES_PER_SENSOR_STEP + steps * BYTES_PER_SIMULATED_ROW
    try:
        check_memory(nbytes, what, detail=f"{detail} x {BYTES_PER_SENSOR_STEP} B, plus "
                                          f"{format_size(steps * BYTES_PER_SIMULATED_ROW)} to simulate one stream")
        check_count("steps", total, what, detail=detail)
    except BudgetError as exc:
        exc.located = True  # the message starts with file:line: location
        raise


#: The ``sensors`` section of an asset entry (applied first: order 0).
SECTION = SpecSection(
    "sensors",
    SensorSource,
    apply,
    order=0,
    scope="asset",
    summary="per-asset sensor streams: AI4I simulator or CSV file",
)
