"""The thermal PINN estimator: fit a heat problem, predict temperatures, save and load.

>>> from twin3d.predictors.thermal import ThermalPINN, preset_problem
>>> model = ThermalPINN(adam_steps=300, lbfgs_steps=1500).fit(preset_problem("rod"))  # doctest: +SKIP
>>> model.rel_l2_  # relative L2 error against the analytic solution          # doctest: +SKIP

The estimator follows scikit-learn's contract: ``__init__`` only stores settings,
:meth:`ThermalPINN.fit` takes the problem (the "data") and returns ``self``, learned
state ends in ``_``, and predicting before fitting raises
:class:`~twin3d.errors.NotFittedError`.
"""

from __future__ import annotations

import json
import math
import os
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..._util import atomic_path, progress_bar
from ...errors import InputError, ModelFileError, NotFittedError, TrainingError
from . import _core
from .backend import get_backend
from .problem import HeatProblem
from .reference import ReferenceSolution, reference_solution, relative_l2

__all__ = ["ThermalPINN", "load_model", "FORMAT", "FORMAT_VERSION"]

FORMAT = "twin3d.thermal-pinn"
FORMAT_VERSION = 1
#: Correction pairs SciPy's L-BFGS-B keeps (``maxcor``).
_LBFGS_MEMORY = 50

#: Called as ``callback(model, info)`` during fit; ``info`` has phase ("adam" /
#: "lbfgs"), step, loss, elapsed_s. Return True to stop training.
Callback = Callable[["ThermalPINN", dict], Any]


