"""The symbolic flow against the paper's closed forms (003 Appendices A/B) and finite differences."""

import numpy as np
import pytest
import sympy

from stability import SymbolicField
from stability.analysis.analyze import analyze
from stability.spec.specfile import load_spec
from stability.spec.toys import PSI, THETA, dirac_gan, lemma3_system, psi_x2_toy

MEASURES = ["p_d", "p_g", "mu_gp", "mu_mid", "mu_anchor"]
RHOS = [sympy.Rational(1, 3), 1, sympy.Rational(5, 2)]
A = 2  # the toys' default anchor


def same(expr, closed):
    return sympy.simplify(sympy.expand(expr - closed)) == 0


@pytest.mark.parametrize("rho", RHOS)
@pytest.mark.parametrize("measure", MEASURES)
def test_lemma1_dirac_gan_flow_with_mass(measure, rho):
    # Appendix A: ψ̇ = −θ − (ρ/2) ∂ψ(ψ² M(ψ, θ)), θ̇ = ψ, for any measure (∇ₓD = ψ is constant in x).
    mass = 1 + PSI * THETA + PSI**2
    field = SymbolicField(dirac_gan(measure, rho=rho, mass=mass))
    assert same(field.exprs[0], -THETA - rho / 2 * sympy.diff(PSI**2 * mass, PSI))
    assert same(field.exprs[1], PSI)
    # J(0, 0) = [[−ρ M(0,0), −1], [1, 0]]
    assert np.allclose(field.jacobian([0, 0]), [[-float(rho), -1], [1, 0]], atol=1e-14)


def lemma2_moment(measure, theta):
    """E_μ[x²](θ) with p_d = U(−1,1), p_θ = U(−|θ|,|θ|), α ~ U(0,1), anchor A (hand derivation)."""
    return {
        "p_d": sympy.Rational(1, 3),
        "p_g": theta**2 / 3,
        "mu_gp": sympy.Rational(1, 9) + theta**2 / 9,
        "mu_mid": (sympy.Rational(1, 3) + theta**2 / 3) / 4,
        "mu_anchor": sympy.Integer(A) ** 2 / 3 + theta**2 / 9,
    }[measure]


@pytest.mark.parametrize("rho", RHOS)
@pytest.mark.parametrize("measure", MEASURES)
def test_lemma2_flow_and_spectrum(measure, rho):
    field = SymbolicField(psi_x2_toy(measure, rho=rho))
    # Appendix A proof of Lemma 2: ψ̇ = 1/3 − θ²/3 − 4ρψ E_μ[x²], θ̇ = 2ψθ/3.
    assert same(field.exprs[0], sympy.Rational(1, 3) - THETA**2 / 3 - 4 * rho * PSI * lemma2_moment(measure, THETA))
    assert same(field.exprs[1], 2 * PSI * THETA / 3)
    m2 = lemma2_moment(measure, 1)
    closed = sorted(
        [
            complex(sympy.N(-2 * rho * m2 + sign * sympy.sqrt(4 * rho**2 * m2**2 - sympy.Rational(4, 9))))
            for sign in (-1, 1)
        ],
        key=lambda v: (v.real, v.imag),
    )
    for theta_star in (1, -1):
        exact = sorted(
            (complex(sympy.N(v)) for v in field.eigenvalues_exact({"psi": 0, "theta": theta_star})),
            key=lambda v: (v.real, v.imag),
        )
        assert np.allclose(exact, closed, atol=1e-12)
        numeric = np.linalg.eigvals(field.jacobian([0, theta_star]))
        assert np.allclose(np.sort_complex(numeric), np.sort_complex(np.array(closed)), atol=1e-7)


@pytest.mark.parametrize("rho", RHOS)
def test_lemma3_flow_is_the_papers(rho):
    field = SymbolicField(lemma3_system("mu_gp", rho=rho))
    # Appendix B: ψ̇ = −θ² − (4/3)ρψθ², θ̇ = 2ψθ
    assert same(field.exprs[0], -(THETA**2) - sympy.Rational(4, 3) * rho * PSI * THETA**2)
    assert same(field.exprs[1], 2 * PSI * THETA)


@pytest.mark.parametrize("rho", [0.5, 1.0, 3.0])
def test_mescheder_dirac_gan_r1_logistic(rho):
    # Mescheder et al. 2018: f(t) = −log(1+e^{−t}), R1: ψ̇ = −θ f'(−ψθ) − ρψ, θ̇ = ψ f'(−ψθ), f'(t) = 1/(1+e^t)
    field = SymbolicField(dirac_gan("p_d", rho=rho, link="logistic"))
    rng = np.random.default_rng(0)
    for psi, theta in rng.normal(size=(5, 2)):
        fprime = 1 / (1 + np.exp(-psi * theta))
        assert np.allclose(field.value([psi, theta]), [-theta * fprime - rho * psi, psi * fprime], atol=1e-12)
    eigs = np.sort_complex(np.linalg.eigvals(field.jacobian([0, 0])))
    closed = np.sort_complex(np.array([-rho / 2 + s * np.sqrt(complex(rho**2 / 4 - 0.25)) for s in (-1, 1)]))
    assert np.allclose(eigs, closed, atol=1e-7)


def central_difference_jacobian(field, point, h=1e-6):
    point = np.asarray(point, dtype=float)
    columns = []
    for k in range(point.size):
        e = np.zeros_like(point)
        e[k] = h
        columns.append((field.value(point + e) - field.value(point - e)) / (2 * h))
    return np.stack(columns, 1)


