"""Linear stability: eigenvalues, classification and discrete-time steps.

Continuous time (the ODE method of Mescheder et al. 2017): an equilibrium is
locally asymptotically stable when every eigenvalue of the Jacobian J has
Re λ < 0; the linearisation is inconclusive when some Re λ = 0.

Discrete time: simultaneous gradient steps x ← x + h F(x) have the update
Jacobian I + hJ, stable iff |1 + hλ| < 1 for every λ, i.e.
h < min_λ −2 Re λ / |λ|² (Mescheder et al. 2017, Lemma 4). Alternating steps
(ψ first, θ then sees the new ψ) have the update Jacobian built in
:func:`alternating_update`; their largest stable step is found numerically. Both maps are the ``sim`` and ``alt``
rules of :mod:`stability.analysis.update_rules` (the one definition of every update rule) on the linear field Jx.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from stability.analysis.update_rules import UpdateRule, update_matrix

STABLE_NODE = "stable node"
STABLE_FOCUS = "stable focus"
UNSTABLE_NODE = "unstable node"
UNSTABLE_FOCUS = "unstable focus"
SADDLE = "saddle"
CENTER = "center"
NON_HYPERBOLIC = "non-hyperbolic"
CLASSES = (STABLE_NODE, STABLE_FOCUS, UNSTABLE_NODE, UNSTABLE_FOCUS, SADDLE, CENTER, NON_HYPERBOLIC)
STABLE_CLASSES = (STABLE_NODE, STABLE_FOCUS)


@dataclass(frozen=True)
class Tolerance:
    """|Re λ| (or |Im λ|) ≤ atol + rtol · max|λ| counts as zero.

    The default rtol ≈ √ε because a double eigenvalue of a defective Jacobian
    (e.g. Lemma 2 with p_d at ρ = 1) is only computed to about √ε relative.
    """

    atol: float = 1e-9
    rtol: float = 1e-7

    def zero(self, eigenvalues: np.ndarray) -> float:
        scale = float(np.max(np.abs(eigenvalues))) if eigenvalues.size else 0.0
        return self.atol + self.rtol * scale


def eigenvalues(jacobian: np.ndarray) -> np.ndarray:
    """Eigenvalues sorted by real part, then imaginary part."""
    values = np.linalg.eigvals(np.asarray(jacobian, dtype=float))
    return values[np.lexsort((values.imag, values.real))]


#: Relative error assumed in each computed Jacobian entry (a few ulps of float64 arithmetic).
ENTRY_ROUNDOFF = 16 * np.finfo(float).eps
#: Up to this size the spectrum is computed in extended precision (mpmath), so that the only error left is the
#: entries' own; larger Jacobians use LAPACK with :class:`Tolerance`.
PRECISE_SIZE = 8
_DIGITS = (30, 120, 700)  # 700 digits resolve eigenvalues 1e-300 beside 1e+300


@dataclass
class Spectrum:
    """Eigenvalues with a bound on the round-off in each real and imaginary part.

    The bound is relative to the size of the Jacobian and to each eigenvalue's own sensitivity
    (first-order perturbation theory, ``dλ = y dJ x / (y x)``, for entry errors of ``ENTRY_ROUNDOFF``·|J_kl|,
    and the Hölder bound ‖J‖(δ)^(1/m) for m eigenvalues that coincide within it). A real part larger than its
    bound has a sign float64 round-off cannot change; one within it is at the boundary for all we can tell.
    """

    values: np.ndarray
    re_error: np.ndarray
    im_error: np.ndarray
    precise: bool = True


def spectrum(jacobian: np.ndarray, tol: Tolerance | None = None) -> Spectrum:
    """The eigenvalues of ``jacobian`` and their round-off bounds (see :class:`Spectrum`)."""
    J = np.asarray(jacobian, dtype=float)
    n = len(J)
    if n == 0:
        return Spectrum(np.zeros(0, complex), np.zeros(0), np.zeros(0))
    if n > PRECISE_SIZE or tol is not None:
        values = eigenvalues(J)
        zero = (tol or Tolerance()).zero(values)
        return Spectrum(values, np.full(n, zero), np.full(n, zero), precise=False)
    import mpmath

    norm = frobenius(J)
    for digits in _DIGITS:
        with mpmath.workdps(digits):
            values, re_err, im_err, algorithmic = _precise(J, norm, digits)
        resolved = (np.abs(values.real) > 2 * re_err) | (algorithmic < 1e-3 * re_err)
        if np.all(resolved):
            break
    order = np.lexsort((values.imag, values.real))
    return Spectrum(values[order], re_err[order], im_err[order])


def frobenius(J: np.ndarray) -> float:
    """‖J‖_F without overflow (entries of 1e300 square to inf)."""
    biggest = float(np.max(np.abs(J))) if J.size else 0.0
    return biggest * float(np.linalg.norm(J / biggest)) if biggest > 0 else 0.0


def _precise(J: np.ndarray, norm: float, digits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues at ``digits`` digits, with the entries' and the algorithm's error bounds per eigenvalue."""
    import mpmath

    n = len(J)
    A = mpmath.matrix(J.tolist())  # float64 entries are exact binary numbers
    E, left, right = mpmath.eig(A, left=True, right=True)
    values = np.array([complex(e) for e in E])
    algorithmic = np.full(n, 10.0 ** (5 - digits) * max(norm, 1e-300))
    first = np.empty((n, 2))
    for i in range(n):
        y, x = left[i, :], right[:, i]
        yx = complex(mpmath.fsum(y[k] * x[k] for k in range(n)))
        sens = np.array([[complex(y[k] * x[m]) for m in range(n)] for k in range(n)])
        scale = abs(yx)
        if scale == 0 or not np.all(np.isfinite(sens)):
            first[i] = np.inf
            continue
        S = sens / yx  # dλ/dJ_kl
        first[i] = [np.sum(np.abs(S.real) * np.abs(J)), np.sum(np.abs(S.imag) * np.abs(J))]
        algorithmic[i] *= max(1.0, float(np.sum(np.abs(S))))
    first *= ENTRY_ROUNDOFF
    # eigenvalues that coincide within their bounds form a cluster of m: there the bound is ‖J‖·δ^(1/m)
    re_err, im_err = first[:, 0].copy(), first[:, 1].copy()
    reach = np.maximum(first.max(axis=1), algorithmic)
    for i in range(n):
        m = int(np.sum(np.abs(values - values[i]) <= 2 * np.maximum(reach[i], reach)))
        if m > 1 or not np.isfinite(reach[i]):
            holder = norm * ENTRY_ROUNDOFF ** (1 / max(m, 2))
            re_err[i], im_err[i] = min(re_err[i], holder), min(im_err[i], holder)
    return values, re_err + algorithmic, im_err + algorithmic, algorithmic


