"""The CUDA-graph iteration (gan_train/graphed.py): what a CPU can check, and graph against eager where CUDA is.

On a CPU the staged iteration runs eagerly (``capture=False``) with the graph mode's capturable optimisers and device-
tensor learning rates: that checks the order of the random draws, the static buffers, the folding of statistics,
the schedulers' in-place rates and checkpoints that resume across modes. The capture itself needs CUDA.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import gan_train.loop as loop
from gan_train import checkpoint as ckpt
from gan_train.config import TrainConfig
from gan_train.distributed import World, check_config
from gan_train.graphed import GraphedIteration
from gan_train.loop import Trainer
from stability.spec.errors import SpecError

TINY = dict(
    dataset="8gaussians", measure="mu_gp", form="gp", width=16, depth=2, batch_size=32, n_critic=3, iterations=8,
    lr_d=2**-10, lr_g=2**-10, lr_decay=True, checkpoint_every=4, keep_checkpoints=0, log_every=2, w1_every=0,
    plot_every=0, tensorboard=False, progress=False, threads=1,
)  # fmt: skip
# The graph mode holds learning rates as float32 device tensors (what fused CUDA Adam reads): rates k·2⁻¹³, exact in
# float32 (2⁻¹⁰ decayed linearly over 8 iterations), make the staged run bitwise the eager one.


def _params(trainer: Trainer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for m in (trainer.generator, trainer.critic) for p in m.parameters()])


def _records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _staged(config: TrainConfig, run_dir, monkeypatch) -> Trainer:
    """A trainer in graph mode (capturable optimisers, tensor rates) whose iterations run staged but eagerly."""
    monkeypatch.setattr(loop, "capture_available", lambda device: True)
    trainer = Trainer.create(dataclasses.replace(config, cuda_graph=True), run_dir)
    monkeypatch.undo()
    assert isinstance(trainer._graphed, GraphedIteration)
    trainer._graphed.capture = False  # no CUDA here: the same staged body, run eagerly
    return trainer


@pytest.mark.parametrize(
    "extra",
    [
        {},  # μ_GP: its own forward for x̂, α drawn per step
        {"measure": "p_d", "form": "simple"},  # the penalty reuses the loss's forward, no α
        {"critic_warmup": 2, "critic_warmup_steps": 5},  # warm-up iterations (5 critic steps) are not staged
        {"spectral_norm": True, "measure": "none"},  # power-iteration buffers updated in place
    ],
)
def test_the_staged_iteration_trains_as_the_eager_loop(tmp_path, monkeypatch, extra):
    config = TrainConfig(**{**TINY, **extra})
    eager = Trainer.create(config, tmp_path / "eager")
    eager.run()
    staged = _staged(config, tmp_path / "staged", monkeypatch)
    assert isinstance(staged.opt_d.param_groups[0]["lr"], torch.Tensor)  # the rate the schedulers fill in place
    staged.run()
    assert torch.equal(_params(staged), _params(eager))  # same draws, same steps, same rates: bitwise
    want, got = _records(tmp_path / "eager"), _records(tmp_path / "staged")
    assert [r["iteration"] for r in got] == [r["iteration"] for r in want] == [2, 4, 6, 8]
    for a, b in zip(got, want):
        assert a["lr_d"] == b["lr_d"]  # the decayed rates, read back as floats
        for key in ("loss_d", "penalty", "gap", "loss_g", "param_grad_norm_d", "grad_norm"):
            assert a[key] == b[key] or (a[key] != a[key] and b[key] != b[key]), key  # (NaN: no penalty)


def test_the_staged_comparison_can_fail(tmp_path, monkeypatch):
    # One extra draw from the noise stream before each iteration (another order of the draws) changes the run.
    config = TrainConfig(**TINY)
    eager = Trainer.create(config, tmp_path / "eager")
    eager.run()
    staged = _staged(config, tmp_path / "staged", monkeypatch)
    original = GraphedIteration.__call__

    def generator_noise_first(self):
        self.trainer._latent(1)  # one extra draw shifts every later one
        original(self)

    monkeypatch.setattr(GraphedIteration, "__call__", generator_noise_first)
    staged.run()
    assert not torch.allclose(_params(staged), _params(eager), rtol=0, atol=1e-4)


def test_a_graphed_checkpoint_resumes_eagerly_to_the_same_run(tmp_path, monkeypatch):
    config = TrainConfig(**TINY)
    whole = Trainer.create(config, tmp_path / "whole")
    whole.run()
    staged = _staged(config, tmp_path / "run", monkeypatch)
    staged.run(stop_at=4)
    saved = ckpt.read_checkpoint(ckpt.list_checkpoints(tmp_path / "run")[-1][1])
    assert isinstance(saved["opt_d"]["param_groups"][0]["lr"], float)  # portable: no device tensor in the file
    resumed = Trainer.resume(tmp_path / "run")  # on CPU: eager optimisers
    assert isinstance(resumed.opt_d.param_groups[0]["lr"], float)
    assert not resumed.opt_d.param_groups[0].get("capturable")
    resumed.run()
    assert torch.equal(_params(resumed), _params(whole))


def test_cuda_graph_on_a_cpu_is_a_note_and_trains_eagerly(tmp_path, capsys):
    eager = Trainer.create(TrainConfig(**TINY), tmp_path / "eager")
    eager.run()
    switched = Trainer.create(TrainConfig(**TINY, cuda_graph=True), tmp_path / "switched")
    switched.run()
    err = capsys.readouterr().err
    assert "cuda_graph=true needs a CUDA device; running eagerly on cpu" in err
    assert switched._graphed is None
    assert torch.equal(_params(switched), _params(eager))  # the plain eager loop, bitwise


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"amp": "fp16", "device": "cuda"}, "amp=fp16 skips overflowing steps"),
        ({"form": "maxal"}, "MaxAL's multiplier is a host number"),
        ({"optimizer": "sgd"}, "SGD has no capturable variant"),
    ],
)
def test_what_cannot_be_captured_is_refused_in_one_line(extra, message):
    with pytest.raises(SpecError, match=message) as caught:
        TrainConfig(**{**TINY, **extra, "cuda_graph": True}).validate()
    assert "\n" not in str(caught.value)


def test_cuda_graph_under_torchrun_is_refused():
    with pytest.raises(SpecError, match="cuda_graph=true is for one process"):
        check_config(World(0, 2, 0), TrainConfig(**TINY, cuda_graph=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device (none here)")
@pytest.mark.parametrize("extra", [{}, {"measure": "p_g", "form": "simple"}, {"amp": "bf16"}])
def test_graph_and_eager_reach_the_same_parameters_on_cuda(tmp_path, extra):
    config = TrainConfig(**{**TINY, **extra, "device": "cuda", "iterations": 12})
    eager = Trainer.create(config, tmp_path / "eager")
    eager.run()
    graphed = Trainer.create(dataclasses.replace(config, cuda_graph=True), tmp_path / "graphed")
    graphed.run()
    assert graphed._graphed is not None and graphed._graphed.graph is not None  # captured, then replayed
    a, b = _params(graphed), _params(eager)
    assert float((a - b).norm() / b.norm()) < 1e-5
    for got, want in zip(_records(tmp_path / "graphed"), _records(tmp_path / "eager")):
        assert got["loss_d"] == pytest.approx(want["loss_d"], rel=1e-3, abs=1e-5)
