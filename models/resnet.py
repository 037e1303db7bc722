"""The unconditional CIFAR-10 ResNet of Gulrajani et al.'s ``improved_wgan_training`` (WGAN-GP), as torch modules.

Source: ``gan_cifar_resnet.py`` of github.com/igul222/improved_wgan_training (commit fa66c57), read for its facts
only; line numbers below refer to that file. ``DIM_G = DIM_D = 128`` (lines 39-40), 128-d noise (line 153).

Configuration reproduced: the *unconditional* model, i.e. ``CONDITIONAL = False`` (the file's default is ``True``,
line 49, with ``ACGAN = True``). With ``CONDITIONAL = False``: ``Normalize`` (lines 66-83) drops the labels, so the
generator's normalisation is plain ``lib.ops.batchnorm.Batchnorm(name, [0,2,3], ...)`` (per-channel batch norm,
``BatchNorm2d``) rather than class-conditional batch norm, and the critic has no ACGAN head (lines 175-179 add it only
``if CONDITIONAL and ACGAN``). ``NORMALIZATION_G = True`` (line 41) and ``NORMALIZATION_D = False`` (line 42): in the
critic ``Normalize`` returns its input unchanged (``'Discriminator' in name`` and not ``NORMALIZATION_D`` falls through
to ``return inputs``), so **the critic has no normalisation at all** (and its first block, ``OptimizedResBlockDisc1``,
never calls ``Normalize``).

Building blocks (lines 85-149), with tflib ``Conv2D`` = :class:`~models.gulrajani_dcgan.TFConv2d` (``'SAME'``
padding; all convolutions here have stride 1 and odd kernels, so that is symmetric padding ``k // 2``):

* ``ConvMeanPool``: conv, then the mean of the four strided 2×2 sub-grids (= 2×2 average pooling).
* ``MeanPoolConv``: 2×2 average pooling, then conv.
* ``UpsampleConv``: four copies concatenated on the channel axis, ``depth_to_space(2)`` (which places copy ``2i + j``
  at offset (i, j) of each 2×2 cell, so every cell holds four copies of one pixel: nearest-neighbour 2× upsampling),
  then conv.
* ``ResidualBlock(in, out, 3, resample)``: shortcut + residual, where
  residual = N1 → ReLU → conv_1 → N2 → ReLU → conv_2 with (conv_1, conv_2, shortcut) =
  ``'up'``: (UpsampleConv in→out 3×3, Conv2D out→out 3×3, UpsampleConv 1×1);
  ``'down'``: (Conv2D in→in 3×3, ConvMeanPool in→out 3×3, ConvMeanPool 1×1);
  ``None``: (Conv2D in→out, Conv2D out→out, Conv2D 1×1, or the identity when in == out).
  The 1×1 shortcut convolutions have ``he_init=False, biases=True`` (line 127); the residual convolutions keep the
  defaults ``he_init=True, biases=True``, so they have biases even where BatchNorm follows.
* ``OptimizedResBlockDisc1``: shortcut MeanPoolConv(3 → DIM, 1×1, ``he_init=False``, bias); residual
  Conv2D(3 → DIM, 3×3) → ReLU → ConvMeanPool(DIM → DIM, 3×3). No normalisation, no ReLU before the first conv.

BatchNorm is tflib's with ``is_training`` never passed: batch statistics always, moving averages never updated, so
``track_running_stats=False`` here (see :func:`~models.gulrajani_dcgan.tf_batchnorm`). Initialisation is tflib's
(:func:`~models.gulrajani_dcgan.gulrajani_init_`), applied by the constructors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.gulrajani_dcgan import TFConv2d, gulrajani_init_, tf_batchnorm

__all__ = [
    "ConvMeanPool",
    "MeanPoolConv",
    "OptimizedResBlockDisc1",
    "ResNetCritic",
    "ResNetGenerator",
    "ResidualBlock",
    "UpsampleConv",
]


def mean_pool(x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, C, H/2, W/2)
    """The source's 2×2 mean: ``(x[::2, ::2] + x[1::2, ::2] + x[::2, 1::2] + x[1::2, 1::2]) / 4`` (even H, W)."""
    return F.avg_pool2d(x, 2)


