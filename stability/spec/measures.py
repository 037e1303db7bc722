"""Penalty measures μ as sampling rules (Table 1 of Kim et al., ``003_…``).

A measure is *where* the gradient of D is penalised: a rule
``x̂ = h(x_d, x_g, α, A)`` with ``x_d ~ p_d``, ``x_g ~ p_θ`` and ``α`` drawn
independently from its own law, plus an optional mass ``M(ψ, θ)`` that makes μ a
finite (not necessarily probability) measure, as in Lemma 1.

The rule is plain arithmetic, so the same function builds the symbolic law of
x̂ (:meth:`PenaltyMeasure.law`) and torch minibatch samples
(:meth:`PenaltyMeasure.sample`) — the trainer and the analysis share it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import sympy

from stability.spec.errors import SpecError, unknown_name
from stability.spec.laws import Branch, Law, dirac, uniform

Rule = Callable[[Any, Any, Any, Any], Any]


@dataclass(frozen=True)
class PenaltyMeasure:
    """A penalty measure μ = M(ψ, θ) · law(h(x_d, x_g, α, A)).

    Attributes:
        name: registry name, e.g. ``"mu_gp"``.
        rule: ``h(x_d, x_g, alpha, anchor)``, applied componentwise; works on
            sympy expressions and on broadcastable torch tensors alike.
        alpha: the law of α on R, or ``None`` when the rule ignores it.
        uses_data, uses_generator: which samples the rule reads.
        anchor: the fixed anchor point A, or ``None``.
        mass: M(ψ, θ), the total mass of μ (1 for probability measures).
    """

    name: str
    rule: Rule
    alpha: Law | None = None
    uses_data: bool = True
    uses_generator: bool = True
    anchor: tuple[sympy.Expr, ...] | None = None
    mass: sympy.Expr = sympy.Integer(1)

    @property
    def is_probability(self) -> bool:
        return sympy.sympify(self.mass) == 1

    def describe(self) -> str:
        text = self.name
        if self.anchor is not None:
            text += f"(A={list(self.anchor) if len(self.anchor) > 1 else self.anchor[0]})"
        if not self.is_probability:
            text += f" with mass M={self.mass}"
        return text

    def law(self, data: Law, generator: Law) -> Law:
        """The probability law of x̂ (the normalised μ̄; the mass is kept apart).

        x_d, x_g and α are independent (product coupling), as in Table 1.
        """
        if self.uses_data and self.uses_generator and data.dim != generator.dim:
            raise SpecError(f"data law has dimension {data.dim} but generator law has {generator.dim}")
        dim = data.dim if self.uses_data else generator.dim
        anchor = self.anchor_vector(dim)
        data_branches = data.fresh().branches if self.uses_data else (None,)
        gen_branches = generator.fresh().branches if self.uses_generator else (None,)
        alpha_branches = self.alpha.fresh().branches if self.alpha is not None else (None,)
        branches = []
        for bd in data_branches:
            for bg in gen_branches:
                for ba in alpha_branches:
                    parts = [b for b in (bd, bg, ba) if b is not None]
                    a = ba.point[0] if ba is not None else None
                    point = tuple(
                        sympy.expand(
                            self.rule(
                                bd.point[i] if bd is not None else None,
                                bg.point[i] if bg is not None else None,
                                a,
                                anchor[i] if anchor is not None else None,
                            )
                        )
                        for i in range(dim)
                    )
                    branches.append(
                        Branch(sympy.Mul(*[b.weight for b in parts]), point, tuple(v for b in parts for v in b.bases))
                    )
        return Law(tuple(branches), f"{self.describe()} over p_d={data}, p_g={generator}")

    def sample(self, x_data: Any, x_gen: Any, generator: Any = None, anchor: Any = None) -> Any:
        """Minibatch points x̂ for a gradient penalty, as a torch tensor.

        Args:
            x_data: real samples, shape ``(B, ...)``.
            x_gen: generated samples, shape ``(B, ...)``; pass them detached.
            generator: torch generator for α (one α per sample).
            anchor: a tensor broadcastable to one sample; overrides ``self.anchor``
                (e.g. a fixed random image for μ_g,anc on CIFAR-10).
        """
        import torch

        reference = x_data if x_data is not None else x_gen
        batch = reference.shape[0]
        alpha = None
        if self.alpha is not None:
            shape = (batch,) + (1,) * (reference.dim() - 1)
            alpha = self.alpha.sample(batch, generator=generator, dtype=reference.dtype).reshape(shape)
            alpha = alpha.to(reference.device)
        if anchor is None and self.anchor is not None:
            values = [float(a) for a in self.anchor]
            anchor = torch.tensor(
                values if len(values) > 1 else values[0], dtype=reference.dtype, device=reference.device
            )
        return self.rule(x_data, x_gen, alpha, anchor)

    def anchor_vector(self, dim: int) -> tuple[sympy.Expr, ...] | None:
        """The anchor A as ``dim`` components (a scalar anchor is broadcast), or ``None``."""
        if self.anchor is None:
            return None
        if len(self.anchor) == 1:
            return self.anchor * dim
        if len(self.anchor) != dim:
            raise SpecError(f"anchor {list(self.anchor)} has {len(self.anchor)} components but x has {dim}")
        return self.anchor


def _data_rule(xd, xg, alpha, anchor):
    return xd


def _gen_rule(xd, xg, alpha, anchor):
    return xg


def _interpolation_rule(xd, xg, alpha, anchor):
    return alpha * xd + (1 - alpha) * xg


def _anchor_rule(xd, xg, alpha, anchor):
    return alpha * anchor + (1 - alpha) * xg


def p_d() -> PenaltyMeasure:
    """μ = p_d: x̂ = x_d (the data manifold; R1 of Mescheder et al. 2018)."""
    return PenaltyMeasure("p_d", _data_rule, uses_generator=False)


def p_g() -> PenaltyMeasure:
    """μ = p_θ: x̂ = x_g (the sample manifold; R2)."""
    return PenaltyMeasure("p_g", _gen_rule, uses_data=False)


def interpolation(alpha: Law, name: str = "interpolation") -> PenaltyMeasure:
    """x̂ = α x_d + (1 − α) x_g with α drawn from ``alpha`` (a law on R)."""
    if not isinstance(alpha, Law) or alpha.dim != 1:
        raise SpecError("interpolation(alpha): alpha must be a law on R, e.g. uniform(0, 1)")
    return PenaltyMeasure(name, _interpolation_rule, alpha=alpha)


def mu_gp() -> PenaltyMeasure:
    """μ_GP: x̂ = α x_d + (1 − α) x_g, α ~ U(0, 1) (the WGAN-GP sampling)."""
    return interpolation(uniform(0, 1), "mu_gp")


def mu_mid() -> PenaltyMeasure:
    """μ_mid: x̂ = ½ x_d + ½ x_g."""
    return interpolation(dirac(sympy.Rational(1, 2)), "mu_mid")


def mu_anchor(anchor: Any, alpha: Law | None = None) -> PenaltyMeasure:
    """μ_g,anc: x̂ = α A + (1 − α) x_g with a fixed anchor A, α ~ U(0, 1)."""
    values = anchor if isinstance(anchor, (list, tuple)) else [anchor]
    try:
        vector = tuple(sympy.nsimplify(sympy.sympify(v, strict=True)) for v in values)
    except (sympy.SympifyError, TypeError):
        raise SpecError(f"mu_anchor: the anchor must be a number or a list of numbers, got {anchor!r}") from None
    return PenaltyMeasure("mu_anchor", _anchor_rule, alpha=alpha or uniform(0, 1), anchor=vector)


def weighted(measure: PenaltyMeasure, mass: Any) -> PenaltyMeasure:
    """The finite measure M(ψ, θ) · μ (Lemma 1); M may depend on ψ and θ."""
    return replace(measure, mass=sympy.sympify(mass, strict=True) * measure.mass)


#: Measures by name, as used in spec files and by the trainer. ``mu_anchor``
#: takes the anchor as argument; ``mu_g_anc`` is the paper's name for it.
MEASURES: dict[str, Callable[..., PenaltyMeasure]] = {
    "p_d": p_d,
    "p_g": p_g,
    "mu_gp": mu_gp,
    "mu_mid": mu_mid,
    "mu_anchor": mu_anchor,
    "mu_g_anc": mu_anchor,
}


def get_measure(name: str, *args: Any) -> PenaltyMeasure:
    """Look a measure up by name; ``get_measure("mu_anchor", 2)`` passes the anchor."""
    if name not in MEASURES:
        raise unknown_name("penalty measure", name, list(MEASURES))
    if name in ("mu_anchor", "mu_g_anc") and not args:
        raise SpecError(f"{name} needs an anchor, e.g. {name}(2)")
    if name not in ("mu_anchor", "mu_g_anc") and args:
        raise SpecError(f"{name} takes no arguments")
    return MEASURES[name](*args)
