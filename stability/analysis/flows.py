"""A flow evaluated at many points at once: values, Jacobians and the size of the terms, for root finding.

Two routes, so that a root found by one can be checked by the other (issue 27):

* :class:`SymbolicFlow` — the symbolic field's own formula compiled once (one ``lambdify`` with common
  subexpressions, through :mod:`stability.spec.lambdify`) together with the *size of its terms*: the same
  expression with every sum replaced by the sum of the absolute values of its parts, so that the rounding
  error of an evaluation is about ε times that size. Jacobians by the complex step
  (``Im F(x + ih·e_j) / h``, Squire and Trapp 1998): exact to rounding, without finite-difference error,
  for flows built of analytic functions only.
* :class:`TorchFlow` — a :class:`~stability.autodiff.field.TorchField` vmapped over the points, with Jacobians by
  ``torch.func.jacrev`` (any flow the autodiff engine takes, kinks included).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import sympy

from stability.spec.lambdify import KinkRsqrt, KinkSqrt, numeric_function

#: Functions whose complex extension is not their derivative's: a flow holding one gets its Jacobian by torch.
NON_ANALYTIC = (
    sympy.Abs,
    sympy.sign,
    sympy.Heaviside,
    sympy.Max,
    sympy.Min,
    sympy.Piecewise,
    sympy.floor,
    sympy.ceiling,
    sympy.re,
    sympy.im,
    sympy.arg,
    sympy.conjugate,
    KinkSqrt,
    KinkRsqrt,
)

#: The complex step: far below any rounding of the real part, far above the smallest subnormal.
COMPLEX_STEP = 1e-20


@dataclass
class FlowSample:
    """The flow at N points.

    Attributes:
        values: F, shape (N, n).
        jacobians: ∂F/∂x, shape (N, n, n), when asked for.
        sizes: the size of the terms of each component, shape (N, n), when the route knows them.
    """

    values: np.ndarray
    jacobians: np.ndarray | None = None
    sizes: np.ndarray | None = None


class BatchedFlow(Protocol):
    """What the root finder needs: the flow at many points, with Jacobians."""

    names: list[str]
    route: str

    def evaluate(self, points: np.ndarray, jacobians: bool = True) -> FlowSample: ...


def term_size(expr: sympy.Expr) -> sympy.Expr:
    """|expr| with every sum and product taken over absolute values: Σ|a_i| for Σ a_i, Π|a_i| for Π a_i.

    The evaluation of ``expr`` in floating point is wrong by about ε times this (the classical running error
    bound); a root is a point where F is small against it, not against an absolute 1e-10. Other functions
    count as their own magnitude (the error of their arguments is not propagated: a scale, not a bound).
    """
    cache: dict[sympy.Expr, sympy.Expr] = {}

    def size(e: sympy.Expr) -> sympy.Expr:
        if e in cache:
            return cache[e]
        if e.is_Number:
            out = sympy.Abs(e)
        elif e.is_Add:
            out = sympy.Add(*[size(a) for a in e.args], evaluate=False)
        elif e.is_Mul:
            out = sympy.Mul(*[size(a) for a in e.args], evaluate=False)
        elif e.is_Pow and e.exp.is_Integer and e.exp > 0:
            out = sympy.Pow(size(e.base), e.exp, evaluate=False)
        else:
            out = sympy.Abs(e, evaluate=False)
        cache[e] = out
        return out

    return size(sympy.sympify(expr))


class SymbolicFlow:
    """The symbolic field's formula at many points: F, the size of its terms, and complex-step Jacobians.

    The formula is compiled as the list of each component's top-level terms (one ``lambdify``): F_i is their sum
    and the size of the terms Σ|term|, so no second expression is printed for the sizes; a component that is a
    single product gets :func:`term_size` of it instead.

    Args:
        field_: a :class:`~stability.symbolic.field.SymbolicField` whose constants are all bound.
    """

    route = "numpy (the symbolic formula)"

    @classmethod
    def of(cls, field_) -> SymbolicFlow:
        """The flow of ``field_``, compiled once per field (the search and the point checks share it)."""
        flow = _COMPILED.get(field_)
        if flow is None:
            flow = _COMPILED[field_] = cls(field_)
        return flow

    def __init__(self, field_) -> None:
        field_.require_numeric()
        self.names = [p.name for p in field_.params]
        exprs = [sympy.sympify(e) for e in field_.exprs]
        #: complex-step Jacobians are exact only for analytic flows
        self.analytic = not any(e.has(*NON_ANALYTIC) for e in exprs)
        compiled: list[sympy.Expr] = []
        self._parts: list[tuple[slice, int | None]] = []  # per component: its terms, and its own size expression
        for e in exprs:
            terms = list(sympy.Add.make_args(e))
            self._parts.append((slice(len(compiled), len(compiled) + len(terms)), None))
            compiled += terms
        for i, e in enumerate(exprs):
            if len(sympy.Add.make_args(e)) == 1 and not (e.is_Number or e.is_Symbol):
                self._parts[i] = (self._parts[i][0], len(compiled))
                compiled.append(term_size(e))
        self._count = len(compiled)
        self._function = numeric_function(list(field_.params), compiled, backend="numpy", cse=False)

    def _call(self, columns: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        with np.errstate(all="ignore"):
            try:
                out = self._function(*columns)
            except (OverflowError, ZeroDivisionError):
                return np.full((self._count, *shape), np.nan)
        return np.stack([np.broadcast_to(np.asarray(v), shape) for v in out])

    def _reduce(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Component values and sizes from the compiled terms (leading axis: the terms)."""
        values = np.stack([out[terms].sum(0) for terms, _ in self._parts])
        sizes = np.stack(
            [np.abs(out[terms].real).sum(0) if own is None else np.abs(out[own].real) for terms, own in self._parts]
        )
        return values, sizes

    def evaluate(self, points: np.ndarray, jacobians: bool = True) -> FlowSample:
        """F, term sizes and (when ``jacobians``) J at each row of ``points``; Jacobians need an analytic flow."""
        X = np.atleast_2d(np.asarray(points, dtype=float))
        N, n = X.shape
        if not jacobians:
            values, sizes = self._reduce(self._call([X[:, j] for j in range(n)], (N,)).astype(float))
            return FlowSample(values.T.copy(), None, sizes.T.copy())
        if not self.analytic:
            raise ValueError("this flow is not analytic: take its Jacobians from a TorchFlow")
        # block 0: the points themselves; block j + 1: the points plus ih·e_j
        Z = np.repeat(X[None].astype(complex), n + 1, axis=0)
        for j in range(n):
            Z[j + 1, :, j] += 1j * COMPLEX_STEP
        out = self._call([Z[..., j].reshape(-1) for j in range(n)], ((n + 1) * N,))
        values, sizes = self._reduce(out.reshape(self._count, n + 1, N))  # (n, n + 1, N)
        J = np.moveaxis(values[:, 1:].imag / COMPLEX_STEP, -1, 0)  # (N, n_out, n_in)
        return FlowSample(values[:, 0].real.T.copy(), J, sizes[:, 0].T.copy())


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def expression_size(exprs) -> int:
    """The number of nodes in the expression trees: a size measure that costs milliseconds (printing the 60,000
    characters of a quadrature flow to measure them costs half a second each time)."""
    return sum(1 for e in exprs for _ in sympy.preorder_traversal(sympy.sympify(e)))


