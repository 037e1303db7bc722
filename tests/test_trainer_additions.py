"""Trainer additions of issue #15, checked against numbers known by hand.

The LGAN penalty (Eq. 10/12 of 002) and the logistic_linear link (000 Table 2), fixed data sets and fixed
generators, critic-only mode, the critic warm-up of 004 §6, SGD, SELU, the MLP initialisations, and the sign of
MaxAL's multiplier (001 Eq. 13–14) in a run whose W1 is known.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import sympy
import torch
from conftest import tiny_config
from test_image_data import _write_cifar_folder
from torch import nn

from gan_train.config import ACTIVATION_NAMES, INIT_NAMES, OPTIMIZER_NAMES, TrainConfig, apply_overrides
from gan_train.data.fixed import FixedLawGenerator, latent_needed
from gan_train.data.images import load_images
from gan_train.data.streams import class_balanced_subset
from gan_train.data.toy import DataStream, data_law, get_dataset, law_from_text
from gan_train.losses import critic_loss
from gan_train.metrics.log import read_metrics
from gan_train.nets import build_critic
from gan_train.penalty import CriticPenalty
from gan_train.presets import get_preset
from gan_train.trainer import Trainer
from models.mlp import ACTIVATIONS, INITS, MLP
from stability.spec.links import LINKS
from stability.spec.ops import SYMPY, TORCH
from stability.spec.penalties import MAX_FORMS
from stability.util.errors import UserError

# Two fixed point sets, the fake one the real one shifted by (−2, 0): W1 = 2 (each point moves by the shift).
REAL = "discrete([[1, 0.5], [1, -0.5]])"
FAKE = "discrete([[-1, 0.5], [-1, -0.5]])"
W1 = 2.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: 4 iterations, batch 16, a log line each.
tiny = partial(tiny_config, batch_size=16, iterations=4, log_every=1)


def _message(assignment: list[str], base: TrainConfig | None = None) -> str:
    with pytest.raises(UserError) as info:
        apply_overrides(base or TrainConfig(), assignment)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ---- the loss link and the penalty form, on the spec layer's one definition --------------------------


def test_logistic_linear_is_table_2_of_000_on_both_backends():
    """φ(x) = −log σ(−x) + 0.01x (000 line 313), f(t) = −φ(−t); the critic loss is E[φ(D(x_g))] + E[φ(−D(x_d))]."""
    link = LINKS["logistic_linear"]
    t = sympy.Symbol("t", real=True)
    assert sympy.simplify(link(t, SYMPY) - (-sympy.log(1 + sympy.exp(-t)) + sympy.Rational(1, 100) * t)) == 0
    assert sympy.diff(link(t, SYMPY), t).subs(t, 0) == sympy.Rational(51, 100)  # f'(0) = σ(0) + 0.01
    values = torch.tensor([-30.0, -2.0, 0.0, 0.5, 40.0], dtype=torch.float64)
    torch.testing.assert_close(link(values, TORCH), torch.log(torch.sigmoid(values)) + 0.01 * values)

    def phi(x):
        return -torch.log(torch.sigmoid(-x)) + 0.01 * x

    d_real = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    d_fake = torch.tensor([-0.7, 0.4, 1.5], dtype=torch.float64)
    expected = phi(d_fake).mean() + phi(-d_real).mean()
    torch.testing.assert_close(critic_loss(link, d_real, d_fake), expected)


def test_the_analysis_reads_the_same_link():
    """Dirac GAN with p_d, Lemma 1 of 003: J(0, 0) = [[−ρ, −f'(0)], [f'(0), 0]], here f'(0) = 1/2 + 1/100."""
    from stability.spec.toys import dirac_gan
    from stability.symbolic.field import SymbolicField

    jacobian = SymbolicField(dirac_gan("p_d", rho=3, link="logistic_linear")).jacobian_exact({"psi": 0, "theta": 0})
    slope = sympy.Rational(51, 100)
    assert sympy.simplify(jacobian - sympy.Matrix([[-3, -slope], [slope, 0]])) == sympy.zeros(2, 2)


