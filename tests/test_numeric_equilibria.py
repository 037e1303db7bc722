"""Numeric equilibria and continua (issue 27) against systems whose equilibria are derived by hand below.

Every system is held out: none is a toy of the code base. Each derivation writes V = E_pd[D] − E_pθ[D] (identity
link), the penalty P = E_μ[‖∇ₓD‖²] (simple form) and the flow of Definition 4 of 003_…:
ψ̇ = ∇_ψ V − (ρ/2)∇_ψ P, θ̇ = ∇_θ E_pθ[D].
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from stability.analysis import numeric_equilibria
from stability.analysis.analyze import analyze
from stability.analysis.equilibria import Equilibrium
from stability.analysis.flows import TorchFlow
from stability.analysis.lyapunov import lyapunov_check
from stability.analysis.numeric_equilibria import search_equilibria
from stability.cli import main
from stability.cli.common import parse_box
from stability.spec.specfile import load_spec, system_from_dict
from stability.symbolic.field import SymbolicField
from stability.util.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
TANH_SPEC = ROOT / "examples" / "specs" / "tanh_gaussian.toml"


def field_of(**system) -> SymbolicField:
    return SymbolicField(system_from_dict({"system": system}))


def eig_close(found, expected, tol=1e-8) -> bool:
    """Eigenvalues equal as multisets (sorted by real, then imaginary part)."""
    key = lambda v: (round(v.real, 6), round(v.imag, 6))  # noqa: E731
    a = sorted(np.asarray(found, complex), key=key)
    b = sorted(np.asarray(expected, complex), key=key)
    return len(a) == len(b) and all(abs(x - y) <= tol * max(1.0, abs(y)) for x, y in zip(a, b))


def by_point(report, names):
    return {tuple(round(p.linear.point[n], 9) + 0.0 for n in names): p for p in report.points}


# ---- S1: a polynomial critic against a Gaussian generator, with a non-realizable equilibrium -----------------------
# D = a·x + b·x², p_d = N(0, 1), G = m + s·z (z ~ N(0, 1)), penalty on p_d, ρ = 1/2.
# E_pd[x] = 0, E_pd[x²] = 1; E_pθ[x] = m, E_pθ[x²] = m² + s²; ∂ₓD = a + 2bx, so P = E_pd[(a + 2bx)²] = a² + 4b².
#   ȧ = −m − ρa,   ḃ = 1 − m² − s² − 4ρb,   ṁ = a + 2bm,   ṡ = 2bs.
# ṡ = 0: b = 0 or s = 0.  b = 0 ⇒ a = 0 (ṁ), m = 0 (ȧ), s² = 1: (0, 0, 0, ±1), the realizable G = ±z.
# s = 0, b ≠ 0: a = −m/ρ, ṁ = m(2b − 1/ρ) = 0; m = 0 gives b = 1/(4ρ) = 1/2: (0, 1/2, 0, 0), G = δ₀ (non-realizable);
# b = 1/(2ρ) gives ḃ = −1 − m² ≠ 0. So exactly three equilibria.
# J at (0, 0, 0, ±1): blocks (a, m) [[−ρ, −1], [1, 0]] → λ² + λ/2 + 1 = 0 → −1/4 ± i√15/4;
#                     (b, s) [[−4ρ, ∓2], [±2, 0]] → λ² + 2λ + 4 = 0 → −1 ± i√3: a stable focus.
# J at (0, 1/2, 0, 0): ḃ row [0, −2, 0, 0] → −2; ṡ = 2bs → ∂ṡ/∂s = 2b = 1; block (a, m) [[−1/2, −1], [1, 1]]
#                     → λ² − λ/2 + 1/2 = 0 → 1/4 ± i√7/4: a saddle.
POLY = dict(
    x=["x"],
    psi=["a", "b"],
    theta=["m", "s"],
    discriminator="a*x + b*x**2",
    rho=0.5,
    data="normal(0, 1)",
    generator={"latent": "normal(0, 1)", "map": "m + s*z"},
    penalty={"measure": "p_d"},
)


@pytest.mark.parametrize("search", ["numeric", "auto"])
def test_polynomial_critic_gaussian_generator(search):
    names = ["a", "b", "m", "s"]
    report = analyze(field_of(**POLY), box=[(-2.0, 2.0)] * 4, search=search)
    points = by_point(report, names)
    assert set(points) == {(0.0, 0.0, 0.0, 1.0), (0.0, 0.0, 0.0, -1.0), (0.0, 0.5, 0.0, 0.0)}
    focus = [
        complex(-0.25, math.sqrt(15) / 4),
        complex(-0.25, -math.sqrt(15) / 4),
        -1 + 1j * math.sqrt(3),
        -1 - 1j * math.sqrt(3),
    ]
    for sign in (1.0, -1.0):
        p = points[(0.0, 0.0, 0.0, sign)]
        assert p.linear.classification == "stable focus" and p.is_equilibrium
        assert eig_close(p.linear.eigenvalues, focus)
    saddle = points[(0.0, 0.5, 0.0, 0.0)]
    assert saddle.linear.classification == "saddle"
    assert eig_close(
        saddle.linear.eigenvalues, [-2, 1, complex(0.25, math.sqrt(7) / 4), complex(0.25, -math.sqrt(7) / 4)]
    )
    assert all(p.check.relative <= 1e-9 for p in report.points)


# ---- S2: a tanh critic on Dirac laws -------------------------------------------------------------------------------
# D = ψ·tanh(x), p_d = δ₀, p_θ = δ_θ, penalty on p_d, ρ = 1: ∂ₓD(0) = ψ, P = ψ².
#   ψ̇ = tanh 0 − tanh θ − ρψ = −tanh θ − ψ,   θ̇ = ψ·sech²θ.
# θ̇ = 0 ⇒ ψ = 0 ⇒ tanh θ = 0 ⇒ θ = 0: one equilibrium. J = [[−1, −1], [1, 0]] → (−1 ± i√3)/2, a stable focus.
def test_tanh_critic_on_dirac_laws():
    field = field_of(
        x=["x"],
        psi=["psi"],
        theta=["theta"],
        discriminator="psi*tanh(x)",
        rho=1,
        data="dirac(0)",
        generator="dirac(theta)",
        penalty={"measure": "p_d"},
    )
    found = search_equilibria(field, [(-2.5, 3.5)] * 2)  # off-centre: no start begins at the root
    assert [e.kind for e in found.equilibria] == ["isolated"]
    assert np.allclose(list(found.equilibria[0].point.values()), [0, 0], atol=1e-12)
    report = analyze(field, box=[(-2.5, 3.5)] * 2, search="numeric")
    (p,) = report.points
    assert p.linear.classification == "stable focus"
    assert eig_close(p.linear.eigenvalues, [complex(-0.5, math.sqrt(3) / 2), complex(-0.5, -math.sqrt(3) / 2)])


# ---- S3: a sigmoid critic ------------------------------------------------------------------------------------------
# D = ψ·σ(x), σ(x) = 1/(1 + e^(−x)), p_d = δ₁, p_θ = δ_θ, penalty on p_d, ρ = 1: ∂ₓD(1) = ψσ'(1), P = ψ²σ'(1)².
#   ψ̇ = σ(1) − σ(θ) − ρσ'(1)²ψ,   θ̇ = ψσ'(θ) (σ' > 0).  θ̇ = 0 ⇒ ψ = 0 ⇒ σ(θ) = σ(1) ⇒ θ = 1 (σ increasing).
# J(0, 1) = [[−ρs², −s], [s, 0]] with s = σ'(1) = e/(1 + e)² → λ = (−ρs² ± √(ρ²s⁴ − 4s²))/2, complex: a stable focus.
def test_sigmoid_critic():
    field = field_of(
        x=["x"],
        psi=["psi"],
        theta=["theta"],
        discriminator="psi/(1 + exp(-x))",
        rho=1,
        data="dirac(1)",
        generator="dirac(theta)",
        penalty={"measure": "p_d"},
    )
    report = analyze(field, box=[(-3.0, 3.0)] * 2, search="numeric")
    (p,) = report.points
    assert np.allclose([p.linear.point["psi"], p.linear.point["theta"]], [0, 1], atol=1e-12)
    s = math.e / (1 + math.e) ** 2
    root = np.sqrt(complex(s**4 - 4 * s**2))
    assert p.linear.classification == "stable focus"
    assert eig_close(p.linear.eigenvalues, [(-(s**2) + root) / 2, (-(s**2) - root) / 2])


# ---- S4: a softplus critic in a 2-D data space ---------------------------------------------------------------------
# x = (x1, x2), D = a·sp(x1) + b·x2 with sp(u) = log(1 + e^u), p_d = δ_(0,0), p_θ = δ_(m1,m2), penalty on p_d, ρ = 1.
# ∇ₓD = (aσ(x1), b), at (0, 0): P = a²/4 + b².
#   ȧ = log 2 − sp(m1) − ρa/4,  ḃ = −m2 − ρb,  ṁ1 = aσ(m1),  ṁ2 = b.
# ṁ2 = 0 ⇒ b = 0 ⇒ m2 = 0; ṁ1 = 0 ⇒ a = 0 (σ > 0) ⇒ sp(m1) = log 2 ⇒ m1 = 0. One equilibrium, the origin.
# J: (a, m1) [[−ρ/4, −σ(0)], [σ(0), 0]] = [[−1/4, −1/2], [1/2, 0]] → λ² + λ/4 + 1/4 = 0 → −1/8 ± i√15/8;
#    (b, m2) [[−1, −1], [1, 0]] → (−1 ± i√3)/2. A stable focus.
def test_softplus_critic_in_two_dimensions():
    field = field_of(
        x=["x1", "x2"],
        psi=["a", "b"],
        theta=["m1", "m2"],
        discriminator="a*log(1 + exp(x1)) + b*x2",
        rho=1,
        data="dirac([0, 0])",
        generator="dirac([m1, m2])",
        penalty={"measure": "p_d"},
    )
    report = analyze(field, box=[(-1.5, 2.5)] * 4, search="numeric")  # off-centre: no start begins at the root
    (p,) = report.points
    assert np.allclose(list(p.linear.point.values()), 0, atol=1e-12)
    assert p.linear.classification == "stable focus"
    expected = [complex(-1 / 8, math.sqrt(15) / 8), complex(-1 / 8, -math.sqrt(15) / 8)]
    expected += [complex(-0.5, math.sqrt(3) / 2), complex(-0.5, -math.sqrt(3) / 2)]
    assert eig_close(p.linear.eigenvalues, expected)


# ---- S5: a curved continuum: a circle of equilibria, and a non-realizable isolated point ---------------------------
# D = ψ·x, p_d = δ₀, p_θ = δ_(t1² + t2² − 1), penalty on p_d, ρ = 1: P = ψ².
#   ψ̇ = −(t1² + t2² − 1) − ψ,   ṫ1 = 2ψt1,   ṫ2 = 2ψt2.
# ψ = 0 and t1² + t2² = 1: a circle (dimension 1, the generator then sits on the data). t1 = t2 = 0: ψ = 1, an isolated
# point where the generator cannot reach the data (δ₋₁).
# On the circle, with r = (0, t1, t2) and e_ψ the normals, NᵀJN = [[−1, −2], [2, 0]] → −1/2 ± i√15/2 everywhere.
# At (1, 0, 0): J = diag(−1, 2, 2), a saddle.
def test_a_circle_of_equilibria_is_one_curved_continuum():
    field = field_of(
        x=["x"],
        psi=["psi"],
        theta=["t1", "t2"],
        discriminator="psi*x",
        rho=1,
        data="dirac(0)",
        generator="dirac(t1**2 + t2**2 - 1)",
        penalty={"measure": "p_d"},
    )
    report = analyze(field, box=[(-2.0, 2.0)] * 3, search="numeric")
    kinds = sorted(p.equilibrium.kind for p in report.points)
    assert kinds == ["continuum", "isolated"]
    circle = next(p for p in report.points if p.equilibrium.kind == "continuum")
    e = circle.equilibrium
    assert e.dimension == 1 and e.flat is False and e.roots_on_it > 10
    for where in (e.point, e.second_point):
        assert abs(where["psi"]) < 1e-9 and abs(where["t1"] ** 2 + where["t2"] ** 2 - 1) < 1e-9
    tangent = np.array(list(e.tangents[0].values()))
    assert abs(tangent @ np.array([0.0, e.point["t1"], e.point["t2"]])) < 1e-9  # tangent ⟂ the radius
    transverse = [complex(-0.5, math.sqrt(15) / 2), complex(-0.5, -math.sqrt(15) / 2)]
    assert e.transverse.classification == "stable focus" and eig_close(e.transverse.eigenvalues, transverse)
    assert e.transverse.along == {"stable focus": e.roots_on_it}
    assert eig_close(circle.linear.eigenvalues, [0] + transverse)
    saddle = next(p for p in report.points if p.equilibrium.kind == "isolated")
    assert np.allclose(list(saddle.linear.point.values()), [1, 0, 0], atol=1e-12)
    assert saddle.linear.classification == "saddle" and eig_close(saddle.linear.eigenvalues, [-1, 2, 2])


# ---- S6: the tanh critic of issue 27: three planes of equilibria ---------------------------------------------------
# D = c·tanh(a·x), p_d = N(0, 1), G = t + s·z, μ_mid (x̂ = (x_d + x_g)/2), ρ = 2 (so ρ/2 = 1).
# V_a = c(E[x sech²(ax)] − E[x_g sech²(a x_g)]), V_c = E tanh(a x_d) − E tanh(a x_g), P = c²a² E[sech⁴(a x̂)],
# θ̇ = ∇_(t,s) E[c tanh(a(t + s z))].  D ≡ 0 when a = 0 or c = 0, and then:
# • {a = 0, t = 0}: J = [[−2c², 0, −c, 0], 0, [c, 0, 0, 0], 0]; across (a, t): [[−2c², −c], [c, 0]]
#   → λ = −c² ± |c|√(c² − 1) (a stable focus for |c| < 1, a node beyond).
# • {a = 0, c = 0}: ȧ ≈ −t·c, ċ ≈ −t·a; across (a, c): [[0, −t], [−t, 0]] → ±t, a saddle.
# • {c = 0, t = 0}: across (c, t): [[−2a²m4, −a m2], [a m2, 0]] with m2 = E[sech²(a s z)], m4 = E[sech⁴(a x̂)]
#   → λ = −a²m4 ± √(a⁴m4² − a²m2²): stable. m2 and m4 are no closed form; below they are the engine's documented
#   rule (Gauss–Hermite, 24 nodes for one base variable, 12 × 12 for two) applied to this formula by hand.
# With a, c ≠ 0, ṫ = c·a·E[sech²(a(t + sz))] ≠ 0: no other equilibrium.
def _gauss_hermite(n):
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / np.sqrt(2 * np.pi)


@pytest.fixture(scope="module")
def tanh_report():
    return analyze(SymbolicField(load_spec(TANH_SPEC)))


def test_the_tanh_example_has_three_planes_of_equilibria(tanh_report):
    assert len(tanh_report.points) == 3  # each plane once, however many starts ended on it
    planes = {tuple(sorted(p.equilibrium.exact.items())): p for p in tanh_report.points}
    assert set(planes) == {(("a", "0"), ("t", "0")), (("a", "0"), ("c", "0")), (("c", "0"), ("t", "0"))}
    for p in tanh_report.points:
        e = p.equilibrium
        assert e.kind == "continuum" and e.method == "numeric" and e.dimension == 2 and e.flat
        assert e.verification.relative <= 1e-9 and e.verification.second_point_relative <= 1e-9
        assert "torch" in e.verification.route
        # D ≡ 0 on each plane: exact with any quadrature, so the finer rule agrees and nothing is polished
        assert e.verification.higher_relative <= 1e-9 and e.verification.second_point_higher_relative <= 1e-9
        assert e.verification.polished_point is None
        assert p.linear.eigenvalues.size == 4 and np.sum(p.linear.eigenvalues == 0) == 2  # exact zeros along it
    at = planes[(("a", "0"), ("t", "0"))].equilibrium
    c = at.point["c"]
    root = np.sqrt(complex(c**4 - c**2))
    assert eig_close(at.transverse.eigenvalues, [-(c**2) + root, -(c**2) - root])
    assert at.transverse.classification == ("stable focus" if abs(c) < 1 else "stable node")
    ac = planes[(("a", "0"), ("c", "0"))].equilibrium
    assert ac.transverse.classification == "saddle"
    assert eig_close(ac.transverse.eigenvalues, [ac.point["t"], -ac.point["t"]])
    ct = planes[(("c", "0"), ("t", "0"))].equilibrium
    a, s = ct.point["a"], ct.point["s"]
    z24, w24 = _gauss_hermite(24)
    m2 = np.sum(w24 / np.cosh(a * s * z24) ** 2)
    z12, w12 = _gauss_hermite(12)
    xhat = (z12[:, None] + s * z12[None, :]) / 2
    m4 = np.sum(w12[:, None] * w12[None, :] / np.cosh(a * xhat) ** 4)
    root = np.sqrt(complex(a**4 * m4**2 - a**2 * m2**2))
    assert eig_close(ct.transverse.eigenvalues, [-(a**2) * m4 + root, -(a**2) * m4 - root])
    assert ct.transverse.classification in ("stable focus", "stable node")


def test_a_given_point_on_a_continuum_claims_no_sign_for_its_zero_eigenvalues():
    # at (a, c, t, s) = (0, 1, 0, 1) on {a = 0, t = 0}: across it [[−2, −1], [1, 0]] → −1 (double)
    report = analyze(SymbolicField(load_spec(TANH_SPEC)), at={"a": 0, "c": 1, "t": 0, "s": 1})
    (p,) = report.points
    assert p.is_equilibrium and p.on_continuum is not None and p.on_continuum.dimension == 2
    assert list(p.linear.eigenvalues).count(0) == 2
    assert eig_close([v for v in p.linear.eigenvalues if v != 0], [-1, -1], tol=1e-7)
    assert not any("certain" in n for n in p.linear.notes)
    assert p.lyapunov is None and any("Lyapunov check skipped" in n for n in p.linear.notes)


# ---- S7: a root that the quadrature moves: a tanh critic between two different Gaussians ---------------------------
# D = c·tanh(x), p_d = N(1, 2²) (x = 1 + 2u, u ~ N(0, 1)), G = t + z, penalty on p_d, ρ = 1: P = c²E[sech⁴x].
#   ċ = E tanh(1 + 2u) − E tanh(t + z) − c·E[sech⁴x],   ṫ = c·E[sech²(t + z)].
# sech² > 0 ⇒ c = 0 ⇒ E tanh(t + z) = E tanh(1 + 2u) =: m, and t ↦ E tanh(t + z) increases strictly: one equilibrium,
# (0, t*). Neither expectation has a closed form, so the flow holds 24-node Gauss–Hermite sums; tanh(1 + 2u) has
# poles at u = (±iπ/2 − 1)/2, close to the real axis, and the rule errs by about 1e-3 there, so the flow's root t₂₄
# lies about 1e-3/E[sech²(t* + z)] from t*. The equilibrium's Jacobian is [[−E sech⁴, −E sech²], [E sech², 0]]:
# nonsingular, an isolated root. Below, t* and the field of the integrals at (0, t₂₄) come from scipy.integrate.quad
# (adaptive, tolerance 1e-13), independently of the engine's quadrature.
QUADRATURE_ROOT = dict(
    x=["x"],
    psi=["c"],
    theta=["t"],
    discriminator="c*tanh(x)",
    rho=1,
    data="normal(1, 2)",
    generator={"latent": "normal(0, 1)", "map": "t + z"},
    penalty={"measure": "p_d"},
)
QUADRATURE_BOX = [(-2.0, 2.5)] * 2


def _normal_mean(g) -> float:
    from scipy import integrate

    density = lambda u: g(u) * math.exp(-u * u / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return integrate.quad(density, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13, limit=200)[0]


@pytest.fixture(scope="module")
def quadrature_root():
    """The field of S7, t* and the integrals' ċ as a function of t at c = 0 (both by scipy)."""
    from scipy import optimize

    m = _normal_mean(lambda u: math.tanh(1 + 2 * u))
    c_dot = lambda t: m - _normal_mean(lambda z: math.tanh(t + z))  # noqa: E731
    t_star = optimize.brentq(c_dot, 0.0, 1.0, xtol=1e-14)
    return field_of(**QUADRATURE_ROOT), t_star, c_dot


