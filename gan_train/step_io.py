"""What one training step takes and gives back: its randomness in, its statistics out.

A critic step takes a :class:`CriticBatch` (the data batch, z and α, drawn once in a fixed order by
:meth:`~gan_train.trainer.Trainer.draw_critic_batch`) and returns a float64 device vector of :data:`CRITIC_STATS`;
a generator step returns :data:`GENERATOR_STATS`. The trainer (:mod:`gan_train.trainer`), the CUDA-graph iteration
(:mod:`gan_train.graphed`), the divergence watch (:mod:`gan_train.nan_watch`) and the running sums
(:mod:`gan_train.run_metrics`) read these definitions from here, so none of them imports another for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import torch

if TYPE_CHECKING:
    from gan_train.penalty import PenaltyValue

#: Per-critic-step statistics, in the order the critic step returns them.
CRITIC_STATS = ("loss_d", "loss_adv", "penalty", "gap", "d_mean", "grad_norm", "max_grad_norm", "param_grad_norm_d")
#: Per-generator-step statistics, in the order the generator step returns them.
GENERATOR_STATS = ("loss_g", "param_grad_norm_g")
#: The statistics of each kind of step, by kind.
STATS = {"critic": CRITIC_STATS, "generator": GENERATOR_STATS}

#: What each statistic is, for messages.
TERM_NAMES = {
    "loss_d": "the critic loss",
    "loss_adv": "the critic's adversarial loss",
    "penalty": "the gradient penalty",
    "gap": "the critic gap E[D(x_d)] − E[D(x_g)]",
    "grad_norm": "the input-gradient norm ‖∇ₓD‖ at the penalty points",
    "max_grad_norm": "the largest input-gradient norm ‖∇ₓD‖",
    "param_grad_norm_d": "the critic's parameter gradient",
    "loss_g": "the generator loss",
    "param_grad_norm_g": "the generator's parameter gradient",
}

#: Terms that pass through GradScaler-scaled gradients under fp16 (checked by the scaler, not by the watch).
SCALED_TERMS = ("loss_d", "penalty", "grad_norm", "max_grad_norm", "param_grad_norm_d", "param_grad_norm_g")


@dataclass
class CriticBatch:
    """One critic step's randomness, drawn once (:meth:`~gan_train.trainer.Trainer.draw_critic_batch`).

    Holding it apart from the loss lets a test (or ``ganstab spectrum``) evaluate
    the trainer's own loss on a batch it chose.
    """

    x_data: torch.Tensor  # (B, ...) data batch
    z: torch.Tensor  # (B, latent_dim) latent codes; x_gen = generator(z), no graph to G
    alpha: torch.Tensor | None  # (B,) the measure's interpolation weights when it draws α, else None

    def clone(self) -> CriticBatch:
        """A copy in new memory (the CUDA graph's static buffers); the data keeps its memory format."""
        x_data = self.x_data.clone(memory_format=torch.preserve_format)  # keeps channels_last
        return CriticBatch(x_data, self.z.clone(), None if self.alpha is None else self.alpha.clone())


class CriticLoss(NamedTuple):
    """What :meth:`~gan_train.trainer.Trainer.critic_loss` returns: everything the critic step needs from it."""

    loss: torch.Tensor  # scalar: adversarial loss + penalty, minimised by the critic
    stats: torch.Tensor  # (len(CRITIC_STATS) - 1,) float64, detached: all but the parameter-gradient norm
    penalty: PenaltyValue | None  # the penalty term and its q_i (MaxAL's multiplier update reads them); None: none