def test_lgan_is_lambda_times_the_batch_maximum_of_q():
    """002 Eq. 10/12 with k₀ = 0: the critic's loss gains λ·max_i q_i, and the config speaks λ (ρ = 2λ)."""
    lgan = MAX_FORMS["lgan"]
    q, rho = sympy.symbols("q rho", positive=True)
    assert sympy.simplify(lgan.objective(q, SYMPY, rho) + rho / 2 * q) == 0
    config = TrainConfig(measure="mu_gp", form="lgan", gp_lambda=0.3).validate()
    assert config.rho_effective == pytest.approx(0.6)
    assert "set gp_lambda, not rho" in _message(["rho=1"], config)

    class Quadratic(nn.Module):  # D(x) = a/2·‖x‖², ∇ₓD = a·x, q = a²‖x‖²
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.tensor(1.5, dtype=torch.float64))

        def forward(self, x):
            return 0.5 * self.a * x.square().sum(1)

    lam = 0.3
    g = torch.Generator().manual_seed(0)
    x_data = torch.randn(32, 2, generator=g, dtype=torch.float64)
    x_gen = torch.randn(32, 2, generator=g, dtype=torch.float64) + 2
    penalty = CriticPenalty.from_config(config)
    critic = Quadratic()
    value = penalty(critic, x_data, x_gen, generator=torch.Generator().manual_seed(7))
    x_hat = penalty.points(x_data, x_gen, torch.Generator().manual_seed(7))  # the same α
    top = float(x_hat.square().sum(1).max())
    mean = float(x_hat.square().sum(1).mean())
    assert top > 1.5 * mean  # the maximum, not the mean, is penalised
    assert float(value.loss.detach()) == pytest.approx(lam * 1.5**2 * top, rel=1e-12)
    value.loss.backward()
    assert float(critic.a.grad) == pytest.approx(2 * lam * 1.5 * top, rel=1e-12)


# ---- fixed data, fixed generators ------------------------------------------------------------------------


def test_fixed_law_generator_is_the_pushforward_of_z():
    """G(z) has the law: Φ(z₁) picks the branch, the next coordinates are the normal (or Φ of the uniform) bases."""
    two = FixedLawGenerator(law_from_text("discrete([[0, 0], [3, 1]], [0.25, 0.75])"))
    z = torch.zeros(4, 2)
    z[:, 0] = torch.tensor([-2.0, -0.7, -0.6, 1.0])  # Φ = 0.023, 0.242, 0.274, 0.841: the split is at 0.25
    torch.testing.assert_close(two(z), torch.tensor([[0.0, 0], [0, 0], [3, 1], [3, 1]]))
    draws = two(torch.randn(40000, 2, generator=torch.Generator().manual_seed(0)))
    share = float((draws[:, 0] == 0).double().mean())
    assert abs(share - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 40000)
    assert bool(((draws[:, 0] == 3) | (draws[:, 0] == 0)).all())

    z = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))
    normal = FixedLawGenerator(law_from_text("normal([1, -2], [0.5, 0.1])"))
    torch.testing.assert_close(normal(z), torch.stack([1 + 0.5 * z[:, 0], -2 + 0.1 * z[:, 1]], 1))
    box = FixedLawGenerator(law_from_text("uniform([0, 0], [1, 2])"))
    torch.testing.assert_close(box(z), torch.stack([torch.special.ndtr(z[:, 0]), 2 * torch.special.ndtr(z[:, 1])], 1))
    pair_text = "mixture([normal([-1, 0], 0.1), normal([1, 0], 0.1)])"
    pair = law_from_text(pair_text)
    assert latent_needed(pair) == 3
    centre = torch.where(z[:, 0] < 0, -1.0, 1.0)
    torch.testing.assert_close(
        FixedLawGenerator(pair)(z), torch.stack([centre + 0.1 * z[:, 1], 0.1 * z[:, 2]], 1), rtol=1e-6, atol=1e-6
    )
    assert "fake law needs latent_dim >= 3, got 2" in _message([f"fake={pair_text}", "train_generator=false"])