def test_a_quadrature_root_is_checked_by_a_finer_rule_and_polished(quadrature_root):
    field, t_star, c_dot = quadrature_root
    found = search_equilibria(field, QUADRATURE_BOX, starts=16)
    (e,) = found.equilibria
    v = e.verification
    c24, t24 = e.point["c"], e.point["t"]
    assert abs(c24) < 1e-12 and abs(t24 - t_star) > 1e-3  # the flow's own root: off t* by its quadrature error
    assert v.relative <= 1e-9  # the other backend shares the nodes: it cannot see that
    # (a) the quadrature's change of F at the point is the integrals' field there (the flow's is ~0 at its root)
    true_field = abs(c_dot(t24))
    assert true_field > 1e-4 and abs(v.quadrature_change / true_field - 1) < 0.05
    assert v.higher_relative > 1e-4 and v.quadrature_error == pytest.approx(v.higher_relative, rel=0.05)
    # (b) the root of the finer flow is much closer to t*, and a root of it
    polished = v.polished_point
    assert abs(polished["c"]) < 1e-9 and abs(polished["t"] - t_star) < abs(t24 - t_star) / 20
    assert v.polished_relative <= 1e-9
    assert v.moved == pytest.approx(math.hypot(polished["c"] - c24, polished["t"] - t24))
    assert e.to_dict()["verification"]["polished_point"] == polished


