"""Numeric equilibrium search in a box: isolated points and continua, each checked by a second route (issue 27).

1. Levenberg–Marquardt from a shifted Halton set of starts (and the box's centre), all at once
   (:func:`~stability.analysis.roots.levenberg_marquardt`) on one compiled flow: the symbolic formula with
   complex-step Jacobians when it is analytic, the torch engine otherwise.
2. A root is a point where ‖F‖ ≤ :data:`ROOT_RTOL` times the size of the field's terms there
   (:func:`~stability.analysis.flows.term_size`), not below an absolute threshold.
3. Roots whose Jacobian is singular are probed (:func:`~stability.analysis.continua.confirm_dimension`); a
   confirmed continuum absorbs every other root found on it and is reported once, with its dimension, a point, a
   second point, tangents, and (when flat) its equations.
4. Every reported point is re-evaluated by the other route (torch for the formula, the formula for torch) and
   carries that residual; a point that fails there is dropped with a note, never reported as an equilibrium.
   Both routes share the flow's Gauss nodes, so when expectations are quadrature sums the point is also evaluated by
   a torch field with twice the nodes per base variable (:data:`HIGHER_ORDER_NODES`): its residual there, and the
   change of F between the two rules (the estimate of the quadrature error). A root of the coarse flow whose fine
   residual is not small is polished by Levenberg–Marquardt on the fine flow and reported with that root and how far
   it lies; if the fine flow has no root nearby, the point is dropped with a note.
5. The search records how hard it looked: starts, box, iterations, time, and the best residual reached and where.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from stability.analysis.continua import (
    Transverse,
    classes_along,
    confirm_dimension,
    equations,
    reaches,
    transverse_class,
)
from stability.analysis.equilibrium_result import Equilibrium, Verification
from stability.analysis.flows import BatchedFlow, SymbolicFlow, TorchFlow
from stability.analysis.roots import halton_starts, levenberg_marquardt
from stability.spec.quadrature import QUADRATURE_NODES, nodes_per_base

#: ‖F‖ at most this times ‖size of the terms‖ is a root (float64 evaluation errs by about ε·size; 1e-9 leaves room
#: for the thousands of terms of a quadrature flow and for roots LM only reaches to a few digits less).
ROOT_RTOL = 1e-9
#: Starts of the search (Halton points, plus the box's centre).
DEFAULT_STARTS = 128
#: Seconds the Levenberg–Marquardt run may take before it stops and says so.
DEFAULT_SECONDS = 6.0
#: Continua probed at most (each probe is a small LM run); beyond this the search says what it left.
MAX_CONTINUA = 12
#: Levenberg–Marquardt iterations at most when a root is polished on the finer quadrature (Newton from a point
#: a quadrature error away reaches rounding in a few; the stall rule stops it soon after).
POLISH_ITERATIONS = 25
#: How far, as a fraction of the box's widest side, polishing may move a point and still be the same root.
POLISH_REACH = 0.05


class _Doubled(Mapping):
    """Twice :data:`~stability.spec.quadrature.QUADRATURE_NODES` per base variable, for any number of them."""

    def __getitem__(self, count: int) -> int:
        return 2 * nodes_per_base(QUADRATURE_NODES, int(count))

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(QUADRATURE_NODES))

    def __len__(self) -> int:
        return len(QUADRATURE_NODES)


#: The finer quadrature that checks a quadrature flow's roots: twice the nodes per base variable (48, 24, 12 for
#: branches of 1, 2, 3 base variables). Gauss–Hermite of tanh-like integrands (poles at ±iπ/2) converges
#: sub-exponentially, yet doubling the nodes cut the error of E[tanh(1 + 2z)] 80-fold (1.3e-3 → 1.6e-5), so
#: ‖F_fine − F‖ estimates the coarse rule's error to a few per cent.
HIGHER_ORDER_NODES: Mapping = _Doubled()
HIGHER_ORDER_ROUTE = "torch with twice the Gauss nodes"


@dataclass
class SearchEffort:
    """How hard the numeric search looked (printed when it finds nothing, kept in ``--json`` always)."""

    starts: int
    box: list[tuple[float, float]]
    iterations: int
    evaluations: int
    seconds: float
    stopped: str
    route: str
    roots: int  # starts that ended on a root
    best_residual: float  # the smallest relative residual any start reached
    best_point: dict[str, float]

    def describe(self) -> str:
        box = " × ".join(f"[{lo:g}, {hi:g}]" for lo, hi in self.box)
        where = ", ".join(f"{k}={v:.4g}" for k, v in self.best_point.items())
        return (
            f"numeric search: {self.starts} starts (Halton) in {box}, Levenberg–Marquardt on {self.route}, "
            f"{self.iterations} iterations ({self.stopped}), {self.seconds:.2g} s; "
            f"{self.roots} starts ended on a root; "
            f"best relative residual {self.best_residual:.2g} at ({where})"
        )

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"box": [list(b) for b in self.box]}


@dataclass
class NumericSearch:
    """What the search found, what it rejected, and how hard it looked."""

    equilibria: list[Equilibrium]
    effort: SearchEffort
    notes: list[str] = field(default_factory=list)


class RootTest:
    """Relative residual against the size of the terms, with a floor for points where every term vanishes.

    Args:
        floor: the size below which terms count as zero (a small fraction of their typical size in the box).
        rtol: :data:`ROOT_RTOL`.
    """

    def __init__(self, floor: float, rtol: float = ROOT_RTOL) -> None:
        self.floor = floor
        self.rtol = rtol

    def relative(self, values: np.ndarray, sizes: np.ndarray | None) -> np.ndarray:
        values = np.atleast_2d(values)
        norm = np.linalg.norm(values, axis=1)
        scale = np.linalg.norm(sizes, axis=1) if sizes is not None else norm
        with np.errstate(all="ignore"):
            out = norm / np.maximum(scale, self.floor)
        return np.where(np.isfinite(out), out, np.inf)

    def __call__(self, values: np.ndarray, sizes: np.ndarray | None) -> np.ndarray:
        return self.relative(values, sizes) <= self.rtol


def search_equilibria(
    field_,
    box: list[tuple[float, float]],
    starts: int = DEFAULT_STARTS,
    seed: int = 0,
    seconds: float = DEFAULT_SECONDS,
    torch_field=None,
) -> NumericSearch:
    """Equilibria and continua of a symbolic field in ``box``, each verified by a second route.

    Args:
        field_: a :class:`~stability.symbolic.field.SymbolicField` with its constants bound.
        box: (min, max) per parameter, in the field's order.
        starts: Halton starts (the box's centre is added).
        seed: the seed of the Halton sequence's random shift.
        seconds: the Levenberg–Marquardt budget.
        torch_field: the autodiff engine's field of the same system (built from ``field_.system`` when ``None``;
            its absence leaves the formula as the only route, and the report says so).
    """
    t0 = time.perf_counter()
    names = [p.name for p in field_.params]
    formula = SymbolicFlow.of(field_)
    X0 = halton_starts(box, starts, seed)
    notes: list[str] = []
    torch_flow = _torch_flow(field_, torch_field, X0[0], notes)
    search_flow: BatchedFlow = formula if formula.analytic or torch_flow is None else torch_flow
    if not formula.analytic and torch_flow is None:
        notes.append("the flow has kinks and no torch route: the search ran without Jacobians")
        return NumericSearch([], _effort(X0, box, 0, 0, time.perf_counter() - t0, "no Jacobian", "-", 0, None, names))
    check_flow: BatchedFlow | None = torch_flow if search_flow is formula else formula
    width = np.array([hi - lo for lo, hi in box], dtype=float)
    start_sizes = formula.evaluate(X0, jacobians=False).sizes
    typical = float(np.median(np.linalg.norm(start_sizes, axis=1)))
    test = RootTest(floor=max(1e-8 * typical, 1e-300))
    lows, highs = np.array([b[0] for b in box]), np.array([b[1] for b in box])
    run = levenberg_marquardt(
        search_flow,
        X0,
        max_step=0.25 * float(np.max(width)),
        seconds=seconds,
        converged=lambda F, S: test.relative(F, S if S is not None else None) <= 1e-4 * test.rtol,
        region=(lows - width, highs + width),
    )
    sizes = run.sizes if run.sizes is not None else formula.evaluate(run.points, jacobians=False).sizes
    relative = test.relative(run.values, sizes)
    lows = np.array([b[0] for b in box]) - 1e-9 * width
    highs = np.array([b[1] for b in box]) + 1e-9 * width
    inside = np.all((run.points >= lows) & (run.points <= highs), axis=1)
    rooted = (relative <= test.rtol) & inside
    best = int(np.argmin(np.where(inside, relative, np.inf))) if np.any(inside) else int(np.argmin(relative))
    effort = _effort(
        X0, box, run.iterations, run.evaluations, time.perf_counter() - t0, run.stopped, search_flow.route,
        int(np.sum(rooted)), (float(relative[best]), run.points[best]), names,
    )  # fmt: skip
    finite = np.all(np.isfinite(run.jacobians), axis=(1, 2))
    jacobian_scale = (  # J's typical size in the box, against which a singular value counts as zero
        float(np.median(np.linalg.svd(run.jacobians[finite], compute_uv=False)[:, 0])) if np.any(finite) else 0.0
    )
    found = _classify_roots(search_flow, run, np.nonzero(rooted)[0], test, names, width, notes, jacobian_scale)
    verified = [e for e in found if _verify(e, check_flow, formula, test, notes)]
    if not field_.exact and verified:  # quadrature sums: both routes above share the nodes, so look finer
        verified = _check_finer(field_, verified, formula, test, width, X0[0], notes)
    effort.seconds = time.perf_counter() - t0
    return NumericSearch(verified, effort, notes)


def _torch_flow(field_, torch_field, anchor: np.ndarray, notes: list[str]) -> TorchFlow | None:
    from stability.util.errors import UserError

    try:
        if torch_field is None:
            from stability.autodiff.field import torch_field_for

            torch_field = torch_field_for(field_.system)
        return TorchFlow(torch_field, anchor)
    except (UserError, NotImplementedError, TypeError, ValueError) as exc:
        notes.append(f"no torch route for this spec ({exc}); roots are checked by the formula alone")
        return None


def _effort(X0, box, iterations, evaluations, seconds, stopped, route, roots, best, names) -> SearchEffort:
    residual, point = best if best is not None else (float("inf"), X0[0])
    return SearchEffort(
        starts=len(X0),
        box=[(float(lo), float(hi)) for lo, hi in box],
        iterations=int(iterations),
        evaluations=int(evaluations),
        seconds=float(seconds),
        stopped=stopped,
        route=route,
        roots=int(roots),
        best_residual=float(residual),
        best_point=dict(zip(names, map(float, point))),
    )


def _classify_roots(flow, run, rooted, test, names, width, notes, jacobian_scale: float) -> list[Equilibrium]:
    """Isolated roots (clustered) and continua (confirmed, each absorbing the roots that lie on it)."""
    from stability.analysis.continua import null_dimensions

    if rooted.size == 0:
        return []
    X, J = run.points[rooted], run.jacobians[rooted]
    relative = test.relative(run.values[rooted], run.sizes[rooted] if run.sizes is not None else None)
    nulls = null_dimensions(J, scale=jacobian_scale)
    step = 0.05 * float(np.min(width))
    distinct = 1e-6 * float(np.max(width))
    continua: list[dict] = []
    isolated: list[int] = []
    assigned = np.zeros(len(X), bool)
    for k in np.lexsort((relative, nulls)):  # generic points first (fewest null directions), then small residual
        if assigned[k]:
            continue
        if nulls[k] == 0:
            isolated.append(k)
            continue
        home = next((c for c in continua if _on(c, X[k], distinct)), None)
        if home is not None:
            home["members"].append(k)
            assigned[k] = True
            continue
        if len(continua) >= MAX_CONTINUA:
            notes.append(f"more than {MAX_CONTINUA} continua: the rest were not probed")
            break
        probe = confirm_dimension(flow, X[k], J[k], step, test, scale=jacobian_scale)
        if probe.dimension == 0:
            isolated.append(k)  # a singular but isolated root (a fold, x² = 0)
            continue
        continua.append({"point": X[k], "probe": probe, "members": [k]})
        assigned[k] = True
        others = np.nonzero(~assigned & (nulls >= probe.dimension))[0]  # absorb every root already found on it
        if probe.flat:
            on = np.array([_on(continua[-1], X[j], distinct) for j in others], bool)
        else:
            on = reaches(flow, X[k], X[others], probe.dimension, step, test) if others.size else np.zeros(0, bool)
        for j in others[on]:
            continua[-1]["members"].append(j)
            assigned[j] = True
    out: list[Equilibrium] = []
    for k in _cluster(X, isolated, relative, distinct):
        out.append(
            Equilibrium(
                dict(zip(names, map(float, X[k]))),
                "isolated",
                None,
                [],
                "numeric",
                relative_residual=float(relative[k]),
            )
        )
    for c in continua:
        out.append(_continuum(c, X, J, names, width, nulls))
    return out


def _on(continuum: dict, x: np.ndarray, distinct: float) -> bool:
    """Whether x lies on a flat continuum p + span(T) (a curved one is never matched here: see :func:`reaches`)."""
    probe = continuum["probe"]
    if not probe.flat:
        return False
    offset = x - continuum["point"]
    T = probe.tangents
    return bool(np.linalg.norm(offset - T @ (T.T @ offset)) <= distinct)


def _cluster(X: np.ndarray, members: list[int], relative: np.ndarray, distinct: float) -> list[int]:
    """One representative (the smallest residual) per group of isolated roots closer than ``distinct``."""
    chosen: list[int] = []
    for k in sorted(members, key=lambda i: relative[i]):
        if all(np.linalg.norm(X[k] - X[j]) > distinct for j in chosen):
            chosen.append(k)
    return sorted(chosen, key=lambda i: tuple(np.round(X[i], 9)))


def _continuum(
    c: dict, X: np.ndarray, J: np.ndarray, names: list[str], width: np.ndarray, nulls: np.ndarray
) -> Equilibrium:
    """One continuum as one :class:`Equilibrium`, shown at its most generic root found.

    The representative is the root on it whose Jacobian is farthest from a larger rank deficiency (the largest
    σ_(n−d)): not a point where it meets another continuum, where the transverse spectrum degenerates.
    """
    probe = c["probe"]
    members = c["members"]
    d = probe.dimension
    s = np.linalg.svd(J[members], compute_uv=False)
    n = J.shape[1]
    margin = s[:, n - d - 1] if d < n else np.ones(len(members))
    k = members[int(np.argmax(margin))]
    tangents = probe.tangents if probe.flat else np.linalg.svd(J[k])[2][n - d :].T  # a curved one turns: its own
    exact, free = (None, [])
    if probe.flat:
        exact, free, tangents = equations(X[k], probe.tangents, names, 1e-7 * float(np.max(width)))
    values, cls, _ = transverse_class(J[k], tangents)
    generic = [m for m in members if nulls[m] == d]  # the others lie where it meets another continuum
    along = classes_along(J[generic], d)
    point = X[k].copy()
    for name, expression in (exact or {}).items():
        if expression == "0":  # a = 0 on the equations, rather than the 1e-17 the iteration stopped at
            point[names.index(name)] = 0.0
    return Equilibrium(
        dict(zip(names, map(float, point))),
        "continuum",
        exact,
        free,
        "numeric",
        dimension=d,
        tangents=[dict(zip(names, map(float, t))) for t in tangents.T],
        second_point=dict(zip(names, map(float, probe.second_point))),
        flat=probe.flat,
        transverse=Transverse(values, cls, along, len(members) - len(generic)),
        roots_on_it=len(members),
    )


def _verify(e: Equilibrium, check: BatchedFlow | None, formula: SymbolicFlow, test: RootTest, notes: list[str]) -> bool:
    """Re-evaluate the field at the point (and a continuum's second point) by the other route; keep it if small."""
    names = list(e.point)
    points = [np.array([e.point[n] for n in names])]
    if e.second_point is not None:
        points.append(np.array([e.second_point[n] for n in names]))
    sizes = formula.evaluate(np.array(points), jacobians=False).sizes
    route = check if check is not None else formula
    if isinstance(route, TorchFlow):
        values = np.array([route.value_at(p) for p in points])
    else:
        values = route.evaluate(np.array(points), jacobians=False).values
    relative = test.relative(values, sizes)
    e.verification = Verification(
        route=route.route,
        residual=float(np.linalg.norm(values[0])),
        size=float(np.linalg.norm(sizes[0])),
        relative=float(relative[0]),
        second_point_relative=float(relative[1]) if len(relative) > 1 else None,
    )
    if np.all(relative <= test.rtol):
        return True
    where = ", ".join(f"{k}={v:.6g}" for k, v in e.point.items())
    notes.append(
        f"a candidate at ({where}) is not an equilibrium by the {route.route} route: ‖F‖ = "
        f"{e.verification.residual:.3g} against terms of size {e.verification.size:.3g} (relative "
        f"{float(np.max(relative)):.2g} > {test.rtol:g}); dropped"
    )
    return False


def _check_finer(
    field_, found: list[Equilibrium], formula: SymbolicFlow, test: RootTest, width: np.ndarray, anchor, notes
) -> list[Equilibrium]:
    """Re-evaluate each point of a quadrature flow with twice the Gauss nodes; polish or drop where that disagrees."""
    from stability.util.errors import UserError

    try:
        from stability.autodiff.field import torch_field_for

        fine = TorchFlow(torch_field_for(field_.system, nodes=HIGHER_ORDER_NODES), anchor, route=HIGHER_ORDER_ROUTE)
    except (UserError, NotImplementedError, TypeError, ValueError) as exc:
        notes.append(f"the quadrature error was not estimated: no torch field with more nodes ({exc})")
        return found
    return [e for e in found if _finer(e, fine, formula, test, width, notes)]


def _finer(e: Equilibrium, fine: TorchFlow, formula: SymbolicFlow, test: RootTest, width, notes) -> bool:
    """Record the finer quadrature's residual and the quadrature's change of F at ``e``; polish when needed.

    A root of the coarse flow lies about (quadrature error)/‖J‖ from the root of the integrals themselves, so a fine
    residual above the tolerance is expected, not a reason to drop the point: Levenberg–Marquardt on the fine flow
    moves it to the fine root next to it, which is recorded with its residual and distance. Only when the fine flow
    has no root within :data:`POLISH_REACH` of the box is the point not an equilibrium (of the integrals).
    """
    names = list(e.point)
    points = np.array([[p[n] for n in names] for p in (e.point, e.second_point) if p is not None])
    coarse = formula.evaluate(points, jacobians=False)
    values = _fine_values(fine, points)
    relative = test.relative(values, coarse.sizes)
    with np.errstate(all="ignore"):
        change = values - coarse.values
    v = e.verification
    v.higher_route = fine.route
    v.higher_relative = float(relative[0])
    v.second_point_higher_relative = float(relative[1]) if len(relative) > 1 else None
    v.quadrature_change = float(np.linalg.norm(change[0]))
    v.quadrature_error = float(test.relative(change[:1], coarse.sizes[:1])[0])
    if np.all(relative <= test.rtol):
        return True
    reach = POLISH_REACH * float(np.max(width))
    scale = float(np.min(np.linalg.norm(coarse.sizes, axis=1)))
    run = levenberg_marquardt(
        TorchFlow(fine.field, points[0], route=fine.route),  # batched penalty nodes placed at the point, not a start
        points,
        iterations=POLISH_ITERATIONS,
        max_step=reach,
        converged=lambda F, S: np.linalg.norm(F, axis=1) <= 1e-3 * test.rtol * max(scale, test.floor),
        region=(points - reach, points + reach),
    )
    polished = run.points
    after = test.relative(_fine_values(fine, polished), formula.evaluate(polished, jacobians=False).sizes)
    moved = np.linalg.norm(polished - points, axis=1)
    v.polished_point = dict(zip(names, map(float, polished[0])))
    v.polished_relative = float(after[0])
    v.moved = float(moved[0])
    if np.all(after <= test.rtol) and np.all(moved <= reach):
        return True
    where = ", ".join(f"{k}={val:.6g}" for k, val in e.point.items())
    notes.append(
        f"a root of the quadrature flow at ({where}) is not one of the flow with twice the Gauss nodes: relative "
        f"residual {float(np.max(relative)):.2g} there (quadrature error estimate {v.quadrature_error:.2g}), and "
        f"Levenberg–Marquardt on the finer flow found no root within {reach:.2g} (best relative residual "
        f"{float(np.max(after)):.2g}, {float(np.max(moved)):.2g} away); dropped"
    )
    return False


def _fine_values(fine: TorchFlow, points: np.ndarray) -> np.ndarray:
    """F at each point with the penalty nodes placed there; NaN where the field is not finite."""
    from stability.util.errors import UserError

    out = np.full(points.shape, np.nan)
    for k, p in enumerate(points):
        try:
            out[k] = fine.value_at(p)
        except UserError:  # NaN/Inf in the field there
            pass
    return out
