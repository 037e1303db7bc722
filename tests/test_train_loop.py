"""The training loop: learning, exact resume, checkpoints, divergence, spectral norm."""

from __future__ import annotations

import errno
import fcntl
import json
import os
from functools import partial

import pytest
import torch
from conftest import tiny_config

from gan_train import checkpoint as ckpt
from gan_train.errors import CheckpointError, CheckpointWriteError, DivergenceError
from gan_train.metrics.log import read_metrics
from gan_train.trainer import Trainer
from stability.util.errors import UserError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: 12 iterations of the 8 Gaussians with μ_GP, a checkpoint every 4, logs every 2 and W1 every 4.
tiny = partial(
    tiny_config,
    dataset="8gaussians",
    measure="mu_gp",
    form="simple",
    batch_size=32,
    iterations=12,
    lr_d=1e-3,
    lr_g=1e-3,
    checkpoint_every=4,
    keep_checkpoints=0,
    log_every=2,
    w1_every=4,
    w1_samples=64,
)


def _state(trainer: Trainer) -> dict[str, torch.Tensor]:
    out = {f"G.{k}": v for k, v in trainer.generator.state_dict().items()}
    out.update({f"D.{k}": v for k, v in trainer.critic.state_dict().items()})
    for name, opt in (("opt_g", trainer.opt_g), ("opt_d", trainer.opt_d)):
        for index, state in opt.state_dict()["state"].items():
            out.update({f"{name}.{index}.{k}": v for k, v in state.items() if torch.is_tensor(v)})
    return out


def run_lock_held(run_dir) -> bool:
    """Whether ``RUN_DIR/.lock`` is locked, probed with ``flock`` on a new open of the file: flock(2) locks belong to
    open file descriptions, so a lock this very process holds is seen too."""
    with open(run_dir / ckpt.LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _strip(records):
    return [{k: v for k, v in r.items() if k != "it_per_s"} for r in records]


def test_short_8gaussians_run_with_mu_mid_reduces_w1(tmp_path):
    config = tiny(
        measure="mu_mid",
        rho=20.0,
        width=64,
        batch_size=128,
        n_critic=5,
        iterations=200,
        w1_every=50,
        w1_samples=500,
        checkpoint_every=200,
        log_every=50,
    )
    trainer = Trainer.create(config, tmp_path / "run")
    before = trainer.w1()
    trainer.run()
    after = trainer.w1()
    logged = [r["w1"] for r in read_metrics(tmp_path / "run") if "w1" in r]
    assert len(logged) == 4
    assert after < 0.5 * before, (before, after)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(measure="mu_gp", form="maxal", rho=2.0, lr_decay=True),
        dict(measure="none", spectral_norm=True, loss="hinge", gen_loss="minimax"),
        dict(measure="p_d", form="simple", clip=0.05, optimizer="rmsprop", dataset="swissroll"),
        dict(measure="mu_anchor", form="lp", gp_lambda=5.0, dataset="25gaussians", amp="bf16"),
    ],
    ids=["maxal-decay", "sn-hinge", "clip-rmsprop-p_d", "anchor-lp-bf16"],
)
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, overrides):
    config = tiny(**overrides)
    whole = Trainer.create(config, tmp_path / "whole")
    whole.run()

    first = Trainer.create(config, tmp_path / "split")
    first.run(stop_at=6)  # "killed" two iterations after the checkpoint of iteration 4
    assert [i for i, _ in ckpt.list_checkpoints(tmp_path / "split")] == [4]
    resumed = Trainer.resume(tmp_path / "split")
    assert resumed.iteration == 4
    resumed.run()

    a, b = _state(whole), _state(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    if whole.penalty is not None:
        assert whole.penalty.multiplier == resumed.penalty.multiplier
    assert _strip(read_metrics(tmp_path / "whole")) == _strip(read_metrics(tmp_path / "split"))


def test_a_trainer_used_in_a_with_block_releases_the_run_lock(tmp_path):
    run = tmp_path / "run"
    with Trainer.create(tiny(iterations=2), run) as trainer:
        trainer.run()
        assert run_lock_held(run)  # the probe sees a held lock
    assert not run_lock_held(run)
    with pytest.raises(DivergenceError), Trainer.resume(run, ["iterations=4"]) as trainer:
        assert run_lock_held(run)
        raise DivergenceError("stopped inside the block", 3, "loss_d")
    assert not run_lock_held(run)  # released on the way out of an exception too
    trainer.close()  # a second close releases nothing more
    with Trainer.resume(run, ["iterations=4"]) as trainer:
        assert trainer.run().iteration == 4


def test_existing_run_dir_is_refused_without_resume(tmp_path):
    Trainer.create(tiny(), tmp_path / "run")
    with pytest.raises(UserError, match="already exists"):
        Trainer.create(tiny(), tmp_path / "run")


def test_corrupt_checkpoint_is_refused_and_nothing_is_overwritten(tmp_path):
    run = tmp_path / "run"
    Trainer.create(tiny(iterations=8), run).run()
    newest = ckpt.list_checkpoints(run)[-1][1]
    raw = bytearray(newest.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    newest.write_bytes(bytes(raw))
    snapshot = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError, match="corrupt"):
        Trainer.resume(run)
    newest.write_bytes(bytes(raw[:100]))  # truncated
    snapshot[newest] = newest.read_bytes()
    with pytest.raises(CheckpointError):
        Trainer.resume(run)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == snapshot


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    run = tmp_path / "run"
    Trainer.create(tiny(iterations=4), run).run()
    config = json.loads((run / "config.json").read_text())
    config["width"] = 8
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="different architecture|disagrees with checkpoint"):
        Trainer.resume(run)


