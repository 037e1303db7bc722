"""Linear stability: eigenvalues, classification and discrete-time steps.

Continuous time (the ODE method of Mescheder et al. 2017): an equilibrium is
locally asymptotically stable when every eigenvalue of the Jacobian J has
Re λ < 0; the linearisation is inconclusive when some Re λ = 0.

Discrete time: simultaneous gradient steps x ← x + h F(x) have the update
Jacobian I + hJ, stable iff |1 + hλ| < 1 for every λ, i.e.
h < min_λ −2 Re λ / |λ|² (Mescheder et al. 2017, Lemma 4). Alternating steps
(ψ first, θ then sees the new ψ) have the update Jacobian built in
:func:`alternating_update`; their largest stable step is found numerically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
    rotating = bool(np.any(np.abs(im) > zero))
    negative, positive = re < -zero, re > zero
    if np.all(negative):
        return (STABLE_FOCUS if rotating else STABLE_NODE), True
    if np.all(positive):
        return (UNSTABLE_FOCUS if rotating else UNSTABLE_NODE), True
    if np.all(negative | positive):
        return SADDLE, True
    if np.any(positive) and np.any(negative):
        return SADDLE, False
    if not np.any(negative | positive) and np.all(np.abs(im) > zero):
        return CENTER, False
    return NON_HYPERBOLIC, False


def max_stable_step_simultaneous(eigs: np.ndarray, tol: Tolerance = Tolerance()) -> float | None:
    """sup{h : |1 + hλ| < 1 ∀λ} = min −2 Re λ/|λ|², or ``None`` if no h > 0 is stable."""
    eigs = np.asarray(eigs, dtype=complex)
    if eigs.size == 0 or np.any(eigs.real >= -tol.zero(eigs)):
        return None
    return float(np.min(-2 * eigs.real / np.abs(eigs) ** 2))


def simultaneous_update(jacobian: np.ndarray, step: float) -> np.ndarray:
    """Jacobian of one simultaneous step x ← x + h F(x): I + hJ."""
    J = np.asarray(jacobian, dtype=float)
    return np.eye(len(J)) + step * J


def alternating_update(jacobian: np.ndarray, n_psi: int, step: float) -> np.ndarray:
    """Jacobian of ψ ← ψ + h F_ψ(ψ, θ); θ ← θ + h F_θ(ψ_new, θ).

    With J = [[A, B], [C, E]] (A = ∂ψ̇/∂ψ, …) the map's Jacobian is
    [[I + hA, hB], [hC(I + hA), I + hE + h² C B]].
    """
    J = np.asarray(jacobian, dtype=float)
    A, B = J[:n_psi, :n_psi], J[:n_psi, n_psi:]
    C, E = J[n_psi:, :n_psi], J[n_psi:, n_psi:]
    I_psi, I_theta = np.eye(n_psi), np.eye(len(J) - n_psi)
    top = np.hstack([I_psi + step * A, step * B])
    bottom = np.hstack([step * C @ (I_psi + step * A), I_theta + step * E + step**2 * C @ B])
    return np.vstack([top, bottom])


def spectral_radius(matrix: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def step_spectral_radii(jacobian: np.ndarray, n_psi: int, step: float) -> dict[str, float]:
    """Spectral radii of one simultaneous and one alternating GD step of size ``step`` (< 1: locally convergent)."""
    return {
        "simultaneous": spectral_radius(simultaneous_update(jacobian, step)),
        "alternating": spectral_radius(alternating_update(jacobian, n_psi, step)),
    }


def max_stable_step_alternating(jacobian: np.ndarray, n_psi: int, tol: Tolerance = Tolerance()) -> float | None:
    """The largest h such that alternating GD is contracting for every step in (0, h).

    Scans h on a geometric grid up to 20/|λ|max, then bisects the first
    crossing of spectral radius 1 (to 1e-10 relative).
    """
    J = np.asarray(jacobian, dtype=float)
    scale = float(np.max(np.abs(np.linalg.eigvals(J)))) if J.size else 0.0
    if scale == 0.0:
        return None
    stable = lambda h: spectral_radius(alternating_update(J, n_psi, h)) < 1 - tol.atol  # noqa: E731
    grid = np.geomspace(1e-6 / scale, 20 / scale, 600)
    if not stable(grid[0]):
        return None
    previous = grid[0]
    for h in grid[1:]:
        if not stable(h):
            low, high = previous, h
            while high - low > 1e-10 * high:
                middle = (low + high) / 2
                low, high = (middle, high) if stable(middle) else (low, middle)
            return float(low)
        previous = h
    return float(grid[-1])


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
    point: dict[str, float], jacobian: np.ndarray, n_psi: int, tol: Tolerance = Tolerance()
) -> LinearAnalysis:
    """Eigenvalues, class and discrete-time steps from a Jacobian."""
    eigs = eigenvalues(jacobian)
    cls, hyperbolic = classify(eigs, tol)
    return LinearAnalysis(
        point=point,
        jacobian=np.asarray(jacobian, dtype=float),
        eigenvalues=eigs,
        classification=cls,
        hyperbolic=hyperbolic,
        max_stable_step=max_stable_step_simultaneous(eigs, tol),
        max_stable_step_alternating=max_stable_step_alternating(jacobian, n_psi, tol),
    )
