"""A GAN game as torch callables: what the autodiff engine differentiates.

A :class:`TorchGame` is the numeric counterpart of a :class:`~stability.spec.system.GanSystem`: D(x; ψ) on a flat
ψ, the data nodes, the generated nodes x_g(θ) of p_θ with their weights, the loss link, and the penalty
(:class:`GamePenalty`: form, ρ, mass and the nodes where it is evaluated) — the same
:class:`~stability.spec.measures.PenaltyMeasure`, :class:`~stability.spec.penalties.PenaltyForm` and
:class:`~stability.spec.links.LossLink` objects the symbolic engine reads. Two builders make one:
:func:`~stability.autodiff.from_spec.game_from_system` (sympy lambdified to torch) and
:func:`~stability.autodiff.from_modules.game_from_modules` (``nn.Module`` critic and generator).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from stability.autodiff.penalty_nodes import NodeSet, PenaltyNodes
from stability.spec.links import LossLink
from stability.spec.penalties import MaxPenalty, PenaltyForm
from stability.spec.system import Penalty


@dataclass(frozen=True)
class ParamSegment:
    """One named block of the flat parameter vector (a module tensor or a symbol)."""

    name: str
    start: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass(frozen=True)
class GamePenalty:
    """M(ψ, θ) · Σ ŵ φ(‖∇ₓD(x̂; ψ)‖²) over the penalty nodes, weighted by ρ/2 in ψ̇ (Definition 4).

    Attributes:
        spec: the penalty of the spec (measure, form, ρ as given).
        form: φ.
        rho: ρ as a float.
        nodes: where x̂ lies (:class:`~stability.autodiff.penalty_nodes.PairedNodes` or ``ProductNodes``).
        mass: ``(psi, theta) -> scalar`` M(ψ, θ), or ``None`` for M = 1.
        multiplier: MaxAL's Lagrange multiplier λ (Eq. 13 of ``001_…``), held fixed; 0 otherwise.

    ``form`` may be a batch-maximum :class:`~stability.spec.penalties.MaxPenalty` (MaxGP, MaxAL): the term is then
    not an expectation but ``−objective(max_i q_i)`` over the (paired, sampled) penalty nodes, the trainer's own
    minibatch definition (:meth:`~stability.autodiff.field.TorchField.penalty_term`).
    """

    spec: Penalty
    form: PenaltyForm | MaxPenalty
    rho: float
    nodes: PenaltyNodes
    mass: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    multiplier: float = 0.0

    @property
    def batch_maximum(self) -> bool:
        """Whether the penalty aggregates by a maximum over the nodes (MaxGP, MaxAL) instead of an expectation."""
        return isinstance(self.form, MaxPenalty)


@dataclass(frozen=True)
class TorchGame:
    """The ingredients of the flow of Definition 4 as torch callables.

    Attributes:
        segments: the named blocks of the flat vector (ψ first, then θ), for messages.
        n_psi: size of ψ in the flat vector.
        discriminator: ``D(x (N, *x_shape), psi (n_psi,)) -> (N,)``.
        data: fixed nodes ``(weights (N,), points (N, *x_shape))`` of p_d.
        generator: ``theta -> (weights, points)`` of p_θ.
        link: the loss link f.
        penalty: the penalty term, or ``None``.
        expectation_note: how expectations are computed.
        dtype: torch dtype of the flat vector and the nodes.
        modules: ``(critic, generator)`` for games built from modules.
    """

    segments: tuple[ParamSegment, ...]
    n_psi: int
    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    data: NodeSet
    generator: Callable[[torch.Tensor], NodeSet]
    link: LossLink
    penalty: GamePenalty | None
    expectation_note: str
    dtype: torch.dtype = torch.float64
    modules: tuple[nn.Module, nn.Module] | None = None

    @property
    def size(self) -> int:
        last = self.segments[-1] if self.segments else None
        return last.start + last.size if last is not None else 0

    @property
    def n_theta(self) -> int:
        return self.size - self.n_psi

    def at(self, vector: np.ndarray) -> TorchGame:
        """The game with point-dependent penalty nodes (kink splits) placed for ``vector`` (float64 numpy)."""
        if self.penalty is None:
            return self
        nodes = self.penalty.nodes.at(vector)
        return self if nodes is self.penalty.nodes else replace(self, penalty=replace(self.penalty, nodes=nodes))
