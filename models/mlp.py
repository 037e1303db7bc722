"""Multilayer perceptrons for low-dimensional GANs (2-D toy data, Gulrajani et al.'s toy nets).

The critic has no normalisation layers: a gradient penalty needs per-sample
input gradients, which BatchNorm would couple across the batch.

Initialisations (:data:`INITS`):

* ``torch``: PyTorch's ``nn.Linear`` default;
* ``normal``: every weight N(0, 0.02²), every bias 0. This is ``weights_init`` of
  the PyTorch port of the toy script (caogang/wgan-gp ``gan_toy.py``):
  ``m.weight.data.normal_(0.0, 0.02); m.bias.data.fill_(0)``;
* ``tflib``: Gulrajani et al.'s own TensorFlow ``gan_toy.py``
  (igul222/improved_wgan_training, the code ``003_…`` used, lines 211–213). Its
  hidden layers are ``ReLULayer``s with ``Linear(..., initialization='he')``,
  which tflib's ``linear.py`` draws uniformly with standard deviation
  √(2/fan_in). Its output layer uses ``Linear``'s default, the ``'glorot'``
  branch: uniform with standard deviation √(2/(fan_in+fan_out)). Biases are 0.

The hidden layers get the same ``tflib`` init whatever the activation, since the
script ties it to the layer, not to ReLU.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "selu": nn.SELU,  # 000_… App. Fig. 10–11 (line 390): "MLP with SELU activations"
}
INITS = ("torch", "normal", "tflib")


def _uniform_with_std_(weight: torch.Tensor, std: float) -> None:
    """U(−√3·std, √3·std), whose standard deviation is ``std`` (tflib's ``uniform(stdev, size)``)."""
    bound = math.sqrt(3.0) * std
    nn.init.uniform_(weight, -bound, bound)


@torch.no_grad()
def init_mlp_(layers: list[nn.Linear], init: str) -> None:
    """Re-initialise the linear ``layers`` of an MLP (input to output) by ``init`` (:data:`INITS`), in place."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
    if init == "torch":
        return
    for index, layer in enumerate(layers):
        if init == "normal":
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif index < len(layers) - 1:  # tflib 'he'
            _uniform_with_std_(layer.weight, math.sqrt(2.0 / layer.in_features))
        else:  # tflib default 'glorot'
            _uniform_with_std_(layer.weight, math.sqrt(2.0 / (layer.in_features + layer.out_features)))
        nn.init.zeros_(layer.bias)


class MLP(nn.Module):
    """``in_dim → width → … → width → out_dim`` with ``depth`` hidden layers.

    Args:
        in_dim: input size.
        out_dim: output size (1 for a critic).
        width: hidden units per layer.
        depth: number of hidden layers (≥ 0; 0 gives an affine map).
        activation: one of :data:`ACTIVATIONS`. Use a smooth one (tanh,
            softplus) when second derivatives matter (Jacobians of the flow).
        init: one of :data:`INITS` (see the module docstring).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        width: int = 512,
        depth: int = 3,
        activation: str = "relu",
        init: str = "torch",
    ):
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
        init_mlp_([layer for layer in layers if isinstance(layer, nn.Linear)], init)
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> (B, out_dim), or (B,) for a critic
        out = self.net(x)
        return out.squeeze(-1) if self.out_dim == 1 else out
