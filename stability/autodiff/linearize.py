"""Jacobian products of a function traced once: the point's work done once per point, each product only the linear part.

ARPACK asks for hundreds of products J(w)v (or J(w)ᵀu) at one point w. Evaluated eagerly, each JVP of the flow of
Definition 4 of ``003_…`` re-runs the whole field under ``torch.func`` (the generator, three critic passes and the
penalty's ∇ₓD, with forward-over-reverse on top), and torch dispatches many of those forward-mode ops through
Python decompositions; measured on the width-32 toy (n = 2,403, N = 256), that is about 2,800 aten calls per product.

:class:`TracedLinearization` traces (w, v) ↦ (F(w), J(w)v) once with ``make_fx`` into a flat aten graph and splits it:

* the *point graph*: every node that does not depend on v, run once per point w; it returns F(w) and the
  intermediate values the products need (the residuals: activations, ReLU masks, weights);
* the *product graph*: (residuals, v) ↦ J(w)v, the nodes that do depend on v (about 420 aten calls);
* the *transposed graph*: (residuals, u) ↦ J(w)ᵀu, the reverse-mode derivative of the product graph with respect to
  v (which it is linear in), traced once as well (J and Jᵀ have the same eigenvalues).

The graphs hold no point: one trace serves every point of the same function (the six field evaluations of an
``n_critic = 5`` update map, or all checkpoints that share a field). The products execute the same aten operations
as the eager ``torch.func.jvp`` in the same order, so J(w)v is bitwise that of the eager path; Jᵀu differs from a
retained-graph VJP by rounding only. The trace assumes the function's operations do not depend on the values of w
(no Python branching on tensor values): true for networks built from modules; a spec game whose penalty nodes move
with the point (kink splits) is traced per placement by :class:`~stability.autodiff.field.TorchField`.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx
from torch.utils import _pytree
from torch.utils._python_dispatch import TorchDispatchMode

Tensor = torch.Tensor

#: Relative difference allowed between a reused trace's products and the eager ones (they agree bitwise when the
#: reuse is right; a wrong constant moves them by far more).
REUSE_TOLERANCE = 1e-12


class _ConstantRecorder(TorchDispatchMode):
    """Records, for one evaluation of a function, its operations and the tensors it reads that no operation made.

    Those tensors (data nodes, latent codes, α, module buffers) are the constants a trace captures. Two functions
    with the same fingerprint run the same operations on constants of the same shapes, in the same order, with the
    same scalars, so one's graphs serve the other once its constants are swapped in by position.
    """

    def __init__(self, inputs: tuple[Tensor, ...]):
        super().__init__()
        self.made: dict[int, Tensor] = {id(t): t for t in inputs}  # strong references keep the ids unique
        self.constants: list[Tensor] = []
        self.position: dict[int, int] = {}
        self.fingerprint: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        entry: list[Any] = [str(func)]
        for leaf in _pytree.tree_leaves((args, kwargs)):
            if not isinstance(leaf, Tensor):
                entry.append(repr(leaf))
                continue
            if id(leaf) not in self.made:
                if id(leaf) not in self.position:
                    self.position[id(leaf)] = len(self.constants)
                    self.constants.append(leaf)
                entry.append(("constant", self.position[id(leaf)]))
                if func is torch.ops.aten.lift_fresh.default:  # torch.tensor(...) made in the call: its value counts
                    entry.append(tuple(leaf.reshape(-1).tolist()))
            entry.append((tuple(leaf.shape), leaf.dtype, leaf.stride()))
        out = func(*args, **kwargs)
        for leaf in _pytree.tree_leaves(out):
            if isinstance(leaf, Tensor):
                self.made[id(leaf)] = leaf
        self.fingerprint.append(tuple(entry))
        return out


def _record(fn: Callable[[Tensor], Tensor], point: Tensor) -> _ConstantRecorder:
    recorder = _ConstantRecorder((point,))
    with recorder:
        fn(point)
    return recorder


def _trace(fn: Callable[..., Tensor], *examples: Tensor) -> fx.GraphModule:
    from torch._guards import TracingContext, tracing
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx

    # make_fx records each node's shape as a fake tensor, and without a fake mode in context it builds a new
    # FakeTensorMode per node; one shared mode halves the trace here (same graph, measured 5.5-6.2 s -> 3.0-4.1 s)
    with tracing(TracingContext(FakeTensorMode(allow_fallback_kernels=True))):
        graph = make_fx(fn)(*examples)
    graph.graph.eliminate_dead_code()  # make_fx keeps shape checks (is_same_size) that nothing reads
    graph.recompile()
    return graph


def _split(graph: fx.GraphModule) -> tuple[fx.GraphModule, fx.GraphModule, int]:
    """Split a traced (w, v) ↦ (F(w), Jv) graph into w ↦ (F(w), residuals…) and (residuals…, v) ↦ Jv.

    A node belongs to the product graph when any of its inputs does (v is the seed); every other node belongs to
    the point graph. The residuals are the point graph's values that the product graph reads.
    """
    nodes = list(graph.graph.nodes)
    _, tangent = [n for n in nodes if n.op == "placeholder"]
    output = nodes[-1]
    value_node, product_node = output.args[0]
    linear: set[fx.Node] = {tangent}
    for node in nodes:
        if node.op not in ("placeholder", "output") and any(a in linear for a in node.all_input_nodes):
            linear.add(node)
    residuals = [
        n for n in nodes if n not in linear and n.op not in ("output", "get_attr") and any(u in linear for u in n.users)
    ]
    point = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in nodes:
        if node in linear or node.op == "output":
            continue
        env[node] = point.node_copy(node, lambda a: env[a])
    point.output((env[value_node], *(env[n] for n in residuals)))
    product = fx.Graph()
    penv: dict[fx.Node, fx.Node] = {n: product.placeholder(f"r{i}") for i, n in enumerate(residuals)}
    for node in nodes:
        if node.op == "get_attr" and any(u in linear for u in node.users):
            penv[node] = product.node_copy(node, lambda a: penv[a])
    for node in nodes:
        if node in linear:
            penv[node] = product.node_copy(node, lambda a: penv[a])
    product.output(penv[product_node])
    point_graph, product_graph = fx.GraphModule(graph, point), fx.GraphModule(graph, product)
    for g in (point_graph, product_graph):
        g.graph.eliminate_dead_code()
        g.recompile()
    return point_graph, product_graph, len(residuals)


class _Runner:
    """Runs an aten graph: by TorchScript when it traces it faithfully, else by the FX module's Python code.

    The FX module's ``forward`` is Python calling ~400 aten ops one by one; the same ops replayed by the TorchScript
    interpreter skip that per-op Python cost (measured about 2x on the products here; ``bench_products.py``). The
    script runs unoptimised (no fusion or rewrites), so it executes exactly the traced ops, and it is only used when
    it reproduces the FX module's outputs bitwise on the example inputs.
    """

    def __init__(self, graph: fx.GraphModule, examples: tuple[Tensor, ...]):
        self.graph = graph
        self.script: Any = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit is marked deprecated; its replay is what is wanted here
                script = torch.jit.trace(graph, examples, check_trace=False)
                with torch.no_grad(), torch.jit.optimized_execution(False):
                    same = _pytree.tree_leaves(script(*examples)), _pytree.tree_leaves(graph(*examples))
            if all(_identical(a, b) for a, b in zip(*same)):
                self.script = script
        except Exception:  # noqa: BLE001 - the FX module runs the same ops
            self.script = None

    def __call__(self, *args: Tensor) -> Any:
        with torch.no_grad():
            if self.script is None:
                return self.graph(*args)
            with torch.jit.optimized_execution(False):
                return self.script(*args)


@dataclass
class LinearAt:
    """J(w) of a :class:`TracedLinearization` at one point w: ``jvp(v) = J(w)v``, ``vjp(u) = J(w)ᵀu``.

    Attributes:
        value: F(w).
        residuals: the point graph's values the products read.
    """

    traced: TracedLinearization
    value: Tensor
    residuals: tuple[Tensor, ...]

    def jvp(self, v: Tensor) -> Tensor:
        """J(w)v (one run of the product graph)."""
        return self.traced.product(*self.residuals, v.to(self.value.dtype))

    def vjp(self, u: Tensor) -> Tensor:
        """J(w)ᵀu (one run of the transposed graph, traced here on first use)."""
        return self.traced.transposed(self)(*self.residuals, u.to(self.value.dtype))


class TracedLinearization:
    """(w, v) ↦ J(w)v of ``fn`` traced once; :meth:`at` runs the point graph at a point (see the module docstring).

    Args:
        fn: a pure function of one flat tensor, composable with ``torch.func.jvp`` (e.g.
            :meth:`~stability.autodiff.field.TorchField.field_fn`).
        example: a point of the right shape and dtype to trace at (its values do not enter the graphs).

    Attributes:
        point, product: runners of the point graph w ↦ (F(w), residuals…) and of the product graph.
        residual_count: how many values the point graph hands to the products.
        trace_seconds: the time the trace (and the split) took; ``transpose_seconds`` that of the transposed graph.
    """

    def __init__(self, fn: Callable[[Tensor], Tensor], example: Tensor):
        start = time.perf_counter()
        example = example.detach()
        self.shape, self.dtype = example.shape, example.dtype
        recorder = _record(fn, example)
        self.fingerprint, self._constants = recorder.fingerprint, recorder.constants

        def value_and_product(w: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
            return torch.func.jvp(fn, (w,), (v,))

        # a random tangent, not zeros: a zero tangent may let torch skip ops and trace a narrower graph
        tangent = torch.randn(example.shape, generator=torch.Generator().manual_seed(0), dtype=example.dtype)
        point, product, self.residual_count = _split(_trace(value_and_product, example, tangent))
        self._build(point, product, None, example, tangent)
        self.trace_seconds = time.perf_counter() - start
        self.transpose_seconds = 0.0

    def _build(
        self,
        point: fx.GraphModule,
        product: fx.GraphModule,
        transposed: fx.GraphModule | None,
        example: Tensor,
        tangent: Tensor,
    ) -> None:
        self.point = _Runner(point, (example,))
        value, *residuals = self.point(example)
        self.product = _Runner(product, (*residuals, tangent))
        cotangent = torch.ones_like(value)
        self._transposed = None if transposed is None else _Runner(transposed, (*residuals, cotangent))

    def at(self, point: Tensor) -> LinearAt:
        """The linearisation at ``point`` (one run of the point graph, about one field evaluation)."""
        point = point.detach().to(self.dtype)
        if point.shape != self.shape:
            raise ValueError(f"point of shape {tuple(point.shape)}, traced for {tuple(self.shape)}")
        value, *residuals = self.point(point)
        return LinearAt(self, value, tuple(residuals))

    def transposed(self, example: LinearAt | None = None) -> _Runner:
        """(residuals…, u) ↦ J(w)ᵀu: reverse mode through the product graph, which is linear in v; traced once, at
        ``example``'s residuals when given (a real point: at w = 0 an optimiser map may divide by zero)."""
        if self._transposed is None:
            start = time.perf_counter()
            product = self.product.graph

            def pullback(*args: Tensor) -> Tensor:
                *residuals, u = args
                v = torch.zeros(self.shape, dtype=self.dtype, requires_grad=True)  # any v: the graph is linear in v
                (grad,) = torch.autograd.grad(product(*residuals, v), v, u)
                return grad

            example = example if example is not None else self.at(torch.zeros(self.shape, dtype=self.dtype))
            cotangent = torch.ones_like(example.value)
            with torch.enable_grad():  # asked for inside a backward pass too, where grad mode is off
                graph = _trace(pullback, *example.residuals, cotangent)
            self._transposed = _Runner(graph, (*example.residuals, cotangent))
            self.transpose_seconds = time.perf_counter() - start
        return self._transposed

    def reuse_for(self, fn: Callable[[Tensor], Tensor], point: Tensor) -> TracedLinearization | None:
        """These graphs for another function with the same operations (e.g. the field of the next checkpoint).

        ``fn`` is run once under a recorder: when its fingerprint equals this trace's, the graphs are copied with
        ``fn``'s constants (data, latent codes, α, buffers) swapped in by position, and checked at ``point`` against
        eager ``torch.func``: F(w) and J(w)v for a seeded random v to :data:`REUSE_TOLERANCE` relative, and the
        transposed graph by ⟨u, Jv⟩ = ⟨Jᵀu, v⟩. Returns ``None`` (trace anew) when anything differs.
        """
        point = point.detach().to(self.dtype)
        if point.shape != self.shape:
            return None
        recorder = _record(fn, point)
        if recorder.fingerprint != self.fingerprint or len(recorder.constants) != len(self._constants):
            return None
        swap = {id(old): new for old, new in zip(self._constants, recorder.constants)}
        clone = copy.copy(self)
        clone._constants = recorder.constants
        tangent = torch.randn(self.shape, generator=torch.Generator().manual_seed(0), dtype=self.dtype)
        transposed = None if self._transposed is None else _swapped(self._transposed.graph, swap)
        clone._build(_swapped(self.point.graph, swap), _swapped(self.product.graph, swap), transposed, point, tangent)
        clone.trace_seconds = clone.transpose_seconds = 0.0
        return clone if clone.agrees(fn, point) else None

    def agrees(self, fn: Callable[[Tensor], Tensor], point: Tensor) -> bool:
        """Whether the graphs compute ``fn`` at ``point``: F(w) and J(w)v for a seeded random v against eager
        ``torch.func.jvp`` (to :data:`REUSE_TOLERANCE` relative; one eager JVP), and Jᵀ, when traced, by
        ⟨u, Jv⟩ = ⟨Jᵀu, v⟩ to 1e-10."""
        point = point.detach().to(self.dtype)
        seeded = torch.Generator().manual_seed(1)
        v = torch.randn(self.shape, generator=seeded, dtype=self.dtype)
        with torch.no_grad():
            value, product = torch.func.jvp(fn, (point,), (v,))
        linear = self.at(point)
        if not (_close(linear.value, value) and _close(linear.jvp(v), product)):
            return False
        if self._transposed is None:
            return True
        u = torch.randn(value.shape, generator=seeded, dtype=self.dtype)
        back = linear.vjp(u)
        left, right = float(u.reshape(-1) @ product.reshape(-1)), float(back.reshape(-1) @ v.reshape(-1))
        return abs(left - right) <= 1e-10 * float(u.norm() * product.norm() + v.norm() * back.norm())


def _identical(a: Tensor, b: Tensor) -> bool:
    """Bitwise-equal values (NaN where NaN)."""
    return a.shape == b.shape and bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())


def _close(a: Tensor, b: Tensor) -> bool:
    scale = float(b.abs().max()) if b.numel() else 0.0
    if a.shape != b.shape or not bool(torch.isfinite(a).all()):
        return False
    return float((a - b).abs().max()) <= REUSE_TOLERANCE * scale


def _swapped(graph: fx.GraphModule, swap: dict[int, Tensor]) -> fx.GraphModule:
    """A copy of ``graph`` sharing its code, with the constant tensors in ``swap`` (by id) replaced."""
    clone = copy.copy(graph)
    clone._buffers = {name: swap.get(id(t), t) for name, t in graph._buffers.items()}
    clone.__dict__.update({name: swap[id(t)] for name, t in graph.__dict__.items() if id(t) in swap})
    return clone
