"""The one symbolic→numeric boundary: numpy, torch and mpmath give the closed forms, kinks by the same conventions."""

import mpmath
import numpy as np
import pytest
import sympy
import torch

from stability.spec.lambdify import KinkSqrt, numeric_function
from stability.util.errors import UserError

x, y = sympy.symbols("x y", real=True)
# max(x, y, 0) + H(x) + x·y², by hand: at (0, −1) 0 + ½ + 0 = ½ (H(0) = ½); at (2, 3) 3 + 1 + 18 = 22;
# at (−1, −2) 0 + 0 − 4 = −4.
EXPR = sympy.Max(x, y, 0) + sympy.Heaviside(x) + x * y**2
POINTS = [(0.0, -1.0), (2.0, 3.0), (-1.0, -2.0)]
BY_HAND = [0.5, 22.0, -4.0]


def test_numpy_broadcasts_to_the_closed_form():
    f = numeric_function([x, y], EXPR)
    xs, ys = np.array(POINTS).T
    assert np.array_equal(f(xs, ys), BY_HAND)


def test_torch_gives_the_closed_form_per_point():
    f = numeric_function([x, y], [EXPR], backend="torch")
    xs, ys = torch.tensor(POINTS, dtype=torch.float64).T
    (values,) = f(xs, ys)
    assert values.tolist() == BY_HAND


def test_mpmath_gives_the_closed_form_and_keeps_its_precision():
    f = numeric_function([x, y], EXPR, backend="mpmath")
    assert [float(f(*p)) for p in POINTS] == BY_HAND
    root = numeric_function([x], sympy.sqrt(x), backend="mpmath")
    with mpmath.workdps(50):
        assert abs(root(2) ** 2 - 2) < mpmath.mpf(10) ** -48  # float64 would leave ~1e-16


@pytest.mark.parametrize("backend", ["numpy", "torch", "mpmath"])
def test_kink_sqrt_has_subgradient_zero_at_the_kink(backend):
    # √(x² + y²) is 0 and 5 at (0, 0) and (3, 4); its d/dx = x/√(x² + y²) is 0/0 at the origin, 0 by the kink
    # convention, and 3/5 at (3, 4)
    root = KinkSqrt(x**2 + y**2)
    f = numeric_function([x, y], [root, sympy.diff(root, x)], backend=backend)
    if backend == "torch":
        values = f(torch.tensor([0.0, 3.0], dtype=torch.float64), torch.tensor([0.0, 4.0], dtype=torch.float64))
        values = [v.tolist() for v in values]
    elif backend == "numpy":
        values = [np.asarray(v).tolist() for v in f(np.array([0.0, 3.0]), np.array([0.0, 4.0]))]
    else:
        values = [[float(v) for v in column] for column in zip(f(0, 0), f(3, 4))]
    assert values[0] == [0.0, 5.0] and values[1] == pytest.approx([0.0, 0.6], rel=0, abs=1e-15)  # 3·(1/5) rounds


def test_a_dirac_delta_or_an_unknown_backend_is_one_line():
    with pytest.raises(UserError, match="Dirac delta"):
        numeric_function([x], sympy.diff(sympy.Heaviside(x), x))
    with pytest.raises(UserError, match="unknown numeric backend 'jax'; valid: numpy, torch, mpmath"):
        numeric_function([x], x, backend="jax")


GP_SPEC = """
[system]
x = ["x1", "x2"]
psi = ["a", "b"]
theta = ["m1", "m2"]
discriminator = "a*x1 + b*x2 + a*x1^3"
rho = 0.5
data = "dirac([0.5, -1])"
generator = "dirac([m1, m2])"
[system.penalty]
measure = "mu_gp"
form = "gp"
"""


def test_the_autodiff_jacobian_of_a_kinked_flow_is_the_symbolic_one(tmp_path, monkeypatch):
    """The WGAN-GP form keeps √‖∇ₓD‖² as KinkSqrt; a flow above SYMBOLIC_JACOBIAN_LIMIT takes its Jacobian by torch
    autodiff, which must compile the kink functions (sympy's torch printer refused them) and agree with sympy's diff."""
    import stability.symbolic.field as field_module
    from stability.spec.specfile import load_spec

    spec = tmp_path / "gp.toml"
    spec.write_text(GP_SPEC)
    point = {"a": 0.5, "b": -0.3, "m1": 0.2, "m2": 0.7}
    symbolic = field_module.SymbolicField(load_spec(spec))
    assert any(e.has(KinkSqrt) or "Kink" in str(e) for e in symbolic.exprs)  # the kink is really there
    expected = symbolic.jacobian(point)  # sympy's diff, compiled to numpy
    monkeypatch.setattr(field_module, "SYMBOLIC_JACOBIAN_LIMIT", 0)
    autodiff = field_module.SymbolicField(load_spec(spec)).jacobian(point)
    np.testing.assert_allclose(autodiff, expected, rtol=1e-12, atol=1e-12)
