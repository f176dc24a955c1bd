"""The PINN's mathematics, written once for every backend.

The network ``N`` is a tanh MLP on scaled inputs ``(xi, tau)`` in ``[-1, 1]``. The
temperature is ``u = u_ref + dU * v`` with

    hard constraints:  v(x, t) = g(x) + D(x, t) * N        (g: initial condition,
                                                           D = t * prod(face distances))
    soft constraints:  v(x, t) = N                          (conditions as loss terms)

so the initial condition and fixed-temperature faces hold exactly in the hard form.
PDE residuals need ``v_t``, ``grad v`` and the diagonal second derivatives. Instead of
nested reverse-mode autodiff they are propagated *forward* through the MLP together
with the values (a second-order Taylor "jet": for ``a = tanh(z)``, ``a' = (1-a^2) z'``
and ``a'' = (1-a^2) z'' - 2 a (1-a^2) z'^2``), batched as matrix products per layer. One reverse pass of the framework then gives the parameter gradient. This is
exact (not finite differences) and several times cheaper than double backward.

Everything that does not depend on the weights (collocation points, ``g``, ``D`` and
their derivatives, PDE coefficients) is computed here in NumPy; a backend only has
to supply five tensor operations (``matmul``, ``tanh``, ``reshape``, ``mean``, ``sum0``) plus
its optimiser plumbing, so torch and TensorFlow evaluate the same expressions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.stats import qmc

from .problem import Convection, Cylinder, Dirichlet, HeatProblem, ModeInitial, Neumann
from .reference import factor_jet, mode_factors


class Ops(Protocol):
    """The tensor operations a backend supplies to :func:`loss` and :func:`forward`."""

    def matmul(self, a: Any, b: Any) -> Any: ...
    def tanh(self, a: Any) -> Any: ...
    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any: ...
    def mean(self, a: Any) -> Any: ...
    def sum0(self, a: Any) -> Any: ...


# --------------------------------------------------------------------------- weights
def init_weights(layer_sizes: list[int], seed: int) -> list[np.ndarray]:
    """Glorot-normal weights (fan_in x fan_out) and zero biases, as a flat list W0, b0, W1, ..."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        std = math.sqrt(2.0 / (fan_in + fan_out))
        out.append(rng.normal(0.0, std, size=(fan_in, fan_out)))
        out.append(np.zeros(fan_out))
    return out


# --------------------------------------------------------------------------- scaling
@dataclass(frozen=True)
class Scaling:
    """Maps between physical and solver coordinates.

    Unit coordinates ``c`` (rod/plate/box: ``x / L``; cylinder: ``(r^2/R^2, z/L)``)
    have ranges ``lo..hi``; network inputs are ``xi = 2 (c - lo) / (hi - lo) - 1`` and
    ``tau = 2 t / t_end - 1``. Temperatures are ``u = u_ref + dU * v``.
    """

    lo: np.ndarray
    hi: np.ndarray
    t_end: float
    u_ref: float
    dU: float

    @classmethod
    def for_problem(cls, problem: HeatProblem) -> "Scaling":
        b = problem.geometry.unit_bounds()
        return cls(b[:, 0].copy(), b[:, 1].copy(), float(problem.t_end), problem.base_temperature, problem.temperature_scale)

    @property
    def input_slopes(self) -> np.ndarray:
        """d(network input)/d(unit coordinate, unit time), shape (d + 1,)."""
        return np.concatenate([2.0 / (self.hi - self.lo), [2.0]])

    def net_inputs(self, unit: np.ndarray, t_hat: np.ndarray) -> np.ndarray:
        xi = 2.0 * (unit - self.lo) / (self.hi - self.lo) - 1.0
        return np.concatenate([xi, 2.0 * t_hat.reshape(-1, 1) - 1.0], axis=1)


