"""Roots of a flow from many starts at once: damped Gauss–Newton (Levenberg–Marquardt), vectorised over starts.

Minimises ½‖F(x)‖² from every start together: one batched evaluation of F and J per iteration (a
:class:`~stability.analysis.flows.BatchedFlow`), the step (JᵀJ + λI)δ = −JᵀF solved for all starts in one
``numpy.linalg.solve``, λ adapted per start (÷3 on success, ×4 on failure; Moré 1978's rule in its simplest form).
On a continuum of roots JᵀJ is singular along it; the damping keeps the step finite there, and the iteration
lands on some point of the continuum — which is what the continuum analysis needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from stability.analysis.flows import BatchedFlow


@dataclass
class RootRun:
    """Where each start ended.

    Attributes:
        points: final iterates, shape (N, n).
        values: F there, shape (N, n).
        jacobians: J there, shape (N, n, n).
        sizes: the size of the field's terms there (N, n), or ``None`` when the flow's route has none.
        iterations: iterations run (the most any start took).
        evaluations: batched evaluations of F and J, counted per point.
        stopped: ``"every start stopped"``, ``"iterations"`` or ``"time"`` — why the run ended.
    """

    points: np.ndarray
    values: np.ndarray
    jacobians: np.ndarray
    sizes: np.ndarray | None
    iterations: int
    evaluations: int
    stopped: str
    active: list[int] = field(default_factory=list)  # starts still iterating after each iteration


#: Iterations over which ‖F‖² must fall at least fourfold for a start to go on.
STALL_WINDOW = 8


def halton_starts(box: list[tuple[float, float]], count: int, seed: int = 0) -> np.ndarray:
    """The box's centre and ``count`` points of a randomly shifted Halton sequence in ``box``.

    Halton points (radical inverses of 1, 2, … in the first primes, one per axis) fill a box evenly in a few
    dimensions; a seeded shift modulo 1 (Cranley–Patterson) keeps them off the box's symmetry planes, where
    many GAN flows are degenerate. Written here rather than imported: ``scipy.stats`` (for its ``qmc``) takes a
    second to import, a tenth of the budget of a whole analysis.
    """
    n = len(box)
    primes = _primes(n)
    unit = np.empty((count, n))
    for axis, base in enumerate(primes):
        unit[:, axis] = [_radical_inverse(i, base) for i in range(1, count + 1)]
    unit = (unit + np.random.default_rng(seed).uniform(size=n)) % 1.0
    lows = np.array([b[0] for b in box], dtype=float)
    highs = np.array([b[1] for b in box], dtype=float)
    return np.vstack([(lows + highs) / 2, lows + unit * (highs - lows)])


def _radical_inverse(i: int, base: int) -> float:
    out, scale = 0.0, 1.0 / base
    while i:
        i, digit = divmod(i, base)
        out += digit * scale
        scale /= base
    return out


def _primes(count: int) -> list[int]:
    found: list[int] = []
    candidate = 2
    while len(found) < count:
        if all(candidate % p for p in found if p * p <= candidate):
            found.append(candidate)
        candidate += 1
    return found


def levenberg_marquardt(
    flow: BatchedFlow,
    starts: np.ndarray,
    iterations: int = 60,
    max_step: float | None = None,
    seconds: float | None = None,
    step_tol: float = 1e-15,
    converged=None,
    region: tuple[np.ndarray, np.ndarray] | None = None,
) -> RootRun:
    """Run Levenberg–Marquardt from every row of ``starts`` at once.

    A start stops when its step falls below ``step_tol``·(1 + ‖x‖), when F there is exactly 0 or small enough
    (``converged``), when λ has grown beyond 1e12·‖JᵀJ‖ (no step decreases ‖F‖ any more: F is at its rounding
    floor, or at a local minimum that is not a root), when ‖F‖² fell less than fourfold in :data:`STALL_WINDOW`
    iterations, or when it leaves ``region``. The rest go on until ``iterations`` or ``seconds`` run out.

    Args:
        flow: values and Jacobians at many points.
        starts: shape (N, n).
        iterations: iterations at most.
        max_step: the longest step (a trust radius), e.g. a quarter of the box.
        seconds: wall-clock budget.
        step_tol: relative step length that counts as converged.
        converged: ``(values, sizes) -> bool mask``: starts where it holds stop (F small against its terms).
        region: (lows, highs): a start that leaves it stops (it is looking for roots elsewhere).
    """
    t0 = time.perf_counter()
    X = np.array(starts, dtype=float)
    sample = flow.evaluate(X)
    F, J, sizes = sample.values, sample.jacobians, sample.sizes
    evaluations = len(X)
    cost = _cost(F)
    A = np.einsum("kij,kil->kjl", J, J)
    scale = np.maximum(np.einsum("kii->k", A) / X.shape[1], 1e-300)
    lam = 1e-3 * scale
    active = np.isfinite(cost) & (cost > 0)
    if converged is not None:
        active &= ~converged(F, sizes)
    done_reason = "every start stopped"
    iteration = 0
    trace: list[int] = []
    history = [cost.copy()]
    for iteration in range(1, iterations + 1):
        if not np.any(active):
            iteration -= 1
            break
        if seconds is not None and time.perf_counter() - t0 > seconds:
            done_reason = "time"
            iteration -= 1
            break
        idx = np.nonzero(active)[0]
        Jk, Fk = J[idx], F[idx]
        Ak = np.einsum("kij,kil->kjl", Jk, Jk)
        g = np.einsum("kij,ki->kj", Jk, Fk)
        n = X.shape[1]
        with np.errstate(all="ignore"):
            step = -_solve(Ak + lam[idx, None, None] * np.eye(n), g)
            length = np.linalg.norm(step, axis=1)
            if max_step is not None:
                step *= np.minimum(1.0, max_step / np.maximum(length, 1e-300))[:, None]
        trial = X[idx] + step
        result = flow.evaluate(trial)
        evaluations += len(idx)
        new_cost = _cost(result.values)
        better = np.isfinite(new_cost) & (new_cost < cost[idx])
        good = idx[better]
        X[good], F[good], J[good], cost[good] = (
            trial[better],
            result.values[better],
            result.jacobians[better],
            new_cost[better],
        )
        if sizes is not None and result.sizes is not None:
            sizes[good] = result.sizes[better]
        lam[good] = np.maximum(lam[good] / 3, 1e-12 * scale[good])
        lam[idx[~better]] *= 4
        small = length[better] <= step_tol * (1 + np.linalg.norm(trial[better], axis=1))
        finished = np.zeros(len(idx), bool)
        finished[np.nonzero(better)[0][small]] = True
        finished |= lam[idx] > 1e12 * np.maximum(scale[idx], np.einsum("kii->k", Ak) / n)
        finished |= cost[idx] == 0
        if converged is not None:
            finished |= converged(F[idx], sizes[idx] if sizes is not None else None)
        if region is not None:
            finished |= np.any((X[idx] < region[0]) | (X[idx] > region[1]), axis=1)
        history.append(cost.copy())
        if len(history) > STALL_WINDOW:
            # ‖F‖² fell less than 4× in the window: no Newton-like convergence (even at a double root, where it
            # falls 4× per step); the start drifts along a valley or towards infinity
            finished |= cost[idx] > 0.25 * history[-1 - STALL_WINDOW][idx]
        active[idx[finished]] = False
        trace.append(int(np.sum(active)))
    else:
        if np.any(active):
            done_reason = "iterations"
    return RootRun(X, F, J, sizes, iteration, evaluations, done_reason, trace)


def _cost(F: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        cost = 0.5 * np.sum(F * F, axis=1)
    return np.where(np.isfinite(cost), cost, np.inf)


def _solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched solve; a singular or non-finite system gets a zero step (its start then only grows λ)."""
    ok = np.all(np.isfinite(A), axis=(1, 2)) & np.all(np.isfinite(b), axis=1)
    out = np.zeros_like(b)
    if np.any(ok):
        try:
            out[ok] = np.linalg.solve(A[ok], b[ok][..., None])[..., 0]
        except np.linalg.LinAlgError:
            for k in np.nonzero(ok)[0]:
                try:
                    out[k] = np.linalg.solve(A[k], b[k])
                except np.linalg.LinAlgError:
                    out[k] = np.linalg.lstsq(A[k], b[k], rcond=None)[0]
    out[~np.all(np.isfinite(out), axis=1)] = 0.0
    return out