@pytest.mark.parametrize(
    "system",
    [
        psi_x2_toy("mu_anchor", rho=0.7),
        lemma3_system("mu_mid", rho=2),
        dirac_gan("mu_gp", rho=1.5, mass=1 + PSI**2 * THETA, link="exp"),
        psi_x2_toy("mu_gp", rho=1, form="lp"),
    ],
    ids=["psi_x2-anchor", "lemma3-mid", "dirac-mass-exp", "psi_x2-lp"],
)
def test_jacobian_matches_central_differences(system):
    field = SymbolicField(system)
    rng = np.random.default_rng(1)
    for point in rng.uniform(-1.5, 1.5, size=(4, 2)):
        assert np.allclose(field.jacobian(point), central_difference_jacobian(field, point), atol=1e-6)


def test_two_dimensional_spec_against_hand_derivation(tmp_path):
    system = load_spec("examples/specs/gaussian_2d_anchor.toml")
    field = SymbolicField(system)
    a, b, m1, m2 = system.params
    # D = a x1 + b x2, ‖∇ₓD‖² = a² + b², M = 1 + a² + b², ρ = 1/2: ψ̇ = −m − (1/4) ∂ψ[(1 + a² + b²)(a² + b²)]
    penalty = (1 + a**2 + b**2) * (a**2 + b**2) / 4
    assert same(field.exprs[0], -m1 - sympy.diff(penalty, a))
    assert same(field.exprs[1], -m2 - sympy.diff(penalty, b))
    assert same(field.exprs[2], a) and same(field.exprs[3], b)


def test_gp_form_reports_its_kink_on_the_dirac_gan():
    report = analyze(SymbolicField(dirac_gan("mu_gp", form="gp")), at={"psi": 0, "theta": 0})
    assert any("non-smooth" in note for note in report.points[0].linear.notes)
    # away from ψ = 0 the flow is smooth: ψ̇ = −θ − (|ψ| − 1) sign ψ (ρ = 1)
    field = SymbolicField(dirac_gan("mu_gp", form="gp"))
    assert np.allclose(field.value([0.5, 0.2]), [-0.2 + 0.5, 0.5])
    notes = analyze(field, at={"psi": 0.5, "theta": 0.2}).points[0].linear.notes
    assert not any("non-smooth" in note for note in notes)
    assert any(note.startswith("not an equilibrium") for note in notes)  # (0.5, 0.2) is not one: the flow moves


def test_kinked_expectation_is_integrated_exactly_when_sympy_can():
    from scipy import integrate

    field = SymbolicField(psi_x2_toy("p_d", rho=1, form="gp"))
    assert field.exact and not field.notes
    psi0, theta0 = 0.7, 0.4

    def objective(psi):
        # E_pd[ψx²] − E_pθ[ψx²] − (ρ/2) E_{x~U(−1,1)}[(|2ψx| − 1)²]
        kinks = [-1 / (2 * psi), 1 / (2 * psi)]
        penalty = integrate.quad(lambda x: (abs(2 * psi * x) - 1) ** 2 / 2, -1, 1, points=kinks, epsabs=1e-13)[0]
        return psi / 3 - theta0**2 / 3 * psi - 0.5 * penalty

    h = 1e-4
    expected = (objective(psi0 + h) - objective(psi0 - h)) / (2 * h)
    assert abs(field.value([psi0, theta0])[0] - expected) < 1e-7


def test_quadrature_is_noted_and_accurate():
    # μ_GP with the gp form: three base variables (x_d, x_g, α) and a kink, so Gauss quadrature (6 nodes each).
    field = SymbolicField(psi_x2_toy("mu_gp", rho=1, form="gp"))
    assert not field.exact and "quadrature" in field.notes[0]
    psi0, theta0 = 0.7, 0.4
    rng = np.random.default_rng(0)
    n = 1_000_000
    alpha = rng.uniform(0, 1, n)
    x_hat = alpha * rng.uniform(-1, 1, n) + (1 - alpha) * theta0 * rng.uniform(-1, 1, n)
    # ∂ψ of (ρ/2) E[(2|ψ||x̂| − 1)²] = E[2(2ψ|x̂| − 1)·|x̂|] for ψ > 0 (Monte Carlo, standard error ≈ 1.5e-4)
    expected = 1 / 3 - theta0**2 / 3 - np.mean(2 * (2 * psi0 * np.abs(x_hat) - 1) * np.abs(x_hat))
    assert abs(field.value([psi0, theta0])[0] - expected) < 1e-2


def test_large_flows_get_exact_autodiff_jacobians(monkeypatch):
    import stability.symbolic.field as field_module

    # Force the autodiff path on a small flow and compare with Lemma 2's closed-form Jacobian and with sympy's.
    symbolic = SymbolicField(psi_x2_toy("mu_mid", rho=2))
    monkeypatch.setattr(field_module, "SYMBOLIC_JACOBIAN_LIMIT", 0)
    autodiff = SymbolicField(psi_x2_toy("mu_mid", rho=2))
    m2 = lemma2_moment("mu_mid", 1)
    closed = np.array([[-4 * 2 * float(m2), -2 / 3], [2 / 3, 0]])
    assert np.allclose(autodiff.jacobian([0, 1]), closed, atol=1e-14)
    rng = np.random.default_rng(3)
    for point in rng.uniform(-1, 1, size=(3, 2)):
        assert np.allclose(autodiff.jacobian(point), symbolic.jacobian(point), atol=1e-13)
