"""Finite-volume reference for the ablation problem, and the closed form it is checked against.

Discretisation (cell-centred finite volumes on the masked voxel grid of
:attr:`~.problem.AblationProblem.codes`; unknowns are the organ voxels, in the
temperature rise ``theta = T - T_a``):

* between two organ voxels: conductance ``k A / h`` (face area ``A``, centre distance ``h``);
* organ face on a vessel voxel: the wall is at blood temperature, ``A / (h / (2 k) + 1 / h_wall)``
  (``1 / h_wall = 0`` for an ideal sink); the heat through these faces is what each vessel removes;
* organ face on a far-field voxel (where the box cuts the organ): ``k A / h`` to ``theta = 0``;
* organ face on other tissue: nothing (insulated) or ``A / (h / (2 k) + 1 / h_s)`` to the
  ambient (convective);
* perfusion ``omega_b rho_b c_b V`` on the diagonal, heat capacity ``rho c V``;
* the source: the power density integrated over each voxel (sub-sampled: 3^3 points per
  voxel for the Gaussian, 8^3 on voxels cut by the surface of a ball).

Time stepping is implicit, Crank-Nicolson by default (``method="backward-euler"`` too)
with a constant step, the source taken at mid-step (so the heating time is exact when
it is a whole number of steps). The matrix of each step is the same, symmetric and
positive definite, and dominated by the heat-capacity term: it is built once and
solved by conjugate gradients with its diagonal as preconditioner, warm-started from
the previous step. A sparse direct factorisation was measured first and rejected: on
3D seven-point grids SuperLU fills in badly (64,000 unknowns: 18 s to factorise, 44 M
factor entries; 125,000: 120 s, 122 M), where CG takes milliseconds per step.

CEM43, the Arrhenius damage and the peak temperature are integrated along the way
(:class:`~.damage.DamageIntegrator`), as is the energy balance: delivered = stored +
perfusion + vessels + far field + surface, exact up to the solver tolerance.

:func:`analytic_ball_rise` is the steady closed form for a uniform ball source in an
infinite perfused medium (derivation in ``docs/ablation.md``); :func:`steady_state`
solves the steady problem with the same discretisation.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..._util import progress_bar
from ...errors import InputError
from .damage import CRITERIA, DamageIntegrator
from .problem import FAR_FIELD, ORGAN, OUTSIDE, AblationProblem

__all__ = [
    "METHODS",
    "AblationSolution",
    "FVOperator",
    "SteadyState",
    "analytic_ball_rise",
    "build_operator",
    "finite_volume_solution",
    "steady_state",
]

#: Time-stepping schemes of :func:`finite_volume_solution`.
METHODS = ("crank-nicolson", "backward-euler")


# --------------------------------------------------------------------------- closed form
def analytic_ball_rise(r_m: np.ndarray, *, power_w: float, radius_m: float, conductivity: float,
                       perfusion_coefficient: float) -> np.ndarray:
    """Steady temperature rise [K] at distance ``r_m`` from the centre of a uniform ball source.

    Pennes in an infinite homogeneous medium, ``k lap(theta) - c_p theta + q = 0`` with
    ``q = 3 P / (4 pi a^3)`` inside the ball of radius ``a``, ``c_p = omega_b rho_b c_b``,
    ``L = sqrt(k / c_p)``:

    * inside (``r <= a``): ``theta = q L^2 / k [1 - (1 + a / L) exp(-a / L) sinh(r / L) / (r / L)]``
    * outside (``r >= a``): ``theta = q L^2 / k (a cosh(a / L) - L sinh(a / L)) exp(-r / L) / r``

    (``c_p = 0`` gives the conduction limit ``P / (4 pi k r)`` outside).
    """
    r = np.asarray(r_m, dtype=np.float64)
    a = float(radius_m)
    q = power_w / (4.0 / 3.0 * math.pi * a**3)
    k = float(conductivity)
    if perfusion_coefficient <= 0:
        inside = q / (6.0 * k) * (3.0 * a * a - r * r)
        outside = q * a**3 / (3.0 * k * np.maximum(r, 1e-300))
        return np.where(r <= a, inside, outside)
    L = math.sqrt(k / perfusion_coefficient)
    x = r / L
    sinhc = np.where(x < 1e-8, 1.0, np.sinh(np.maximum(x, 1e-8)) / np.maximum(x, 1e-8))
    inside = q * L * L / k * (1.0 - (1.0 + a / L) * math.exp(-a / L) * sinhc)
    outside = q * L * L / k * (a * math.cosh(a / L) - L * math.sinh(a / L)) * np.exp(-x) / np.maximum(r, 1e-300)
    return np.where(r <= a, inside, outside)


# --------------------------------------------------------------------------- operator
@dataclass(eq=False)
class FVOperator:
    """The semi-discrete system ``C dtheta/dt = -K theta + b + on(t) Q`` on the unknowns.

    Conductances are in W/K, capacities in J/K, powers in W.
    """

    index: np.ndarray  # grid -> unknown number, -1 elsewhere
    ijk: np.ndarray  # (n, 3) grid index of each unknown
    K: Any  # scipy.sparse csr (n, n)
    capacity: np.ndarray
    perfusion: np.ndarray
    vessel: dict[str, np.ndarray]
    far_field: np.ndarray
    surface: np.ndarray
    surface_theta: float  # ambient rise of a convective surface
    source: np.ndarray

    @property
    def n(self) -> int:
        return int(self.capacity.size)

    @property
    def b(self) -> np.ndarray:
        return self.surface * self.surface_theta


def _cell_power(problem: AblationProblem, ijk: np.ndarray) -> np.ndarray:
    """Power [W] deposited in each unknown voxel while heating (the density integrated over the voxel)."""
    app = problem.applicator
    grid = problem.codes
    V = problem.voxel_volume_m3
    out = np.zeros(len(ijk))
    centres = grid.index_to_world(ijk)
    half_diag = 0.5 * float(np.linalg.norm(problem.spacing_mm))
    dist = np.linalg.norm(centres - app.target, axis=1)
    near = np.nonzero(dist <= app.reach_mm + half_diag)[0]
    if near.size == 0:
        return out

    def sub_offsets(m: int) -> np.ndarray:
        o = (np.arange(m) + 0.5) / m - 0.5
        return np.stack(np.meshgrid(o, o, o, indexing="ij"), axis=-1).reshape(-1, 3)

    if app.pattern == "ball":
        full = near[dist[near] + half_diag <= app.radius_mm]
        out[full] = app.power_density(app.target[None])[0] * V
        cut = near[(dist[near] + half_diag > app.radius_mm) & (dist[near] - half_diag < app.radius_mm)]
        subs, batch = sub_offsets(8), 256
    else:
        cut, subs, batch = near, sub_offsets(3), 4096
    for s in range(0, cut.size, batch):
        idx = cut[s:s + batch]
        pts = (ijk[idx][:, None, :] + subs[None, :, :]).reshape(-1, 3)
        q = app.power_density(grid.index_to_world(pts)).reshape(len(idx), len(subs))
        out[idx] = q.mean(axis=1) * V
    return out


def build_operator(problem: AblationProblem) -> FVOperator:
    """Assemble the finite-volume system of ``problem`` (see the module docstring)."""
    import scipy.sparse as sp

    from ...budgets import check_memory

    codes = problem.codes.array
    dom = codes == ORGAN
    n = int(dom.sum())
    check_memory(n * (7 * 12 + 24 * 8) + codes.size * 9, "the ablation finite-volume system",
                 detail=f"{n} unknowns x ~280 B + {codes.size} grid voxels x 9 B")
    index = np.full(codes.shape, -1, dtype=np.int64)
    index[dom] = np.arange(n)
    ijk = np.argwhere(dom)
    h = problem.spacing_m
    V = float(np.prod(h))
    t = problem.tissue
    k = t.conductivity
    perfusion = np.full(n, t.perfusion_coefficient(problem.blood) * V)
    vessel = {name: np.zeros(n) for name in problem.vessels}
    code_name = {code: name for name, code in problem.vessels.items()}
    far = np.zeros(n)
    surf = np.zeros(n)
    rows, cols, vals = [], [], []
    hw, s = problem.vessel_wall_h, problem.surface
    for a in range(3):
        A = V / h[a]
        g_in = k * A / h[a]
        g_far = k * A / h[a]
        g_vessel = A / (h[a] / (2.0 * k) + (1.0 / hw if hw else 0.0))
        g_surf = A / (h[a] / (2.0 * k) + 1.0 / s.h) if s.kind == "convective" else 0.0
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[a], hi[a] = slice(0, -1), slice(1, None)
        c_lo, c_hi = codes[tuple(lo)], codes[tuple(hi)]
        i_lo, i_hi = index[tuple(lo)], index[tuple(hi)]
        both = (c_lo == ORGAN) & (c_hi == ORGAN)
        i, j = i_lo[both], i_hi[both]
        rows += [i, j]
        cols += [j, i]
        vals += [np.full(i.size, -g_in), np.full(i.size, -g_in)]
        pair_diag = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
        conduction_diag = pair_diag * g_in
        rows.append(np.arange(n))
        cols.append(np.arange(n))
        vals.append(conduction_diag)
        for c_self, i_self, c_other in ((c_lo, i_lo, c_hi), (c_hi, i_hi, c_lo)):
            own = c_self == ORGAN
            if not own.any():
                continue
            other = c_other[own]
            ids = i_self[own]
            far += np.bincount(ids[other == FAR_FIELD], minlength=n) * g_far
            if g_surf:
                surf += np.bincount(ids[other == OUTSIDE], minlength=n) * g_surf
            for code, name in code_name.items():
                m = other == code
                if m.any():
                    vessel[name] += np.bincount(ids[m], minlength=n) * g_vessel
    sinks = perfusion + far + surf + sum(vessel.values(), np.zeros(n))
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(sinks)
    K = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    capacity = np.full(n, t.heat_capacity * V)
    theta_amb = s.ambient_c - problem.body_temperature_c if s.kind == "convective" else 0.0
    return FVOperator(index=index, ijk=ijk, K=K, capacity=capacity, perfusion=perfusion, vessel=vessel,
                      far_field=far, surface=surf, surface_theta=theta_amb, source=_cell_power(problem, ijk))


class _CG:
    """Jacobi-preconditioned conjugate gradients on one SPD matrix (built once, reused).

    A plain NumPy loop on one BLAS thread: the vectors are short enough that BLAS
    threads only add synchronisation (measured 6x slower dot products with 2 threads on
    the shared 2-core machine).
    """

    def __init__(self, A, rtol: float, maxiter: int = 20000) -> None:
        self.A = A.tocsr()
        self.inv = 1.0 / self.A.diagonal()
        self.rtol = rtol
        self.maxiter = maxiter
        self.iterations = 0
        self.solves = 0

    def __call__(self, rhs: np.ndarray, guess: np.ndarray) -> np.ndarray:
        x = self._solve(rhs, guess)
        self.solves += 1
        return x

    def _solve(self, b: np.ndarray, x0: np.ndarray) -> np.ndarray:
        A, inv = self.A, self.inv
        bnorm = math.sqrt(float(b @ b))
        if bnorm == 0.0:
            return np.zeros_like(b)
        x = x0.copy()
        r = b - A @ x
        z = inv * r
        p = z.copy()
        rz = float(r @ z)
        tol2 = (self.rtol * bnorm) ** 2
        for _ in range(self.maxiter):
            if float(r @ r) <= tol2:
                return x
            Ap = A @ p
            alpha = rz / float(p @ Ap)
            x += alpha * p
            r -= alpha * Ap
            z = inv * r
            rz_new = float(r @ z)
            p *= rz_new / rz
            p += z
            rz = rz_new
            self.iterations += 1
        if float(r @ r) <= tol2:
            return x
        raise InputError(  # pragma: no cover - SPD and well conditioned
            f"the finite-volume solve did not converge in {self.maxiter} conjugate-gradient iterations")


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - shipped with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


# --------------------------------------------------------------------------- steady state
@dataclass(eq=False)
class SteadyState:
    """Steady temperatures with the applicator on: ``values_c`` at ``points_mm`` (the unknowns)."""

    problem: AblationProblem
    ijk: np.ndarray
    points_mm: np.ndarray
    values_c: np.ndarray
    iterations: int

    @property
    def rise(self) -> np.ndarray:
        return self.values_c - self.problem.body_temperature_c


def steady_state(problem: AblationProblem, *, rtol: float = 1e-10) -> SteadyState:
    """Solve ``K theta = b + Q`` (the applicator on forever) with the transient's discretisation."""
    with _one_blas_thread():
        op = build_operator(problem)
        solve = _CG(op.K, rtol)
        theta = solve(op.b + op.source, np.zeros(op.n))
    return SteadyState(problem, op.ijk, problem.codes.index_to_world(op.ijk),
                       theta + problem.body_temperature_c, solve.iterations)


