"""Critic and generator losses from the shared loss links of :mod:`stability.spec.links`.

The critic maximises ``E_pd[f(D)] + E_pθ[f(−D)]`` (``003_…`` Section 4), so it
minimises ``−E_pd[f(D(x_d))] − E_pθ[f(−D(x_g))] = E_pθ[φ(D)] + E_pd[φ(−D)]``
with the Lipschitz-GAN φ(x) = −f(−x) of ``000_…``/``002_…``. The generator
minimises ``−E[D(G(z))]`` (``"linear"``, the default of ``000_…``) or the
critic's own objective ``E[f(−D(G(z)))]`` (``"minimax"``).
"""

from __future__ import annotations

import torch

from stability.spec.links import LossLink
from stability.spec.ops import TORCH
from stability.util.errors import unknown_name

GEN_LOSSES = ("linear", "minimax")


def critic_loss(link: LossLink, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """``−(E[f(D(x_d))] + E[f(−D(x_g))])``; ``d_real``, ``d_fake`` of shape ``(B,)``."""
    return -(link(d_real, TORCH).mean() + link(-d_fake, TORCH).mean())


def generator_loss(kind: str, link: LossLink, d_fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss on ``d_fake = D(G(z))`` of shape ``(B,)``."""
    if kind == "linear":
        return -d_fake.mean()
    if kind == "minimax":
        return link(-d_fake, TORCH).mean()
    raise unknown_name("generator loss", kind, GEN_LOSSES)
