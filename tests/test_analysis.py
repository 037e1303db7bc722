"""Classification, discrete-time steps, equilibria and Lyapunov checks against hand derivations."""

import numpy as np
import pytest
import sympy

from stability import SymbolicField, analyze, classify, find_equilibria, lemma1_basin_radius, lyapunov_check
from stability.analysis.equilibria import solve_numeric
from stability.analysis.linear import (
    alternating_update,
    max_stable_step_alternating,
    max_stable_step_simultaneous,
    spectral_radius,
)
from stability.spec.toys import PSI, THETA, dirac_gan, lemma3_system, psi_x2_toy


@pytest.mark.parametrize(
    "J, expected",
    [
        ([[-1, 0], [0, -2]], "stable node"),
        ([[-1, -1], [1, 0]], "stable focus"),
        ([[1, 0], [0, 3]], "unstable node"),
        ([[1, -2], [2, 1]], "unstable focus"),
        ([[1, 0], [0, -1]], "saddle"),
        ([[0, -1], [1, 0]], "center"),
        ([[-1, 0], [0, 0]], "non-hyperbolic"),
    ],
)
def test_classification_of_canonical_matrices(J, expected):
    assert classify(np.linalg.eigvals(np.array(J, dtype=float)))[0] == expected


def test_defective_double_eigenvalue_is_a_node():
    # Lemma 2 with p_d, ρ = 1: J = [[−4/3, −2/3], [2/3, 0]] has the double eigenvalue −2/3 (a Jordan block)
    J = np.array([[-4 / 3, 2 / 3], [-2 / 3, 0]])
    assert classify(np.linalg.eigvals(J))[0] == "stable node"


@pytest.mark.parametrize("rho", [0.3, 1.0, 1.9, 3.0])
def test_simultaneous_step_closed_form(rho):
    # Dirac GAN J = [[−ρ, −1], [1, 0]]: λ = −ρ/2 ± i√(1 − ρ²/4) for ρ < 2, |λ|² = 1, so h* = min −2Re λ/|λ|² = ρ;
    # for ρ > 2 both λ real: h* = 2/|λ_max|.
    J = np.array([[-rho, -1.0], [1.0, 0.0]])
    eigs = np.linalg.eigvals(J)
    closed = rho if rho < 2 else 2 / (rho / 2 + np.sqrt(rho**2 / 4 - 1))
    h = max_stable_step_simultaneous(eigs)
    assert np.isclose(h, closed, rtol=1e-9)
    assert spectral_radius(np.eye(2) + 0.99 * h * J) < 1 < spectral_radius(np.eye(2) + 1.01 * h * J)


@pytest.mark.parametrize("rho", [0.5, 1.0, 2.5])
def test_alternating_step_closed_form(rho):
    # Alternating map [[1−hρ, −h], [h(1−hρ), 1−h²]]: det = 1 − hρ, tr = 2 − hρ − h². Jury: |det| < 1 and
    # 1 + det > |tr|  ⇔  h < 2/ρ and h < √(ρ² + 4) − ρ.
    J = np.array([[-rho, -1.0], [1.0, 0.0]])
    closed = min(2 / rho, np.sqrt(rho**2 + 4) - rho)
    assert np.isclose(max_stable_step_alternating(J, 1), closed, rtol=1e-8)


def test_step_radii_dirac_closed_form():
    from stability import step_spectral_radii

    # ρ = 1: simultaneous |1 + hλ|² = 1 − h + h² (|λ| = 1, Re λ = −1/2); alternating det = 1 − h, complex pair
    # for small h so radius = √det.
    h = 0.5
    radii = step_spectral_radii(np.array([[-1.0, -1.0], [1.0, 0.0]]), 1, h)
    assert np.isclose(radii["simultaneous"], np.sqrt(1 - h + h**2))
    assert np.isclose(radii["alternating"], np.sqrt(1 - h))


def test_alternating_update_matches_one_step_of_the_map():
    rng = np.random.default_rng(0)
    J = rng.normal(size=(5, 5))
    n_psi, h = 2, 0.3
    x = rng.normal(size=5)
    psi = x[:n_psi] + h * (J @ x)[:n_psi]
    theta = x[n_psi:] + h * (J @ np.concatenate([psi, x[n_psi:]]))[n_psi:]
    assert np.allclose(alternating_update(J, n_psi, h) @ x, np.concatenate([psi, theta]))


