"""The EMA of the generator (gan_train/ema.py): its arithmetic, bitwise resume, BatchNorm buffers, its metrics."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from conftest import tiny_config
from test_image_data import _write_cifar_folder
from test_train_graph import TINY as GRAPH_TINY
from test_train_graph import _staged
from test_train_loop import _state, _strip

from gan_train import checkpoint as ckpt
from gan_train.config import TrainConfig, apply_overrides
from gan_train.ema import GeneratorEMA
from gan_train.metrics.log import read_metrics
from gan_train.presets import get_preset
from gan_train.trainer import Trainer
from stability.cli import main
from stability.util.errors import UserError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: The 8 Gaussians with μ_GP; large steps (lr 1e-2) so that every iteration moves the weights far beyond round-off.
tiny = partial(
    tiny_config, dataset="8gaussians", measure="mu_gp", batch_size=32, iterations=3, lr_d=1e-2, lr_g=1e-2,
    keep_checkpoints=0,
)  # fmt: skip


def _weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().double().clone() for p in module.parameters()]


@pytest.mark.parametrize(
    ("start", "decays"),
    [
        # β_t = min(β, (1 + n)/(10 + n)), n = t − start: by hand 1/10, 2/11, 3/12 (β = 0.9 never binds)
        (0, (1 / 10, 2 / 11, 3 / 12)),
        # before ema_start the copy follows the generator (β_t = 0), then the warm-up begins at n = 0
        (2, (0.0, 0.0, 1 / 10)),
    ],
)
def test_the_ema_is_the_hand_rolled_average_over_three_steps(tmp_path, start, decays):
    trainer = Trainer.create(tiny(ema=0.9, ema_start=start), tmp_path / "run")
    thetas = [_weights(trainer.generator)]  # θ_0: the copy starts equal to the generator
    for stop in (1, 2, 3):
        trainer.run(stop_at=stop)
        thetas.append(_weights(trainer.generator))
    expected = thetas[0]
    for decay, theta in zip(decays, thetas[1:]):
        expected = [decay * e + (1 - decay) * t for e, t in zip(expected, theta)]  # float64, by hand
    got = _weights(trainer.ema.module)
    assert max(float((a - b).abs().max()) for a, b in zip(thetas[3], thetas[2])) > 1e-3  # the weights moved
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)  # float32 averages against float64 arithmetic
    if start == 0:  # an average is not the last weights
        assert max(float((a - b).abs().max()) for a, b in zip(got, thetas[3])) > 1e-4


def test_a_run_with_ema_resumed_after_an_interruption_is_bitwise_the_uninterrupted_one(tmp_path):
    config = tiny(ema=0.99, ema_start=1, iterations=12, checkpoint_every=4, log_every=2, w1_every=4, w1_samples=64)
    whole = Trainer.create(config, tmp_path / "whole")
    whole.run()
    with Trainer.create(config, tmp_path / "split") as first:
        first.run(stop_at=6)  # "killed" two iterations after the checkpoint of iteration 4
    with Trainer.resume(tmp_path / "split") as resumed:
        assert resumed.iteration == 4
        resumed.run()
    for a, b in zip(whole.ema.module.state_dict().values(), resumed.ema.module.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    a, b = _state(whole), _state(resumed)
    assert all(torch.equal(a[key], b[key]) for key in a)
    records = _strip(read_metrics(tmp_path / "whole"))
    assert records == _strip(read_metrics(tmp_path / "split"))
    assert [r["iteration"] for r in records if "w1_ema" in r] == [4, 8, 12]


def test_the_ema_of_a_staged_cuda_graph_run_is_the_eager_run_s(tmp_path, monkeypatch):
    # The average is updated after the (captured) iteration, outside the graph: the staged body that a capture records
    # must leave it bitwise where the eager loop does (tests/test_train_graph.py checks the rest of graph mode).
    config = TrainConfig(**{**GRAPH_TINY, "ema": 0.9})
    eager = Trainer.create(config, tmp_path / "eager")
    eager.run()
    staged = _staged(config, tmp_path / "staged", monkeypatch)
    staged.run()
    for a, b in zip(staged.ema.module.parameters(), eager.ema.module.parameters(), strict=True):
        assert torch.equal(a, b)


def test_w1_of_the_ema_uses_the_same_samples_as_w1(tmp_path):
    # Until ema_start the copy is the generator itself, so W1 of both must agree to the last bit; after it they differ.
    config = tiny(ema=0.5, ema_start=4, iterations=8, log_every=4, w1_every=4, w1_samples=64)
    trainer = Trainer.create(config, tmp_path / "run")
    trainer.run()
    w1 = {r["iteration"]: (r["w1"], r["w1_ema"]) for r in read_metrics(tmp_path / "run") if "w1" in r}
    assert w1[4][0] == w1[4][1]
    assert w1[8][0] != w1[8][1]


def test_the_dcgan_generator_s_ema_normalises_each_batch_by_its_own_statistics(tmp_path):
    # Gulrajani's BatchNorm (tflib) keeps no running statistics: in eval mode as in training a batch is normalised by
    # its own mean and variance, so the EMA copy uses the statistics of its own (averaged) weights' activations.
    data = tmp_path / "data"
    _write_cifar_folder(data)
    config = apply_overrides(
        get_preset("cifar10-dcgan-wgan-gp").config(),
        [f"data_dir={data}", "width=8", "batch_size=4", "gen_batch_size=4", "n_critic=1", "iterations=3",
         "checkpoint_every=3", "tensorboard=false", "progress=false", "threads=1", "ema=0.999", "device=cpu"],
    )  # fmt: skip
    with Trainer.create(config, tmp_path / "run") as trainer:
        trainer.run()
    ema = trainer.ema.module
    layers = [m for m in ema.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(layers) == 3 and not list(ema.buffers())  # BatchNorm without running statistics
    z = torch.randn(6, config.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        as_evaluated = ema(z)  # eval mode, as the evaluation runs it
        by_hand = ema.input(z)  # the first layer, then BatchNorm1d by this batch's own mean and biased variance
        mean, var = by_hand.mean(0), by_hand.var(0, unbiased=False)
        first = (by_hand - mean) / torch.sqrt(var + 1e-5) * ema.bn1.weight + ema.bn1.bias
        torch.testing.assert_close(ema.bn1(by_hand), first, rtol=1e-5, atol=1e-6)
        assert not ema.training and not any(p.requires_grad for p in ema.parameters())
        assert not torch.equal(as_evaluated, trainer.generator.eval()(z))  # averaged weights, not the raw ones
    saved = ckpt.read_checkpoint(ckpt.checkpoint_path(tmp_path / "run", 3))["generator_ema"]
    assert all(torch.equal(saved[k], v) for k, v in ema.state_dict().items())


def test_running_statistics_are_copied_from_the_raw_generator_and_weights_averaged():
    # A BatchNorm that tracks running statistics (none of the presets' generators does): the EMA copy takes the raw
    # generator's statistics at each update, as stylegan2-ada-pytorch does, and averages only the weights.
    torch.manual_seed(0)
    raw = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ema = GeneratorEMA(raw, beta=0.999)
    before = _weights(raw)
    with torch.no_grad():
        raw(torch.randn(8, 3))  # train mode: the running statistics move
        for p in raw.parameters():
            p.add_(0.5)
    ema.update(raw, iteration=0)  # β_0 = min(0.999, 1/10) = 0.1
    for got, old, new in zip(_weights(ema.module), before, _weights(raw)):
        torch.testing.assert_close(got, 0.1 * old + 0.9 * new, rtol=1e-6, atol=1e-7)
    for name, buffer in raw.named_buffers():
        assert torch.equal(dict(ema.module.named_buffers())[name], buffer), name
    assert int(raw[1].num_batches_tracked) == 1 and not torch.equal(raw[1].running_mean, torch.zeros(4))


class _SumOfImages:
    """Stands in for the Inception evaluator (tests/test_train_eval.py runs the real one): the "fid" of a generator is
    the sum of its images at the seeded latent codes, a number any change of weights or codes changes."""

    def __init__(self, config, weights, **options):
        self.latent_dim = config.latent_dim

    @torch.no_grad()
    def __call__(self, generator, n_samples, seed=0):
        z = torch.randn(n_samples, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        return {"n_samples": n_samples, "fid": float(generator(z).double().sum())}


def test_eval_scores_the_ema_beside_the_raw_generator(tmp_path, monkeypatch):
    import gan_train.evaluate

    monkeypatch.setattr(gan_train.evaluate, "ImageEvaluator", _SumOfImages)
    data = tmp_path / "data"
    _write_cifar_folder(data)
    config = apply_overrides(
        get_preset("cifar10-dcgan-mu_mid").config(),
        [f"data_dir={data}", "width=8", "batch_size=4", "iterations=2", "n_critic=1", "checkpoint_every=2",
         "eval_every=1", "eval_samples=4", "is_splits=2", "tensorboard=false", "progress=false", "log_every=1",
         "ema=0.999", "ema_start=1", "device=cpu", "threads=1"],
    )  # fmt: skip
    with Trainer.create(config, tmp_path / "run") as trainer:
        trainer.run()
    first, second = (r for r in read_metrics(tmp_path / "run") if r.get("event") == "eval")
    assert first["fid_ema"] == first["fid"] and first["n_samples_ema"] == 4  # before ema_start: the same network
    z = torch.randn(4, config.latent_dim, generator=torch.Generator().manual_seed(config.seed + 4_000_037))
    with torch.no_grad():
        assert second["fid_ema"] == float(trainer.ema.module(z).double().sum())  # the averaged weights' images
        assert second["fid"] == float(trainer.generator(z).double().sum()) != second["fid_ema"]
    assert (tmp_path / "run" / "best.pt").is_file()  # the best checkpoint follows the raw generator's FID


def test_ganstab_sample_ema_draws_from_the_moving_average(tmp_path, capsys):
    import numpy as np

    with Trainer.create(tiny(ema=0.9, checkpoint_every=3), tmp_path / "run") as trainer:
        trainer.run()
    z = torch.randn(50, trainer.config.latent_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ema, raw = trainer.ema.module(z).numpy(), trainer.generator(z).numpy()
    argv = ["sample", str(tmp_path / "run"), "--n", "50", "--seed", "7", "--out"]
    assert main([*argv, str(tmp_path / "ema.npy"), "--ema"]) == 0
    assert main([*argv, str(tmp_path / "raw.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "ema.npy"), ema) and np.array_equal(np.load(tmp_path / "raw.npy"), raw)
    with Trainer.create(tiny(), tmp_path / "plain") as trainer:
        trainer.run()
    assert main(["sample", str(tmp_path / "plain"), "--out", str(tmp_path / "x.npy"), "--ema"]) == 2
    assert "keeps no moving average of its generator" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("ema=1", r"ema must be in \[0, 1\)"),
        ("ema=-0.5", r"ema must be in \[0, 1\)"),
        ("ema_start=5", "this run does not use ema_start"),
    ],
)
def test_bad_ema_settings_are_one_line_errors(assignment, message):
    with pytest.raises(UserError, match=message) as caught:
        apply_overrides(get_preset("toy-8gaussians-mu_gp").config(), [assignment])
    assert "\n" not in str(caught.value)


def test_ema_of_a_fixed_generator_is_refused():
    with pytest.raises(UserError, match="train_generator=false never changes them"):
        tiny(ema=0.9, fake="gaussian([0, 0], 1)", train_generator=False)
