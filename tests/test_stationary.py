"""The nearest stationary point of a game (issue 27): matrix-free Levenberg–Marquardt with CG on JVP/VJP products."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gan_train.config import apply_overrides
from gan_train.presets import get_preset
from gan_train.trainer import Trainer
from models.realizable import realizable_game
from stability.analysis.stationary import polish_stationary
from stability.autodiff.field import TorchField, torch_field_for
from stability.cli import main
from stability.spec.laws import base_nodes
from stability.spec.toys import dirac_gan, make_penalty


def test_the_dirac_gan_is_polished_to_its_equilibrium():
    # Dirac GAN, μ = p_d, ρ = 1: v = (−θ − ψ, ψ) is linear with the single zero (0, 0) (Lemma 1 of 003_…); each damped
    # Gauss–Newton step shrinks ‖v‖ by about the damping λ/(λ + σ²) ≈ 1e-3, 1e-3/3, …
    field = torch_field_for(dirac_gan("p_d", rho=1))
    result = polish_stationary(field, [0.3, -0.2], rtol=1e-13)
    assert result.reached and result.reason == "reached" and result.iterations <= 6
    assert np.allclose(result.point, 0, atol=1e-13)
    assert result.moved == pytest.approx(np.hypot(0.3, 0.2), rel=1e-8)
    assert result.jvps > 0 and result.vjps > 0 and result.products == result.jvps + result.vjps


@pytest.fixture(scope="module")
def realizable():
    game = realizable_game(mean=(0.5, -1.0), std=(1.0, 0.5), width=5)
    field = TorchField.from_modules(
        game.critic, game.generator, game.data, game.latent, make_penalty("p_d", rho=1.5), nodes=4
    )
    return game, field


def test_a_perturbed_realizable_equilibrium_is_polished_back_onto_an_equilibrium(realizable):
    # models/realizable.py: p_d = N(m, diag(s²)), G(z) = Az + b, D = w₂ᵀ tanh(W₁x + b₁) + b₂ with w₂ = 0 at
    # (ψ*, θ*) = (..., w₂ = 0, A = diag(s), b = m). By hand: with w₂ = 0, ∇ₓD ≡ 0, so the penalty's gradient and
    # θ̇ = E[J_Gᵀ ∇ₓD(G(z))] vanish, and ψ̇ has only ∂/∂w₂ = E_pd[tanh(W₁x + b₁)] − E_pθ[tanh(W₁x + b₁)] and
    # ∂/∂b₂ = 1 − 1 = 0. So a point is an equilibrium iff w₂ = 0 and those `width` expectations agree (on the 4 × 4
    # Gauss–Hermite nodes both laws are taken over).
    game, field = realizable
    star = field.as_vector().copy()
    start = star + 0.005 * np.random.default_rng(0).normal(size=star.shape)
    result = polish_stationary(field, start)
    assert result.reached, result.describe()
    assert result.final_norm <= 1e-8 * result.start_norm and result.history[0] == result.start_norm
    assert result.moved <= 1.5 * np.linalg.norm(start - star)  # the nearest equilibrium, not a far one
    names = [field.name_of(i) for i in range(field.size)]
    value = dict(zip(names, result.point))
    width, d = 5, 2
    w2 = np.array([value[f"D.net.2.weight[0,{j}]"] for j in range(width)])
    assert np.max(np.abs(w2)) < 1e-9
    W1 = np.array([[value[f"D.net.0.weight[{i},{j}]"] for j in range(d)] for i in range(width)])
    b1 = np.array([value[f"D.net.0.bias[{i}]"] for i in range(width)])
    A = np.array([[value[f"G.A[{i},{j}]"] for j in range(d)] for i in range(d)])
    b = np.array([value[f"G.b[{i}]"] for i in range(d)])
    nodes, weights = base_nodes("normal01", 4)
    z = np.array([[p, q] for p in nodes for q in nodes])
    w = np.array([p * q for p in weights for q in weights])
    x_data = np.asarray(game.mean) + np.asarray(game.std) * z
    x_gen = z @ A.T + b
    gap = w @ np.tanh(x_data @ W1.T + b1) - w @ np.tanh(x_gen @ W1.T + b1)
    assert np.max(np.abs(gap)) < 1e-9
    assert np.linalg.norm(b - np.asarray(game.mean)) < 0.02  # near θ*, where the polish started
    assert np.allclose(np.abs(np.diag(A)), game.std, atol=0.02)


def test_a_polish_that_does_not_get_there_says_so(realizable):
    _, field = realizable
    start = field.as_vector() + 0.05 * np.random.default_rng(1).normal(size=field.size)
    result = polish_stationary(field, start, iterations=1)
    assert not result.reached and result.reason == "iterations"
    assert result.describe().startswith("NO stationary point reached (the iterations ran out)")
    assert result.final_norm < result.start_norm  # accepted steps only decrease ‖v‖


QUIET = ["tensorboard=false", "progress=false", "threads=1", "w1_every=0", "plot_every=0", "log_every=1"]


def test_ganstab_spectrum_stationary_on_a_run(tmp_path, capsys):
    config = apply_overrides(
        get_preset("toy-8gaussians-mu_gp").config(),
        ["iterations=2", "width=8", "checkpoint_every=1", "keep_checkpoints=0", "batch_size=32", *QUIET],
    )
    run_dir = tmp_path / "run"
    Trainer.create(config, run_dir).run()
    out = tmp_path / "out"
    argv = ["spectrum", str(run_dir), "--stationary", "--checkpoints", "last", "--k", "2", "--no-progress"]
    status = main([*argv, "--stationary-iterations", "2", "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert status == 0 and (out / "stationary.json").is_file()
    (entry,) = report["runs"][0]["checkpoints"]
    polish = entry["polish"]
    assert polish["final_norm"] < polish["start_norm"] and polish["products"] > 0 and polish["moved"] > 0
    assert polish["iterations"] <= 2 and len(entry["spectra"]["LR"]["eigenvalues"]) == 2
    if polish["reached"]:
        assert entry["theorem1"] is not None
    else:  # two steps do not reach a stationary point of a 8-Gaussian MLP game: it says so, and checks nothing
        assert polish["describe"].startswith("NO stationary point reached") and entry["theorem1"] is None
        assert any("not stationary" in n for n in entry["notes"])
    assert main([*argv, "--stationary-iterations", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "stationary point" in text and "max Re λ there" in text
