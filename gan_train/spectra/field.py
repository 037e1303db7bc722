"""The flow of Definition 4 of ``003_…`` at a trainer checkpoint, on a fixed seeded sample set.

The field is :meth:`~stability.autodiff.field.TorchField.from_modules` of the checkpoint's critic and generator with
the run's own penalty measure, form and ρ (the trainer's :class:`~gan_train.penalty.CriticPenalty`), its loss link
(:func:`~stability.spec.links.get_link` of ``config.loss``) and its data law (the first batch of the run's own
training stream, :func:`~gan_train.data.streams.training_stream`, reseeded), so that::

    ψ̇ = ∇_ψ ( Σᵢ f(D(x_d,i)) + f(−D(G(zᵢ))) )/N − (ρ/2) ∇_ψ Σᵢ φ(‖∇ₓD(x̂ᵢ)‖²)/N,   θ̇ = −∇_θ Σᵢ f(−D(G(zᵢ)))/N

over N fixed points (x_d,i, zᵢ, αᵢ), x̂ᵢ = h(x_d,i, G(zᵢ), αᵢ, A) by the measure's rule (Table 1). On one trainer
batch (:class:`SampleSet` of its data, noise and α) this is minus the trainer's own critic gradient, and minus its
generator gradient where the generator loss is the flow's (identity link, or ``gen_loss=minimax``). Batch-maximum
penalties (MaxGP, MaxAL) enter by their own minibatch formula over the N points (not an expectation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from gan_train.data.streams import training_stream
from gan_train.spectra.checkpoints import RunCheckpoint
from stability.autodiff.field import TorchField
from stability.autodiff.from_modules import batchnorm_layers
from stability.spec.links import get_link
from stability.spec.penalties import MaxPenalty
from stability.spec.system import Penalty
from stability.util.errors import UserError

#: Added to the run's seed for the analysis sample set, so it is not a batch the trainer drew.
SAMPLE_SEED_OFFSET = 7_000_017


@dataclass
class SampleSet:
    """The fixed points every expectation of the field runs over.

    Attributes:
        x_data: ``(N, ...)`` data points.
        z: ``(N, latent_dim)`` latent codes; the generated points are G(z).
        alpha: ``(N,)`` the penalty measure's interpolation weights when it draws α, else ``None``.
        seed: the seed the set was drawn with (``None`` for a given batch).
        describe: how each part was drawn, for ``spectrum.json``.
    """

    x_data: torch.Tensor
    z: torch.Tensor
    alpha: torch.Tensor | None = None
    seed: int | None = None
    describe: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.x_data.shape[0])

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "seed": self.seed, **self.describe}


def sample_set(config: Any, size: int, seed: int = 0) -> SampleSet:
    """N data points from the run's own training stream, N latent codes z ~ N(0, I) and N α of its measure, seeded.

    The data are the first batch of :func:`~gan_train.data.streams.training_stream` reseeded with
    ``config.seed + SAMPLE_SEED_OFFSET + seed`` (2-D laws: i.i.d. draws; images: a seeded permutation of the
    training set with the run's dequantisation); z and α come from their own generators of the same seed.
    """
    if size < 1:
        raise UserError(f"--samples must be >= 1, got {size}")
    from gan_train.penalty import CriticPenalty

    base = config.seed + SAMPLE_SEED_OFFSET + seed
    x_data = training_stream(config, torch.device("cpu"), batch_size=size, seed_offset=SAMPLE_SEED_OFFSET + seed).next()
    z = torch.randn(size, config.latent_dim, generator=torch.Generator().manual_seed(base + 1), dtype=torch.float64)
    penalty = CriticPenalty.from_config(config)
    alpha = None
    describe = {
        "data": f"the first batch of the run's training stream ({config.dataset}), seed {base}",
        "latent": f"z ~ N(0, I_{config.latent_dim}), seed {base + 1}",
    }
    if penalty is not None and penalty.measure.alpha is not None:
        draw = torch.Generator().manual_seed(base + 2)
        alpha = penalty.measure.alpha.sample(size, generator=draw, dtype=torch.float64).reshape(size)
        describe["alpha"] = f"α of {penalty.measure.describe()}, one per point, seed {base + 2}"
    return SampleSet(x_data, z, alpha, seed, describe)


def run_field(checkpoint: RunCheckpoint, samples: SampleSet, dtype: torch.dtype = torch.float64) -> TorchField:
    """The :class:`TorchField` of a checkpoint over ``samples``, with the run's measure, form, ρ, link and anchor.

    The critic runs in eval mode (spectral normalisation then uses the checkpoint's power-iteration vectors, held
    fixed). Generator BatchNorm layers use the batch statistics of the N fixed latent codes, as in training mode,
    without running averages (:func:`torch.func.replace_all_batch_norm_modules_`; the module is changed in place).

    Raises:
        UserError: a critic with BatchNorm (with a penalty, as :meth:`TorchField.from_modules` refuses; without
            one too, since the trainer evaluates data and generated points as one coupled batch).
    """
    critic, generator = checkpoint.critic, checkpoint.generator
    critic_bn = batchnorm_layers(critic)
    if critic_bn and checkpoint.penalty is None:
        raise UserError(
            f"the critic has BatchNorm ({', '.join(critic_bn)}): the trainer evaluates data and generated points as "
            "one coupled batch, so D is not a per-sample function and the field is not defined"
        )
    if batchnorm_layers(generator):
        torch.func.replace_all_batch_norm_modules_(generator)
    critic.eval()
    generator.eval()
    penalty = checkpoint.penalty
    spec = Penalty(penalty.measure, penalty.form, penalty.rho) if penalty is not None else None
    return TorchField.from_modules(
        critic,
        generator,
        samples.x_data,
        samples.z,
        spec,
        get_link(checkpoint.config.loss),
        dtype=dtype,
        alpha=samples.alpha if spec is not None and spec.measure.alpha is not None else None,
        anchor=penalty.anchor if penalty is not None else None,
        multiplier=penalty.multiplier if penalty is not None else 0.0,
    )


def optimiser_note(config: Any, update: bool = True) -> str:
    """The update and the learning rates the run really trained with, and which radii are of which update.

    ``update``: the radius of the run's own update was computed (:mod:`gan_train.spectra.run_update`).
    """
    if config.lr_decay:
        rates = (
            f"learning rates decayed linearly from lr_d = {config.lr_d:g}, lr_g = {config.lr_g:g} to 0 over "
            f"{config.iterations} iterations (lr_decay); the radii at each checkpoint use its decayed rates"
        )
    else:
        rates = f"constant learning rates lr_d = {config.lr_d:g}, lr_g = {config.lr_g:g}"
    name = {
        "adam": f"Adam (β1 = {config.beta1:g}, β2 = {config.beta2:g})",
        "rmsprop": "RMSprop",
        "sgd": "plain SGD (no momentum)",
    }[config.optimizer]
    if update:
        return (
            f"the run was trained with {name} at {rates}: the update radius is of that update (its n_critic, both "
            "learning rates, and the optimiser state stored in each checkpoint); the GD radii are of plain gradient "
            "steps at h = lr_d, for comparison"
        )
    rule = {"adam": "Adam's preconditioned momentum update", "rmsprop": "RMSprop's scaled update"}.get(config.optimizer)
    if rule is None:
        return f"the run was trained with {name} at {rates}: the GD radii are of the same plain steps"
    return (
        f"the run was trained with {name} at {rates}: the GD spectral radii are those of plain gradient steps at "
        f"these learning rates, not of {rule} (--no-update skipped the radius of the run's own update)"
    )


def run_notes(checkpoint: RunCheckpoint, samples: SampleSet, update: bool = True) -> list[str]:
    """What the field of a run is and is not: where it differs from the dynamics the trainer ran.

    ``update``: the radius of the run's own update is reported beside the GD radii.
    """
    config = checkpoint.config
    notes = []
    notes.append(optimiser_note(config, update))
    both = "; the update radius uses both" if update else ""
    if config.lr_d != config.lr_g:
        notes.append(f"lr_d = {config.lr_d:g} ≠ lr_g = {config.lr_g:g}: the GD radii use the one step h = lr_d{both}")
    if config.n_critic > 1:
        notes.append(
            f"the run takes n_critic = {config.n_critic} critic steps per generator step; alternating GD here is "
            "one ψ step, then one θ step" + ("; the update radius takes the run's n_critic steps" if update else "")
        )
    if getattr(config, "critic_warmup", 0):
        notes.append(
            f"the first {config.critic_warmup} generator iterations took {config.critic_warmup_steps} critic steps "
            "each (warm-up)"
        )
    if config.clip > 0:
        notes.append(
            f"the run was trained with weight clipping to [−{config.clip:g}, {config.clip:g}]: the projection is "
            "not part of this field, so the field is not the trained dynamics"
        )
    if config.spectral_norm:
        notes.append(
            "the critic is spectrally normalised: the field differentiates D(x; W/σ(W)) with σ from the "
            "checkpoint's power-iteration vectors held fixed, while training advances them every step, so the "
            "field is not exactly the trained dynamics"
        )
    generator_bn = batchnorm_layers(checkpoint.generator)
    if generator_bn:
        notes.append(
            f"the generator has BatchNorm ({len(generator_bn)} layers): its statistics are those of the fixed batch "
            f"of {samples.size} latent codes (the batch is fixed; the trainer's batches had {config.batch_size})"
        )
    if config.loss != "identity" and config.gen_loss != "minimax":
        notes.append(
            f"θ̇ is the flow's −∇_θ E[f(−D(G(z)))] for the {config.loss} link (Definition 4); the run's generator "
            f"minimised −E[D(G(z))] (gen_loss = {config.gen_loss}), a different dynamics"
        )
    penalty = checkpoint.penalty
    batch_maximum = penalty is not None and isinstance(penalty.form, MaxPenalty)
    if batch_maximum and penalty.form.multiplier:
        notes.append(
            f"MaxAL: λ is held at its checkpoint value ({penalty.multiplier:g}); its own update (Eq. 14 of 001) "
            "is not part of the field"
        )
    if batch_maximum:
        notes.append(
            f"{penalty.form.name}: the penalty is the maximum over the {samples.size} points of the sample set "
            "(Eq. 12/13 of 001), not an expectation; the Theorem 1 check does not apply"
        )
    if config.amp != "off":
        notes.append(f"the run was trained under {config.amp} autocast; the field is evaluated in full precision")
    return notes
