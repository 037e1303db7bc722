"""The Inception Score from logits or class probabilities (Salimans et al. 2016).

Its own module, below both the Inception pipeline (:mod:`gan_train.metrics.inception`) and the metric registry
(:mod:`gan_train.metrics.registry`), so neither imports the other to reach it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from stability.util.errors import UserError


def inception_score(
    logits_or_probs: Any, splits: int = 10, *, probs: bool = False, shuffle: bool = True, rng_seed: int = 2020
) -> tuple[float, float]:
    """Inception Score: mean and standard deviation over ``splits`` of exp(E_x KL(p(y|x) ‖ p(y))).

    p(y) is the mean of p(y|x) over the split; the std is numpy's (ddof 0). Samples are shuffled
    with ``numpy.random.RandomState(rng_seed)`` first, then split in order, as torch-fidelity does.

    Args:
        logits_or_probs: (N, C) logits (default; torch-fidelity's ``isc_features_to_metric`` is
            applied to them as they are) or, with ``probs=True``, class probabilities (rows ≥ 0
            summing to 1). Probabilities go through the same formula written out here with
            0·log 0 = 0 (``torch.xlogy``), because torch-fidelity's takes logits, and log 0 =
            −inf in it would give 0·(−inf) = NaN for a class of probability 0.
        splits: number of splits (1 ≤ splits ≤ N).
    """
    x = torch.as_tensor(logits_or_probs)
    if x.dim() != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise UserError(f"the Inception Score needs an (N, classes) array, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.to(torch.float64)
    n = x.shape[0]
    if not isinstance(splits, (int, np.integer)) or not 1 <= splits <= n:
        raise UserError(f"the Inception Score needs 1 <= splits <= number of samples ({n}), got {splits}")
    if not torch.isfinite(x).all():
        raise UserError("the Inception Score got NaN or inf among its inputs")
    x = x.detach().cpu()
    if not probs:
        from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

        out = isc_features_to_metric(x, splits=int(splits), shuffle=shuffle, rng_seed=rng_seed)
        return float(out[KEY_METRIC_ISC_MEAN]), float(out[KEY_METRIC_ISC_STD])
    p = x.to(torch.float64)
    if (p < 0).any() or not torch.allclose(p.sum(1), torch.ones(n, dtype=torch.float64), rtol=0, atol=1e-6):
        raise UserError("probs=True needs rows of non-negative class probabilities that sum to 1")
    if shuffle:
        p = p[np.random.RandomState(rng_seed).permutation(n), :]
    scores = []
    for i in range(splits):
        chunk = p[(i * n // splits) : ((i + 1) * n // splits)]
        marginal = chunk.mean(0, keepdim=True)
        kl = (torch.xlogy(chunk, chunk) - torch.xlogy(chunk, marginal)).sum(1)
        scores.append(kl.mean().exp().item())
    return float(np.mean(scores)), float(np.std(scores))
