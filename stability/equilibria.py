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

from stability.field import SymbolicField
from stability.timelimit import TimeLimitExceeded, time_limit


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
        number = complex(sympy.N(expr))
        if abs(number.imag) > 1e-12:
            return None  # complex solution: not an equilibrium of the real flow
        point[p.name] = number.real
    return point


def solve_numeric(
    field_: SymbolicField,
    box: list[tuple[float, float]],
    starts_per_axis: int = 9,
    seed: int = 0,
    residual_tol: float = 1e-10,
    distinct_tol: float = 1e-6,
) -> list[Equilibrium]:
    """Equilibria in ``box`` by Newton-type root finding from many starts.

    Starts are a grid (≤ 3 parameters) or seeded uniform draws. A root counts
    when ‖F‖ < ``residual_tol``; roots closer than ``distinct_tol`` are merged.
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
    value = lambda v: np.array([float(c) for c in F(*v)])  # noqa: E731
    roots: list[np.ndarray] = []
    for start in starts:
        result = optimize.root(value, start, jac=field_.jacobian, method="hybr")
        root = result.x
        if not np.all(np.isfinite(root)) or np.linalg.norm(value(root)) > residual_tol:
            continue
        if np.any(root < lows - 1e-9) or np.any(root > highs + 1e-9):
            continue
        if all(np.linalg.norm(root - r) > distinct_tol for r in roots):
            roots.append(root)
    names = [p.name for p in field_.params]
    roots.sort(key=lambda r: tuple(r))
    return [Equilibrium(dict(zip(names, map(float, r))), "isolated", None, [], "numeric") for r in roots]


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
