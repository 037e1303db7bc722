"""A :class:`~stability.autodiff.game.TorchGame` from a critic D(x; ψ) and a generator G(z; θ) as ``nn.Module``s.

The modules' parameters become one flat vector (ψ then θ, in ``named_parameters`` order) read back with
``torch.func.functional_call``; buffers (BatchNorm statistics of the generator) are held fixed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy
import torch
from torch import nn

from stability.autodiff.game import GamePenalty, ParamSegment, TorchGame
from stability.autodiff.nodes import LawNodes, describe_rule
from stability.autodiff.penalty_nodes import NodeSet, PairedNodes, sampled_penalty_nodes
from stability.spec.laws import Law
from stability.spec.links import LossLink, get_link
from stability.spec.penalties import MaxPenalty
from stability.spec.system import Penalty
from stability.util.errors import UserError


def batchnorm_layers(module: nn.Module) -> list[str]:
    """Names of the BatchNorm layers of ``module`` (they couple the samples of a batch)."""
    return [
        name or type(module).__name__
        for name, m in module.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]


def _segments(module: nn.Module, prefix: str, start: int) -> list[ParamSegment]:
    out = []
    for name, p in module.named_parameters():
        out.append(ParamSegment(f"{prefix}.{name}", start, tuple(p.shape)))
        start += p.numel()
    return out


def _unflatten(
    vector: torch.Tensor, segments: Sequence[ParamSegment], prefix: str, offset: int
) -> dict[str, torch.Tensor]:
    # One split, not a slice per tensor: under vmap'd VJPs each slice's backward writes a full-size zero
    # tensor and adds it up, while split's backward is a single concatenation.
    first = segments[0].start - offset if segments else 0
    sizes = [seg.size for seg in segments]
    if first != 0 or sum(sizes) != vector.shape[0]:  # a whole-vector slice would still cost a zero fill backward
        vector = vector[first : first + sum(sizes)]
    pieces = torch.split(vector, sizes)
    return {seg.name[len(prefix) + 1 :]: piece.view(seg.shape) for seg, piece in zip(segments, pieces)}


def flatten_modules(critic: nn.Module, generator: nn.Module, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The flat (ψ, θ) vector of two modules' parameters, in ``named_parameters`` order."""
    parts = [p.detach().reshape(-1) for p in critic.parameters()] + [
        p.detach().reshape(-1) for p in generator.parameters()
    ]
    return torch.cat(parts).to(dtype)


def _nodes_of(
    source: Law | torch.Tensor, what: str, rule: str, nodes: int, samples: int, seed: int, dtype: torch.dtype
) -> NodeSet:
    if isinstance(source, Law):
        return LawNodes(source, (), rule=rule, nodes=nodes, samples=samples, seed=seed, dtype=dtype)()
    if isinstance(source, torch.Tensor):
        if source.dim() < 2 or source.shape[0] < 1:
            raise UserError(f"{what} samples must have shape (N, ...), got {tuple(source.shape)}")
        n = source.shape[0]
        return torch.full((n,), 1.0 / n, dtype=dtype), source.detach().to(dtype)
    raise UserError(f"{what} must be a Law or a tensor of samples, got {type(source).__name__}")


