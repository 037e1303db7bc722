"""Parameter counts of a network, one name per meaning.

Spectral normalisation's power-iteration vectors u, v and BatchNorm's running statistics are buffers, not
parameters, so neither count includes them.
"""

from __future__ import annotations

from torch import nn


def total_parameter_count(module: nn.Module) -> int:
    """Every parameter scalar of ``module``, frozen ones included (the size of the architecture)."""
    return sum(p.numel() for p in module.parameters())


def trainable_parameter_count(module: nn.Module) -> int:
    """The parameter scalars an optimiser updates (``requires_grad``), what a run trains."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
