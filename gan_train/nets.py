"""Generator and critic for 2-D data, from :class:`models.mlp.MLP`.

The critic optionally carries spectral normalisation on every linear layer
(``torch.nn.utils.parametrizations.spectral_norm``, one power iteration per
forward in training mode) and weight clipping is applied in place after each
critic step (Arjovsky et al.).
"""

from __future__ import annotations

import torch
from torch import nn

from models.mlp import MLP


def build_generator(config) -> MLP:
    """G: R^latent_dim → R², ``depth`` hidden layers of ``width`` units."""
    return MLP(config.latent_dim, 2, config.width, config.depth, config.activation)


def build_critic(config) -> MLP:
    """D: R² → R (output shape ``(B,)``), spectrally normalised when configured."""
    critic = MLP(2, 1, config.width, config.depth, config.activation)
    if config.spectral_norm:
        for module in critic.modules():
            if isinstance(module, nn.Linear):
                torch.nn.utils.parametrizations.spectral_norm(module)
    return critic


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> None:
    """Clamp every parameter of ``module`` to [−c, c] in place."""
    for parameter in module.parameters():
        parameter.clamp_(-c, c)


def architecture(config) -> dict:
    """What a checkpoint must match to be loaded into models built from ``config``."""
    keys = ("latent_dim", "width", "depth", "activation", "spectral_norm")
    return {key: getattr(config, key) for key in keys}
