"""Continua of equilibria found numerically: dimension, tangents, a second point, the transverse spectrum.

On a d-dimensional manifold of roots of F the Jacobian is singular along it (J·t = 0 for every tangent t), so
rank J ≤ n − d there (Lemma 3 of ``003_…``: the θ = 0 axis of the D₂ = ψx² system; issue 27: three planes of the
tanh critic). A small singular value alone does not make a continuum (an isolated root of x² has one), so the
dimension is *confirmed*: from the root p, steps of length h along each null direction of J are pulled back onto
F = 0 by Levenberg–Marquardt; directions along which the corrected point stays about h away from p are tangent,
and the corrected points are roots with the same rank deficiency — the second point of the report.

With T an orthonormal basis of the tangent space and N of its complement, J·T = 0 makes J block-triangular in the
basis (T, N), so its eigenvalues are d exact zeros and those of the transverse block NᵀJN. The zeros are known
to be exactly zero; only the transverse eigenvalues carry a sign that round-off could flip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stability.analysis.flows import BatchedFlow
from stability.analysis.linear import (
    NON_HYPERBOLIC,
    LinearAnalysis,
    Spectrum,
    _roundoff_notes,
    classify,
    classify_spectrum,
    eigenvalues,
    spectrum,
)
from stability.analysis.roots import levenberg_marquardt

#: A singular value below this fraction of the largest (or of J's typical size) counts as a null direction of J: a
#: candidate tangent, confirmed or refuted by :func:`confirm_dimension`. Generous on purpose: near a point where
#: continua meet, F is quadratic and the search stops 1e-7 away with singular values of that size, and such a
#: point must count as degenerate (it is gathered by the continua through it), not as a generic one.
RANK_RTOL = 1e-5


@dataclass
class Transverse:
    """The spectrum of J across a continuum (its block NᵀJN), and its class.

    Attributes:
        eigenvalues: the n − d transverse eigenvalues at the continuum's point.
        classification: their class (``stable node`` … as for an isolated point of dimension n − d).
        along: how often each class was seen at the other roots found on the continuum (it can change along it:
            Lemma 3's axis is attracting for ψ < 0 and repelling for ψ > 0), counting only generic roots.
        meeting: roots found on it with more null directions than its dimension (where it meets another
            continuum, or the transverse spectrum degenerates): not counted in ``along``.
    """

    eigenvalues: np.ndarray
    classification: str
    along: dict[str, int] = field(default_factory=dict)
    meeting: int = 0  # roots found on it where J has more null directions (where it meets another continuum)

    def to_dict(self) -> dict:
        return {
            "eigenvalues": [[float(v.real), float(v.imag)] for v in self.eigenvalues],
            "classification": self.classification,
            "along": dict(self.along),
            "meeting": self.meeting,
        }


def null_basis(jacobian: np.ndarray, rtol: float = RANK_RTOL, scale: float = 0.0) -> np.ndarray:
    """Orthonormal columns spanning the directions J maps to (nearly) zero: σ ≤ ``rtol``·max(σ_max, ``scale``).

    ``scale`` is the Jacobian's typical size in the region searched: near a point where J itself vanishes (where
    continua meet) every σ is tiny, and only against the typical size do they count as zero.
    """
    J = np.asarray(jacobian, dtype=float)
    _, s, Vt = np.linalg.svd(J)
    top = max(float(s[0]) if s.size else 0.0, scale)
    small = s <= rtol * top if top > 0 else np.ones_like(s, bool)
    return Vt[small].T.copy()


def null_dimensions(jacobians: np.ndarray, rtol: float = RANK_RTOL, scale: float = 0.0) -> np.ndarray:
    """The number of null directions of each Jacobian of a batch (N, n, n) (see :func:`null_basis`)."""
    s = np.linalg.svd(jacobians, compute_uv=False)
    top = np.maximum(s[:, :1], scale)
    return np.sum(np.where(top > 0, s <= rtol * top, True), axis=1)


def complement(tangents: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning the orthogonal complement of the columns of ``tangents`` (n × d)."""
    n, d = tangents.shape
    if d == 0:
        return np.eye(n)
    Q, _ = np.linalg.qr(np.hstack([tangents, np.eye(n)]))
    return Q[:, d:n].copy()


def transverse_block(jacobian: np.ndarray, tangents: np.ndarray) -> np.ndarray:
    """NᵀJN: the linearisation across the continuum (its eigenvalues are J's other than the d tangent zeros)."""
    N = complement(tangents)
    return N.T @ np.asarray(jacobian, dtype=float) @ N


@dataclass
class Probe:
    """The outcome of :func:`confirm_dimension` at one root."""

    dimension: int
    tangents: np.ndarray  # n × d, orthonormal
    second_point: np.ndarray | None
    flat: bool
    candidates: int  # null directions of J at the root


