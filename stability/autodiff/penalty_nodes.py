"""Where the penalty is evaluated: the weighted points x̂ of the penalty law μ̄ at θ.

The measure's rule x̂ = h(x_d, x_g, α, A) (Table 1 of ``003_…``) is applied to node sets in one of two ways,
each an object with one call, ``nodes(theta, generated) -> (weights (N,), points (N, ...))``:

* :class:`PairedNodes` — x̂ᵢ = h(x_d,i, x_g,i, αᵢ), the minibatch estimator of the product law (what a trainer
  computes on a batch), for i.i.d. sample sets of equal size;
* :class:`ProductNodes` — every combination of data, generator and α nodes, block by block (one block per
  combination of mixture branches), the tensor-product quadrature of the product law.

Blocks whose nodes depend on the point (a kinked form split at its kinks, :class:`KinkSplitBlock`) are placed with
:meth:`ProductNodes.at`, which returns new nodes and leaves the old ones as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from stability.autodiff.nodes import LawNodes, find_roots, split_legendre
from stability.spec.measures import PenaltyMeasure
from stability.util.errors import UserError

NodeSet = tuple[torch.Tensor, torch.Tensor]
GeneratorNodes = Callable[[torch.Tensor], NodeSet]


@dataclass(frozen=True)
class PairedNodes:
    """x̂ᵢ = h(x_d,i, x_g,i, αᵢ) over aligned data and generator node sets, with one fixed α per pair."""

    measure: PenaltyMeasure
    data: NodeSet
    generator: GeneratorNodes
    alpha: torch.Tensor | None  # (n,) or None
    anchor: torch.Tensor | None

    def __call__(self, theta: torch.Tensor, generated: NodeSet | None = None) -> NodeSet:
        measure = self.measure
        wd, pd = self.data
        wg, pg = generated if generated is not None else self.generator(theta)
        event = pd.shape[1:] if measure.uses_data else pg.shape[1:]
        weights = wd if measure.uses_data else wg
        a = self.alpha.reshape(-1, *(1,) * len(event)) if self.alpha is not None else None
        points = measure.rule(pd if measure.uses_data else None, pg if measure.uses_generator else None, a, self.anchor)
        return weights, points

    def at(self, vector: np.ndarray) -> PairedNodes:
        return self


@dataclass(frozen=True)
class ProductBlock:
    """Independent node sets whose tensor product gives part of the penalty law; an unused one is ``None``.

    ``generator`` maps θ to nodes; it is the game's own generator (whose nodes the field already computed and
    passes as ``generated``) unless the block has its own, e.g. one mixture branch of p_θ.
    """

    data: NodeSet | None
    generator: GeneratorNodes | None
    alpha: NodeSet | None

    def at(self, vector: np.ndarray) -> ProductBlock:
        return self


@dataclass(frozen=True)
class KinkSplitBlock:
    """A block whose one used ``uniform01`` base variable is integrated by Gauss rules split at the form's kinks.

    The symbolic engine integrates such integrands exactly (``sympy.integrate``) even where the form has a kink
    (|∇ₓD| for WGAN-GP, max(0, ·) for LP). The torch engine matches by splitting [0, 1] at the kinks found at the
    current point: Gauss–Legendre on each piece is exact for piecewise polynomials, and, the integrand being
    continuous, moving split points add no Leibniz terms to the derivatives.

    Attributes:
        block: the block with unsplit nodes.
        template: the nodes of the law that carries the used base variable.
        rebuild: puts split nodes (a :class:`LawNodes`) into the block where the template was.
        kink_functions: numpy ``k(u, *psi, *theta)`` whose sign changes are the kinks.
        nodes: Gauss nodes per piece.
    """

    block: ProductBlock
    template: LawNodes
    rebuild: Callable[[ProductBlock, LawNodes], ProductBlock]
    kink_functions: Sequence[Callable[..., Any]]
    nodes: int

    def at(self, vector: np.ndarray) -> ProductBlock:
        values = [float(v) for v in vector]
        roots: list[float] = []
        for fn in self.kink_functions:
            roots += find_roots(lambda u, fn=fn: np.broadcast_to(np.asarray(fn(u, *values), dtype=float), u.shape))
        return self.rebuild(self.block, self.template.rebased(*split_legendre(roots, self.nodes)))


@dataclass(frozen=True)
class ProductNodes:
    """Every combination of data, generator and α nodes of each block (the product law of Table 1)."""

    measure: PenaltyMeasure
    blocks: tuple[ProductBlock | KinkSplitBlock, ...]
    generator: GeneratorNodes  # the game's own generator: its nodes may arrive precomputed as ``generated``
    anchor: torch.Tensor | None
    dtype: torch.dtype

    def at(self, vector: np.ndarray) -> ProductNodes:
        """The nodes placed for the point ``vector`` (float64): kink-split blocks are split there."""
        if not any(isinstance(b, KinkSplitBlock) for b in self.blocks):
            return self
        return replace(self, blocks=tuple(b.at(vector) for b in self.blocks))

    def __call__(self, theta: torch.Tensor, generated: NodeSet | None = None) -> NodeSet:
        all_w, all_x = [], []
        for block in self.blocks:
            if isinstance(block, KinkSplitBlock):
                raise RuntimeError("kink-split penalty nodes must be placed at a point first (ProductNodes.at)")
            sets: list[tuple[str, torch.Tensor, torch.Tensor]] = []
            if block.data is not None:
                sets.append(("d", *block.data))
            if block.generator is not None:
                own = generated is not None and block.generator is self.generator
                sets.append(("g", *(generated if own else block.generator(theta))))
            if block.alpha is not None:
                sets.append(("a", block.alpha[0], block.alpha[1].reshape(-1)))
            w, x = _combine(sets, self.measure, self.anchor, self.dtype)
            all_w.append(w)
            all_x.append(x)
        return torch.cat(all_w), torch.cat(all_x)


def _combine(sets, measure: PenaltyMeasure, anchor, dtype) -> NodeSet:
    """The tensor product of the node sets of one block, mapped through the measure's rule."""
    sizes = [s[1].shape[0] for s in sets]
    total = int(np.prod(sizes))
    weights = torch.ones(sizes, dtype=dtype)
    expanded: dict[str, Any] = {"d": None, "g": None, "a": None}
    for axis, (key, w, p) in enumerate(sets):
        shape = [1] * len(sets)
        shape[axis] = -1
        weights = weights * w.reshape(shape)
        index = torch.arange(sizes[axis]).reshape(shape).expand(sizes).reshape(total)
        expanded[key] = p[index]
    event = next(s[2].shape[1:] for s in sets if s[0] != "a")
    a = expanded["a"].reshape(-1, *(1,) * len(event)) if expanded["a"] is not None else None
    return weights.reshape(total), measure.rule(expanded["d"], expanded["g"], a, anchor)


