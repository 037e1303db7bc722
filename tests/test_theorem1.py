"""The Theorem 1 block check against hand-derived Q and R and the Lemma 1 closed form."""

import numpy as np
import pytest
import torch

from models.realizable import realizable_game
from stability.analysis.theorem1 import theorem1_blocks, theorem1_check
from stability.autodiff.field import TorchField, torch_field_for
from stability.spec.laws import base_nodes
from stability.spec.toys import dirac_gan, lemma3_system, make_penalty


def _field(measure="p_d", rho=1.5, nodes=4, width=5):
    game = realizable_game(mean=(0.5, -1.0), std=(1.0, 0.5), width=width)
    field = TorchField.from_modules(
        game.critic, game.generator, game.data, game.latent, make_penalty(measure, rho=rho), nodes=nodes
    )
    return game, field


@pytest.mark.parametrize("measure", ["p_d", "p_g", "mu_gp", "mu_mid"])
def test_realizable_example_satisfies_theorem1(measure):
    _, field = _field(measure)
    check = theorem1_check(field)
    assert check.field_norm < 1e-12  # (ψ*, θ*) is an equilibrium
    assert check.residual < 1e-8
    assert check.q_psd and check.nullspace_ok and check.projected_hurwitz and check.holds
    assert check.r_rank >= 1 and check.q_rank >= 1
    assert check.to_dict()["holds"] is True


def test_realizable_blocks_match_hand_derivation():
    # D = w₂ᵀ tanh(W₁x + b₁) + b₂ with w₂ = 0, μ = p_d, G(z) = Az + b (θ = (A row-major, b)):
    #   ∂_{w₂} ∇ₓD(x) = W₁ᵀ diag(1 − tanh²(h)),  Q_{w₂w₂} = Σ wᵢ diag(tᵢ) W₁W₁ᵀ diag(tᵢ),  tᵢ = 1 − tanh²(W₁xᵢ + b₁);
    #   R_{w₂,A_jk} = E[tₘ W₁,ₘⱼ z_k],  R_{w₂,b_j} = E[tₘ W₁,ₘⱼ];  every other entry of Q and R is 0.
    game, field = _field("p_d", nodes=4, width=5)
    Q, R = theorem1_blocks(field)
    W1 = game.critic.net[0].weight.detach().numpy()
    b1 = game.critic.net[0].bias.detach().numpy()
    nodes, weights = base_nodes("normal01", 4)
    z = np.array([[a, b] for a in nodes for b in nodes])
    w = np.array([a * b for a in weights for b in weights])
    x = np.asarray(game.mean) + np.asarray(game.std) * z
    t = 1 - np.tanh(x @ W1.T + b1) ** 2  # (N, width)
    width, d = W1.shape
    start = width * d + width  # w₂ follows W₁ and b₁
    Q_expected = np.zeros_like(Q)
    Q_expected[start : start + width, start : start + width] = np.einsum("i,im,mj,nj,in->mn", w, t, W1, W1, t)
    assert np.allclose(Q, Q_expected, atol=1e-13)
    R_expected = np.zeros_like(R)
    R_expected[start : start + width, : d * d] = np.einsum("i,im,mj,ik->mjk", w, t, W1, z).reshape(width, d * d)
    R_expected[start : start + width, d * d :] = np.einsum("i,im,mj->mj", w, t, W1)
    assert np.allclose(R, R_expected, atol=1e-13)


@pytest.mark.parametrize("rho", [0.5, 3.0])
def test_dirac_gan_blocks_are_lemma1(rho):
    # Lemma 1: J(0, 0) = [[−ρ, −1], [1, 0]], i.e. Q = 1, R = 1; Hurwitz for every ρ > 0.
    check = theorem1_check(torch_field_for(dirac_gan("p_d", rho=rho)), [0.0, 0.0])
    assert np.allclose(check.Q, [[1.0]]) and np.allclose(check.R, [[1.0]])
    assert check.residual == 0.0 and check.holds
    assert check.projected_max_real == pytest.approx(max(np.linalg.eigvals([[-rho, -1], [1, 0]]).real))


def test_lemma3_origin_fails_theorem1():
    # Lemma 3 (D₂ = ψx², μ_GP) at (0, 0): Q = 0 and R = 0, nothing is left to be Hurwitz.
    check = theorem1_check(torch_field_for(lemma3_system("mu_gp", rho=1)), [0.0, 0.0])
    assert check.q_rank == 0 and check.r_rank == 0
    assert not check.projected_hurwitz and not check.holds


def test_off_equilibrium_residual_is_reported():
    game, field = _field("p_d")
    vector = field.as_vector().copy()
    vector[-1] += 0.3  # move b: p_θ ≠ p_d, the block form no longer holds
    with torch.no_grad():
        check = theorem1_check(field, vector)
    assert check.field_norm > 1e-6 or check.residual > 1e-6