class ThermalPINN:
    """A physics-informed network for the transient heat equation of a :class:`HeatProblem`.

    Parameters
    ----------
    backend
        ``"torch"`` or ``"tensorflow"``; ``None`` reads ``$TWIN3D_BACKEND``, else torch.
    hidden
        Hidden layer widths of the tanh MLP.
    constraints
        ``"hard"`` (default): the initial condition and fixed-temperature faces are
        built into the output (``v = g + t * distance * N``); ``"soft"``: every
        condition is a loss term (the classic PINN, for comparison).
    n_interior, n_boundary
        Collocation points inside the space-time domain and per face (flux and
        convection faces; all conditions when ``constraints="soft"``). ``None``: by
        dimension (1024/128 in 1D, 2048/256 in 2D, 4096/384 in 3D).
    adam_steps, lr
        Adam steps and learning rate before L-BFGS. With the conditions built into
        the output a short warm-up is enough: more Adam steps only delayed reaching
        1e-3 on the rod and plate presets (measured, see docs/thermal.md).
    lbfgs_steps
        Maximum L-BFGS iterations (SciPy's L-BFGS-B, memory 50).
    bc_weight
        Weight of the condition loss relative to the PDE loss.
    dtype
        ``"float32"`` (default) or ``"float64"``.
    threads
        CPU threads while training and predicting; ``"auto"`` uses 1 (these networks
        are small: one thread is fastest, above all on a shared 2-core machine);
        ``None`` leaves the framework's setting alone.
    seed
        Seeds the weights and the collocation points (both drawn with NumPy, so both
        backends start from the same state).
    progress
        Show a progress bar (``None``: only on an interactive terminal, never in CI).
    evaluate
        After fitting, compute :attr:`rel_l2_` against :func:`reference_solution`.
    """

    def __init__(
        self,
        *,
        backend: str | None = None,
        hidden: Sequence[int] = (32, 32, 32),
        constraints: str = "hard",
        n_interior: int | None = None,
        n_boundary: int | None = None,
        adam_steps: int = 20,
        lr: float = 1e-3,
        lbfgs_steps: int = 2000,
        bc_weight: float = 1.0,
        dtype: str = "float32",
        threads: int | str | None = "auto",
        seed: int = 0,
        progress: bool | None = None,
        evaluate: bool = True,
    ) -> None:
        self.backend = backend
        self.hidden = hidden
        self.constraints = constraints
        self.n_interior = n_interior
        self.n_boundary = n_boundary
        self.adam_steps = adam_steps
        self.lr = lr
        self.lbfgs_steps = lbfgs_steps
        self.bc_weight = bc_weight
        self.dtype = dtype
        self.threads = threads
        self.seed = seed
        self.progress = progress
        self.evaluate = evaluate

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        def is_int(v: Any) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        hidden = tuple(self.hidden)
        if not hidden or any(not is_int(h) or h < 1 for h in hidden):
            raise InputError(f"hidden must be a non-empty list of positive layer widths, got {self.hidden!r}")
        if self.constraints not in ("hard", "soft"):
            raise InputError(f"constraints must be 'hard' or 'soft', got {self.constraints!r}")
        if self.dtype not in ("float32", "float64"):
            raise InputError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        for name in ("adam_steps", "lbfgs_steps"):
            v = getattr(self, name)
            if not is_int(v) or v < 0:
                raise InputError(f"{name} must be an integer >= 0, got {v!r}")
        if self.adam_steps + self.lbfgs_steps == 0:
            raise InputError("adam_steps + lbfgs_steps must be > 0 (nothing to train)")
        for name in ("lr", "bc_weight"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), (int, float, np.floating)):
                raise InputError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"lr must be a positive number, got {self.lr!r}")
        if not (math.isfinite(self.bc_weight) and self.bc_weight > 0):
            raise InputError(f"bc_weight must be a positive number, got {self.bc_weight!r}")
        for name in ("n_interior", "n_boundary"):
            v = getattr(self, name)
            if v is not None and (not is_int(v) or v < 1):
                raise InputError(f"{name} must be a positive integer or None, got {v!r}")
        if self.threads not in (None, "auto") and (not isinstance(self.threads, int) or self.threads < 1):
            raise InputError(f"threads must be a positive integer, 'auto' or None, got {self.threads!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise InputError(f"seed must be an integer >= 0, got {self.seed!r}")

    def training_memory(self, problem: HeatProblem) -> tuple[float, str]:
        """Estimated peak memory of :meth:`fit` on ``problem`` in bytes, and how it was counted.

        Weights (float64 as drawn, plus the network's copy), Adam's state (gradient and two
        moments), SciPy's L-BFGS-B workspace (``2 x 50`` float64 correction vectors of all
        weights, when ``lbfgs_steps > 0``) and the activations autograd keeps for the
        collocation points (values and the derivatives of the heat equation).
        """
        dims = problem.geometry.unit_dims
        n_int, n_bnd = _core.default_points(problem)
        n_int = int(self.n_interior or n_int)
        n_bnd = int(self.n_boundary or n_bnd)
        layers = [dims + 1, *[int(h) for h in self.hidden], 1]
        n_params = float(sum((a + 1) * b for a, b in zip(layers[:-1], layers[1:])))
        item = 4 if self.dtype == "float32" else 8
        n_points = float(n_int + n_bnd * 3 * dims)
        lbfgs = (2 * _LBFGS_MEMORY + 8) * 8 if self.lbfgs_steps > 0 else 0
        weights = n_params * (8 + 4 * item + lbfgs)
        activations = n_points * sum(layers[1:-1]) * item * (2 + 2 * (dims + 1))
        detail = (f"{n_params:,.0f} weights (layers {'-'.join(map(str, layers))}) x {8 + 4 * item + lbfgs} B"
                  f"{' with L-BFGS' if lbfgs else ''}, plus activations of {n_points:,.0f} collocation points")
        return weights + activations, detail

    def _threads(self, phase: str) -> int | None:
        if self.threads == "auto":
            # Small networks: one thread avoids synchronisation and, on a shared
            # machine, OpenMP spin-waiting (measured: predicting 10k points took 5.7 s
            # with 2 threads vs 0.11 s with 1 on the loaded 2-core dev machine).
            return 1
        return self.threads  # type: ignore[return-value]

    # ------------------------------------------------------------------ fit
    def fit(self, problem: HeatProblem, *, callback: Callback | None = None, callback_every: int = 100) -> "ThermalPINN":
        """Train on ``problem`` (Adam, then L-BFGS) and return ``self``.

        Raises
        ------
        TrainingError
            If the loss becomes NaN or infinite.
        """
        if not isinstance(problem, HeatProblem):
            raise InputError(f"fit expects a HeatProblem, got {type(problem).__name__}")
        self._check_params()
        from ...budgets import check_memory

        nbytes, detail = self.training_memory(problem)
        check_memory(nbytes, f"training the thermal PINN on {problem.name!r}", detail=detail)
        backend = get_backend(self.backend)
        dims = problem.geometry.unit_dims
        n_int, n_bnd = _core.default_points(problem)
        n_int = int(self.n_interior or n_int)
        n_bnd = int(self.n_boundary or n_bnd)
        layers = [dims + 1, *[int(h) for h in self.hidden], 1]
        constants = _core.build_constants(
            problem, hard=self.constraints == "hard", n_interior=n_int, n_boundary=n_bnd, seed=int(self.seed)
        )
        history: list[tuple[str, int, float, float]] = []
        self._clear_fit()
        total = int(self.adam_steps) + int(self.lbfgs_steps)
        with backend.threads(self._threads("train")), progress_bar(
            f"Training thermal PINN ({problem.name}, {backend.name})", total, enabled=self.progress
        ) as advance:
            net = backend.network(_core.init_weights(layers, int(self.seed)), self.dtype)
            net.set_training(constants, dims, self.bc_weight)
            # provisional fitted state so callbacks can predict
            self.problem_, self.backend_, self.network_ = problem, backend.name, net
            self.scaling_ = _core.Scaling.for_problem(problem)
            self.transform_ = _core.Transform(problem, hard=self.constraints == "hard")
            self.layers_ = layers
            t0 = time.perf_counter()
            stop = False
            try:
                stop = self._run_adam(net, callback, callback_every, history, advance, t0)
                if not stop and self.lbfgs_steps > 0:
                    self._run_lbfgs(net, callback, callback_every, history, advance, t0)
            except BaseException:
                self._clear_fit()
                raise
            self.train_time_s_ = time.perf_counter() - t0
        self.history_ = history
        self.final_loss_ = history[-1][2] if history else float("nan")
        if self.evaluate:
            ref = reference_solution(problem)
            self.rel_l2_ = self.score(ref)
            self.reference_kind_ = ref.kind
        else:
            self.rel_l2_ = None
            self.reference_kind_ = None
        return self

    def _clear_fit(self) -> None:
        for name in list(vars(self)):
            if name.endswith("_") and not name.startswith("_"):
                delattr(self, name)

    @staticmethod
    def _check_loss(value: float, phase: str, step: int) -> None:
        if not math.isfinite(value):
            raise TrainingError(
                f"training diverged: the loss is {value} at {phase} step {step}; lower lr (now the "
                "Adam learning rate), use dtype='float64', or check the problem's scales"
            )

    def _run_adam(self, net, callback, every, history, advance, t0) -> bool:
        if self.adam_steps <= 0:
            return False
        step_fn = net.adam(float(self.lr))
        value = float("nan")
        for i in range(1, int(self.adam_steps) + 1):
            value = step_fn()
            self._check_loss(value, "Adam", i)
            if i % 10 == 0 or i == self.adam_steps:
                advance(10 if i % 10 == 0 else i % 10, loss=f"{value:.2e}")
            if i % every == 0 or i == self.adam_steps:
                history.append(("adam", i, value, time.perf_counter() - t0))
                if callback is not None and callback(self, {"phase": "adam", "step": i, "loss": value,
                                                            "elapsed_s": time.perf_counter() - t0}):
                    return True
        return False

    def _run_lbfgs(self, net, callback, every, history, advance, t0) -> None:
        from scipy.optimize import minimize

        state = {"it": 0, "loss": float("nan"), "evals": 0}
        budget = int(self.lbfgs_steps)

        def fun(vec: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = net.value_and_grad(vec)
            state["evals"] += 1
            self._check_loss(value, "L-BFGS", state["it"])
            if not np.all(np.isfinite(grad)):
                self._check_loss(float("nan"), "L-BFGS", state["it"])
            return value, grad

        def cb(intermediate_result) -> None:
            state["it"] += 1
            state["loss"] = float(intermediate_result.fun)
            if state["it"] % 10 == 0:
                advance(10, loss=f"{state['loss']:.2e}")
            if state["it"] % every == 0:
                net.set_flat(intermediate_result.x)
                history.append(("lbfgs", state["it"], state["loss"], time.perf_counter() - t0))
                if callback is not None and callback(self, {"phase": "lbfgs", "step": state["it"],
                                                            "loss": state["loss"], "elapsed_s": time.perf_counter() - t0}):
                    raise StopIteration

        # L-BFGS-B stops when its line search cannot improve a float32 loss any further;
        # a restart (fresh curvature memory) usually continues the descent.
        x = net.get_flat()
        for _restart in range(4):
            remaining = budget - state["it"]
            if remaining <= 0:
                break
            start_it = state["it"]
            res = minimize(
                fun, x, jac=True, method="L-BFGS-B", callback=cb,
                options={"maxiter": remaining, "maxfun": int(remaining * 1.5) + 20, "maxcor": _LBFGS_MEMORY,
                         "ftol": 0.0, "gtol": 0.0},
            )
            x = res.x
            net.set_flat(x)
            state["loss"] = float(res.fun)
            if getattr(res, "status", 0) == 99 or "callback" in str(res.message).lower():
                break  # stopped by the callback
            if state["it"] - start_it < 10:
                break  # no progress after a restart: converged at this precision
        history.append(("lbfgs", state["it"], state["loss"], time.perf_counter() - t0))

    # ------------------------------------------------------------------ predict
    def check_fitted(self) -> None:
        """Raise :class:`~twin3d.errors.NotFittedError` unless the model is trained or loaded."""
        if not hasattr(self, "network_"):
            raise NotFittedError("this ThermalPINN is not fitted yet: call fit(problem) or ThermalPINN.load(path) first")

    def _as_times(self, times: float | Sequence[float] | np.ndarray) -> np.ndarray:
        t = np.atleast_1d(np.asarray(times, dtype=np.float64)).reshape(-1)
        if t.size == 0 or not np.all(np.isfinite(t)):
            raise InputError("times must be one or more finite values in seconds")
        t_end = self.problem_.t_end
        bad = (t < -1e-9 * t_end) | (t > t_end * (1 + 1e-9))
        if np.any(bad):
            raise InputError(
                f"times {t[bad][:5].tolist()} are outside the trained span [0, {t_end}] s of problem {self.problem_.name!r}"
            )
        return np.clip(t, 0.0, t_end)

    def _as_points(self, points: np.ndarray, clip: bool) -> np.ndarray:
        g = self.problem_.geometry
        p = np.asarray(points, dtype=np.float64)
        if p.ndim == 1 and g.spatial_dims == 1:
            p = p[:, None]
        if p.ndim != 2 or p.shape[1] != g.spatial_dims:
            raise InputError(
                f"points for the {g.kind} problem {self.problem_.name!r} must have shape (n, {g.spatial_dims}) "
                f"(coordinates {', '.join('xyz'[: g.spatial_dims])} in metres), got {p.shape}"
            )
        if not np.all(np.isfinite(p)):
            raise InputError("points contain NaN or infinite coordinates")
        if clip:
            return g.clip(p)
        inside = g.inside(p)
        if not np.all(inside):
            first = p[~inside][0].tolist()
            raise InputError(
                f"{int((~inside).sum())} of {len(p)} points are outside the {g.kind} domain "
                f"(first: {first}; bounds {g.bounds().tolist()} m); pass clip=True to project them onto it"
            )
        return p

    def predict(self, points: np.ndarray, times: float | Sequence[float] | np.ndarray, *, clip: bool = False) -> np.ndarray:
        """Temperatures at physical ``points`` (n, dims) [m] and ``times`` (T,) [s].

        Returns an array (T, n) in the problem's temperature unit. Evaluation is batched
        (no Python loop over points). Points outside the domain raise
        :class:`~twin3d.errors.InputError` unless ``clip=True`` projects them onto it.
        """
        self.check_fitted()
        p = self._as_points(points, clip)
        t = self._as_times(times)
        unit = self.problem_.geometry.to_unit(p)
        backend = get_backend(self.backend_)
        with backend.threads(self._threads("predict")):
            return self._predict_unit(unit, t / self.problem_.t_end)

    def _predict_unit(self, unit: np.ndarray, t_hat: np.ndarray) -> np.ndarray:
        """(T, n) temperatures for unit coordinates and unit times (no checks)."""
        sc, tr = self.scaling_, self.transform_
        g, _, _ = tr.g_jet(unit)
        Dx, _, _ = tr.d_space_jet(unit)
        dt = np.float32 if self.dtype == "float32" else np.float64
        xi = (2.0 * (unit - sc.lo) / (sc.hi - sc.lo) - 1.0).astype(dt)
        x = np.empty((unit.shape[0], unit.shape[1] + 1), dtype=dt)
        x[:, :-1] = xi
        n = unit.shape[0]
        if n * t_hat.size <= 65536:  # small: all frames in one batch
            xs = np.repeat(x[None], t_hat.size, axis=0)
            xs[:, :, -1] = (2.0 * t_hat - 1.0)[:, None]
            N = self.network_.predict(xs.reshape(-1, x.shape[1])).reshape(t_hat.size, n)
            D = t_hat[:, None] * Dx[None] if tr.hard else 1.0
            return sc.u_ref + sc.dU * (g[None] + D * N)
        out = np.empty((t_hat.size, n), dtype=np.float64)
        for k, th in enumerate(t_hat):  # one batched pass per frame
            x[:, -1] = 2.0 * th - 1.0
            N = self.network_.predict(x)
            D = th * Dx if tr.hard else 1.0
            out[k] = sc.u_ref + sc.dU * (g + D * N)
        return out

    def predict_pointwise(self, points: np.ndarray, times: np.ndarray, *, clip: bool = False) -> np.ndarray:
        """Temperatures at (point, time) pairs: ``points`` (n, dims) [m], ``times`` (n,) [s] -> (n,)."""
        self.check_fitted()
        p = self._as_points(points, clip)
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        if t.shape[0] != p.shape[0]:
            raise InputError(f"predict_pointwise: {p.shape[0]} points but {t.shape[0]} times; give one time per point")
        t = self._as_times(t)
        unit = self.problem_.geometry.to_unit(p)
        sc, tr = self.scaling_, self.transform_
        t_hat = t / self.problem_.t_end
        g, _, _ = tr.g_jet(unit)
        Dx, _, _ = tr.d_space_jet(unit)
        x = sc.net_inputs(unit, t_hat).astype(np.float32 if self.dtype == "float32" else np.float64)
        backend = get_backend(self.backend_)
        with backend.threads(self._threads("predict")):
            N = self.network_.predict(x)
        D = t_hat * Dx if tr.hard else 1.0
        return sc.u_ref + sc.dU * (g + D * N)

    def score(self, reference: ReferenceSolution | None = None) -> float:
        """Relative L2 error against ``reference`` (default :func:`reference_solution`)."""
        self.check_fitted()
        ref = reference if reference is not None else reference_solution(self.problem_)
        pred = self.predict(ref.points, ref.times)
        return relative_l2(pred, ref.values, ref.base)

    # ------------------------------------------------------------------ persistence
    def config(self) -> dict[str, Any]:
        """The JSON configuration stored next to the weights."""
        self.check_fitted()
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "backend": self.backend_,
            "dtype": self.dtype,
            "layers": list(self.layers_),
            "activation": "tanh",
            "constraints": self.constraints,
            "problem": self.problem_.to_json_dict(),
            "training": {
                "adam_steps": int(self.adam_steps), "lr": float(self.lr), "lbfgs_steps": int(self.lbfgs_steps),
                "n_interior": self.n_interior, "n_boundary": self.n_boundary, "bc_weight": float(self.bc_weight),
                "seed": int(self.seed), "hidden": [int(h) for h in self.hidden],
            },
            "report": {
                "rel_l2": getattr(self, "rel_l2_", None),
                "reference": getattr(self, "reference_kind_", None),
                "train_time_s": getattr(self, "train_time_s_", None),
                "final_loss": getattr(self, "final_loss_", None),
            },
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model atomically: torch -> ``.pt`` (state dict + JSON config),
        TensorFlow -> ``.npz`` (weights + JSON config, no pickled objects).

        The suffix must match the backend (``.pt`` for torch, ``.npz`` for TensorFlow);
        a path without one gets it. Returns the path written.
        """
        self.check_fitted()
        backend = get_backend(self.backend_)
        path = Path(path)
        if path.suffix == "":
            path = path.with_name(path.name + backend.suffix)
        if path.suffix != backend.suffix:
            raise InputError(
                f"a {backend.name} thermal model is saved as '{backend.suffix}', got {str(path)!r}; "
                f"use {path.with_suffix(backend.suffix).name}"
            )
        with atomic_path(path) as tmp:
            backend.save(str(tmp), self.config(), self.network_.arrays())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, backend: str | None = None) -> "ThermalPINN":
        """Load a model written by :meth:`save` (no code is executed while loading).

        ``backend`` picks the framework that runs it (default: the one that trained it);
        the weights are plain arrays, so a torch-trained model runs on TensorFlow too.
        """
        config, arrays = _read_model_file(Path(path))
        try:
            problem = HeatProblem.model_validate(config["problem"])
        except (InputError, KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: invalid problem in model config ({_one_line(exc)})") from None
        try:
            layers = [int(v) for v in config.get("layers", [])]
            train = config.get("training", {})
            if not isinstance(train, dict) or not isinstance(config.get("report", {}), dict):
                raise TypeError("'training' and 'report' must be mappings")
            hidden = train.get("hidden", layers[1:-1])
            if not isinstance(hidden, list):
                raise TypeError(f"'training.hidden' must be a list of layer widths, got {hidden!r}")
            options = dict(
                hidden=tuple(hidden), constraints=config.get("constraints", "hard"),
                dtype=config.get("dtype", "float32"), adam_steps=int(train.get("adam_steps", 0)),
                lr=float(train.get("lr", 1e-3)), lbfgs_steps=int(train.get("lbfgs_steps", 0)),
                n_interior=train.get("n_interior"), n_boundary=train.get("n_boundary"),
                bc_weight=float(train.get("bc_weight", 1.0)), seed=int(train.get("seed", 0)),
            )
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ModelFileError(f"{path}: invalid model config ({_one_line(exc)})") from None
        if len(layers) < 2 or len(arrays) != 2 * (len(layers) - 1) or any(
            arrays[2 * i].shape != (layers[i], layers[i + 1]) or arrays[2 * i + 1].shape != (layers[i + 1],)
            for i in range(len(layers) - 1)
        ):
            raise ModelFileError(f"{path}: weights do not match the layer sizes {layers} in its config")
        if layers[0] != problem.geometry.unit_dims + 1:
            raise ModelFileError(f"{path}: input size {layers[0]} does not fit a {problem.geometry.kind} problem")
        model = cls(backend=backend if backend is not None else config.get("backend"), **options)
        try:
            model._check_params()
            be = get_backend(model.backend)
        except InputError as exc:
            if backend is not None and "backend" in str(exc):
                raise
            raise ModelFileError(f"{path}: invalid model config ({exc})") from None
        with be.threads(model._threads("predict")):  # TensorFlow fixes its pools at first use
            model.network_ = be.network(arrays, model.dtype)
        model.backend_ = be.name
        model.problem_ = problem
        model.layers_ = layers
        model.scaling_ = _core.Scaling.for_problem(problem)
        model.transform_ = _core.Transform(problem, hard=model.constraints == "hard")
        report = config.get("report", {})
        model.rel_l2_ = report.get("rel_l2")
        model.reference_kind_ = report.get("reference")
        model.train_time_s_ = report.get("train_time_s")
        model.final_loss_ = report.get("final_loss")
        model.history_ = []
        return model


def load_model(path: str | os.PathLike, *, backend: str | None = None) -> ThermalPINN:
    """Shorthand for :meth:`ThermalPINN.load`."""
    return ThermalPINN.load(path, backend=backend)


def _read_model_file(path: Path) -> tuple[dict[str, Any], list[np.ndarray]]:
    from ...errors import require_file

    require_file(path, what="thermal model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a twin3d thermal model (expected a .pt or .npz file written by ThermalPINN.save)")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    if "config.npy" in names:
        config, arrays = _read_npz(path)
    else:
        from ._torch import read_torch_file

        config, arrays = read_torch_file(str(path))
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: its config is a {type(config).__name__}, not a mapping: not a twin3d thermal model")
    if config.get("format") != FORMAT:
        raise ModelFileError(f"{path}: format {config.get('format')!r} is not {FORMAT!r}")
    version = config.get("version", -1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{path}: model format version {version!r} is not an integer")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {config.get('version')} is newer than this twin3d reads ({FORMAT_VERSION})"
        )
    return config, arrays


def _npz_array_bytes(path: Path) -> tuple[float, str]:
    """Bytes the weight arrays of a ``.npz`` model take as float64, from their ``.npy`` headers
    (read without decompressing the data: a small compressed file can declare huge arrays)."""
    total, largest = 0.0, ()
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy") or info.filename == "config.npy":
                    continue
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, _ = np.lib.format.read_array_header_1_0(fh)
                    elif version == (2, 0):
                        shape, _, _ = np.lib.format.read_array_header_2_0(fh)
                    else:
                        raise ModelFileError(f"{path}: {info.filename} has an unsupported .npy version {version}")
                count = float(np.prod(shape, dtype=np.float64)) if shape else 1.0
                if count * 8 > total / 2:
                    largest = tuple(shape)
                total += count * 8
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"{path}: corrupt thermal model ({_one_line(exc)})") from None
    return total, f"weight arrays from their headers, the largest of shape {largest}"


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (pydantic's validation errors list one problem a line)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in errors()[:4])
        except Exception:  # noqa: BLE001 - fall back to the text
            pass
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_npz(path: Path) -> tuple[dict[str, Any], list[np.ndarray]]:
    from ...budgets import check_memory

    nbytes, detail = _npz_array_bytes(path)
    check_memory(2 * nbytes, f"loading the thermal model {path}", detail=detail + ", read and converted")
    try:
        with np.load(path, allow_pickle=False) as z:
            config = json.loads(str(z["config"]))
            n = len([k for k in z.files if k.startswith("w")])
            arrays: list[np.ndarray] = []
            for i in range(n):
                arrays += [np.asarray(z[f"w{i}"], dtype=np.float64), np.asarray(z[f"b{i}"], dtype=np.float64)]
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: corrupt thermal model ({_one_line(exc)})") from None
    return config, arrays


def write_npz(path: str, config: dict[str, Any], arrays: list[np.ndarray], dtype: str) -> None:
    """Weights ``w0, b0, ...`` plus ``config`` (a JSON string), no object arrays."""
    payload = {"config": np.array(json.dumps(config))}
    for i in range(len(arrays) // 2):
        payload[f"w{i}"] = np.asarray(arrays[2 * i], dtype=dtype)
        payload[f"b{i}"] = np.asarray(arrays[2 * i + 1], dtype=dtype)
    with open(path, "wb") as fh:
        np.savez(fh, **payload)
