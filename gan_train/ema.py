"""An exponential moving average (EMA) of the generator's weights, evaluated beside the raw generator.

After the generator step of iteration ``t`` (0-based), with ``s = ema_start`` and the config's ``ema = β``::

    θ_ema ← θ                                   for t < s (the copy follows the generator)
    θ_ema ← β_t · θ_ema + (1 − β_t) · θ,         β_t = min(β, (1 + n) / (10 + n)),  n = t − s  for t ≥ s

The warm-up β_t is the ``num_updates`` rule of TensorFlow's ``tf.train.ExponentialMovingAverage`` (also AllenNLP's
and Paddle's ``thres_steps``): β_0 = 0.1, β_n → β, so the first averages are not dominated by the initial weights;
β = 0.999 reaches β after ~9,000 iterations. ``ema_start`` is PyTorch-StudioGAN's ``start_iter`` (its ``Ema`` copies
the generator until then). LMescheder/GAN_stability recommends β = 0.999 (Yazıcı et al. 2019, "The unusual
effectiveness of averaging in GAN training", study the effect).

BatchNorm generators: only the weights are averaged. The BatchNorm of the image generators here (``dcgan``,
``resnet``: Gulrajani's tflib BatchNorm, ``track_running_stats=False``) keeps no running statistics; in eval mode as
in training it normalises each batch by the batch's own mean and variance, so the EMA generator normalises by the
statistics of its own (averaged) weights' activations, batch by batch, and nothing can be stale. A generator whose
BatchNorm does track running statistics gets its buffers (running mean and variance, ``num_batches_tracked``)
copied from the raw generator at every update, as stylegan2-ada-pytorch's training loop does (StudioGAN averages
them with the same β instead); evaluated in eval mode it would then normalise with the raw generator's statistics.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def ema_decay(beta: float, start: int, iteration: int) -> float:
    """β_t of the update after generator iteration ``iteration`` (0-based): 0 before ``start``, then the warm-up."""
    updates = iteration - start
    if updates < 0:
        return 0.0
    return min(beta, (1 + updates) / (10 + updates))


class GeneratorEMA:
    """The averaged copy of a generator (its own module, eval mode, no gradients).

    Args:
        generator: the raw generator; the copy starts equal to it (weights and buffers).
        beta: β, in (0, 1).
        start: ``ema_start``, generator iterations during which the copy follows the generator.
    """

    def __init__(self, generator: nn.Module, beta: float, start: int = 0):
        self.beta, self.start = float(beta), int(start)
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module, iteration: int) -> None:
        """Average in ``generator``'s weights after the generator step of ``iteration`` (0-based); copy its buffers."""
        decay = ema_decay(self.beta, self.start, iteration)
        for averaged, current in zip(self.module.parameters(), generator.parameters(), strict=True):
            averaged.lerp_(current, 1.0 - decay)  # θ_ema + (1 − β_t)(θ − θ_ema); exactly θ when β_t = 0
        for averaged, current in zip(self.module.buffers(), generator.buffers(), strict=True):
            averaged.copy_(current)

    def state_dict(self) -> dict[str, Any]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state)
