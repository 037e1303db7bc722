"""Penalty measures: Table 1 of 003 as point sets and moments, on the symbolic and the torch side."""

import pytest
import sympy
import torch

from stability import UserError, dirac, discrete, get_measure, mu_anchor, mu_gp, mu_mid, p_d, p_g, uniform, weighted
from stability.symbolic.expectation import expectation

th = sympy.Symbol("theta", real=True)
DATA = discrete([0, 4])  # x_d ∈ {0, 4}
GEN = dirac(th)


def atoms(law):
    return sorted((sympy.simplify(b.point[0]), b.weight) for b in law.branches)


def test_table1_point_sets():
    assert atoms(p_d().law(DATA, GEN)) == [(0, sympy.Rational(1, 2)), (4, sympy.Rational(1, 2))]
    assert atoms(p_g().law(DATA, GEN)) == [(th, 1)]
    mids = atoms(mu_mid().law(DATA, GEN))
    assert {sympy.expand(p) for p, _ in mids} == {th / 2, 2 + th / 2}


def test_interpolation_moments():
    # x̂ = α x_d + (1-α) θ with α ~ U(0,1): E[x̂] = (E x_d + θ)/2 = (2 + θ)/2
    law = mu_gp().law(DATA, GEN)
    assert sympy.simplify(expectation(law, lambda p: p[0]).value - (2 + th) / 2) == 0
    # anchor: x̂ = αA + (1-α)θ: E[x̂^2] = A^2/3 + Aθ/3 + θ^2/3
    law = mu_anchor(3).law(DATA, GEN)
    assert sympy.simplify(expectation(law, lambda p: p[0] ** 2).value - (3 + th + th**2 / 3)) == 0


def test_weighted_mass_multiplies():
    psi = sympy.Symbol("psi", real=True)
    measure = weighted(weighted(p_d(), 2), psi**2)
    assert sympy.simplify(measure.mass - 2 * psi**2) == 0
    assert not measure.is_probability


def test_torch_sampling_follows_the_same_rules():
    g = torch.Generator().manual_seed(0)
    xd = torch.randn(64, 3, generator=g, dtype=torch.float64)
    xg = torch.randn(64, 3, generator=g, dtype=torch.float64)
    assert torch.equal(p_d().sample(xd, xg), xd)
    assert torch.equal(p_g().sample(xd, xg), xg)
    assert torch.allclose(mu_mid().sample(xd, xg), (xd + xg) / 2)
    x_hat = mu_gp().sample(xd, xg, generator=g)
    # every x̂ lies on its segment: x̂ - x_g = α (x_d - x_g) with one α per sample in [0, 1]
    alpha = (x_hat - xg) / (xd - xg)
    assert torch.allclose(alpha, alpha[:, :1].expand_as(alpha), atol=1e-5)
    assert alpha.min() >= 0 and alpha.max() <= 1
    anchor = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    x_hat = mu_anchor([2, -1, 0.5]).sample(xd, xg, generator=g)
    alpha = (x_hat - xg) / (anchor - xg)
    assert torch.allclose(alpha, alpha[:, :1].expand_as(alpha), atol=1e-5)


def test_alpha_law_is_pluggable():
    from stability import interpolation

    law = interpolation(uniform(0, sympy.Rational(1, 2))).law(DATA, GEN)
    # E[α] = 1/4: E[x̂] = 2/4 + 3θ/4
    assert sympy.simplify(expectation(law, lambda p: p[0]).value - (sympy.Rational(1, 2) + 3 * th / 4)) == 0


def test_registry_errors_list_valid_names():
    with pytest.raises(UserError, match="valid: .*mu_gp"):
        get_measure("mu_foo")
    with pytest.raises(UserError, match="anchor"):
        get_measure("mu_anchor")
    with pytest.raises(UserError, match="components"):
        mu_anchor([1, 2]).law(DATA, GEN)
