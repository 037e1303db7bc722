"""Laws against closed-form moments (independent of the expectation engine's own code paths)."""

import numpy as np
import pytest
import sympy
import torch

from stability import UserError, dirac, discrete, mixture, normal, product, pushforward, uniform
from stability.symbolic.expectation import expectation

a, b, m, s, th, z = sympy.symbols("a b m s theta z", real=True)


def second_moment(law):
    return sympy.simplify(expectation(law, lambda p: p[0] ** 2).value)


def test_uniform_second_moment_closed_form():
    # E[x^2] for U(a, b) = (a^2 + ab + b^2)/3
    assert sympy.simplify(second_moment(uniform(a, b)) - (a**2 + a * b + b**2) / 3) == 0


def test_normal_fourth_moment_closed_form():
    law = normal(m, 2)
    value = expectation(law, lambda p: p[0] ** 4).value
    assert sympy.simplify(value - (m**4 + 6 * m**2 * 4 + 3 * 16)) == 0


def test_discrete_and_mixture_weights():
    law = discrete([-1, 2], [sympy.Rational(1, 4), sympy.Rational(3, 4)])
    assert second_moment(law) == sympy.Rational(1, 4) + 3
    mix = mixture([dirac(1), uniform(0, 1)], [sympy.Rational(1, 2), sympy.Rational(1, 2)])
    assert second_moment(mix) == sympy.Rational(1, 2) + sympy.Rational(1, 6)


def test_pushforward_is_uniform_on_minus_theta_theta():
    # law of θz, z ~ U(-1, 1), is U(-|θ|, |θ|): E[x^2] = θ^2/3, E[x^4] = θ^4/5
    law = pushforward(uniform(-1, 1), th * z, [z])
    assert sympy.simplify(second_moment(law) - th**2 / 3) == 0
    assert sympy.simplify(expectation(law, lambda p: p[0] ** 4).value - th**4 / 5) == 0
    assert law.parameters() == {th}


def test_product_is_independent():
    law = product(uniform(0, 1), uniform(0, 1))
    value = expectation(law, lambda p: p[0] * p[1]).value
    assert value == sympy.Rational(1, 4)
    # the same law twice is still independent (fresh base variables)
    u = uniform(0, 1)
    assert expectation(product(u, u), lambda p: p[0] * p[1]).value == sympy.Rational(1, 4)


def test_quadrature_exact_for_polynomials():
    weights, points = normal(1, 2).quadrature(8)
    # E[x^4] for N(1, 4): 1 + 6*4 + 3*16 = 73; Gauss-Hermite with 8 nodes is exact to degree 15
    assert np.isclose(np.sum(weights * points[:, 0] ** 4), 73.0, rtol=1e-12)
    weights, points = uniform(-1, 3).quadrature(4)
    assert np.isclose(np.sum(weights * points[:, 0] ** 3), (3**4 - 1) / (4 * 4), rtol=1e-12)


def test_sampling_matches_moments_and_is_seeded():
    law = mixture([normal(-2, 0.5), normal(2, 0.5)])
    draw = lambda: law.sample(40000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x = draw()
    assert torch.equal(x, draw())
    # E[x] = 0, E[x^2] = 4 + 0.25; tolerance ≈ 5 standard errors
    assert abs(x.mean().item()) < 5 * 2.06 / 200
    assert abs((x**2).mean().item() - 4.25) < 5 * 2.9 / 200


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: uniform(1, 0), "low < high"),
        (lambda: normal(0, -1), "> 0"),
        (lambda: discrete([0, 1], [0.5, 0.6]), "sum to 1"),
        (lambda: discrete([0, 1], [-0.5, 1.5]), "non-negative"),
        (lambda: discrete([0, [1, 2]]), "same dimension"),
        (lambda: pushforward(uniform(0, 1), th * z, [z, th]), "dimension"),
        (lambda: uniform("__import__('os')", 1), "must be numbers or sympy expressions"),
        (lambda: discrete([0, 1], ["0.5", "0.5"]), "weights must be numbers"),
    ],
)
def test_bad_laws_raise_clear_errors(build, message):
    with pytest.raises(UserError, match=message):
        build()