def test_a_quadrature_root_without_a_finer_root_near_it_is_dropped(quadrature_root, monkeypatch):
    # the finer flow made F + 10: its root moves to c ≈ −10/E sech²(t + z) ≈ −17, beyond any polishing
    field, _, _ = quadrature_root
    finer = lambda flow: flow.route == numeric_equilibria.HIGHER_ORDER_ROUTE  # noqa: E731
    value_at, evaluate = TorchFlow.value_at, TorchFlow.evaluate

    def shifted(self, points, jacobians=True, chunk=1024):
        sample = evaluate(self, points, jacobians, chunk)
        sample.values = sample.values + (10.0 if finer(self) else 0.0)
        return sample

    monkeypatch.setattr(TorchFlow, "value_at", lambda self, p: value_at(self, p) + (10.0 if finer(self) else 0.0))
    monkeypatch.setattr(TorchFlow, "evaluate", shifted)
    found = search_equilibria(field, QUADRATURE_BOX, starts=16)
    assert found.equilibria == []
    assert sum("is not one of the flow with twice the Gauss nodes" in n and "dropped" in n for n in found.notes) == 1


def test_the_cli_prints_the_finer_quadrature_beside_the_point(quadrature_root, tmp_path, capsys):
    _, t_star, _ = quadrature_root
    spec = tmp_path / "quadrature_root.toml"
    spec.write_text(
        '[system]\nx = ["x"]\npsi = ["c"]\ntheta = ["t"]\ndiscriminator = "c*tanh(x)"\nrho = 1\n'
        'data = "normal(1, 2)"\ngenerator = { latent = "normal(0, 1)", map = "t + z" }\n'
        '[system.penalty]\nmeasure = "p_d"\n'
    )
    assert main(["analyze", str(spec), "--box=-2,2.5"]) == 0
    (line,) = [row for row in capsys.readouterr().out.splitlines() if row.startswith("  finer quadrature:")]
    assert "torch with twice the Gauss nodes" in line and "quadrature error" in line
    polished_t = float(line.split("the finer flow's root")[1].split("t=")[1].split(")")[0])
    assert abs(polished_t - t_star) < 1e-4  # the coarse root t₂₄ is 2e-3 away


