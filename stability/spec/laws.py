"""Probability laws written as pushforwards of standard base variables.

A :class:`Law` is a finite mixture of *branches*; each branch is a weight, a
point ``x = T(u)`` in data space and the standard base variables ``u`` it
depends on (each ``U(0, 1)`` or ``N(0, 1)``, independent). Every constructor
here (``dirac``, ``uniform``, ``normal``, ``discrete``, ``mixture``,
``pushforward``, ``product``) builds such branches, so a single description
serves three consumers:

* exact symbolic expectations (:mod:`stability.symbolic.expectation`),
* deterministic quadrature nodes for the autodiff engine (:meth:`Law.quadrature`),
* reparametrised torch samples for training (:meth:`Law.sample`).

The generator law ``p_θ`` is ``pushforward(latent, G(z; θ))``: its points
depend on θ, so θ-gradients are the pathwise ones training really takes.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from stability.spec.expressions import exact_value
from stability.spec.lambdify import numeric_function
from stability.spec.quadrature import base_nodes
from stability.util.errors import UserError

BASE_KINDS = ("uniform01", "normal01")


@dataclass(frozen=True)
class BaseVariable:
    """A standard base random variable: ``uniform01`` ~ U(0,1) or ``normal01`` ~ N(0,1)."""

    symbol: sympy.Symbol
    kind: str


@dataclass(frozen=True)
class Branch:
    """One mixture component: ``weight`` times the law of ``point(bases)``."""

    weight: sympy.Expr
    point: tuple[sympy.Expr, ...]
    bases: tuple[BaseVariable, ...] = ()


@dataclass(frozen=True)
class Law:
    """A probability law on R^dim as a finite mixture of pushforward branches."""

    branches: tuple[Branch, ...]
    description: str

    @property
    def dim(self) -> int:
        return len(self.branches[0].point)

    @property
    def is_atomic(self) -> bool:
        """True when the law is a finite sum of point masses (exact expectations)."""
        return all(not b.bases for b in self.branches)

    def parameters(self) -> set[sympy.Symbol]:
        """Free symbols of the points that are not base variables (e.g. θ)."""
        free: set[sympy.Symbol] = set()
        for branch in self.branches:
            base_symbols = {b.symbol for b in branch.bases}
            for coordinate in branch.point:
                free |= coordinate.free_symbols - base_symbols
            free |= sympy.sympify(branch.weight).free_symbols
        return free

    def fresh(self) -> Law:
        """A copy with new base symbols, for an independent copy of the same law."""
        branches = []
        for branch in self.branches:
            renaming = {b.symbol: sympy.Dummy(b.symbol.name, real=True) for b in branch.bases}
            branches.append(
                Branch(
                    branch.weight,
                    tuple(c.xreplace(renaming) for c in branch.point),
                    tuple(BaseVariable(renaming[b.symbol], b.kind) for b in branch.bases),
                )
            )
        return Law(tuple(branches), self.description)

    def subs(self, values: dict) -> Law:
        """The law with parameters (e.g. θ) replaced by values."""
        values = {sympy.sympify(k): sympy.sympify(v) for k, v in values.items()}
        branches = tuple(
            Branch(sympy.sympify(b.weight).xreplace(values), tuple(c.xreplace(values) for c in b.point), b.bases)
            for b in self.branches
        )
        return Law(branches, self.description)

    def __str__(self) -> str:
        return self.description

    # ---- numeric views -------------------------------------------------------

    def quadrature(self, nodes: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """Deterministic nodes for E[g(X)] ≈ Σ w_i g(x_i).

        Exact for atomic laws; Gauss–Legendre (uniform bases) and probabilists'
        Gauss–Hermite (normal bases) with ``nodes`` points per base variable
        otherwise, as a tensor product over the base variables of a branch.

        Returns:
            ``(weights, points)`` with shapes ``(N,)`` and ``(N, dim)``, float64.
        """
        self._require_numeric("quadrature")
        all_w, all_x = [], []
        for branch in self.branches:
            rules = [base_nodes(b.kind, nodes) for b in branch.bases]
            fn = _lambdify_point(branch)
            weight = float(branch.weight)
            if not rules:
                all_w.append(np.array([weight]))
                all_x.append(np.asarray(fn(), dtype=float).reshape(1, -1))
                continue
            grids = np.meshgrid(*[n for n, _ in rules], indexing="ij")
            wgrid = np.ones_like(grids[0])
            for g_w, axis in zip([w for _, w in rules], range(len(rules))):
                shape = [1] * len(rules)
                shape[axis] = -1
                wgrid = wgrid * g_w.reshape(shape)
            values = fn(*[g.ravel() for g in grids])
            points = np.stack([np.broadcast_to(np.asarray(v, dtype=float), grids[0].ravel().shape) for v in values], 1)
            all_w.append(weight * wgrid.ravel())
            all_x.append(points)
        return np.concatenate(all_w), np.concatenate(all_x)

    def sample(self, n: int, generator: Any = None, dtype: Any = None) -> Any:
        """Draw ``n`` samples as a torch tensor of shape ``(n, dim)``.

        Uses only ``generator`` for randomness, so a seeded generator gives
        reproducible data.
        """
        import torch

        self._require_numeric("sampling")
        dtype = dtype or torch.get_default_dtype()
        weights = torch.tensor([float(b.weight) for b in self.branches], dtype=torch.float64)
        if len(self.branches) == 1:
            choice = torch.zeros(n, dtype=torch.long)
        else:
            choice = torch.multinomial(weights, n, replacement=True, generator=generator)
        out = torch.empty(n, self.dim, dtype=torch.float64)
        for index, branch in enumerate(self.branches):
            rows = (choice == index).nonzero(as_tuple=True)[0]
            if rows.numel() == 0:
                continue
            draws = []
            for base in branch.bases:
                if base.kind == "uniform01":
                    draws.append(torch.rand(rows.numel(), generator=generator, dtype=torch.float64))
                else:
                    draws.append(torch.randn(rows.numel(), generator=generator, dtype=torch.float64))
            values = _lambdify_point(branch)(*[d.numpy() for d in draws])
            for k, v in enumerate(values):
                out[rows, k] = torch.as_tensor(np.broadcast_to(np.asarray(v, dtype=float), (rows.numel(),)).copy())
        return out.to(dtype)

    def _require_numeric(self, what: str) -> None:
        free = self.parameters()
        if free:
            names = ", ".join(sorted(s.name for s in free))
            raise UserError(f"{what} of law {self} needs numbers, but it depends on {names}")


@functools.lru_cache(maxsize=256)
def _lambdify_point(branch: Branch):
    # Cached: samplers call this every minibatch, and lambdify costs ~0.5 ms.
    return numeric_function([b.symbol for b in branch.bases], list(branch.point))


# ---- constructors ---------------------------------------------------------------


def _as_vector(value: Any, what: str) -> tuple[sympy.Expr, ...]:
    """Numbers or sympy expressions (one, or a list) as a tuple; strings are refused, not eval-ed."""
    items = (
        value if isinstance(value, (list, tuple)) else list(value.ravel()) if isinstance(value, np.ndarray) else [value]
    )
    if not items:
        raise UserError(f"{what} must not be empty")
    try:
        return tuple(sympy.sympify(float(v) if isinstance(v, np.generic) else v, strict=True) for v in items)
    except (sympy.SympifyError, TypeError):
        raise UserError(f"{what} must be numbers or sympy expressions, got {value!r}") from None


def _broadcast(a: tuple, b: tuple, what: str) -> tuple[tuple, tuple]:
    if len(a) == len(b):
        return a, b
    if len(a) == 1:
        return a * len(b), b
    if len(b) == 1:
        return a, b * len(a)
    raise UserError(f"{what}: lengths {len(a)} and {len(b)} do not match")


def dirac(point: Any) -> Law:
    """The point mass δ_p (p a number, an expression, or a list for R^n)."""
    p = _as_vector(point, "dirac point")
    return Law((Branch(sympy.Integer(1), p),), f"dirac({_fmt(p)})")


def uniform(low: Any, high: Any) -> Law:
    """U(low, high), componentwise independent when given lists."""
    a, b = _broadcast(_as_vector(low, "uniform low"), _as_vector(high, "uniform high"), "uniform(low, high)")
    for lo, hi in zip(a, b):
        if (hi - lo).is_number and not (hi - lo) > 0:
            raise UserError(f"uniform({lo}, {hi}): need low < high")
    bases = tuple(BaseVariable(sympy.Dummy(f"u{i}", real=True), "uniform01") for i in range(len(a)))
    point = tuple(lo + (hi - lo) * base.symbol for lo, hi, base in zip(a, b, bases))
    return Law((Branch(sympy.Integer(1), point, bases),), f"uniform({_fmt(a)}, {_fmt(b)})")


def normal(mean: Any, std: Any) -> Law:
    """N(mean, std²), componentwise independent when given lists."""
    m, s = _broadcast(_as_vector(mean, "normal mean"), _as_vector(std, "normal std"), "normal(mean, std)")
    for sd in s:
        if sd.is_number and not sd > 0:
            raise UserError(f"normal(..., {sd}): the standard deviation must be > 0")
    bases = tuple(BaseVariable(sympy.Dummy(f"n{i}", real=True), "normal01") for i in range(len(m)))
    point = tuple(mu + sd * base.symbol for mu, sd, base in zip(m, s, bases))
    return Law((Branch(sympy.Integer(1), point, bases),), f"normal({_fmt(m)}, {_fmt(s)})")


def discrete(points: Sequence[Any], weights: Sequence[Any] | None = None) -> Law:
    """Σ w_i δ_{p_i}; equal weights when none are given."""
    if not isinstance(points, (list, tuple)) or not points:
        raise UserError("discrete(points, weights): points must be a non-empty list")
    vectors = [_as_vector(p, "discrete point") for p in points]
    if len({len(v) for v in vectors}) != 1:
        raise UserError("discrete(points, weights): all points must have the same dimension")
    ws = _check_weights(weights, len(vectors), "discrete")
    branches = tuple(Branch(w, v) for w, v in zip(ws, vectors))
    return Law(branches, f"discrete({len(vectors)} points)")


def mixture(laws: Sequence[Law], weights: Sequence[Any] | None = None) -> Law:
    """Σ w_i law_i; equal weights when none are given."""
    if not isinstance(laws, (list, tuple)) or not laws or not all(isinstance(l, Law) for l in laws):
        raise UserError("mixture(laws, weights): laws must be a non-empty list of laws")
    if len({law.dim for law in laws}) != 1:
        raise UserError("mixture(laws, weights): all laws must have the same dimension")
    ws = _check_weights(weights, len(laws), "mixture")
    branches = tuple(Branch(w * b.weight, b.point, b.bases) for w, law in zip(ws, laws) for b in law.fresh().branches)
    return Law(branches, "mixture(" + ", ".join(str(l) for l in laws) + ")")


def product(*laws: Law) -> Law:
    """The independent joint law of ``laws`` on the concatenated space."""
    if not laws:
        raise UserError("product() needs at least one law")
    branches = []
    for combo in itertools.product(*[law.fresh().branches for law in laws]):
        weight = sympy.Mul(*[b.weight for b in combo])
        point = tuple(c for b in combo for c in b.point)
        bases = tuple(v for b in combo for v in b.bases)
        branches.append(Branch(weight, point, bases))
    return Law(tuple(branches), " x ".join(str(l) for l in laws))


def pushforward(latent: Law, mapping: Any, variables: Sequence[sympy.Symbol]) -> Law:
    """The law of ``mapping(z)`` for ``z ~ latent`` (e.g. a generator G(z; θ)).

    Args:
        latent: the law of z.
        mapping: an expression or a list of expressions in ``variables`` (and parameters).
        variables: the symbols standing for the components of z.
    """
    exprs = _as_vector(mapping, "pushforward map")
    if len(variables) != latent.dim:
        raise UserError(
            f"pushforward: the latent law has dimension {latent.dim} but {len(variables)} latent variables were named"
        )
    latent = latent.fresh()
    branches = []
    for b in latent.branches:
        substitution = dict(zip(variables, b.point))
        branches.append(Branch(b.weight, tuple(e.subs(substitution) for e in exprs), b.bases))
    return Law(tuple(branches), f"law of {_fmt(exprs)} for z ~ {latent}")


def _check_weights(weights: Sequence[Any] | None, n: int, what: str) -> list[sympy.Expr]:
    if weights is None:
        return [sympy.Rational(1, n)] * n
    if not isinstance(weights, (list, tuple)) or len(weights) != n:
        raise UserError(f"{what}: expected {n} weights")
    try:
        ws = [exact_value(w, f"{what}: weight") for w in weights]
    except (sympy.SympifyError, TypeError):
        raise UserError(f"{what}: weights must be numbers, got {weights!r}") from None
    if any(w.is_number and w < 0 for w in ws):
        raise UserError(f"{what}: weights must be non-negative, got {[str(w) for w in ws]}")
    total = sympy.Add(*ws)
    if total.is_number and abs(float(total) - 1.0) > 1e-12:
        raise UserError(f"{what}: weights must sum to 1, they sum to {float(total):g}")
    return ws


def _fmt(vector: tuple) -> str:
    return str(vector[0]) if len(vector) == 1 else "[" + ", ".join(str(v) for v in vector) + "]"


#: Law constructors by name, as used in spec files.
LAWS = {
    "dirac": dirac,
    "uniform": uniform,
    "normal": normal,
    "discrete": discrete,
    "mixture": mixture,
    "product": product,
}
