"""Discrete-time stability of an update rule at a point: radius, rate, largest stable step, optimal step.

A rule of :mod:`stability.analysis.update_rules` is a map z' = z + Δ(z) on (parameters, optimiser memory); near a
fixed point its offsets evolve by the linearised map T = I + ∂Δ/∂z, so the local rate is the spectral radius
ρ(T) (ρ(T) < 1: locally convergent, Mescheder et al. 2017, Lemma 4, for ``sim``). Here ∂Δ/∂z is the derivative of the
rule's own map by torch.func (jacrev for dense systems, VJPs of one retained graph for networks); nothing is
re-derived by hand. Reported per rule:

* ``radius`` ρ(T) at the rule's step, and the rate per gradient evaluation ρ(T)^(1/G) with G the players' gradient
  evaluations per map step (:attr:`~stability.analysis.update_rules.UpdateRule.gradients`);
* the largest stable step: the largest h such that the rule with lr_d = h (lr_g = c·h, c = lr_g/lr_d as given)
  contracts for every step in (0, h); tested as max(2 Re κ + |κ|²) < 0 over the eigenvalues κ of ∂Δ/∂z
  (|1 + κ| < 1 without forming 1 + κ), on a geometric scan then bisection;
* the optimum: the step (and momentum β, for rules with ``momentum``) minimising ρ(T), on a batched grid, then
  refined by zoomed grids in log h (1-D) or by scipy's Nelder–Mead in (log h, β) (2-D), see :func:`optimal_hyper`.

At a fixed point of the map (v(w*) = 0, zero memory) the GD family's derivative depends on v only through
J = ∂v/∂w(w*) (every field evaluation of the map is at w*), so the searches there run the same map on the linear
field Jw in numpy (:func:`linear_evaluator`, checked against torch.func at one step); elsewhere, and for Adam and
RMSprop, every point is torch.func's.

Adam and RMSprop: the radius is that of the map on (w, m) with the second moment v held at its assumed value (the
rule's ``v``/``t`` or a checkpoint's optimiser state, always stated in ``assumed_state``); at g = 0 the v block only
decays by β₂ (α) on its own, and ``state_radius`` (dense) includes it.

Closed forms on the Dirac GAN (Lemma 1 of ``003_…``: J = [[−ρ, −1], [1, 0]] for every probability measure, since
∇ₓD = ψ does not depend on x), with one step h for both players:

*Simultaneous GD.* T = I + hJ, eigenvalues 1 + hλ with λ = (−ρ ± √(ρ² − 4))/2.
For ρ < 2, |λ| = 1 and |1 + hλ|² = 1 − ρh + h², minimal at h* = ρ/2 with ρ(T)* = √(1 − ρ²/4); stable iff h < ρ.
For ρ ≥ 2 both λ are real, λ₁ ≤ λ₂ < 0; max(|1 + hλ₁|, |1 + hλ₂|) is least where 1 + hλ₂ = −(1 + hλ₁), i.e.
h* = −2/(λ₁ + λ₂) = 2/ρ, with ρ(T)* = 1 + h*λ₂ = √(ρ² − 4)/ρ = √(1 − 4/ρ²).

*Alternating GD* (ψ first). T = [[1 − hρ, −h], [h(1 − hρ), 1 − h²]]: det T = 1 − hρ, tr T = 2 − hρ − h²; the
discriminant tr² − 4 det = h²((ρ + h)² − 4), so the eigenvalues are complex, of modulus √(1 − hρ), for h < 2 − ρ,
and real beyond. In the complex range ρ(T) falls with h down to |1 − ρ| at h = 2 − ρ (a double eigenvalue ρ − 1).
In the real range the larger root r₊ has one stationary point, a maximum, at h = (4 − ρ²)/(2ρ) (and none for
ρ ≥ 2), while the smaller root r₋ only falls, so max(|r₊|, |r₋|) is least either at h = 2 − ρ or where r₊ = −r₋,
i.e. tr T = 0: h₀ = (√(ρ² + 8) − ρ)/2, where ρ(T)² = −det T = ρh₀ − 1. Hence

    ρ ≤ 1:          h* = 2 − ρ,  ρ(T)* = 1 − ρ          (h₀ lies in the complex range there)
    1 ≤ ρ ≤ ρ_c:    h* = 2 − ρ,  ρ(T)* = ρ − 1
    ρ ≥ ρ_c:        h* = h₀,     ρ(T)* = √(ρh₀ − 1)

with ρ_c ≈ 1.5437 the real root of ρ³ − 2ρ² + 2ρ − 2 = 0, where (ρ − 1)² = ρh₀ − 1. Alternating GD is stable iff
h < min(2/ρ, √(ρ² + 4) − ρ) (Jury: |det| < 1 and 1 + det > |tr|). At ρ = 1 the optimum h* = 1 gives the nilpotent
T = [[0, −1], [0, 0]]: convergence in two steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stability.analysis.update_rules import FieldFn, RuleState, UpdateRule, as_rule, assumed_state, parameters
from stability.util.errors import UserError

#: Largest number of dynamic state entries for which the dense linearisation is formed.
DENSE_LIMIT = 600
#: Relative width to which the largest stable step is bisected.
STEP_RTOL = 1e-10
#: Momenta searched for the optimum of rules with ``momentum``.
MOMENTUM_RANGE = (-0.95, 0.95)


# ---- the linearised map -------------------------------------------------------------------------------------------


def dynamic_index(rule: UpdateRule, n: int) -> np.ndarray:
    """Entries of the state the radius is taken over: w and every memory slot except the frozen ones."""
    keep = [0] + [i + 1 for i, s in enumerate(rule.slots) if s not in rule.frozen_slots]
    return np.concatenate([np.arange(k * n, (k + 1) * n) for k in keep])


def increment_function(rule: UpdateRule, state: RuleState, field_fn: FieldFn) -> Callable[[Any], Any]:
    """z ↦ Δ(z) at the state's step counts: the pure function torch.func differentiates."""

    def increment(z: Any) -> Any:
        return rule.increment(RuleState(z, state.n_psi, state.steps), field_fn)[0]

    return increment


