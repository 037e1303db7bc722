"""Fréchet distance between two Gaussians, the maths of FID.

    d² = ‖m₁ − m₂‖² + Tr(C₁ + C₂ − 2 (C₁ C₂)^½)

Three routes to Tr((C₁C₂)^½), all in float64:

``"eigh"`` (:func:`frechet_distance_eigh`)
    Tr((C₁C₂)^½) = Σᵢ √λᵢ(C₁^½ C₂ C₁^½): AB and BA have the same eigenvalues,
    so C₁C₂ = C₁^½·(C₁^½C₂) has those of the symmetric positive semi-definite
    S = C₁^½ C₂ C₁^½ whatever the ranks, and the root FID means is the one
    with eigenvalues √λᵢ ≥ 0. The √λᵢ(S) are the singular values of
    C₁^½ C₂^½ (its Gram matrix is S), and those are computed here: with
    Cₖ = Vₖ Wₖ Vₖᵀ from ``scipy.linalg.eigh``, they are the singular values of
    W₁^½ (V₁ᵀV₂) W₂^½. Taking singular values rather than the eigenvalues of
    S itself matters: S squares the condition number, and √ of its smallest
    eigenvalues (absolute error ε‖S‖) loses digits that the singular values
    (absolute error ε‖C‖^½·…) keep; on the benchmark's commuting cases, whose
    FID is known in closed form, this route is within ~1e-13 of it where
    √λ(S) is within ~1e-8 and sqrtm within 1e-9…1e-5. Eigenvalues of C₁ or
    C₂ below the rounding level d·ε·max(w), including the tiny negative
    ones rounding leaves on a rank-deficient covariance, are set to 0: they
    are the numerical null space (a true eigenvalue that small cannot be told
    from rounding), and their √ (~1e-8·√max w each) would otherwise add up to
    a visible error on a rank-deficient covariance. Symmetric solvers and an
    SVD only: no Schur form, no complex numbers.
``"sqrtm"`` (:func:`frechet_distance_sqrtm`)
    ``scipy.linalg.sqrtm(C₁C₂)`` and its trace, exactly as pytorch-fid
    (``calculate_frechet_distance``) and the TTUR reference code do it,
    with their guards: ``eps`` added to both diagonals when the product is
    too singular for a finite root, small imaginary parts dropped, large
    ones an error.
``"torch-fidelity"`` (:func:`frechet_distance_torch_fidelity`)
    torch-fidelity's own ``fid_statistics_to_metric``: Σ √λᵢ(C₁C₂) from the
    general (non-symmetric) eigenvalues ``numpy.linalg.eigvals(C₁C₂)``,
    square roots taken in complex128, real part summed.

:func:`frechet_distance` uses ``"eigh"`` by default: ``benchmarks/bench_frechet.py``
measures it against the other two on 2048-d statistics (see that file's
docstring for the numbers and the rule).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import linalg

from stability.util.errors import UserError

#: The routes :func:`frechet_distance` knows.
METHODS = ("eigh", "sqrtm", "torch-fidelity")

#: The default route; chosen by ``benchmarks/bench_frechet.py`` (see the module docstring).
DEFAULT_METHOD = "eigh"


def check_statistics(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> tuple[np.ndarray, ...]:
    """The four statistics as float64 arrays, or a one-line :class:`UserError` saying what is wrong.

    Means must be 1-D of one length d, covariances (d, d), everything finite.
    """
    out = []
    for name, value, ndim in (("mu1", mu1, 1), ("sigma1", sigma1, 2), ("mu2", mu2, 1), ("sigma2", sigma2, 2)):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise UserError(f"Fréchet distance: {name} is not a numeric array ({exc})") from None
        if array.ndim != ndim:
            raise UserError(f"Fréchet distance: {name} must be {ndim}-D, got shape {array.shape}")
        if not np.isfinite(array).all():
            bad = int(array.size - np.isfinite(array).sum())
            raise UserError(f"Fréchet distance: {name} has {bad} non-finite entries (NaN or inf)")
        out.append(array)
    m1, s1, m2, s2 = out
    d = m1.shape[0]
    if d == 0:
        raise UserError("Fréchet distance: the statistics are empty (dimension 0)")
    if m2.shape != (d,):
        raise UserError(f"Fréchet distance: the means have different lengths, {m1.shape[0]} and {m2.shape[0]}")
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if s.shape != (d, d):
            raise UserError(f"Fréchet distance: {name} must be ({d}, {d}) to match the means, got {s.shape}")
    return m1, s1, m2, s2


def _mean_term(m1: np.ndarray, m2: np.ndarray) -> float:
    diff = m1 - m2
    return float(diff @ diff)


def _psd_root_eigh(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(√w, V) of a symmetric PSD matrix V diag(w) Vᵀ, eigenvalues below d·ε·max(w) set to 0."""
    w, v = linalg.eigh(sigma, check_finite=False, driver="evd")
    floor = max(float(w[-1]), 0.0) * sigma.shape[0] * np.finfo(np.float64).eps
    return np.sqrt(np.where(w > floor, w, 0.0)), v


