"""The trainer on images: one critic and one generator step for every image preset's method, on fake data files."""

from __future__ import annotations

import json
import math

import pytest
import torch
from test_image_data import _write_cifar_folder, _write_mnist

from gan_train import checkpoint as ckpt
from gan_train.config import IMAGE_DATASETS, TOY_DATASETS, apply_overrides
from gan_train.errors import CheckpointError
from gan_train.presets import IMAGE_METHODS, MNIST_METHODS, get_preset
from gan_train.trainer import Trainer
from stability.cli import main
from stability.util.errors import UserError

TINY = ["width=8", "batch_size=4", "gen_batch_size=6", "iterations=2", "n_critic=2", "checkpoint_every=1",
        "log_every=1", "tensorboard=false", "progress=false", "threads=1"]  # fmt: skip


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    _write_cifar_folder(root)
    return root


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    _write_mnist(root, gz=True)
    return root


def _config(preset: str, data_dir, *extra: str):
    return apply_overrides(get_preset(preset).config(), [*TINY, f"data_dir={data_dir}", *extra])


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


@pytest.mark.parametrize("arch", ["resnet", "dcgan"])
@pytest.mark.parametrize("method", IMAGE_METHODS)
def test_every_cifar_method_takes_finite_steps(arch, method, cifar, tmp_path):
    config = _config(f"cifar10-{arch}-{method}", cifar)
    trainer = Trainer.create(config, tmp_path / "run")
    g0, d0 = _flat(trainer.generator), _flat(trainer.critic)
    result = trainer.run()
    assert result.iteration == 2
    record = result.last_record
    for key in ("loss_d", "loss_g", "gap"):
        assert math.isfinite(record[key]), (key, record)
    assert not torch.equal(g0, _flat(trainer.generator)) and not torch.equal(d0, _flat(trainer.critic))
    if config.clip:
        assert all(float(p.detach().abs().max()) <= config.clip + 1e-7 for p in trainer.critic.parameters())
    assert len(ckpt.list_checkpoints(tmp_path / "run")) == 2


@pytest.mark.parametrize("method", MNIST_METHODS)
def test_every_mnist_method_takes_finite_steps(method, mnist, tmp_path):
    trainer = Trainer.create(_config(f"mnist-{method}", mnist), tmp_path / "run")
    x = trainer.data.next()
    assert x.shape == (4, 1, 28, 28) and float(x.min()) >= 0.0 and float(x.max()) < 1.0  # gan_mnist.py's [0, 1)
    record = trainer.run().last_record
    assert math.isfinite(record["loss_d"]) and math.isfinite(record["loss_g"])


def test_anchor_image_is_seeded_and_recorded(cifar, tmp_path):
    a = Trainer.create(_config("cifar10-dcgan-mu_anchor", cifar, "anchor_seed=3"), tmp_path / "a")
    b = Trainer.create(_config("cifar10-dcgan-mu_anchor", cifar, "anchor_seed=3"), tmp_path / "b")
    c = Trainer.create(_config("cifar10-dcgan-mu_anchor", cifar, "anchor_seed=4"), tmp_path / "c")
    anchor = a.penalty.anchor
    assert anchor.shape == (3, 32, 32) and float(anchor.min()) >= -1 and float(anchor.max()) <= 1
    assert torch.equal(anchor, b.penalty.anchor) and not torch.equal(anchor, c.penalty.anchor)
    assert torch.equal(torch.load(tmp_path / "a" / "anchor.pt"), anchor)
    # the penalty points of μ_g,anc lie on segments from the anchor image to the samples
    x_gen = torch.zeros(4, 3, 32, 32)
    points = a.penalty.points(None, x_gen, torch.Generator().manual_seed(0))
    ratio = points / anchor  # = α per sample, the same at every pixel
    assert torch.allclose(ratio, ratio[:, :1, :1, :1].expand_as(ratio), atol=1e-5)


def test_mnist_anchor_is_gray(mnist, tmp_path):
    trainer = Trainer.create(_config("mnist-mu_anchor", mnist), tmp_path / "run")
    assert torch.equal(trainer.penalty.anchor, torch.full((1, 28, 28), 0.5))