def increment_jacobian(rule: UpdateRule, state: RuleState, field_fn: FieldFn, frozen: bool = True) -> Any:
    """∂Δ/∂z = T − I (torch, dense, by jacrev: reverse mode over the field's own reverse pass; forward mode would
    first import torch's compiler, seconds), on the dynamic entries when ``frozen``."""
    import torch

    D = torch.func.jacrev(increment_function(rule, state, field_fn))(state.z)
    if frozen and rule.frozen_slots:
        index = torch.as_tensor(dynamic_index(rule, _size(rule, state)))
        D = D[index][:, index]
    return D


def grid_increment_jacobians(
    rule: UpdateRule,
    state: RuleState,
    field_fn: FieldFn | Callable[[Any, Any], Any],
    axes: dict[str, Any],
    frozen: bool = True,
    chunk: int = 1024,
    bar: Any = None,
) -> Any:
    """∂Δ/∂z for a batch of hyper-parameters at once (torch.func.vmap over jacrev), shape (B, N, N).

    Args:
        axes: name → 1-D tensor of B values; ``step`` scales lr_d (lr_g = c·lr_d), ``rho`` is handed to
            ``field_fn(w, rho)`` (a penalty-weight family, :func:`penalty_weight_family`), any other name
            replaces that hyper-parameter (``momentum``, ``beta1``, ``lr_d``, …).
        chunk: grid points per vmapped call (memory; the progress ``bar`` advances per chunk).
    """
    import torch

    names = list(axes)
    columns = [torch.as_tensor(axes[name], dtype=state.z.dtype).reshape(-1) for name in names]
    index = torch.as_tensor(dynamic_index(rule, _size(rule, state))) if frozen and rule.frozen_slots else None

    def one(*values: Any) -> Any:
        chosen = dict(zip(names, values))
        step, rho = chosen.pop("step", None), chosen.pop("rho", None)
        current = rule.with_values(**chosen) if chosen else rule
        if step is not None:
            current = current.with_step(step)
        fn = field_fn if rho is None else (lambda w: field_fn(w, rho))
        D = torch.func.jacrev(increment_function(current, state, fn))(state.z)
        return D if index is None else D[index][:, index]

    batched = torch.func.vmap(one)
    total = columns[0].shape[0] if columns else 0
    parts = []
    for start in range(0, total, chunk):
        parts.append(batched(*[c[start : start + chunk] for c in columns]))
        if bar is not None:
            bar.update(min(chunk, total - start))
    return torch.cat(parts) if parts else torch.zeros(0)


