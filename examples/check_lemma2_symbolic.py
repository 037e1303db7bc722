"""Check Lemma 2 of Kim et al. (003_…) for every penalty measure, with ρ kept symbolic.

The ψx² toy: D = ψx², p_d = U(−1, 1), p_θ = law of θz with z ~ U(−1, 1). Lemma 2 says the
Jacobian at (0, ±1) has eigenvalues λ = −2ρE_μ*[x²] ± √(4ρ²E_μ*[x²]² − 4/9). Here the system is
written from its parts (no toy helper), the engine derives the flow, and sympy proves the
characteristic polynomials equal for all ρ > 0.

Run: python examples/check_lemma2_symbolic.py
"""

import sympy

from stability import GanSystem, Penalty, SymbolicField, get_measure, pushforward, uniform
from stability.symbolic.expectation import expectation

x, psi, theta, z = sympy.symbols("x psi theta z", real=True)
rho = sympy.Symbol("rho", positive=True)
lam = sympy.Symbol("lambda")

data = uniform(-1, 1)
generator = pushforward(uniform(-1, 1), theta * z, [z])

for name, args in [("p_d", ()), ("p_g", ()), ("mu_gp", ()), ("mu_mid", ()), ("mu_anchor", (2,))]:
    measure = get_measure(name, *args)
    system = GanSystem((x,), (psi,), (theta,), psi * x**2, data, generator, Penalty(measure, rho=rho))
    field = SymbolicField(system)
    # E_μ*[x²] at θ* = 1, from the measure's own law of x̂ (the limiting penalty measure μ*)
    second_moment = expectation(measure.law(data, generator).subs({theta: 1}), lambda p: p[0] ** 2).value
    for theta_star in (1, -1):
        J = field.jacobian_exact({"psi": 0, "theta": theta_star})
        engine = J.charpoly(lam).as_expr()
        # the closed form's eigenvalues are the roots of λ² + 4ρm λ + 4/9 (m = E_μ*[x²])
        closed = lam**2 + 4 * rho * second_moment * lam + sympy.Rational(4, 9)
        verdict = "agrees" if sympy.simplify(engine - closed) == 0 else "DISAGREES"
        moment = str(second_moment)
        print(f"{name:10s} theta*={theta_star:+d}  E[x^2]={moment:6s} charpoly {sympy.factor(engine)}  {verdict}")
