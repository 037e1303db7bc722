"""The nearest stationary point of a game, matrix-free: Levenberg–Marquardt on ½‖v(w)‖² with conjugate gradients.

A trained network's parameters are never exactly stationary, so checks that hold only at equilibria (Theorem 1 of
``003_…``: J = [[−ρQ, −R], [Rᵀ, 0]] with Q ⪰ 0 and N(Q) ⊂ N(Rᵀ)) never apply to a checkpoint as it is. This module
moves the checkpoint to the nearest zero of the field v = (ψ̇, θ̇) it can find (issue 27):

    minimise ½‖v(w)‖²:   (JᵀJ + λI) δ = −Jᵀv,   w ← w + δ,

the Gauss–Newton step damped by λ (Levenberg 1944, Marquardt 1963), with the linear system solved by conjugate
gradients on the operator p ↦ Jᵀ(Jp) + λp. J is never formed: Jp is one forward-over-reverse product (JVP) and Jᵀu
one reverse product (VJP) of :class:`~stability.autodiff.field.TorchField`, so the cost per CG step is about six field
evaluations at any size. CG started from 0 keeps δ in the row space of J: at a continuum of stationary points (the
rule for networks, whose symmetries leave whole families of equilibria) the step has no component along it, and the
iteration lands near the closest point rather than anywhere on it.

The result says plainly whether a stationary point was reached (‖v‖ ≤ the tolerance), or whether the iteration
stalled at a local minimum of ‖v‖ that is not zero, ran out of iterations, or ran out of time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from stability.util.errors import UserError

#: Why a polish stopped.
REACHED = "reached"
STALLED = "stalled"  # Jᵀv ≈ 0 while v is not: a local minimum of ‖v‖, not a stationary point
ITERATIONS = "iterations"
TIME = "time"


@dataclass
class StationaryPoint:
    """Where a polish from a start ended, and what it cost.

    Attributes:
        point: the final parameters (float64).
        start_norm, final_norm: ‖v‖ at the start and at the end.
        moved: ‖w_end − w_start‖; ``start_size``: ‖w_start‖ (to read ``moved`` against).
        tolerance: ‖v‖ at most this counts as stationary.
        reached: whether it did; ``reason``: :data:`REACHED`, :data:`STALLED`, :data:`ITERATIONS` or :data:`TIME`.
        iterations: Levenberg–Marquardt steps tried; ``cg_iterations``: CG steps over all of them.
        jvps, vjps, evaluations: Jacobian-vector products, vector-Jacobian products and plain field evaluations.
        gradient_norm: ‖Jᵀv‖ at the end (0 at any minimum of ‖v‖, stationary or not).
        history: ‖v‖ after each accepted step.
        seconds: wall time.
    """

    point: np.ndarray = field(repr=False)
    start_norm: float
    final_norm: float
    moved: float
    start_size: float
    tolerance: float
    reached: bool
    reason: str
    iterations: int
    cg_iterations: int
    jvps: int
    vjps: int
    evaluations: int
    gradient_norm: float
    history: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def products(self) -> int:
        return self.jvps + self.vjps

    def describe(self) -> str:
        """One sentence: where it got, and whether that is a stationary point."""
        moved = f"moved {self.moved:.3g} (‖w‖ = {self.start_size:.3g})"
        cost = (
            f"{self.iterations} LM steps, {self.cg_iterations} CG steps, {self.jvps} JVPs + {self.vjps} VJPs, "
            f"{self.seconds:.3g} s"
        )
        if self.reached:
            return f"stationary point reached: ‖v‖ {self.start_norm:.3g} -> {self.final_norm:.3g}; {moved}; {cost}"
        why = {
            STALLED: "the iteration stalled at a local minimum of ‖v‖ that is not zero",
            ITERATIONS: "the iterations ran out",
            TIME: "the time ran out",
        }[self.reason]
        return (
            f"NO stationary point reached ({why}): ‖v‖ {self.start_norm:.3g} -> {self.final_norm:.3g} "
            f"(tolerance {self.tolerance:.3g}); {moved}; {cost}"
        )

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "point"}
        out["products"] = self.products
        out["describe"] = self.describe()
        return out


def polish_stationary(
    field_,
    start=None,
    rtol: float = 1e-8,
    atol: float = 0.0,
    iterations: int = 50,
    cg_iterations: int = 200,
    cg_rtol: float = 1e-4,
    seconds: float | None = None,
) -> StationaryPoint:
    """Levenberg–Marquardt with CG from ``start`` to the nearest zero of the field it finds.

    Args:
        field_: a :class:`~stability.autodiff.field.TorchField` (a spec's or a network's).
        start: the start (default: the modules' own parameters).
        rtol, atol: stationary when ‖v‖ ≤ max(``atol``, ``rtol``·‖v(start)‖): ``rtol`` of the way from the
            checkpoint's own distance from stationarity to zero (an absolute ‖v‖ means nothing without the size of
            the network's gradients; ``atol`` is for callers who know it).
        iterations: LM steps at most.
        cg_iterations: CG steps per LM step at most.
        cg_rtol: CG stops when its residual is this fraction of ‖Jᵀv‖ (an inexact Newton step, Dembo et al. 1982).
        seconds: wall-clock budget.
    """
    if iterations < 1 or cg_iterations < 1:
        raise UserError("the stationary polish needs at least one iteration and one CG step")
    t0 = time.perf_counter()
    w0 = field_.vector(start).detach().clone()
    count = {"jvp": 0, "vjp": 0, "eval": 0, "cg": 0}
    f = field_.field_fn

    def value(w: torch.Tensor) -> torch.Tensor:
        count["eval"] += 1
        with torch.no_grad():
            return f(w)

    w = w0.clone()
    r = value(w)
    start_norm = float(torch.linalg.vector_norm(r))
    history = [start_norm]
    if not np.isfinite(start_norm):
        raise UserError("the field is not finite at the start of the stationary polish")
    lam: float | None = None
    tolerance = max(atol, rtol * start_norm)
    reason, step = ITERATIONS, 0
    g_norm = float("nan")
    for step in range(1, iterations + 1):
        if float(torch.linalg.vector_norm(r)) <= tolerance:
            reason, step = REACHED, step - 1
            break
        if seconds is not None and time.perf_counter() - t0 > seconds:
            reason, step = TIME, step - 1
            break
        out, vjp_fn = torch.func.vjp(f, w)  # the graph at w, retained for every VJP of this step
        count["eval"] += 1

        def Jt(u: torch.Tensor, vjp_fn=vjp_fn) -> torch.Tensor:
            count["vjp"] += 1
            with torch.no_grad():
                return vjp_fn(u)[0]

        def J(p: torch.Tensor, w=w) -> torch.Tensor:
            count["jvp"] += 1
            with torch.no_grad():
                return torch.func.jvp(f, (w,), (p,))[1]

        r = out.detach()
        g = Jt(r)
        g_norm = float(torch.linalg.vector_norm(g))
        r_norm = float(torch.linalg.vector_norm(r))
        if g_norm == 0.0:
            reason = STALLED if r_norm > tolerance else REACHED
            break
        Jg = J(g)
        curvature = float(torch.dot(Jg, Jg)) / g_norm**2  # gᵀJᵀJg/‖g‖²: JᵀJ's scale along the gradient
        if lam is None:
            lam = 1e-3 * curvature
        if g_norm <= 1e-12 * max(curvature, 1e-300) ** 0.5 * r_norm:
            reason = STALLED  # Jᵀv is zero to rounding against ‖J‖‖v‖: a minimum of ‖v‖ that is not a root
            break
        accepted = False
        while not accepted:
            delta = _cg(lambda p, lam=lam: Jt(J(p)) + lam * p, -g, cg_iterations, cg_rtol, count)
            for fraction in (1.0, 0.5, 0.25):  # a short backtracking line search before more damping
                trial = w + fraction * delta
                r_trial = value(trial)
                trial_norm = float(torch.linalg.vector_norm(r_trial))
                if np.isfinite(trial_norm) and trial_norm < r_norm:
                    w, r = trial, r_trial
                    if fraction == 1.0:
                        lam = max(lam / 3, 1e-15 * curvature)
                    history.append(trial_norm)
                    accepted = True
                    break
            if not accepted:
                lam *= 4
                if lam > 1e12 * curvature:
                    break  # no step decreases ‖v‖: the next outer test reports a stall
        if not accepted:
            reason = STALLED
            break
    else:
        if float(torch.linalg.vector_norm(r)) <= tolerance:
            reason = REACHED
    final_norm = float(torch.linalg.vector_norm(r))
    reached = final_norm <= tolerance
    if reached:
        reason = REACHED
    elif reason == REACHED:
        reason = ITERATIONS
    return StationaryPoint(
        point=w.detach().to(torch.float64).numpy().copy(),
        start_norm=start_norm,
        final_norm=final_norm,
        moved=float(torch.linalg.vector_norm(w - w0)),
        start_size=float(torch.linalg.vector_norm(w0)),
        tolerance=tolerance,
        reached=reached,
        reason=reason,
        iterations=step,
        cg_iterations=count["cg"],
        jvps=count["jvp"],
        vjps=count["vjp"],
        evaluations=count["eval"],
        gradient_norm=g_norm,
        history=history,
        seconds=time.perf_counter() - t0,
    )


def _cg(apply, b: torch.Tensor, iterations: int, rtol: float, count: dict) -> torch.Tensor:
    """Conjugate gradients for A x = b with A symmetric positive definite, from x = 0."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = float(torch.dot(r, r))
    stop = (rtol * float(torch.linalg.vector_norm(b))) ** 2
    for _ in range(iterations):
        if rr <= stop:
            break
        Ap = apply(p)
        count["cg"] += 1
        pAp = float(torch.dot(p, Ap))
        if pAp <= 0 or not np.isfinite(pAp):
            break  # rounding made the operator lose definiteness along p: keep what we have
        alpha = rr / pAp
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = float(torch.dot(r, r))
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x
