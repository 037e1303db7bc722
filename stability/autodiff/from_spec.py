"""A :class:`~stability.autodiff.game.TorchGame` from a :class:`~stability.spec.system.GanSystem`.

D, the laws' points and the mass cross the one lambdify boundary (:mod:`stability.spec.lambdify`) to torch;
expectations use the nodes of :mod:`stability.autodiff.nodes` with the symbolic engine's node counts, so the two
engines agree where it integrates numerically and are both exact on the polynomial integrands it integrates by
moments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

import sympy
import torch

from stability.autodiff.game import GamePenalty, ParamSegment, TorchGame
from stability.autodiff.nodes import LawNodes, describe_rule, used_nodes
from stability.autodiff.penalty_nodes import KinkSplitBlock, ProductBlock, ProductNodes, sampled_penalty_nodes
from stability.spec.lambdify import lambdify_torch, numeric_function
from stability.spec.laws import Branch, Law
from stability.spec.quadrature import QUADRATURE_NODES, Nodes, nodes_per_base
from stability.spec.system import GanSystem, Penalty
from stability.util.errors import UserError


def game_from_system(
    system: GanSystem,
    nodes: Nodes = QUADRATURE_NODES,
    rule: str = "quadrature",
    samples: int = 256,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> TorchGame:
    """A :class:`TorchGame` from a spec whose constants are bound (:meth:`GanSystem.bind`).

    Args:
        system: the spec.
        nodes: Gauss nodes per base variable (int, or a map from the number of
            base variables of a branch to nodes per variable); default the symbolic
            engine's :data:`~stability.spec.quadrature.QUADRATURE_NODES`.
        rule: ``"quadrature"`` or ``"samples"`` (seeded, ``samples`` per branch).
        dtype: torch dtype (float64 for analysis).
    """
    if system.constants:
        names = ", ".join(s.name for s in system.constants)
        raise UserError(f"the torch backend needs numbers for {names} (e.g. --param {system.constants[0].name}=1)")
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
    generator = LawNodes(system.generator, theta, **{**kw, "seed": seed + 1}, branch_nodes=on(system.generator))
    note = describe_rule(rule, nodes, samples, seed)
    penalty = None
    if system.penalty is not None:
        spec = system.penalty
        measure = spec.measure
        anchor = measure.anchor_tensor(dtype=dtype, dim=len(system.x))  # one component per data variable
        if rule == "quadrature":
            penalty_nodes = ProductNodes(measure, _spec_blocks(system, spec, nodes, dtype), generator, anchor, dtype)
        else:
            alpha = lambda: LawNodes(measure.alpha, (), **{**kw, "seed": seed + 2})()  # noqa: E731
            penalty_nodes, extra = sampled_penalty_nodes(
                measure, data, generator, generator.size, True, alpha, anchor, seed, dtype
            )
            note += extra
        penalty = GamePenalty(spec, spec.form, float(spec.rho), penalty_nodes, _mass(system, dtype))
    segments = tuple(ParamSegment(s.name, i, ()) for i, s in enumerate(system.params))
    return TorchGame(segments, len(psi), discriminator, data, generator, system.link, penalty, note, dtype)


def _mass(system: GanSystem, dtype: torch.dtype) -> Callable | None:
    measure = system.penalty.measure
    if measure.is_probability:
        return None
    psi, theta = system.psi, system.theta
    mass_fn = lambdify_torch(list(psi) + list(theta), [sympy.sympify(measure.mass)])

    def mass(psi_vec: torch.Tensor, theta_vec: torch.Tensor) -> torch.Tensor:
        out = mass_fn(*[psi_vec[i] for i in range(len(psi))], *[theta_vec[i] for i in range(len(theta))])[0]
        return out if isinstance(out, torch.Tensor) else torch.tensor(float(out), dtype=dtype)

    return mass


def _spec_blocks(system: GanSystem, penalty: Penalty, nodes: Nodes, dtype: torch.dtype):
    """One product block per combination of data, generator and α branches (:meth:`PenaltyMeasure.combinations`).

    Each uses ``nodes_per_base(nodes, k)`` Gauss nodes per used base variable, with k the base variables of the
    combined branch: the rule the symbolic engine applies to the penalty law, so both agree.
    """
    measure = penalty.measure
    grad_sq = sum(sympy.diff(system.discriminator, x) ** 2 for x in system.x)
    laws = {"data": system.data, "generator": system.generator, "alpha": measure.alpha}
    blocks = []
    for c in measure.combinations(system.data, system.generator, len(system.x)):
        parts = {"data": c.data, "generator": c.generator, "alpha": c.alpha}
        combined = Branch(1, c.point, tuple(v for b in parts.values() if b is not None for v in b.bases))
        integrand = _at(system, grad_sq, c.point)
        n = used_nodes(nodes, integrand, combined)
        made: dict[str, LawNodes | None] = {}
        for key, b in parts.items():
            used = b is not None and any(v.symbol in integrand.free_symbols for v in b.bases)
            made[key] = (
                None
                if b is None
                else LawNodes(
                    Law((b,), laws[key].description),
                    system.theta if key == "generator" else (),
                    nodes=n if used else 1,
                    dtype=dtype,
                )
            )
        block = ProductBlock(
            made["data"]() if made["data"] is not None else None,
            made["generator"],
            made["alpha"]() if made["alpha"] is not None else None,
        )
        blocks.append(_kink_split(system, penalty, parts, made, block, c.point, integrand, nodes) or block)
    return tuple(blocks)


def _place(key: str, block: ProductBlock, split: LawNodes) -> ProductBlock:
    """``block`` with the node set of ``key`` replaced by ``split`` (fixed sets are evaluated, θ-dependent kept)."""
    return replace(block, **{key: split if key == "generator" else split()})


def _kink_split(system, penalty, parts, made, block, point, integrand, nodes: Nodes) -> KinkSplitBlock | None:
    """A :class:`KinkSplitBlock` when the form has kinks and one ``uniform01`` base variable is used."""
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
        functions.append(numeric_function([base.symbol, *system.params], expr))
    return KinkSplitBlock(block, made[key], partial(_place, key), tuple(functions), nodes_per_base(nodes, 1))


def _at(system: GanSystem, expr: sympy.Expr, point) -> sympy.Expr:
    return sympy.sympify(expr).xreplace(dict(zip(system.x, point)))
