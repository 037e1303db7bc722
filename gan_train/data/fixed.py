"""Fixed data and fixed generators, for the critic-only experiments of the seeds.

In ``001_…`` §5.1 (Fig. 1, line 190) two real and two fake points are fixed and only the critic is trained. In
``002_…`` §5.2 (lines 594–602) two real Gaussians are trained against one fixed fake Gaussian, and ten CIFAR-10 images
against "ten fixed noise images"; ``000_…`` §5.1 (Fig. 3–4, line 298) does the same. These are config keys of
:class:`~gan_train.config.TrainConfig`:

* ``dataset`` set to a 2-D law (:func:`gan_train.data.toy.law_from_text`) for the real side on the plane;
* ``data_subset = N`` for N fixed real images (:func:`gan_train.data.streams.class_balanced_subset`, read by
  ``training_stream``);
* ``fake`` set to a 2-D law: :class:`FixedLawGenerator`, a generator with no parameters whose output has that law;
* ``fake_images = N``: :class:`FixedSetGenerator` over N Gaussian-noise images (:func:`noise_images`);
* ``train_generator = False``: the loop never steps the generator (a fixed one has nothing to step).

A fixed generator stays a function of the latent z ~ N(0, I), like the network it replaces, so the loop, the W1
metric, the plots and ``ganstab sample`` draw from it unchanged. Φ(z₁) (the standard normal CDF, uniform on (0, 1))
picks the branch or the set member; the other coordinates feed the law's base variables.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gan_train.data.streams import data_shape
from stability.spec.lambdify import lambdify_torch
from stability.spec.laws import Law
from stability.util.errors import UserError

#: Offset of the seed of the noise images from the run's ``seed`` (other streams use 1_000_003 and 2_000_003).
NOISE_SEED_OFFSET = 3_000_017


def latent_needed(law: Law) -> int:
    """Latent coordinates :class:`FixedLawGenerator` uses: one to pick a branch (if several), one per base variable."""
    return (1 if len(law.branches) > 1 else 0) + max(len(branch.bases) for branch in law.branches)


class FixedLawGenerator(nn.Module):
    """G(z) with the law ``law`` for z ~ N(0, I): a fixed p_θ without parameters.

    For z of shape ``(B, m)``: with several branches, the branch of row i is the one whose cumulative weight first
    exceeds Φ(z_i1). The branch's base variables then take the next coordinates, in order: a ``normal01`` base is
    z_ik itself and a ``uniform01`` base is Φ(z_ik). The coordinates are independent, so G(z) has exactly the law's
    distribution. A discrete law on N points with equal weights gives each point with probability 1/N.

    Args:
        law: a numeric law on R^d.
    """

    def __init__(self, law: Law):
        super().__init__()
        self.law = law
        weights = torch.tensor([float(branch.weight) for branch in law.branches], dtype=torch.float64)
        self.register_buffer("cumulative", torch.cumsum(weights / weights.sum(), 0), persistent=False)
        self.choose = len(law.branches) > 1
        self.latent = latent_needed(law)
        self._points = [
            lambdify_torch([base.symbol for base in branch.bases], list(branch.point)) for branch in law.branches
        ]

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, m) -> (B, d)
        if z.shape[1] < self.latent:
            raise UserError(f"the fixed law {self.law} needs latent_dim >= {self.latent}, got {z.shape[1]}")
        rows = z.shape[0]
        values = []
        for branch, point in zip(self.law.branches, self._points):
            first = 1 if self.choose else 0
            bases = [
                z[:, first + k] if base.kind == "normal01" else torch.special.ndtr(z[:, first + k])
                for k, base in enumerate(branch.bases)
            ]
            coordinates = [torch.as_tensor(c, dtype=z.dtype, device=z.device).expand(rows) for c in point(*bases)]
            values.append(torch.stack(coordinates, 1))  # (B, d)
        if not self.choose:
            return values[0]
        cumulative = self.cumulative.to(z.device)
        index = torch.searchsorted(cumulative, torch.special.ndtr(z[:, 0].double()).contiguous(), right=True)
        index = index.clamp(max=len(values) - 1)  # (B,)
        stacked = torch.stack(values)  # (branches, B, d)
        return stacked[index, torch.arange(rows, device=z.device)]


class FixedSetGenerator(nn.Module):
    """G(z) = the member ⌊N·Φ(z₁)⌋ of a fixed set of N samples: the uniform law on the set.

    The set is a buffer, so it is saved in checkpoints and moves with ``.to(device)``.

    Args:
        samples: the fixed set, shape ``(N, ...)``.
    """

    def __init__(self, samples: torch.Tensor):
        super().__init__()
        self.register_buffer("samples", samples.clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, m) -> (B, ...)
        n = self.samples.shape[0]
        index = (torch.special.ndtr(z[:, 0].double()) * n).long().clamp(0, n - 1)
        return self.samples[index.to(self.samples.device)]


def noise_images(n: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """N images of i.i.d. N(0, 1) pixels, shape ``(n, *shape)``, seeded. ``000_…`` line 433: "P_g is Gaussian noise"."""
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed + NOISE_SEED_OFFSET))


def build_fixed_generator(config: Any) -> nn.Module:
    """The fixed generator of ``config`` (``fake`` or ``fake_images``)."""
    if config.fake:
        from gan_train.data.toy import law_from_text

        return FixedLawGenerator(law_from_text(config.fake, "fake"))
    return FixedSetGenerator(noise_images(config.fake_images, data_shape(config), config.seed))
