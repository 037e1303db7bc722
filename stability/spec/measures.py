"""Penalty measures μ as sampling rules (Table 1 of Kim et al., ``003_…``).

A measure is *where* the gradient of D is penalised: a rule
``x̂ = h(x_d, x_g, α, A)`` with ``x_d ~ p_d``, ``x_g ~ p_θ`` and ``α`` drawn
independently from its own law, plus an optional mass ``M(ψ, θ)`` that makes μ a
finite (not necessarily probability) measure, as in Lemma 1.

The rule is plain arithmetic, so one function builds the symbolic law of x̂
(:meth:`PenaltyMeasure.law`), the torch quadrature nodes of the autodiff engine
(through :meth:`PenaltyMeasure.combinations`) and the trainer's minibatch points
(:meth:`PenaltyMeasure.sample`). The registry :data:`MEASURES` maps each name to a
:class:`MeasureKind` with one signature, ``kind(anchor=None)``: the kind that needs
an anchor says so, and every other module asks it rather than naming it.

This module imports sympy and the laws only when a measure is built, so reading
the registry (the trainer's config validation, ``ganstab --help``) stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from stability.util.errors import UserError, unknown_name

Rule = Callable[[Any, Any, Any, Any], Any]


@dataclass(frozen=True)
class Combination:
    """One term of the product law of x̂: a branch of p_d, of p_θ and of α (``None`` where unused), and x̂ there."""

    data: Any
    generator: Any
    alpha: Any
    point: tuple


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

    Its label for tables and figures is its registry entry's (:data:`MEASURES`).
    """

    name: str
    rule: Rule
    alpha: Any = None
    uses_data: bool = True
    uses_generator: bool = True
    anchor: tuple | None = None
    mass: Any = 1

    @property
    def is_probability(self) -> bool:
        import sympy

        return sympy.sympify(self.mass) == 1

    def describe(self) -> str:
        text = self.name
        if self.anchor is not None:
            text += f"(A={list(self.anchor) if len(self.anchor) > 1 else self.anchor[0]})"
        if not self.is_probability:
            text += f" with mass M={self.mass}"
        return text

    def combinations(self, data: Any, generator: Any, dim: int) -> Iterator[Combination]:
        """Every combination of branches of p_d, p_θ and α the rule reads, with x̂ = h(·) there.

        x_d, x_g and α are independent (product coupling), as in Table 1. The
        symbolic law of x̂ and the autodiff engine's penalty nodes are both built
        from this one iterator.
        """
        anchor = self.anchor_vector(dim)
        data_branches = data.branches if self.uses_data else (None,)
        gen_branches = generator.branches if self.uses_generator else (None,)
        alpha_branches = self.alpha.branches if self.alpha is not None else (None,)
        for bd in data_branches:
            for bg in gen_branches:
                for ba in alpha_branches:
                    a = ba.point[0] if ba is not None else None
                    point = tuple(
                        self.rule(
                            bd.point[i] if bd is not None else None,
                            bg.point[i] if bg is not None else None,
                            a,
                            anchor[i] if anchor is not None else None,
                        )
                        for i in range(dim)
                    )
                    yield Combination(bd, bg, ba, point)

    def law(self, data: Any, generator: Any) -> Any:
        """The probability law of x̂ (the normalised μ̄; the mass is kept apart)."""
        import sympy

        from stability.spec.laws import Branch, Law

        if self.uses_data and self.uses_generator and data.dim != generator.dim:
            raise UserError(f"data law has dimension {data.dim} but generator law has {generator.dim}")
        dim = data.dim if self.uses_data else generator.dim
        measure = replace(self, alpha=self.alpha.fresh()) if self.alpha is not None else self
        branches = []
        for c in measure.combinations(data.fresh(), generator.fresh(), dim):
            parts = [b for b in (c.data, c.generator, c.alpha) if b is not None]
            point = tuple(sympy.expand(v) for v in c.point)
            branches.append(
                Branch(sympy.Mul(*[b.weight for b in parts]), point, tuple(v for b in parts for v in b.bases))
            )
        return Law(tuple(branches), f"{self.describe()} over p_d={data}, p_g={generator}")

    def anchor_tensor(self, like: Any = None, dtype: Any = None, device: Any = None, dim: int | None = None) -> Any:
        """The anchor A as a torch tensor, or ``None``: broadcastable to one sample (a scalar anchor stays 0-d),
        or with ``dim`` components (:meth:`anchor_vector`) when ``dim`` is given."""
        if self.anchor is None:
            return None
        import torch

        dtype = dtype if dtype is not None else (like.dtype if like is not None else torch.float64)
        device = device if device is not None else (like.device if like is not None else None)
        if dim is not None:
            return torch.tensor([float(a) for a in self.anchor_vector(dim)], dtype=dtype, device=device)
        values = [float(a) for a in self.anchor]
        return torch.tensor(values if len(values) > 1 else values[0], dtype=dtype, device=device)

    def sample(self, x_data: Any, x_gen: Any, generator: Any = None, anchor: Any = None, alpha: Any = None) -> Any:
        """Minibatch points x̂ = h(x_d, x_g, α, A) for a gradient penalty, as a torch tensor.

        Args:
            x_data: real samples, shape ``(B, ...)`` (``None`` when the rule ignores them).
            x_gen: generated samples, shape ``(B, ...)``; pass them detached.
            generator: torch generator for α (one α per sample).
            anchor: a tensor broadcastable to one sample; overrides ``self.anchor``
                (e.g. a fixed random image for μ_g,anc on CIFAR-10).
            alpha: one α per sample, shape ``(B,)``, instead of drawing them.
        """
        reference = x_data if x_data is not None else x_gen
        batch = reference.shape[0]
        if self.alpha is not None:
            if alpha is None:
                alpha = self.alpha.sample(batch, generator=generator, dtype=reference.dtype).to(reference.device)
            alpha = alpha.reshape((batch,) + (1,) * (reference.dim() - 1))
        if anchor is None:
            anchor = self.anchor_tensor(reference)
        return self.rule(x_data, x_gen, alpha, anchor)

    @property
    def sample_as_is(self) -> str | None:
        """``"data"`` (p_d) or ``"generator"`` (p_g) when x̂ is the sample itself, unchanged; else ``None``.

        The trainer then takes the penalty's input gradient from the forward it
        already ran on that sample.
        """
        if self.alpha is not None or not (self.mass == 1 or self.is_probability):  # (no sympy for mass 1)
            return None
        return {_data_rule: "data", _gen_rule: "generator"}.get(self.rule)

    def anchor_vector(self, dim: int) -> tuple | None:
        """The anchor A as ``dim`` components (a scalar anchor is broadcast), or ``None``."""
        if self.anchor is None:
            return None
        if len(self.anchor) == 1:
            return self.anchor * dim
        if len(self.anchor) != dim:
            raise UserError(f"anchor {list(self.anchor)} has {len(self.anchor)} components but x has {dim}")
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