def classify_spectrum(spec: Spectrum) -> tuple[str, bool]:
    """The class of an equilibrium from eigenvalues whose parts count as zero within their round-off bounds."""
    re, im = spec.values.real, spec.values.imag
    negative, positive = re < -spec.re_error, re > spec.re_error
    rotating = np.abs(im) > spec.im_error
    return _class(negative, positive, rotating)


def classify(eigs: np.ndarray, tol: Tolerance = Tolerance()) -> tuple[str, bool]:
    """The class of an equilibrium from its eigenvalues, and whether it is hyperbolic.

    In dimension > 2 the names mean: *node/focus* — all Re λ of one sign, with
    (focus) or without (node) rotation; *saddle* — both signs; *center* — all
    eigenvalues purely imaginary and non-zero; *non-hyperbolic* — any other
    case with some Re λ = 0 (linearisation is inconclusive).
    """
    eigs = np.asarray(eigs, dtype=complex)
    zero = tol.zero(eigs)
    re, im = eigs.real, eigs.imag
    return _class(re < -zero, re > zero, np.abs(im) > zero)


def _class(negative: np.ndarray, positive: np.ndarray, rotating: np.ndarray) -> tuple[str, bool]:
    """The class from which real parts are surely negative or positive and which eigenvalues surely rotate."""
    spinning = bool(np.any(rotating))
    if np.all(negative):
        return (STABLE_FOCUS if spinning else STABLE_NODE), True
    if np.all(positive):
        return (UNSTABLE_FOCUS if spinning else UNSTABLE_NODE), True
    if np.all(negative | positive):
        return SADDLE, True
    if np.any(positive) and np.any(negative):
        return SADDLE, False
    if not np.any(negative | positive) and np.all(rotating):
        return CENTER, False
    return NON_HYPERBOLIC, False


