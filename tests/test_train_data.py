"""Toy data laws, the data stream, W1 by assignment, config and presets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_train.config import TrainConfig, apply_overrides
from gan_train.data.toy import DataStream, data_law
from gan_train.metrics.log import w1_assignment
from gan_train.penalty import CriticPenalty
from gan_train.presets import PRESETS, get_preset
from stability.util.errors import UserError


def _nearest(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    return torch.cdist(points.double(), centres.double()).min(1).values


def test_eight_gaussians_as_in_gan_toy():
    x = data_law("8gaussians").sample(4000, generator=torch.Generator().manual_seed(0))
    angles = torch.arange(8) * math.pi / 4
    centres = 2 / 1.414 * torch.stack([angles.cos(), angles.sin()], 1)
    assert float(_nearest(x, centres).max()) < 6 * 0.02 / 1.414 * 2  # within a few σ of a centre


def test_twenty_five_gaussians_as_in_gan_toy():
    x = data_law("25gaussians").sample(5000, generator=torch.Generator().manual_seed(0))
    grid = torch.tensor([[2 * i / 2.828, 2 * j / 2.828] for i in range(-2, 3) for j in range(-2, 3)])
    assert float(_nearest(x, grid).max()) < 6 * 0.05 / 2.828 * 2
    assert len(set(torch.cdist(x.double(), grid.double()).argmin(1).tolist())) == 25


def test_swiss_roll_as_in_sklearn():
    x = data_law("swissroll").sample(5000, generator=torch.Generator().manual_seed(0)).double() * 7.5
    radius = x.norm(dim=1)  # ≈ t ∈ [1.5π, 4.5π] plus noise 0.25
    assert float(radius.min()) > 1.5 * math.pi - 1.5 and float(radius.max()) < 4.5 * math.pi + 1.5


def test_data_stream_is_seeded_and_restores_exactly():
    law = data_law("8gaussians")
    a, b = DataStream(law, 16, seed=3, chunk=48), DataStream(law, 16, seed=3, chunk=48)
    batches = [a.next() for _ in range(5)]
    assert all(torch.equal(x, b.next()) for x in batches)
    state = a.state_dict()
    expected = [a.next() for _ in range(4)]  # crosses a chunk boundary
    c = DataStream(law, 16, seed=99, chunk=48)
    c.load_state_dict(state)
    assert all(torch.equal(x, c.next()) for x in expected)


def test_w1_assignment_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 2))
    shift = np.array([0.3, -0.4])
    assert w1_assignment(a, a + shift) == pytest.approx(0.5, abs=1e-12)  # W1(μ, μ shifted by v) = ‖v‖
    assert w1_assignment(a, a[rng.permutation(200)]) == pytest.approx(0.0, abs=1e-12)
    one_d = w1_assignment(np.sort(a[:, :1], 0), np.sort(a[:, 1:], 0))
    assert one_d == pytest.approx(np.abs(np.sort(a[:, 0]) - np.sort(a[:, 1])).mean())  # 1-D: sorted matching


def test_presets_cover_the_issue_and_section_5_1():
    methods = ["wgan", "wgan-gp", "lp", "maxgp", "maxal", "sn", "p_g", "p_d", "mu_gp", "mu_mid", "mu_anchor"]
    iterations = {"8gaussians": 30_000, "swissroll": 100_000, "25gaussians": 200_000}
    for dataset, count in iterations.items():
        for method in methods:
            config = get_preset(f"toy-{dataset}-{method}").config()
            assert config.dataset == dataset and config.iterations == count
            penalty = CriticPenalty.from_config(config)
            assert (penalty is None) == (method in ("wgan", "sn"))
    assert get_preset("toy-8gaussians-mu_anchor").config().anchor == [2.0, -1.0]
    wgan = get_preset("toy-8gaussians-wgan").config()
    assert (wgan.clip, wgan.optimizer, wgan.lr_d) == (0.01, "rmsprop", 5e-5)
    gp = get_preset("toy-8gaussians-wgan-gp").config()  # gan_toy.py: LAMBDA = .1, tflib's he/glorot init
    assert (gp.form, gp.gp_lambda, gp.rho_effective, gp.measure, gp.init) == ("gp", 0.1, 0.2, "mu_gp", "tflib")
    sgp = get_preset("toy-8gaussians-mu_mid").config()  # the same weight, 0.1·E‖∇D‖²
    assert (sgp.rho, sgp.rho_effective, get_preset("toy-swissroll-maxal").config().rho) == (0.2, 0.2, 0.2)
    image_gp = get_preset("cifar10-resnet-wgan-gp").config()  # gan_cifar_resnet.py: LAMBDA = 10
    assert (image_gp.gp_lambda, get_preset("cifar10-dcgan-mu_mid").config().rho, image_gp.init) == (10.0, 20.0, "torch")
    # 3 toy sets × 11 methods, 2 CIFAR-10 architectures × 11 methods, 6 MNIST methods
    assert len(PRESETS) == 3 * 11 + 2 * 11 + 6 and all(p.description for p in PRESETS.values())


def test_overrides_parse_by_type():
    config = apply_overrides(TrainConfig(measure="mu_anchor"), ["anchor=[1.5,-2]", "lr_decay=true", "iterations=3e4"])
    assert config.anchor == [1.5, -2.0] and config.lr_decay is True and config.iterations == 30000


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("n_critic=0", "n_critic must be >= 1"),
        ("lr_d=-1e-4", "lr_d must be non-negative"),
        ("rho=-1", "rho must be non-negative"),
        ("gp_lambda=-1", "gp_lambda must be non-negative"),
        ("batch_size=1", "batch_size must be >= 2"),
        ("measure=mu_foo", "unknown penalty measure 'mu_foo'; valid: mu_anchor, mu_gp"),
        ("loss=softmax", "unknown loss 'softmax'; valid: exp, hinge, identity, logistic, logistic_linear, quadratic"),
        ("form=r3", "unknown penalty form 'r3'; valid: gp, lgan, lp, maxal, maxgp, simple"),
        ("colour=red", "unknown config key 'colour'; valid: activation"),
        ("width=wide", "width: .wide. is not a number"),
        ("gp_lambda=1", "set rho, not gp_lambda"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(assignment, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")):
        apply_overrides(TrainConfig(measure="mu_gp"), [assignment])
