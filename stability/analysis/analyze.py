"""Analysis of a flow at its equilibria (or given points), as one report.

Ties together :mod:`~stability.analysis.equilibria`, :mod:`~stability.analysis.linear`,
:mod:`~stability.analysis.lyapunov` and the checks a spec needs before its numbers can
be trusted (non-smooth penalty forms, negative masses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy

from stability.analysis.equilibria import Equilibrium, find_equilibria
from stability.analysis.linear import CENTER, NON_HYPERBOLIC, LinearAnalysis, Tolerance, linearise
from stability.analysis.lyapunov import LyapunovCheck, lyapunov_check
from stability.spec.lambdify import numeric_function
from stability.spec.system import GanSystem
from stability.symbolic.field import SymbolicField
from stability.util.errors import TooLarge, within_limit


@dataclass
class PointReport:
    """Everything known about one equilibrium (or a user-given point)."""

    linear: LinearAnalysis
    equilibrium: Equilibrium | None = None
    lyapunov: LyapunovCheck | None = None
    residual: float = 0.0

    def to_dict(self) -> dict:
        out = self.linear.to_dict()
        if self.equilibrium is not None:
            out["kind"] = self.equilibrium.kind
            out["exact"] = self.equilibrium.exact
            out["free"] = self.equilibrium.free
            out["method"] = self.equilibrium.method
        out["residual"] = self.residual
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

    def to_dict(self) -> dict:
        return {
            "system": self.system,
            "vector_field": self.vector_field,
            "equilibria": [p.to_dict() for p in self.points],
            "notes": self.notes,
        }


def analyze(
    field_: SymbolicField,
    at: dict[str, float] | None = None,
    box: list[tuple[float, float]] | None = None,
    tol: Tolerance | None = None,
    lyapunov_radius: float = 0.5,
) -> AnalysisReport:
    """Equilibria (or the point ``at``), Jacobians, eigenvalues, classes, steps.

    Inconclusive linearisations (center, non-hyperbolic) of isolated points
    get a Lyapunov check with L = ‖(ψ, θ) − (ψ*, θ*)‖².
    """
    system = field_.system
    notes = list(field_.notes) + degenerate_notes(field_)
    if at is not None:
        candidates = [
            Equilibrium(dict(zip([p.name for p in field_.params], field_.as_vector(at))), "given point", method="given")
        ]
    else:
        candidates, found_notes = find_equilibria(field_, box)
        notes += found_notes
        if not candidates:
            notes.append("no equilibrium found")
    if box is not None:
        notes += mass_warnings(system, box)
    points = []
    for candidate in candidates:
        vector = field_.as_vector(candidate.point)
        linear = linearise(candidate.point, field_.jacobian(vector), len(system.psi), tol)
        linear.notes += nonsmooth_notes(system, candidate.point)
        flow = field_.value(vector)
        report = PointReport(linear, candidate, residual=float(np.linalg.norm(flow)))
        if candidate.method == "given" and report.residual > 1e-9 * (1 + np.linalg.norm(linear.jacobian)):
            moving = ", ".join(f"d{p.name}/dt = {v:.3g}" for p, v in zip(field_.params, flow))
            linear.notes.insert(
                0,
                f"not an equilibrium: the flow here is {moving} (‖F‖ = {report.residual:.3g}); the class describes "
                "the linearisation at this point only",
            )
        if linear.classification in (CENTER, NON_HYPERBOLIC) and candidate.kind != "continuum":
            try:
                with within_limit("the Lyapunov check", "its verdict is left open"):
                    report.lyapunov = lyapunov_check(field_, candidate.point, radius=lyapunov_radius)
            except TooLarge as exc:  # an optional refinement: say so and keep the linear verdict
                linear.notes.append(f"Lyapunov check skipped: {exc}")
            except OverflowError:  # exact numbers beyond float64 in L̇ (a 10^600 from the spec's 1e300s)
                linear.notes.append("Lyapunov check skipped: dL/dt has numbers beyond float64's range")
        points.append(report)
    return AnalysisReport(system.describe(), field_.describe(), points, notes)


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
