"""The DCGANs of Gulrajani et al.'s ``improved_wgan_training`` (WGAN-GP), and the tflib layers they are built of.

Source: github.com/igul222/improved_wgan_training (commit fa66c57), read for its facts only:

* ``gan_cifar.py`` (``DIM = 128``, ``MODE = 'wgan-gp'``), ``Generator`` / ``Discriminator`` (lines 47-89):
  :class:`DCGANGenerator32` and :class:`DCGANCritic32`.
* ``gan_mnist.py`` (``DIM = 64``, ``MODE = 'wgan-gp'``), ``Generator`` / ``Discriminator`` (lines 55-101):
  :class:`MNISTGenerator` and :class:`MNISTCritic`.
* ``tflib/ops/conv2d.py``, ``deconv2d.py``, ``linear.py``, ``batchnorm.py``: :class:`TFConv2d`,
  :class:`TFDeconv2d`, the BatchNorm settings, and :func:`gulrajani_init_`.

What "exactly" means here, layer by layer:

* **Convolutions** are TensorFlow ``padding='SAME'`` convolutions. For stride 1 and odd kernels that is symmetric
  padding ``k // 2``; for the stride-2 5×5 convolutions of the critics TF pads *asymmetrically* (one row/column
  before, two after, e.g. 32 → 16), which PyTorch's ``Conv2d(padding=2)`` does not: it would move every window one
  pixel up-left. :class:`TFConv2d` pads as TF does (:func:`tf_same_padding`).
* **Transposed convolutions** (``Deconv2D``: stride 2, ``'SAME'``, output exactly twice the input) are TF's
  ``conv2d_transpose``, i.e. the adjoint of the SAME stride-2 convolution from 2H to H. For a 5×5 kernel the
  PyTorch equivalent is ``ConvTranspose2d(5, stride=2, padding=1)`` followed by dropping the last row and column;
  ``ConvTranspose2d(5, stride=2, padding=2, output_padding=1)`` has the same shapes and parameter count but is the
  adjoint of the symmetric-padding convolution, one pixel shifted. :class:`TFDeconv2d` implements the former.
* **Biases**: every ``Conv2D`` / ``Deconv2D`` / ``Linear`` call in these scripts leaves ``biases=True`` (their default),
  including the layers followed by BatchNorm.
* **BatchNorm** (generator of ``gan_cifar.py`` only; ``gan_mnist.py`` uses it only when ``MODE == 'wgan'``): after the
  input linear layer, ``Batchnorm(name, [0], ...)`` normalises each of the 4·4·4·DIM features over the batch with its
  own scale and offset, i.e. ``BatchNorm1d(4·4·4·DIM)`` *before* the reshape; after the deconvolutions,
  ``Batchnorm(name, [0,2,3], ...)`` is per-channel over (N, H, W), i.e. ``BatchNorm2d``. Epsilon 1e-5. The scripts
  never pass ``is_training``, so tflib always normalises with the statistics of the current batch and never updates
  its moving averages; the modules here therefore use ``track_running_stats=False`` (batch statistics in train *and*
  eval mode, no running buffers).
* **Critics** have no BatchNorm under ``MODE = 'wgan-gp'`` (``gan_cifar.py`` lines 77-83, ``gan_mnist.py`` 89-95), so
  their input gradients are per-sample, as a gradient penalty needs. ``LeakyReLU`` is ``tf.maximum(0.2 x, x)``.
* **Initialisation** follows tflib (:func:`gulrajani_init_`, applied by every constructor here).

Outputs are images (N, C, H, W) and critic scores (N,); the source's flattening of images to (N, C·H·W) is left to
the caller (the critics accept either form, as the source reshapes its input).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DCGANCritic32",
    "DCGANGenerator32",
    "MNISTCritic",
    "MNISTGenerator",
    "TFConv2d",
    "TFDeconv2d",
    "gulrajani_init_",
    "tf_batchnorm",
    "tf_same_padding",
]


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Padding (before, after) that TensorFlow's ``padding='SAME'`` applies to one spatial dimension.

    The output has ``ceil(size / stride)`` entries; the total padding is
    ``max((out - 1) * stride + kernel - size, 0)``, with the smaller half before.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def tf_batchnorm(features: int, spatial: bool = True) -> nn.Module:
    """tflib ``Batchnorm`` as the scripts use it: batch statistics always, eps 1e-5, scale 1 and offset 0.

    ``spatial=True``: axes [0, 2, 3] (per channel over N, H, W) → ``BatchNorm2d``;
    ``spatial=False``: axes [0] on an (N, F) tensor (per feature over N) → ``BatchNorm1d``.
    """
    cls = nn.BatchNorm2d if spatial else nn.BatchNorm1d
    return cls(features, eps=1e-5, affine=True, track_running_stats=False)


def _uniform_(tensor: torch.Tensor, stdev: float) -> None:
    """tflib's ``uniform(stdev, size)``: U(−stdev·√3, stdev·√3), which has standard deviation ``stdev``."""
    with torch.no_grad():
        tensor.uniform_(-stdev * math.sqrt(3.0), stdev * math.sqrt(3.0))


