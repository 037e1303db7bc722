"""The toy systems of ``003_…`` as ready :class:`~stability.spec.system.GanSystem` specs.

* :func:`dirac_gan` — Definition 5 / Lemma 1: D = ψx, p_d = δ₀, p_θ = δ_θ.
* :func:`psi_x2_toy` — Lemma 2 (Nagarajan & Kolter 2017's example):
  D = ψx², p_d = U(−1, 1), p_θ = law of θz with z ~ U(−1, 1), i.e. U(−|θ|, |θ|).
* :func:`lemma3_system` — Lemma 3 (Appendix B): D₂ = ψx², p_d = δ₀, p_θ = δ_θ.

Each takes the penalty as data: a measure (object or registry name, or
``None`` for the unpenalised WGAN), a form, ρ, an optional mass M(ψ, θ) and a
loss link.
"""

from __future__ import annotations

from typing import Any

import sympy

from stability.spec.expressions import exact_value, parse
from stability.spec.laws import dirac, pushforward, uniform
from stability.spec.links import LossLink, get_link
from stability.spec.measures import PenaltyMeasure, measure_from, weighted
from stability.spec.penalties import PenaltyForm, get_form
from stability.spec.system import GanSystem, Penalty
from stability.util.errors import UserError, unknown_name

X = sympy.Symbol("x", real=True)
PSI = sympy.Symbol("psi", real=True)
THETA = sympy.Symbol("theta", real=True)
Z = sympy.Symbol("z", real=True)

#: The anchor A used for μ_g,anc on the 1-D toys when none is given.
DEFAULT_ANCHOR = 2


def make_penalty(
    measure: PenaltyMeasure | str | None,
    rho: Any = 1,
    form: PenaltyForm | str = "simple",
    mass: Any = None,
    anchor: Any = DEFAULT_ANCHOR,
) -> Penalty | None:
    """A :class:`Penalty` from names or objects; ``None`` when ``measure`` is ``None``."""
    if measure is None:
        return None
    if isinstance(measure, str):
        measure = measure_from(measure, anchor)
    if mass is not None:
        if isinstance(mass, str):  # parsed by the whitelist parser, never eval-ed
            mass = parse(mass, {"psi": PSI, "theta": THETA}, what="penalty mass")
        measure = weighted(measure, mass)
    form = get_form(form) if isinstance(form, str) else form
    rho = exact_value(rho, "rho")
    return Penalty(measure, form, rho)


def _scalar_system(name: str, discriminator, data, generator, measure, rho, form, mass, link, anchor) -> GanSystem:
    """A system with x, ψ, θ all scalar, as the three toys of the paper are."""
    link = get_link(link) if isinstance(link, str) else link
    penalty = make_penalty(measure, rho, form, mass, anchor)
    return GanSystem((X,), (PSI,), (THETA,), discriminator, data, generator, penalty, link, name=name)


def dirac_gan(
    measure: PenaltyMeasure | str | None = "p_d",
    rho: Any = 1,
    form: str = "simple",
    mass: Any = None,
    link: LossLink | str = "identity",
    anchor: Any = DEFAULT_ANCHOR,
) -> GanSystem:
    """The Dirac GAN (Definition 5): J(0, 0) = [[−ρM(0,0), −f'(0)], [f'(0), 0]] (Lemma 1)."""
    return _scalar_system("Dirac GAN", PSI * X, dirac(0), dirac(THETA), measure, rho, form, mass, link, anchor)


def psi_x2_toy(
    measure: PenaltyMeasure | str | None = "p_d",
    rho: Any = 1,
    form: str = "simple",
    mass: Any = None,
    link: LossLink | str = "identity",
    anchor: Any = DEFAULT_ANCHOR,
) -> GanSystem:
    """The ψx² toy of Lemma 2: equilibria (0, ±1), λ = −2ρE[x²] ± √(4ρ²E[x²]² − 4/9).

    p_θ = U(−|θ|, |θ|) is written as the law of θz, z ~ U(−1, 1), so θ-gradients are pathwise.
    """
    generator = pushforward(uniform(-1, 1), THETA * Z, [Z])
    return _scalar_system("psi x^2 toy", PSI * X**2, uniform(-1, 1), generator, measure, rho, form, mass, link, anchor)


def lemma3_system(
    measure: PenaltyMeasure | str | None = "mu_gp",
    rho: Any = 1,
    form: str = "simple",
    mass: Any = None,
    link: LossLink | str = "identity",
    anchor: Any = DEFAULT_ANCHOR,
) -> GanSystem:
    """Lemma 3: D₂ = ψx² on the Dirac GAN; with μ_GP the whole ψ-axis is equilibria."""
    return _scalar_system("Lemma 3 system", PSI * X**2, dirac(0), dirac(THETA), measure, rho, form, mass, link, anchor)


#: Toy systems by name, for the CLI.
TOYS = {"dirac": dirac_gan, "psi_x2": psi_x2_toy, "lemma3": lemma3_system}


def get_toy(name: str, **kwargs: Any) -> GanSystem:
    if name not in TOYS:
        raise unknown_name("toy system", name, list(TOYS))
    try:
        return TOYS[name](**kwargs)
    except TypeError as exc:
        raise UserError(f"toy {name}: {exc}") from None