def interpolation(alpha: Any, name: str = "interpolation") -> PenaltyMeasure:
    """x̂ = α x_d + (1 − α) x_g with α drawn from ``alpha`` (a law on R)."""
    from stability.spec.laws import Law

    if not isinstance(alpha, Law) or alpha.dim != 1:
        raise UserError("interpolation(alpha): alpha must be a law on R, e.g. uniform(0, 1)")
    return PenaltyMeasure(name, _interpolation_rule, alpha=alpha)


def mu_gp() -> PenaltyMeasure:
    """μ_GP: x̂ = α x_d + (1 − α) x_g, α ~ U(0, 1) (the WGAN-GP sampling)."""
    from stability.spec.laws import uniform

    return interpolation(uniform(0, 1), "mu_gp")


def mu_mid() -> PenaltyMeasure:
    """μ_mid: x̂ = ½ x_d + ½ x_g."""
    import sympy

    from stability.spec.laws import dirac

    return interpolation(dirac(sympy.Rational(1, 2)), "mu_mid")


def mu_anchor(anchor: Any, alpha: Any = None) -> PenaltyMeasure:
    """μ_g,anc: x̂ = α A + (1 − α) x_g with a fixed anchor A, α ~ U(0, 1)."""
    import sympy

    from stability.spec.expressions import exact_value
    from stability.spec.laws import uniform

    values = anchor if isinstance(anchor, (list, tuple)) else [anchor]
    try:
        vector = tuple(exact_value(v, "mu_anchor: the anchor") for v in values)
    except (sympy.SympifyError, TypeError):
        raise UserError(f"mu_anchor: the anchor must be a number or a list of numbers, got {anchor!r}") from None
    return PenaltyMeasure("mu_anchor", _anchor_rule, alpha=alpha or uniform(0, 1), anchor=vector)


