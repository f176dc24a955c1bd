"""Reference solutions of :class:`~.problem.HeatProblem`: analytic and finite volumes.

* :func:`analytic_solution` - the exact separable solution of a problem whose initial
  condition is one eigenmode of its boundaries (:class:`~.problem.ModeInitial`):
  products of sines/cosines (rod, plate, box) or ``J0`` Bessel x sine/cosine
  (solid cylinder), decaying as ``exp(-lambda t)``.
* :func:`finite_volume_solution` - a cell-centred finite-volume discretisation on a
  tensor grid (Cartesian, or axisymmetric ``(r, z)`` for the cylinder) with every
  condition the problem language has (fixed temperature, flux, convection, source),
  assembled as a Kronecker sum of 1D operators with :mod:`scipy.sparse` and stepped
  with Crank-Nicolson (one sparse LU factorisation). Second order in space and time.
* :func:`reference_solution` - the analytic one on a grid when it exists, else finite
  volumes; :func:`relative_l2` - the error measure every trained model reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.special as special
from scipy.sparse.linalg import splu

from ...errors import InputError
from .problem import Convection, Cylinder, Dirichlet, HeatProblem, ModeInitial, Neumann

__all__ = [
    "ReferenceSolution",
    "analytic_solution",
    "finite_volume_solution",
    "reference_solution",
    "relative_l2",
    "mode_factors",
]


# --------------------------------------------------------------------------- error measure
def relative_l2(pred: np.ndarray, ref: np.ndarray, base: float = 0.0) -> float:
    """``||pred - ref|| / ||ref - base||`` over all entries.

    ``base`` is the problem's base temperature (:attr:`HeatProblem.base_temperature`):
    measuring against the temperature *change* keeps an offset such as 25 degC or
    300 K from hiding errors. With ``base = 0`` this is the usual relative L2 error.
    """
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if pred.shape != ref.shape:
        raise InputError(f"relative_l2: prediction shape {pred.shape} != reference shape {ref.shape}")
    denom = float(np.linalg.norm(ref - base))
    if denom == 0.0:
        raise InputError("relative_l2: the reference is constant (equal to base); the relative error is undefined")
    return float(np.linalg.norm(pred - ref) / denom)


# --------------------------------------------------------------------------- modes
@dataclass(frozen=True)
class _Factor:
    """One axis' eigenfunction in unit coordinates: kind 'sin' | 'cos' | 'j0', wavenumber k.

    Cartesian axes: ``sin(k x)``/``cos(k x)`` with ``x`` in [0, 1]; cylinder radial axis:
    ``J0(k sqrt(s))`` with ``s = (r/R)^2``. ``rate`` is the decay-rate contribution
    ``k^2 / L^2`` (1/m^2).
    """

    kind: str
    k: float
    rate: float


def mode_factors(problem: HeatProblem) -> list[_Factor]:
    """Per-axis eigenfunctions of a problem with a :class:`ModeInitial`."""
    ic = problem.initial
    if not isinstance(ic, ModeInitial):
        raise InputError(
            f"problem {problem.name!r} has no analytic solution: its initial condition is not an eigenmode "
            "(use finite_volume_solution)"
        )
    g = problem.geometry
    out: list[_Factor] = []
    for axis, m in enumerate(ic.modes):
        kinds = problem.axis_kinds(axis)
        if isinstance(g, Cylinder) and axis == 0:
            if kinds[0] == "D":
                k = float(special.jn_zeros(0, m)[-1])
            else:  # insulated side: J0'(k) = -J1(k) = 0
                k = 0.0 if m == 0 else float(special.jn_zeros(1, m)[-1])
            out.append(_Factor("j0", k, (k / g.radius) ** 2))
            continue
        L = g.length if isinstance(g, Cylinder) else g.lengths()[axis]
        if kinds == ("D", "D"):
            f = _Factor("sin", m * math.pi, 0.0)
        elif kinds == ("N", "N"):
            f = _Factor("cos", m * math.pi, 0.0)
        elif kinds == ("D", "N"):
            f = _Factor("sin", (m - 0.5) * math.pi, 0.0)
        else:  # ("N", "D")
            f = _Factor("cos", (m - 0.5) * math.pi, 0.0)
        out.append(_Factor(f.kind, f.k, (f.k / L) ** 2))
    return out


def _j1_over_x(x: np.ndarray) -> np.ndarray:
    small = np.abs(x) < 1e-4
    xs = np.where(small, 1.0, x)
    return np.where(small, 0.5 - x**2 / 16.0, special.j1(xs) / xs)


def _j2_over_x2(x: np.ndarray) -> np.ndarray:
    small = np.abs(x) < 1e-3
    xs = np.where(small, 1.0, x)
    return np.where(small, 0.125 - x**2 / 96.0, special.jv(2, xs) / xs**2)


def factor_jet(f: _Factor, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, first and second derivative of an eigenfunction w.r.t. its unit coordinate."""
    if f.kind == "sin":
        return np.sin(f.k * c), f.k * np.cos(f.k * c), -(f.k**2) * np.sin(f.k * c)
    if f.kind == "cos":
        return np.cos(f.k * c), -f.k * np.sin(f.k * c), -(f.k**2) * np.cos(f.k * c)
    # J0(k sqrt(s)): d/ds = -(k^2/2) J1(x)/x ; d2/ds2 = (k^4/4) J2(x)/x^2, x = k sqrt(s)
    x = f.k * np.sqrt(np.clip(c, 0.0, None))
    return special.j0(x), -(f.k**2) / 2.0 * _j1_over_x(x), f.k**4 / 4.0 * _j2_over_x2(x)