def max_stable_step_simultaneous(eigs: np.ndarray, tol: Tolerance = Tolerance()) -> float | None:
    """sup{h : |1 + hλ| < 1 ∀λ} = min −2 Re λ/|λ|², or ``None`` if no h > 0 is stable."""
    eigs = np.asarray(eigs, dtype=complex)
    if eigs.size == 0 or np.any(eigs.real >= -tol.zero(eigs)):
        return None
    return float(np.min(-2 * eigs.real / np.abs(eigs) ** 2))


def simultaneous_update(jacobian: np.ndarray, step: float) -> np.ndarray:
    """Jacobian of one simultaneous step x ← x + h F(x): I + hJ (the ``sim`` rule of
    :mod:`stability.analysis.update_rules` on the linear field Jx)."""
    J = np.asarray(jacobian, dtype=float)
    return update_matrix(UpdateRule("sim", {"lr": step}), J, len(J))


def alternating_update(jacobian: np.ndarray, n_psi: int, step: float) -> np.ndarray:
    """Jacobian of ψ ← ψ + h F_ψ(ψ, θ); θ ← θ + h F_θ(ψ_new, θ) (the ``alt`` rule on the linear field Jx).

    With J = [[A, B], [C, E]] (A = ∂ψ̇/∂ψ, …) the map's Jacobian is
    [[I + hA, hB], [hC(I + hA), I + hE + h² C B]].
    """
    return update_matrix(UpdateRule("alt", {"lr": step}), np.asarray(jacobian, dtype=float), n_psi)


def spectral_radius(matrix: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def step_spectral_radii(jacobian: np.ndarray, n_psi: int, step: float) -> dict[str, float]:
    """Spectral radii of one simultaneous and one alternating GD step of size ``step`` (< 1: locally convergent)."""
    return {
        "simultaneous": spectral_radius(simultaneous_update(jacobian, step)),
        "alternating": spectral_radius(alternating_update(jacobian, n_psi, step)),
    }


def max_stable_step_alternating(
    jacobian: np.ndarray, n_psi: int, tol: Tolerance = Tolerance(), smallest: float | None = None
) -> float | None:
    """The largest h such that alternating GD is contracting for every step in (0, h).

    The ``alt`` rule's map on the linear field Jx is I + D(h) (:func:`~stability.analysis.update_rules.
    update_increment_matrix`, D computed from the step's own increments), and |1 + κ| < 1 ⟺ 2 Re κ + |κ|² < 0 for
    each eigenvalue κ of D(h): tested in that form, a contraction by 1 − 1e-20 per step is not lost in 1 + κ's
    rounding. :func:`~stability.analysis.discrete.largest_stable_step` scans h on a geometric grid from ``smallest``
    (default 1e-6/|λ|max) up to 20/|λ|max, then narrows the first crossing (to 1e-10 relative). The search runs on J/s
    with s a power of two near max|J_kl| (the steps of sJ are those of J divided by s: the GD maps depend on h and J
    through hJ only), so entries of 1e-311 or 1e300 neither overflow the grid nor underflow the products.
    """
    from stability.analysis.discrete import largest_stable_step, linear_evaluator

    J = np.asarray(jacobian, dtype=float)
    biggest = float(np.max(np.abs(J))) if J.size else 0.0
    if biggest == 0.0 or not np.isfinite(biggest):
        return None
    unit = 2.0 ** round(math.log2(biggest))  # exact scaling
    J = J / unit
    scale = float(np.max(np.abs(np.linalg.eigvals(J))))
    if scale == 0.0 or not np.isfinite(scale):
        return None
    evaluate = linear_evaluator(UpdateRule("alt", {"lr": 1.0}), J, n_psi)
    found, _ = largest_stable_step(
        lambda steps: evaluate({"step": steps}), 1 / scale, None if smallest is None else smallest * unit
    )
    if found is None:
        return None
    step = found / unit
    return step if math.isfinite(step) and step > 0 else None  # beyond float64's range: no number to give


@dataclass
class LinearAnalysis:
    """The linearisation of the flow at one point."""

    point: dict[str, float]
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    classification: str
    hyperbolic: bool
    max_stable_step: float | None
    max_stable_step_alternating: float | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "point": self.point,
            "jacobian": self.jacobian.tolist(),
            "eigenvalues": [[float(v.real), float(v.imag)] for v in self.eigenvalues],
            "classification": self.classification,
            "hyperbolic": self.hyperbolic,
            "max_stable_step": self.max_stable_step,
            "max_stable_step_alternating": self.max_stable_step_alternating,
            "notes": list(self.notes),
        }


