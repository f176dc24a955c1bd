"""Risk in a scene: score every machine at every frame, rank the riskiest.

:func:`apply_risk` gathers the sensors of every machine (the assets that carry the
model's inputs, see :func:`~twin3d.sensors.attach_sensors`), scores all their frames
in one vectorised call and attaches a ``risk`` field to each; :func:`top_risk_assets`
lists the assets with the highest risk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from ...errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from ...scene import Field, Scene
    from .model import FailureRiskModel

__all__ = ["apply_risk", "top_risk_assets"]


def apply_risk(
    scene: "Scene",
    model: FailureRiskModel,
    *,
    assets: Sequence[str] | None = None,
    field_name: str = "risk",
) -> dict[str, "Field"]:
    """Score every machine at every frame and attach a ``risk`` field to each.

    The machines are the assets (``assets``: paths or names; default: every asset)
    that carry all the sensors the model needs (``model.input_columns_``). All their
    frames are scored in one vectorised call. Each gets
    ``Field(field_name, p, association="asset", times=..., unit="1", colormap="risk",
    clim=(0, 1))``.

    Returns
    -------
    dict
        ``{asset path: Field}``.
    """
    from ...scene import Field

    model.check_fitted()
    needed = list(model.input_columns_)
    if assets is None:
        picked = [(p, a) for p, a in scene.walk() if all(n in a.sensors for n in needed)]
        if not picked:
            raise InputError(
                f"no asset in scene {scene.name!r} carries the sensors the risk model needs: {needed}; "
                "attach sensor streams first (a 'sensors' section in the spec, or twin3d.sensors.attach_sensors)"
            )
    else:
        picked = []
        paths = {id(a): p for p, a in scene.walk()}
        for key in assets:
            a = scene.get(key)
            missing = [n for n in needed if n not in a.sensors]
            if missing:
                raise InputError(
                    f"asset {key!r} lacks sensors {missing} needed by the risk model; its sensors: {sorted(a.sensors)}"
                )
            picked.append((paths[id(a)], a))
    times = None
    lengths = []
    for path, a in picked:
        t = a.sensors[needed[0]].times
        n = int(np.atleast_1d(a.sensors[needed[0]].values).shape[0])
        lengths.append(n)
        if t is not None:
            if times is None:
                times = t
            elif t is not times and (t.shape != times.shape or not (np.array_equal(t, times) or np.allclose(t, times))):
                raise InputError(f"asset {path!r}: its sensors are not on the scene timeline ({t.size} vs {times.size} frames)")
    big = pd.DataFrame(
        {n: np.concatenate([np.atleast_1d(np.asarray(a.sensors[n].values, dtype=np.float64)) for _, a in picked])
         for n in needed}
    )
    big.attrs["source"] = f"sensors of {len(picked)} assets"
    p = model.failure_probability(big)
    out: dict[str, Field] = {}
    start = 0
    for (path, a), n in zip(picked, lengths):
        vals = p[start:start + n]
        start += n
        f = Field(
            field_name,
            vals if times is not None else np.float64(vals[0]),
            association="asset",
            times=times,
            unit="1",
            colormap="risk",
            clim=(0.0, 1.0),
            description="calibrated probability of failure (twin3d FailureRiskModel)",
        )
        a.set_field(f)
        out[path] = f
    return out


def top_risk_assets(scene: "Scene", n: int = 3, *, frame: int | None = None, field_name: str = "risk") -> list[tuple[str, float]]:
    """The ``n`` assets with the highest risk at ``frame`` (default: peak over time)."""
    rows = []
    for path, a in scene.walk():
        f = a.fields.get(field_name)
        if f is None:
            continue
        v = f.frame(frame) if frame is not None else np.max(f.values)
        rows.append((path, float(v)))
    rows.sort(key=lambda r: -r[1])
    return rows[: max(0, int(n))]