def weighted(measure: PenaltyMeasure, mass: Any) -> PenaltyMeasure:
    """The finite measure M(ψ, θ) · μ (Lemma 1); M may depend on ψ and θ."""
    import sympy

    return replace(measure, mass=sympy.sympify(mass, strict=True) * sympy.sympify(measure.mass))


@dataclass(frozen=True)
class MeasureKind:
    """A registry entry: how to build a measure by name, and how to show it.

    Every entry is called the same way, ``kind(anchor=None)``; the one kind with
    ``needs_anchor`` requires it and the others refuse it.
    """

    name: str
    build: Callable[..., PenaltyMeasure]
    label: str
    tex: str  # mathtext without the dollars, for figure titles
    needs_anchor: bool = False
    draws_alpha: bool = False  # one α per sample: a minibatch needs at least two points to vary it
    description: str = ""

    def __call__(self, anchor: Any = None) -> PenaltyMeasure:
        if self.needs_anchor:
            if anchor is None:
                raise UserError(f"{self.name} needs an anchor, e.g. {self.name}(2)")
            return self.build(anchor)
        if anchor is not None:
            raise UserError(f"{self.name} takes no anchor")
        return self.build()


_ANCHORED = MeasureKind(
    "mu_anchor",
    mu_anchor,
    "μ_g,anc",
    r"\mu_{g,anc}",
    needs_anchor=True,
    draws_alpha=True,
    description="x̂ = αA + (1−α)x_g, α ~ U(0,1)",
)

#: Measures by name, as used in spec files and by the trainer (``mu_anchor`` is the paper's μ_g,anc).
MEASURES: dict[str, MeasureKind] = {
    "p_d": MeasureKind("p_d", p_d, "p_d", "p_d", description="x̂ = x_d"),
    "p_g": MeasureKind("p_g", p_g, "p_g", "p_g", description="x̂ = x_g"),
    "mu_gp": MeasureKind(
        "mu_gp", mu_gp, "μ_GP", r"\mu_{GP}", draws_alpha=True, description="x̂ = αx_d + (1−α)x_g, α ~ U(0,1)"
    ),
    "mu_mid": MeasureKind("mu_mid", mu_mid, "μ_mid", r"\mu_{mid}", draws_alpha=True, description="x̂ = (x_d + x_g)/2"),
    "mu_anchor": _ANCHORED,
}


def get_measure(name: str, anchor: Any = None) -> PenaltyMeasure:
    """Build a measure by name; ``get_measure("mu_anchor", 2)`` passes the anchor."""
    return get_kind(name)(anchor)


def get_kind(name: str) -> MeasureKind:
    """The registry entry of ``name``, or a one-line error listing the valid names."""
    if name not in MEASURES:
        raise unknown_name("penalty measure", name, list(MEASURES))
    return MEASURES[name]


def measure_from(name: str, anchor: Any) -> PenaltyMeasure:
    """Build ``name``, handing it ``anchor`` only if its kind takes one (callers with a default anchor for all)."""
    kind = get_kind(name)
    return kind(anchor if kind.needs_anchor else None)


def measure_names(with_anchor: bool | None = None) -> Sequence[str]:
    """Registry names, optionally only those that do (``True``) or do not (``False``) take an anchor."""
    return [n for n, k in MEASURES.items() if with_anchor is None or k.needs_anchor == with_anchor]