PenaltyNodes = PairedNodes | ProductNodes


def sampled_penalty_nodes(
    measure: PenaltyMeasure,
    data: NodeSet,
    generator: GeneratorNodes,
    n_generated: int,
    can_pair: bool,
    product_alpha: Callable[[], NodeSet | None],
    anchor: torch.Tensor | None,
    seed: int,
    dtype: torch.dtype,
    alpha: torch.Tensor | None = None,
) -> tuple[PenaltyNodes, str]:
    """Paired nodes (one seeded α per pair) when the sets are i.i.d. samples of matching size, else their product.

    Pairs x̂ᵢ = h(x_d,i, x_g,i, αᵢ) estimate the product law only for i.i.d. samples (a trainer's minibatch);
    quadrature nodes, or sets of different sizes, are combined as a tensor product with ``product_alpha()``.
    ``alpha``: the pairs' α, shape ``(n,)``, instead of seeded draws (e.g. the α of a trainer's batch); only for
    paired nodes of a measure that draws α.
    Returns the nodes and a note for ``expectation_note``.
    """
    n_data = data[0].shape[0]
    same_size = not (measure.uses_data and measure.uses_generator) or n_data == n_generated
    if alpha is not None and (measure.alpha is None or not (can_pair and same_size)):
        reason = "the measure draws no α" if measure.alpha is None else "the nodes are not paired samples"
        raise UserError(f"given interpolation weights α cannot be used for {measure.describe()}: {reason}")
    if not (can_pair and same_size):
        block = ProductBlock(
            data if measure.uses_data else None,
            generator if measure.uses_generator else None,
            product_alpha() if measure.alpha is not None else None,
        )
        reason = "data and generator sets differ in size" if can_pair else "quadrature nodes"
        return ProductNodes(
            measure, (block,), generator, anchor, dtype
        ), f"; penalty nodes: product coupling ({reason})"
    n = n_data if measure.uses_data else n_generated
    if alpha is not None:
        if alpha.numel() != n:
            raise UserError(f"{alpha.numel()} interpolation weights α given for {n} penalty pairs")
        alpha = alpha.detach().reshape(n).to(dtype)
        note = f"; penalty nodes paired x̂ᵢ = h(x_d,i, x_g,i, αᵢ) with the given α, {n} pairs"
        return PairedNodes(measure, data, generator, alpha, anchor), note
    if measure.alpha is not None:
        alpha = measure.alpha.sample(n, generator=torch.Generator().manual_seed(seed + 2), dtype=dtype).reshape(n)
    note = f"; penalty nodes paired x̂ᵢ = h(x_d,i, x_g,i, αᵢ) with seeded α, {n} pairs"
    return PairedNodes(measure, data, generator, alpha, anchor), note
