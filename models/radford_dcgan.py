"""DCGAN generator and critic for 32×32 images (Radford et al. 2016, WGAN-GP sizes).

The critic has no BatchNorm: gradient penalties need per-sample input
gradients (Gulrajani et al. 2017 drop it for the same reason); the generator
may use it. With ``width=64`` the pair has about 1.19M (G) + 0.66M (D)
parameters; ``width=32`` gives about 0.43M + 0.17M.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "softplus": nn.Softplus, "tanh": nn.Tanh}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class DCGANGenerator(nn.Module):
    """z (N, z_dim) → image (N, channels, 32, 32) in [−1, 1].

    Args:
        z_dim: latent size.
        width: base channel count (the first feature map has 4·width channels).
        channels: image channels.
        batchnorm: BatchNorm after each transposed convolution but the last.
        activation: hidden activation (relu as in DCGAN; softplus is smooth).
    """

    def __init__(
        self, z_dim: int = 128, width: int = 64, channels: int = 3, batchnorm: bool = False, activation: str = "relu"
    ):
        super().__init__()
        self.z_dim, self.width = z_dim, width
        norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        self.project = nn.Linear(z_dim, 4 * width * 4 * 4)
        self.net = nn.Sequential(
            norm(4 * width),
            _activation(activation),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1),
            norm(2 * width),
            _activation(activation),  # 8x8
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            norm(width),
            _activation(activation),  # 16x16
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Tanh(),  # 32x32
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (N, z_dim) -> (N, C, 32, 32)
        h = self.project(z).view(z.shape[0], 4 * self.width, 4, 4)
        return self.net(h)


class DCGANCritic(nn.Module):
    """image (N, channels, 32, 32) → score (N,); no BatchNorm.

    Args:
        width: base channel count.
        channels: image channels.
        activation: hidden activation (leaky_relu as in DCGAN; softplus when
            second derivatives should be smooth).
    """

    def __init__(self, width: int = 64, channels: int = 3, activation: str = "leaky_relu"):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            _activation(activation),  # 16x16
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            _activation(activation),  # 8x8
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1),
            _activation(activation),  # 4x4
        )
        self.head = nn.Linear(4 * width * 4 * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, 32, 32) -> (N,)
        return self.head(self.net(x).flatten(1)).squeeze(-1)
