"""Equilibria of a symbolic flow: exact solve first, numeric search in a box second.

``sympy.solve`` gives exact isolated points and recognises continua (a
solution that leaves some parameters free, e.g. the whole ψ-axis θ = 0 of
Lemma 3 of ``003_…``). It runs under a time limit; when it fails or times out,
a multi-start ``scipy.optimize.root`` search over a box takes over (in the
spirit of DynamicalSystems.jl's ``fixedpoints``) and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy
from scipy import optimize

from stability.spec.expressions import exact_to_complex
from stability.symbolic.field import SymbolicField
from stability.util.timelimit import TimeLimitExceeded, time_limit


@dataclass
class Equilibrium:
    """An isolated equilibrium, or a continuum of them.

    Attributes:
        point: a representative point (the point itself when isolated).
        kind: ``"isolated"`` or ``"continuum"``.
        exact: the solution as ``{name: expression}`` strings when solved symbolically.
        free: for a continuum, the parameters left free along it.
        method: ``"symbolic"`` or ``"numeric"``.
    """

    point: dict[str, float]
    kind: str = "isolated"
    exact: dict[str, str] | None = None
    free: list[str] = field(default_factory=list)
    method: str = "symbolic"
    solution: dict | None = field(default=None, repr=False, compare=False)  # {symbol: sympy expr} behind ``exact``

    def describe(self) -> str:
        if self.kind == "continuum":
            fixed = ", ".join(f"{k} = {v}" for k, v in (self.exact or {}).items())
            if not fixed:
                return f"every point is an equilibrium ({', '.join(self.free)} free)"
            return f"continuum {fixed} ({', '.join(self.free)} free)"
        return "(" + ", ".join(f"{k}={v:.6g}" for k, v in self.point.items()) + ")"

    def to_dict(self) -> dict:
        return {"point": self.point, "kind": self.kind, "exact": self.exact, "free": self.free, "method": self.method}


def solve_symbolic(
    field_: SymbolicField, timeout: float = 10.0, samples: tuple[float, ...] = (-1.0, 0.0, 1.0)
) -> list[Equilibrium] | None:
    """Exact real equilibria, or ``None`` when sympy cannot solve in time.

    Continua are returned once per value in ``samples`` of their free
    parameters, so that each representative point can be linearised.
    """
    params = field_.params
    if all(e == 0 for e in field_.exprs):  # sympy.solve([0, 0]) says []: in truth every point is an equilibrium
        point = {p.name: 0.0 for p in params}
        return [Equilibrium(point, "continuum", {}, [p.name for p in params], solution={})]
    if all(not e.free_symbols for e in field_.exprs):
        return []  # a constant non-zero flow moves everywhere: no equilibrium, and no search can find one
    try:
        with time_limit(timeout):
            solutions = sympy.solve(list(field_.exprs), list(params), dict=True)
    except (TimeLimitExceeded, NotImplementedError, ValueError, TypeError):
        return None
    if not solutions and any(e != 0 for e in field_.exprs):
        return None  # sympy found nothing: let the numeric search confirm
    found = []
    continua = [s for s in solutions if any(p not in s for p in params)]
    for solution in solutions:
        if continua and all(p in solution for p in params) and _on_continuum(solution, continua):
            continue  # an isolated-looking solution that lies on a continuum already found
        free = [p for p in params if p not in solution]
        values = {p: sympy.sympify(v) for p, v in solution.items()}
        if free:
            for sample in samples:
                point = _evaluate({**values, **{p: sympy.Float(sample) for p in free}}, params)
                if point is not None:
                    exact = {p.name: str(v) for p, v in values.items()}
                    found.append(Equilibrium(point, "continuum", exact, [p.name for p in free], solution=values))
        else:
            point = _evaluate(values, params)
            if point is not None:
                exact = {p.name: str(v) for p, v in values.items()}
                found.append(Equilibrium(point, "isolated", exact, solution=values))
    return found


def _on_continuum(point: dict, continua: list[dict]) -> bool:
    for continuum in continua:
        residuals = [sympy.sympify(v).xreplace(point) - point[p] for p, v in continuum.items()]
        if all(sympy.simplify(r) == 0 for r in residuals):
            return True
    return False


def _evaluate(values: dict, params) -> dict[str, float] | None:
    point = {}
    for p in params:
        expr = sympy.sympify(values[p]).xreplace(
            {q: values[q] for q in params if q in values and q is not p and not values[q].free_symbols}
        )
        number = exact_to_complex(expr)
        if abs(number.imag) > 1e-12:
            return None  # complex solution: not an equilibrium of the real flow
        point[p.name] = number.real
    return point


def solve_numeric(
    field_: SymbolicField,
    box: list[tuple[float, float]],
    starts_per_axis: int = 9,
    seed: int = 0,
    iterations: int = 60,
    residual_tol: float = 1e-10,
    distinct_tol: float = 1e-6,
) -> list[Equilibrium]:
    """Equilibria in ``box`` by damped Newton from many starts at once, then polished.

    Starts are a grid (≤ 3 parameters) or seeded uniform draws. All starts move
    together (one vectorised flow evaluation per iteration and finite-difference
    column, so kinked flows such as the WGAN-GP form need no symbolic Jacobian);
    candidates with a small residual are polished by ``scipy.optimize.root``. A
    root counts when ‖F‖ < ``residual_tol``; roots closer than ``distinct_tol``
    are merged.
    """
    F = field_.numpy_function()
    n = len(field_.params)
    lows = np.array([b[0] for b in box], dtype=float)
    highs = np.array([b[1] for b in box], dtype=float)
    if n <= 3:
        axes = [np.linspace(lo, hi, starts_per_axis) for lo, hi in box]
        starts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, n)
    else:
        starts = np.random.default_rng(seed).uniform(lows, highs, size=(starts_per_axis**3, n))

    def flow(x: np.ndarray) -> np.ndarray:  # (n, N) -> (n, N)
        try:
            return np.stack([np.broadcast_to(np.asarray(v, dtype=float), x.shape[1:]) for v in F(*x)])
        except OverflowError:  # an exact 10^600 in the formula meets a float: no root is representable there
            return np.full(x.shape, np.nan)

    x = starts.T.copy()
    max_step = 0.25 * float(np.max(highs - lows))
    with np.errstate(all="ignore"):
        for _ in range(iterations):
            value = flow(x)
            J = np.empty((x.shape[1], n, n))
            h = 1e-7 * np.maximum(1.0, np.abs(x))
            for j in range(n):
                e = np.zeros_like(x)
                e[j] = h[j]
                J[:, :, j] = ((flow(x + e) - flow(x - e)) / (2 * h[j])).T
            try:
                step = np.linalg.solve(J, value.T[..., None])[..., 0].T
            except np.linalg.LinAlgError:  # a singular start somewhere: solve one by one
                step = np.stack([_solve_or_zero(J[k], value[:, k]) for k in range(x.shape[1])], 1)
            step = np.where(np.isfinite(step), step, 0.0)
            step *= np.minimum(1.0, max_step / np.maximum(np.linalg.norm(step, axis=0), 1e-300))
            x = x - step
        residual = np.linalg.norm(flow(x), axis=0)
    value_at = lambda v: flow(np.asarray(v, dtype=float)[:, None])[:, 0]  # noqa: E731
    roots: list[np.ndarray] = []
    for k in np.argsort(residual):
        if not np.isfinite(residual[k]) or residual[k] > 1e-4:
            continue
        if any(np.linalg.norm(x[:, k] - r) <= distinct_tol for r in roots):
            continue
        root = optimize.root(value_at, x[:, k], method="hybr").x
        if not np.all(np.isfinite(root)) or np.linalg.norm(value_at(root)) > residual_tol:
            continue
        if np.any(root < lows - 1e-9) or np.any(root > highs + 1e-9):
            continue
        if all(np.linalg.norm(root - r) > distinct_tol for r in roots):
            roots.append(root)
    names = [p.name for p in field_.params]
    roots.sort(key=lambda r: tuple(np.round(r, 9)))
    return [Equilibrium(dict(zip(names, map(float, r))), "isolated", None, [], "numeric") for r in roots]


def _solve_or_zero(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(matrix, rhs)
    except np.linalg.LinAlgError:
        return np.zeros_like(rhs)


def find_equilibria(
    field_: SymbolicField, box: list[tuple[float, float]] | None = None, timeout: float = 10.0
) -> tuple[list[Equilibrium], list[str]]:
    """Symbolic solve, then a numeric search in ``box`` (default [-3, 3] per axis) if needed."""
    notes: list[str] = []
    exact = solve_symbolic(field_, timeout=timeout)
    if exact is not None:
        if box is not None:
            exact = [e for e in exact if e.kind == "continuum" or _inside(e.point, box)]
        return exact, notes
    box = box or [(-3.0, 3.0)] * len(field_.params)
    notes.append(f"sympy could not solve the equilibrium equations; numeric multi-start search in the box {box}")
    return solve_numeric(field_, box), notes


def _inside(point: dict[str, float], box: list[tuple[float, float]]) -> bool:
    return all(lo - 1e-12 <= v <= hi + 1e-12 for v, (lo, hi) in zip(point.values(), box))