def test_law_datasets_and_their_one_line_errors():
    config = TrainConfig(dataset=REAL, fake=FAKE, train_generator=False).validate()
    law = data_law(config.dataset)
    assert law.is_atomic and sorted(tuple(float(c) for c in b.point) for b in law.branches) == [(1, -0.5), (1, 0.5)]
    batch = DataStream(law, 64, seed=0).next()
    assert {tuple(row) for row in batch.tolist()} == {(1.0, 0.5), (1.0, -0.5)}
    assert get_dataset(REAL).extent == pytest.approx(1.25)  # 1.25 × the largest |coordinate|
    assert "unknown dataset 'nope'" in _message(["dataset=nope"])
    assert "is a law on R^1" in _message(["dataset=normal(0, 1)"])
    assert "unknown function 'gauss'" in _message(["dataset=gauss([0, 0], 1)"])
    assert "arch=dcgan is for cifar10, mnist" in _message([f"dataset={REAL}", "arch=dcgan"])
    assert "set train_generator=false" in _message([f"fake={FAKE}"])
    assert "data_subset is for image data" in _message(["data_subset=10"])
    assert "fake_images is for image data" in _message(["fake_images=10", "train_generator=false"])
    assert "init=normal is for arch=mlp" in _message(["init=normal"], get_preset("cifar10-dcgan-p_g").config())
    assert "unknown init 'he'" in _message(["init=he"])
    assert "critic_warmup_steps must be >= 1" in _message(["critic_warmup_steps=0"])


def test_class_balanced_subset_by_hand():
    labels = [3, 1, 1, 0, 3, 0, 2]
    images = np.arange(7)[:, None]  # image i holds i
    # round 1: class 0 → 3, 1 → 1, 2 → 6, 3 → 0; round 2: class 0 → 5, 1 → 2, 3 → 4
    assert class_balanced_subset(images, labels, 6)[:, 0].tolist() == [3, 1, 6, 0, 5, 2]
    with pytest.raises(UserError, match="data_subset must be in 1..7"):
        class_balanced_subset(images, labels, 8)


def test_ten_images_against_ten_noise_images_critic_only(tmp_path):
    """001 §5.2 / 000 Fig. 4: N fixed real images (one per class), N fixed noise images, the critic trained alone."""
    _write_cifar_folder(tmp_path / "data")
    overrides = dict(dataset="cifar10", data_dir=str(tmp_path / "data"), arch="dcgan", width=8, latent_dim=8,
                     data_subset=10, batch_size=10, dequantize=False, fake_images=10, train_generator=False,
                     n_critic=1, iterations=2, checkpoint_every=1)  # fmt: skip
    trainer = Trainer.create(tiny(**overrides), tmp_path / "run")
    images, labels = load_images("cifar10", tmp_path / "data", "train")
    chosen = torch.from_numpy(class_balanced_subset(images, labels, 10)).double() / 128 - 1
    batch = trainer.data.next().double()  # one epoch of ten: the ten images, shuffled
    assert sorted(map(tuple, batch.flatten(1).tolist())) == sorted(map(tuple, chosen.flatten(1).tolist()))
    fake = trainer.samples(50).flatten(1)
    noise = trainer.generator.samples.flatten(1)
    assert noise.shape == (10, 3072) and 0.9 < float(noise.std()) < 1.1  # N(0, 1) pixels
    assert bool((fake[:, None] == noise[None]).all(-1).any(1).all())  # every sample is one of the ten
    before = {k: v.clone() for k, v in trainer.critic.state_dict().items()}
    trainer.run()
    assert any(not torch.equal(before[k], v) for k, v in trainer.critic.state_dict().items())
    resumed = Trainer.resume(tmp_path / "run")
    assert torch.equal(resumed.generator.samples, trainer.generator.samples)


