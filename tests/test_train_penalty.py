"""Penalty terms of the trainer against closed forms on a linear critic D(x) = wᵀx + b.

For a linear critic ∇ₓD = w everywhere, so q = ‖∇ₓD‖² = ‖w‖² at every penalty
point, whatever the measure; each form's value and w-gradient are then known
exactly (Definition 4 of 003, Eq. 6/8 of 004, Eq. 12–14 of 001, Eq. 10/12 of 002).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gan_train.config import TrainConfig
from gan_train.penalty import CriticPenalty, gradient_sq_norms
from stability.spec.measures import get_measure

MEASURES = ["p_d", "p_g", "mu_gp", "mu_mid", "mu_anchor"]
ANCHOR = [2.0, -1.0]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class LinearCritic(nn.Module):
    def __init__(self, w, b=0.3):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(b, dtype=torch.float64))

    def forward(self, x):  # (B, 2) -> (B,)
        return x @ self.w + self.b


def _measure(name):
    return get_measure(name, ANCHOR) if name == "mu_anchor" else get_measure(name)


def _batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g, dtype=torch.float64), torch.randn(n, 2, generator=g, dtype=torch.float64) + 3


def _closed_form(form, w, rho, lam):
    """(penalty added to the critic loss, its gradient in w)."""
    n = float(torch.linalg.vector_norm(w))
    unit = w / n
    if form == "simple":
        return rho / 2 * n**2, rho * w
    if form == "gp":
        return rho / 2 * (n - 1) ** 2, rho * (n - 1) * unit
    if form == "lp":
        k = max(0.0, n - 1)
        return rho / 2 * k**2, rho * k * unit
    if form == "maxgp":
        return rho / 2 * (n - 1) ** 2, rho * (n - 1) * unit
    if form == "maxal":
        return -lam * (n - 1) + rho / 2 * (n - 1) ** 2, (-lam + rho * (n - 1)) * unit
    if form == "lgan":  # λ·max‖∇ₓD‖² with λ = ρ/2
        return rho / 2 * n**2, rho * w
    raise AssertionError(form)


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("form", ["simple", "gp", "lp", "maxgp", "maxal", "lgan"])
@pytest.mark.parametrize("w", [[1.2, -0.9], [0.3, 0.4]])  # ‖w‖ = 1.5 and 0.5 (LP's one-sided branch)
def test_penalty_value_and_gradient_on_linear_critic(measure, form, w):
    rho, lam = 3.0, 0.7
    critic = LinearCritic(w)
    penalty = CriticPenalty(_measure(measure), form, rho, multiplier=lam)
    x_data, x_gen = _batch()
    value = penalty(critic, x_data, x_gen, generator=torch.Generator().manual_seed(1))
    # ‖∇ₓD‖² = ‖w‖² at every penalty point, for every measure
    torch.testing.assert_close(value.q, torch.full((16,), float(critic.w.detach().square().sum()), dtype=torch.float64))
    expected, expected_grad = _closed_form(form, critic.w.detach(), rho, lam)
    assert float(value.loss.detach()) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    value.loss.backward()
    torch.testing.assert_close(critic.w.grad, expected_grad, rtol=1e-12, atol=1e-12)
    assert critic.b.grad is None or float(critic.b.grad) == 0.0


@pytest.mark.parametrize("form", ["gp", "lp"])
def test_lambda_forms_speak_lambda(form):
    """WGAN-GP/LP are configured by λ (λ·E[φ]); internally ρ = 2λ."""
    config = TrainConfig(measure="mu_gp", form=form, gp_lambda=10.0)
    penalty = CriticPenalty.from_config(config)
    assert penalty.rho == 20.0
    critic = LinearCritic([1.2, -0.9])
    value = penalty(critic, *_batch(), generator=torch.Generator().manual_seed(0))
    assert float(value.loss.detach()) == pytest.approx(10.0 * 0.5**2)


def test_lgan_speaks_lambda():
    """The Lipschitz-GAN penalty is configured by λ of λ·max‖∇ₓD‖² (002 Eq. 10); internally ρ = 2λ."""
    penalty = CriticPenalty.from_config(TrainConfig(measure="mu_gp", form="lgan", gp_lambda=10.0))
    assert penalty.rho == 20.0
    value = penalty(LinearCritic([1.2, -0.9]), *_batch(), generator=torch.Generator().manual_seed(0))
    assert float(value.loss.detach()) == pytest.approx(10.0 * 1.5**2)


def test_measures_produce_table1_point_sets():
    """x̂ = x_d, x_g, αx_d+(1−α)x_g (α~U(0,1) per sample), (x_d+x_g)/2, αA+(1−α)x_g (Table 1 of 003)."""
    x_data, x_gen = _batch(64)
    x_gen = x_gen.clone().requires_grad_(True)  # the trainer must detach x_g

    def points(name):
        pen = CriticPenalty(_measure(name), "simple", 1.0)
        out = pen.points(x_data, x_gen, torch.Generator().manual_seed(5))
        assert not out.requires_grad
        return out.detach()

    xg = x_gen.detach()
    torch.testing.assert_close(points("p_d"), x_data)
    torch.testing.assert_close(points("p_g"), xg)
    torch.testing.assert_close(points("mu_mid"), (x_data + xg) / 2)
    for name, target in (("mu_gp", x_data), ("mu_anchor", torch.tensor(ANCHOR, dtype=torch.float64).expand_as(xg))):
        x_hat = points(name)
        alpha = (x_hat - xg) / (target - xg)  # one α per sample, the same in both coordinates
        torch.testing.assert_close(alpha[:, 0], alpha[:, 1])
        assert bool(((alpha >= 0) & (alpha <= 1)).all())
        assert float(alpha[:, 0].std()) > 0.1  # drawn per sample, not per batch


def test_maxal_multiplier_follows_eq14():
    rho = 2.0
    critic = LinearCritic([1.2, -0.9])  # max ‖∇ₓD‖ = 1.5
    penalty = CriticPenalty(get_measure("mu_gp"), "maxal", rho, multiplier=0.25)
    history = [penalty.multiplier]
    for _ in range(3):
        value = penalty(critic, *_batch(), generator=torch.Generator().manual_seed(0))
        penalty.after_step(value)
        history.append(penalty.multiplier)
    # λ_{k+1} = λ_k − ρ(max‖∇ₓD‖ − 1)
    assert history == pytest.approx([0.25, 0.25 - 1.0, 0.25 - 2.0, 0.25 - 3.0], abs=1e-12)
    penalty.load_state_dict(penalty.state_dict())
    assert penalty.multiplier == history[-1]


def test_maxgp_uses_the_batch_maximum():
    """On a critic with different slopes, MaxGP sees only the largest gradient norm (Eq. 12)."""
    x = torch.randn(32, 2, dtype=torch.float64)

    class Quadratic(nn.Module):
        def forward(self, x):
            return 0.5 * x.square().sum(1)  # ∇ₓD = x, q = ‖x‖²

    penalty = CriticPenalty(get_measure("p_d"), "maxgp", 4.0)
    value = penalty(Quadratic(), x, x)
    k = float(x.norm(dim=1).max())
    assert float(value.loss.detach()) == pytest.approx(2.0 * (k - 1) ** 2)


def test_gradient_norm_over_all_non_batch_dims_and_scaled_path():
    """q sums over every non-batch dimension; the GradScaler path (scale, then unscale) gives the same q."""

    class Images(nn.Module):
        def forward(self, x):  # (B, C, H, W) -> (B,)
            return (x * torch.arange(x[0].numel(), dtype=x.dtype).reshape(x.shape[1:])).sum((1, 2, 3))

    x = torch.randn(4, 3, 2, 2)
    expected = torch.full((4,), float(torch.arange(12.0).square().sum()))
    torch.testing.assert_close(gradient_sq_norms(Images(), x), expected)
    torch.testing.assert_close(gradient_sq_norms(Images(), x, grad_scale=65536.0), expected)


def test_penalty_under_bf16_autocast_matches_float32():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1), nn.Flatten(0))
    x_data, x_gen = (t.float() for t in _batch(64))
    penalty = CriticPenalty(get_measure("mu_mid"), "gp", 2.0)
    ref = penalty(critic, x_data, x_gen)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = penalty(critic, x_data, x_gen)
    assert low.q.dtype == torch.float32 and low.loss.dtype == torch.float32
    assert math.isclose(float(low.loss.detach()), float(ref.loss.detach()), rel_tol=5e-2)
    low.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in critic.parameters() if p.grad is not None)
