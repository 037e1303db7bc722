"""A GAN game as torch callables: what the autodiff engine differentiates.

A :class:`TorchGame` is the numeric counterpart of a
:class:`~stability.spec.system.GanSystem`: D(x; ψ) on a flat ψ, the generated
nodes x_g(θ) of p_θ with their weights, the data nodes, and the penalty
(measure, form, ρ, mass) — the same :class:`~stability.spec.measures.PenaltyMeasure`,
:class:`~stability.spec.penalties.PenaltyForm` and
:class:`~stability.spec.links.LossLink` objects the symbolic engine reads. Two
builders make one: :func:`game_from_system` (sympy lambdified to torch) and
:func:`game_from_modules` (``nn.Module`` critic and generator).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy
import torch
from torch import nn

from stability.autodiff.nodes import (
    LawNodes,
    Nodes,
    describe_rule,
    find_roots,
    lambdify_torch,
    nodes_per_base,
    split_legendre,
    used_nodes,
)
from stability.spec.errors import SpecError
from stability.spec.laws import Branch, Law
from stability.spec.links import LINKS, LossLink
from stability.spec.system import GanSystem, Penalty

NodeSet = tuple[torch.Tensor, torch.Tensor]


@dataclass
class PenaltyBlock:
    """Independent node sets whose product gives part of the penalty law (product coupling).

    ``data`` and ``alpha`` are fixed nodes, ``generator`` maps θ to nodes; an
    unused one is ``None``. A spec has one block per combination of mixture
    branches, with the node count of the symbolic engine for that combination.
    """

    data: NodeSet | None
    generator: Callable[[torch.Tensor], NodeSet] | None
    alpha: NodeSet | None
    kink: KinkSplit | None = None


@dataclass
class KinkSplit:
    """Composite Gauss nodes for a penalty integrand with one used ``uniform01`` base variable.

    The symbolic engine integrates such integrands exactly (``sympy.integrate``)
    even where the form has a kink (|∇ₓD| for WGAN-GP, max(0, ·) for LP). The
    torch engine matches by splitting [0, 1] at the kinks found at the current
    point: Gauss–Legendre on each piece is exact for piecewise polynomials,
    and, the integrand being continuous, moving split points add no Leibniz
    terms to the derivatives.
    """

    part: str  # "d", "g" or "a": the node set that carries the used base variable
    template: LawNodes
    kink_functions: list[Callable[..., Any]]  # numpy k(u, *psi, *theta); kinks at sign changes
    nodes: int


@dataclass
class ParamSegment:
    """One named block of the flat parameter vector (a module tensor or a symbol)."""

    name: str
    start: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass
class TorchGame:
    """The ingredients of the flow of Definition 4 as torch callables.

    Attributes:
        n_psi, n_theta: sizes of ψ and θ in the flat vector (ψ first).
        segments: names of the blocks of the flat vector, for messages.
        discriminator: ``D(x (N, *x_shape), psi (n_psi,)) -> (N,)``.
        data: fixed nodes ``(weights (N,), points (N, *x_shape))`` of p_d.
        generator: ``theta -> (weights, points)`` of p_θ.
        penalty: the penalty spec, or ``None``.
        rho: ρ as a float.
        mass: ``(psi, theta) -> scalar`` M(ψ, θ), or ``None`` for M = 1.
        blocks: the node sets of the product coupling, or ``None`` when paired.
        paired_alpha: one α per pair for the paired coupling, or ``None``.
        anchor: the anchor A as a tensor broadcastable to one sample, or ``None``.
        coupling: ``"product"`` (x_d, x_g, α independent over all node
            combinations) or ``"paired"`` (x̂ᵢ = h(x_d,i, x_g,i, αᵢ), the
            minibatch estimator of the same law).
        link: the loss link f.
        expectation_note: how expectations are computed.
        critic_module, generator_module: the modules, for module games.
    """

    n_psi: int
    n_theta: int
    segments: list[ParamSegment]
    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    data: NodeSet
    generator: Callable[[torch.Tensor], NodeSet]
    penalty: Penalty | None
    rho: float
    mass: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None
    blocks: list[PenaltyBlock] | None
    paired_alpha: torch.Tensor | None
    anchor: torch.Tensor | None
    coupling: str
    link: LossLink
    expectation_note: str
    dtype: torch.dtype = torch.float64
    critic_module: nn.Module | None = None
    generator_module: nn.Module | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.n_psi + self.n_theta

    def prepare(self, vector: np.ndarray) -> None:
        """Place point-dependent nodes (kink splits) for the point ``vector`` (float64 numpy)."""
        for block in self.blocks or ():
            if block.kink is None:
                continue
            values = [float(v) for v in vector]
            roots: list[float] = []
            for fn in block.kink.kink_functions:
                roots += find_roots(
                    lambda u, fn=fn, values=values: np.broadcast_to(np.asarray(fn(u, *values), dtype=float), u.shape)
                )
            nodes = block.kink.template.rebased(*split_legendre(roots, block.kink.nodes))
            if block.kink.part == "d":
                block.data = nodes()
            elif block.kink.part == "a":
                block.alpha = nodes()
            else:
                block.generator = nodes


# ---- from a GanSystem ---------------------------------------------------------------


def game_from_system(
    system: GanSystem,
    nodes: Nodes = QUADRATURE_NODES,
    rule: str = "quadrature",
    samples: int = 256,
    seed: int = 0,
    constants: Mapping[str, float] | None = None,
    dtype: torch.dtype = torch.float64,
) -> TorchGame:
    """A :class:`TorchGame` from a spec: D, laws, mass lambdified to torch.

    Args:
        system: the spec.
        nodes: Gauss nodes per base variable (int, or a map from the number of
            base variables of a branch to nodes per variable). The default is the
            symbolic engine's :data:`~stability.spec.quadrature.QUADRATURE_NODES`, so
            both engines agree where it integrates numerically and are both exact
            on the polynomial integrands where it uses moments.
        rule: ``"quadrature"`` or ``"samples"`` (seeded, ``samples`` per branch).
        constants: values of free constants (a symbolic ρ).
        dtype: torch dtype (float64 for analysis).
    """
    by_name = {s.name: s for s in system.constants}
    unknown = set(constants or {}) - set(by_name)
    if unknown:
        raise SpecError(
            f"unknown constant(s) {', '.join(sorted(unknown))}; free constants: {', '.join(by_name) or 'none'}"
        )
    values = {by_name[k]: sympy.Float(v) for k, v in (constants or {}).items()}
    psi, theta = system.psi, system.theta
    D_fn = lambdify_torch(list(system.x) + list(psi), [system.discriminator])

    def discriminator(x: torch.Tensor, psi_vec: torch.Tensor) -> torch.Tensor:
        out = D_fn(*[x[:, i] for i in range(x.shape[1])], *[psi_vec[i] for i in range(len(psi))])[0]
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(out, dtype=x.dtype)
        return torch.broadcast_to(out, x.shape[:1])

    kw = dict(rule=rule, nodes=nodes, samples=samples, seed=seed, dtype=dtype)
    on = lambda law: [used_nodes(nodes, _at(system, system.discriminator, b.point), b) for b in law.branches]  # noqa: E731
    data = LawNodes(system.data, (), **kw, branch_nodes=on(system.data))()
    gen_nodes = LawNodes(system.generator, theta, **{**kw, "seed": seed + 1}, branch_nodes=on(system.generator))
    penalty, rho, mass, blocks, anchor = system.penalty, 0.0, None, None, None
    if penalty is not None:
        rho_expr = sympy.sympify(penalty.rho).xreplace(values)
        if not rho_expr.is_number:
            raise SpecError(f"the torch backend needs a number for rho = {rho_expr} (e.g. --param rho=1)")
        rho = float(rho_expr)
        if not penalty.measure.is_probability:
            mass_fn = lambdify_torch(list(psi) + list(theta), [sympy.sympify(penalty.measure.mass)])

            def mass(psi_vec: torch.Tensor, theta_vec: torch.Tensor) -> torch.Tensor:
                args = [psi_vec[i] for i in range(len(psi))] + [theta_vec[i] for i in range(len(theta))]
                out = mass_fn(*args)[0]
                return out if isinstance(out, torch.Tensor) else torch.tensor(float(out), dtype=dtype)

        if rule == "quadrature":
            blocks = _spec_blocks(system, penalty, nodes, dtype)
        if penalty.measure.anchor is not None:
            vector = penalty.measure.anchor_vector(len(system.x))
            anchor = torch.tensor([float(a) for a in vector], dtype=dtype)
    coupling, paired_alpha = "product", None
    note = describe_rule(rule, nodes, samples, seed)
    if rule == "samples" and penalty is not None:
        coupling, paired_alpha, extra = _paired(penalty, data, gen_nodes.size, samples, seed, dtype)
        note += extra
        if coupling == "product":
            blocks = [
                PenaltyBlock(
                    data if penalty.measure.uses_data else None,
                    gen_nodes if penalty.measure.uses_generator else None,
                    LawNodes(penalty.measure.alpha, (), **{**kw, "seed": seed + 2})()
                    if penalty.measure.alpha is not None
                    else None,
                )
            ]
    segments = [ParamSegment(s.name, i, ()) for i, s in enumerate(system.params)]
    return TorchGame(
        n_psi=len(psi),
        n_theta=len(theta),
        segments=segments,
        discriminator=discriminator,
        data=data,
        generator=gen_nodes,
        penalty=penalty,
        rho=rho,
        mass=mass,
        blocks=blocks,
        paired_alpha=paired_alpha,
        anchor=anchor,
        coupling=coupling,
        link=system.link,
        expectation_note=note,
        dtype=dtype,
    )


def _spec_blocks(system: GanSystem, penalty: Penalty, nodes: Nodes, dtype: torch.dtype) -> list[PenaltyBlock]:
    """One product block per combination of data, generator and α branches.

    Each uses ``nodes_per_base(nodes, k)`` Gauss nodes per base variable, with k
    the base variables of the combined branch: the rule the symbolic engine
    applies to the penalty law (:meth:`PenaltyMeasure.law`), so both agree.
    """
    measure = penalty.measure
    single = lambda law, b: Law((b,), law.description)  # noqa: E731
    grad_sq = sum(sympy.diff(system.discriminator, x) ** 2 for x in system.x)
    dim = len(system.x)
    anchor = measure.anchor_vector(dim)
    data_branches = system.data.branches if measure.uses_data else (None,)
    gen_branches = system.generator.branches if measure.uses_generator else (None,)
    alpha_branches = measure.alpha.branches if measure.alpha is not None else (None,)
    blocks = []
    for bd in data_branches:
        for bg in gen_branches:
            for ba in alpha_branches:
                a = ba.point[0] if ba is not None else None
                point = [
                    measure.rule(
                        bd.point[i] if bd is not None else None,
                        bg.point[i] if bg is not None else None,
                        a,
                        anchor[i] if anchor is not None else None,
                    )
                    for i in range(dim)
                ]
                combined = Branch(1, tuple(point), tuple(v for b in (bd, bg, ba) if b is not None for v in b.bases))
                integrand = _at(system, grad_sq, point)
                n = used_nodes(nodes, integrand, combined)
                parts = {"d": bd, "g": bg, "a": ba}
                laws = {"d": system.data, "g": system.generator, "a": measure.alpha}
                made = {}
                for key, b in parts.items():
                    if b is None:
                        made[key] = None
                        continue
                    used = any(v.symbol in integrand.free_symbols for v in b.bases)
                    made[key] = LawNodes(
                        single(laws[key], b), system.theta if key == "g" else (), nodes=n if used else 1, dtype=dtype
                    )
                block = PenaltyBlock(
                    made["d"]() if made["d"] is not None else None,
                    made["g"],
                    made["a"]() if made["a"] is not None else None,
                )
                block.kink = _kink_split(system, penalty, parts, made, point, integrand, nodes)
                blocks.append(block)
    return blocks


def _kink_split(
    system: GanSystem, penalty: Penalty, parts: dict, made: dict, point, integrand, nodes: Nodes
) -> KinkSplit | None:
    """A :class:`KinkSplit` when the form has kinks and one ``uniform01`` base variable is used."""
    if not penalty.form.kinks:
        return None
    used = [
        (key, v) for key, b in parts.items() if b is not None for v in b.bases if v.symbol in integrand.free_symbols
    ]
    if len(used) != 1 or used[0][1].kind != "uniform01" or len(parts[used[0][0]].bases) != 1:
        return None
    key, base = used[0]
    grads = [_at(system, sympy.diff(system.discriminator, x), point) for x in system.x]
    functions = []
    for kink in penalty.form.kinks:
        expr = grads[0] if (kink == 0 and len(grads) == 1) else sum(g**2 for g in grads) - kink**2
        functions.append(sympy.lambdify([base.symbol, *system.params], expr, modules="numpy"))
    return KinkSplit(key, made[key], functions, nodes_per_base(nodes, 1))


def _at(system: GanSystem, expr: sympy.Expr, point) -> sympy.Expr:
    return sympy.sympify(expr).xreplace(dict(zip(system.x, point)))


def _paired(penalty: Penalty, data: NodeSet, n_gen: int, samples: int, seed: int, dtype: torch.dtype):
    """Use the paired (minibatch) coupling when data and generator sets line up."""
    measure = penalty.measure
    n_data = data[0].shape[0]
    if measure.uses_data and measure.uses_generator and n_data != n_gen:
        return "product", None, "; penalty nodes: product coupling (data and generator sets differ in size)"
    n = n_data if measure.uses_data else n_gen
    alpha = None
    if measure.alpha is not None:
        alpha = measure.alpha.sample(n, generator=torch.Generator().manual_seed(seed + 2), dtype=dtype).reshape(n)
    return "paired", alpha, f"; penalty nodes paired x̂ᵢ = h(x_d,i, x_g,i, αᵢ), {n} pairs"


# ---- from nn.Modules -----------------------------------------------------------------


def _has_batchnorm(module: nn.Module) -> list[str]:
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
            raise SpecError(f"{what} samples must have shape (N, ...), got {tuple(source.shape)}")
        n = source.shape[0]
        return torch.full((n,), 1.0 / n, dtype=dtype), source.detach().to(dtype)
    raise SpecError(f"{what} must be a Law or a tensor of samples, got {type(source).__name__}")


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
) -> TorchGame:
    """A :class:`TorchGame` from a critic D(x; ψ) and a generator G(z; θ).

    Args:
        critic: maps ``(N, *x_shape)`` to ``(N,)`` or ``(N, 1)``.
        generator: maps latent nodes ``(N, *z_shape)`` to ``(N, *x_shape)``.
        data: p_d as a parameter-free :class:`Law` or a fixed tensor of samples.
        latent: the latent law of z, or a fixed tensor of latent samples.
        penalty: measure, form and ρ; the mass must be a number for modules.
        link: the loss link f.
        rule: ``"quadrature"`` (Gauss nodes, ``nodes`` per base variable) or
            ``"samples"`` (``samples`` seeded draws) for the laws given as Laws.
        x_shape: the shape of one data point when ``data`` is a Law on R^d
            (e.g. ``(3, 32, 32)``); default ``(d,)``.
        dtype: torch dtype of the flat vector and the nodes.

    Raises:
        SpecError: BatchNorm in the critic while a gradient penalty is on
            (per-sample input gradients would be wrong), a mass that depends on
            ψ or θ, mismatched shapes.
    """
    if penalty is not None:
        bn = _has_batchnorm(critic)
        if bn:
            raise SpecError(
                f"the critic has BatchNorm ({', '.join(bn)}) while a gradient penalty is on: "
                "per-sample input gradients ∇ₓD would be coupled across the batch and wrong; "
                "use no normalisation or LayerNorm"
            )
    link = LINKS[link] if isinstance(link, str) else link
    wd, xd = _nodes_of(data, "data", rule, nodes, samples, seed, dtype)
    wz, z = _nodes_of(latent, "latent", rule, nodes, samples, seed + 1, dtype)
    if x_shape is not None:
        xd = xd.reshape(xd.shape[0], *x_shape)
    critic_segments = _segments(critic, "D", 0)
    n_psi = sum(s.size for s in critic_segments)
    gen_segments = _segments(generator, "G", n_psi)
    n_theta = sum(s.size for s in gen_segments)
    critic_buffers = {name: b.to(dtype) if b.is_floating_point() else b for name, b in critic.named_buffers()}
    gen_buffers = {name: b.to(dtype) if b.is_floating_point() else b for name, b in generator.named_buffers()}

    def discriminator(x: torch.Tensor, psi_vec: torch.Tensor) -> torch.Tensor:
        state = {**critic_buffers, **_unflatten(psi_vec, critic_segments, "D", 0)}
        return torch.func.functional_call(critic, state, (x,)).reshape(x.shape[0])

    def generate(theta_vec: torch.Tensor) -> NodeSet:
        state = {**gen_buffers, **_unflatten(theta_vec, gen_segments, "G", n_psi)}
        return wz, torch.func.functional_call(generator, state, (z,))

    rho, mass, blocks, anchor, paired_alpha = 0.0, None, None, None, None
    coupling = "product"
    note = describe_rule(rule, nodes, samples, seed)
    notes: list[str] = []
    if penalty is not None:
        measure = penalty.measure
        mass_expr = sympy.sympify(measure.mass)
        if not mass_expr.is_number:
            raise SpecError(
                f"a penalty mass M = {mass_expr} that depends on parameters is not supported for modules; use M = 1"
            )
        rho_expr = sympy.sympify(penalty.rho)
        if not rho_expr.is_number:
            raise SpecError(f"rho = {rho_expr} must be a number for modules")
        rho = float(rho_expr)
        if float(mass_expr) != 1.0:
            constant = float(mass_expr)
            mass = lambda psi_vec, theta_vec: torch.tensor(constant, dtype=dtype)  # noqa: E731
        if measure.anchor is not None:
            values = [float(a) for a in measure.anchor]
            anchor = torch.tensor(values if len(values) > 1 else values[0], dtype=dtype)
        n_d, n_g = xd.shape[0], z.shape[0]
        # Pairs x̂ᵢ = h(x_d,i, x_g,i, αᵢ) estimate the product law only for i.i.d. samples; quadrature
        # nodes are always combined as a tensor product.
        sampled = (not isinstance(data, Law) or rule == "samples") and (
            not isinstance(latent, Law) or rule == "samples"
        )
        same_size = not (measure.uses_data and measure.uses_generator) or n_d == n_g
        if sampled and same_size:
            coupling = "paired"
            n = n_d if measure.uses_data else n_g
            if measure.alpha is not None:
                gen = torch.Generator().manual_seed(seed + 2)
                paired_alpha = measure.alpha.sample(n, generator=gen, dtype=dtype).reshape(n)
            note += f"; penalty nodes paired x̂ᵢ = h(x_d,i, x_g,i, αᵢ) with seeded α, {n} pairs"
        else:
            alpha = None
            if measure.alpha is not None:
                alpha = LawNodes(
                    measure.alpha, (), rule=rule, nodes=nodes, samples=samples, seed=seed + 2, dtype=dtype
                )()
            blocks = [
                PenaltyBlock(
                    (wd, xd) if measure.uses_data else None, generate if measure.uses_generator else None, alpha
                )
            ]
    if not isinstance(data, Law):
        note += f"; p_d: the {xd.shape[0]} given samples"
    if not isinstance(latent, Law):
        note += f"; latent: the {z.shape[0]} given samples"
    return TorchGame(
        n_psi=n_psi,
        n_theta=n_theta,
        segments=critic_segments + gen_segments,
        discriminator=discriminator,
        data=(wd, xd),
        generator=generate,
        penalty=penalty,
        rho=rho,
        mass=mass,
        blocks=blocks,
        paired_alpha=paired_alpha,
        anchor=anchor,
        coupling=coupling,
        link=link,
        expectation_note=note,
        dtype=dtype,
        critic_module=critic,
        generator_module=generator,
        notes=notes,
    )


def penalty_nodes(
    game: TorchGame, theta: torch.Tensor, generated: NodeSet | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and points x̂ = h(x_d, x_g, α, A) of the normalised penalty law μ̄ at θ.

    Product coupling: every combination of data, generator and α nodes (the
    product law of Table 1 of ``003_…``), block by block; paired:
    x̂ᵢ = h(x_d,i, x_g,i, αᵢ), the minibatch estimator of the same law.
    ``generated`` is ``game.generator(theta)`` when the caller already has it;
    blocks with their own generator nodes (specs, kink splits) still compute theirs.
    """
    measure = game.penalty.measure

    def nodes_of(generator: Callable[[torch.Tensor], NodeSet]) -> NodeSet:
        return generated if generated is not None and generator is game.generator else generator(theta)

    if game.coupling == "paired":
        wd, pd = game.data
        wg, pg = nodes_of(game.generator)
        event = pd.shape[1:] if measure.uses_data else pg.shape[1:]
        weights = wd if measure.uses_data else wg
        a = game.paired_alpha.reshape(-1, *(1,) * len(event)) if game.paired_alpha is not None else None
        points = measure.rule(pd if measure.uses_data else None, pg if measure.uses_generator else None, a, game.anchor)
        return weights, points
    all_w, all_x = [], []
    for block in game.blocks:
        sets = []
        if block.data is not None:
            sets.append(("d",) + tuple(block.data))
        if block.generator is not None:
            sets.append(("g",) + tuple(nodes_of(block.generator)))
        if block.alpha is not None:
            sets.append(("a", block.alpha[0], block.alpha[1].reshape(-1)))
        sizes = [s[1].shape[0] for s in sets]
        total = int(np.prod(sizes))
        weights = torch.ones(sizes, dtype=game.dtype)
        expanded: dict[str, Any] = {"d": None, "g": None, "a": None}
        for axis, (key, w, p) in enumerate(sets):
            shape = [1] * len(sets)
            shape[axis] = -1
            weights = weights * w.reshape(shape)
            index = torch.arange(sizes[axis]).reshape(shape).expand(sizes).reshape(total)
            expanded[key] = p[index]
        event = next(s[2].shape[1:] for s in sets if s[0] != "a")
        a = expanded["a"].reshape(-1, *(1,) * len(event)) if expanded["a"] is not None else None
        all_w.append(weights.reshape(total))
        all_x.append(measure.rule(expanded["d"], expanded["g"], a, game.anchor))
    return torch.cat(all_w), torch.cat(all_x)
