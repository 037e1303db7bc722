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

from stability.analysis.equilibrium_result import Equilibrium, Verification
from stability.spec.expressions import exact_to_complex
from stability.symbolic.field import SymbolicField
from stability.util.timelimit import TimeLimitExceeded, time_limit


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


@dataclass
class EquilibriumSearch:
    """Equilibria with the notes on how they were found and, for the numeric search, how hard it looked."""

    equilibria: list[Equilibrium]
    notes: list[str] = field(default_factory=list)
    effort: object | None = None  # stability.analysis.numeric_equilibria.SearchEffort


#: ``search`` values of :func:`find_equilibria`: the default, and the path before issue 27 (kept callable for
#: ``benchmarks/bench_equilibria.py``, which times both in one run).
SEARCHES = ("auto", "numeric", "legacy")


def find_equilibria(
    field_: SymbolicField,
    box: list[tuple[float, float]] | None = None,
    timeout: float = 10.0,
    search: str = "auto",
) -> tuple[list[Equilibrium], list[str]]:
    """Symbolic solve, then a numeric search in ``box`` (default [-3, 3] per axis) if needed.

    See :func:`search_equilibria_of` for ``search`` and what the result holds.
    """
    found = search_equilibria_of(field_, box, timeout, search)
    return found.equilibria, found.notes


def search_equilibria_of(
    field_: SymbolicField,
    box: list[tuple[float, float]] | None = None,
    timeout: float = 10.0,
    search: str = "auto",
    torch_field=None,
) -> EquilibriumSearch:
    """Equilibria of ``field_``: exact where sympy solves the equations, numeric (points and continua) otherwise.

    ``sympy.solve`` is tried (under ``timeout``) on flows whose expectations are exact; a flow that holds Gauss
    quadrature sums is a sum of hundreds of transcendental terms that it cannot solve, so it goes straight to
    :func:`~stability.analysis.numeric_equilibria.search_equilibria`. Every symbolic solution is evaluated by the
    compiled formula at its point and dropped, with a note, if the field is not small there against the size of its
    terms. ``search="numeric"`` skips sympy; ``search="legacy"`` runs the path before issue 27 (symbolic solve,
    then :func:`solve_numeric`).
    """
    from stability.util.errors import UserError

    if search not in SEARCHES:
        raise UserError(f"unknown equilibrium search {search!r}; valid: {', '.join(SEARCHES)}")
    notes: list[str] = []
    if search == "legacy":
        exact = solve_symbolic(field_, timeout=timeout)
        if exact is not None:
            if box is not None:
                exact = [e for e in exact if e.kind == "continuum" or _inside(e.point, box)]
            return EquilibriumSearch(exact, notes)
        box = box or [(-3.0, 3.0)] * len(field_.params)
        notes.append(f"sympy could not solve the equilibrium equations; numeric multi-start search in the box {box}")
        return EquilibriumSearch(solve_numeric(field_, box), notes)
    exact = solve_symbolic(field_, timeout=timeout) if field_.exact and search == "auto" else None
    if exact is not None:
        real = len(exact)
        if box is not None:
            exact = [e for e in exact if e.kind == "continuum" or _inside(e.point, box)]
        kept = _checked_symbolic(field_, exact, notes)
        if not kept:
            where = (
                "no real solution"
                if real == 0
                else f"{real} real solution(s), " + ("none in the box" if exact == [] else "none a root numerically")
            )
            notes.append(f"no equilibrium found: sympy solved the equilibrium equations exactly: {where}")
        return EquilibriumSearch(kept, notes)
    from stability.analysis.numeric_equilibria import search_equilibria

    box = box or [(-3.0, 3.0)] * len(field_.params)
    if search == "numeric":
        notes.append("numeric search (asked for)")
    elif field_.exact:
        notes.append("sympy could not solve the equilibrium equations; numeric search instead")
    else:
        notes.append("the flow holds quadrature sums, which sympy.solve cannot solve: numeric search")
    found = search_equilibria(field_, box, torch_field=torch_field)
    notes += found.notes
    if not found.equilibria:
        notes.append(f"no equilibrium found; {found.effort.describe()}")
    return EquilibriumSearch(found.equilibria, notes, found.effort)


def _checked_symbolic(field_: SymbolicField, found: list[Equilibrium], notes: list[str]) -> list[Equilibrium]:
    """Keep the symbolic solutions at which the compiled formula vanishes against the size of its terms."""
    if not found or field_.free_constants:
        return found  # a symbolic ρ: no numbers to evaluate (the caller substitutes before linearising)
    from stability.analysis.flows import SymbolicFlow
    from stability.analysis.numeric_equilibria import ROOT_RTOL, RootTest

    flow = SymbolicFlow(field_)
    names = [p.name for p in field_.params]
    sample = flow.evaluate(np.array([[e.point[n] for n in names] for e in found]), jacobians=False)
    test = RootTest(floor=1e-300, rtol=ROOT_RTOL)
    relative = test.relative(sample.values, sample.sizes)
    kept = []
    for e, values, sizes, r in zip(found, sample.values, sample.sizes, relative):
        e.verification = Verification(flow.route, float(np.linalg.norm(values)), float(np.linalg.norm(sizes)), float(r))
        if r <= ROOT_RTOL:
            kept.append(e)
        else:
            notes.append(
                f"sympy's solution {e.exact} at {e.describe()} is not a root of the flow numerically "
                f"({e.verification.describe()}); dropped"
            )
    return kept


def _inside(point: dict[str, float], box: list[tuple[float, float]]) -> bool:
    return all(lo - 1e-12 <= v <= hi + 1e-12 for v, (lo, hi) in zip(point.values(), box))
