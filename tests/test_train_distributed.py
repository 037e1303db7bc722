"""torchrun with DDP on CPU (gloo), and preemption by SIGTERM: checkpoint, then a bitwise resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from torchrun_launch import run_two_processes

from gan_train import checkpoint as ckpt
from gan_train.config import TrainConfig
from gan_train.distributed import World, check_config
from gan_train.trainer import Trainer
from stability.util.errors import UserError

TINY = dict(
    dataset="8gaussians", measure="mu_gp", form="gp", width=16, depth=2, batch_size=32, n_critic=2, iterations=6,
    lr_d=1e-3, lr_g=1e-3, checkpoint_every=3, keep_checkpoints=0, log_every=3, w1_every=0, plot_every=0,
    tensorboard=False, progress=False, threads=1,
)  # fmt: skip

# Each rank trains, then saves the parameters it holds, so that the test can compare the ranks; then it leaves the
# process group, as `ganstab train` does (Trainer.close: left to interpreter exit, gloo's teardown aborted rank 0).
WORKER = """
import json, os, sys, torch
from gan_train.config import TrainConfig
from gan_train.trainer import Trainer
config = TrainConfig(**json.loads(sys.argv[1]))
trainer = Trainer.create(config, sys.argv[2])
trainer.run()
torch.save({**{"G." + k: v for k, v in trainer.generator.state_dict().items()},
            **{"D." + k: v for k, v in trainer.critic.state_dict().items()}},
           os.path.join(sys.argv[3], f"rank{trainer.world.rank}.pt"))
