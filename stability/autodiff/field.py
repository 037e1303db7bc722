"""The flow of Definition 4 of ``003_…`` by automatic differentiation (torch.func).

With expectations replaced by fixed weighted nodes (:mod:`stability.autodiff.nodes`),
V(ψ, θ) = Σ w_d f(D(x_d; ψ)) + Σ w_g f(−D(x_g(θ); ψ)) and
P(ψ, θ) = M(ψ, θ) Σ ŵ φ(‖∇ₓD(x̂(θ); ψ)‖²), the field on the flat vector
w = (ψ, θ) is::

    ψ̇ = ∇_ψ V − (ρ/2) ∇_ψ P,        θ̇ = −∇_θ Σ w_g f(−D(x_g(θ); ψ)).

The generator runs once; both come from *one* reverse pass of
S(ψ, w_g, x_g) = V(ψ, w_g, x_g) − (ρ/2) P(ψ, θ) with respect to ψ and the generated
nodes, followed by the generator's pullback for θ̇. P reads θ (through x̂ and M) as a
constant of that pass, so the penalty enters ψ̇ only, yet the Jacobian ∂ψ̇/∂θ still
sees it, as in the symbolic engine.

:class:`TorchField` has the interface of :class:`~stability.symbolic.field.SymbolicField`
(``params``, ``value``, ``jacobian``, ``jvp``, ``as_vector``) plus ``vjp`` and
a retained-graph product operator for matrix-free spectra.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from stability.autodiff.from_modules import flatten_modules, game_from_modules
from stability.autodiff.from_spec import game_from_system
from stability.autodiff.game import TorchGame
from stability.autodiff.linearize import LinearAt, TracedLinearization
from stability.spec.laws import Law
from stability.spec.links import LossLink
from stability.spec.ops import TORCH
from stability.spec.penalties import half_rho
from stability.spec.quadrature import QUADRATURE_NODES, Nodes
from stability.spec.serialize import values_by_name
from stability.spec.system import GanSystem, Penalty
from stability.util.errors import UserError

NodeSet = tuple[torch.Tensor, torch.Tensor]

Point = Mapping[str, float] | Sequence[float] | np.ndarray | torch.Tensor


#: Points whose check against eager products is remembered, by digest (:meth:`TorchField.linearization`).
CHECKED_POINTS = 1024
#: Points whose linearisation :meth:`TorchField.first_order_fn` keeps (an n_critic = 5 map visits six).
FIRST_ORDER_POINTS = 8


class _FirstOrder(torch.autograd.Function):
    """F(w) with its JVP and VJP from the traced graphs at w (:meth:`TorchField.first_order_fn`)."""

    @staticmethod
    def forward(w: torch.Tensor, linear_at: Callable[[torch.Tensor], LinearAt], plain: bool) -> torch.Tensor:
        return linear_at(w).value.clone()

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        w, linear_at, plain = inputs
        ctx.linear, ctx.plain = linear_at(w.detach()), plain

    @staticmethod
    def jvp(ctx: Any, v: torch.Tensor, *_: Any) -> torch.Tensor:
        return ctx.linear.jvp(v)

    @staticmethod
    def backward(ctx: Any, u: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        if ctx.plain and torch.is_grad_enabled():  # torch.autograd with create_graph=True: a second derivative
            raise RuntimeError(SECOND_DERIVATIVE)
        return ctx.linear.vjp(u), None, None


#: Why :meth:`TorchField.first_order_fn` refuses a use.
SECOND_DERIVATIVE = (
    "first_order_fn has first derivatives only (one torch.func.jvp/vjp/grad, or a backward without create_graph); "
    "use field_fn for second derivatives, jacrev/jacfwd or vmap"
)


class ParamName(str):
    """A parameter name that also answers ``.name`` (like a sympy symbol)."""

    @property
    def name(self) -> str:
        return str(self)


class TorchField:
    """(ψ̇, θ̇) of a game on a flat parameter vector, with its Jacobian products.

    Build one with :meth:`from_system`, :meth:`from_modules` or
    :func:`torch_field_for`. Numpy in, numpy out for ``value``/``jacobian``/
    ``jvp``/``vjp``; :meth:`field_fn` and :meth:`vjp_operator` work on tensors.

    Attributes:
        game: the differentiable ingredients.
        system: the spec, when built from one.
        expectation_note: the expectation rule used and its size.
        notes: notes for reports (includes ``expectation_note``).
    """

    def __init__(self, game: TorchGame, system: GanSystem | None = None, point: torch.Tensor | None = None):
        self.game = game
        self.placed = game  # the game with its point-dependent nodes placed at the last point given (see vector())
        self.system = system
        self.dtype = game.dtype
        self.n_psi = game.n_psi
        self.size = game.size
        self.expectation_note = game.expectation_note
        self.notes = [f"torch backend: {game.expectation_note}"]
        self.point = point  # the modules' own parameters, for module games
        self._params: tuple | None = tuple(system.params) if system is not None else None
        self._traced: tuple[TorchGame, TracedLinearization | None] | None = None  # (placement, its trace)
        self._checked: list[bytes] = []  # digests of the points the trace was made or checked at (the last ones)

    # ---- construction ----------------------------------------------------------

    @classmethod
    def from_system(
        cls,
        system: GanSystem,
        nodes: Nodes = QUADRATURE_NODES,
        rule: str = "quadrature",
        samples: int = 256,
        seed: int = 0,
        constants: Mapping[str, float] | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> TorchField:
        """The field of a spec (D and the laws lambdified to torch), its constants bound by :meth:`GanSystem.bind`.

        See :func:`~stability.autodiff.from_spec.game_from_system`.
        """
        system = system.bind(constants) if constants else system
        game = game_from_system(system, nodes, rule, samples, seed, dtype)
        return cls(game, system)

    @classmethod
    def from_modules(
        cls,
        critic: nn.Module,
        generator: nn.Module,
        data: Law | torch.Tensor,
        latent: Law | torch.Tensor,
        penalty: Penalty | None = None,
        link: LossLink | str = "identity",
        rule: str = "quadrature",
        nodes: int = 8,
        samples: int = 256,
        seed: int = 0,
        x_shape: Sequence[int] | None = None,
        dtype: torch.dtype = torch.float64,
        *,
        alpha: torch.Tensor | None = None,
        anchor: torch.Tensor | None = None,
        multiplier: float = 0.0,
    ) -> TorchField:
        """The field of a critic/generator pair; see :func:`~stability.autodiff.from_modules.game_from_modules`.

        ``field.point`` holds the modules' current parameters as the flat vector. ``alpha``, ``anchor`` and
        ``multiplier`` fix the penalty's α per pair, its anchor and MaxAL's λ (e.g. to a trainer's batch and state).
        """
        game = game_from_modules(
            critic,
            generator,
            data,
            latent,
            penalty,
            link,
            rule,
            nodes,
            samples,
            seed,
            x_shape,
            dtype,
            alpha=alpha,
            anchor=anchor,
            multiplier=multiplier,
        )
        return cls(game, None, flatten_modules(critic, generator, dtype))

    # ---- names and points --------------------------------------------------------

    @property
    def params(self) -> tuple:
        """Parameter names in vector order (sympy symbols for specs; built lazily for modules)."""
        if self._params is None:
            names = []
            for seg in self.game.segments:
                if seg.size == 1 and not seg.shape:
                    names.append(ParamName(seg.name))
                else:
                    names += [ParamName(f"{seg.name}[{','.join(map(str, idx))}]") for idx in np.ndindex(*seg.shape)]
            self._params = tuple(names)
        return self._params

    def name_of(self, index: int) -> str:
        """The name of entry ``index`` of the flat vector, without building all names."""
        for seg in self.game.segments:
            if seg.start <= index < seg.start + seg.size:
                if not seg.shape:
                    return seg.name
                idx = np.unravel_index(index - seg.start, seg.shape)
                return f"{seg.name}[{','.join(str(int(i)) for i in idx)}]"
        raise IndexError(index)

    def as_vector(self, point: Point | None = None) -> np.ndarray:
        """A point by name or in order (or ``None`` for the modules' own parameters) as float64 numpy."""
        return self.vector(point).detach().to(torch.float64).numpy()

    def vector(self, point: Point | None = None) -> torch.Tensor:
        """The point as a flat torch vector of the field's dtype, checked for size and finiteness."""
        if point is None:
            if self.point is None:
                raise UserError("a point is needed: this field was not built from modules with their own parameters")
            vector = self.point
        elif isinstance(point, Mapping):
            names = [str(getattr(p, "name", p)) for p in self.params]
            vector = torch.tensor(values_by_name(point, names), dtype=self.dtype)
        else:
            vector = torch.as_tensor(np.asarray(point, dtype=float) if not isinstance(point, torch.Tensor) else point)
            vector = vector.detach().reshape(-1).to(self.dtype)
        if vector.numel() != self.size:
            raise UserError(
                f"parameter vector has {vector.numel()} entries, but this game has {self.size} "
                f"({self.n_psi} for psi, {self.size - self.n_psi} for theta)"
            )
        self._check_finite(vector, "the parameter vector")
        self.placed = self.game.at(vector.detach().to(torch.float64).numpy())
        return vector

    def split(self, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        psi, theta = torch.split(vector, [self.n_psi, vector.shape[0] - self.n_psi])  # one SplitBackward
        return psi, theta

    # ---- the field ---------------------------------------------------------------

    def penalty_value(self, psi: torch.Tensor, theta: torch.Tensor, generated: NodeSet | None = None) -> torch.Tensor:
        """P(ψ, θ) = M(ψ, θ) · Σ ŵ φ(‖∇ₓD(x̂; ψ)‖²) (Definition 4; φ = q for the simple penalty).

        ``generated``: the generator's nodes at θ when already computed (saves a generator pass).
        """
        game = self.placed
        penalty = game.penalty
        weights, points = penalty.nodes(theta, generated)
        grad_x = torch.func.grad(lambda x: game.discriminator(x, psi).sum())(points)
        q = grad_x.reshape(grad_x.shape[0], -1).square().sum(1)
        value = (weights * penalty.form(q, TORCH)).sum()
        if penalty.mass is not None:
            value = penalty.mass(psi, theta) * value
        return value

    def penalty_term(self, psi: torch.Tensor, theta: torch.Tensor, generated: NodeSet | None = None) -> torch.Tensor:
        """What the penalty takes from the critic's objective: (ρ/2)·P(ψ, θ) (Definition 4).

        For a batch-maximum penalty (MaxGP, MaxAL of ``001_…``) the term is not an expectation but the form's own
        minibatch definition, −objective(max_i q_i) (Eq. 12, or Eq. 13 with MaxAL's λ held fixed), over the paired
        penalty points: :meth:`~stability.spec.penalties.MaxPenalty.batch_loss`, the trainer's formula.
        """
        penalty = self.placed.penalty
        if not penalty.batch_maximum:
            return half_rho(penalty.rho) * self.penalty_value(psi, theta, generated)
        game = self.placed
        _, points = penalty.nodes(theta, generated)
        grad_x = torch.func.grad(lambda x: game.discriminator(x, psi).sum())(points)
        q = grad_x.reshape(grad_x.shape[0], -1).square().sum(1)
        value = penalty.form.batch_loss(q, TORCH, penalty.rho, penalty.multiplier)
        if penalty.mass is not None:
            value = penalty.mass(psi, theta) * value
        return value

    def field_fn(self, vector: torch.Tensor) -> torch.Tensor:
        """F(w) = (ψ̇, θ̇) on a flat tensor; pure, so torch.func transforms compose with it.

        The generator runs once: with its nodes (w_g, x_g)(θ) and their pullback,
        ψ̇ and ∂V/∂(w_g, x_g) come from one reverse pass of
        S(ψ, w_g, x_g) = V(ψ, w_g, x_g) − (ρ/2) P(ψ, θ), in which P sees θ (through x̂ and M)
        only as a constant, so the penalty enters ψ̇ alone while ∂ψ̇/∂θ still sees it; then
        θ̇ = −(∂(w_g, x_g)/∂θ)ᵀ ∂V/∂(w_g, x_g).
        """
        return self.field_part(vector, "both")

    def field_part(self, vector: torch.Tensor, part: str) -> torch.Tensor:
        """ψ̇ (``"psi"``), θ̇ (``"theta"``) or both (``"both"``) at the flat vector.

        The parts have separate graphs because θ̇ does not involve the penalty: rows of ∂θ̇/∂w
        cost a fraction of rows of ∂ψ̇/∂w, whose graph holds the penalty's second derivatives.
        """
        if part not in ("psi", "theta", "both"):
            raise UserError(f"unknown field part {part!r}; valid: psi, theta, both")
        game = self.placed
        f = game.link
        psi, theta = self.split(vector)
        generated, pullback = torch.func.vjp(game.generator, theta)
        wd, xd = game.data
        with_penalty = game.penalty is not None and part != "theta"

        def objective(psi: torch.Tensor, nodes: NodeSet) -> torch.Tensor:
            wg, xg = nodes
            total = (wg * f(-game.discriminator(xg, psi), TORCH)).sum()
            if part != "theta":  # the data term has no θ-gradient
                total = total + (wd * f(game.discriminator(xd, psi), TORCH)).sum()
            if with_penalty:
                total = total - self.penalty_term(psi, theta, generated)
            return total

        if part == "psi":
            return torch.func.grad(objective, argnums=0)(psi, generated)
        if part == "theta":
            (g_theta,) = pullback(torch.func.grad(objective, argnums=1)(psi, generated))
            return -g_theta
        g_psi, g_nodes = torch.func.grad(objective, argnums=(0, 1))(psi, generated)
        (g_theta,) = pullback(g_nodes)
        return torch.cat([g_psi, -g_theta])

    def field_tensor(self, point: Point | None = None) -> torch.Tensor:
        """The field as a tensor of the field's dtype, checked for NaN/Inf."""
        with torch.no_grad():
            out = self.field_fn(self.vector(point))
        self._check_finite(out, "the field (ψ̇, θ̇)")
        return out

    def value(self, point: Point | None = None) -> np.ndarray:
        """(ψ̇, θ̇) at a point, float64 numpy."""
        return self.field_tensor(point).to(torch.float64).numpy()

    def jacobian(self, point: Point | None = None, chunk_size: int | None = None, mode: str = "rev") -> np.ndarray:
        """The dense Jacobian ∂(ψ̇, θ̇)/∂(ψ, θ), float64 numpy.

        Built from batched products: ``mode="rev"`` vmaps VJPs of one retained
        forward pass over chunks of basis vectors (torch.func.jacrev), with the
        ψ̇ and θ̇ rows from their own graphs (the θ̇ graph has no penalty term,
        so its rows are several times cheaper); ``"fwd"`` vmaps
        forward-over-reverse JVPs (jacfwd) of the whole field.

        Args:
            chunk_size: basis vectors per vmapped batch (memory vs speed);
                default 64 (on 2 CPU cores 64 and 128 took about the same time for
                a 10k-parameter MLP GAN; larger chunks only add memory).
        """
        vector = self.vector(point)
        chunk = chunk_size or 64
        if mode not in ("fwd", "rev"):
            raise UserError(f"unknown Jacobian mode {mode!r}; valid: fwd, rev")
        J = torch.empty(self.size, self.size, dtype=self.dtype)  # filled block by block: no second copy
        with torch.no_grad():
            if mode == "rev":
                offset = 0
                for part, rows in (("psi", self.n_psi), ("theta", self.size - self.n_psi)):
                    if rows == 0:
                        continue
                    _, vjp_fn = torch.func.vjp(lambda w, part=part: self.field_part(w, part), vector)
                    batched = torch.func.vmap(lambda u, vjp_fn=vjp_fn: vjp_fn(u)[0])  # e_i -> row i of the part
                    for start, basis in _basis_chunks(rows, chunk, self.dtype):
                        J[offset + start : offset + start + basis.shape[0]] = batched(basis)
                    offset += rows
            else:
                batched = torch.func.vmap(lambda v: torch.func.jvp(self.field_fn, (vector,), (v,))[1])  # e_j -> col j
                for start, basis in _basis_chunks(self.size, chunk, self.dtype):
                    J[:, start : start + basis.shape[0]] = batched(basis).T
        self._check_finite(J, "the Jacobian", matrix=True)
        return J.to(torch.float64).numpy()

    def jvp(self, point: Point | None, tangent: Sequence[float] | np.ndarray) -> np.ndarray:
        """J @ tangent by forward-over-reverse (about 4 field evaluations)."""
        vector = self.vector(point)
        t = self._as_direction(tangent)
        with torch.no_grad():
            _, out = torch.func.jvp(self.field_fn, (vector,), (t,))
        self._check_finite(out, "the JVP J·v")
        return out.to(torch.float64).numpy()

    def vjp(self, point: Point | None, cotangent: Sequence[float] | np.ndarray) -> np.ndarray:
        """Jᵀ @ cotangent by one reverse pass through the field."""
        return self.vjp_operator(point)(self._as_direction(cotangent)).to(torch.float64).numpy()

    def vjp_operator(self, point: Point | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """u ↦ Jᵀu on tensors, by the traced transposed graph at the point (:meth:`linearization`).

        Each call runs only the linear part of the reverse pass (the point's work is done once); Jᵀ has the
        eigenvalues of J. Falls back to a retained ``torch.func.vjp`` graph when the field cannot be traced.
        """
        linear = self.linearization(point)
        if linear is not None:
            return linear.vjp
        vector = self.vector(point)
        out, vjp_fn = torch.func.vjp(self.field_fn, vector)
        self._check_finite(out.detach(), "the field (ψ̇, θ̇)")

        def apply(u: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                (result,) = vjp_fn(u.to(self.dtype))
            return result

        return apply

    def jvp_operator(self, point: Point | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """v ↦ Jv on tensors, by the traced product graph at the point (:meth:`linearization`).

        Each call runs only the nodes that depend on v (bitwise the eager forward-over-reverse product, about a
        tenth of its aten calls); eager ``torch.func.jvp`` (the field recomputed each call) when the field cannot
        be traced.
        """
        linear = self.linearization(point)
        if linear is not None:
            return linear.jvp
        vector = self.vector(point)

        def apply(v: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return torch.func.jvp(self.field_fn, (vector,), (v.to(self.dtype),))[1]

        return apply

    def linearization(self, point: Point | None = None, check_finite: bool = True) -> LinearAt | None:
        """J at a point as traced graphs (:class:`~stability.autodiff.linearize.TracedLinearization`).

        The field is traced once (again only when point-dependent penalty nodes are placed anew) and the point
        graph runs once per call. At a point the graphs were neither traced nor checked at, they are checked against
        eager ``torch.func`` there first (F and one product: one eager JVP), so that a field whose operations depend
        on the point's values is traced anew instead of answered wrongly. ``None`` when the field cannot be traced (a
        note says why); the operators then use eager ``torch.func``. ``check_finite``: refuse a NaN/Inf field.
        """
        vector = self.vector(point)
        traced = self._traced[1] if self._traced is not None and self._traced[0] is self.placed else None
        digest = _digest(vector)
        if traced is not None and digest not in self._checked:
            if not traced.agrees(self.field_fn, vector):
                self._traced = None  # the operations differ at this point: trace here
        if self._traced is None or self._traced[0] is not self.placed:
            self._checked = []
            try:
                self._traced = (self.placed, TracedLinearization(self.field_fn, vector))
            except Exception as exc:  # noqa: BLE001 - any tracing failure leaves the eager products, which are exact
                self._traced = (self.placed, None)
                note = f"Jacobian products by eager torch.func: the field could not be traced ({type(exc).__name__})"
                if note not in self.notes:
                    self.notes.append(note)
        traced = self._traced[1]
        if traced is None:
            return None
        if digest not in self._checked:
            self._checked = [*self._checked[-(CHECKED_POINTS - 1) :], digest]
        linear = traced.at(vector)
        if check_finite:
            self._check_finite(linear.value, "the field (ψ̇, θ̇)")
        return linear

    def first_order_fn(self, point: Point | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """F(w) like :meth:`field_fn`, whose first derivatives are the traced products: for maps built on the field.

        An update rule's map calls the field at several points (six for ``n_critic = 5``); a JVP or VJP of the map
        through this function runs the traced product (or transposed) graph at each of them instead of
        differentiating the field eagerly, with the point graphs of the last :data:`FIRST_ORDER_POINTS` points kept.
        Values and first derivatives equal :meth:`field_fn`'s (the products bitwise). It has **no second
        derivatives** (its products read the point's residuals as constants), so it raises under nested ``torch.func``
        transforms (``jacrev``, ``jacfwd``, ``jvp`` of ``jvp``) and in a backward with ``create_graph``, and has no vmap
        rule: use :meth:`field_fn` there. ``point``: where to trace (default: the
        modules' own parameters); :meth:`field_fn` itself when the field cannot be traced.
        """
        if self.linearization(point, check_finite=False) is None:
            return self.field_fn
        recent: list[tuple[torch.Tensor, LinearAt]] = []

        def linear_at(w: torch.Tensor) -> LinearAt:
            for seen, linear in recent:
                if torch.equal(seen, w):
                    return linear
            linear = self.linearization(w, check_finite=False)
            if linear is None:  # traced anew at w and failed: no first-order graphs here
                raise UserError("the field could not be traced at this point; use field_fn")
            recent[:] = [*recent[-(FIRST_ORDER_POINTS - 1) :], (w.detach().clone(), linear)]
            return linear

        def fn(w: torch.Tensor) -> torch.Tensor:
            level = torch._C._functorch.maybe_current_level()  # torch.func transforms around this call
            if level is not None and level > 1:
                raise RuntimeError(SECOND_DERIVATIVE)
            return _FirstOrder.apply(w, linear_at, level is None)

        return fn

    def reuse_trace(self, other: TorchField, point: Point | None = None) -> bool:
        """Take ``other``'s traced graphs when they compute this field: the same operations on constants of the
        same shapes (e.g. the field of the previous checkpoint of a run), checked at the point against eager
        ``torch.func`` (:meth:`~stability.autodiff.linearize.TracedLinearization.reuse_for`). Returns whether they
        were taken; if not, :meth:`linearization` traces this field on first use.
        """
        if other._traced is None or other._traced[1] is None or other._traced[0] is not other.game:
            return False  # nothing traced, or traced for one placement of point-dependent penalty nodes
        vector = self.vector(point)
        if self.placed is not self.game:
            return False
        reused = other._traced[1].reuse_for(self.field_fn, vector)
        if reused is not None:
            self._traced, self._checked = (self.placed, reused), [_digest(vector)]
        return reused is not None

    def describe(self) -> list[str]:
        """One line per block of the field (the equations live in the symbolic engine)."""
        if self.system is not None:
            return [f"d{p.name}/dt: autodiff of Definition 4 ({self.system.name})" for p in self.system.params]
        psi_blocks = [s.name for s in self.game.segments if s.start < self.n_psi]
        return [
            f"psi-dot: {self.n_psi} entries over {len(psi_blocks)} critic tensors",
            f"theta-dot: {self.size - self.n_psi} entries over "
            f"{len(self.game.segments) - len(psi_blocks)} generator tensors",
        ]

    # ---- checks --------------------------------------------------------------------

    def _as_direction(self, direction: Sequence[float] | np.ndarray | torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(
            np.asarray(direction, dtype=float) if not isinstance(direction, torch.Tensor) else direction
        )
        t = t.reshape(-1).to(self.dtype)
        if t.numel() != self.size:
            raise UserError(f"direction vector has {t.numel()} entries, but this game has {self.size}")
        return t

    def _check_finite(self, tensor: torch.Tensor, what: str, matrix: bool = False) -> None:
        # Fast path: a sum is finite when every entry is (an overflowing sum of finite entries only costs the full
        # check below); isfinite on a 10k × 10k Jacobian took 0.6–0.9 s, the sum 0.05 s.
        if bool(torch.isfinite(tensor.sum())):
            return
        bad = ~torch.isfinite(tensor)
        if not bool(bad.any()):
            return
        if matrix:
            rows = torch.nonzero(bad.any(1)).reshape(-1)[:5].tolist()
            cols = torch.nonzero(bad.any(0)).reshape(-1)[:5].tolist()
            where = (
                f"rows {', '.join(self.name_of(i) for i in rows)}; columns {', '.join(self.name_of(i) for i in cols)}"
            )
        else:
            index = torch.nonzero(bad).reshape(-1)
            names = ", ".join(self.name_of(i) for i in index[:5].tolist())
            block = "ψ̇ (critic)" if int(index[0]) < self.n_psi else "θ̇ (generator)"
            where = f"{int(index.numel())} entr{'y' if index.numel() == 1 else 'ies'}, first in {block}: {names}"
        raise UserError(f"NaN/Inf in {what} at {where}")


def _digest(vector: torch.Tensor) -> bytes:
    """A 128-bit digest of a point's exact values (its bytes and dtype): remembers checked points without copies."""
    data = vector.detach().contiguous().cpu().numpy().tobytes()
    return hashlib.blake2b(data + str(vector.dtype).encode(), digest_size=16).digest()


def _basis_chunks(n: int, chunk: int, dtype: torch.dtype) -> Iterator[tuple[int, torch.Tensor]]:
    """The identity of size n, ``chunk`` rows at a time, with the index of each chunk's first row."""
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        basis = torch.zeros(stop - start, n, dtype=dtype)
        basis[torch.arange(stop - start), torch.arange(start, stop)] = 1
        yield start, basis


def torch_field_for(
    system: GanSystem,
    nodes: Nodes = QUADRATURE_NODES,
    constants: Mapping[str, float] | None = None,
    **kwargs: Any,
) -> TorchField:
    """The torch field of a spec, for ``ganstab analyze --backend torch``.

    ``.value(vector)``/``.jacobian(vector)`` take a float64 numpy vector ordered
    like ``system.params``. With the default ``nodes`` (the symbolic engine's
    :data:`~stability.spec.quadrature.QUADRATURE_NODES`) the two backends agree to
    rounding: Gauss rules are exact on the polynomial integrands the symbolic
    engine integrates by moments, and identical to its quadrature elsewhere.
    """
    return TorchField.from_system(system, nodes=nodes, constants=constants, **kwargs)