# ---- a non-equilibrium is never printed as one ---------------------------------------------------------------------
# D = 1e-12·ψ·x, p_d = δ₀, p_θ = δ_(θ² + 1), penalty on p_d, ρ = 1: ψ̇ = −1e-12(θ² + 1) − 1e-24ψ, θ̇ = 2e-12ψθ.
# |ψ̇| ≥ 1e-12 − 1e-24|ψ| > 0 in the box [-1, 1]²: no equilibrium there (the only one is (ψ, θ) = (−1e12, 0)),
# although ‖F‖ is below an absolute 1e-10 everywhere in it.
TINY = dict(
    x=["x"],
    psi=["psi"],
    theta=["theta"],
    discriminator="1e-12*psi*x",
    rho=1,
    data="dirac(0)",
    generator="dirac(theta**2 + 1)",
    penalty={"measure": "p_d"},
)


def test_a_tiny_field_without_roots_has_no_equilibria_and_says_how_hard_it_looked():
    report = analyze(field_of(**TINY), box=[(-1.0, 1.0)] * 2, search="numeric")
    assert report.points == []
    assert report.search is not None and report.search.starts > 100 and report.search.best_residual > 1e-3
    text = " ".join(report.notes)
    assert "no equilibrium found; numeric search" in text and "best relative residual" in text