# --------------------------------------------------------------------------- analytic
def analytic_solution(problem: HeatProblem, points: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Exact temperature at physical ``points`` (N, dims) and ``times`` (T,); shape (T, N)."""
    factors = mode_factors(problem)
    ic = problem.initial
    assert isinstance(ic, ModeInitial)
    unit = problem.geometry.to_unit(_as_points(problem, points))
    shape = np.ones(unit.shape[0])
    for axis, f in enumerate(factors):
        shape = shape * factor_jet(f, unit[:, axis])[0]
    rate = problem.alpha * sum(f.rate for f in factors)
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    return ic.offset + ic.amplitude * np.exp(-rate * t)[:, None] * shape[None, :]


def _as_points(problem: HeatProblem, points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    d = problem.geometry.spatial_dims
    if p.ndim == 1 and d == 1:
        p = p[:, None]
    if p.ndim != 2 or p.shape[1] != d:
        raise InputError(
            f"points for a {problem.geometry.kind} must have shape (n, {d}) (coordinates "
            f"{', '.join('xyz'[:d])} in metres), got {p.shape}"
        )
    return p


# --------------------------------------------------------------------------- solution object
@dataclass
class ReferenceSolution:
    """Reference temperatures ``values`` (T, N) at physical ``points`` (N, dims) and ``times`` (T,).

    ``kind`` is ``"analytic"`` or ``"finite-volume"``; ``grid`` holds the 1D coordinate
    axes of a tensor grid (physical; ``r`` and ``z`` for a cylinder) when there is one.
    """

    kind: str
    points: np.ndarray
    times: np.ndarray
    values: np.ndarray
    base: float
    grid: tuple[np.ndarray, ...] | None = None

    def error(self, predicted: np.ndarray) -> float:
        """Relative L2 error of ``predicted`` (same shape as ``values``)."""
        return relative_l2(predicted, self.values, self.base)

    def interpolate(self, points: np.ndarray, times: np.ndarray, problem: HeatProblem) -> np.ndarray:
        """Values at arbitrary points/times (linear in space and time, grids only)."""
        from scipy.interpolate import RegularGridInterpolator

        if self.grid is None:
            raise InputError("this reference solution is not on a tensor grid")
        p = _as_points(problem, points)
        if isinstance(problem.geometry, Cylinder):
            coords = np.stack([np.hypot(p[:, 0], p[:, 1]), p[:, 2]], axis=1)
        else:
            coords = p
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        shape = (self.times.size,) + tuple(g.size for g in self.grid)
        interp = RegularGridInterpolator((self.times,) + tuple(self.grid), self.values.reshape(shape),
                                         bounds_error=False, fill_value=None)
        q = np.concatenate([np.repeat(t, coords.shape[0])[:, None], np.tile(coords, (t.size, 1))], axis=1)
        return interp(q).reshape(t.size, coords.shape[0])


def _grid_points(problem: HeatProblem, axes: list[np.ndarray]) -> np.ndarray:
    mesh = np.meshgrid(*axes, indexing="ij")
    flat = np.stack([m.ravel() for m in mesh], axis=1)
    if isinstance(problem.geometry, Cylinder):  # (r, z) -> points on the y = 0 half-plane
        return np.stack([flat[:, 0], np.zeros(len(flat)), flat[:, 1]], axis=1)
    return flat


# --------------------------------------------------------------------------- finite volumes
def _axis_operator(
    n: int,
    lo: float,
    hi: float,
    bc_lo,
    bc_hi,
    *,
    radial: bool,
    alpha: float,
    k: float | None,
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """1D finite-volume operator ``A`` and constant ``b`` (du/dt = A u + b) on [lo, hi].

    ``radial=True`` uses the cylindrical divergence ``(1/r) d/dr (r du/dr)``; a face at
    ``r = 0`` (solid cylinder axis) carries no flux (``bc_lo`` is then ``None``).
    """
    h = (hi - lo) / n
    xc = lo + (np.arange(n) + 0.5) * h
    xf = lo + np.arange(n + 1) * h
    w_face = xf if radial else np.ones(n + 1)  # face area factor
    w_cell = xc * h if radial else np.full(n, h)  # cell volume factor
    main = np.zeros(n)
    off = alpha * w_face[1:-1] / h / w_cell[:-1]  # coupling j -> j+1 seen from j
    offl = alpha * w_face[1:-1] / h / w_cell[1:]  # coupling j+1 -> j seen from j+1
    main[:-1] -= off
    main[1:] -= offl
    b = np.zeros(n)
    for bc, j, wf in ((bc_lo, 0, w_face[0]), (bc_hi, n - 1, w_face[-1])):
        if bc is None or wf == 0.0:
            continue
        if isinstance(bc, Neumann):
            if bc.flux != 0:
                b[j] += alpha * wf * bc.flux / k / w_cell[j]  # type: ignore[operator]
            continue
        if isinstance(bc, Dirichlet):
            g_over_k, temp = 2.0 / h, bc.temperature
        elif isinstance(bc, Convection):
            g_over_k, temp = 1.0 / (k / bc.h + h / 2.0), bc.ambient  # type: ignore[operator]
        else:  # pragma: no cover
            raise InputError(f"unsupported boundary {bc!r}")
        c = alpha * wf * g_over_k / w_cell[j]
        main[j] -= c
        b[j] += c * temp
    A = sp.diags([main, off, offl], [0, 1, -1], shape=(n, n), format="csr")
    return A, b, xc


def finite_volume_solution(
    problem: HeatProblem,
    *,
    cells: int | tuple[int, ...] | None = None,
    steps: int | None = None,
    n_times: int = 21,
) -> ReferenceSolution:
    """Solve ``problem`` with cell-centred finite volumes and Crank-Nicolson.

    Parameters
    ----------
    problem
        Any :class:`HeatProblem`.
    cells
        Cells per unit axis (one int for all, or one per axis: rod ``(nx,)``, plate
        ``(nx, ny)``, box ``(nx, ny, nz)``, cylinder ``(nr, nz)``). Default 200 / 100 /
        32 / (64, 96).
    steps
        Time steps over ``[0, t_end]`` (rounded up to a multiple of ``n_times - 1``);
        default 400.
    n_times
        Number of equally spaced output times including 0 and ``t_end``.

    Returns
    -------
    ReferenceSolution
        Values at the cell centres (``kind="finite-volume"``).
    """
    g = problem.geometry
    defaults = {"rod": (200,), "plate": (100, 100), "box": (32, 32, 32), "cylinder": (64, 96)}
    nd = g.unit_dims
    if cells is None:
        ncell = defaults[g.kind]
    elif isinstance(cells, (int, np.integer)):
        ncell = (int(cells),) * nd
    else:
        ncell = tuple(int(c) for c in cells)
    if len(ncell) != nd or any(c < 2 for c in ncell):
        raise InputError(f"cells for a {g.kind} must be {nd} integer(s) >= 2, got {cells!r}")
    if n_times < 2:
        raise InputError(f"n_times must be >= 2, got {n_times}")
    steps = 400 if steps is None else int(steps)
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    per = max(1, math.ceil(steps / (n_times - 1)))
    steps = per * (n_times - 1)

    bcs = problem.resolved_boundaries()
    alpha, k = problem.alpha, problem.material.conductivity
    ops, consts, centres = [], [], []
    if isinstance(g, Cylinder):
        specs = [
            (ncell[0], g.inner_radius, g.radius, bcs.get("inner") if g.inner_radius > 0 else None, bcs["side"], True),
            (ncell[1], 0.0, g.length, bcs["bottom"], bcs["top"], False),
        ]
    else:
        specs = [
            (ncell[i], 0.0, L, bcs[f"{ax}0"], bcs[f"{ax}1"], False) for i, (ax, L) in enumerate(zip("xyz", g.lengths()))
        ]
    for n, lo, hi, blo, bhi, radial in specs:
        A, b, xc = _axis_operator(n, lo, hi, blo, bhi, radial=radial, alpha=alpha, k=k)
        ops.append(A)
        consts.append(b)
        centres.append(xc)

    N = int(np.prod(ncell))
    A_full = sp.csr_matrix((N, N))
    b_full = np.zeros(N)
    for i, (A, b) in enumerate(zip(ops, consts)):
        left = int(np.prod(ncell[:i]))
        right = int(np.prod(ncell[i + 1 :]))
        A_full = A_full + sp.kron(sp.kron(sp.identity(left), A), sp.identity(right))
        b_full = b_full + np.kron(np.kron(np.ones(left), b), np.ones(right))
    b_full = b_full + problem.source_rate

    points = _grid_points(problem, centres)
    u = _initial_values(problem, points)
    dt = problem.t_end / steps
    eye = sp.identity(N, format="csc")
    lhs_mat = (eye - 0.5 * dt * A_full).tocsc()
    rhs_op = (eye + 0.5 * dt * A_full).tocsr()
    if nd <= 2:
        lu = splu(lhs_mat)
        solve = lambda rhs, guess: lu.solve(rhs)  # noqa: E731
    else:  # 3D: direct factorisation fills in badly; the CN matrix is SPD, use CG
        solve = lambda rhs, guess: _cg(lhs_mat, rhs, guess)  # noqa: E731
    out = [u.copy()]
    for step in range(1, steps + 1):
        u = solve(rhs_op @ u + dt * b_full, u)
        if step % per == 0:
            out.append(u.copy())
    times = np.linspace(0.0, problem.t_end, n_times)
    return ReferenceSolution(
        kind="finite-volume",
        points=points if g.spatial_dims > 1 else points[:, :1],
        times=times,
        values=np.asarray(out),
        base=problem.base_temperature,
        grid=tuple(centres),
    )


def _cg(A: sp.csc_matrix, rhs: np.ndarray, guess: np.ndarray) -> np.ndarray:
    from scipy.sparse.linalg import cg

    x, info = cg(A, rhs, x0=guess, rtol=1e-12, atol=0.0, maxiter=1000)
    if info != 0:  # pragma: no cover - the CN matrix is well conditioned
        raise InputError(f"finite-volume solve did not converge (cg info={info})")
    return x


def _initial_values(problem: HeatProblem, points: np.ndarray) -> np.ndarray:
    ic = problem.initial
    if isinstance(ic, ModeInitial):
        return analytic_solution(problem, points[:, : problem.geometry.spatial_dims], np.zeros(1))[0]
    return np.full(points.shape[0], float(ic.temperature))


# --------------------------------------------------------------------------- default references
#: analytic evaluation grids: points per axis (including the faces), number of times
_ANALYTIC_GRID = {"rod": (101, 101), "plate": (41, 21), "box": (17, 11), "cylinder": (33, 21)}


def reference_solution(problem: HeatProblem, *, n_points: int | None = None, n_times: int | None = None) -> ReferenceSolution:
    """The reference used to score a trained model.

    The analytic solution on a uniform grid (faces included) when the problem has one,
    else :func:`finite_volume_solution` with its default resolution.
    """
    g = problem.geometry
    if not problem.has_analytic:
        return finite_volume_solution(problem, n_times=n_times or 21)
    npts, ntimes = _ANALYTIC_GRID[g.kind]
    npts = n_points or npts
    ntimes = n_times or ntimes
    if isinstance(g, Cylinder):
        axes = [np.linspace(0.0, g.radius, npts), np.linspace(0.0, g.length, 2 * npts - 1)]
    else:
        axes = [np.linspace(0.0, L, npts) for L in g.lengths()]
    points = _grid_points(problem, axes)
    times = np.linspace(0.0, problem.t_end, ntimes)
    return ReferenceSolution(
        kind="analytic",
        points=points,
        times=times,
        values=analytic_solution(problem, points, times),
        base=problem.base_temperature,
        grid=tuple(axes),
    )