def radius_and_margin(increments: Any, null_dim: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ρ(T) = max|1 + κ| and max(2 Re κ + |κ|²) (< 0: contracting) over the eigenvalues κ of each ∂Δ/∂z.

    ``null_dim`` eigenvalues nearest 0 are left out: the directions along a continuum of equilibria, where T has the
    eigenvalue 1 whatever the rule (the *transverse* radius). Returns (radius (B,), margin (B,), κ (B, N − null_dim)).
    """
    D = np.asarray(increments.detach().numpy() if hasattr(increments, "detach") else increments, dtype=float)
    if D.ndim == 2:
        D = D[None]
    with np.errstate(all="ignore"):
        kappa = np.linalg.eigvals(D)
    if null_dim:
        order = np.argsort(np.abs(kappa), axis=1)
        kappa = np.take_along_axis(kappa, order[:, null_dim:], axis=1)
    radius = np.max(np.abs(1 + kappa), axis=1) if kappa.shape[1] else np.zeros(len(D))
    margin = np.max(2 * kappa.real + np.abs(kappa) ** 2, axis=1) if kappa.shape[1] else np.full(len(D), -np.inf)
    return radius, margin, kappa


def contracting(margin: np.ndarray, increments: np.ndarray) -> np.ndarray:
    """The stability test on the margin, with a round-off allowance of 64 ε‖∂Δ/∂z‖ (a tie is not a contraction)."""
    D = np.asarray(increments, dtype=float)
    if D.ndim == 2:
        D = D[None]
    norms = np.linalg.norm(D.reshape(len(D), -1), axis=1)
    return np.asarray(margin) < -64 * np.finfo(float).eps * norms


# ---- steps ----------------------------------------------------------------------------------------------------------

#: A batch evaluator: steps (B,) → ∂Δ/∂z (B, N, N) as numpy.
Increments = Callable[[np.ndarray], np.ndarray]


def step_scale(increments: Increments, start: float = 1.0, rounds: int = 12) -> float | None:
    """The step h at which the step's part of ∂Δ/∂z has size about 1: h ← h/‖∂Δ/∂z(h) − ∂Δ/∂z(0)‖₂.

    ∂Δ/∂z(0) is what the memory does without a step (a momentum buffer's β − 1, Adam's moment decays), which does
    not scale with h. For ``sim`` one round gives 1/‖J‖; rules with h² terms (alternating, extragradient) or a gain
    lr/(√v + ε) (Adam) settle in a few. ``None`` when the step changes nothing (a zero field).
    """
    base = increments(np.array([0.0]))[0]
    probes = start * np.array([1.0, 1e-3, 1e3, 0.37, 2.9])  # a zero at one step can be a coincidence (EG at h = −1/λ)
    sizes = [float(np.linalg.norm(D - base, 2)) if D.size else 0.0 for D in increments(probes)]
    usable = [(h, size) for h, size in zip(probes, sizes) if np.isfinite(size) and size > 0]
    if not usable:
        return None
    h, size = usable[0]
    for _ in range(rounds):
        previous, h = h, h / size
        if abs(math.log(h / previous)) < 1e-3:
            break
        D = increments(np.array([h]))[0] - base
        size = float(np.linalg.norm(D, 2)) if D.size else 0.0
        if not np.isfinite(size) or size == 0.0:
            return previous  # overflow, or an exact zero of the increment: the last good scale will do
    return h


def largest_stable_step(
    increments: Increments,
    scale: float,
    smallest: float | None = None,
    null_dim: int = 0,
    points: int | None = None,
    round_points: int | None = None,
) -> tuple[float | None, str | None]:
    """The largest h such that the map contracts for every step in (0, h), and a note when it is only a bound.

    Scans h on a geometric grid of ``points`` steps from ``smallest`` (default 1e-6·scale) to 20·scale, all at
    once, then narrows the first crossing with batched grids of ``round_points`` steps (each round one vectorised
    evaluation; 3 is a bisection) to :data:`STEP_RTOL`. Both default to :func:`step_search_budget` of the map's
    size. ``None`` when even the smallest step does not contract.
    """
    low = 1e-6 * scale if smallest is None else min(1e-6 * scale, smallest)
    if points is None or round_points is None:
        budget = step_search_budget(increments(np.array([low]))[0].shape[-1])
        points = budget[0] if points is None else points
        round_points = budget[1] if round_points is None else round_points
    round_points = max(3, int(round_points))
    grid = np.geomspace(max(low, 1e-300), 20 * scale, points)
    ok = _contracting_at(increments, grid, null_dim)
    if not ok[0]:
        return None, None
    bad = np.flatnonzero(~ok)
    if bad.size == 0:
        return float(
            grid[-1]
        ), f"contracting up to the largest step tried ({grid[-1]:.3g}); the true limit may be larger"
    lo, hi = float(grid[bad[0] - 1]), float(grid[bad[0]])
    while hi - lo > STEP_RTOL * hi:
        inner = np.linspace(lo, hi, round_points)[1:-1]
        ok = _contracting_at(increments, inner, null_dim)
        first = np.flatnonzero(~ok)
        if first.size == 0:
            lo = float(inner[-1])
        else:
            hi = float(inner[first[0]])
            lo = float(inner[first[0] - 1]) if first[0] > 0 else lo
    return lo, None


#: Steps per batched refinement round.
ROUND_POINTS = 65


def step_search_budget(size: int) -> tuple[int, int]:
    """(grid points, refinement points) of :func:`largest_stable_step` for a dense map of ``size`` state entries.

    Every point is an eigen-decomposition of a size × size matrix: 600 grid points and 65 per round cost nothing at
    the toys' sizes but 2 minutes at size 363 (a width-8 network's alternating map), so past 64 entries the grid
    shrinks with size³ (at least 24 points) and the refinement is a bisection, one decomposition per round.
    """
    if size <= 64:
        return 600, ROUND_POINTS
    return max(24, int(600 * (64 / size) ** 3)), 3


def _contracting_at(increments: Increments, steps: np.ndarray, null_dim: int) -> np.ndarray:
    D = increments(steps)
    return contracting(radius_and_margin(D, null_dim)[1], D)


def optimal_hyper(
    radius_of: Callable[[np.ndarray], np.ndarray],
    scale: float,
    with_momentum: bool,
    step_range: tuple[float, float] = (1e-4, 20.0),
    resolution: tuple[int, int] = (400, 81),
    tol: float = 1e-11,
    polish: int = 2000,
    starts: int = 3,
) -> dict[str, float]:
    """The step (and momentum) minimising the radius: a batched grid, then local refinement.

    ``radius_of`` maps rows (log h[, β]) to radii, all at once. The radius is a maximum of eigenvalue moduli, not
    smooth where two of them meet, and at a coalescing pair it has a cusp (it grows like √ of the distance), which is
    where optima of momentum rules sit. 1-D: batched grids of 65 points one cell either side of the best point, until
    a cell is below ``tol`` in log h. 2-D: the ``starts`` best separated points of the (log h, β) grid, each polished
    by scipy's Nelder–Mead (at most ``polish`` evaluations; its simplex closes in on a cusp where a grid cannot),
    β kept in :data:`MOMENTUM_RANGE`.
    """
    logs = np.log(scale) + np.linspace(np.log(step_range[0]), np.log(step_range[1]), resolution[0])
    if not with_momentum:
        radii = radius_of(logs[:, None])
        i = int(np.nanargmin(radii))
        best, value = logs[i], radii[i]
        width = logs[1] - logs[0]
        while width > tol:
            inner = np.linspace(best - width, best + width, ROUND_POINTS)
            radii = radius_of(inner[:, None])
            j = int(np.nanargmin(radii))
            if radii[j] <= value:
                best, value = inner[j], radii[j]
            width = inner[1] - inner[0]
        return {"step": float(np.exp(best)), "radius": float(value)}
    from scipy.optimize import minimize

    betas = np.linspace(*MOMENTUM_RANGE, resolution[1])
    L, B = np.meshgrid(logs, betas)
    radii = radius_of(np.stack([L.ravel(), B.ravel()], axis=1)).reshape(L.shape)
    cell = np.array([logs[1] - logs[0], betas[1] - betas[0]])
    chosen: list[np.ndarray] = []
    for flat in np.argsort(np.nan_to_num(radii, nan=np.inf), axis=None):
        j, i = np.unravel_index(flat, radii.shape)
        point = np.array([L[j, i], B[j, i]])
        if all(np.max(np.abs(point - c) / cell) > 3 for c in chosen):  # a different basin, not a neighbour
            chosen.append(point)
        if len(chosen) == starts:
            break
    best, value = chosen[0], float(np.nanmin(radii))
    bounds = [(logs[0], logs[-1]), MOMENTUM_RANGE]
    for start in chosen:
        found = minimize(
            lambda x: float(radius_of(np.asarray(x)[None])[0]),
            start,
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": tol, "fatol": 1e-15, "maxfev": polish, "initial_simplex": _simplex(start, cell, bounds)},
        )
        if found.fun < value:
            best, value = np.asarray(found.x), float(found.fun)
    return {"step": float(np.exp(best[0])), "momentum": float(best[1]), "radius": float(value)}


def _simplex(start: np.ndarray, cell: np.ndarray, bounds: list[tuple[float, float]]) -> np.ndarray:
    """A first simplex one grid cell wide, turned inwards at the bounds."""
    simplex = np.array([start, start + [cell[0], 0], start + [0, cell[1]]])
    for d, (lo, hi) in enumerate(bounds):
        over = simplex[:, d] > hi
        simplex[over, d] -= 2 * cell[d]
        simplex[:, d] = np.clip(simplex[:, d], lo, hi)
    return simplex


# ---- the analysis of one rule at one point ----------------------------------------------------------------------


@dataclass
class RuleAnalysis:
    """Discrete-time stability of one update rule at one point.

    Attributes:
        rule: the rule in the syntax of :func:`~stability.analysis.update_rules.parse_rule`.
        description: the rule in words.
        assumed_state: the optimiser memory the linearisation is taken at (Adam, RMSprop), ``None`` otherwise.
        radius: ρ(T) at the rule's own step (``None`` when the rule gives no step).
        rate_per_gradient: radius^(1/G), G the gradient evaluations per map step (critic + generator).
        gradients: (critic, generator) gradient evaluations per map step.
        stable: radius < 1 (by the margin test, see :func:`contracting`).
        max_stable_step: the largest stable lr_d (lr_g = step_ratio·lr_d), dense systems only.
        optimum: ``{"lr_d", "lr_g", ["momentum"], "radius", "rate_per_gradient"}`` minimising the radius.
        eigenvalues: of T at the rule's step (complete for dense, the computed ones for matrix-free).
        state_radius: ρ(T) on the whole state, the frozen second moment included (dense Adam/RMSprop).
        null_dim: eigenvalues along a continuum of equilibria left out (transverse radius).
        vectors: matrix-free, when asked for: ARPACK's Ritz vectors of Tᵀ on the dynamic entries, in the eigenvalues'
            order (a warm start for the next checkpoint); not in :meth:`to_dict`.
        warm_start: the matrix-free search started from a given vector.
    """

    rule: str
    description: str
    point: dict[str, float] | None
    assumed_state: str | None
    radius: float | None
    rate_per_gradient: float | None
    gradients: tuple[int, int]
    stable: bool | None
    max_stable_step: float | None
    step_ratio: float
    optimum: dict[str, float] | None
    eigenvalues: np.ndarray
    complete: bool
    method: str
    products: int = 0
    seconds: float = 0.0
    state_radius: float | None = None
    null_dim: int = 0
    notes: list[str] = field(default_factory=list)
    vectors: np.ndarray | None = None
    warm_start: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "description": self.description,
            "point": self.point,
            "assumed_state": self.assumed_state,
            "radius": self.radius,
            "rate_per_gradient": self.rate_per_gradient,
            "gradients_per_step": {"critic": self.gradients[0], "generator": self.gradients[1]},
            "stable": self.stable,
            "max_stable_step": self.max_stable_step,
            "step_ratio": self.step_ratio,
            "optimum": self.optimum,
            "eigenvalues": [[float(v.real), float(v.imag)] for v in self.eigenvalues],
            "complete": self.complete,
            "method": self.method,
            "products": self.products,
            "seconds": self.seconds,
            "state_radius": self.state_radius,
            "null_dim": self.null_dim,
            "notes": list(self.notes),
            "warm_start": self.warm_start,
        }

    def summary(self) -> str:
        """One line for text reports."""
        parts = [self.rule]
        if self.radius is not None:
            parts.append(f"radius {self.radius:.6g} ({'stable' if self.stable else 'not stable'})")
            parts.append(f"rate/gradient {self.rate_per_gradient:.6g}")
        if self.max_stable_step is not None:
            parts.append(f"largest stable lr_d {self.max_stable_step:.6g}")
        if self.optimum is not None:
            best = f"lr_d {self.optimum['lr_d']:.6g}"
            if "momentum" in self.optimum:
                best += f", momentum {self.optimum['momentum']:.4g}"
            if self.optimum["radius"] < 1:
                rate = self.optimum["rate_per_gradient"]
                parts.append(f"fastest {best}: radius {self.optimum['radius']:.6g}, rate/gradient {rate:.6g}")
            else:
                parts.append(f"no step contracts (least radius {self.optimum['radius']:.6g} at {best})")
        return "; ".join(parts)


def rate_per_gradient(radius: float, rule: UpdateRule) -> float:
    """radius^(1/G): the contraction per gradient evaluation (G = critic + generator gradients per map step)."""
    return float(radius) ** (1.0 / sum(rule.gradients))


def analyze_rule(
    rule: UpdateRule | str,
    field_: Any,
    point: Any = None,
    *,
    state: RuleState | None = None,
    null_dim: int = 0,
    optimise: bool = True,
    dense_limit: int = DENSE_LIMIT,
    k: int = 6,
    tol: float | None = None,
    ncv: int | None = None,
    progress: bool = False,
    increments: bool = False,
    v0: np.ndarray | None = None,
    return_vectors: bool = False,
) -> RuleAnalysis:
    """Radius, rate per gradient, largest stable step and optimum of ``rule`` at ``point`` of a torch field.

    Args:
        rule: a rule or its text.
        field_: a :class:`~stability.autodiff.field.TorchField`.
        point: where (a name → value mapping, a vector, or ``None`` for a module field's own parameters).
        state: the optimiser state to linearise at (e.g. a checkpoint's); default :func:`assumed_state`.
        null_dim: directions along a continuum of equilibria, left out of the radius (see :func:`radius_and_margin`).
        optimise: also search the largest stable step and the optimum (dense systems).
        dense_limit: dynamic state entries up to which the dense linearisation is used; beyond, ARPACK finds the
            top-k eigenvalues of T by largest magnitude, the first of which is ρ(T) (matrix-free, VJP products).
        increments: matrix-free only: instead, the top-k of ∂Δ/∂z = T − I by largest real part and by largest
            magnitude, with the radius over their union (what the GD bounds of
            :func:`~stability.analysis.spectrum.discrete_stability` read, κ = hμ resolved without 1 + κ's rounding).
        v0, return_vectors: matrix-free search of T only: ARPACK's start vector (a warm start, e.g.
            :func:`~stability.analysis.arpack.warm_start_vector` of an earlier checkpoint's ``vectors``), and keep
            the Ritz vectors in ``RuleAnalysis.vectors``.
    """

    rule = as_rule(rule)
    begin = time.perf_counter()
    vector = field_.vector(point)
    named = _point_dict(field_, vector)
    if state is None:
        state = assumed_state(rule, vector, field_.n_psi)
    field_fn = field_.field_fn
    notes = []
    if rule.assumption() is not None and state is not None:
        notes.append(f"linearised at the assumed optimiser state: {rule.assumption()}")
    if null_dim:
        notes.append(f"transverse radius: {null_dim} eigenvalue(s) 1 of T along the continuum of equilibria left out")
    n = field_.size
    dynamic = len(dynamic_index(rule, n))
    has_step = rule.lr_d is not None
    if dynamic > dense_limit:
        if increments and (v0 is not None or return_vectors):
            raise UserError("a warm start (v0, return_vectors) is for the one search of T, not for increments")
        return _matrix_free(
            rule, field_, state, null_dim, k, tol, ncv, progress, named, begin, notes, increments, v0, return_vectors
        )
    radius = rate = stable = state_radius = None
    eigs = np.zeros(0, dtype=complex)
    if has_step:
        D = increment_jacobian(rule, state, field_fn).detach()
        radii, margin, kappa = radius_and_margin(D, null_dim)
        radius, eigs = float(radii[0]), 1 + kappa[0]
        stable = bool(contracting(margin, D.numpy())[0])
        rate = rate_per_gradient(radius, rule)
        if rule.frozen_slots:
            state_radius = float(
                radius_and_margin(increment_jacobian(rule, state, field_fn, frozen=False), null_dim)[0][0]
            )
            notes.append(
                f"the second moment decays by {'beta2' if rule.family == 'adam' else 'alpha'} per step on its own; "
                f"with it the whole state's radius is {state_radius:.6g}"
            )
    max_step = optimum = None
    if optimise:
        evaluate, note = _evaluator(rule, field_, vector, state)
        if note:
            notes.append(note)
        increments = lambda steps: evaluate({"step": steps})  # noqa: E731
        scale = step_scale(increments, float(rule.lr_d) if has_step else 1.0)
        if scale is None:
            notes.append("∂Δ/∂z vanishes at every step (a zero Jacobian): no step changes anything")
        else:
            max_step, note = largest_stable_step(increments, scale, null_dim=null_dim)
            if note:
                notes.append(note)
            optimum = _optimum(rule, evaluate, scale, null_dim)
            if max_step is None:
                notes.append("no step size contracts here")
    return RuleAnalysis(
        rule.spec(),
        rule.describe(),
        named,
        rule.assumption(),
        radius,
        rate,
        rule.gradients,
        stable,
        max_step,
        rule.step_ratio,
        optimum,
        np.asarray(eigs),
        True,
        "dense",
        0,
        time.perf_counter() - begin,
        state_radius,
        null_dim,
        notes,
    )


def _size(rule: UpdateRule, state: RuleState) -> int:
    return state.z.shape[0] // (1 + len(rule.slots))


def _point_dict(field_: Any, vector: Any) -> dict[str, float] | None:
    if field_.size > 16:
        return None
    return {str(getattr(p, "name", p)): float(v) for p, v in zip(field_.params, vector.detach().tolist())}


#: A batch evaluator of ∂Δ/∂z: hyper-parameter name → (B,) values (``step`` scales lr_d) → (B, N, N) numpy.
Evaluator = Callable[[dict[str, np.ndarray]], np.ndarray]


def torch_evaluator(rule: UpdateRule, state: RuleState, field_fn: FieldFn) -> Evaluator:
    """∂Δ/∂z of the rule's own map by torch.func (jacrev under vmap), at any point and state."""
    import torch

    def evaluate(values: dict[str, np.ndarray]) -> np.ndarray:
        axes = {k: torch.as_tensor(np.asarray(v, dtype=float), dtype=state.z.dtype) for k, v in values.items()}
        with torch.no_grad():
            return grid_increment_jacobians(rule, state, field_fn, axes).numpy()

    return evaluate


def linear_evaluator(rule: UpdateRule, jacobian: np.ndarray, n_psi: int) -> Evaluator:
    """∂Δ/∂z of the same map on the linear field v(w) = Jw (numpy, microseconds per point).

    At a fixed point of the map (v(w*) = 0, zero memory) every point the map evaluates v at is w* itself, so by the
    chain rule ∂Δ/∂z depends on v only through J = ∂v/∂w(w*): the map on Jw has the same derivative there. Only for
    rules whose map is linear for a linear field (:attr:`UpdateRule.constant_linearisation`).
    """
    from stability.analysis.update_rules import update_increment_matrix

    J = np.asarray(jacobian, dtype=float)

    def evaluate(values: dict[str, np.ndarray]) -> np.ndarray:
        chosen = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in values.items()}
        step = chosen.pop("step", None)
        current = rule.with_values(**chosen) if chosen else rule
        if step is not None:
            current = current.with_step(step)
        return update_increment_matrix(current, J, n_psi)

    return evaluate


def _evaluator(rule: UpdateRule, field_: Any, vector: Any, state: RuleState) -> tuple[Evaluator, str | None]:
    """The linear-field evaluator at a fixed point of a constant-linearisation rule (checked against torch.func at
    one step), else torch.func's."""
    exact = torch_evaluator(rule, state, field_.field_fn)
    n = field_.size
    if not rule.constant_linearisation or bool((state.z[n:] != 0).any()):
        return exact, None
    J = field_.jacobian(vector)
    flow = field_.value(vector)
    if np.linalg.norm(flow) > 1e-12 * (1 + np.linalg.norm(J) * float(vector.abs().max())):
        return exact, None
    fast = linear_evaluator(rule, J, field_.n_psi)
    probe = {
        "step": np.array(
            [float(rule.lr_d) if rule.lr_d is not None else 1 / max(np.abs(np.linalg.eigvals(J)).max(), 1e-300)]
        )
    }
    a, b = fast(probe)[0], exact(probe)[0]
    if not np.allclose(a, b, rtol=1e-9, atol=1e-12 * (1 + np.abs(b).max())):
        return exact, "the linear-field shortcut disagreed with torch.func at a fixed point; torch.func was used"
    return fast, None


def _optimum(rule: UpdateRule, evaluate: Evaluator, scale: float, null_dim: int) -> dict[str, float]:
    with_momentum = rule.momentum is not None

    def radius_of(rows: np.ndarray) -> np.ndarray:
        values = {"step": np.exp(rows[:, 0])}
        if with_momentum:
            values["momentum"] = rows[:, 1]
        return radius_and_margin(evaluate(values), null_dim)[0]

    found = optimal_hyper(radius_of, scale, with_momentum)
    result = {"lr_d": found["step"], "lr_g": found["step"] * rule.step_ratio}
    if with_momentum:
        result["momentum"] = found["momentum"]
    result["radius"] = found["radius"]
    result["rate_per_gradient"] = rate_per_gradient(found["radius"], rule)
    return result


def radius_basis(size: int, k: int, itemsize: int = 8) -> int:
    """ARPACK's basis for the top-k of T by largest magnitude: the field's LR basis (:func:`default_ncv`), not
    ARPACK's own 20.

    Near an equilibrium, and for small steps anywhere, most eigenvalues of T = I + ∂Δ/∂z lie in a cluster at the unit
    circle, as the field's largest real parts lie inside a spectrum of larger magnitudes. Measured on a width-32 toy
    checkpoint (Adam, n_critic = 5, 4,806 dynamic entries, tol 1e-10, the same radius each time;
    ``benchmarks/bench_products.py --parts basis``): 2,138 map products with a basis of 20, 527 with 60, 337 with
    120, 313 with 160, 390 with 200; ARPACK's top-6 of T − I by largest real part (basis 120) and by largest
    magnitude (basis 20), the method before, took 449 + 763.
    """
    from stability.analysis.arpack import default_ncv

    return default_ncv(size, k, "LR", itemsize)


def _matrix_free(
    rule: UpdateRule,
    field_: Any,
    state: RuleState,
    null_dim: int,
    k: int,
    tol: float | None,
    ncv: int | None,
    progress: bool,
    named: dict | None,
    begin: float,
    notes: list[str],
    increments: bool = False,
    v0: np.ndarray | None = None,
    return_vectors: bool = False,
) -> RuleAnalysis:
    """ρ(T) from ARPACK's top-k of T by largest magnitude (VJPs of the map), from ``v0`` when given, with its Ritz
    vectors when asked for; with ``increments``, the top-k of T − I by largest real part and by largest magnitude
    instead, the radius over their union."""
    from stability.analysis.arpack import arpack

    if rule.lr_d is None:
        raise UserError(f"{rule.name}: a network's radius needs the rule's step, lr=... (or lr_d and lr_g)")
    # the map's first derivatives through the field's traced products at each point the map visits (six for
    # n_critic = 5) where the field can be traced, else its eager torch.func products
    first_order = getattr(field_, "first_order_fn", None)
    field_fn = first_order(parameters(rule, state).detach()) if first_order is not None else field_.field_fn
    apply, size = increment_operator(rule, state, field_fn)
    tol = (1e-10 if state.z.dtype.itemsize == 8 else 1e-5) if tol is None else tol
    found, products, vectors = [], 0, None
    if increments:
        searches = [("LR", apply, ncv), ("LM", apply, ncv)]
    else:  # Tᵀu = (T − I)ᵀu + u: the largest magnitudes of T are the radius itself, in one search
        basis = radius_basis(size, k, state.z.dtype.itemsize) if ncv is None else ncv
        searches = [("LM", lambda u: apply(u) + u, basis)]
    for which, product, basis in searches:
        desc = f"{rule.name} {which}" + (" (warm start)" if v0 is not None else "")
        out = arpack(
            product,
            size,
            k,
            which,
            state.z.dtype,
            tol,
            ncv=basis,
            progress=progress,
            desc=desc,
            v0=v0,
            return_vectors=return_vectors,
        )
        values, count, _, more = out[:4]
        if return_vectors:
            vectors = out[4]
        found.append(1 + values if increments else values)  # eigenvalues of T
        products += count * rule.field_evaluations
        notes += more
    if increments:
        eigenvalues = np.unique(np.concatenate(found))
    else:  # ARPACK's order (largest magnitude first), the order of the vectors
        eigenvalues = found[0]
    radius = float(np.max(np.abs(eigenvalues))) if eigenvalues.size else float("nan")
    if increments:
        notes.append(
            f"matrix-free: |1 + κ| over the top-{k} eigenvalues κ of T − I by largest real part and by largest "
            "magnitude (ARPACK over VJPs of the map); the radius is over those only; no step search for networks"
        )
    else:
        notes.append(
            f"matrix-free: the top-{k} eigenvalues of T by largest magnitude (ARPACK over VJPs of the map), the first "
            "of which is the radius; no step search for networks"
        )
    return RuleAnalysis(
        rule.spec(),
        rule.describe(),
        named,
        rule.assumption(),
        radius,
        rate_per_gradient(radius, rule) if math.isfinite(radius) else None,
        rule.gradients,
        bool(radius < 1),
        None,
        rule.step_ratio,
        None,
        eigenvalues,
        False,
        "arpack",
        products,
        time.perf_counter() - begin,
        None,
        null_dim,
        notes,
        vectors,
        v0 is not None,
    )


def increment_operator(
    rule: UpdateRule, state: RuleState, field_fn: FieldFn, product: str = "vjp"
) -> tuple[Callable[[Any], Any], int]:
    """u ↦ (T − I)ᵀu (``vjp``, one backward pass of a retained graph) or (T − I)u (``jvp``) on the dynamic entries.

    Returns the torch function and its size. Tᵀ and T share their eigenvalues, so ARPACK may run on either.
    """
    import torch

    increment = increment_function(rule, state, field_fn)
    index = torch.as_tensor(dynamic_index(rule, _size(rule, state)))
    full = state.z.shape[0]
    if product == "vjp":
        _, vjp_fn = torch.func.vjp(increment, state.z)

        def apply(u: Any) -> Any:
            embedded = torch.zeros(full, dtype=state.z.dtype).index_copy(0, index, u.to(state.z.dtype))
            with torch.no_grad():
                return vjp_fn(embedded)[0][index]

    elif product == "jvp":

        def apply(u: Any) -> Any:
            embedded = torch.zeros(full, dtype=state.z.dtype).index_copy(0, index, u.to(state.z.dtype))
            with torch.no_grad():
                return torch.func.jvp(increment, (state.z,), (embedded,))[1][index]

    else:
        raise UserError(f"unknown product {product!r}; valid: vjp, jvp")
    return apply, len(index)


class UpdateOperator:
    """T = I + ∂Δ/∂z of a rule's map as a scipy ``LinearOperator`` (matrix-free, curvlinops-style).

    ``matvec`` is one JVP of the map (forward-over-reverse through the rule's field evaluations); any scipy solver
    (``eigs``, ``gmres``) takes it. ``increment`` is T − I, whose small eigenvalues ARPACK resolves without 1 + κ's
    rounding.
    """

    def __new__(cls, rule: UpdateRule | str, state: RuleState, field_fn: FieldFn, increment: bool = False):
        from scipy.sparse.linalg import LinearOperator

        rule = as_rule(rule)
        apply, size = increment_operator(rule, state, field_fn, "jvp")
        import torch

        def matvec(x: np.ndarray) -> np.ndarray:
            u = torch.as_tensor(np.asarray(x, dtype=float).reshape(-1), dtype=state.z.dtype)
            out = apply(u)
            return (out if increment else out + u).numpy()

        return LinearOperator((size, size), matvec=matvec, dtype=np.float64)


# ---- penalty-weight families (the step × ρ map) ------------------------------------------------------------------


def penalty_weight_family(field_at: Callable[[float], Any], point: Any) -> tuple[Callable[[Any, Any], Any], str | None]:
    """v_ρ(w) for every ρ from two fields: v_ρ = v₁ + (ρ − 1)(v₂ − v₁).

    Definition 4's flow is affine in ρ (ψ̇ = ∇_ψV − (ρ/2)∇_ψP, θ̇ free of ρ), so two fields give all of them and a
    grid over ρ vectorises. Checked at ``point`` against a third field (ρ = 3); a form whose term is not linear in ρ
    (MaxAL's batch loss) is refused with a one-line error.
    """
    import torch

    one, two, three = field_at(1.0), field_at(2.0), field_at(3.0)
    vector = one.vector(point)
    two.vector(point)
    three.vector(point)
    f1, f2, f3 = one.field_fn, two.field_fn, three.field_fn
    with torch.no_grad():
        expected = 2 * f2(vector) - f1(vector)
        got = f3(vector)
    if not torch.allclose(got, expected, rtol=1e-9, atol=1e-12 * (1 + float(got.abs().max()))):
        raise UserError("the flow is not affine in rho for this penalty form, so a step x rho map is not available")

    def family(w: Any, rho: Any) -> Any:
        a = f1(w)
        return a + (rho - 1) * (f2(w) - a)

    return family, None


def describe_axes(rule: UpdateRule, names: Sequence[str]) -> str:
    labels = {"step": "lr_d" + ("" if rule.step_ratio == 1 else f" (lr_g = {rule.step_ratio:g}·lr_d)")}
    return " × ".join(labels.get(n, n) for n in names)
