"""Gradient-penalty terms on minibatches, built from the shared definitions.

*Where* the gradient is taken is a :class:`~stability.spec.measures.PenaltyMeasure`
(``measure.sample`` draws x̂ by its Table 1 rule: x_g detached, one α per
sample, the anchor A fixed for the run); *what* is penalised is a pointwise
form of :data:`stability.spec.penalties.FORMS` or a batch-maximum penalty of
:data:`stability.spec.penalties.MAX_FORMS`. Nothing about either is written here.

The critic *minimises* ``loss = −objective``, so the penalty enters its loss as

* pointwise forms: ``+(ρ/2)·mean_i φ(q_i)`` (Definition 4 of ``003_…``),
* MaxGP / MaxAL / LGAN: ``−objective(q_max)`` (Eq. 12 / Eq. 13 of ``001_…``; λ·q_max, Eq. 10/12 of ``002_…``),

with q_i = ‖∇ₓD(x̂_i)‖² over all non-batch dimensions. The gradient is taken
the documented way: ``torch.autograd.grad(..., create_graph=True)`` out of
place, then the caller runs one ``backward`` on the total loss. Under fp16
autocast with a ``GradScaler`` pass ``grad_scale=scaler.get_scale()``: the
input gradient is taken of the scaled output and unscaled in float32 before
the norm, as in the PyTorch AMP notes ("gradient penalty"), so no unscaled fp16
gradient is ever formed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from stability.spec.measures import PenaltyMeasure, measure_from
from stability.spec.ops import TORCH
from stability.spec.penalties import FORMS, MAX_FORMS, MaxPenalty, PenaltyForm
from stability.util.errors import unknown_name


def gradient_sq_norms(critic: nn.Module, x_hat: torch.Tensor, grad_scale: float | None = None) -> torch.Tensor:
    """q_i = ‖∇ₓD(x̂_i)‖², summed over every non-batch dimension, shape ``(B,)``.

    The graph is kept (``create_graph=True``) so that q can be differentiated
    with respect to the critic's parameters.
    """
    x_hat = x_hat.detach().requires_grad_(True)
    return input_sq_norms(critic(x_hat), x_hat, grad_scale)


def widened(t: torch.Tensor) -> torch.Tensor:
    """``t`` in at least float32: an autocast output (bf16/fp16) is cast up, float32 and float64 are kept.

    Losses and statistics are taken in this precision; a float64 model (the one-definition tests of
    ``ganstab spectrum``, 1e-10) keeps float64 end to end.
    """
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def input_sq_norms(out: torch.Tensor, x: torch.Tensor, grad_scale: float | None = None) -> torch.Tensor:
    """q_i = ‖∂out_i/∂x_i‖² for a critic output ``out`` (B,) of inputs ``x`` (B, ...) that require grad.

    Under autocast the seed is summed in float32 and the norms are taken in
    float32, so bf16 keeps the gradient's magnitude (bf16 has float32's range)
    and only its low bits are rounded.
    """
    seed = widened(out).sum()
    if grad_scale is not None:
        seed = seed * grad_scale
    (grad,) = torch.autograd.grad(seed, x, create_graph=True)  # (B, ...)
    grad = widened(grad)  # norms in float32
    if grad_scale is not None:
        grad = grad / grad_scale
    return grad.flatten(1).square().sum(1)


@dataclass
class PenaltyValue:
    """One critic step's penalty: the term added to the critic loss and the q_i."""

    loss: torch.Tensor  # scalar, added to the critic's loss
    q: torch.Tensor  # (B,) squared gradient norms, detached


class CriticPenalty:
    """The penalty term ``measure`` × ``form`` × ρ, with MaxAL's multiplier as state.

    Args:
        measure: where x̂ is drawn (Table 1 of ``003_…``).
        form: a name of :data:`FORMS` or :data:`MAX_FORMS`.
        rho: ρ of the (ρ/2) convention (for gp/lp forms, pass 2λ).
        multiplier: MaxAL's initial λ (Eq. 13).
    """

    def __init__(self, measure: PenaltyMeasure, form: str, rho: float, multiplier: float = 0.0):
        if form in FORMS:
            self.form: PenaltyForm | MaxPenalty = FORMS[form]
        elif form in MAX_FORMS:
            self.form = MAX_FORMS[form]
        else:
            raise unknown_name("penalty form", form, list(FORMS) + list(MAX_FORMS))
        self.measure = measure
        self.anchor: torch.Tensor | None = None  # overrides the measure's anchor (a fixed image on image data)
        self.rho = float(rho)
        self.multiplier = float(multiplier)  # MaxAL λ; a Python float so that it round-trips exactly

    @classmethod
    def from_config(cls, config: Any) -> CriticPenalty | None:
        """The penalty of a :class:`~gan_train.config.TrainConfig`, or ``None`` without one."""
        if config.measure == "none":
            return None
        return cls(
            measure_from(config.measure, list(config.anchor)), config.form, config.rho_effective, config.maxal_lambda0
        )

    def points(
        self,
        x_data: torch.Tensor,
        x_gen: torch.Tensor,
        generator: torch.Generator | None = None,
        alpha: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x̂ by the measure's rule (x_g detached; α given, or one per sample drawn from ``generator``)."""
        return self.measure.sample(x_data, x_gen.detach(), generator=generator, anchor=self.anchor, alpha=alpha)

    def __call__(
        self,
        critic: nn.Module,
        x_data: torch.Tensor,
        x_gen: torch.Tensor,
        generator: torch.Generator | None = None,
        grad_scale: float | None = None,
        alpha: torch.Tensor | None = None,
    ) -> PenaltyValue:
        q = gradient_sq_norms(critic, self.points(x_data, x_gen, generator, alpha), grad_scale)  # (B,)
        return self.value(q)

    def value(self, q: torch.Tensor) -> PenaltyValue:
        """The penalty term of the squared input-gradient norms ``q`` (B,)."""
        return PenaltyValue(self.form.batch_loss(q, TORCH, self.rho, self.multiplier), q.detach())

    def reused_rows(self, batch: int) -> slice | None:
        """Rows of the critic's forward on ``cat([x_data, x_gen])`` that *are* x̂ (p_d: the first ``batch``,
        p_g: the last), so the penalty reuses that forward; ``None`` when x̂ needs its own."""
        side = self.measure.sample_as_is
        if side is None:
            return None
        return slice(0, batch) if side == "data" else slice(batch, 2 * batch)

    def from_forward(
        self, x_in: torch.Tensor, out: torch.Tensor, rows: slice, grad_scale: float | None = None
    ) -> PenaltyValue:
        """The penalty from a forward ``out = critic(x_in)`` already taken, at the rows :meth:`reused_rows` named.

        The rows' input gradients equal those of a separate forward on them
        (each output reads only its own input row; critics have no BatchNorm).
        """
        return self.value(input_sq_norms(out[rows], x_in, grad_scale)[rows])

    def after_step(self, value: PenaltyValue) -> None:
        """MaxAL's multiplier update of Eq. 14 after a critic step; no-op otherwise."""
        if self.form.multiplier:
            self.multiplier = float(self.form.next_multiplier(self.multiplier, value.q, TORCH, self.rho))

    def describe(self) -> str:
        return f"{self.form.name} on {self.measure.describe()}, ρ={self.rho:g}"

    def state_dict(self) -> dict[str, float]:
        return {"multiplier": self.multiplier}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.multiplier = float(state["multiplier"])