trainer.close()
import gc
from torch.nn.parallel import DistributedDataParallel
assert not torch.distributed.is_initialized()
assert not [o for o in gc.get_objects() if isinstance(o, DistributedDataParallel)], "DDP still holds the group"
"""


def _params(trainer: Trainer) -> dict[str, torch.Tensor]:
    out = {f"G.{k}": v for k, v in trainer.generator.state_dict().items()}
    out.update({f"D.{k}": v for k, v in trainer.critic.state_dict().items()})
    return out


@pytest.mark.parametrize("measure", ["mu_gp", "p_d"])  # a penalty on its own forward, and one reusing it
def test_two_gloo_processes_hold_identical_parameters_equal_to_one_process(tmp_path, measure):
    # Plain SGD: Adam's normalisation would amplify round-off in components whose gradient is near zero.
    config = {**TINY, "measure": measure, "optimizer": "sgd", "lr_d": 0.05, "lr_g": 0.05}
    run_two_processes(tmp_path / "worker.py", WORKER, json.dumps(config), str(tmp_path / "run2"), str(tmp_path))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), key  # DDP averaged the same gradients on both ranks

    single = Trainer.create(TrainConfig(**config), tmp_path / "run1")
    single.run()
    # The mean of two half-batch means is the global mean: equal up to float32 summation order.
    assert _relative_distance(ranks[0], _params(single)) < 1e-6
    # Only rank 0 wrote: one config, one metrics log with one record per log interval, checkpoints 3 and 6.
    records = [json.loads(line) for line in (tmp_path / "run2" / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == [3, 6]
    assert [i for i, _ in ckpt.list_checkpoints(tmp_path / "run2")] == [3, 6]
    # The logged statistics are means over both ranks: equal to the 1-process run's to float tolerance.
    reference = [json.loads(line) for line in (tmp_path / "run1" / "metrics.jsonl").read_text().splitlines()]
    for got, want in zip(records, reference):
        assert got["loss_d"] == pytest.approx(want["loss_d"], rel=1e-3, abs=1e-4)


def test_the_comparison_with_one_process_can_fail(tmp_path):
    # Halving the global batch on one process (what a rank that did not shard would see) changes the result.
    sgd = {**TINY, "optimizer": "sgd", "lr_d": 0.05, "lr_g": 0.05}
    a = Trainer.create(TrainConfig(**sgd), tmp_path / "a")
    a.run()
    b = Trainer.create(TrainConfig(**{**sgd, "batch_size": 16}), tmp_path / "b")
    b.run()
    assert _relative_distance(_params(a), _params(b)) > 1e-2


def _relative_distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    flat_a = torch.cat([a[k].flatten() for k in sorted(b)])
    flat_b = torch.cat([b[k].flatten() for k in sorted(b)])
    return float((flat_a - flat_b).norm() / flat_b.norm())


def test_sharding_refuses_what_it_cannot_do():
    config = TrainConfig(**{**TINY, "batch_size": 2})
    with pytest.raises(UserError, match="smaller than the 4 processes"):
        check_config(World(0, 4, 0), config)
    with pytest.raises(UserError, match="does not split evenly over 3"):
        check_config(World(0, 3, 0), TrainConfig(**TINY))
    with pytest.raises(UserError, match="maximum over the whole batch"):
        check_config(World(0, 2, 0), TrainConfig(**{**TINY, "form": "maxgp", "measure": "mu_gp"}))
    check_config(World(0, 2, 0), TrainConfig(**TINY))  # 32 samples over 2 processes: fine
    # IS/FID batches of up to 100 images are shared out whole: 100 images are one batch, 101 two (51 + 50)
    with pytest.raises(UserError, match="eval_samples=100 makes 1 evaluation batch.*at least 101"):
        check_config(World(0, 2, 0), TrainConfig(**{**TINY, "eval_every": 5, "eval_samples": 100}))
    check_config(World(0, 2, 0), TrainConfig(**{**TINY, "eval_every": 5, "eval_samples": 101}))
    assert torch.equal(World(1, 2, 1).shard(torch.arange(6)), torch.tensor([3, 4, 5]))


def _ganstab(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stability.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        **kwargs,
    )  # fmt: skip


def _sets(config: dict) -> list[str]:
    return [arg for key, value in config.items() for arg in ("--set", f"{key}={value}")]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_writes_a_checkpoint_and_the_resumed_run_is_bitwise_the_same(tmp_path, signum):
    config = {**TINY, "iterations": 1_000_000, "checkpoint_every": 1_000_000, "log_every": 1}
    config.pop("dataset")
    run = tmp_path / "run"
    process = _ganstab("train", "--preset", "toy-8gaussians-mu_gp", "--out", str(run), *_sets(config))
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"stopped by {signal.Signals(signum).name} at iteration" in lines[0], err
    (stopped_at, path), *_ = ckpt.list_checkpoints(run)[::-1]
    assert stopped_at >= 3 and f"checkpoint {path} written" in lines[0]

    # Resume to stopped_at + 3 and compare with one uninterrupted run to the same iteration.
    end = stopped_at + 3
    resumed = Trainer.resume(run, [f"iterations={end}"])
    resumed.run()
    from gan_train.config import apply_overrides
    from gan_train.presets import get_preset

    cli_config = apply_overrides(get_preset("toy-8gaussians-mu_gp").config(), [f"{k}={v}" for k, v in config.items()])
    straight = Trainer.create(apply_overrides(cli_config, [f"iterations={end}"]), tmp_path / "straight")
    straight.run()
    for key, value in _params(straight).items():
        assert torch.equal(value, _params(resumed)[key]), key


# ---- SyncBatchNorm -----------------------------------------------------------------------------------------------


def _bn_generator() -> torch.nn.Module:
    from models.radford_dcgan import DCGANGenerator

    return DCGANGenerator(z_dim=8, width=4, batchnorm=True)


def test_batchnorm_becomes_sync_batchnorm_under_torchrun_on_cuda():
    from gan_train.distributed import synchronise_batchnorm

    generator = _bn_generator()
    before = {n: type(m) for n, m in generator.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert len(before) == 3  # DCGAN: after the projection and after the first two of its three deconvolutions
    params, keys = list(generator.parameters()), list(generator.state_dict())
    # the conversion needs no process group and no GPU; running SyncBatchNorm would need both
    converted, note = synchronise_batchnorm(generator, World(0, 2), torch.device("cuda"), True, "generator")
    layers = dict(converted.named_modules())
    assert note is None and all(isinstance(layers[n], torch.nn.SyncBatchNorm) for n in before)
    # the same parameter tensors (an optimiser built on either sees them) and the same checkpoint keys
    assert all(a is b for a, b in zip(params, converted.parameters())) and list(converted.state_dict()) == keys


@pytest.mark.parametrize(
    ("world", "device", "enabled", "expected"),
    [
        (World(0, 2), "cpu", True, "torch runs SyncBatchNorm on GPUs only"),
        (World(0, 2), "cuda", False, "sync_batchnorm=false"),
        (World(0, 1), "cuda", True, None),  # one process: its batch is the global batch
    ],
)
def test_batchnorm_stays_per_process_where_it_must_and_says_so(world, device, enabled, expected):
    from gan_train.distributed import synchronise_batchnorm

    generator = _bn_generator()
    out, note = synchronise_batchnorm(generator, world, torch.device(device), enabled, "generator")
    assert out is generator and not any(isinstance(m, torch.nn.SyncBatchNorm) for m in out.modules())
    assert (note is None) if expected is None else (expected in note and "\n" not in note)


def test_a_model_without_batchnorm_gets_no_note():
    from gan_train.distributed import synchronise_batchnorm

    module = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    assert synchronise_batchnorm(module, World(0, 2), torch.device("cpu"), True, "critic") == (module, None)


def test_a_batchnorm_generator_trains_on_two_gloo_processes_and_says_its_statistics_are_per_process(tmp_path):
    from test_image_data import _write_cifar_folder, fake_cifar_prelude

    from gan_train.config import apply_overrides
    from gan_train.presets import get_preset

    _write_cifar_folder(tmp_path / "cifar")
    settings = ["width=8", "batch_size=4", "gen_batch_size=4", "iterations=2", "n_critic=2", "checkpoint_every=2",
                "log_every=1", "tensorboard=false", "progress=false", "threads=1"]  # fmt: skip
    settings.append(f"data_dir={tmp_path / 'cifar'}")
    config = apply_overrides(get_preset("cifar10-dcgan-mu_mid").config(), settings)
    assert any(
        isinstance(m, torch.nn.BatchNorm2d) for m in Trainer.create(config, tmp_path / "probe").generator.modules()
    )
    done = run_two_processes(  # the workers' torchvision trusts the fake CIFAR-10 files too
        tmp_path / "worker.py",
        fake_cifar_prelude(tmp_path / "cifar") + WORKER,
        json.dumps(config.to_dict()),
        str(tmp_path / "run2"),
        str(tmp_path),
    )
    # rank 0 alone says it, once: the generator's BatchNorm stays per process on CPU
    assert done.stderr.count("torch runs SyncBatchNorm on GPUs only") == 1, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for key in ranks[0]:
        if "running_" not in key and "num_batches" not in key:  # per-process statistics differ, parameters do not
            assert torch.equal(ranks[0][key], ranks[1][key]), key
