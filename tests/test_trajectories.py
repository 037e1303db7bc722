"""Trajectories and basins against quantities derived by hand (``003_…``, Lemma 1 and its proof).

Dirac GAN, f(t) = t: without a penalty ψ̇ = −θ, θ̇ = ψ, so L = ψ² + θ² is
conserved by the flow; a simultaneous step multiplies L by exactly 1 + h²;
an alternating step (ψ first) conserves Q = ψ² + θ² − hψθ. With a probability
penalty measure ψ̇ = −θ − ρψ, so L̇ = −2ρψ² ≤ 0 and the flow converges to 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from stability.analysis.equilibria import Equilibrium
from stability.analysis.lyapunov import lemma1_basin_radius
from stability.analysis.trajectories import (
    NO_CONVERGENCE,
    alternating_gd,
    basin_of_attraction,
    flow_trajectory,
    gd_trajectory,
    simultaneous_gd,
    unique_equilibria,
)
from stability.plots.fields import toy_field
from stability.spec.toys import PSI, THETA

START = (1.0, 0.5)


def test_wgan_flow_conserves_l_to_solver_tolerance():
    trajectory = flow_trajectory(toy_field("dirac", None), START, t_max=30.0, rtol=1e-11, atol=1e-13)
    L = trajectory.squared_norms()
    assert not trajectory.diverged
    assert np.max(np.abs(L - L[0])) < 1e-8
    # and it really moves: a full turn of the circle of radius sqrt(L0) in time 2π
    assert np.ptp(trajectory.states[:, 0]) > 2 * np.sqrt(L[0]) * 0.99


def test_wgan_simultaneous_gd_grows_l_by_one_plus_h_squared():
    h, steps = 0.1, 200
    trajectory = simultaneous_gd(toy_field("dirac", None), START, h, steps)
    L = trajectory.squared_norms()
    expected = L[0] * (1 + h**2) ** np.arange(steps + 1)
    np.testing.assert_allclose(L, expected, rtol=1e-12)
    assert L[-1] > 7 * L[0]


def test_wgan_alternating_gd_stays_on_its_ellipse():
    h = 0.1
    trajectory = alternating_gd(toy_field("dirac", None), START, h, 500)
    psi, theta = trajectory.states.T
    Q = psi**2 + theta**2 - h * psi * theta
    np.testing.assert_allclose(Q, Q[0], rtol=1e-12)
    assert np.max(trajectory.squared_norms()) < 2 * trajectory.squared_norms()[0]


def test_alternating_step_uses_the_new_psi():
    rho, h = 1.0, 0.3
    trajectory = gd_trajectory(toy_field("dirac", "p_d", rho=rho), START, h, 1, alternating=True)
    psi1 = START[0] + h * (-START[1] - rho * START[0])
    theta1 = START[1] + h * psi1
    np.testing.assert_allclose(trajectory.final, [psi1, theta1], rtol=1e-14)


@pytest.mark.parametrize("measure", ["p_g", "p_d", "mu_gp", "mu_mid", "mu_anchor"])
def test_penalised_dirac_flow_converges_to_origin_monotonically(measure):
    trajectory = flow_trajectory(toy_field("dirac", measure, rho=1), START, t_max=40.0)
    L = trajectory.squared_norms()
    assert np.all(np.diff(L) <= 1e-12)  # L̇ = −2ρψ² ≤ 0
    assert np.sqrt(L[-1]) < 1e-6


@pytest.mark.parametrize("measure", ["p_g", "p_d", "mu_gp"])
def test_penalised_dirac_simultaneous_gd_contracts_at_the_closed_form_rate(measure):
    rho, h = 1.0, 0.1
    trajectory = simultaneous_gd(toy_field("dirac", measure, rho=rho), START, h, 400)
    lam = (-rho + np.sqrt(complex(rho**2 - 4))) / 2  # Lemma 1, M = 1
    rate = abs(1 + h * lam)
    norms = np.sqrt(trajectory.squared_norms())
    # complex pair: the norm oscillates within a constant band around rate**k
    observed = (norms[-1] / norms[200]) ** (1 / 200)
    assert observed == pytest.approx(rate, rel=1e-3)
    assert norms[-1] < 1e-6


def test_escape_stops_a_diverging_gd_run():
    trajectory = simultaneous_gd(toy_field("dirac", None), START, 1.5, 1000)
    assert trajectory.diverged
    assert len(trajectory.states) < 1000


def test_lemma1_basin_contains_the_ball_of_radius_r():
    # M = exp(−ψ² − θ²): 2M + ψ∂_ψM = 2e^{−r²}(1 − ψ²) ≥ 0 ⟺ |ψ| ≤ 1, so Lemma 1 gives R = 1.
    mass = "exp(-psi**2 - theta**2)"
    R = lemma1_basin_radius(sympy.sympify(mass, locals={"psi": PSI, "theta": THETA}), PSI, THETA)
    assert R == pytest.approx(1.0, abs=1e-9)
    field_ = toy_field("dirac", "p_d", rho=1, mass=mass)
    origin = Equilibrium({"psi": 0.0, "theta": 0.0})
    estimate = basin_of_attraction(field_, [origin], (-2.5, 2.5, -2.5, 2.5), resolution=41, horizon=50.0, dt=0.1)
    P, T = np.meshgrid(estimate.psi, estimate.theta)
    r = np.hypot(P, T)
    assert np.all(estimate.labels[r <= R] == 0)
    # far out the penalty anti-damps on average (∮ψ²(1 − ψ²) < 0 for r² > 4/3): no convergence
    assert np.all(estimate.labels[r >= 1.5] == NO_CONVERGENCE)
    assert 0 < estimate.fraction(0) < 1


def test_lemma3_basin_lands_on_the_continuum():
    field_ = toy_field("lemma3", "mu_gp", rho=0.375)
    continuum = Equilibrium({"psi": -1.0, "theta": 0.0}, "continuum", {"theta": "0"}, ["psi"])
    estimate = basin_of_attraction(field_, [continuum], (-1.5, -0.5, -1.0, 1.0), resolution=9, horizon=40.0)
    # area B of Figure 3: every curve converges to some (b, 0) with b < 0
    assert np.all(estimate.labels == 0)


def test_unique_equilibria_merges_continuum_representatives():
    theta = sympy.Symbol("theta", real=True)
    continuum = [
        Equilibrium({"psi": v, "theta": 0.0}, "continuum", {"theta": "0"}, ["psi"], solution={theta: sympy.Integer(0)})
        for v in (-1, 0, 1)
    ]
    on_it = Equilibrium({"psi": 0.0, "theta": 0.0})
    off_it = Equilibrium({"psi": 0.0, "theta": 1.0})
    unique = unique_equilibria(continuum + [on_it, off_it, off_it])
    assert [e.kind for e in unique] == ["isolated", "continuum"]
    assert unique[0].point == {"psi": 0.0, "theta": 1.0}
