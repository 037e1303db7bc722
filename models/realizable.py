"""A realizable neural GAN at an equilibrium where Theorem 1 of ``003_…`` applies.

p_d = N(m, diag(s²)) on R^d; the generator is affine, G(z; θ) = A z + b with
z ~ N(0, I) and θ = (A, b); the critic is an MLP whose output layer is zero
at ψ*. At θ* = (diag(s), m) the generated law equals p_d, and with the output
weights zero ∇ₓD(x; ψ*) = 0 for every x, so (ψ*, θ*) is an equilibrium
satisfying Assumptions 1–6 (with V = R^d in 6c) for any penalty measure
built from p_d and p_θ. Its Jacobian is exactly [[−ρQ, −R], [Rᵀ, 0]]: the
data and generator quadrature nodes coincide at θ*, so the
E_pd[∇ψψD] − E_pθ*[∇ψψD] terms cancel node by node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from models.mlp import MLP
from stability.spec.laws import Law, normal


class AffineGenerator(nn.Module):
    """G(z; θ) = A z + b, θ = (A, b)."""

    def __init__(self, dim: int):
        super().__init__()
        self.A = nn.Parameter(torch.eye(dim))
        self.b = nn.Parameter(torch.zeros(dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (N, d) -> (N, d)
        return z @ self.A.T + self.b


@dataclass
class RealizableGame:
    """The pieces of the example: modules at (ψ*, θ*) and the laws."""

    critic: MLP
    generator: AffineGenerator
    data: Law
    latent: Law
    mean: tuple[float, ...]
    std: tuple[float, ...]


def realizable_game(
    mean: Sequence[float] = (0.5, -1.0),
    std: Sequence[float] = (1.0, 0.5),
    width: int = 8,
    depth: int = 1,
    activation: str = "tanh",
    seed: int = 0,
) -> RealizableGame:
    """The realizable example at its equilibrium (ψ*, θ*).

    Args:
        mean, std: p_d = N(mean, diag(std²)).
        width, depth, activation: the critic MLP (smooth activation: Q and R
            involve second derivatives of D).
        seed: seed for the hidden-layer weights of ψ* (any value is an equilibrium).
    """
    dim = len(mean)
    torch.manual_seed(seed)
    critic = MLP(dim, 1, width=width, depth=depth, activation=activation).double()
    with torch.no_grad():
        last = critic.net[-1]
        last.weight.zero_()
        last.bias.zero_()
    generator = AffineGenerator(dim).double()
    with torch.no_grad():
        generator.A.copy_(torch.diag(torch.tensor(std, dtype=torch.float64)))
        generator.b.copy_(torch.tensor(mean, dtype=torch.float64))
    data = normal(list(mean), list(std))
    latent = normal([0] * dim, [1] * dim)
    return RealizableGame(critic, generator, data, latent, tuple(mean), tuple(std))
