"""The plain maths behind the experiments' numbers (numpy only): optimal-transport targets, angles, modes.

Everything here takes arrays and returns arrays, so each rule is checked by hand in ``tests/test_experiments.py``:

* :func:`two_point_targets`: the optimal-transport partner of each of two fake points in closed form, the cheaper of
  the two pairings (for more points, :func:`gan_train.metrics.log.optimal_matching`, the matching behind W1);
* :func:`angles_deg` and :func:`cosines`: between the critic's input gradient and the direction to the target;
* :func:`mixture_modes` and :func:`mode_coverage`: the modes of a Gaussian-mixture data law and how many of them a
  sample set covers;
* :func:`ray_hits`: whether the ray from a point along its gradient passes through a mode ("points towards some
  real sample", Theorem 2 of ``002_…``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def two_point_targets(fake: Any, real: Any) -> tuple[np.ndarray, float, float]:
    """Closed form for two fake and two real points: ``(targets, cost of the pairing, cost of the other one)``.

    The pairings are fake₀→real₀, fake₁→real₁ and fake₀→real₁, fake₁→real₀; the optimal transport plan of the two
    uniform measures is the cheaper one (the transport cost is half the sum of the two distances).
    """
    y = np.asarray(fake, dtype=np.float64)
    x = np.asarray(real, dtype=np.float64)
    if y.shape != (2, x.shape[-1]) or x.shape[0] != 2:
        raise ValueError(f"two_point_targets needs two points a side, got {y.shape} and {x.shape}")
    straight = float(np.linalg.norm(y[0] - x[0]) + np.linalg.norm(y[1] - x[1]))
    crossed = float(np.linalg.norm(y[0] - x[1]) + np.linalg.norm(y[1] - x[0]))
    if straight <= crossed:
        return np.array([0, 1]), straight, crossed
    return np.array([1, 0]), crossed, straight


def cosines(vectors: Any, directions: Any) -> np.ndarray:
    """Row-wise cosine of the angle between ``vectors`` and ``directions`` (``(n, d)``); NaN where one is zero."""
    a = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1)
    b = np.asarray(directions, dtype=np.float64).reshape(len(directions), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.einsum("ij,ij->i", a, b) / norms
    return np.where(norms > 0, np.clip(cos, -1.0, 1.0), np.nan)


def angles_deg(vectors: Any, directions: Any) -> np.ndarray:
    """Row-wise angle in degrees (0–180) between ``vectors`` and ``directions``; NaN where one is zero."""
    return np.degrees(np.arccos(cosines(vectors, directions)))


def ray_hits(points: Any, directions: Any, centres: Any, radius: float) -> np.ndarray:
    """Whether the ray ``points[i] + t·directions[i]``, t ≥ 0, passes within ``radius`` of any of ``centres``.

    A point already within ``radius`` of a centre counts as a hit; a zero direction hits nothing else.
    """
    p = np.asarray(points, dtype=np.float64)  # (n, d)
    u = np.asarray(directions, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)  # (k, d)
    length = np.linalg.norm(u, axis=1, keepdims=True)
    unit = np.divide(u, length, out=np.zeros_like(u), where=length > 0)
    offset = c[None, :, :] - p[:, None, :]  # (n, k, d)
    along = np.einsum("nkd,nd->nk", offset, unit)  # t* of the closest approach
    closest = np.where(along[..., None] > 0, offset - along[..., None] * unit[:, None, :], offset)
    return (np.linalg.norm(closest, axis=2) <= radius).any(axis=1)


def mixture_modes(law: Any) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(k, d)`` and standard deviations ``(k,)`` of a mixture of isotropic normals (e.g. the toy sets).

    Each branch's point is ``mean + σ·n`` in its normal base variables: the centre is the point at n = 0 and σ the
    derivative along the first base variable.

    Raises:
        ValueError: a branch that is not an isotropic normal (the Swiss roll has no modes).
    """
    import sympy

    centres, sigmas = [], []
    for branch in law.branches:
        bases = list(branch.bases)
        if not bases or any(b.kind != "normal01" for b in bases) or len(bases) != len(branch.point):
            raise ValueError(f"{law} is not a mixture of isotropic normals")
        at_zero = {b.symbol: 0 for b in bases}
        centres.append([float(c.xreplace(at_zero)) for c in branch.point])
        scale = [[float(sympy.diff(c, b.symbol)) for b in bases] for c in branch.point]
        sigma = scale[0][0]
        if not np.allclose(scale, sigma * np.eye(len(bases))):
            raise ValueError(f"{law} is not a mixture of isotropic normals")
        sigmas.append(abs(sigma))
    return np.array(centres), np.array(sigmas)


def mode_coverage(samples: Any, centres: Any, sigmas: Any, within: float = 3.0, minimum: int = 20) -> dict[str, Any]:
    """Modes a sample set covers, by the rule of the 2-D mixture benchmarks (Srivastava et al.; Lin et al.).

    A sample is *high quality* when it lies within ``within`` standard deviations of its nearest centre; a mode is
    *covered* when at least ``minimum`` high-quality samples are nearest to it.

    Returns:
        ``{"modes": k, "covered": int, "high_quality": fraction of samples, "counts": high-quality per mode}``.
    """
    x = np.asarray(samples, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    s = np.broadcast_to(np.asarray(sigmas, dtype=np.float64), (len(c),))
    distance = np.linalg.norm(x[:, None, :] - c[None, :, :], axis=2)  # (n, k)
    nearest = distance.argmin(axis=1)
    good = distance[np.arange(len(x)), nearest] <= within * s[nearest]
    counts = np.bincount(nearest[good], minlength=len(c))
    return {
        "modes": int(len(c)),
        "covered": int((counts >= minimum).sum()),
        "high_quality": float(good.mean()) if len(x) else float("nan"),
        "counts": counts.tolist(),
    }


def quartiles(values: Any, axis: int = 0) -> dict[str, Any]:
    """Median and the 25th/75th percentiles along ``axis``, ignoring non-finite values (NaN where none is left)."""
    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isfinite(v), v, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice: its percentiles are NaN, as wanted
        q25, median, q75 = np.nanpercentile(v, [25, 50, 75], axis=axis)
    return {"q25": q25, "median": median, "q75": q75}
