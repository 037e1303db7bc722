"""Analysis of a flow at its equilibria (or given points), as one report.

Ties together :mod:`~stability.analysis.equilibria`, :mod:`~stability.analysis.linear`,
:mod:`~stability.analysis.lyapunov` and the checks a spec needs before its numbers can
be trusted (non-smooth penalty forms, negative masses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy

from stability.analysis.continua import Probe, linearise_on_continuum
from stability.analysis.equilibria import Equilibrium, Verification, search_equilibria_of
from stability.analysis.linear import CENTER, NON_HYPERBOLIC, LinearAnalysis, Tolerance, linearise
from stability.analysis.lyapunov import LyapunovCheck, lyapunov_check
from stability.analysis.numeric_equilibria import SearchEffort
from stability.spec.lambdify import numeric_function
from stability.spec.system import GanSystem
from stability.symbolic.field import SymbolicField
from stability.util.errors import TooLarge, UserError, within_limit


@dataclass
class PointReport:
    """Everything known about one equilibrium (or a user-given point)."""

    linear: LinearAnalysis
    equilibrium: Equilibrium | None = None
    lyapunov: LyapunovCheck | None = None
    residual: float = 0.0
    check: Verification | None = None  # ‖F‖ by the compiled formula against the size of the terms
    is_equilibrium: bool = True
    on_continuum: Probe | None = None  # a given point that lies on a continuum of equilibria

    def to_dict(self) -> dict:
        out = self.linear.to_dict()
        if self.equilibrium is not None:
            out.update(self.equilibrium.to_dict())
            out["point"] = self.linear.point
        out["residual"] = self.residual
        out["is_equilibrium"] = self.is_equilibrium
        if self.check is not None:
            out["check"] = self.check.to_dict()
        if self.on_continuum is not None:
            probe = self.on_continuum
            out["on_continuum"] = {
                "dimension": probe.dimension,
                "tangents": probe.tangents.T.tolist(),
                "second_point": None if probe.second_point is None else probe.second_point.tolist(),
            }
        if self.lyapunov is not None:
            out["lyapunov"] = self.lyapunov.to_dict()
        return out


@dataclass
class AnalysisReport:
    """The flow, its equilibria with their linearisations, and notes."""

    system: str
    vector_field: list[str]
    points: list[PointReport]
    notes: list[str] = field(default_factory=list)
    search: SearchEffort | None = None  # how hard the numeric search looked, when it ran

    def to_dict(self) -> dict:
        return {
            "system": self.system,
            "vector_field": self.vector_field,
            "equilibria": [p.to_dict() for p in self.points],
            "notes": self.notes,
            "search": self.search.to_dict() if self.search is not None else None,
        }


def analyze(
    field_: SymbolicField,
    at: dict[str, float] | None = None,
    box: list[tuple[float, float]] | None = None,
    tol: Tolerance | None = None,
    lyapunov_radius: float = 0.5,
    backend: str = "symbolic",
    search: str = "auto",
) -> AnalysisReport:
    """Equilibria (or the point ``at``), Jacobians, eigenvalues, classes, steps.

    Every point is checked before it is called an equilibrium (:class:`~stability.analysis.point_check.PointChecker`):
    its residual by the compiled formula against the size of the field's terms; a point on a continuum (a symbolic
    family, a numeric continuum, or a given point whose Jacobian is singular along roots) is linearised as such —
    its tangent eigenvalues are exact zeros, without a sign. Inconclusive linearisations (center, non-hyperbolic)
    of isolated points get a Lyapunov check with L = ‖(ψ, θ) − (ψ*, θ*)‖², within a budget proportional to the flow.

    Args:
        backend: where Jacobians come from: ``"symbolic"`` or ``"torch"`` (``torch.func`` autodiff of the spec).
        search: see :func:`~stability.analysis.equilibria.search_equilibria_of`.
    """
    from stability.analysis.point_check import BACKENDS, PointChecker, solution_tangents

    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    system = field_.system
    notes = list(field_.notes) + degenerate_notes(field_)
    checker = PointChecker(field_, backend)
    effort = None
    if at is not None:
        candidates = [
            Equilibrium(dict(zip([p.name for p in field_.params], field_.as_vector(at))), "given point", method="given")
        ]
    else:
        found = search_equilibria_of(field_, box, search=search, torch_field=checker._torch_field)
        candidates, effort = found.equilibria, found.effort
        notes += found.notes
    if box is not None:
        notes += mass_warnings(system, box)
    points = []
    for candidate in candidates:
        vector = field_.as_vector(candidate.point)
        J = checker.jacobian(vector)
        check = checker.residual(vector)
        rooted = checker.is_root(check)
        probe = None
        if candidate.kind == "continuum" and candidate.tangents is not None:
            tangents = np.array([[t[n] for n in checker.names] for t in candidate.tangents]).T
        elif candidate.kind == "continuum":
            tangents = solution_tangents(field_, candidate)
        elif candidate.method == "given" and rooted:
            probe = checker.probe(vector, J)
            tangents = probe.tangents if probe.dimension else None
        else:
            tangents = None
        if tangents is not None and tangents.shape[1]:
            along = candidate.transverse.along if candidate.transverse is not None else None
            linear = linearise_on_continuum(candidate.point, J, tangents, along)
        else:
            linear = linearise(candidate.point, J, len(system.psi), tol)
        linear.notes += nonsmooth_notes(system, candidate.point)
        report = PointReport(linear, candidate, residual=check.residual, check=check, is_equilibrium=rooted)
        if probe is not None and probe.dimension:
            report.on_continuum = probe
            second = ", ".join(f"{n}={v:.4g}" for n, v in zip(checker.names, probe.second_point))
            linear.notes.insert(
                0,
                f"this equilibrium lies on a {probe.dimension}-dimensional continuum of them "
                f"(rank deficiency of J confirmed at a second root, ({second}))",
            )
        if candidate.method == "given" and not rooted:
            flow = checker.formula.evaluate(vector[None], jacobians=False).values[0]
            moving = ", ".join(f"d{p.name}/dt = {v:.3g}" for p, v in zip(field_.params, flow))
            linear.notes.insert(
                0,
                f"not an equilibrium: the flow here is {moving} (‖F‖ = {check.residual:.3g} against terms of size "
                f"{check.size:.3g}); the class describes the linearisation at this point only",
            )
        if tangents is not None and tangents.shape[1]:
            linear.notes.append(
                "Lyapunov check skipped: on a continuum of equilibria no L = ‖x − x*‖² decreases strictly "
                "(the neighbouring equilibria stay where they are)"
            )
        elif linear.classification in (CENTER, NON_HYPERBOLIC):
            try:
                with within_limit("the Lyapunov check", "its verdict is left open"):
                    report.lyapunov = lyapunov_check(
                        field_, candidate.point, radius=lyapunov_radius, flow_values=_values_of(checker)
                    )
                linear.notes += [f"Lyapunov check: {s}" for s in report.lyapunov.skipped]
            except TooLarge as exc:  # an optional refinement: say so and keep the linear verdict
                linear.notes.append(f"Lyapunov check skipped: {exc}")
            except OverflowError:  # exact numbers beyond float64 in L̇ (a 10^600 from the spec's 1e300s)
                linear.notes.append("Lyapunov check skipped: dL/dt has numbers beyond float64's range")
        points.append(report)
    if backend == "torch":
        notes.append(f"Jacobians by torch.func autodiff; {checker.torch_field.expectation_note}")
    return AnalysisReport(system.describe(), field_.describe(), points, notes, effort)


def _values_of(checker):
    return lambda points: checker.formula.evaluate(points, jacobians=False).values


def degenerate_notes(field_: SymbolicField) -> list[str]:
    """Say when D does not depend on x: the critic cannot tell data from samples, and the flow degenerates."""
    system = field_.system
    if set(system.x) & system.discriminator.free_symbols:
        return []
    if all(e == 0 for e in field_.exprs):
        what = "the vector field vanishes identically: every point is an equilibrium and nothing moves"
    elif all(not e.free_symbols for e in field_.exprs):
        flow = ", ".join(sympy.sstr(e) for e in field_.exprs)
        what = f"the vector field is the constant ({flow}): there is no equilibrium anywhere"
    else:
        what = "the critic is blind to the data, so only the penalty and the link shape the flow"
    return [f"degenerate: D = {system.discriminator} does not depend on x; {what}"]


def nonsmooth_notes(system: GanSystem, point: dict[str, float], nodes: int = 8) -> list[str]:
    """Say when the penalty form is evaluated on its kink at ``point``.

    Evaluates ‖∇ₓD(x̂; ψ)‖ on quadrature nodes of the penalty law at θ and
    reports any node that sits on a kink of the form (e.g. ∇ₓD = 0 for WGAN-GP).
    """
    penalty = system.penalty
    if penalty is None or not penalty.form.kinks:
        return []
    values = {s: sympy.Float(point[s.name]) for s in system.params}
    law = penalty.measure.law(system.data, system.generator).subs(values)
    grad_norm = sympy.sqrt(sum(sympy.diff(system.discriminator, x) ** 2 for x in system.x)).xreplace(values)
    evaluate = numeric_function(system.x, grad_norm)
    weights, nodes_x = law.quadrature(nodes)
    norms = np.broadcast_to(np.asarray(evaluate(*nodes_x.T), dtype=float), weights.shape)
    notes = []
    for kink in penalty.form.kinks:
        on_kink = np.abs(norms - kink) < 1e-9
        if np.any(on_kink):
            share = float(weights[on_kink].sum() / weights.sum())
            notes.append(
                f"non-smooth: ‖∇ₓD‖ = {kink:g} on {share:.0%} of the penalty measure here; {penalty.form.kink_note}. "
                "The Jacobian shown uses sign(0) = 0 and may not describe the dynamics."
            )
    return notes


def mass_warnings(system: GanSystem, box: list[tuple[float, float]], points_per_axis: int = 41) -> list[str]:
    """Warn when the penalty mass M(ψ, θ) is negative somewhere on the box."""
    if system.penalty is None or system.penalty.measure.is_probability:
        return []
    mass = sympy.sympify(system.penalty.measure.mass)
    evaluate = numeric_function(system.params, mass)
    axes = [np.linspace(lo, hi, points_per_axis if len(box) <= 3 else 5) for lo, hi in box]
    grid = np.meshgrid(*axes, indexing="ij")
    values = np.broadcast_to(np.asarray(evaluate(*grid), dtype=float), grid[0].shape)
    if np.min(values) < 0:
        where = np.unravel_index(np.argmin(values), values.shape)
        at = ", ".join(f"{p.name}={axes[i][where[i]]:.3g}" for i, p in enumerate(system.params))
        return [
            f"warning: the penalty mass M = {mass} is negative on the analysed box "
            f"(min {np.min(values):.3g} at {at}); μ is then not a measure"
        ]
    return []
