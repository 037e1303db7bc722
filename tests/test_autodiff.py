"""The autodiff field against the symbolic engine, finite differences and closed forms."""

import numpy as np
import pytest
import sympy
import torch
from torch import nn

from models.mlp import MLP
from stability.autodiff.field import TorchField, torch_field_for
from stability.spec.laws import dirac, normal, uniform
from stability.spec.measures import p_d
from stability.spec.system import GanSystem, Penalty
from stability.spec.toys import PSI, THETA, TOYS, X, dirac_gan, make_penalty
from stability.symbolic.field import SymbolicField
from stability.util.errors import UserError

MEASURES = ["p_d", "p_g", "mu_gp", "mu_mid", "mu_anchor"]
POINTS = [np.array([0.37, 1.3]), np.array([-0.6, 0.45])]
# ψx² with an interpolating measure and a non-polynomial form: the symbolic engine
# needs 5–30 s each to build these, so they are checked by finite differences instead.
SLOW_SYMBOLIC = {("psi_x2", m, f) for m in ("mu_gp", "mu_mid", "mu_anchor") for f in ("gp", "lp")}


def central_jacobian(fun, w, h=1e-5):
    return np.stack([(fun(w + h * e) - fun(w - h * e)) / (2 * h) for e in np.eye(len(w))], 1)


@pytest.mark.parametrize("form", ["simple", "gp", "lp"])
@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("toy", list(TOYS))
def test_spec_agrees_with_symbolic(toy, measure, form):
    system = TOYS[toy](measure=measure, form=form, rho=0.7, link="identity")
    torch_field = torch_field_for(system)
    if (toy, measure, form) in SLOW_SYMBOLIC:
        for point in POINTS:
            numeric = central_jacobian(torch_field.value, point)
            assert np.allclose(torch_field.jacobian(point), numeric, atol=1e-7, rtol=1e-7)
        return
    symbolic = SymbolicField(system)
    for point in POINTS:  # both away from the kinks ∇ₓD = 0 (gp) and ‖∇ₓD‖ = 1 (lp) on the nodes
        if symbolic.exact:
            assert np.allclose(torch_field.value(point), symbolic.value(point), atol=1e-12, rtol=0)
            assert np.allclose(torch_field.jacobian(point), symbolic.jacobian(point), atol=1e-10, rtol=0)
        else:
            # sympy could not integrate a kinked integrand and fell back to unsplit Gauss
            # quadrature; the torch rule splits at the kink, so check it by differences.
            assert np.allclose(torch_field.value(point), symbolic.value(point), atol=5e-3)
            numeric = central_jacobian(torch_field.value, point)
            assert np.allclose(torch_field.jacobian(point), numeric, atol=1e-7, rtol=1e-7)


@pytest.mark.parametrize("link", ["quadratic"])
def test_spec_with_mass_and_link_agrees_with_symbolic(link):
    system = TOYS["psi_x2"](measure="mu_gp", rho=1.5, mass=1 + PSI * THETA + PSI**2, link=link)
    torch_field, symbolic = torch_field_for(system), SymbolicField(system)
    for point in POINTS:
        assert np.allclose(torch_field.jacobian(point), symbolic.jacobian(point), atol=1e-10, rtol=0)


def test_kinked_one_variable_integral_is_exact():
    # ψx² with μ = p_d = U(−1, 1) and the WGAN-GP form: ∫ (2|ψ||x| − 1)² dx/2 = 4ψ²/3 − 2|ψ| + 1, so
    # ψ̇ = 1/3 − E_pθ[x²] − (ρ/2)(8ψ/3 − 2 sign ψ) and ∂ψ̇/∂ψ = −(ρ/2)(8/3) (hand derivation).
    rho, psi, theta = 0.7, -0.6, 0.45
    field = torch_field_for(TOYS["psi_x2"](measure="p_d", form="gp", rho=rho))
    value = field.value([psi, theta])
    assert value[0] == pytest.approx(1 / 3 - theta**2 / 3 - rho / 2 * (8 * psi / 3 + 2), abs=1e-13)
    assert field.jacobian([psi, theta])[0, 0] == pytest.approx(-rho / 2 * 8 / 3, abs=1e-12)


