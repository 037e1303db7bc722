"""Equilibria with their class, ready to draw (numbers here, markers in :func:`draw_equilibria`).

Smooth flows use :func:`stability.equilibria.find_equilibria` (exact solve,
numeric fallback) and the exact Jacobian. Flows of non-smooth penalty forms
(WGAN-GP: discontinuous where ∇ₓD = 0) skip ``sympy.solve`` and the symbolic
Jacobian (both slow and meaningless on the kink): a multi-start root search
on the lambdified flow and central differences, with the sign(0) = 0
convention of :mod:`stability.field`.

A continuum (Lemma 3 of ``003_…``: the whole ψ-axis θ = 0) is sampled along
its free parameter; each sample is *attracting* when the eigenvalues
transverse to the continuum (all but the ones along it, which are 0) have
Re λ < 0, *repelling* when one has Re λ > 0, and *neutral* otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy
from matplotlib.axes import Axes
from scipy import optimize

from stability.equilibria import Equilibrium, find_equilibria
from stability.field import SymbolicField
from stability.linear import Tolerance, classify, eigenvalues
from stability.plots.fields import is_nonsmooth, require_plane
from stability.plots.style import CONTINUUM_STYLE, marker_kwargs
from stability.trajectories import evaluate_flow, flow_function, unique_equilibria

#: The class given to a point where the flow is not differentiable (a jump of a
#: non-smooth penalty form): linearisation says nothing there.
NONSMOOTH_POINT = "non-smooth point"


@dataclass
class EquilibriumMark:
    """One equilibrium (or continuum) with its class.

    Attributes:
        equilibrium: what :mod:`stability.equilibria` found.
        point: (ψ, θ) of the point (a representative for a continuum).
        classification: the class of :mod:`stability.linear` at ``point``.
        eigenvalues: of the Jacobian at ``point``.
        segments: for a continuum, ``(points (n, 2), behaviour)`` pieces inside
            the box, behaviour ``"attracting"``, ``"repelling"`` or ``"neutral"``.
        numeric_jacobian: True when the Jacobian came from finite differences.
    """

    equilibrium: Equilibrium
    point: np.ndarray
    classification: str
    eigenvalues: np.ndarray
    segments: list[tuple[np.ndarray, str]] = field(default_factory=list)
    numeric_jacobian: bool = False

    @property
    def kind(self) -> str:
        return self.equilibrium.kind

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "point": self.point.tolist(),
            "exact": self.equilibrium.exact,
            "classification": self.classification,
            "eigenvalues": [[float(v.real), float(v.imag)] for v in self.eigenvalues],
            "continuum_behaviour": sorted({b for _, b in self.segments}),
            "numeric_jacobian": self.numeric_jacobian,
        }


def numeric_jacobian(field_: SymbolicField, point: Sequence[float], step: float = 1e-6) -> np.ndarray:
    """Central-difference Jacobian of the lambdified flow (for non-smooth forms)."""
    x = np.asarray(point, dtype=float)
    n = x.size
    J = np.empty((n, n))
    for j in range(n):
        h = step * max(1.0, abs(x[j]))
        e = np.zeros(n)
        e[j] = h
        plus = np.array(evaluate_flow(field_, *(x + e))).ravel()
        minus = np.array(evaluate_flow(field_, *(x - e))).ravel()
        J[:, j] = (plus - minus) / (2 * h)
    return J


def is_differentiable(field_: SymbolicField, point: Sequence[float], rtol: float = 1e-3) -> bool:
    """False when central differences at two step sizes disagree (a jump of the flow at ``point``)."""
    fine, coarse = numeric_jacobian(field_, point, 1e-7), numeric_jacobian(field_, point, 1e-4)
    return bool(np.max(np.abs(fine - coarse)) <= rtol * (1.0 + np.max(np.abs(coarse))))


def _axis_continua(
    field_: SymbolicField, roots: list[Equilibrium], box: Sequence[float], tol: float = 1e-9
) -> list[Equilibrium]:
    """Replace ≥ 3 numeric roots on one line θ = c (or ψ = c) by a continuum when F vanishes along it."""
    names = [p.name for p in field_.params]
    kept = list(roots)
    found: list[Equilibrium] = []
    for fixed in (1, 0):
        values = [round(e.point[names[fixed]], 6) for e in kept]
        for c in sorted({v for v in values if values.count(v) >= 3}):
            free = np.linspace(box[0], box[1], 41) if fixed == 1 else np.linspace(box[2], box[3], 41)
            line = (free, np.full_like(free, c)) if fixed == 1 else (np.full_like(free, c), free)
            if max(float(np.max(np.abs(v))) for v in evaluate_flow(field_, *line)) > tol:
                continue
            members = [e for e in kept if round(e.point[names[fixed]], 6) == c]
            kept = [e for e in kept if e not in members]
            found.append(
                Equilibrium(members[0].point, "continuum", {names[fixed]: f"{c:g}"}, [names[1 - fixed]], "numeric")
            )
    return kept + found


def _numeric_roots(
    field_: SymbolicField,
    box: Sequence[float],
    starts_per_axis: int = 9,
    iterations: int = 60,
    residual_tol: float = 1e-9,
    distinct_tol: float = 1e-6,
) -> list[Equilibrium]:
    """Equilibria in the box by damped Newton from a grid of starts, all starts at once.

    Vectorised over the starts (one flow evaluation per iteration and
    finite-difference column), then the converged candidates are polished with
    ``scipy.optimize.root`` and kept when ‖F‖ < ``residual_tol``.
    """
    axes = [np.linspace(box[0], box[1], starts_per_axis), np.linspace(box[2], box[3], starts_per_axis)]
    x = np.stack(np.meshgrid(*axes, indexing="ij")).reshape(2, -1)  # (2, N)
    max_step = 0.25 * max(box[1] - box[0], box[3] - box[2])
    F = lambda y: np.stack(evaluate_flow(field_, y[0], y[1]))  # noqa: E731
    with np.errstate(all="ignore"):
        for _ in range(iterations):
            value = F(x)
            h = 1e-7 * np.maximum(1.0, np.abs(x))
            J = np.empty((2, 2, x.shape[1]))
            for j in range(2):
                e = np.zeros_like(x)
                e[j] = h[j]
                J[:, j] = (F(x + e) - F(x - e)) / (2 * h[j])
            det = J[0, 0] * J[1, 1] - J[0, 1] * J[1, 0]
            step = np.stack([J[1, 1] * value[0] - J[0, 1] * value[1], -J[1, 0] * value[0] + J[0, 0] * value[1]]) / det
            step = np.where(np.isfinite(step), step, 0.0)
            length = np.linalg.norm(step, axis=0)
            step *= np.minimum(1.0, max_step / np.maximum(length, 1e-300))
            x = x - step
        residual = np.linalg.norm(F(x), axis=0)
    candidates = [x[:, k] for k in np.argsort(residual) if np.isfinite(residual[k]) and residual[k] < 1e-4]
    function = flow_function(field_)
    value_at = lambda v: np.array([float(c) for c in function(*v)])  # noqa: E731
    roots: list[np.ndarray] = []
    for candidate in candidates:
        if any(np.linalg.norm(candidate - r) <= distinct_tol for r in roots):
            continue
        root = optimize.root(value_at, candidate, method="hybr").x
        if not np.all(np.isfinite(root)) or np.linalg.norm(value_at(root)) > residual_tol:
            continue
        if not (box[0] - 1e-9 <= root[0] <= box[1] + 1e-9 and box[2] - 1e-9 <= root[1] <= box[3] + 1e-9):
            continue
        if all(np.linalg.norm(root - r) > distinct_tol for r in roots):
            roots.append(root)
    names = [p.name for p in field_.params]
    roots.sort(key=tuple)
    return [Equilibrium(dict(zip(names, map(float, r))), "isolated", None, [], "numeric") for r in roots]


def find_marks(
    field_: SymbolicField,
    box: Sequence[float],
    equilibria: Sequence[Equilibrium] | None = None,
    timeout: float = 5.0,
    samples: int = 120,
    tol: Tolerance = Tolerance(atol=1e-7, rtol=1e-7),
) -> list[EquilibriumMark]:
    """Equilibria of a planar flow inside ``box`` = (ψmin, ψmax, θmin, θmax), classified.

    Args:
        field_: the flow (one ψ, one θ).
        box: the drawing box; isolated points outside it are dropped.
        equilibria: skip the search and classify these.
        timeout: for ``sympy.solve``.
        samples: points along a continuum at which its behaviour is checked.
        tol: what counts as Re λ = 0.
    """
    names = require_plane(field_)
    nonsmooth = is_nonsmooth(field_)
    if equilibria is None:
        if nonsmooth:
            equilibria = _axis_continua(field_, _numeric_roots(field_, box), box)
        else:
            equilibria, _ = find_equilibria(field_, box=[(box[0], box[1]), (box[2], box[3])], timeout=timeout)
    jacobian = (lambda p: numeric_jacobian(field_, p)) if nonsmooth else field_.jacobian  # noqa: E731
    marks = []
    for equilibrium in unique_equilibria(list(equilibria)):
        point = np.array([equilibrium.point[n] for n in names], dtype=float)
        eigs = eigenvalues(jacobian(point))
        classification, _ = classify(eigs, tol)
        if nonsmooth and equilibrium.kind != "continuum" and not is_differentiable(field_, point):
            classification, eigs = NONSMOOTH_POINT, np.array([], dtype=complex)
        mark = EquilibriumMark(equilibrium, point, classification, eigs, numeric_jacobian=nonsmooth)
        if equilibrium.kind == "continuum":
            mark.segments = _continuum_segments(equilibrium, names, box, jacobian, samples, tol)
        marks.append(mark)
    return marks


def _continuum_segments(equilibrium, names, box, jacobian, samples, tol) -> list[tuple[np.ndarray, str]]:
    free = equilibrium.free
    if len(free) != 1:
        return []  # the whole plane (or nothing drawable)
    symbols = {n: sympy.Symbol(n, real=True) for n in names}
    free_index = names.index(free[0])
    fixed_index = 1 - free_index
    fixed_name = names[fixed_index]
    solution = {s.name: e for s, e in (equilibrium.solution or {}).items()}
    expr = sympy.sympify(solution.get(fixed_name, 0))
    expr = expr.xreplace({s: symbols[s.name] for s in expr.free_symbols if s.name in symbols})
    along = sympy.lambdify(symbols[free[0]], expr, modules="numpy")
    low, high = (box[0], box[1]) if free_index == 0 else (box[2], box[3])
    t = np.linspace(low, high, samples)
    s = np.broadcast_to(np.asarray(along(t), dtype=float), t.shape)
    points = np.empty((samples, 2))
    points[:, free_index], points[:, fixed_index] = t, s
    lo_fixed, hi_fixed = (box[2], box[3]) if fixed_index == 1 else (box[0], box[1])
    inside = (s >= lo_fixed) & (s <= hi_fixed)
    behaviour = []
    for p in points:
        eigs = eigenvalues(jacobian(p))
        transverse = eigs[np.argsort(np.abs(eigs))][len(free) :]  # drop the zero eigenvalue along the continuum
        zero = tol.zero(eigs)
        if transverse.size and np.all(transverse.real < -zero):
            behaviour.append("attracting")
        elif np.any(transverse.real > zero):
            behaviour.append("repelling")
        else:
            behaviour.append("neutral")
    segments: list[tuple[np.ndarray, str]] = []
    i = 0
    while i < samples:
        if not inside[i]:
            i += 1
            continue
        j = i
        while j + 1 < samples and inside[j + 1] and behaviour[j + 1] == behaviour[i]:
            j += 1
        end = j + 2 if j + 1 < samples and inside[j + 1] else j + 1  # overlap one point: pieces join up
        segments.append((points[i:end], behaviour[i]))
        i = j + 1
    return segments


def draw_equilibria(ax: Axes, marks: Sequence[EquilibriumMark], size: float = 8.0, labels: bool = True) -> None:
    """Markers by class: filled = stable, hollow = unstable/saddle/center/non-hyperbolic; lines for continua."""
    for mark in marks:
        if mark.kind == "continuum":
            for points, behaviour in mark.segments:
                style = CONTINUUM_STYLE[behaviour]
                ax.plot(
                    points[:, 0],
                    points[:, 1],
                    zorder=5,
                    solid_capstyle="butt",
                    label=f"equilibria, continuum ({behaviour})" if labels else None,
                    **style,
                )
        else:
            ax.plot(
                [mark.point[0]],
                [mark.point[1]],
                label=mark.classification if labels else None,
                **marker_kwargs(mark.classification, size),
            )