# --------------------------------------------------------------------------- transform
class Transform:
    """The output transform ``v = g(c) + D(c, t) * N`` (hard) or ``v = N`` (soft)."""

    def __init__(self, problem: HeatProblem, hard: bool) -> None:
        self.problem = problem
        self.hard = hard
        bcs = problem.resolved_boundaries()
        self.dirichlet_faces = [f for f in problem.geometry.faces() if isinstance(bcs[f.name], Dirichlet)]
        ic = problem.initial
        self.factors = mode_factors(problem) if isinstance(ic, ModeInitial) else None
        sc = Scaling.for_problem(problem)
        if isinstance(ic, ModeInitial):
            self.g_amp = ic.amplitude / sc.dU
        else:
            self.g_amp = (ic.temperature - sc.u_ref) / sc.dU  # 0 by construction

    def g_jet(self, unit: np.ndarray):
        """g and its derivatives: value (N,), grad (d, N), diag hessian (d, N)."""
        n, d = unit.shape
        val = np.full(n, float(self.g_amp))
        grad = np.zeros((d, n))
        hess = np.zeros((d, n))
        if self.factors is None or not self.hard:
            return (np.zeros(n) if not self.hard else val), grad, hess
        vals = [factor_jet(f, unit[:, i]) for i, f in enumerate(self.factors)]
        prod = np.ones(n)
        for v, _, _ in vals:
            prod = prod * v
        for i in range(d):
            others = np.ones(n)
            for j, (v, _, _) in enumerate(vals):
                if j != i:
                    others = others * v
            grad[i] = self.g_amp * vals[i][1] * others
            hess[i] = self.g_amp * vals[i][2] * others
        return self.g_amp * prod, grad, hess

    def d_space_jet(self, unit: np.ndarray):
        """Spatial part ``Dx`` of ``D = t_hat * Dx``: value (N,), grad (d, N), diag hessian (d, N).

        ``Dx`` is a product of normalised distances to the fixed-temperature faces;
        when both faces of an axis are fixed their product is scaled by 4 (max 1).
        """
        n, d = unit.shape
        val = np.ones(n)
        grad = np.zeros((d, n))
        hess = np.zeros((d, n))
        if not self.hard:
            return val, grad, hess
        for axis in range(d):
            faces = [f for f in self.dirichlet_faces if f.axis == axis]
            if not faces:
                continue
            # factor along this axis: phi(c) = scale * prod(linear distances)
            scale = 4.0 if len(faces) == 2 else 1.0
            dist = [f.distance(unit) for f in faces]
            slope = [f.distance_slope() for f in faces]
            if len(faces) == 1:
                phi, dphi, d2phi = dist[0], np.full(n, slope[0]), np.zeros(n)
            else:
                phi = scale * dist[0] * dist[1]
                dphi = scale * (slope[0] * dist[1] + dist[0] * slope[1])
                d2phi = np.full(n, 2.0 * scale * slope[0] * slope[1])
            # product rule with the factors of the other axes (accumulated so far)
            hess = hess * phi
            hess[axis] = val * d2phi  # the axis' own second derivative (other axes' factors are in val)
            new_grad = grad * phi
            new_grad[axis] = val * dphi
            grad = new_grad
            val = val * phi
        return val, grad, hess


# --------------------------------------------------------------------------- collocation
def _sample(n: int, dims: int, seed: int) -> np.ndarray:
    """n quasi-random points in [0, 1]^dims (scrambled Sobol)."""
    if n <= 0:
        return np.zeros((0, dims))
    sob = qmc.Sobol(d=dims, scramble=True, seed=seed)
    m = max(1, int(math.ceil(math.log2(n))))
    return sob.random_base2(m)[:n]


def default_points(problem: HeatProblem) -> tuple[int, int]:
    """Default (interior, per-face) collocation counts by dimension."""
    d = problem.geometry.unit_dims
    return {1: (1024, 128), 2: (2048, 256), 3: (4096, 384)}[d]


