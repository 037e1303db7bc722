"""The toy lemmas of ``003_…`` checked against the engine, measure by measure.

For each check the engine derives the flow from a spec (:mod:`stability.spec.toys`),
finds its equilibria, and linearises; the *closed forms* below are the
paper's, with the moments E_μ*[x²] of each measure derived by hand (comments
give the derivation). Nothing here calls the engine to get an expected value.

* Lemma 1 (Appendix A): Dirac GAN, J(0, 0) = [[−ρM(0,0), −1], [1, 0]];
  when M(0, 0) = 0 the Lyapunov derivative is L̇ = −ρψ²(2M + ψ∂_ψM); the basin
  radius R = max{η : 2M + ψ∂_ψM ≥ 0 on B_η}.
* Lemma 2: ψx² toy, λ = −2ρE_μ*[x²] ± √(4ρ²E_μ*[x²]² − 4/9) at (0, ±1).
* Lemma 3 (Appendix B): D₂ = ψx² on the Dirac GAN: the ψ-axis θ = 0 is a
  continuum of equilibria with J(a, 0) = [[0, 0], [0, 2a]] and, for μ_GP,
  nullclines ψ = 0 and ψ = −3/(4ρ).
* Mescheder et al. 2018: Dirac GAN with the logistic link and R1 (μ = p_d):
  λ = −ρ/2 ± √(ρ²/4 − f'(0)²) with f'(0) = ½.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy

from stability.analysis.equilibria import find_equilibria
from stability.analysis.linear import classify
from stability.analysis.lyapunov import lemma1_basin_radius, lyapunov_check
from stability.spec.expressions import exact_to_complex, exact_value
from stability.spec.measures import MEASURES as REGISTRY
from stability.spec.toys import PSI, THETA, dirac_gan, lemma3_system, psi_x2_toy
from stability.symbolic.field import SymbolicField

#: The measures of Table 1 of ``003_…`` that the lemmas are checked for.
MEASURES = ("p_d", "p_g", "mu_gp", "mu_mid", "mu_anchor")


@dataclass
class LemmaRow:
    """One engine-vs-closed-form comparison."""

    lemma: str
    system: str
    measure: str
    equilibrium: str
    jacobian: list[list[float]]
    eigenvalues: list[complex]
    classification: str
    closed_form: list[complex]
    closed_form_jacobian: list[list[float]] | None
    agree: bool
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "lemma": self.lemma,
            "system": self.system,
            "measure": self.measure,
            "equilibrium": self.equilibrium,
            "jacobian": self.jacobian,
            "eigenvalues": [[v.real, v.imag] for v in self.eigenvalues],
            "classification": self.classification,
            "closed_form": [[v.real, v.imag] for v in self.closed_form],
            "closed_form_jacobian": self.closed_form_jacobian,
            "agree": self.agree,
            "note": self.note,
        }


@dataclass
class LemmaReport:
    rho: float
    anchor: float
    rows: list[LemmaRow] = field(default_factory=list)

    @property
    def all_agree(self) -> bool:
        return all(row.agree for row in self.rows)

    def to_dict(self) -> dict:
        return {
            "rho": self.rho,
            "anchor": self.anchor,
            "all_agree": self.all_agree,
            "rows": [r.to_dict() for r in self.rows],
        }

    def format_table(self) -> str:
        """A plain-text table, one row per check."""
        header = ("lemma", "measure", "equilibrium", "Jacobian", "eigenvalues (engine)", "closed form", "agree")
        lines = [header]
        for r in self.rows:
            lines.append(
                (
                    r.lemma,
                    r.measure,
                    r.equilibrium,
                    _fmt_matrix(r.jacobian),
                    _fmt_eigs(r.eigenvalues),
                    _fmt_eigs(r.closed_form),
                    "yes" if r.agree else "NO",
                )
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
        out.insert(1, "  ".join("-" * w for w in widths))
        notes = [f"  [{i + 1}] {r.lemma} {r.measure}: {r.note}" for i, r in enumerate(self.rows) if r.note]
        verdict = "all checks agree" if self.all_agree else "SOME CHECKS DISAGREE"
        return "\n".join(
            out + ([""] + notes if notes else []) + ["", f"rho = {self.rho:g}, anchor A = {self.anchor:g}: {verdict}"]
        )


# ---- closed forms (hand-derived; independent of the engine) ---------------------


def lemma2_second_moment(measure: str, anchor: sympy.Expr) -> sympy.Expr:
    """E_μ*[x²] at θ* = ±1, where p_d = p_θ* = U(−1, 1) (E[x] = 0, E[x²] = 1/3), α ~ U(0, 1).

    μ_GP: E[α²]/3 + E[(1−α)²]/3 = 1/9 + 1/9; μ_mid: (1/3 + 1/3)/4;
    μ_g,anc: E[α²]A² + E[(1−α)²]/3 = A²/3 + 1/9 (cross terms vanish as E[x_g] = 0).
    """
    third = sympy.Rational(1, 3)
    return {
        "p_d": third,
        "p_g": third,
        "mu_gp": sympy.Rational(2, 9),
        "mu_mid": sympy.Rational(1, 6),
        "mu_anchor": anchor**2 / 3 + sympy.Rational(1, 9),
    }[measure]


def lemma3_second_moment(measure: str, anchor: sympy.Expr, theta: sympy.Expr) -> sympy.Expr:
    """E_μ[x²] with p_d = δ₀, p_θ = δ_θ: x̂ = 0, θ, (1−α)θ, θ/2, αA + (1−α)θ."""
    return {
        "p_d": sympy.Integer(0),
        "p_g": theta**2,
        "mu_gp": theta**2 / 3,
        "mu_mid": theta**2 / 4,
        "mu_anchor": anchor**2 / 3 + anchor * theta / 3 + theta**2 / 3,
    }[measure]


def _sqrt(value: sympy.Expr) -> sympy.Expr:
    """``sqrt`` of a closed form; a rational whose factorisation sympy gets wrong (ρ = 1e-10 gives one: "29999999987
    is not a prime factor of 899999999999999999831", sympy 1.14) is taken in 60-digit floating point instead, far
    below the checks' tolerance."""
    try:
        return sympy.sqrt(value)
    except ValueError:
        return sympy.sqrt(sympy.Float(value, 60))


def _eigs_2x2(J: sympy.Matrix) -> list[complex]:
    trace, det = J.trace(), J.det()
    root = _sqrt(trace**2 / 4 - det)
    return [exact_to_complex(trace / 2 - root), exact_to_complex(trace / 2 + root)]


# ---- the checks ----------------------------------------------------------------


def lemma_checks(rho: float = 1.0, anchor: float = 2.0, tol: float = 1e-9) -> LemmaReport:
    """Run every lemma check for one ρ and anchor A (numbers, rationalised for exactness)."""
    r = exact_value(rho, "rho")
    A = exact_value(anchor, "anchor")
    report = LemmaReport(float(rho), float(anchor))
    rows = report.rows

    # Lemma 1, probability measures (M = 1) and a finite measure with M(0,0) = 2.
    for measure in MEASURES:
        rows.append(_lemma1_row(measure, r, A, mass=None, tol=tol))
    rows.append(_lemma1_row("mu_gp", r, A, mass=2 + PSI**2, tol=tol))
    rows.append(_lemma1_lyapunov_row(r, A))
    rows.append(_lemma1_basin_row())
    # Lemma 2 at (0, +1) and (0, -1): one flow and one equilibrium search per measure serve both points.
    for measure in MEASURES:
        derived = _derive(psi_x2_toy(measure, rho=r, anchor=A))
        for theta_star in (1, -1):
            rows.append(_lemma2_row(derived, measure, r, A, theta_star, tol))
    # Lemma 3.
    for measure in MEASURES:
        rows.append(_lemma3_row(measure, r, A, tol))
    rows.append(_mescheder_row(r, tol))
    return report


def _derive(system) -> tuple[SymbolicField, list]:
    """The engine's flow for ``system`` and its own equilibria, to be read at one point or more."""
    field_ = SymbolicField(system)
    found, _ = find_equilibria(field_)
    return field_, found


def _engine_at(derived: tuple[SymbolicField, list], point: dict[str, float], tol: float):
    """Of the engine's equilibria (:func:`_derive`), the one matching ``point``, with J and eigenvalues there."""
    field_, found = derived
    match = next((e for e in found if all(abs(e.point[k] - v) < 1e-9 for k, v in point.items())), None)
    J = field_.jacobian(point)
    return field_, match, J, _exact_eigs(field_, point)


def _exact_eigs(field_: SymbolicField, point: dict[str, float]) -> np.ndarray:
    """Eigenvalues of the engine's exact Jacobian (no √ε error at double eigenvalues)."""
    return np.array([exact_to_complex(v) for v in field_.eigenvalues_exact(point)])


def _agree(eigs, closed, J=None, closed_J=None, tol=1e-9) -> bool:
    closed = np.sort_complex(np.array(closed, dtype=complex))
    eigs = np.sort_complex(np.array(eigs, dtype=complex))
    ok = len(eigs) == len(closed) and bool(np.allclose(eigs, closed, atol=tol, rtol=0))
    if closed_J is not None:
        ok = ok and bool(np.allclose(J, np.array(closed_J, dtype=float), atol=tol, rtol=0))
    return ok


def _row(lemma, system, measure, equilibrium, J, eigs, closed, closed_J, agree, note="") -> LemmaRow:
    return LemmaRow(
        lemma,
        system.name,
        REGISTRY[measure].label,
        equilibrium,
        (np.asarray(J, dtype=float) + 0.0).tolist(),
        [complex(v) + 0.0 for v in eigs],  # + 0.0 turns -0.0 into 0.0 for display
        classify(eigs)[0],
        [complex(v) + 0.0 for v in closed],
        None if closed_J is None else (np.asarray(closed_J, dtype=float) + 0.0).tolist(),
        agree,
        note,
    )


def _lemma1_row(measure, rho, A, mass, tol):
    system = dirac_gan(measure, rho=rho, mass=mass, anchor=A)
    _, match, J, eigs = _engine_at(_derive(system), {"psi": 0.0, "theta": 0.0}, tol)
    M0 = sympy.sympify(mass).subs({PSI: 0, THETA: 0}) if mass is not None else 1
    closed_J = sympy.Matrix([[-rho * M0, -1], [1, 0]])
    closed = _eigs_2x2(closed_J)
    agree = match is not None and _agree(eigs, closed, J, closed_J.tolist(), tol)
    label = "Lemma 1" if mass is None else f"Lemma 1 (M={mass})"
    return _row(
        label,
        system,
        measure,
        "(0, 0)",
        J,
        eigs,
        closed,
        closed_J.tolist(),
        agree,
        "" if match else "engine did not find (0, 0)",
    )


def _lemma1_lyapunov_row(rho, A):
    """M = ψ² (M(0,0) = 0, ψ∂_ψM = 2ψ² ≥ 0): J is a center; L̇ = −ρψ²(2M + ψM_ψ) = −4ρψ⁴."""
    mass = PSI**2
    system = dirac_gan("mu_gp", rho=rho, mass=mass, anchor=A)
    field_, match, J, eigs = _engine_at(_derive(system), {"psi": 0.0, "theta": 0.0}, 0)
    closed_J = [[0, -1], [1, 0]]
    check = lyapunov_check(field_, {"psi": 0.0, "theta": 0.0}, radius=0.5)
    closed_ldot = -rho * PSI**2 * (2 * mass + PSI * sympy.diff(mass, PSI))
    ldot_matches = sympy.simplify(check.derivative_expr - closed_ldot) == 0
    agree = match is not None and _agree(eigs, [-1j, 1j], J, closed_J) and ldot_matches and check.nonpositive
    note = (
        f"linearisation inconclusive; L = psi^2 + theta^2, L̇ = {check.derivative} "
        f"(closed form {sympy.factor(closed_ldot)}); {check.verdict}"
    )
    return _row("Lemma 1 (M=psi**2)", system, "mu_gp", "(0, 0)", J, eigs, [-1j, 1j], closed_J, agree, note)


def _lemma1_basin_row():
    """M = 1 − ψ² − θ²: 2M + ψM_ψ = 2 − 4ψ² − 2θ² ≥ 0 on B_η iff η ≤ 1/√2, so R = 1/√2."""
    mass = 1 - PSI**2 - THETA**2
    system = dirac_gan("mu_gp", rho=1, mass=mass)
    field_, match, J, eigs = _engine_at(_derive(system), {"psi": 0.0, "theta": 0.0}, 0)
    R = lemma1_basin_radius(mass, PSI, THETA)
    closed_R = 1 / np.sqrt(2)
    agree = match is not None and abs(R - closed_R) < 1e-6 and _agree(eigs, _eigs_2x2(sympy.Matrix([[-1, -1], [1, 0]])))
    note = f"basin radius R = {R:.9f} (closed form 1/sqrt(2) = {closed_R:.9f})"
    return _row(
        "Lemma 1 basin (M=1-psi^2-theta^2)",
        system,
        "mu_gp",
        "(0, 0)",
        J,
        eigs,
        _eigs_2x2(sympy.Matrix([[-1, -1], [1, 0]])),
        None,
        agree,
        note,
    )


def _lemma2_row(derived, measure, rho, A, theta_star, tol):
    system = derived[0].system
    _, match, J, eigs = _engine_at(derived, {"psi": 0.0, "theta": float(theta_star)}, tol)
    m2 = lemma2_second_moment(measure, A)
    closed_J = [[-4 * rho * m2, -sympy.Rational(2, 3) * theta_star], [sympy.Rational(2, 3) * theta_star, 0]]
    root = _sqrt(4 * rho**2 * m2**2 - sympy.Rational(4, 9))
    closed = [exact_to_complex(-2 * rho * m2 - root), exact_to_complex(-2 * rho * m2 + root)]
    agree = match is not None and _agree(eigs, closed, J, closed_J, tol)
    return _row(
        "Lemma 2",
        system,
        measure,
        f"(0, {theta_star})",
        J,
        eigs,
        closed,
        closed_J,
        agree,
        "" if match else f"engine did not find (0, {theta_star})",
    )


def _lemma3_row(measure, rho, A, tol):
    system = lemma3_system(measure, rho=rho, anchor=A)
    field_, found = _derive(system)
    m2 = lemma3_second_moment(measure, A, THETA)
    # ψ̇ = −θ² − 4ρψ E_μ[x²](θ), θ̇ = 2ψθ (Appendix B with a general measure).
    closed_field = sympy.Matrix([-(THETA**2) - 4 * rho * PSI * m2, 2 * PSI * THETA])
    closed_J_expr = closed_field.jacobian([PSI, THETA])
    if m2.subs(THETA, 0) == 0:
        # Continuum θ = 0; linearise at the representative point a = −1: J = [[0, 0], [0, 2a]].
        a = -1
        point = {"psi": float(a), "theta": 0.0}
        on_axis = any(e.kind == "continuum" and e.exact == {"theta": "0"} for e in found)
        J = field_.jacobian(point)
        eigs = _exact_eigs(field_, point)
        closed_J = closed_J_expr.subs({PSI: a, THETA: 0})
        closed = [0, 2 * a]
        agree = on_axis and _agree(eigs, closed, J, closed_J.tolist(), tol)
        note = "continuum theta = 0 (psi free); shown at psi = -1 (eigenvalues 0, 2a)"
        if measure == "mu_gp":
            nullclines = sorted(sympy.solve(sympy.cancel(field_.exprs[0] / THETA**2), PSI))
            closed_null = [-3 / (4 * rho)]
            null_ok = len(nullclines) == len(closed_null) and all(
                sympy.simplify(v - w) == 0 for v, w in zip(nullclines, closed_null)
            )  # exact: nsimplify would round a nullcline at -3/(4·10³⁰⁰) to 0
            agree = agree and null_ok
            note += f"; psi-nullcline psi = {nullclines} (closed form -3/(4 rho) = {closed_null})"
        equilibrium = "theta = 0 (psi free)"
        if not on_axis:
            note += "; engine did not recognise the continuum"
    else:
        point = {"psi": 0.0, "theta": 0.0}
        match = next(
            (e for e in found if e.kind == "isolated" and abs(e.point["psi"]) + abs(e.point["theta"]) < 1e-9), None
        )
        J = field_.jacobian(point)
        eigs = _exact_eigs(field_, point)
        closed_J = closed_J_expr.subs({PSI: 0, THETA: 0})
        closed = [exact_to_complex(v) for v in (closed_J[0, 0], 0)]
        agree = match is not None and len(found) == 1 and _agree(eigs, closed, J, closed_J.tolist(), tol)
        equilibrium = "(0, 0)"
        note = "isolated: E_mu[x^2] > 0 at theta = 0 pins psi = 0; J has a zero eigenvalue (non-hyperbolic)"
    return _row(
        "Lemma 3",
        system,
        measure,
        equilibrium,
        J,
        eigs,
        closed,
        np.asarray(closed_J.tolist(), dtype=float),
        agree,
        note,
    )


def _mescheder_row(rho, tol):
    """Mescheder et al. 2018, Dirac GAN + R1: J = [[−ρ, −f'(0)], [f'(0), 0]], f(t) = −log(1+e^{−t}), f'(0) = ½."""
    system = dirac_gan("p_d", rho=rho, link="logistic")
    _, match, J, eigs = _engine_at(_derive(system), {"psi": 0.0, "theta": 0.0}, tol)
    half = sympy.Rational(1, 2)
    closed_J = sympy.Matrix([[-rho, -half], [half, 0]])
    closed = _eigs_2x2(closed_J)
    agree = match is not None and _agree(eigs, closed, J, closed_J.tolist(), tol)
    return _row("Mescheder 2018 (R1, logistic)", system, "p_d", "(0, 0)", J, eigs, closed, closed_J.tolist(), agree)


def _fmt_matrix(J) -> str:
    return "[" + "; ".join(" ".join(f"{v + 0.0:.4g}" for v in row) for row in J) + "]"


def _fmt_eigs(values) -> str:
    parts = []
    for v in values:
        v = complex(v) + 0.0  # no "-0"
        if abs(v.imag) < 1e-12:
            parts.append(f"{v.real:.5g}")
        else:
            parts.append(f"{v.real:.5g}{v.imag:+.5g}i")
    return "{" + ", ".join(parts) + "}"