def test_a_candidate_the_second_route_rejects_is_dropped(monkeypatch):
    true_value = TorchFlow.value_at
    monkeypatch.setattr(TorchFlow, "value_at", lambda self, p: true_value(self, p) + 1e-3)
    found = search_equilibria(field_of(**POLY), [(-2.0, 2.0)] * 4)
    assert found.equilibria == []
    assert sum("is not an equilibrium by the torch" in n for n in found.notes) == 3


def test_a_symbolic_solution_that_is_not_a_root_is_dropped(monkeypatch):
    from stability.analysis import equilibria

    wrong = Equilibrium({"psi": 0.0, "theta": 0.5}, "isolated", {"psi": "0", "theta": "1/2"})
    monkeypatch.setattr(equilibria, "solve_symbolic", lambda field_, timeout=10.0: [wrong])
    field = field_of(
        x=["x"],
        psi=["psi"],
        theta=["theta"],
        discriminator="psi*x",
        rho=1,
        data="dirac(0)",
        generator="dirac(theta)",
        penalty={"measure": "p_d"},
    )
    report = analyze(field)
    assert report.points == [] and any("is not a root of the flow numerically" in n for n in report.notes)


def test_the_cli_prints_the_residual_and_refuses_a_non_equilibrium(tmp_path, capsys):
    spec = tmp_path / "poly.toml"
    spec.write_text(
        '[system]\nx = ["x"]\npsi = ["psi"]\ntheta = ["theta"]\ndiscriminator = "psi*x"\nrho = 1\n'
        'data = "dirac(0)"\ngenerator = "dirac(theta)"\n[system.penalty]\nmeasure = "p_d"\n'
    )
    assert main(["analyze", str(spec), "--at", "psi=0,theta=1e-9"]) == 0
    out = capsys.readouterr().out
    assert "NOT an equilibrium" in out and "not an equilibrium: the flow here is" in out
    assert main(["analyze", str(spec), "--at", "psi=0,theta=0"]) == 0
    assert "an equilibrium" in capsys.readouterr().out