# --------------------------------------------------------------------------- transient
@dataclass(eq=False)
class AblationSolution:
    """Temperatures, damage and energy of a transient ablation (finite volumes).

    Attributes
    ----------
    problem
        The solved :class:`~.problem.AblationProblem`.
    ijk
        (n, 3) grid index of each unknown (organ voxel).
    times, values
        Frame times (F,) [s] and temperatures (F, n) [degC].
    omega, cem43, max_temperature
        Arrhenius damage, CEM43 [min] and peak temperature [degC] per unknown at the end.
    step_times, target_temperature, peak_temperature
        Every time step [s], the temperature at the target voxel and the hottest voxel [degC].
    energy_j
        ``delivered`` (into the organ), ``stored``, ``perfusion``, ``vessels``,
        ``far_field``, ``surface`` and ``balance_error`` (relative).
    vessel_energy_j, vessel_peak_w
        Heat removed by each vessel over the whole run, and its largest rate.
    power_in_organ_w
        Part of the applicator power deposited in the organ voxels (the rest falls on
        vessels or other tissue, which are not modelled).
    solver
        Method, step, number of steps, mean CG iterations per step, wall time.
    """

    problem: AblationProblem
    ijk: np.ndarray
    times: np.ndarray
    values: np.ndarray
    omega: np.ndarray
    cem43: np.ndarray
    max_temperature: np.ndarray
    step_times: np.ndarray
    target_temperature: np.ndarray
    peak_temperature: np.ndarray
    energy_j: dict[str, float]
    vessel_energy_j: dict[str, float]
    vessel_peak_w: dict[str, float]
    power_in_organ_w: float
    solver: dict[str, Any] = field(default_factory=dict)
    kind: str = "finite-volume"

    # -- grids
    def grid_array(self, values: np.ndarray, fill: float = np.nan, dtype=np.float64) -> np.ndarray:
        """Per-unknown ``values`` (n,) placed on the problem grid (``fill`` elsewhere)."""
        out = np.full(self.problem.codes.shape, fill, dtype=dtype)
        out[tuple(self.ijk.T)] = values
        return out

    def lesion_values(self, criterion: str = "arrhenius") -> np.ndarray:
        if criterion not in CRITERIA:
            raise InputError(f"unknown lesion criterion {criterion!r}; valid: {sorted(CRITERIA)}")
        return self.omega if criterion == "arrhenius" else self.cem43

    def lesion_mask(self, criterion: str = "arrhenius", threshold: float | None = None) -> np.ndarray:
        """Boolean grid mask of the ablation zone (``Omega >= 1`` / ``CEM43 >= 240 min`` by default)."""
        thr = CRITERIA[criterion] if threshold is None else float(threshold)
        return self.grid_array(self.lesion_values(criterion) >= thr, fill=False, dtype=bool)

    def lesion_volume_ml(self, criterion: str = "arrhenius", threshold: float | None = None) -> float:
        return float(self.lesion_mask(criterion, threshold).sum() * self.problem.voxel_volume_m3 * 1e6)

    @property
    def max_temperature_c(self) -> float:
        return float(self.max_temperature.max())

    def sample(self, points_mm: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
        """Temperatures [degC] at world points (m, 3) for each frame: shape (F, m).

        Linear interpolation on the grid; organ values extend to the neighbouring
        non-organ voxels (so points on the organ surface read the organ), vessels and the
        far field are at body temperature, and points outside the box too.
        """
        from scipy import ndimage

        prob = self.problem
        codes = prob.codes.array
        dom = codes == ORGAN
        _, nearest = ndimage.distance_transform_edt(~dom, return_indices=True)
        outside = codes == OUTSIDE
        src = tuple(nearest[:, outside])
        pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
        idx = prob.codes.world_to_index(pts)
        shape = np.array(codes.shape)
        in_box = np.all((idx >= -0.5) & (idx <= shape - 0.5), axis=1)
        frames = np.arange(len(self.times)) if frames is None else np.asarray(frames, dtype=int)
        body = prob.body_temperature_c
        out = np.full((len(frames), len(pts)), body, dtype=np.float64)
        for f_out, f in enumerate(frames):
            g = self.grid_array(self.values[f], fill=body)
            g[outside] = g[src]
            out[f_out, in_box] = ndimage.map_coordinates(g, idx[in_box].T, order=1, mode="nearest")
        return out

    def summary(self) -> dict[str, Any]:
        return {"max_temperature_c": round(self.max_temperature_c, 3),
                "power_in_organ_w": round(self.power_in_organ_w, 4),
                "energy_j": {k: round(v, 3) for k, v in self.energy_j.items()},
                "solver": self.solver}


def finite_volume_solution(
    problem: AblationProblem,
    *,
    dt_s: float | None = None,
    n_times: int = 11,
    method: str = "crank-nicolson",
    arrhenius: str = "henriques",
    rtol: float = 1e-8,
    progress: bool | None = None,
) -> AblationSolution:
    """Solve the transient ablation with implicit finite volumes.

    Parameters
    ----------
    problem
        The :class:`~.problem.AblationProblem`.
    dt_s
        Time step [s] (adjusted so the heating time is a whole number of steps); default
        ``min(2 s, duration / 10)``.
    n_times
        Frames stored (times spread over ``[0, t_end]``, first and last included).
    method
        ``"crank-nicolson"`` (default) or ``"backward-euler"``.
    arrhenius
        Arrhenius parameter set of :data:`~.damage.ARRHENIUS` (``henriques`` by default).
    rtol
        Relative residual of the conjugate-gradient solve of each step.
    progress
        Show a progress bar (default: only on an interactive terminal).
    """
    from ...budgets import check_memory

    if not isinstance(problem, AblationProblem):
        raise InputError(f"finite_volume_solution expects an AblationProblem, got {type(problem).__name__}")
    if method not in METHODS:
        raise InputError(f"unknown time-stepping method {method!r}; valid: {', '.join(METHODS)}")
    if int(n_times) != n_times or n_times < 2:
        raise InputError(f"n_times must be an integer >= 2, got {n_times!r}")
    duration = problem.applicator.duration_s
    dt = min(2.0, duration / 10.0) if dt_s is None else float(dt_s)
    if not (math.isfinite(dt) and 0 < dt <= 60.0):
        raise InputError(f"dt_s must be in (0, 60] s, got {dt_s!r}")
    n_heat = max(1, math.ceil(duration / dt - 1e-9))
    dt = duration / n_heat
    n_cool = round(problem.cool_s / dt)
    total = n_heat + n_cool
    if total > 200_000:
        raise InputError(f"{total} time steps of {dt:.3g} s; use a larger dt_s (at most 200000 steps)")

    t0 = time.perf_counter()
    with _one_blas_thread():
        op = build_operator(problem)
    n = op.n
    frame_steps = np.unique(np.rint(np.linspace(0, total, int(n_times))).astype(int))
    frame_set = set(frame_steps.tolist())
    check_memory(len(frame_steps) * n * 8, "the ablation temperature frames",
                 detail=f"{len(frame_steps)} frames x {n} voxels x 8 B; store fewer frames (n_times)")
    import scipy.sparse as sp

    w = 0.5 if method == "crank-nicolson" else 1.0
    Cdt = sp.diags(op.capacity / dt)
    lhs = (Cdt + w * op.K).tocsr()
    rhs_op = (Cdt - (1.0 - w) * op.K).tocsr()
    solve = _CG(lhs, rtol)
    body = problem.body_temperature_c
    theta = np.zeros(n)
    damage = DamageIntegrator(np.full(n, body), arrhenius)
    target_index = int(op.index[tuple(np.rint(problem.codes.world_to_index(problem.applicator.target)).astype(int))])
    sinks = {"perfusion": op.perfusion, "far_field": op.far_field, "surface": op.surface}
    energy = dict.fromkeys(("delivered", "perfusion", "far_field", "surface"), 0.0)
    vessel_energy = dict.fromkeys(op.vessel, 0.0)
    vessel_peak = dict.fromkeys(op.vessel, 0.0)
    frames = [theta.copy()]
    step_times = np.arange(total + 1) * dt
    target_t = np.empty(total + 1)
    peak_t = np.empty(total + 1)
    target_t[0] = peak_t[0] = body
    b = op.b
    with progress_bar("ablation (finite volumes)", total, enabled=progress) as advance, _one_blas_thread():
        for step in range(1, total + 1):
            heating = step <= n_heat  # the source at mid-step
            rhs = rhs_op @ theta + b
            if heating:
                rhs = rhs + op.source
            new = solve(rhs, theta)
            mean = w * new + (1.0 - w) * theta
            if heating:
                energy["delivered"] += dt * float(op.source.sum())
            for key, g in sinks.items():
                flux = float(g @ mean) - (float(g.sum()) * op.surface_theta if key == "surface" else 0.0)
                energy[key] += dt * flux
            for name, g in op.vessel.items():
                p = float(g @ mean)
                vessel_energy[name] += dt * p
                vessel_peak[name] = max(vessel_peak[name], float(g @ new))
            theta = new
            damage.step(body + theta, dt)
            target_t[step] = body + theta[target_index]
            peak_t[step] = body + float(theta.max())
            if step in frame_set:
                frames.append(theta.copy())
            advance(1)
    energy["vessels"] = float(sum(vessel_energy.values()))
    energy["stored"] = float(op.capacity @ theta)
    out_total = energy["stored"] + energy["perfusion"] + energy["vessels"] + energy["far_field"] + energy["surface"]
    energy["balance_error"] = abs(out_total - energy["delivered"]) / max(energy["delivered"], 1e-300)
    elapsed = time.perf_counter() - t0
    return AblationSolution(
        problem=problem, ijk=op.ijk, times=frame_steps * dt, values=body + np.asarray(frames),
        omega=damage.omega, cem43=damage.cem43, max_temperature=damage.max_temperature,
        step_times=step_times, target_temperature=target_t, peak_temperature=peak_t,
        energy_j=energy, vessel_energy_j=vessel_energy, vessel_peak_w=vessel_peak,
        power_in_organ_w=float(op.source.sum()),
        solver={"method": method, "dt_s": dt, "steps": total, "heating_steps": n_heat, "unknowns": n,
                "cg_iterations_per_step": round(solve.iterations / max(solve.solves, 1), 2),
                "time_s": round(elapsed, 3)},
    )