# ---- critic-only mode, SGD, the warm-up --------------------------------------------------------------------


def test_sgd_on_fixed_diracs_by_hand(tmp_path):
    """Linear critic D = wᵀx + b, p_d = δ(1,2), p_θ = δ(−1,0), WGAN loss: ∇_w = −(x_d − x_g) and ∇_b = 0.

    So each SGD step adds lr·(2, 2) to w and leaves b alone.
    """
    config = tiny(dataset="dirac([1, 2])", fake="dirac([-1, 0])", train_generator=False, depth=0, optimizer="sgd",
                  lr_d=0.1, n_critic=1, iterations=3)  # fmt: skip
    trainer = Trainer.create(config, tmp_path / "run")
    assert isinstance(trainer.opt_d, torch.optim.SGD)
    linear = trainer.critic.net[0]
    w0, b0 = linear.weight.detach().clone(), linear.bias.detach().clone()
    trainer.run()
    torch.testing.assert_close(linear.weight.detach(), w0 + 3 * 0.1 * torch.tensor([[2.0, 2.0]]))
    torch.testing.assert_close(linear.bias.detach(), b0)
    records = [r for r in read_metrics(tmp_path / "run") if "loss_g" in r]
    assert len(records) == 3 and all(math.isnan(r["loss_g"]) for r in records)  # no generator step was taken


def test_critic_only_mode_never_steps_a_network_generator(tmp_path):
    trainer = Trainer.create(tiny(dataset="8gaussians", measure="mu_gp", train_generator=False), tmp_path / "run")
    generator = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    critic = {k: v.clone() for k, v in trainer.critic.state_dict().items()}
    trainer.run()
    assert all(torch.equal(generator[k], v) for k, v in trainer.generator.state_dict().items())
    assert not trainer.opt_g.state  # never stepped
    assert any(not torch.equal(critic[k], v) for k, v in trainer.critic.state_dict().items())


def test_warmup_counts_critic_steps_and_survives_resume(tmp_path):
    """critic_warmup = 3 iterations of 7 critic steps, then n_critic = 2: by hand 7, 14, 21, 23, 25 steps in all."""
    config = tiny(dataset="8gaussians", critic_warmup=3, critic_warmup_steps=7, n_critic=2, iterations=5,
                  checkpoint_every=1)  # fmt: skip
    assert [config.critic_steps(i) for i in range(6)] == [7, 7, 7, 2, 2, 2]
    assert TrainConfig().critic_steps(0) == 5  # off by default

    def steps(trainer: Trainer, opt: torch.optim.Optimizer) -> int:
        first = next(iter(opt.param_groups[0]["params"]))
        return int(opt.state[first]["step"]) if opt.state else 0

    trainer = Trainer.create(config, tmp_path / "run")
    counted = []
    for stop in range(1, 6):
        trainer.run(stop_at=stop)
        counted.append((steps(trainer, trainer.opt_d), steps(trainer, trainer.opt_g)))
    assert counted == [(7, 1), (14, 2), (21, 3), (23, 4), (25, 5)]

    split = Trainer.create(config, tmp_path / "split")
    split.run(stop_at=2)
    resumed = Trainer.resume(tmp_path / "split")
    resumed.run()
    assert (steps(resumed, resumed.opt_d), resumed.iteration) == (25, 5)
    assert all(torch.equal(a, b) for a, b in zip(trainer.critic.parameters(), resumed.critic.parameters()))


# ---- networks: SELU, initialisations -------------------------------------------------------------------------


