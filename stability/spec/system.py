"""The GAN system specification every engine reads.

A :class:`GanSystem` is the tuple (D(x; ψ), p_d, p_θ, μ, φ, ρ, f) of the SGP
μ-WGAN (Definition 4 of ``003_…``, generalised to the penalty forms and loss
links of the other papers). It holds sympy objects only and validates itself
on construction, so a mistake surfaces as one clear
:class:`~stability.util.errors.UserError` before any derivation runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sympy

from stability.spec.expressions import exact_number
from stability.spec.laws import Law
from stability.spec.links import LINKS, LossLink
from stability.spec.measures import PenaltyMeasure
from stability.spec.penalties import SIMPLE, PenaltyForm
from stability.util.errors import UserError, checked_float


@dataclass(frozen=True)
class Penalty:
    """(ρ/2) · E_μ[φ(‖∇ₓD‖²)]: where (measure), what (form) and how much (rho)."""

    measure: PenaltyMeasure
    form: PenaltyForm = SIMPLE
    rho: sympy.Expr = sympy.Integer(1)

    def describe(self) -> str:
        form = "" if self.form is SIMPLE else f", form={self.form.name}"
        return f"{self.measure.describe()}{form}, rho={self.rho}"


@dataclass(frozen=True)
class GanSystem:
    """A GAN whose simultaneous gradient flow the engines derive.

    Attributes:
        x: data-space variables.
        psi: discriminator parameters ψ.
        theta: generator parameters θ.
        discriminator: D(x; ψ) as an expression in ``x`` and ``psi``.
        data: p_d, a parameter-free :class:`~stability.spec.laws.Law`.
        generator: p_θ, a law whose points may depend on θ (a pushforward G(z; θ)).
        penalty: the gradient penalty, or ``None`` for the plain GAN.
        link: the loss link f (identity = WGAN).
        name: a label for reports.
    """

    x: tuple[sympy.Symbol, ...]
    psi: tuple[sympy.Symbol, ...]
    theta: tuple[sympy.Symbol, ...]
    discriminator: sympy.Expr
    data: Law
    generator: Law
    penalty: Penalty | None = None
    link: LossLink = field(default_factory=lambda: LINKS["identity"])
    name: str = "system"

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", tuple(self.x))
        object.__setattr__(self, "psi", tuple(self.psi))
        object.__setattr__(self, "theta", tuple(self.theta))
        object.__setattr__(self, "discriminator", sympy.sympify(self.discriminator))
        self._validate()

    @property
    def params(self) -> tuple[sympy.Symbol, ...]:
        """(ψ, θ), the state of the gradient flow, in that order."""
        return self.psi + self.theta

    @property
    def constants(self) -> tuple[sympy.Symbol, ...]:
        """Symbolic constants left free (a symbolic ρ)."""
        if self.penalty is None:
            return ()
        return tuple(sorted(sympy.sympify(self.penalty.rho).free_symbols, key=lambda s: s.name))

    def bind(self, constants: Mapping[str, Any] | None = None, rho: Any = None) -> GanSystem:
        """The one way to give free constants (and ρ) values: a new, validated system.

        Args:
            constants: values of the free constants by name (e.g. ``{"rho": 0.375}`` for a
                symbolic ρ); numbers are made exact (:func:`~stability.spec.expressions.exact_number`) so exact
                results stay exact, and are refused when not finite.
            rho: a new penalty weight, replacing the spec's (numeric or symbolic) ρ.

        Raises:
            UserError: a name that is not a free constant, a value that is not a finite
                number, ρ ≤ 0 once bound, or a ρ for a system without a penalty.
        """
        values = dict(constants or {})
        by_name = {s.name: s for s in self.constants}
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            free = ", ".join(by_name) or "none"
            raise UserError(f"unknown constant(s) {', '.join(unknown)}; free constants: {free}")
        if self.penalty is None:
            if rho is not None:
                raise UserError("rho: the spec has no penalty to weight")
            return self
        mapping = {by_name[k]: _number(v, k) for k, v in values.items()}
        weight = _number(rho, "rho") if rho is not None else sympy.sympify(self.penalty.rho).xreplace(mapping)
        return replace(self, penalty=replace(self.penalty, rho=weight))  # constants live in ρ only (_validate)

    def with_penalty(self, penalty: Penalty | None, name: str | None = None) -> GanSystem:
        return replace(self, penalty=penalty, name=name or self.name)

    def describe(self) -> str:
        penalty = self.penalty.describe() if self.penalty else "none"
        return (
            f"{self.name}: D = {self.discriminator}, p_d = {self.data}, p_theta = {self.generator}, "
            f"penalty = {penalty}, link = {self.link.name}"
        )

    def _validate(self) -> None:
        if not self.x or not self.psi or not self.theta:
            raise UserError("x, psi and theta each need at least one variable")
        names = [s.name for s in self.x + self.psi + self.theta]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise UserError(f"variable names used twice: {', '.join(duplicates)}")
        _only(self.discriminator.free_symbols, set(self.x) | set(self.psi), "discriminator D(x; psi)")
        if self.data.dim != len(self.x):
            raise UserError(f"data law {self.data} has dimension {self.data.dim}, but x has {len(self.x)} variables")
        if self.generator.dim != len(self.x):
            raise UserError(
                f"generator law {self.generator} has dimension {self.generator.dim}, but x has {len(self.x)} variables"
            )
        _only(self.data.parameters(), set(), "data law p_d")
        _only(self.generator.parameters(), set(self.theta), "generator law p_theta")
        if self.penalty is not None:
            rho = sympy.sympify(self.penalty.rho)
            if rho.is_number and not rho > 0:
                raise UserError(f"rho must be > 0, got {rho}")
            if not rho.is_number and any(s.is_positive is not True for s in rho.free_symbols):
                raise UserError(f"a symbolic rho must be built from positive symbols, got {rho}")
            _only(sympy.sympify(self.penalty.measure.mass).free_symbols, set(self.params), "penalty mass M(psi, theta)")


def _number(value: Any, name: str) -> sympy.Expr:
    """A finite real number as an exact sympy number, or a one-line error naming ``name``."""
    if isinstance(value, sympy.Basic):
        if not value.is_number or value.is_real is not True:
            raise UserError(f"{name} must be a finite real number, got {value}")
        checked_float(value, name)  # representable in float64, as the spec's own numbers are
        return value
    return exact_number(value, name)  # the one rule of spec numbers: finite, exact, no rounding to 0


def _only(found: set[Any], allowed: set[Any], what: str) -> None:
    extra = {s for s in found if s not in allowed}
    if extra:
        names = ", ".join(sorted(str(s) for s in extra))
        allowed_names = ", ".join(sorted(str(s) for s in allowed)) or "none"
        raise UserError(f"{what} uses undeclared symbol(s) {names} (allowed here: {allowed_names})")