def test_resume_with_another_architecture_is_refused(cifar, tmp_path):
    run = tmp_path / "run"
    Trainer.create(_config("cifar10-dcgan-wgan-gp", cifar), run).run()
    saved = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**saved, "arch": "resnet"}))
    with pytest.raises(CheckpointError, match="different architecture|disagrees with checkpoint"):
        Trainer.resume(run)


def test_resume_continues_bitwise_on_images(cifar, tmp_path):
    whole = Trainer.create(_config("cifar10-resnet-mu_mid", cifar, "iterations=3"), tmp_path / "whole")
    whole.run()
    part = Trainer.create(_config("cifar10-resnet-mu_mid", cifar, "iterations=3"), tmp_path / "part")
    part.run(stop_at=1)
    resumed = Trainer.resume(tmp_path / "part")
    resumed.run()
    assert torch.equal(_flat(whole.generator), _flat(resumed.generator))
    assert torch.equal(_flat(whole.critic), _flat(resumed.critic))


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("arch=resnet", "arch=resnet is for cifar10"),
        ("data_dir=", "needs --set data_dir"),
        ("w1_every=100", "w1_every and plot_every are for 2-D data"),
        ("eval_ref=valid", "unknown reference split 'valid'; valid: test, train"),  # weights: optional (cache)
        ("eval_metrics=is,kld", "unknown image metric 'kld'; valid: fid, is, kid, prc"),
    ],
)
def test_bad_image_configs_are_one_line_errors(assignment, message):
    with pytest.raises(UserError, match=message):
        apply_overrides(get_preset("mnist-p_g").config(), [assignment])


def test_missing_data_is_a_one_line_error(tmp_path, capsys):
    code = main(
        ["train", "--preset", "cifar10-dcgan-p_g", "--set", f"data_dir={tmp_path}", "--out", str(tmp_path / "r")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "cifar-10" in err
    assert not (tmp_path / "r").exists()


def test_dry_run_prints_parameter_counts_without_out(capsys):
    # The counts are derived by hand from the layer sizes in tests/test_image_models.py.
    assert main(["train", "--preset", "cifar10-resnet-wgan-gp", "--dry-run"]) == 0
    assert "generator 1,204,483, critic 1,053,825" in capsys.readouterr().out
    assert main(["train", "--preset", "mnist-mu_mid", "--dry-run"]) == 0
    assert "generator 1,554,177, critic 1,030,145" in capsys.readouterr().out


def test_dataset_names_match_the_registries():
    from gan_train.data.images import IMAGE_DATASETS as images
    from gan_train.data.toy import DATASETS as toys

    assert tuple(images) == IMAGE_DATASETS and tuple(toys) == TOY_DATASETS


@pytest.mark.parametrize("arch, method", [("dcgan", "mu_gp"), ("resnet", "p_g")])  # own x̂ forward; reused forward
def test_channels_last_trains_to_the_same_parameters(arch, method, cifar, tmp_path):
    # SGD: Adam turns the round-off gradient of a bias that BatchNorm cancels (exactly 0 in exact arithmetic) into a
    # full ±lr step of random sign, which would compare round-off, not the layouts
    sgd = ("optimizer=sgd", "lr_d=0.05", "lr_g=0.05")
    plain = Trainer.create(_config(f"cifar10-{arch}-{method}", cifar, *sgd), tmp_path / "plain")
    nhwc = Trainer.create(_config(f"cifar10-{arch}-{method}", cifar, *sgd, "channels_last=true"), tmp_path / "nhwc")
    convs = [m.weight for m in nhwc.critic.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert any(not w.is_contiguous() for w in convs)  # (a 1×1 kernel is both layouts at once)
    start = {name: _flat(getattr(plain, name)) for name in ("critic", "generator")}
    plain.run()
    nhwc.run()
    for name, before in start.items():
        # the same numbers in another memory layout: only the order of float32 sums differs
        moved = (_flat(getattr(plain, name)) - before).norm()
        apart = (_flat(getattr(nhwc, name)) - _flat(getattr(plain, name))).norm()
        assert apart < 1e-4 * moved, (name, float(apart / moved))  # measured: 2e-7 to 5e-6


def test_channels_last_is_for_image_architectures(capsys):
    from gan_train.config import TrainConfig
    from stability.util.errors import UserError

    with pytest.raises(UserError, match="no convolutions"):
        apply_overrides(TrainConfig(), ["channels_last=true"])