def test_dirac_gan_closed_form_and_symbolic_rho():
    # Lemma 1: J(0, 0) = [[−ρ, −1], [1, 0]]; a symbolic ρ needs a value.
    rho = sympy.Symbol("rho", positive=True)
    system = dirac_gan("p_d", rho=rho)
    with pytest.raises(UserError, match="rho"):
        torch_field_for(system)
    field = torch_field_for(system, constants={"rho": 3.0})
    assert np.array_equal(field.jacobian({"psi": 0.0, "theta": 0.0}), [[-3.0, -1.0], [1.0, 0.0]])
    assert [p.name for p in field.params] == ["psi", "theta"]
    assert "exact for atomic laws" in field.expectation_note


def _mlp_gan(penalty, link="identity", rule="quadrature"):
    torch.manual_seed(1)
    critic = MLP(2, 1, width=4, depth=2, activation="tanh").double()
    generator = MLP(2, 2, width=4, depth=1, activation="softplus").double()
    data = normal([0.3, -0.2], [1.0, 0.5])
    latent = normal([0, 0], [1, 1])
    return TorchField.from_modules(critic, generator, data, latent, penalty, link=link, rule=rule, nodes=3, samples=40)


@pytest.mark.parametrize(
    "measure, form, link",
    [("mu_gp", "gp", "logistic"), ("p_g", "lp", "identity"), ("mu_anchor", "simple", "exp")],
)
def test_mlp_gan_jacobian_matches_finite_differences(measure, form, link):
    field = _mlp_gan(make_penalty(measure, rho=0.8, form=form), link=link)
    w = field.as_vector()
    J = field.jacobian(w)
    numeric = central_jacobian(field.value, w)
    assert np.max(np.abs(J - numeric)) < 1e-7 * max(1.0, np.max(np.abs(J)))
    assert np.allclose(field.jacobian(w, mode="fwd"), J, atol=1e-12)
    # several chunks, none aligned with the ψ/θ boundary: rows and columns land where they belong
    assert field.size > 40 and field.n_psi % 7 != 0
    assert np.allclose(field.jacobian(w, chunk_size=7), numeric, atol=1e-7 * max(1.0, np.max(np.abs(J))))
    assert np.allclose(field.jacobian(w, chunk_size=7, mode="fwd"), J, atol=1e-12)


def test_products_match_finite_differences():
    field = _mlp_gan(make_penalty("mu_gp", rho=2.0), rule="samples")
    w = field.as_vector()
    rng = np.random.default_rng(0)
    v, u = rng.standard_normal(field.size), rng.standard_normal(field.size)
    h = 1e-5
    directional = (field.value(w + h * v) - field.value(w - h * v)) / (2 * h)  # J v
    assert np.allclose(field.jvp(w, v), directional, atol=1e-7)
    assert abs(field.vjp(w, u) @ v - u @ directional) < 1e-7 * np.linalg.norm(u) * np.linalg.norm(v)
    assert "seed" in field.expectation_note and "paired" in field.expectation_note


def test_module_field_equals_hand_derivation_for_linear_critic():
    # D(x) = aᵀx + c on p_d = δ_m, G(z) = Bz + b on z ~ δ_{z0}: ψ̇ = (m − x_g, 0) − ρ a (p_d penalty, ‖∇ₓD‖² = ‖a‖²),
    # θ̇ = ∇_θ D(G(z0)) = (a z0ᵀ, a).
    critic, generator = nn.Linear(2, 1).double(), nn.Linear(1, 2).double()
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.5, -1.5]]))
        critic.bias.fill_(0.2)
        generator.weight.copy_(torch.tensor([[2.0], [0.5]]))
        generator.bias.copy_(torch.tensor([0.1, -0.3]))
    m, z0, rho = np.array([1.0, 2.0]), 0.7, 3.0
    field = TorchField.from_modules(critic, generator, dirac(list(m)), dirac(z0), Penalty(p_d(), rho=rho))
    a = np.array([0.5, -1.5])
    xg = np.array([2.0, 0.5]) * z0 + np.array([0.1, -0.3])
    expected = np.concatenate([m - xg - rho * a, [0.0], a * z0, a])
    assert np.allclose(field.value(), expected, atol=1e-14)


