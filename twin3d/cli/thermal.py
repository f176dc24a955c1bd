"""``twin3d thermal``: train and evaluate thermal PINN models.

Commands (mounted by :func:`register`)::

    twin3d thermal train --problem rod|plate|box|cylinder|PROBLEM.json [--backend torch|tensorflow] --out MODEL
    twin3d thermal eval MODEL --points FILE [--times T1,T2,...] [--out OUT.csv|OUT.npy] [--clip]

``train`` prints the relative L2 error against the reference solution (analytic or
finite volumes) and the training time. ``eval`` prints (or writes) the temperature at
each point. Library errors become one line on stderr and exit code 2 through the main
CLI's ``handle_errors``; outputs are written atomically.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..errors import InputError, MissingFileError, UnsupportedFormatError
from .errors import handle_errors

__all__ = ["register", "train", "evaluate"]


def _load_problem(spec: str):
    from ..predictors.thermal.problem import PRESETS, HeatProblem, preset_problem

    if spec in PRESETS:
        return preset_problem(spec)
    path = Path(spec)
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise InputError(f"--problem {spec!r}: use one of {sorted(PRESETS)} or a problem file (.json/.yaml)")
    if not path.is_file():
        raise MissingFileError(path, f"--problem: {path}: no such problem file (JSON/YAML)", what="problem file")
    if path.suffix.lower() == ".json":
        from ..yamlspec import MAX_YAML_BYTES

        if path.stat().st_size > MAX_YAML_BYTES:
            raise InputError(f"{path}: {path.stat().st_size:,} bytes is too large for a problem file "
                             f"(at most {MAX_YAML_BYTES // 2**20} MiB)")
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: a problem file must be UTF-8 text (byte {exc.start} is not)") from None
        except RecursionError:
            raise InputError(f"{path}: the JSON is nested too deeply for a problem file") from None
    else:
        from ..yamlspec import read_yaml

        data = read_yaml(path, what="heat problem file").data
    if not isinstance(data, dict):
        raise InputError(f"{path}: a problem file must hold a mapping (geometry, material, t_end, initial, ...)")
    try:
        return HeatProblem(**data)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def train(
    problem: str = typer.Option(..., "--problem", "-p", help="rod | plate | box | cylinder (motor housing), or a problem file (.json/.yaml)."),
    out: Path = typer.Option(..., "--out", "-o", help="Model file: .pt (torch) or .npz (tensorflow); added if missing."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="torch (default) or tensorflow; default from $TWIN3D_BACKEND."),
    adam_steps: int = typer.Option(20, "--adam-steps", min=0, help="Adam steps before L-BFGS."),
    lbfgs_steps: int = typer.Option(2000, "--lbfgs-steps", min=0, help="Maximum L-BFGS iterations."),
    hidden: str = typer.Option("32,32,32", "--hidden", help="Hidden layer widths, comma-separated."),
    seed: int = typer.Option(0, "--seed", help="Seed of the weights and collocation points."),
    float64: bool = typer.Option(False, "--float64", help="Train in float64 (default float32)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (default: 1, fastest for these small networks)."),
) -> None:
    """Train a thermal PINN, report its relative L2 error against the reference, save it."""
    from ..predictors.thermal.backend import get_backend
    from ..predictors.thermal.pinn import ThermalPINN

    if seed < 0:
        raise InputError(f"--seed must be an integer >= 0, got {seed}")
    prob = _load_problem(problem)
    be = get_backend(backend)
    if out.suffix == "":
        out = out.with_name(out.name + be.suffix)  # rod_tf -> rod_tf.npz
    elif out.suffix != be.suffix:
        raise UnsupportedFormatError(f"{out}: a {be.name} model is written as '{be.suffix}' (got {out.suffix!r})")
    try:
        widths = tuple(int(v) for v in hidden.split(","))
    except ValueError:
        raise InputError(f"--hidden {hidden!r}: expected comma-separated integers such as 32,32,32") from None
    model = ThermalPINN(
        backend=be.name, hidden=widths, adam_steps=adam_steps, lbfgs_steps=lbfgs_steps, seed=seed,
        dtype="float64" if float64 else "float32", threads=threads if threads is not None else "auto",
    )
    model.fit(prob)
    model.save(out)
    typer.echo(
        f"{prob.name} ({be.name}, {model.dtype}): relative L2 error {model.rel_l2_:.3e} vs the "
        f"{model.reference_kind_} reference; trained in {model.train_time_s_:.1f} s "
        f"({adam_steps} Adam + up to {lbfgs_steps} L-BFGS steps, final loss {model.final_loss_:.2e}); wrote {out}"
    )


def _read_points(path: Path) -> np.ndarray:
    """A points table from ``.npy`` (numeric, 1-D or 2-D) or ``.csv``/``.txt`` (comma-separated
    numbers, an optional header row, ``#`` comments); every problem is one line naming the file
    (and, for text, the line)."""
    ext = path.suffix.lower()
    if not path.is_file():
        raise MissingFileError(path, f"--points: {path}: no such points file", what="points file")
    if ext == ".npy":
        arr = _read_npy_points(path)
    elif ext in (".csv", ".txt"):
        arr = _read_csv_points(path)
    else:
        raise UnsupportedFormatError(f"{path}: points must be a .csv or .npy file")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{path}: expected a table of points (rows) x coordinates (columns), got shape {arr.shape}")
    return arr


def _read_npy_points(path: Path) -> np.ndarray:
    from ..budgets import check_memory

    with open(path, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise InputError(f"{path}: not a .npy array file (it does not start with the .npy signature)")
    try:  # mapped, not read: the header's shape is checked before anything is allocated
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickle" in text:
            text = "it holds Python objects, not numbers"
        elif "mmap length" in text:
            text = "the file is shorter than the shape its header declares: truncated or corrupt"
        raise InputError(f"{path}: not a readable numeric .npy array ({text})") from None
    if not isinstance(mapped, np.ndarray) or mapped.dtype.kind not in "biuf":
        raise InputError(f"{path}: a points array must hold numbers, this one holds {getattr(mapped, 'dtype', '?')}")
    check_memory(float(mapped.size) * 8, f"reading {path}",
                 detail=f"shape {mapped.shape} of {mapped.dtype}, read as float64")
    return np.array(mapped, dtype=np.float64)


def _read_csv_points(path: Path) -> np.ndarray:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: a points file must be UTF-8 text (byte {exc.start} is not)") from None
    rows: list[list[float]] = []
    width = None
    header_done = False
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split(",")]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if not header_done and not rows:
                header_done = True  # a header row: x,y,z[,t]
                continue
            bad = next(c for c in cells if not _is_number(c))
            raise InputError(f"{path}:{number}: {bad[:40]!r} is not a number; every row must be "
                             "comma-separated numbers") from None
        header_done = True
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise InputError(f"{path}:{number}: {len(values)} value(s), but the first row has {width}; "
                             "every row needs the same columns")
        rows.append(values)
    if not rows:
        raise InputError(f"{path}: no points")
    return np.asarray(rows, dtype=np.float64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def evaluate(
    model_path: Path = typer.Argument(..., metavar="MODEL", help="Model from 'twin3d thermal train' (.pt or .npz)."),
    points: Path = typer.Option(..., "--points", help="CSV/NPY: columns x[,y[,z]] in metres, optionally a last column t [s]."),
    times: Optional[str] = typer.Option(None, "--times", help="Comma-separated times [s] for points without a t column (default: t_end)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the table to .csv or .npy instead of stdout."),
    clip: bool = typer.Option(False, "--clip", help="Project points outside the domain onto it instead of failing."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="Framework that runs the model (default: the one that trained it)."),
) -> None:
    """Evaluate a saved model: temperature at each point (and time).

    Output columns: the point's coordinates, t [s], and the temperature in the
    problem's unit (degC or K), one row per point and time.
    """
    from .._util import atomic_path
    from ..predictors.thermal.pinn import ThermalPINN

    model = ThermalPINN.load(model_path, backend=backend)
    prob = model.problem_
    dims = prob.geometry.spatial_dims
    arr = _read_points(points)
    names = list("xyz"[:dims])
    if arr.shape[1] == dims + 1:
        if times is not None:
            raise InputError(f"{points}: has a t column; drop --times or the column")
        pts, t = arr[:, :dims], arr[:, dims]
    elif arr.shape[1] == dims:
        if times is None:
            tlist = [prob.t_end]
        else:
            try:
                tlist = [float(v) for v in times.split(",") if v.strip()]
            except ValueError:
                raise InputError(f"--times {times!r}: expected comma-separated numbers") from None
        from ..budgets import check_memory

        rows = float(arr.shape[0]) * len(tlist)
        check_memory(rows * (dims + 2) * 8 * 3, "evaluating the thermal model",
                     detail=f"{arr.shape[0]:,} points x {len(tlist):,} --times, {dims + 2} float64 columns, "
                            "about 3 copies")
        pts = np.tile(arr, (len(tlist), 1))
        t = np.repeat(np.asarray(tlist, dtype=np.float64), arr.shape[0])
    else:
        raise InputError(
            f"{points}: {arr.shape[1]} columns, but the {prob.geometry.kind} problem {prob.name!r} needs "
            f"{dims} ({', '.join(names)}) or {dims + 1} ({', '.join(names)}, t)"
        )
    values = model.predict_pointwise(pts, t, clip=clip)
    unit = prob.temperature_unit
    table = np.column_stack([pts, t, values])
    header = ",".join(names + ["t", f"temperature_{unit}"])
    if out is None:
        typer.echo(header)
        for row in table:
            typer.echo(",".join(f"{v:.9g}" for v in row))
    else:
        ext = out.suffix.lower()
        if ext not in (".csv", ".npy"):
            raise UnsupportedFormatError(f"{out}: --out must be a .csv or .npy file")
        with atomic_path(out) as tmp:
            if ext == ".npy":
                with open(tmp, "wb") as fh:
                    np.save(fh, table)
            else:
                np.savetxt(tmp, table, delimiter=",", header=header, comments="", fmt="%.9g")
    print(
        f"temperature [{unit}] of problem {prob.name!r} at {len(values)} point-times; columns: {header}"
        + (f"; wrote {out}" if out is not None else ""),
        file=sys.stderr,
    )


def register(app: typer.Typer) -> None:
    """Add the ``thermal`` command group to ``app``."""
    thermal_app = typer.Typer(
        name="thermal",
        help="Thermal PINN: train on a heat problem (torch or TensorFlow), evaluate at points.",
        no_args_is_help=True,
    )
    thermal_app.command("train")(handle_errors(train))
    thermal_app.command("eval")(handle_errors(evaluate))
    app.add_typer(thermal_app, name="thermal")