def test_no_stable_step_without_damping():
    assert max_stable_step_simultaneous(np.array([1j, -1j])) is None


@pytest.mark.parametrize("rho", [sympy.Rational(1, 2), 2])
def test_lemma2_equilibria(rho):
    found, notes = find_equilibria(SymbolicField(psi_x2_toy("mu_gp", rho=rho)))
    points = sorted((e.point["psi"], e.point["theta"]) for e in found)
    # (0, ±1) and, on θ = 0, 1/3 − 4ρψ/9 = 0 ⇒ ψ = 3/(4ρ)
    assert np.allclose(points, sorted([(0, -1), (0, 1), (3 / (4 * float(rho)), 0)]))
    assert all(e.kind == "isolated" for e in found) and not notes


def test_lemma3_continuum_is_recognised():
    found, _ = find_equilibria(SymbolicField(lemma3_system("mu_gp", rho=sympy.Rational(3, 8))))
    assert found and all(e.kind == "continuum" and e.exact == {"theta": "0"} and e.free == ["psi"] for e in found)


def test_numeric_search_agrees_with_symbolic():
    field = SymbolicField(psi_x2_toy("mu_mid", rho=1))
    numeric = solve_numeric(field, [(-2, 2), (-2, 2)])
    symbolic, _ = find_equilibria(field)
    key = lambda e: tuple(np.round(list(e.point.values()), 6))  # noqa: E731
    assert len(numeric) == len(symbolic) == 3
    for n, s in zip(sorted(numeric, key=key), sorted(symbolic, key=key)):
        assert np.allclose(list(n.point.values()), list(s.point.values()), atol=1e-8)


def test_numeric_fallback_for_a_non_polynomial_flow():
    # f = logistic makes ψ̇ transcendental; the Dirac GAN still has (0, 0) only (Mescheder et al. 2018)
    report = analyze(SymbolicField(dirac_gan("p_d", rho=1, link="logistic")), box=[(-1, 1), (-1, 1)])
    assert [p.linear.classification for p in report.points] == ["stable node"]
    assert np.allclose(list(report.points[0].linear.point.values()), [0, 0], atol=1e-9)


@pytest.mark.parametrize("rho", [1, 3])
def test_lyapunov_derivative_lemma1_zero_mass(rho):
    # M = ψ²: L̇ = −ρψ²(2M + ψ∂ψM) = −4ρψ⁴ (Appendix A)
    field = SymbolicField(dirac_gan("mu_gp", rho=rho, mass=PSI**2))
    check = lyapunov_check(field, {"psi": 0, "theta": 0})
    assert sympy.simplify(check.derivative_expr + 4 * rho * PSI**4) == 0
    assert check.nonpositive and not check.negative_off_center  # L̇ = 0 on the θ-axis


def test_lyapunov_detects_growth():
    # M = −1 (anti-damping): L̇ = +2ρψ² > 0
    check = lyapunov_check(SymbolicField(dirac_gan("p_d", rho=1, mass=-1)), {"psi": 0, "theta": 0})
    assert not check.nonpositive and check.max_derivative > 0


@pytest.mark.parametrize(
    "mass, radius",
    [
        (1 - PSI**2 - THETA**2, 1 / np.sqrt(2)),  # 2 − 4ψ² − 2θ² ≥ 0 ⇔ worst case θ = 0: η ≤ 1/√2
        (1 - THETA**2, 1.0),  # 2 − 2θ² ≥ 0 ⇔ η ≤ 1
        (1 - PSI**4, 3 ** (-0.25)),  # 2 − 6ψ⁴ ≥ 0 ⇔ η ≤ 3^(−1/4)
        (sympy.Integer(1), np.inf),
    ],
)
def test_lemma1_basin_radius(mass, radius):
    assert np.isclose(lemma1_basin_radius(mass, PSI, THETA), radius, rtol=1e-7) or radius == lemma1_basin_radius(
        mass, PSI, THETA
    )


def test_negative_mass_is_warned():
    from stability.analysis.analyze import mass_warnings

    system = dirac_gan("p_d", mass=1 - PSI**2)
    assert mass_warnings(system, [(-2, 2), (-2, 2)])
    assert not mass_warnings(system, [(-0.5, 0.5), (-2, 2)])
