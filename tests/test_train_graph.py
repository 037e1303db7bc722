"""The CUDA-graph iteration (gan_train/graphed.py): what a CPU can check, and graph against eager where CUDA is.

On a CPU the staged iteration runs eagerly (``capture=False``) with the graph mode's capturable optimisers and device-
tensor learning rates: that checks the order of the random draws, the static buffers, the folding of statistics,
the schedulers' in-place rates and checkpoints that resume across modes. The capture itself needs CUDA.
"""

from __future__ import annotations

import dataclasses
import json
import os
from types import SimpleNamespace

import pytest
import torch
from torchrun_launch import run_two_processes

import gan_train.trainer as loop
from gan_train import checkpoint as ckpt
from gan_train.config import TrainConfig
from gan_train.distributed import World, check_config, join
from gan_train.graphed import GraphedIteration
from gan_train.trainer import Trainer
from stability.util.errors import UserError

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
    with pytest.raises(UserError, match=message) as caught:
        TrainConfig(**{**TINY, **extra, "cuda_graph": True}).validate()
    assert "\n" not in str(caught.value)


def test_cuda_graph_under_torchrun_passes_the_sharding_checks():
    check_config(World(0, 2, 0), TrainConfig(**TINY, cuda_graph=True))  # no longer refused: DDP is captured too


def test_ddp_is_warmed_up_for_eleven_iterations_before_the_capture():
    # PyTorch's recipe for capturing DDP: at least 11 DDP-enabled eager iterations; one process keeps 3.
    assert GraphedIteration(SimpleNamespace(world=World(0, 2, 0))).warmup == 11
    assert GraphedIteration(SimpleNamespace(world=World())).warmup == 3


@pytest.fixture
def fake_init(monkeypatch):
    """torch.distributed.init_process_group replaced by a recorder of its backend and of NCCL's error handling."""
    calls = []
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(
        torch.distributed,
        "init_process_group",
        lambda backend, **kw: calls.append((backend, os.environ.get("TORCH_NCCL_ASYNC_ERROR_HANDLING"))),
    )
    monkeypatch.setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")  # what torchrun sets
    return calls


@pytest.mark.parametrize(
    ("device", "capture", "expected"),
    [("cuda", True, ("nccl", "0")), ("cuda", False, ("nccl", "1")), ("cpu", True, ("gloo", "1"))],
)
def test_joining_for_a_captured_ddp_turns_nccl_error_handling_off_first(
    fake_init, monkeypatch, device, capture, expected
):
    monkeypatch.setattr(torch.cuda.nccl, "version", lambda: (2, 21, 5))
    join(World(1, 2, 1), torch.device(device), capture=capture)
    assert fake_init == [expected]


def test_an_nccl_that_cannot_capture_collectives_is_refused_in_one_line(fake_init, monkeypatch):
    monkeypatch.setattr(torch.cuda.nccl, "version", lambda: (2, 9, 5))
    with pytest.raises(UserError, match=r"needs NCCL >= 2\.9\.6 .* this torch has NCCL 2\.9\.5") as caught:
        join(World(0, 2, 0), torch.device("cuda"), capture=True)
    assert "\n" not in str(caught.value) and fake_init == []  # refused before any process group exists


# A rank of a 2-process run: the graph mode's staged iteration (capturable optimisers, tensor rates, static buffers)
# run eagerly under DDP on gloo, or the plain eager loop; it saves its parameters and leaves the process group
# (Trainer.close).
STAGED_WORKER = """
import json, os, sys, torch
import gan_train.trainer as loop
from gan_train.config import TrainConfig
config = TrainConfig(**json.loads(sys.argv[1]))
staged = config.cuda_graph and sys.argv[4] == "staged"  # "capture": the real thing, on CUDA
if staged:
    loop.capture_available = lambda device: True  # graph mode on a CPU, its iterations staged but not captured
trainer = loop.Trainer.create(config, sys.argv[2])
if staged:
    assert trainer._graphed is not None and trainer._graphed.warmup == 11
    trainer._graphed.capture = False
trainer.run()
if config.cuda_graph and not staged:
    assert trainer._graphed.graph is not None  # captured (after 11 eager iterations), then replayed
params = torch.cat([p.detach().flatten() for m in (trainer.generator, trainer.critic) for p in m.parameters()])
torch.save(params, os.path.join(sys.argv[3], f"rank{trainer.world.rank}.pt"))
trainer.close()
"""


def _two_processes(tmp_path, config: TrainConfig, name: str, mode: str = "staged") -> list[torch.Tensor]:
    out = tmp_path / name
    out.mkdir()
    run_two_processes(
        tmp_path / "worker.py", STAGED_WORKER, json.dumps(config.to_dict()), str(out / "run"), str(out), mode
    )
    return [torch.load(out / f"rank{rank}.pt", map_location="cpu") for rank in (0, 1)]


def test_the_staged_iteration_under_ddp_trains_as_the_eager_ddp_loop(tmp_path):
    # μ_GP: α drawn per critic step and sharded; Adam with rates exact in float32 (see TINY). The staged body is
    # what a capture records, so this checks everything of graph mode under torchrun except the capture itself.
    config = TrainConfig(**TINY)
    eager = _two_processes(tmp_path, config, "eager")
    staged = _two_processes(tmp_path, dataclasses.replace(config, cuda_graph=True), "staged")
    assert torch.equal(staged[0], staged[1])  # DDP averaged the same gradients on both ranks
    assert torch.equal(staged[0], eager[0])  # the same draws, shards, all-reduces and steps: bitwise
    # (The eager DDP loop follows the 1-process run: tests/test_train_distributed.py, with SGD, which graph mode
    # refuses; under Adam round-off in near-zero gradients flips whole steps of size lr, 1e-4 relative here.)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="DDP under a CUDA graph needs 2 GPUs (NCCL: one per rank)")
def test_a_captured_ddp_iteration_trains_as_the_eager_ddp_loop_on_two_gpus(tmp_path):
    config = TrainConfig(**{**TINY, "device": "cuda", "iterations": 16})  # 11 eager iterations, then replays
    eager = _two_processes(tmp_path, config, "eager", mode="capture")
    graphed = _two_processes(tmp_path, dataclasses.replace(config, cuda_graph=True), "graphed", mode="capture")
    assert torch.equal(graphed[0], graphed[1])
    assert float((graphed[0] - eager[0]).norm() / eager[0].norm()) < 1e-5


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
