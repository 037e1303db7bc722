"""Equilibria with their class, ready to draw (numbers here, markers in :func:`draw_equilibria`).

Smooth flows use :func:`stability.analysis.equilibria.find_equilibria` (exact solve,
numeric fallback) and the exact Jacobian. Flows of non-smooth penalty forms
(WGAN-GP: discontinuous where ∇ₓD = 0) skip ``sympy.solve`` and the symbolic
Jacobian (both slow and meaningless on the kink): a multi-start root search
on the lambdified flow and central differences, with the sign(0) = 0
convention of :mod:`stability.symbolic.field`.

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

from stability.analysis.equilibria import Equilibrium, find_equilibria, solve_numeric
from stability.analysis.linear import Tolerance, classify, eigenvalues
from stability.analysis.trajectories import evaluate_flow, unique_equilibria
from stability.plots.fields import is_nonsmooth, require_plane
from stability.plots.style import CONTINUUM_STYLE, marker_kwargs
from stability.spec.lambdify import numeric_function
from stability.symbolic.field import SymbolicField

#: The class given to a point where the flow is not differentiable (a jump of a
#: non-smooth penalty form): linearisation says nothing there.
NONSMOOTH_POINT = "non-smooth point"


@dataclass
class EquilibriumMark:
    """One equilibrium (or continuum) with its class.

    Attributes:
        equilibrium: what :mod:`stability.analysis.equilibria` found.
        point: (ψ, θ) of the point (a representative for a continuum).
        classification: the class of :mod:`stability.analysis.linear` at ``point``.
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
            equilibria = _axis_continua(field_, solve_numeric(field_, [(box[0], box[1]), (box[2], box[3])]), box)
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
    along = numeric_function(symbols[free[0]], expr)
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