def upsample_nearest(x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, C, 2H, 2W)
    """The source's concat-four-copies + ``depth_to_space(2)``: nearest-neighbour 2× upsampling."""
    return x.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


class ConvMeanPool(nn.Module):
    """``ConvMeanPool`` (line 85): SAME conv (stride 1, bias), then 2×2 mean pooling."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, he_init: bool = True):
        super().__init__()
        self.conv = TFConv2d(in_channels, out_channels, kernel_size, he_init=he_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, Cin, H, W) -> (N, Cout, H/2, W/2)
        return mean_pool(self.conv(x))


class MeanPoolConv(nn.Module):
    """``MeanPoolConv`` (line 90): 2×2 mean pooling, then SAME conv (stride 1, bias)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, he_init: bool = True):
        super().__init__()
        self.conv = TFConv2d(in_channels, out_channels, kernel_size, he_init=he_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, Cin, H, W) -> (N, Cout, H/2, W/2)
        return self.conv(mean_pool(x))


class UpsampleConv(nn.Module):
    """``UpsampleConv`` (line 96): nearest-neighbour 2× upsampling, then SAME conv (stride 1, bias)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, he_init: bool = True):
        super().__init__()
        self.conv = TFConv2d(in_channels, out_channels, kernel_size, he_init=he_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, Cin, H, W) -> (N, Cout, 2H, 2W)
        return self.conv(upsample_nearest(x))


class ResidualBlock(nn.Module):
    """``ResidualBlock(name, in, out, kernel_size, inputs, resample)`` (lines 105-137): ``shortcut(x) + residual(x)``.

    Args:
        in_channels, out_channels: the source's ``input_dim``, ``output_dim``.
        kernel_size: ``filter_size`` of the two residual convolutions (3 in the networks).
        resample: ``'up'``, ``'down'`` or ``None``.
        normalize: BatchNorm at N1 and N2 (the generator: ``NORMALIZATION_G = True``); ``False`` gives the identity
            (the critic: ``NORMALIZATION_D = False``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        resample: str | None = None,
        normalize: bool = False,
    ):
        super().__init__()
        self.resample = resample
        if resample == "up":
            self.conv1: nn.Module = UpsampleConv(in_channels, out_channels, kernel_size)
            self.conv2: nn.Module = TFConv2d(out_channels, out_channels, kernel_size)
            shortcut, mid = UpsampleConv, out_channels
        elif resample == "down":
            self.conv1 = TFConv2d(in_channels, in_channels, kernel_size)
            self.conv2 = ConvMeanPool(in_channels, out_channels, kernel_size)
            shortcut, mid = ConvMeanPool, in_channels
        elif resample is None:
            self.conv1 = TFConv2d(in_channels, out_channels, kernel_size)
            self.conv2 = TFConv2d(out_channels, out_channels, kernel_size)
            shortcut, mid = TFConv2d, out_channels
        else:
            raise ValueError(f"resample must be 'up', 'down' or None, not {resample!r}")
        if resample is None and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = shortcut(in_channels, out_channels, 1, he_init=False)
        # N1 acts on the block input, N2 on conv_1's output (mid channels).
        self.norm1: nn.Module = tf_batchnorm(in_channels) if normalize else nn.Identity()
        self.norm2: nn.Module = tf_batchnorm(mid) if normalize else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, Cin, H, W) -> (N, Cout, H', W'), H' ∈ {2H, H/2, H}
        h = self.conv1(torch.relu(self.norm1(x)))  # (N, mid, H or 2H, ...)
        h = self.conv2(torch.relu(self.norm2(h)))  # (N, Cout, H', W')
        return self.shortcut(x) + h  # (N, Cout, H', W')