def test_wrong_vector_size_is_refused():
    field = torch_field_for(dirac_gan())
    with pytest.raises(UserError, match="has 3 entries, but this game has 2"):
        field.value(np.zeros(3))
    with pytest.raises(UserError, match="missing theta"):
        field.value({"psi": 1.0})


def test_batchnorm_critic_with_penalty_is_refused():
    critic = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    with pytest.raises(UserError, match="BatchNorm"):
        TorchField.from_modules(critic, nn.Linear(2, 2), normal([0, 0], [1, 1]), normal([0, 0], [1, 1]), Penalty(p_d()))
    TorchField.from_modules(
        critic, nn.Linear(2, 2), normal([0, 0], [1, 1]), normal([0, 0], [1, 1]), None
    )  # no penalty: fine


def test_parameter_dependent_mass_is_refused_for_modules():
    penalty = make_penalty("p_d", mass=1 + PSI**2)
    with pytest.raises(UserError, match="mass"):
        TorchField.from_modules(nn.Linear(1, 1), nn.Linear(1, 1), uniform(0, 1), uniform(0, 1), penalty)


def test_nan_in_field_names_the_entry():
    # D = ψ·log(x) with p_d = δ₋₁: E_pd[D] is NaN, so ψ̇ is.
    system = GanSystem((X,), (PSI,), (THETA,), PSI * sympy.log(X), dirac(-1), dirac(THETA))
    field = torch_field_for(system)
    with pytest.raises(UserError, match=r"NaN/Inf in the field .* ψ̇ \(critic\): psi"):
        field.value([0.5, 2.0])
    with pytest.raises(UserError, match="NaN/Inf in the parameter vector"):
        torch_field_for(dirac_gan()).value([np.nan, 0.0])


def test_seeded_samples_are_reproducible():
    penalty = make_penalty("mu_gp", rho=1.0)
    first, second = _mlp_gan(penalty, rule="samples"), _mlp_gan(penalty, rule="samples")
    assert np.array_equal(first.value(), second.value())


def test_spec_with_seeded_samples_matches_closed_form_within_monte_carlo_error():
    # ψx² toy, p_d = U(−1, 1), p_θ = law of θz with z ~ U(−1, 1), simple penalty on p_d (hand derivation):
    # ψ̇ = E[x²] − θ²E[z²] − 4ρψE[x²] = 1/3 − θ²/3 − 4ρψ/3 and θ̇ = 2ψθE[z²] = 2ψθ/3.
    # A fixed sample set replaces each E[x²] = 1/3 by a sample mean whose standard deviation is
    # √(Var x² / N) with Var x² = 1/5 − 1/9 = 4/45.
    rho, psi, theta, n = 0.7, -0.6, 0.45, 4000
    system = TOYS["psi_x2"](measure="p_d", rho=rho)
    field = TorchField.from_system(system, rule="samples", samples=n, seed=3)
    assert f"{n} draws" in field.expectation_note
    value = field.value([psi, theta])
    exact = np.array([1 / 3 - theta**2 / 3 - 4 * rho * psi / 3, 2 * psi * theta / 3])
    se = np.sqrt(4 / 45 / n)
    tolerance = 5 * se * np.array([1 + 4 * rho * abs(psi) + theta**2, 2 * abs(psi * theta)])
    assert np.all(np.abs(value - exact) < tolerance)
    assert np.abs(value - exact).max() > 1e-9  # sample means, not the exact moments
    jac_exact = np.array([[-4 * rho / 3, -2 * theta / 3], [2 * theta / 3, 2 * psi / 3]])
    J = field.jacobian([psi, theta])
    assert np.allclose(J, jac_exact, atol=5 * se * 4 * rho)
    # the sampled field is a fixed smooth function of (ψ, θ): its Jacobian is its derivative
    assert np.allclose(J, central_jacobian(field.value, np.array([psi, theta])), atol=1e-8)
    again = TorchField.from_system(system, rule="samples", samples=n, seed=3).value([psi, theta])
    other = TorchField.from_system(system, rule="samples", samples=n, seed=4).value([psi, theta])
    assert np.array_equal(value, again) and not np.allclose(value, other, atol=1e-9, rtol=0)