# ---- the Lyapunov check's budget -----------------------------------------------------------------------------------
def test_the_lyapunov_check_of_a_long_flow_is_numeric_and_says_so():
    field = SymbolicField(load_spec(TANH_SPEC))
    start = time.process_time()
    check = lyapunov_check(field, {"a": 0.3, "c": 0.2, "t": 0.1, "s": 1.0}, radius=0.1)
    assert time.process_time() - start < 10
    assert check.derivative_expr is None and any("not formed symbolically" in s for s in check.skipped)
    # L̇ = ∇L·F = 2(w − w*)·F(w), so at the centre it is 0 and its maximum is attained off it
    assert check.max_derivative > -1 and np.isfinite(check.max_derivative)


# ---- --box ---------------------------------------------------------------------------------------------------------
def test_one_box_pair_applies_to_every_parameter():
    assert parse_box("-2,2", 4) == [(-2.0, 2.0)] * 4
    assert parse_box("-2,2,-1,1", 2) == [(-2.0, 2.0), (-1.0, 1.0)]
    assert parse_box("0,1", 1) == [(0.0, 1.0)]
    with pytest.raises(UserError, match="2 numbers .* or 6"):
        parse_box("-2,2,1", 3)


def test_the_cli_takes_one_box_pair(capsys):
    assert main(["analyze", str(TANH_SPEC), "--box=-1,1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["search"]["box"] == [[-1.0, 1.0]] * 4 and len(out["equilibria"]) == 3


# ---- torch's own warnings ------------------------------------------------------------------------------------------
def test_torch_internal_warnings_do_not_reach_the_terminal():
    # the first forward-mode product of a process loads torch's JVP decompositions through torch.jit.script, which
    # warns from torch's own code; ganstab's main filters exactly that warning
    code = (
        "import warnings; warnings.simplefilter('default')\n"
        "from stability.cli import main\n"
        "main([])\n"
        "import torch\n"
        "torch.func.jvp(lambda x: x.sin(), (torch.ones(2),), (torch.ones(2),))\n"
        "warnings.warn('ours', UserWarning)\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert "torch.jit.script" not in proc.stderr
    assert "ours" in proc.stderr  # only torch's own warning is filtered


def test_the_search_effort_is_recorded_in_json(tanh_report):
    effort = tanh_report.search
    assert effort.starts == numeric_equilibria.DEFAULT_STARTS + 1 and effort.roots > 10
    assert effort.box == [(-3.0, 3.0)] * 4
    json.dumps(tanh_report.to_dict(), default=str)