def build_constants(
    problem: HeatProblem,
    *,
    hard: bool,
    n_interior: int,
    n_boundary: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """All weight-independent arrays of the loss (float64; the backend casts them)."""
    sc = Scaling.for_problem(problem)
    tr = Transform(problem, hard)
    d = problem.geometry.unit_dims
    K, S = d + 1, d
    T, dU, alpha = problem.t_end, sc.dU, problem.alpha
    g = problem.geometry

    # ---- interior
    raw = _sample(n_interior, d + 1, seed)
    unit = sc.lo + raw[:, :d] * (sc.hi - sc.lo)
    t_hat = raw[:, d]
    C: dict[str, np.ndarray] = {}
    C["x_int"] = sc.net_inputs(unit, t_hat)
    gv, gg, gh = tr.g_jet(unit)
    Dv, Dg, Dh = tr.d_space_jet(unit)
    if hard:
        # D = t_hat * Dx : derivatives w.r.t. (c_0..c_{d-1}, t_hat)
        D = t_hat * Dv
        D1 = np.concatenate([t_hat * Dg, Dv[None, :]], axis=0)  # (K, N)
        D2 = t_hat * Dh  # (S, N)
    else:
        D, D1, D2 = np.ones_like(t_hat), np.zeros((K, len(t_hat))), np.zeros((S, len(t_hat)))
    G1 = np.concatenate([gg, np.zeros((1, len(t_hat)))], axis=0)
    # PDE operator in unit coordinates: v_t - sum_s (a_s v_ss + b_s v_s) - c = 0
    a = np.zeros((S, len(t_hat)))
    b = np.zeros((S, len(t_hat)))
    if isinstance(g, Cylinder):
        a[0] = 4.0 * T * alpha * unit[:, 0] / g.radius**2
        b[0] = 4.0 * T * alpha / g.radius**2
        a[1] = T * alpha / g.length**2
    else:
        for i, L in enumerate(g.lengths()):
            a[i] = T * alpha / L**2
    c = np.full(len(t_hat), T * problem.source_rate / dU)
    # Residual r = v_t - sum_s (a_s v_ss + b_s v_s) - c with v = g + D N expands into
    # r = c0 + cN * N + sum_k P_k N_k + sum_s Q_s N_ss, all coefficients weight-free:
    E = np.concatenate([-b, np.ones((1, len(t_hat)))], axis=0)  # (K, n): v_t - b.grad v
    F = np.concatenate([2.0 * a * D1[:S], np.zeros((1, len(t_hat)))], axis=0)
    c0 = (E * G1).sum(0) - (a * gh).sum(0) - c
    cN = (E * D1).sum(0) - (a * D2).sum(0)
    P = E * D[None] - F
    Q = -a * D[None]
    C.update(
        c0=c0[:, None], cN=cN[:, None], P=P[:, :, None], Q=Q[:, :, None],
        slopes=sc.input_slopes[:, None],
    )

    # ---- boundary / initial rows: residual = sum_j n_j v_j + beta v - target
    rows_x, rows_n, rows_beta, rows_target = [], [], [], []
    rows_D, rows_D1, rows_g, rows_g1 = [], [], [], []
    bcs = problem.resolved_boundaries()
    k = problem.material.conductivity
    for fi, face in enumerate(g.faces()):
        bc = bcs[face.name]
        if hard and isinstance(bc, Dirichlet):
            continue  # built into the transform
        rawb = _sample(n_boundary, d + 1, seed + 101 + fi)
        ub = sc.lo + rawb[:, :d] * (sc.hi - sc.lo)
        ub[:, face.axis] = face.at
        tb = rawb[:, d]
        nrm = np.zeros((K, len(tb)))
        if isinstance(bc, Dirichlet):
            beta, target = 1.0, (bc.temperature - sc.u_ref) / dU
        elif isinstance(bc, Neumann):
            nrm[face.axis] = face.normal
            beta, target = 0.0, bc.flux * face.length / (k * dU) if bc.flux != 0 else 0.0  # type: ignore[operator]
        else:
            assert isinstance(bc, Convection)
            nrm[face.axis] = face.normal
            beta = bc.h * face.length / k  # type: ignore[operator]
            target = beta * (bc.ambient - sc.u_ref) / dU
        rows_x.append(sc.net_inputs(ub, tb))
        rows_n.append(nrm)
        rows_beta.append(np.full(len(tb), beta))
        rows_target.append(np.full(len(tb), target))
        _append_transform(tr, hard, ub, tb, rows_D, rows_D1, rows_g, rows_g1)
    if not hard:  # initial condition as a loss term
        rawi = _sample(n_boundary * max(1, d), d, seed + 7)
        ui = sc.lo + rawi * (sc.hi - sc.lo)
        ti = np.zeros(len(ui))
        rows_x.append(sc.net_inputs(ui, ti))
        rows_n.append(np.zeros((K, len(ui))))
        rows_beta.append(np.ones(len(ui)))
        rows_target.append(_initial_v(problem, ui))
        _append_transform(tr, hard, ui, ti, rows_D, rows_D1, rows_g, rows_g1)
    if rows_x:
        # r = sum_k n_k v_k + beta v - target = cb0 + cbN * N + sum_k Pb_k N_k
        nrm = np.concatenate(rows_n, axis=1)
        beta = np.concatenate(rows_beta)
        Db, D1b = np.concatenate(rows_D), np.concatenate(rows_D1, axis=1)
        gb, g1b = np.concatenate(rows_g), np.concatenate(rows_g1, axis=1)
        C.update(
            x_bc=np.concatenate(rows_x),
            cb0=((nrm * g1b).sum(0) + beta * gb - np.concatenate(rows_target))[:, None],
            cbN=((nrm * D1b).sum(0) + beta * Db)[:, None],
            Pb=(nrm * Db[None])[:, :, None],
        )
    return C


def _initial_v(problem: HeatProblem, unit: np.ndarray) -> np.ndarray:
    """Scaled initial condition at unit points (the soft-constraint target)."""
    return Transform(problem, hard=True).g_jet(unit)[0]


def _append_transform(tr: Transform, hard: bool, unit, t_hat, rows_D, rows_D1, rows_g, rows_g1) -> None:
    gv, gg, _ = tr.g_jet(unit)
    Dv, Dg, _ = tr.d_space_jet(unit)
    if hard:
        rows_D.append(t_hat * Dv)
        rows_D1.append(np.concatenate([t_hat * Dg, Dv[None, :]], axis=0))
    else:
        rows_D.append(np.ones(len(t_hat)))
        rows_D1.append(np.zeros((unit.shape[1] + 1, len(t_hat))))
    rows_g.append(gv)
    rows_g1.append(np.concatenate([gg, np.zeros((1, len(t_hat)))], axis=0))


# --------------------------------------------------------------------------- forward passes
def forward(ops: Ops, params: list[Any], x: Any) -> Any:
    """Plain network output N(x), shape (n, 1)."""
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = ops.matmul(h, params[2 * i]) + params[2 * i + 1]
        if i < n_layers - 1:
            h = ops.tanh(h)
    return h


def forward_jet(ops: Ops, params: list[Any], x: Any, slopes: Any, n: int, K: int, S: int):
    """Network value (n, 1), first derivatives (K, n, 1) w.r.t. the K (unit) inputs and
    diagonal second derivatives (S, n, 1) w.r.t. the first S inputs.

    ``slopes`` (K, 1) are d(network input)/d(unit coordinate). Derivative rows are
    kept as (K * n, width) matrices so each layer is three plain matrix products.
    """
    n_layers = len(params) // 2
    W0, b0 = params[0], params[1]
    z = ops.matmul(x, W0) + b0  # (n, W)
    dz = slopes * W0  # (K, W): constant over points; second derivatives of z are 0
    width = W0.shape[1]
    a = ops.tanh(z)
    sig = 1.0 - a * a
    first = ops.reshape(sig[None] * dz[:, None, :], (K * n, width))
    second = ops.reshape(-2.0 * (a * sig)[None] * (dz[:S, None, :] * dz[:S, None, :]), (S * n, width)) if S else None
    for i in range(1, n_layers):
        W, b = params[2 * i], params[2 * i + 1]
        out = W.shape[1]
        z = ops.matmul(a, W) + b
        fz = ops.reshape(ops.matmul(first, W), (K, n, out))
        sz = ops.reshape(ops.matmul(second, W), (S, n, out)) if S else None
        if i == n_layers - 1:
            return z, fz, sz
        a = ops.tanh(z)
        sig = 1.0 - a * a
        first = ops.reshape(sig[None] * fz, (K * n, out))
        if S:
            second = ops.reshape(sig[None] * sz - 2.0 * (a * sig)[None] * (fz[:S] * fz[:S]), (S * n, out))
    raise ValueError("the network needs at least one hidden layer")  # pragma: no cover


def loss(ops: Ops, params: list[Any], C: dict[str, Any], dims: int, bc_weight: float) -> Any:
    """The PINN loss: mean squared PDE residual + bc_weight * mean squared condition residual.

    The residuals are linear in the network jet with precomputed coefficients (see
    :func:`build_constants`): ``r = c0 + cN N + sum_k P_k dN/dc_k + sum_s Q_s d2N/dc_s2``.
    """
    K, S = dims + 1, dims
    x = C["x_int"]
    N, N1, N2 = forward_jet(ops, params, x, C["slopes"], x.shape[0], K, S)
    res = C["c0"] + C["cN"] * N + ops.sum0(C["P"] * N1) + ops.sum0(C["Q"] * N2)
    total = ops.mean(res * res)
    if "x_bc" in C:
        xb = C["x_bc"]
        Nb, Nb1, _ = forward_jet(ops, params, xb, C["slopes"], xb.shape[0], K, 0)
        rb = C["cb0"] + C["cbN"] * Nb + ops.sum0(C["Pb"] * Nb1)
        total = total + bc_weight * ops.mean(rb * rb)
    return total