def linearise(
    point: dict[str, float], jacobian: np.ndarray, n_psi: int, tol: Tolerance | None = None
) -> LinearAnalysis:
    """Eigenvalues, class and discrete-time steps from a Jacobian.

    Signs are judged against each eigenvalue's own round-off bound relative to the Jacobian
    (:func:`spectrum`), so that ρ = 1e-300 is a stable focus with a margin of 5e-301, not a center; a
    :class:`Tolerance` given here replaces those bounds by its fixed threshold.
    """
    J = np.asarray(jacobian, dtype=float)
    if not np.all(np.isfinite(J)):
        raise ValueError("linearise needs a finite Jacobian")  # the engines refuse overflow before this
    spec = spectrum(J, tol)
    cls, hyperbolic = classify_spectrum(spec)
    step = _max_step(spec)
    alternating = max_stable_step_alternating(J, n_psi, smallest=1e-3 * step if step else None)
    return LinearAnalysis(
        point=point,
        jacobian=J,
        eigenvalues=spec.values,
        classification=cls,
        hyperbolic=hyperbolic,
        max_stable_step=step,
        max_stable_step_alternating=alternating,
        notes=_roundoff_notes(spec, J, step, alternating),
    )


def _max_step(spec: Spectrum) -> float | None:
    """min −2 Re λ/|λ|², when every real part is negative beyond its round-off bound."""
    values = spec.values
    if values.size == 0 or np.any(values.real >= -spec.re_error):
        return None
    step = float(np.min(-2 * values.real / np.abs(values) / np.abs(values)))  # |λ|² of 1e300 overflows
    return step if math.isfinite(step) else None  # |λ| ~ 1e-311: a step beyond float64's range


def _roundoff_notes(spec: Spectrum, J: np.ndarray, step: float | None, alternating: float | None) -> list[str]:
    """Say when a verdict sits within round-off of the stability boundary, or only just outside it."""
    notes = []
    norm = frobenius(J)
    values, error = spec.values, spec.re_error
    tiny = np.abs(J[(J != 0)]) if J.size else np.zeros(0)
    if tiny.size and float(np.min(tiny)) < 1e-290:  # near float64's subnormals: products of entries vanish
        notes.append(
            f"the Jacobian has entries as small as {float(np.min(tiny)):.3g}, at the edge of float64's range: "
            "terms below about 1e-308 lost digits or vanished, so the class may be wrong; rescale the spec"
        )
    within = np.abs(values.real) <= error
    if np.any(within & (error > 0)):  # exact zeros (a zero bound) need no caveat
        shown = ", ".join(f"{v.real:.3g}" for v in values[within])
        notes.append(
            f"Re λ = {shown} {'is' if np.sum(within) == 1 else 'are'} zero within round-off (bound "
            f"{float(np.max(error[within])):.2g} for ‖J‖ = {norm:.3g}): the verdict is on the stability boundary "
            "as far as float64 can tell"
        )
    if values.size and not np.any(within):
        closest = int(np.argmin(np.abs(values.real)))
        margin = abs(float(values[closest].real))
        if margin < 1e-6 * norm:
            notes.append(
                f"the margin to the stability boundary is tiny: min |Re λ| = {margin:.3g} beside ‖J‖ = {norm:.3g} "
                f"(its round-off bound is {float(error[closest]):.2g}, so the sign is certain)"
            )
    if step is not None and alternating is None:
        notes.append("alternating GD: its contraction per step is below float64 resolution; no step is certain")
    return notes
