"""The critic and generator steps: one forward, no host synchronisation, the penalty under bf16."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from conftest import tiny_config

from gan_train.penalty import CriticPenalty, gradient_sq_norms
from gan_train.trainer import CriticBatch, Trainer
from stability.spec.measures import measure_from

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: 8 iterations of the 8 Gaussians with μ_GP, logging and checkpointing out of the way.
tiny = partial(
    tiny_config, dataset="8gaussians", measure="mu_gp", form="simple", batch_size=32, iterations=8, lr_d=1e-3,
    lr_g=1e-3, keep_checkpoints=0, log_every=1000,
)  # fmt: skip


def _critic_grads(trainer: Trainer, batch: CriticBatch) -> tuple[torch.Tensor, list[torch.Tensor]]:
    trainer.critic.zero_grad(set_to_none=True)
    loss = trainer.critic_loss(batch).loss
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in trainer.critic.parameters()]


@pytest.mark.parametrize("measure", ["p_d", "p_g"])
@pytest.mark.parametrize("form", ["simple", "gp", "maxgp"])
def test_penalty_reusing_the_adversarial_forward_equals_its_own_forward(tmp_path, measure, form):
    # p_d / p_g: x̂ is x_d / x_g itself, so the trainer takes ∇ₓD from the forward on cat([x_d, x_g]).
    # The reference recomputes the same loss by hand, with the penalty on a separate forward.
    trainer = Trainer(tiny(measure=measure, form=form), tmp_path)
    assert trainer.penalty.reused_rows(32) is not None
    batch = trainer.draw_critic_batch()
    loss, grads = _critic_grads(trainer, batch)

    trainer.critic.zero_grad(set_to_none=True)
    with torch.no_grad():
        x_gen = trainer.generator(batch.z)
    d_real, d_fake = trainer.critic(batch.x_data), trainer.critic(x_gen)
    q = gradient_sq_norms(trainer.critic, batch.x_data if measure == "p_d" else x_gen)
    reference = -(d_real.mean() - d_fake.mean()) + trainer.penalty.value(q).loss
    reference.backward()
    torch.testing.assert_close(loss, reference.detach(), rtol=1e-6, atol=1e-7)
    for got, want in zip(grads, [p.grad for p in trainer.critic.parameters()]):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_interpolating_measures_use_their_own_forward(tmp_path):
    for name in ("mu_gp", "mu_mid", "mu_anchor"):
        assert CriticPenalty(measure_from(name, [2.0, -1.0]), "simple", 1.0).reused_rows(8) is None


def test_the_given_alpha_is_the_one_used(tmp_path):
    # The batch's α decides x̂: α = 1 everywhere makes μ_GP's x̂ = x_d, i.e. the p_d penalty.
    gp = Trainer(tiny(measure="mu_gp"), tmp_path / "a")
    pd = Trainer(tiny(measure="p_d"), tmp_path / "b")
    batch = gp.draw_critic_batch()
    ones = CriticBatch(batch.x_data, batch.z, torch.ones_like(batch.alpha))
    torch.testing.assert_close(_critic_grads(gp, ones)[0], _critic_grads(pd, ones)[0])
    zeros = CriticBatch(batch.x_data, batch.z, torch.zeros_like(batch.alpha))
    assert not torch.allclose(_critic_grads(gp, zeros)[0], _critic_grads(pd, zeros)[0])


class _SyncCounter:
    """Counts every tensor → Python conversion (each is a host synchronisation on a GPU)."""

    def __init__(self, monkeypatch):
        self.calls = 0
        for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, _original=original, **kwargs):
                self.calls += 1
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)


@pytest.mark.parametrize("form", ["simple", "gp"])
def test_no_host_sync_inside_the_steps(tmp_path, monkeypatch, form):
    # Between two records the loop reads no tensor: the number of conversions does not grow with iterations.
    counts = []
    for iterations in (3, 9):
        trainer = Trainer.create(
            tiny(iterations=iterations, log_every=iterations, form=form), tmp_path / f"{iterations}"
        )
        counter = _SyncCounter(monkeypatch)
        trainer.run()
        monkeypatch.undo()
        counts.append(counter.calls)
    assert counts[0] == counts[1], counts


def test_the_sync_counter_sees_a_sync(monkeypatch):
    counter = _SyncCounter(monkeypatch)
    float(torch.ones(()))
    torch.ones(2).tolist()
    monkeypatch.undo()
    assert counter.calls == 2


@pytest.mark.parametrize("form", ["simple", "gp", "lp"])
def test_penalty_under_bf16_autocast_is_taken_in_float32(tmp_path, form):
    # bf16 keeps float32's range but only 8 mantissa bits: ‖∇ₓD‖² through a bf16 backward is 5–9% off at
    # initialisation. The trainer takes the penalty's forward and input gradient in float32, so its q under
    # bf16 autocast equals the float32 q at the same x̂; the naive bf16 q is measurably worse.
    trainer = Trainer(tiny(measure="mu_gp", form=form, width=64, depth=3, amp="bf16"), tmp_path)
    batch = trainer.draw_critic_batch()
    trainer.critic.zero_grad(set_to_none=True)
    loss16, _, penalty16 = trainer.critic_loss(batch)
    loss16.backward()
    grads16, q16 = [p.grad for p in trainer.critic.parameters()], penalty16.q
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        x_gen = trainer.generator(batch.z).float()
    x_hat = trainer.penalty.points(batch.x_data, x_gen, alpha=batch.alpha)
    q32 = gradient_sq_norms(trainer.critic, x_hat).detach()
    torch.testing.assert_close(q16, q32, rtol=1e-6, atol=1e-9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q_naive = gradient_sq_norms(trainer.critic, x_hat).detach()
    assert (q_naive - q32).norm() / q32.norm() > 1e-2  # what the float32 path avoids
    assert all(torch.isfinite(g).all() for g in grads16) and torch.isfinite(loss16)