def test_resume_may_change_bookkeeping_only(tmp_path):
    run = tmp_path / "run"
    Trainer.create(tiny(iterations=4), run).run()
    with pytest.raises(UserError, match="cannot change when resuming"):
        Trainer.resume(run, ["lr_d=0.5"])
    trainer = Trainer.resume(run, ["iterations=6"])
    assert trainer.run().iteration == 6


def test_nan_stops_the_run_naming_iteration_and_term(tmp_path):
    run = tmp_path / "run"
    trainer = Trainer.create(tiny(iterations=12), run)

    def poison(module, inputs, output):
        return output * float("nan") if trainer.iteration >= 5 else output

    trainer.critic.register_forward_hook(poison)
    with pytest.raises(DivergenceError, match=r"iteration 6 \(critic step 1/2\).*critic loss is nan") as info:
        trainer.run()
    assert info.value.iteration == 6 and info.value.term == "loss_d"
    assert [i for i, _ in ckpt.list_checkpoints(run)] == [4]
    ckpt.read_checkpoint(ckpt.checkpoint_path(run, 4))  # the last good checkpoint is loadable
    assert read_metrics(run)[-1]["event"] == "diverged"


def test_full_disk_during_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    run = tmp_path / "run"
    trainer = Trainer.create(tiny(iterations=12), run)
    trainer.run(stop_at=4)
    good = ckpt.checkpoint_path(run, 4)
    before = good.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # the one atomic writer fsyncs before its rename
    with pytest.raises(CheckpointWriteError, match="No space left on device.*intact"):
        trainer.run()
    monkeypatch.undo()
    assert good.read_bytes() == before
    assert sorted(p.name for p in ckpt.checkpoint_dir(run).iterdir()) == [good.name]  # no temp file, no torn file
    assert Trainer.resume(run).iteration == 4


def test_spectral_norm_keeps_top_singular_value_near_one(tmp_path):
    trainer = Trainer.create(tiny(measure="none", spectral_norm=True, width=32, iterations=15), tmp_path / "run")
    trainer.run()
    layers = [m for m in trainer.critic.modules() if isinstance(m, torch.nn.Linear)]
    assert len(layers) == 3

    def sigmas():
        trainer.critic.eval()
        try:
            return [float(torch.linalg.matrix_norm(layer.weight.detach(), ord=2)) for layer in layers]
        finally:
            trainer.critic.train()

    # one power iteration per forward tracks σ_max with a small lag while the weights move
    assert sigmas() == pytest.approx([1.0] * 3, abs=0.1)
    with torch.no_grad():
        for _ in range(200):  # more power iterations on fixed weights: σ_max → 1
            trainer.critic(torch.zeros(1, 2))
    assert sigmas() == pytest.approx([1.0] * 3, abs=1e-2)


def test_weight_clipping_bounds_the_critic(tmp_path):
    trainer = Trainer.create(tiny(measure="none", clip=0.01, optimizer="rmsprop", iterations=3), tmp_path / "run")
    trainer.run()
    assert max(float(p.detach().abs().max()) for p in trainer.critic.parameters()) <= 0.01