class TFConv2d(nn.Conv2d):
    """tflib ``Conv2D``: a 2-D convolution with TensorFlow ``'SAME'`` padding (NCHW, optional stride, bias).

    Args:
        in_channels, out_channels, kernel_size, stride: as in the source's ``Conv2D(name, input_dim, output_dim,
            filter_size, inputs, stride=...)``.
        bias: the source's ``biases`` (default ``True``).
        he_init: the source's ``he_init`` (default ``True``); only used by :meth:`tflib_init_`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        bias: bool = True,
        he_init: bool = True,
    ):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)
        self.he_init = he_init

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, Cin, H, W) -> (N, Cout, ceil(H/s), ceil(W/s))
        k, s = self.kernel_size[0], self.stride[0]
        top, bottom = tf_same_padding(x.shape[-2], k, s)
        left, right = tf_same_padding(x.shape[-1], k, s)
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left))
        x = F.pad(x, (left, right, top, bottom))  # (N, Cin, H + top + bottom, W + left + right)
        return F.conv2d(x, self.weight, self.bias, self.stride)

    def tflib_init_(self) -> None:
        """``Conv2D``'s init: fan_in = Cin·k², fan_out = Cout·k² / s² (Python 2 integer division), uniform with
        std √(4 / (fan_in + fan_out)) if ``he_init`` else √(2 / (fan_in + fan_out)); biases zero."""
        k, s = self.kernel_size[0], self.stride[0]
        fan_in = self.in_channels * k * k
        fan_out = self.out_channels * k * k // (s * s)
        _uniform_(self.weight, math.sqrt((4.0 if self.he_init else 2.0) / (fan_in + fan_out)))
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class TFDeconv2d(nn.ConvTranspose2d):
    """tflib ``Deconv2D``: TF ``conv2d_transpose`` with stride 2, ``'SAME'`` padding and output 2H × 2W, plus bias.

    It is the adjoint of the SAME stride-2 convolution mapping 2H × 2W to H × W: input pixel i feeds output pixels
    ``2i − p + j`` (j = 0..k−1) with ``p = tf_same_padding(2H, k, 2)[0]`` (1 for k = 5). Computed as a PyTorch
    transposed convolution with padding p, cut to 2H × 2W.

    Args:
        in_channels, out_channels, kernel_size: the source's ``input_dim, output_dim, filter_size``.
        bias: the source's ``biases`` (default ``True``).
        he_init: the source's ``he_init`` (default ``True``); only used by :meth:`tflib_init_`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True, he_init: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride=2, padding=0, bias=bias)
        self.he_init = he_init

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, Cin, H, W) -> (N, Cout, 2H, 2W)
        k = self.kernel_size[0]
        h, w = x.shape[-2:]
        top, _ = tf_same_padding(2 * h, k, 2)
        left, _ = tf_same_padding(2 * w, k, 2)
        # PyTorch drops `padding` entries from both ends of the full (2H − 2 + k)-long output; TF drops `top` from
        # the start and keeps 2H, so cut what is left after that.
        y = F.conv_transpose2d(x, self.weight, self.bias, stride=2, padding=(top, left))  # (N, Cout, ≥2H, ≥2W)
        return y[..., : 2 * h, : 2 * w]  # (N, Cout, 2H, 2W)

    def tflib_init_(self) -> None:
        """``Deconv2D``'s init: fan_in = Cin·k² / 4 (Python 2 integer division), fan_out = Cout·k², uniform with
        std √(4 / (fan_in + fan_out)) if ``he_init`` else √(2 / (fan_in + fan_out)); biases zero."""
        k = self.kernel_size[0]
        fan_in = self.in_channels * k * k // 4
        fan_out = self.out_channels * k * k
        _uniform_(self.weight, math.sqrt((4.0 if self.he_init else 2.0) / (fan_in + fan_out)))
        if self.bias is not None:
            nn.init.zeros_(self.bias)


