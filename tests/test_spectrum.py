"""Matrix-free spectra against dense ones and the Lemma 1 closed form; discrete-time steps."""

import numpy as np
import pytest
import torch

from models.mlp import MLP
from stability.analysis.arpack import arpack, default_ncv
from stability.analysis.discrete import increment_jacobian
from stability.analysis.spectrum import (
    alternating_operator,
    discrete_stability,
    top_eigenvalues,
)
from stability.analysis.update_rules import get_rule, initial_state
from stability.autodiff.field import TorchField, torch_field_for
from stability.spec.laws import normal
from stability.spec.toys import dirac_gan, make_penalty
from stability.util.errors import UserError


def _mlp_game(width_d, width_g):
    torch.manual_seed(3)
    critic = MLP(2, 1, width=width_d, depth=2, activation="tanh").double()
    generator = MLP(4, 2, width=width_g, depth=2, activation="softplus").double()
    gen = torch.Generator().manual_seed(0)
    data = normal([0.0, 0.0], [1.0, 1.0]).sample(64, generator=gen).double()
    latent = torch.randn(64, 4, generator=gen, dtype=torch.float64)
    field = TorchField.from_modules(critic, generator, data, latent, make_penalty("mu_gp", rho=5.0))
    J = field.jacobian()
    return field, J, np.linalg.eigvals(J)


@pytest.fixture(scope="module")
def game():
    """An MLP GAN with ~2k parameters, its dense Jacobian and spectrum."""
    return _mlp_game(24, 28)


@pytest.fixture(scope="module")
def small_game():
    """The same with ~250 parameters."""
    return _mlp_game(8, 8)


def _top(values, which, k):
    key = {"LR": values.real, "LM": np.abs(values), "LI": values.imag}[which]
    return values[np.argsort(-key)][:k]


@pytest.mark.parametrize("which, operator", [("LR", "vjp"), ("LM", "vjp"), ("LR", "jvp")])
def test_matrix_free_top_k_matches_dense(game, which, operator):
    field, _, dense = game
    assert 1500 <= field.size <= 2500
    spectrum = top_eigenvalues(field, k=6, which=which, operator=operator)
    expected = _top(dense, which, 6)
    key = {"LR": lambda v: v.real, "LM": np.abs}[which]
    assert np.allclose(np.sort(key(spectrum.eigenvalues)), np.sort(key(expected)), atol=1e-8 * np.max(np.abs(dense)))
    for value in spectrum.eigenvalues:  # every computed eigenvalue is one of the dense ones
        assert np.min(np.abs(dense - value)) < 1e-7 * np.max(np.abs(dense))
    assert spectrum.method == "arpack" and spectrum.products > 0 and spectrum.to_dict()["k"] == 6
    assert 0 < spectrum.product_seconds < spectrum.seconds


def test_alternating_operator_matches_dense_update(small_game):
    field, J, _ = small_game
    step = 0.01
    # the dense derivative of the same alternating map (away from an equilibrium the map's own derivative, which sees
    # the field at the new ψ, not alternating_update(J) of the field's Jacobian at the point)
    rule = get_rule("alt", lr=step)
    D = increment_jacobian(rule, initial_state(rule, field.vector(None), field.n_psi), field.field_fn)
    dense = np.linalg.eigvals(D.numpy() / step)
    values, _, converged, _ = arpack(
        alternating_operator(field, None, step), field.size, 4, "LM", torch.float64, tol=1e-10
    )
    assert converged
    assert np.allclose(np.sort(np.abs(values)), np.sort(np.abs(_top(dense, "LM", 4))), rtol=1e-7)


def test_matrix_free_discrete_stability_agrees_with_dense(small_game):
    field, J, dense = small_game
    h_max = 2 * np.min(-dense.real / np.abs(dense) ** 2) if np.all(dense.real < 0) else None
    step = 1e-3
    free = discrete_stability(field, step=step, method="simultaneous", k=6, dense_limit=0)
    exact = discrete_stability(field, step=step, method="simultaneous")
    assert exact.complete and not free.complete
    assert free.stable == exact.stable == bool(h_max is not None and step < h_max)
    assert free.spectral_radius == pytest.approx(exact.spectral_radius, rel=1e-9)


def test_dirac_gan_dense_fallback_and_steps():
    # Lemma 1: J = [[−ρ, −1], [1, 0]], λ = (−ρ ± √(ρ² − 4))/2; for ρ < 2 |λ| = 1, so h_max = −2Re λ/|λ|² = ρ.
    rho = 1.2
    field = torch_field_for(dirac_gan("p_d", rho=rho))
    spectrum = top_eigenvalues(field, [0.0, 0.0], k=2)
    assert spectrum.method == "dense" and "ARPACK needs k < n - 1" in spectrum.notes[0]
    expected = np.roots([1, rho, 1])
    assert np.allclose(np.sort_complex(spectrum.eigenvalues), np.sort_complex(expected), atol=1e-14)
    below = discrete_stability(field, [0.0, 0.0], step=0.9 * rho)
    above = discrete_stability(field, [0.0, 0.0], step=1.1 * rho)
    assert below.stable and not above.stable and below.max_stable_step == pytest.approx(rho)
    alternating = discrete_stability(field, [0.0, 0.0], step=1.1 * rho, method="alternating")
    assert alternating.complete and alternating.max_stable_step > 0


def test_bad_arguments():
    field = torch_field_for(dirac_gan())
    with pytest.raises(UserError, match="eigenvalue selection"):
        top_eigenvalues(field, [0.0, 0.0], which="XX")
    with pytest.raises(UserError, match="GD method"):
        discrete_stability(field, [0.0, 0.0], method="adam")


@pytest.mark.parametrize(
    ("n", "k", "which", "itemsize", "expected"),
    [
        (9843, 6, "LR", 4, 120),  # max(8·6, 120)
        (9843, 20, "LR", 4, 160),  # 8·20
        (9843, 20, "LM", 4, 41),  # ARPACK's own 2k + 1
        (9843, 6, "LI", 8, 20),  # ARPACK's own floor of 20
        (50, 6, "LR", 8, 50),  # never above n
        (10, 7, "LR", 8, 10),  # k + 1 < ncv <= n
        (10**7, 20, "LR", 4, 53),  # 2 GiB of float32 vectors: 2^31 // (4·10^7) = 53
        (10**8, 20, "LR", 8, 41),  # the memory cap never goes below ARPACK's own default
    ],
)
def test_default_basis_sizes_by_hand(n, k, which, itemsize, expected):
    assert default_ncv(n, k, which, itemsize) == expected


def test_the_basis_size_is_recorded(game):
    field = game[0]
    spectrum = top_eigenvalues(field, k=4, which="LR")
    assert spectrum.ncv == default_ncv(field.size, 4, "LR") == spectrum.to_dict()["ncv"] == 120
    assert top_eigenvalues(field, k=4, which="LR", ncv=30).to_dict()["ncv"] == 30
