"""Spec files: the documented format loads; every user mistake is one clear UserError."""

import textwrap

import pytest
import sympy

from stability import SymbolicField, UserError
from stability.spec.expressions import parse
from stability.spec.specfile import load_spec

GOOD = """
[system]
x = ["x"]
psi = ["psi"]
theta = ["theta"]
discriminator = "psi*x"
rho = 1.0
link = "identity"
data = "dirac(0)"
generator = { latent = "uniform(-1, 1)", map = "theta*z" }
[system.penalty]
measure = "mu_gp"
form = "simple"
mass = "1"
"""


def write(tmp_path, text):
    path = tmp_path / "spec.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_issue_example_loads_and_derives_the_flow(tmp_path):
    system = load_spec(write(tmp_path, GOOD))
    field = SymbolicField(system)
    psi, theta = system.params
    # p_d = δ0, p_θ = law of θz (z ~ U(−1,1)), D = ψx: ψ̇ = −E[θz] − ρψ = −ρψ, θ̇ = ∂θ E[ψθz] = 0
    assert sympy.simplify(field.exprs[0] + psi) == 0 and field.exprs[1] == 0


@pytest.mark.parametrize("name", ["dirac_mu_gp", "psi_x2_toy", "lemma3_rho_symbolic", "gaussian_2d_anchor"])
def test_shipped_examples_load(name):
    assert load_spec(f"examples/specs/{name}.toml").params


def test_caret_is_a_power_with_python_precedence():
    psi, x = sympy.symbols("psi x", real=True)
    assert parse("psi*x^2", {"psi": psi, "x": x}) == psi * x**2


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('measure = "mu_gp"', 'measure = "mu_bogus"', "valid measures: .*mu_gp"),
        ('form = "simple"', 'form = "hinge"', "valid: gp, lp, simple"),
        ('data = "dirac(0)"', 'data = "laplace(0)"', "unknown function 'laplace'.*dirac"),
        ("rho = 1.0", "rho = -1.0", "rho must be > 0"),
        ("rho = 1.0", "rho = 0", "rho must be > 0"),
        ('discriminator = "psi*x"', 'discriminator = "psi*x +"', "'psi\\*x \\+' does not parse"),
        ('discriminator = "psi*x"', 'discriminator = "psi*y*w"', "undeclared name\\(s\\): w, y"),
        ('discriminator = "psi*x"', "discriminator = \"__import__('os')\"", "unknown function"),
        ('discriminator = "psi*x"', 'discriminator = "psi.real"', "Attribute is not allowed"),
        ('mass = "1"', 'mass = "1 + q"', "undeclared name\\(s\\): q"),
        ('link = "identity"', 'link = "foo"', "undeclared name.*foo.*named link"),
        ('x = ["x"]', 'x = ["x", "x"]', "used twice: x"),
        ('x = ["x"]', 'x = ["1x"]', "not a valid identifier"),
        ('map = "theta*z"', 'map = "theta*z"', None),
        (
            'generator = { latent = "uniform(-1, 1)", map = "theta*z" }',
            'generator = "dirac(psi)"',
            "undeclared name.*psi",
        ),
        ("[system.penalty]", "[system.penalty]\nweight = 3", "unknown key\\(s\\) weight"),
        ('data = "dirac(0)"', 'data = "uniform(1, 0)"', "low < high"),
    ],
)
def test_bad_specs_give_one_clear_error(tmp_path, old, new, message):
    text = GOOD.replace(old, new)
    if message is None:
        load_spec(write(tmp_path, text))
        return
    with pytest.raises(UserError, match=message):
        load_spec(write(tmp_path, text))


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(UserError, match="not valid TOML"):
        load_spec(write(tmp_path, "[system\nx = 1"))
    with pytest.raises(UserError, match="missing required key\\(s\\): discriminator"):
        load_spec(write(tmp_path, GOOD.replace('discriminator = "psi*x"', "")))
    with pytest.raises(UserError, match="missing the \\[system\\] table"):
        load_spec(write(tmp_path, "a = 1"))


def test_symbolic_rho_needs_a_value():
    field = SymbolicField(load_spec("examples/specs/lemma3_rho_symbolic.toml"))
    with pytest.raises(UserError, match="needs values for rho"):
        field.jacobian([0, 0])
    assert field.substitute({"rho": 0.375}).value([1, 1]).shape == (2,)


def test_custom_link_in_torch_is_its_formula_and_compiles_once(tmp_path, monkeypatch):
    import torch

    import stability.spec.specfile as specfile
    from stability.spec.ops import TORCH

    compiled = []
    real = specfile.numeric_function
    monkeypatch.setattr(specfile, "numeric_function", lambda *a, **k: compiled.append(a) or real(*a, **k))
    link = load_spec(write(tmp_path, GOOD.replace('link = "identity"', 'link = "t - t**3/3"'))).link
    t = torch.tensor([-2.0, 0.0, 0.5, 3.0], dtype=torch.float64, requires_grad=True)
    for _ in range(3):  # a training run calls the link every step
        value = link(t, TORCH)
    # f(t) = t − t³/3 and f'(t) = 1 − t², by hand
    expected = [-2 + 8 / 3, 0.0, 0.5 - 0.125 / 3, 3 - 9.0]
    assert torch.allclose(value, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-15)
    (slope,) = torch.autograd.grad(value.sum(), t)
    assert torch.allclose(slope, 1 - t.detach() ** 2, rtol=0, atol=1e-15)
    assert len(compiled) == 1