def frechet_distance_eigh(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """d² by symmetric eigendecompositions: Tr((C₁C₂)^½) = Σ σᵢ(W₁^½ V₁ᵀV₂ W₂^½) = Σ √λᵢ(C₁^½ C₂ C₁^½).

    The covariances are symmetrised, (C + Cᵀ)/2, first (the symmetric solver reads one
    triangle only); eigenvalues at rounding level are set to 0 (see the module docstring).
    """
    m1, s1, m2, s2 = check_statistics(mu1, sigma1, mu2, sigma2)
    s1 = (s1 + s1.T) * 0.5
    s2 = (s2 + s2.T) * 0.5
    root1, v1 = _psd_root_eigh(s1)
    root2, v2 = _psd_root_eigh(s2)
    cross = v1.T @ v2
    cross *= root1[:, None]
    cross *= root2[None, :]
    tr_covmean = float(linalg.svdvals(cross, overwrite_a=True, check_finite=False).sum())
    return _mean_term(m1, m2) + float(np.trace(s1) + np.trace(s2)) - 2.0 * tr_covmean


def frechet_distance_sqrtm(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, eps: float = 1e-6) -> float:
    """d² with ``scipy.linalg.sqrtm(C₁C₂)``, as pytorch-fid's ``calculate_frechet_distance`` computes it.

    Guards (pytorch-fid's): if the root of the product is not finite, ``eps`` is added to both
    diagonals and the root taken again; an imaginary part of the root's diagonal within 1e-3 of
    zero is rounding and dropped, a larger one raises :class:`UserError`. scipy's warning that the
    product is singular or ill-conditioned (pytorch-fid silences it with ``disp=False``, which
    scipy ≥ 1.16 deprecates) is silenced here too.
    """
    m1, s1, m2, s2 = check_statistics(mu1, sigma1, mu2, sigma2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1.dot(s2))
        if not np.isfinite(covmean).all():
            offset = np.eye(s1.shape[0]) * eps
            covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            worst = float(np.max(np.abs(covmean.imag)))
            raise UserError(
                f"Fréchet distance: sqrt(C1 C2) has an imaginary part of {worst:.3g}; "
                "the covariances are not positive semi-definite"
            )
        covmean = covmean.real
    if not np.isfinite(covmean).all():
        raise UserError("Fréchet distance: sqrt(C1 C2) is not finite even with eps on the diagonals")
    return _mean_term(m1, m2) + float(np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def frechet_distance_torch_fidelity(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """d² by torch-fidelity's ``fid_statistics_to_metric`` (general eigenvalues of C₁C₂)."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    m1, s1, m2, s2 = check_statistics(mu1, sigma1, mu2, sigma2)
    out = fid_statistics_to_metric({"mu": m1, "sigma": s1}, {"mu": m2, "sigma": s2}, verbose=False)
    return float(out[KEY_METRIC_FID])


_ROUTES = {
    "eigh": frechet_distance_eigh,
    "sqrtm": frechet_distance_sqrtm,
    "torch-fidelity": frechet_distance_torch_fidelity,
}


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, method: str | None = None) -> float:
    """‖m₁ − m₂‖² + Tr(C₁ + C₂ − 2 (C₁C₂)^½) in float64 (FID when the statistics are Inception features').

    Args:
        mu1, sigma1: mean (d,) and covariance (d, d) of the first Gaussian.
        mu2, sigma2: the second.
        method: ``"eigh"``, ``"sqrtm"`` or ``"torch-fidelity"`` (see the module docstring);
            ``None`` means :data:`DEFAULT_METHOD`.

    Raises:
        UserError: wrong shapes, non-finite entries, an unknown method, or (sqrtm) a
            product whose square root is not real.
    """
    method = DEFAULT_METHOD if method is None else method
    if method not in _ROUTES:
        raise UserError(f"unknown Fréchet distance method {method!r}; valid: {', '.join(METHODS)}")
    return _ROUTES[method](mu1, sigma1, mu2, sigma2)