def confirm_dimension(
    flow: BatchedFlow,
    point: np.ndarray,
    jacobian: np.ndarray,
    step: float,
    is_root,
    rtol: float = RANK_RTOL,
    scale: float = 0.0,
) -> Probe:
    """The dimension of the set of roots through ``point``, confirmed by steps along J's null directions.

    Args:
        flow: the flow (batched values and Jacobians).
        point: a root.
        jacobian: J at ``point``.
        step: the probe length h (a few percent of the box).
        is_root: ``(values, sizes) -> bool mask`` deciding which corrected points are roots.
        rtol: see :data:`RANK_RTOL`.
        scale: the Jacobian's typical size (see :func:`null_basis`).
    """
    V = null_basis(jacobian, rtol, scale)
    k = V.shape[1]
    n = len(point)
    if k == 0:
        return Probe(0, np.zeros((n, 0)), None, True, 0)
    starts = np.vstack([point + step * V.T, point - step * V.T])
    run = levenberg_marquardt(flow, starts, iterations=40, max_step=step)
    ok = is_root(run.values, run.sizes)
    moved = run.points - point
    far = np.linalg.norm(moved, axis=1) >= 0.5 * step
    keep = ok & far
    if not np.any(keep):
        return Probe(0, np.zeros((n, 0)), None, True, k)
    _, s, Vt = np.linalg.svd(moved[keep] / step)
    d = int(np.sum(s >= 0.25))
    # the corrected points must themselves be singular roots of at least the same dimension
    second = np.nonzero(keep)[0][0]
    there = null_dimensions(run.jacobians[second : second + 1], rtol, scale)[0]
    if d == 0 or there < d:
        return Probe(0, np.zeros((n, 0)), None, True, k)
    tangents = V if d == k else np.linalg.qr(V @ (V.T @ Vt[:d].T))[0]
    q = run.points[second]
    offset = q - point
    normal_part = offset - tangents @ (tangents.T @ offset)
    T_q = null_basis(run.jacobians[second], rtol, scale)[:, :d] if there == d else tangents
    angle = np.linalg.norm(T_q - tangents @ (tangents.T @ T_q))
    flat = bool(np.linalg.norm(normal_part) <= 1e-5 * np.linalg.norm(offset) and angle <= 1e-5)
    return Probe(d, tangents, q, flat, k)


def reaches(
    flow: BatchedFlow,
    start: np.ndarray,
    targets: np.ndarray,
    dimension: int,
    step: float,
    is_root,
    steps: int = 200,
) -> np.ndarray:
    """Which ``targets`` (roots) lie on the same continuum as the root ``start``: a walk along it reaches them.

    From ``start``, each walker steps (at most ``step`` long) along the projection of the way to its target onto
    the ``dimension`` null directions of J, and is pulled back onto F = 0 by Levenberg–Marquardt. A walker that
    comes within ``step`` of its target has reached it; one whose way no longer points along the continuum
    (projection under a fifth of it), or that falls off F = 0, has not. This is how a curved continuum (a circle
    of equilibria) gathers the roots the search found on it, where an affine test cannot.
    """
    targets = np.atleast_2d(np.asarray(targets, dtype=float))
    Y = np.repeat(np.asarray(start, dtype=float)[None], len(targets), axis=0)
    active = np.ones(len(targets), bool)
    reached = np.zeros(len(targets), bool)
    for _ in range(steps):
        way = targets - Y
        dist = np.linalg.norm(way, axis=1)
        arrived = active & (dist <= step)
        reached |= arrived
        active &= ~arrived
        if not np.any(active):
            break
        idx = np.nonzero(active)[0]
        J = flow.evaluate(Y[idx]).jacobians
        _, _, Vt = np.linalg.svd(J)
        T = Vt[:, J.shape[1] - dimension :, :]  # (m, d, n): the d least-stretched directions
        move = np.einsum("kdn,kd->kn", T, np.einsum("kdn,kn->kd", T, way[idx]))
        length = np.linalg.norm(move, axis=1)
        along = length >= 0.2 * np.minimum(dist[idx], step)
        active[idx[~along]] = False
        idx, move, length = idx[along], move[along], length[along]
        if idx.size == 0:
            break
        trial = Y[idx] + move * np.minimum(1.0, step / length)[:, None]
        run = levenberg_marquardt(flow, trial, iterations=20, max_step=step)
        ok = is_root(run.values, run.sizes)
        Y[idx[ok]] = run.points[ok]
        active[idx[~ok]] = False
    return reached


def equations(
    point: np.ndarray, tangents: np.ndarray, names: list[str], tol: float
) -> tuple[dict[str, str], list[str], np.ndarray]:
    """A flat continuum p + span(T) as ``{pivot: expression in the free names}``, the free names, and tangents.

    The normal space, in reduced row echelon form, is the unique system of equations of the affine subspace;
    its pivots are solved for, the other coordinates are free (the form ``solve_symbolic`` gives). The tangents
    returned are that parametrisation's directions (one per free name), orthonormalised in order: e_c and e_s for
    the plane {a = 0, t = 0}, rather than whatever rotation of them an SVD gives.
    """
    N = complement(tangents).T  # (n − d) × n, rows span the normals
    R = _rref(N, 1e-9)
    pivots = [int(np.flatnonzero(np.abs(row) > 1e-9)[0]) for row in R]
    free = [i for i in range(len(names)) if i not in pivots]
    exact = {}
    for row, p in zip(R, pivots):
        value = float(row @ point)
        parts = [_number(value, tol)] if abs(value) > tol or not any(abs(row[j]) > 1e-9 for j in free) else []
        for j in free:
            if abs(row[j]) > 1e-9:
                parts.append(f"{_number(-row[j], 0.0)}*{names[j]}")
        exact[names[p]] = " + ".join(parts).replace("+ -", "- ") if parts else "0"
    basis = np.zeros((len(names), len(free)))
    for col, j in enumerate(free):
        basis[j, col] = 1.0
        for row, p in zip(R, pivots):
            basis[p, col] = -row[j]
    Q, U = np.linalg.qr(basis)
    return exact, [names[j] for j in free], Q * np.sign(np.diag(U))  # each direction keeps its sign


