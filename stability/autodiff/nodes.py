"""Deterministic expectation rules for the autodiff engine.

Every expectation in the flow of Definition 4 of ``003_…`` is replaced by a
weighted sum over fixed nodes, E[g(X)] ≈ Σ wᵢ g(xᵢ), so the torch field is a
deterministic function of (ψ, θ) whose Jacobian is exact for that rule:

* atomic branches (dirac, discrete): one node per branch, exact;
* ``"quadrature"``: tensor-product Gauss–Legendre (``uniform01`` bases) and
  probabilists' Gauss–Hermite (``normal01`` bases) over the base variables of a
  branch — with ``n`` nodes exact for polynomials of degree ≤ 2n − 1 in each;
* ``"samples"``: ``n`` seeded draws of the base variables per branch, each
  with weight (branch weight)/n (stratified over mixture branches).

The generator law p_θ of a spec is a pushforward whose points depend on θ;
:class:`LawNodes` keeps the base-variable nodes fixed and maps them through
the branch points lambdified to torch, so θ-derivatives are pathwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy
import torch

from stability.spec.lambdify import _as_tensor, lambdify_torch
from stability.spec.laws import Law
from stability.spec.quadrature import QUADRATURE_NODES, Nodes, base_nodes, describe_nodes, nodes_per_base
from stability.util.errors import UserError

RULES = ("quadrature", "samples")


def used_nodes(nodes: Nodes, integrand: sympy.Expr, branch) -> int:
    """Nodes per base variable for ``integrand`` on ``branch``, as the symbolic engine picks them.

    Only the base variables the integrand depends on count; 1 node when it
    depends on none (the integral is then exact with any rule).
    """
    used = sum(1 for b in branch.bases if b.symbol in integrand.free_symbols)
    return nodes_per_base(nodes, used) if used else 1


def split_legendre(breaks: Sequence[float], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre nodes on [0, 1] split at ``breaks``: exact for piecewise polynomials.

    Returns ``(values (N, 1), weights (N,))`` for a ``uniform01`` base variable.
    """
    edges = np.unique(np.clip(np.concatenate([[0.0], np.asarray(breaks, dtype=float), [1.0]]), 0.0, 1.0))
    t, w = np.polynomial.legendre.leggauss(n)
    values, weights = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        if b - a <= 0:
            continue
        values.append(a + (b - a) * (t + 1) / 2)
        weights.append((b - a) / 2 * w)
    return np.concatenate(values).reshape(-1, 1), np.concatenate(weights)


def find_roots(fn, grid: int = 1025) -> list[float]:
    """Sign changes of a scalar function on (0, 1), refined by Brent's method."""
    from scipy.optimize import brentq

    u = np.linspace(0.0, 1.0, grid)
    values = np.broadcast_to(np.asarray(fn(u), dtype=float), u.shape)
    roots = [float(x) for x, v in zip(u[1:-1], values[1:-1]) if v == 0]
    for i in np.nonzero(values[:-1] * values[1:] < 0)[0]:
        roots.append(brentq(lambda x: float(fn(np.array([x]))[0]), u[i], u[i + 1], xtol=1e-15, rtol=1e-15))
    return sorted(roots)


def describe_rule(rule: str, nodes: Nodes, samples: int, seed: int) -> str:
    """A one-line description of an expectation rule, for results and reports."""
    if rule == "samples":
        return (
            f"fixed seeded sample set: {samples} draws of the base variables per branch (seed {seed}); "
            "atomic laws exact"
        )
    return f"exact for atomic laws; tensor-product Gauss-Legendre/Gauss-Hermite quadrature ({describe_nodes(nodes)})"


def _branch_base_nodes(bases, rule: str, nodes: Nodes, samples: int, generator: torch.Generator):
    """(values (N, k) float64 numpy, weights (N,)) for the base variables of one branch."""
    k = len(bases)
    if k == 0:
        return np.zeros((1, 0)), np.ones(1)
    if rule == "samples":
        columns = []
        for base in bases:
            draw = torch.rand if base.kind == "uniform01" else torch.randn
            columns.append(draw(samples, generator=generator, dtype=torch.float64).numpy())
        return np.stack(columns, 1), np.full(samples, 1.0 / samples)
    n = nodes_per_base(nodes, k)
    rules = [base_nodes(b.kind, n) for b in bases]
    grids = np.meshgrid(*[x for x, _ in rules], indexing="ij")
    wgrid = np.ones_like(grids[0])
    for axis, (_, w) in enumerate(rules):
        shape = [1] * k
        shape[axis] = -1
        wgrid = wgrid * w.reshape(shape)
    return np.stack([g.ravel() for g in grids], 1), wgrid.ravel()