def gulrajani_init_(module: nn.Module) -> nn.Module:
    """Re-initialise ``module`` in place as tflib does, and return it.

    * :class:`TFConv2d` / :class:`TFDeconv2d`: their ``tflib_init_`` (``conv2d.py`` / ``deconv2d.py``: uniform,
      He-style std √(4/(fan_in+fan_out)) when ``he_init``, Glorot std √(2/(fan_in+fan_out)) otherwise; zero bias).
    * ``nn.Linear``: ``Linear(..., initialization=None)``, which every linear layer of these four networks uses,
      takes the ``'glorot'`` branch of ``linear.py``: uniform with std √(2/(in+out)) (bound √(6/(in+out)), the same
      distribution as ``nn.init.xavier_uniform_``); zero bias.
    * BatchNorm: scale 1, offset 0.

    Not reproduced (unused by these scripts): weight norm, ``set_weights_stdev``, ``gain``, masks, and the other
    ``Linear`` initialisations. A plain ``nn.Conv2d`` / ``nn.ConvTranspose2d`` raises, since its ``he_init`` flag
    is unknown.
    """
    for m in module.modules():
        if isinstance(m, TFConv2d | TFDeconv2d):
            m.tflib_init_()
        elif isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            raise TypeError(f"gulrajani_init_: use TFConv2d / TFDeconv2d (they carry he_init), not {type(m).__name__}")
        elif isinstance(m, nn.Linear):
            _uniform_(m.weight, math.sqrt(2.0 / (m.in_features + m.out_features)))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


class DCGANGenerator32(nn.Module):
    """``gan_cifar.py`` ``Generator`` (DIM = ``width`` = 128): noise (N, z_dim) → image (N, C, 32, 32) in (−1, 1).

    Layers, in the source's order (lines 51-66):
    ``Linear(z_dim → 4·4·4·DIM)`` → ``BatchNorm1d(4·4·4·DIM)`` → ReLU → reshape (N, 4·DIM, 4, 4) →
    ``Deconv2D(4·DIM → 2·DIM, 5)`` (8×8) → ``BatchNorm2d`` → ReLU → ``Deconv2D(2·DIM → DIM, 5)`` (16×16) →
    ``BatchNorm2d`` → ReLU → ``Deconv2D(DIM → channels, 5)`` (32×32) → tanh. All layers have biases.
    """

    def __init__(self, z_dim: int = 128, width: int = 128, channels: int = 3):
        super().__init__()
        self.z_dim, self.width, self.channels = z_dim, width, channels
        self.input = nn.Linear(z_dim, 4 * 4 * 4 * width)  # 'Generator.Input'
        self.bn1 = tf_batchnorm(4 * 4 * 4 * width, spatial=False)  # 'Generator.BN1', axes [0]
        self.deconv2 = TFDeconv2d(4 * width, 2 * width, 5)  # 'Generator.2'
        self.bn2 = tf_batchnorm(2 * width)  # 'Generator.BN2', axes [0,2,3]
        self.deconv3 = TFDeconv2d(2 * width, width, 5)  # 'Generator.3'
        self.bn3 = tf_batchnorm(width)  # 'Generator.BN3'
        self.deconv5 = TFDeconv2d(width, channels, 5)  # 'Generator.5'
        gulrajani_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (N, z_dim) -> (N, C, 32, 32)
        h = torch.relu(self.bn1(self.input(z)))  # (N, 4·4·4·DIM)
        h = h.view(-1, 4 * self.width, 4, 4)  # (N, 4·DIM, 4, 4)
        h = torch.relu(self.bn2(self.deconv2(h)))  # (N, 2·DIM, 8, 8)
        h = torch.relu(self.bn3(self.deconv3(h)))  # (N, DIM, 16, 16)
        return torch.tanh(self.deconv5(h))  # (N, C, 32, 32)


class DCGANCritic32(nn.Module):
    """``gan_cifar.py`` ``Discriminator`` under ``MODE = 'wgan-gp'`` (DIM = ``width`` = 128): image → score (N,).

    Layers (lines 71-89): ``Conv2D(channels → DIM, 5, stride 2)`` (16×16) → LeakyReLU(0.2) →
    ``Conv2D(DIM → 2·DIM, 5, stride 2)`` (8×8) → LeakyReLU → ``Conv2D(2·DIM → 4·DIM, 5, stride 2)`` (4×4) →
    LeakyReLU → flatten 4·4·4·DIM (channel-major, as ``tf.reshape`` of NCHW) → ``Linear(→ 1)``. No BatchNorm
    (the source adds it only for ``MODE != 'wgan-gp'``). SAME padding, biases everywhere.
    """

    def __init__(self, width: int = 128, channels: int = 3):
        super().__init__()
        self.width, self.channels = width, channels
        self.conv1 = TFConv2d(channels, width, 5, stride=2)  # 'Discriminator.1'
        self.conv2 = TFConv2d(width, 2 * width, 5, stride=2)  # 'Discriminator.2'
        self.conv3 = TFConv2d(2 * width, 4 * width, 5, stride=2)  # 'Discriminator.3'
        self.output = nn.Linear(4 * 4 * 4 * width, 1)  # 'Discriminator.Output'
        gulrajani_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, 32, 32) or (N, C·32·32) -> (N,)
        h = x.reshape(-1, self.channels, 32, 32)  # (N, C, 32, 32)
        h = F.leaky_relu(self.conv1(h), 0.2)  # (N, DIM, 16, 16)
        h = F.leaky_relu(self.conv2(h), 0.2)  # (N, 2·DIM, 8, 8)
        h = F.leaky_relu(self.conv3(h), 0.2)  # (N, 4·DIM, 4, 4)
        return self.output(h.reshape(-1, 4 * 4 * 4 * self.width)).view(-1)  # (N,)