def _number(value: float, tol: float) -> str:
    if abs(value) <= tol:
        return "0"
    rounded = round(value)
    return str(int(rounded)) if abs(value - rounded) <= max(tol, 1e-12 * abs(value)) else f"{value:.9g}"


def _rref(A: np.ndarray, tol: float) -> np.ndarray:
    R = np.array(A, dtype=float)
    rows, cols = R.shape
    r = 0
    for c in range(cols):
        if r == rows:
            break
        pivot = r + int(np.argmax(np.abs(R[r:, c])))
        if abs(R[pivot, c]) <= tol:
            continue
        R[[r, pivot]] = R[[pivot, r]]
        R[r] /= R[r, c]
        for i in range(rows):
            if i != r:
                R[i] -= R[i, c] * R[r]
        r += 1
    R[np.abs(R) <= tol] = 0.0
    return R[:r]


def transverse_class(jacobian: np.ndarray, tangents: np.ndarray) -> tuple[np.ndarray, str, Spectrum]:
    """Eigenvalues and class of NᵀJN, with round-off bounds (:func:`~stability.analysis.linear.spectrum`)."""
    M = transverse_block(jacobian, tangents)
    spec = spectrum(M)
    cls, _ = classify_spectrum(spec) if M.size else (NON_HYPERBOLIC, False)
    return spec.values, cls, spec


def classes_along(jacobians: np.ndarray, dimension: int) -> dict[str, int]:
    """The transverse class at each of a batch of roots on one continuum (tangents: the d smallest directions)."""
    counts: dict[str, int] = {}
    for J in jacobians:
        _, _, Vt = np.linalg.svd(J)
        M = transverse_block(J, Vt[len(J) - dimension :].T)
        cls, _ = classify(eigenvalues(M)) if M.size else (NON_HYPERBOLIC, False)
        counts[cls] = counts.get(cls, 0) + 1
    return counts


def linearise_on_continuum(
    point: dict[str, float], jacobian: np.ndarray, tangents: np.ndarray, along: dict[str, int] | None = None
) -> LinearAnalysis:
    """The linearisation at a point of a d-dimensional continuum: d exact zeros and the transverse spectrum.

    The class is non-hyperbolic (there are zero eigenvalues, exactly); the transverse class says whether nearby
    orbits approach the continuum. No sign is claimed for the d zeros: they are zero by the continuum's
    existence, not by a computation that round-off could have moved.
    """
    J = np.asarray(jacobian, dtype=float)
    d = tangents.shape[1]
    values, cls, spec = transverse_class(J, tangents)
    zeros = np.zeros(d, complex)
    all_values = np.concatenate([zeros, values])
    all_values = all_values[np.lexsort((all_values.imag, all_values.real))]
    shown = ", ".join(_eig(v) for v in values) or "none (the continuum fills the space)"
    notes = [
        f"on a {d}-dimensional continuum of equilibria: {d} eigenvalue{'s are' if d > 1 else ' is'} exactly 0 "
        f"(along it); across it ({len(values)} transverse): {cls if values.size else '-'} ({shown})"
    ]
    if along and (len(along) > 1 or cls not in along):
        seen = ", ".join(f"{k} at {v}" for k, v in along.items())
        notes.append(f"the transverse class changes along the continuum (found roots on it: {seen})")
    if values.size:
        step = _transverse_step(spec)
        if step is not None:
            notes.append(
                f"simultaneous GD with h < {step:.6g} is attracted to the continuum (not to this point): "
                "|1 + hλ| < 1 for every transverse λ"
            )
        notes += [f"transverse: {n}" for n in _roundoff_notes(spec, transverse_block(J, tangents), step, step)]
    return LinearAnalysis(
        point=point,
        jacobian=J,
        eigenvalues=all_values,
        classification=NON_HYPERBOLIC,
        hyperbolic=False,
        max_stable_step=None,
        max_stable_step_alternating=None,
        notes=notes,
    )


def _transverse_step(spec: Spectrum) -> float | None:
    v = spec.values
    if v.size == 0 or np.any(v.real >= -spec.re_error):
        return None
    return float(np.min(-2 * v.real / np.abs(v) ** 2))


def _eig(v: complex) -> str:
    return f"{v.real + 0.0:.6g}{v.imag:+.6g}i" if abs(v.imag) > 1e-12 else f"{v.real + 0.0:.6g}"