class OptimizedResBlockDisc1(nn.Module):
    """``OptimizedResBlockDisc1`` (lines 139-149): the critic's first block, 32×32 → 16×16, no normalisation.

    ``MeanPoolConv(in → out, 1×1, he_init=False)(x) + ConvMeanPool(out → out, 3×3)(ReLU(Conv2D(in → out, 3×3)(x)))``.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.shortcut = MeanPoolConv(in_channels, out_channels, 1, he_init=False)
        self.conv1 = TFConv2d(in_channels, out_channels, 3)
        self.conv2 = ConvMeanPool(out_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, Cin, H, W) -> (N, Cout, H/2, W/2)
        h = self.conv2(torch.relu(self.conv1(x)))  # (N, Cout, H/2, W/2)
        return self.shortcut(x) + h  # (N, Cout, H/2, W/2)


class ResNetGenerator(nn.Module):
    """``Generator`` (lines 151-163), unconditional: noise (N, z_dim) → image (N, channels, 32, 32) in (−1, 1).

    ``Linear(z_dim → 4·4·DIM)`` → reshape (N, DIM, 4, 4) → 3 × ``ResidualBlock(DIM, DIM, 3, 'up')`` with BatchNorm
    (8, 16, 32) → BatchNorm2d → ReLU → ``Conv2D(DIM → channels, 3×3, he_init=False)`` (bias) → tanh.

    Args:
        z_dim: noise size (the source hard-codes 128).
        width: ``DIM_G`` (128 in the source).
        channels: image channels (3).
    """

    def __init__(self, z_dim: int = 128, width: int = 128, channels: int = 3):
        super().__init__()
        self.z_dim, self.width, self.channels = z_dim, width, channels
        self.input = nn.Linear(z_dim, 4 * 4 * width)  # 'Generator.Input'
        self.blocks = nn.Sequential(
            *(ResidualBlock(width, width, 3, resample="up", normalize=True) for _ in range(3))  # 'Generator.1'-'.3'
        )
        self.output_norm = tf_batchnorm(width)  # 'Generator.OutputN'
        self.output = TFConv2d(width, channels, 3, he_init=False)  # 'Generator.Output'
        gulrajani_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (N, z_dim) -> (N, C, 32, 32)
        h = self.input(z).view(-1, self.width, 4, 4)  # (N, DIM, 4, 4)
        h = self.blocks(h)  # (N, DIM, 32, 32)
        h = torch.relu(self.output_norm(h))  # (N, DIM, 32, 32)
        return torch.tanh(self.output(h))  # (N, C, 32, 32)


class ResNetCritic(nn.Module):
    """``Discriminator`` (lines 165-179), unconditional, no normalisation: image (N, channels, 32, 32) → score (N,).

    ``OptimizedResBlockDisc1(channels → DIM)`` (16×16) → ``ResidualBlock(DIM, DIM, 3, 'down')`` (8×8) →
    2 × ``ResidualBlock(DIM, DIM, 3, None)`` (identity shortcuts, 8×8) → ReLU → mean over H, W →
    ``Linear(DIM → 1)`` → (N,).

    Args:
        width: ``DIM_D`` (128 in the source).
        channels: image channels (the source hard-codes 3).
    """

    def __init__(self, width: int = 128, channels: int = 3):
        super().__init__()
        self.width, self.channels = width, channels
        self.blocks = nn.Sequential(
            OptimizedResBlockDisc1(channels, width),  # 'Discriminator.1'
            ResidualBlock(width, width, 3, resample="down"),  # 'Discriminator.2'
            ResidualBlock(width, width, 3, resample=None),  # 'Discriminator.3'
            ResidualBlock(width, width, 3, resample=None),  # 'Discriminator.4'
        )
        self.output = nn.Linear(width, 1)  # 'Discriminator.Output'
        gulrajani_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, 32, 32) or (N, C·32·32) -> (N,)
        h = x.reshape(-1, self.channels, 32, 32)  # (N, C, 32, 32)
        h = self.blocks(h)  # (N, DIM, 8, 8)
        h = torch.relu(h).mean(dim=(2, 3))  # (N, DIM)
        return self.output(h).view(-1)  # (N,)