class TorchFlow:
    """A :class:`~stability.autodiff.field.TorchField` at many points: ``vmap`` of the field and of its ``jacrev``.

    The penalty nodes that depend on the point (kink splits) are placed once, at ``anchor``; the batched values are
    those of that placement, so a root found here is polished point by point by :meth:`polish_one` (which places
    them at the point) before it is reported.
    """

    def __init__(self, torch_field, anchor: np.ndarray, route: str = "torch (autodiff of the spec)") -> None:
        import torch

        self.field = torch_field
        self.route = route
        self.names = [str(getattr(p, "name", p)) for p in torch_field.params]
        vector = torch_field.vector(np.asarray(anchor, dtype=float))
        self.placement_varies = torch_field.game.at(vector.numpy() + 0.123) is not torch_field.game
        f = torch_field.field_fn

        def with_value(x):
            out = f(x)
            return out, out

        self._anchor = np.asarray(anchor, dtype=float)
        self._one = {"values": f, "both": torch.func.jacrev(with_value, has_aux=True)}
        self._batched = {k: torch.func.vmap(g) for k, g in self._one.items()}
        self._torch = torch
        self._loop = False

    def evaluate(self, points: np.ndarray, jacobians: bool = True, chunk: int = 1024) -> FlowSample:
        """F and J at each row of ``points`` (float64), in chunks; a point where the field is not finite gets NaN."""
        torch = self._torch
        X = np.atleast_2d(np.asarray(points, dtype=float))
        values, jacs = [], []
        if self.placement_varies:
            self.field.vector(self._anchor)  # the batched rule uses one placement: the anchor's
        kind = "both" if jacobians else "values"
        with torch.no_grad():
            for start in range(0, len(X), chunk):
                block = torch.as_tensor(X[start : start + chunk], dtype=self.field.dtype)
                if jacobians:
                    J, F = self._run(kind, block)
                    jacs.append(J.to(torch.float64).numpy())
                else:
                    F = self._run(kind, block)
                values.append(F.to(torch.float64).numpy())
        F = np.concatenate(values)
        return FlowSample(F, np.concatenate(jacs) if jacobians else None, None)

    def _run(self, kind: str, block):
        if not self._loop:
            try:
                return self._batched[kind](block)
            except (RuntimeError, NotImplementedError):  # an op without a batching rule: one point at a time
                self._loop = True
        outs = [self._one[kind](row) for row in block]
        if isinstance(outs[0], tuple):
            return tuple(self._torch.stack([o[k] for o in outs]) for k in range(len(outs[0])))
        return self._torch.stack(outs)

    def value_at(self, point: np.ndarray) -> np.ndarray:
        """F at one point with the penalty nodes placed there (the field's own ``value``)."""
        return self.field.value(np.asarray(point, dtype=float))

    def jacobian_at(self, point: np.ndarray) -> np.ndarray:
        """J at one point with the penalty nodes placed there."""
        return self.field.jacobian(np.asarray(point, dtype=float))
