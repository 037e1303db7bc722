"""Cached symbolic fields of the toy systems, and the (ψ, θ)-plane checks.

Deriving a field costs from milliseconds (polynomial penalties) to seconds
(the WGAN-GP form, whose expectation needs quadrature); figures reuse one
field per (toy, measure, form, ρ, anchor, mass).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sympy

from stability.spec.expressions import exact_value
from stability.spec.measures import MEASURES
from stability.spec.system import GanSystem
from stability.spec.toys import get_toy
from stability.symbolic.field import SymbolicField
from stability.util.errors import UserError

#: Display names of the toy systems of ``003_…``.
TOY_TITLES = {"dirac": "Dirac GAN", "psi_x2": r"$\psi x^2$ toy (Lemma 2)", "lemma3": "Lemma 3 system"}

#: Display names of the penalty measures (Table 1 of ``003_…``).
MEASURE_TITLES = {None: "no penalty (WGAN)", **{name: f"${kind.tex}$" for name, kind in MEASURES.items()}}


def _key(value: Any) -> str | None:
    return None if value is None else str(exact_value(value) if isinstance(value, (int, float)) else value)


@lru_cache(maxsize=128)
def _cached_field(
    toy: str, measure: str | None, form: str, rho: str, anchor: str, mass: str | None, link: str
) -> SymbolicField:
    system = get_toy(
        toy, measure=measure, rho=sympy.sympify(rho), form=form, mass=mass, anchor=sympy.sympify(anchor), link=link
    )
    return SymbolicField(system)


def toy_field(
    toy: str,
    measure: str | None = None,
    rho: Any = 1,
    form: str = "simple",
    anchor: Any = 2,
    mass: str | None = None,
    link: str = "identity",
) -> SymbolicField:
    """The field of a toy of ``003_…`` (``"dirac"``, ``"psi_x2"``, ``"lemma3"``), cached.

    Args:
        toy: toy name (see :data:`stability.spec.toys.TOYS`).
        measure: penalty measure name, or ``None`` for the unpenalised WGAN.
        rho: penalty weight ρ (a number or a sympy expression).
        form: penalty form name (``"simple"``, ``"gp"``, ...).
        anchor: the anchor A of μ_g,anc.
        mass: an optional mass M(ψ, θ) as a string, e.g. ``"1 - psi**2 - theta**2"``.
        link: loss link name.
    """
    return _cached_field(toy, measure, form, _key(rho), _key(anchor), mass, link)


def as_field(spec: SymbolicField | GanSystem) -> SymbolicField:
    """A field from a field or a :class:`GanSystem`."""
    if isinstance(spec, SymbolicField):
        return spec
    if isinstance(spec, GanSystem):
        return SymbolicField(spec)
    raise UserError(f"expected a GanSystem or a SymbolicField, got {type(spec).__name__}")


def require_plane(field_: SymbolicField) -> tuple[str, str]:
    """The two parameter names of a flow in the (ψ, θ) plane; a clear error otherwise."""
    names = [p.name for p in field_.params]
    if len(names) != 2:
        raise UserError(
            f"phase portraits need one discriminator and one generator parameter; this system has "
            f"{len(names)} ({', '.join(names)})"
        )
    return names[0], names[1]


def is_nonsmooth(field_: SymbolicField) -> bool:
    """True when the penalty form has kinks (e.g. WGAN-GP at ∇ₓD = 0): the flow may be discontinuous."""
    penalty = field_.system.penalty
    return penalty is not None and bool(penalty.form.kinks)


def nonsmooth_label(field_: SymbolicField) -> str:
    penalty = field_.system.penalty
    if penalty is None or not penalty.form.kinks:
        return ""
    kinks = ", ".join(f"{k:g}" for k in penalty.form.kinks)
    return f"non-smooth: {penalty.form.name} form has a kink at $\\|\\nabla_x D\\| = {kinks}$ (sign(0) = 0 used)"