def game_from_modules(
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
) -> TorchGame:
    """A :class:`TorchGame` from a critic D(x; ψ) and a generator G(z; θ).

    Args:
        critic: maps ``(N, *x_shape)`` to ``(N,)`` or ``(N, 1)``.
        generator: maps latent nodes ``(N, *z_shape)`` to ``(N, *x_shape)``.
        data: p_d as a parameter-free :class:`Law` or a fixed tensor of samples.
        latent: the latent law of z, or a fixed tensor of latent samples.
        penalty: measure, form and ρ; the mass must be a number for modules.
        link: the loss link f (a :class:`LossLink` or its name).
        rule: ``"quadrature"`` (Gauss nodes, ``nodes`` per base variable) or
            ``"samples"`` (``samples`` seeded draws) for the laws given as Laws.
        x_shape: the shape of one data point when ``data`` is a Law on R^d
            (e.g. ``(3, 32, 32)``); default ``(d,)``.
        dtype: torch dtype of the flat vector and the nodes.
        alpha: the interpolation weights α of the penalty pairs, shape ``(N,)`` (e.g. a trainer's batch), instead
            of seeded draws; needs sample sets (tensors, or ``rule="samples"``) and a measure that draws α.
        anchor: the anchor A as a tensor broadcastable to one sample, instead of the measure's own (e.g. the
            fixed anchor image of an image run).
        multiplier: MaxAL's λ (Eq. 13 of ``001_…``), held fixed, when the form is a batch-maximum penalty.

    The form may be a batch-maximum :class:`~stability.spec.penalties.MaxPenalty` (MaxGP, MaxAL) when the penalty
    nodes are paired samples: the term is then ``−objective(max_i q_i)`` over those points, not an expectation.

    Raises:
        UserError: BatchNorm in the critic while a gradient penalty is on
            (per-sample input gradients would be wrong), a mass that depends on
            ψ or θ, mismatched shapes, an unknown link.
    """
    if penalty is not None:
        bn = batchnorm_layers(critic)
        if bn:
            raise UserError(
                f"the critic has BatchNorm ({', '.join(bn)}) while a gradient penalty is on: "
                "per-sample input gradients ∇ₓD would be coupled across the batch and wrong; "
                "use no normalisation or LayerNorm"
            )
    link = get_link(link) if isinstance(link, str) else link
    wd, xd = _nodes_of(data, "data", rule, nodes, samples, seed, dtype)
    wz, z = _nodes_of(latent, "latent", rule, nodes, samples, seed + 1, dtype)
    if x_shape is not None:
        xd = xd.reshape(xd.shape[0], *x_shape)
    critic_segments = _segments(critic, "D", 0)
    n_psi = sum(s.size for s in critic_segments)
    gen_segments = _segments(generator, "G", n_psi)
    critic_buffers = {name: b.to(dtype) if b.is_floating_point() else b for name, b in critic.named_buffers()}
    gen_buffers = {name: b.to(dtype) if b.is_floating_point() else b for name, b in generator.named_buffers()}

    def discriminator(x: torch.Tensor, psi_vec: torch.Tensor) -> torch.Tensor:
        state = {**critic_buffers, **_unflatten(psi_vec, critic_segments, "D", 0)}
        return torch.func.functional_call(critic, state, (x,)).reshape(x.shape[0])

    def generate(theta_vec: torch.Tensor) -> NodeSet:
        state = {**gen_buffers, **_unflatten(theta_vec, gen_segments, "G", n_psi)}
        return wz, torch.func.functional_call(generator, state, (z,))

    note = describe_rule(rule, nodes, samples, seed)
    game_penalty = None
    if penalty is not None:
        measure = penalty.measure
        mass_expr = sympy.sympify(measure.mass)
        if not mass_expr.is_number:
            raise UserError(
                f"a penalty mass M = {mass_expr} that depends on parameters is not supported for modules; use M = 1"
            )
        rho_expr = sympy.sympify(penalty.rho)
        if not rho_expr.is_number:
            raise UserError(f"rho = {rho_expr} must be a number for modules")
        mass = None
        if float(mass_expr) != 1.0:
            constant = float(mass_expr)
            mass = lambda psi_vec, theta_vec: torch.tensor(constant, dtype=dtype)  # noqa: E731
        anchor = measure.anchor_tensor(dtype=dtype) if anchor is None else anchor.detach().to(dtype)
        sampled = (not isinstance(data, Law) or rule == "samples") and (
            not isinstance(latent, Law) or rule == "samples"
        )
        product_alpha = lambda: LawNodes(  # noqa: E731
            measure.alpha, (), rule=rule, nodes=nodes, samples=samples, seed=seed + 2, dtype=dtype
        )()
        penalty_nodes, extra = sampled_penalty_nodes(
            measure, (wd, xd), generate, z.shape[0], sampled, product_alpha, anchor, seed, dtype, alpha=alpha
        )
        note += extra
        if isinstance(penalty.form, MaxPenalty):
            if not isinstance(penalty_nodes, PairedNodes):
                raise UserError(
                    f"the {penalty.form.name} penalty takes a maximum over a sample set, not over quadrature nodes: "
                    'give data and latent samples (tensors, or rule="samples") of equal size'
                )
            note += f"; {penalty.form.name}: the maximum of ‖∇ₓD‖² over the penalty points (not an expectation)"
        game_penalty = GamePenalty(penalty, penalty.form, float(rho_expr), penalty_nodes, mass, float(multiplier))
    if not isinstance(data, Law):
        note += f"; p_d: the {xd.shape[0]} given samples"
    if not isinstance(latent, Law):
        note += f"; latent: the {z.shape[0]} given samples"
    return TorchGame(
        tuple(critic_segments + gen_segments),
        n_psi,
        discriminator,
        (wd, xd),
        generate,
        link,
        game_penalty,
        note,
        dtype,
        (critic, generator),
    )
