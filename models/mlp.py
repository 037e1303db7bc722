"""Multilayer perceptrons for low-dimensional GANs (2-D toy data, Gulrajani et al.'s toy nets).

The critic has no normalisation layers: a gradient penalty needs per-sample
input gradients, which BatchNorm would couple across the batch.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "softplus": nn.Softplus}


class MLP(nn.Module):
    """``in_dim → width → … → width → out_dim`` with ``depth`` hidden layers.

    Args:
        in_dim: input size.
        out_dim: output size (1 for a critic).
        width: hidden units per layer.
        depth: number of hidden layers (≥ 0; 0 gives an affine map).
        activation: one of :data:`ACTIVATIONS`. Use a smooth one (tanh,
            softplus) when second derivatives matter (Jacobians of the flow).
    """

    def __init__(self, in_dim: int, out_dim: int, width: int = 512, depth: int = 3, activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        if depth < 0 or width < 1 or in_dim < 1 or out_dim < 1:
            raise ValueError(
                f"MLP sizes must be positive (depth >= 0), got in={in_dim} out={out_dim} width={width} depth={depth}"
            )
        layers: list[nn.Module] = []
        size = in_dim
        for _ in range(depth):
            layers += [nn.Linear(size, width), ACTIVATIONS[activation]()]
            size = width
        layers.append(nn.Linear(size, out_dim))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> (B, out_dim), or (B,) for a critic
        out = self.net(x)
        return out.squeeze(-1) if self.out_dim == 1 else out