class MNISTGenerator(nn.Module):
    """``gan_mnist.py`` ``Generator``, ``MODE = 'wgan-gp'`` (DIM = ``width`` = 64): noise → (N, 1, 28, 28) in (0, 1).

    Layers (lines 59-78): ``Linear(z_dim → 4·4·4·DIM)`` → ReLU → reshape (N, 4·DIM, 4, 4) →
    ``Deconv2D(4·DIM → 2·DIM, 5)`` (8×8) → ReLU → crop to 7×7 (``output[:, :, :7, :7]``) →
    ``Deconv2D(2·DIM → DIM, 5)`` (14×14) → ReLU → ``Deconv2D(DIM → 1, 5)`` (28×28) → sigmoid.
    No BatchNorm: the source inserts it only for ``MODE == 'wgan'``. All layers have biases.
    """

    def __init__(self, z_dim: int = 128, width: int = 64):
        super().__init__()
        self.z_dim, self.width = z_dim, width
        self.input = nn.Linear(z_dim, 4 * 4 * 4 * width)  # 'Generator.Input'
        self.deconv2 = TFDeconv2d(4 * width, 2 * width, 5)  # 'Generator.2'
        self.deconv3 = TFDeconv2d(2 * width, width, 5)  # 'Generator.3'
        self.deconv5 = TFDeconv2d(width, 1, 5)  # 'Generator.5'
        gulrajani_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (N, z_dim) -> (N, 1, 28, 28)
        h = torch.relu(self.input(z)).view(-1, 4 * self.width, 4, 4)  # (N, 4·DIM, 4, 4)
        h = torch.relu(self.deconv2(h))  # (N, 2·DIM, 8, 8)
        h = h[:, :, :7, :7]  # (N, 2·DIM, 7, 7)
        h = torch.relu(self.deconv3(h))  # (N, DIM, 14, 14)
        return torch.sigmoid(self.deconv5(h))  # (N, 1, 28, 28)


class MNISTCritic(nn.Module):
    """``gan_mnist.py`` ``Discriminator`` under ``MODE = 'wgan-gp'`` (DIM = ``width`` = 64): (N, 1, 28, 28) → (N,).

    Layers (lines 83-101): ``Conv2D(1 → DIM, 5, stride 2)`` (14×14) → LeakyReLU(0.2) →
    ``Conv2D(DIM → 2·DIM, 5, stride 2)`` (7×7) → LeakyReLU → ``Conv2D(2·DIM → 4·DIM, 5, stride 2)`` (4×4, SAME:
    ceil(7/2)) → LeakyReLU → flatten 4·4·4·DIM → ``Linear(→ 1)``. No BatchNorm.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        self.width = width
        self.conv1 = TFConv2d(1, width, 5, stride=2)  # 'Discriminator.1'
        self.conv2 = TFConv2d(width, 2 * width, 5, stride=2)  # 'Discriminator.2'
        self.conv3 = TFConv2d(2 * width, 4 * width, 5, stride=2)  # 'Discriminator.3'
        self.output = nn.Linear(4 * 4 * 4 * width, 1)  # 'Discriminator.Output'
        gulrajani_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 28, 28) or (N, 784) -> (N,)
        h = x.reshape(-1, 1, 28, 28)  # (N, 1, 28, 28)
        h = F.leaky_relu(self.conv1(h), 0.2)  # (N, DIM, 14, 14)
        h = F.leaky_relu(self.conv2(h), 0.2)  # (N, 2·DIM, 7, 7)
        h = F.leaky_relu(self.conv3(h), 0.2)  # (N, 4·DIM, 4, 4)
        return self.output(h.reshape(-1, 4 * 4 * 4 * self.width)).view(-1)  # (N,)
