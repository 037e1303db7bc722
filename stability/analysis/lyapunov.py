"""Lyapunov checks and the Lemma 1 basin radius.

Where linearisation is inconclusive (Re λ = 0, e.g. a mass with M(0, 0) = 0 in
Lemma 1 of ``003_…``) stability is decided by a Lyapunov function L with
L̇ = ∇L · F ≤ 0 near the equilibrium. The default L = ‖(ψ, θ) − (ψ*, θ*)‖² is
the one of the proof of Lemma 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy

from stability.spec.expressions import exact_value
from stability.spec.lambdify import numeric_function
from stability.symbolic.field import SymbolicField
from stability.util.errors import UserError
from stability.util.timelimit import TimeLimitExceeded, time_limit


@dataclass
class LyapunovCheck:
    """L, its derivative along the flow, and the sign of L̇ on a ball around the centre."""

    function: str
    derivative: str
    radius: float
    max_derivative: float
    nonpositive: bool
    negative_off_center: bool
    derivative_expr: sympy.Expr | None = field(default=None, repr=False, compare=False)
    skipped: list[str] = field(default_factory=list)  # what the budget left out (simplification, a symbolic L̇)

    @property
    def verdict(self) -> str:
        if self.negative_off_center:
            return f"L̇ < 0 on the punctured ball of radius {self.radius:g}: asymptotically stable"
        if self.nonpositive:
            return f"L̇ ≤ 0 on the ball of radius {self.radius:g}: Lyapunov stable"
        return (
            f"L̇ > 0 somewhere in the ball of radius {self.radius:g} (max {self.max_derivative:.3g}): "
            "this L proves nothing"
        )

    def to_dict(self) -> dict:
        keys = ("function", "derivative", "radius", "max_derivative", "nonpositive", "negative_off_center", "skipped")
        return {**{k: getattr(self, k) for k in keys}, "verdict": self.verdict}


#: Beyond this many expression nodes the flow's L̇ = ∇L·F is not built as one sympy expression: it is evaluated as
#: ∇L times the compiled flow (a quadrature flow of 15,000 nodes took minutes to simplify, issue 27).
SYMBOLIC_LIMIT = 1500


def simplify_budget(nodes: int) -> float:
    """Seconds for simplifying L̇: 2 s plus 1 s per 250 nodes of the flow (a polynomial toy needs milliseconds)."""
    return 2.0 + nodes / 250


def lyapunov_check(
    field_: SymbolicField,
    center: dict[str, float],
    function: sympy.Expr | None = None,
    radius: float = 0.5,
    samples: int = 4000,
    seed: int = 0,
    tol: float = 1e-12,
    flow_values: Callable[[np.ndarray], np.ndarray] | None = None,
) -> LyapunovCheck:
    """Derive L̇ = ∇L · F and check its sign on a ball, within a budget proportional to the flow.

    The sign is checked at ``samples`` points: a polar grid in 2-D, seeded uniform draws in the ball otherwise.
    "negative off centre" means L̇ < 0 at every sampled point at distance > radius/100 from the centre.

    The budget: a flow of at most :data:`SYMBOLIC_LIMIT` expression nodes gets L̇ as one expression, simplified within
    :func:`simplify_budget` seconds (past them it stays unsimplified, and ``skipped`` says so); a longer flow gets
    L̇ = ∇L·F evaluated numerically, with F from ``flow_values`` (points (N, n) → F (N, n)) or the field's
    compiled function. The sign check is the same either way.
    """
    params = field_.params
    c = [exact_value(center[p.name], p.name) for p in params]
    if function is None:
        function = sum((p - ci) ** 2 for p, ci in zip(params, c))
    unknown = sympy.sympify(function).free_symbols - set(params)
    if unknown:
        raise UserError(f"Lyapunov function uses unknown symbol(s) {', '.join(sorted(map(str, unknown)))}")
    gradient = [sympy.diff(function, p) for p in params]
    nodes = sum(1 for e in field_.exprs for _ in sympy.preorder_traversal(e))
    skipped: list[str] = []
    points = _ball(np.array([float(v) for v in c]), radius, samples, seed)
    derivative = None
    if nodes <= SYMBOLIC_LIMIT:
        derivative = sum(g * f for g, f in zip(gradient, field_.exprs))
        budget = simplify_budget(nodes)
        try:
            with time_limit(budget):
                derivative = (
                    sympy.factor(sympy.expand(derivative))
                    if derivative.is_polynomial(*params)
                    else sympy.simplify(derivative)
                )
        except TimeLimitExceeded:
            skipped.append(f"dL/dt left unsimplified (simplification ran past its {budget:g} s budget)")
        evaluate = numeric_function(params, derivative)
        with np.errstate(invalid="ignore", divide="ignore"):  # sign(0)-type 0/0 at the centre of non-smooth flows
            values = np.broadcast_to(np.asarray(evaluate(*points.T), dtype=float), (len(points),))
        shown = sympy.sstr(derivative)
    else:
        skipped.append(
            f"dL/dt not formed symbolically (the flow has {nodes:,} expression nodes): evaluated as ∇L·F at "
            f"{len(points)} points"
        )
        grad_fn = numeric_function(params, gradient)
        F = flow_values(points) if flow_values is not None else _compiled_values(field_, points)
        with np.errstate(invalid="ignore", divide="ignore"):
            G = np.stack([np.broadcast_to(np.asarray(g, dtype=float), (len(points),)) for g in grad_fn(*points.T)], 1)
            values = np.sum(G * F, axis=1)
        shown = " + ".join(f"({sympy.sstr(g)})*d{p.name}/dt" for g, p in zip(gradient, params))
    distance = np.linalg.norm(points - np.array([float(v) for v in c]), axis=1)
    values = np.where(np.isnan(values) & (distance < 1e-12), 0.0, values)  # L̇(centre) = 0 by definition
    if np.any(np.isnan(values)):
        raise UserError("the Lyapunov derivative is undefined (NaN) near the centre; the flow is not defined there")
    off_center = distance > radius / 100
    max_value = float(np.max(values))
    return LyapunovCheck(
        function=sympy.sstr(function),
        derivative=shown,
        radius=radius,
        max_derivative=max_value,
        nonpositive=bool(max_value <= tol),
        negative_off_center=bool(np.all(values[off_center] < -tol)),
        derivative_expr=derivative,
        skipped=skipped,
    )


def _compiled_values(field_: SymbolicField, points: np.ndarray) -> np.ndarray:
    F = field_.numpy_function()
    with np.errstate(all="ignore"):
        out = F(*points.T)
    return np.stack([np.broadcast_to(np.asarray(v, dtype=float), (len(points),)) for v in out], 1)


def _ball(center: np.ndarray, radius: float, samples: int, seed: int) -> np.ndarray:
    n = center.size
    if n == 2:
        side = int(np.sqrt(samples))
        r, a = np.meshgrid(np.linspace(0, radius, side), np.linspace(0, 2 * np.pi, side, endpoint=False))
        return center + np.stack([r.ravel() * np.cos(a.ravel()), r.ravel() * np.sin(a.ravel())], 1)
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=(samples, n))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return center + direction * radius * rng.uniform(size=(samples, 1)) ** (1 / n)


def lemma1_basin_radius(
    mass: sympy.Expr,
    psi: sympy.Symbol,
    theta: sympy.Symbol,
    r_max: float = 10.0,
    angles: int = 720,
) -> float:
    """Lemma 1 of ``003_…``: R = max{η ≥ 0 : 2M + ψ ∂_ψM ≥ 0 on the disk of radius η}.

    Along each ray from the origin the first radius where g = 2M + ψ M_ψ turns
    negative is found by scanning and bisection; R is the smallest of these.
    Returns ``inf`` when g ≥ 0 on the whole disk of radius ``r_max``.
    """
    g = 2 * mass + psi * sympy.diff(mass, psi)
    evaluate = numeric_function((psi, theta), g)
    radii = np.linspace(0, r_max, 2001)
    best = np.inf
    for angle in np.linspace(0, 2 * np.pi, angles, endpoint=False):
        cos, sin = np.cos(angle), np.sin(angle)
        values = np.broadcast_to(np.asarray(evaluate(radii * cos, radii * sin), dtype=float), radii.shape)
        negative = np.nonzero(values < 0)[0]
        if negative.size == 0:
            continue
        k = negative[0]
        if k == 0:
            return 0.0
        low, high = radii[k - 1], radii[k]
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if evaluate(middle * cos, middle * sin) >= 0 else (low, middle)
        best = min(best, low)
    return float(best)