def test_names_match_the_registries_and_selu_is_selu():
    assert ACTIVATION_NAMES == tuple(ACTIVATIONS) and INIT_NAMES == INITS and "sgd" in OPTIMIZER_NAMES
    torch.manual_seed(0)
    net = MLP(2, 1, width=4, depth=1, activation="selu")
    x = torch.tensor([[-3.0, 0.5], [1.0, 2.0]])
    first, last = net.net[0], net.net[2]
    alpha, scale = 1.6732632423543772, 1.0507009873554805  # Klambauer et al.'s constants
    h = first(x)
    h = scale * torch.where(h > 0, h, alpha * (torch.exp(h) - 1))
    torch.testing.assert_close(net(x), last(h).squeeze(-1))


def test_normal_init_is_n0_002_with_zero_biases():
    torch.manual_seed(0)
    net = MLP(2, 1, width=512, depth=3, init="normal")
    hidden = net.net[2].weight.detach()  # 512 × 512 draws
    assert abs(float(hidden.mean())) < 1e-3 and float(hidden.std()) == pytest.approx(0.02, rel=0.01)
    for layer in (m for m in net.modules() if isinstance(m, nn.Linear)):
        assert float(layer.weight.detach().std()) == pytest.approx(0.02, rel=0.15)
        assert bool((layer.bias == 0).all())


def test_tflib_init_is_he_then_glorot_uniform_as_gan_toy_py():
    """Hidden: U(±√3·√(2/fan_in)) (tflib 'he'); output: U(±√3·√(2/(in+out))) (tflib's default 'glorot'); zero biases."""
    torch.manual_seed(0)
    net = build_critic(get_preset("toy-8gaussians-wgan-gp").config())  # the toy presets use it
    layers = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in layers] == [(2, 512), (512, 512), (512, 512), (512, 1)]
    for index, layer in enumerate(layers):
        fan = layer.in_features if index < 3 else layer.in_features + layer.out_features
        std = math.sqrt(2.0 / fan)
        weight = layer.weight.detach()
        assert float(weight.abs().max()) <= math.sqrt(3) * std and float(weight.abs().max()) > 0.95 * math.sqrt(3) * std
        assert float(weight.std()) == pytest.approx(std, rel=0.1)
        assert bool((layer.bias == 0).all())


def test_torch_init_is_pytorchs_default_unchanged():
    torch.manual_seed(3)
    net = MLP(2, 1, width=8, depth=1)
    torch.manual_seed(3)
    reference = [nn.Linear(2, 8), nn.Linear(8, 1)]
    assert torch.equal(net.net[0].weight, reference[0].weight) and torch.equal(net.net[2].bias, reference[1].bias)


# ---- MaxAL's multiplier against a known W1 ----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [0, 2], ids=["linear", "mlp"])
def test_maxal_multiplier_settles_at_minus_w1(tmp_path, depth):
    """001 Eq. 13–14 as printed: k − 1 = (W1 + λ)/ρ at the critic's optimum, so λ ← λ − ρ(k − 1) settles at −W1.

    Two fixed real points against the same two points shifted by (−2, 0), the critic trained alone: W1 = 2.
    A linear critic (depth 0) has k = ‖w‖ exactly and its best value is k·W1. Plain SGD on it makes (k, λ) orbit the
    fixed point (k, λ) = (1, −W1) (the linearised step has determinant 1), so the test averages over many orbits.
    An MLP critic damps the orbit. −λ is the "λ = W1" of 001 line 232.
    """
    config = tiny(dataset=REAL, fake=FAKE, train_generator=False, depth=depth, width=32, batch_size=64,
                  measure="mu_gp", form="maxal", rho=1.0, optimizer="sgd", lr_d=0.05, n_critic=1,
                  iterations=2000)  # fmt: skip
    trainer = Trainer.create(config, tmp_path / "run")
    trainer.run()
    records = read_metrics(tmp_path / "run")[1000:]
    multiplier = np.mean([r["maxal_lambda"] for r in records])
    lipschitz = np.mean([r["max_grad_norm"] for r in records])
    assert multiplier == pytest.approx(-W1, abs=0.1)
    assert lipschitz == pytest.approx(1.0, abs=0.03)