@dataclass
class _BranchNodes:
    base_values: torch.Tensor  # (N, k)
    base_weights: torch.Tensor  # (N,)
    point_fn: object  # (*bases, *params) -> list of dim values
    weight_fn: object  # (*params) -> branch weight


class LawNodes:
    """Fixed nodes of a law whose points may depend on parameters (p_θ of a spec).

    Args:
        law: the law.
        params: the symbols the points may depend on (θ); others must not appear.
        rule: ``"quadrature"`` or ``"samples"``.
        nodes: Gauss nodes per base variable (an int, or a map from the number
            of base variables in a branch to nodes per variable, as
            :data:`stability.spec.quadrature.QUADRATURE_NODES`).
        samples, seed: size and seed of the sample set for ``rule="samples"``.
        dtype: torch dtype of the nodes.
        branch_nodes: per-branch nodes per base variable, overriding ``nodes``
            (the symbolic engine counts only the base variables an integrand
            uses; :mod:`stability.autodiff.game` passes that count here).
    """

    def __init__(
        self,
        law: Law,
        params: Sequence[sympy.Symbol] = (),
        rule: str = "quadrature",
        nodes: Nodes = QUADRATURE_NODES,
        samples: int = 256,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        branch_nodes: Sequence[int] | None = None,
    ):
        if rule not in RULES:
            raise UserError(f"unknown expectation rule {rule!r}; valid: {', '.join(RULES)}")
        extra = law.parameters() - set(params)
        if extra:
            raise UserError(
                f"law {law} depends on {', '.join(sorted(s.name for s in extra))}, which are not parameters here"
            )
        self.law = law
        self.params = tuple(params)
        self.dtype = dtype
        generator = torch.Generator().manual_seed(seed)
        self._branches: list[_BranchNodes] = []
        for index, branch in enumerate(law.branches):
            n = nodes if branch_nodes is None else branch_nodes[index]
            values, weights = _branch_base_nodes(branch.bases, rule, n, samples, generator)
            symbols = [b.symbol for b in branch.bases]
            self._branches.append(
                _BranchNodes(
                    torch.as_tensor(values, dtype=dtype),
                    torch.as_tensor(weights, dtype=dtype),
                    lambdify_torch(symbols + list(self.params), branch.point),
                    lambdify_torch(list(self.params), [sympy.sympify(branch.weight)]),
                )
            )
        self.size = sum(int(b.base_weights.numel()) for b in self._branches)
        self._fixed = None if self.params else self._evaluate(())

    def rebased(self, values: np.ndarray, weights: np.ndarray) -> LawNodes:
        """A copy of a one-branch law with its base-variable nodes replaced (e.g. split at a kink)."""
        if len(self._branches) != 1:
            raise ValueError("rebased() needs a law with one branch")
        clone = object.__new__(LawNodes)
        clone.__dict__.update(self.__dict__)
        b = self._branches[0]
        clone._branches = [
            _BranchNodes(
                torch.as_tensor(values, dtype=self.dtype).reshape(len(weights), -1),
                torch.as_tensor(weights, dtype=self.dtype),
                b.point_fn,
                b.weight_fn,
            )
        ]
        clone.size = len(weights)
        clone._fixed = None if self.params else clone._evaluate(())
        return clone

    def __call__(self, params: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weights (N,), points (N, dim))`` at the parameter vector ``params``."""
        if self._fixed is not None:
            return self._fixed
        return self._evaluate(tuple(params[i] for i in range(len(self.params))))

    def _evaluate(self, values: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        all_w, all_x = [], []
        for b in self._branches:
            like = b.base_weights
            columns = [b.base_values[:, j] for j in range(b.base_values.shape[1])]
            coords = b.point_fn(*columns, *values)
            coords = [_as_tensor(c, like).expand_as(like) for c in coords]
            weight = _as_tensor(b.weight_fn(*values)[0], like)
            all_w.append(weight * b.base_weights)
            all_x.append(torch.stack(coords, 1))
        return torch.cat(all_w), torch.cat(all_x)
