"""Tuning update rules: stability maps over two hyper-parameters, and the fastest settings per measure and rule.

The question §6 of ``003_…`` leaves open — which gradient algorithm, with which hyper-parameters, converges fastest
under which penalty measure — answered locally: at a stable equilibrium of the flow, every rule of
:mod:`stability.analysis.update_rules` contracts offsets by the spectral radius of its linearised map
(:mod:`stability.analysis.discrete`), so

* a *stability map* (:func:`stability_map`) is that radius over a grid of the step and a second hyper-parameter
  (momentum β, the penalty weight ρ, n_critic, Adam's β₁): the region inside the radius-1 contour converges;
* :func:`tune` gives, per penalty measure and rule, the optimal step (and β) with its radius and rate per gradient
  evaluation, and the map of one rule per measure; :func:`paper_update_summary` is the same for the three toys of
  ``003_…`` and the measures of Table 1, for the report of ``ganstab lemmas``.

Grids are evaluated all at once (torch.func.vmap over the rule's map, :func:`~stability.analysis.discrete.
grid_increment_jacobians`); a grid over ρ uses that Definition 4's flow is affine in ρ (two fields give all).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stability.analysis.discrete import (
    RuleAnalysis,
    analyze_rule,
    grid_increment_jacobians,
    penalty_weight_family,
    radius_and_margin,
    rate_per_gradient,
    step_scale,
    torch_evaluator,
)
from stability.analysis.update_rules import UpdateRule, as_rule, assumed_state, parse_rule
from stability.util.errors import UserError

#: Second axes of a stability map, their default range and scale, and which rules take them.
Y_AXES: dict[str, dict[str, Any]] = {
    "momentum": {"range": (-0.9, 0.9), "log": False, "families": ("sgd",)},
    "rho": {"range": (0.1, 10.0), "log": True, "families": ("sgd", "eg", "ogd", "rmsprop", "adam")},
    "n_critic": {"range": (1, 10), "log": False, "families": ("sgd", "rmsprop", "adam")},
    "beta1": {"range": (0.0, 0.95), "log": False, "families": ("adam",)},
}

#: The rules compared when none are given: plain, alternating, alternating with its best momentum, EG, OGD.
DEFAULT_RULES = ("sim", "alt", "alt:momentum=0", "eg", "ogd")


@dataclass
class StabilityMap:
    """The radius of a rule's linearised map over a grid of (step, second hyper-parameter).

    Attributes:
        rule: the rule's text (its own step and second value are replaced by the grid's).
        x_name, y_name: ``step`` and the second axis (:data:`Y_AXES`).
        x, y: the grid axes; the step is lr_d (lr_g = step_ratio·lr_d).
        radius: (len(y), len(x)) spectral radii (NaN where the map is not finite).
        best: the grid point with the fastest rate per gradient evaluation: ``{"x", "y", "radius", "rate"}``.
        x_log, y_log: axis scales for drawing.
    """

    rule: str
    x_name: str
    y_name: str
    x: np.ndarray
    y: np.ndarray
    radius: np.ndarray
    best: dict[str, float] | None
    step_ratio: float = 1.0
    x_log: bool = True
    y_log: bool = False
    null_dim: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def stable_fraction(self) -> float:
        return float(np.mean(np.nan_to_num(self.radius, nan=np.inf) < 1))

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "x": {"name": self.x_name, "values": self.x.tolist(), "log": self.x_log},
            "y": {"name": self.y_name, "values": self.y.tolist(), "log": self.y_log},
            "radius": [[None if not math.isfinite(v) else float(v) for v in row] for row in self.radius],
            "best": self.best,
            "step_ratio": self.step_ratio,
            "stable_fraction": self.stable_fraction,
            "null_dim": self.null_dim,
            "notes": list(self.notes),
        }


def map_rule(rule: UpdateRule | str, y_name: str) -> UpdateRule:
    """The rule a map over ``y_name`` runs: refused when the rule has no such hyper-parameter."""
    rule = as_rule(rule)
    if y_name not in Y_AXES:
        raise UserError(f"unknown map axis {y_name!r}; valid: {', '.join(Y_AXES)}")
    if rule.family not in Y_AXES[y_name]["families"]:
        takes = ", ".join(n for n, a in Y_AXES.items() if rule.family in a["families"])
        raise UserError(f"{rule.name} has no {y_name}; its map axes: {takes}")
    if y_name == "n_critic" and rule.schedule != "alt":
        raise UserError(f"{rule.spec()} steps both players together; an n_critic map needs an alternating rule")
    if y_name == "momentum" and rule.momentum is None:
        rule = rule.with_values(momentum=0.0)  # the buffer joins the state
    return rule


def stability_map(
    rule: UpdateRule | str,
    field_: Any,
    point: Any,
    y_name: str = "momentum",
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    resolution: tuple[int, int] = (121, 81),
    null_dim: int = 0,
    field_at: Callable[[float], Any] | None = None,
    bar: Any = None,
    optimum: dict[str, float] | None = None,
) -> StabilityMap:
    """The radius of ``rule`` over step × ``y_name`` at ``point`` of a torch field.

    Args:
        x_range: steps (lr_d), default 1e-2 to 4 times the step at which the map's increment has radius 1.
        y_range: default :data:`Y_AXES`; for ``n_critic`` integers from its low to its high end.
        resolution: points along the step and the second axis (the second is the integer count for n_critic).
        field_at: ρ ↦ the field at penalty weight ρ (needed for ``rho``; see
            :func:`~stability.analysis.discrete.penalty_weight_family`).
        bar: a tqdm bar advanced per grid point.
        optimum: a refined optimum (``lr_d``, ``momentum``, ``radius``) of the same rule, e.g.
            :func:`~stability.analysis.discrete.analyze_rule`'s, marked instead of the grid's best point when it lies
            inside the map (the radius has a cusp at the optimum, which a grid only approaches).
    """
    import torch

    rule = map_rule(rule, y_name)
    vector = field_.vector(point)
    state = assumed_state(rule, vector, field_.n_psi)
    notes: list[str] = []
    if x_range is None:
        probe = torch_evaluator(rule, state, field_.field_fn)
        scale = step_scale(lambda steps: probe({"step": steps}), float(rule.lr_d) if rule.lr_d is not None else 1.0)
        if scale is None:
            raise UserError("the map's derivative vanishes at every step here (a zero Jacobian): nothing to draw")
        x_range = (1e-2 * scale, 4 * scale)
    axis = Y_AXES[y_name]
    low, high = y_range if y_range is not None else axis["range"]
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise UserError(f"the {y_name} range must be two finite numbers, low < high, got {low}, {high}")
    if y_name == "momentum" and not (-1 < low and high < 1):
        raise UserError(f"momentum must stay in (-1, 1), got {low}, {high}")
    if y_name == "beta1" and not (0 <= low and high < 1):
        raise UserError(f"beta1 must stay in [0, 1), got {low}, {high}")
    if y_name == "rho" and low <= 0:
        raise UserError(f"rho must be > 0, got {low}")
    x = np.geomspace(x_range[0], x_range[1], resolution[0])
    if y_name == "n_critic":
        if low < 1 or not float(low).is_integer() or not float(high).is_integer():
            raise UserError(f"n_critic runs over integers >= 1, got {low}, {high}")
        y = np.arange(int(low), int(high) + 1, dtype=float)
    elif axis["log"]:
        y = np.geomspace(low, high, resolution[1])
    else:
        y = np.linspace(low, high, resolution[1])
    dtype = state.z.dtype
    if y_name == "n_critic":
        rows = []
        for count in y:
            current = rule.with_values(n_critic=int(count))
            count_state = assumed_state(current, vector, field_.n_psi)
            D = grid_increment_jacobians(current, count_state, field_.field_fn, {"step": torch.as_tensor(x)}, bar=bar)
            rows.append(radius_and_margin(D, null_dim)[0])
        radius = np.array(rows)
    else:
        X, Y = np.meshgrid(x, y)
        axes = {"step": torch.as_tensor(X.ravel(), dtype=dtype), y_name: torch.as_tensor(Y.ravel(), dtype=dtype)}
        fn: Any = field_.field_fn
        if y_name == "rho":
            if field_at is None:
                raise UserError("a step × rho map needs the system (to build the field at other weights)")
            fn, _ = penalty_weight_family(field_at, vector)
            notes.append("the point is held fixed over rho (the equilibria of the toys of 003 do not move with rho)")
        D = grid_increment_jacobians(rule, state, fn, axes, bar=bar)
        radius = radius_and_margin(D, null_dim)[0].reshape(X.shape)
    best = _best(rule, x, y, radius, y_name)
    if (
        optimum is not None
        and y_name == "momentum"
        and "momentum" in optimum
        and x[0] <= optimum["lr_d"] <= x[-1]
        and y[0] <= optimum["momentum"] <= y[-1]
        and (best is None or optimum["radius"] <= best["radius"])
    ):
        best = {
            "x": optimum["lr_d"],
            "y": optimum["momentum"],
            "radius": optimum["radius"],
            "rate": rate_per_gradient(optimum["radius"], rule),
            "refined": True,
        }
    return StabilityMap(
        rule.spec(), "step", y_name, x, y, radius, best, rule.step_ratio, True, bool(axis["log"]), null_dim, notes
    )


def _best(rule: UpdateRule, x: np.ndarray, y: np.ndarray, radius: np.ndarray, y_name: str) -> dict[str, float] | None:
    """The grid point with the fastest rate per gradient evaluation (the least radius unless y is n_critic)."""
    gradients = np.full(radius.shape, float(sum(rule.gradients)))
    if y_name == "n_critic":
        gradients = (y + 1)[:, None] * np.ones_like(radius)
    rates = np.where(np.isfinite(radius), radius, np.inf) ** (1 / gradients)
    if not np.isfinite(rates).any():
        return None
    j, i = np.unravel_index(int(np.argmin(rates)), rates.shape)
    return {"x": float(x[i]), "y": float(y[j]), "radius": float(radius[j, i]), "rate": float(rates[j, i])}


# ---- the point to tune at --------------------------------------------------------------------------------------------


@dataclass
class Target:
    """A system, its torch field and the equilibrium the rules are tuned at."""

    label: str
    system: Any
    field: Any
    point: dict[str, float]
    null_dim: int = 0
    classification: str = ""
    notes: list[str] = field(default_factory=list)


def tune_target(system: Any, label: str, at: dict[str, float] | None = None, box: Any = None) -> Target:
    """The system's field and where to tune: ``at``, else the first stable equilibrium the analysis finds.

    Preference: a stable isolated equilibrium; else a continuum whose transverse eigenvalues are stable (its
    dimension of eigenvalues 1 is left out of every radius); else the first equilibrium, with a note.
    """
    from stability.analysis.analyze import analyze
    from stability.analysis.linear import STABLE_CLASSES
    from stability.autodiff.field import torch_field_for
    from stability.symbolic.field import SymbolicField

    field_ = torch_field_for(system)
    if at is not None:
        vector = field_.vector(at)
        flow = float(np.linalg.norm(field_.value(vector)))
        notes = [] if flow < 1e-9 else [f"--at is not an equilibrium (‖v‖ = {flow:.3g}): the radius is a local one"]
        return Target(label, system, field_, dict(zip(_names(field_), vector.tolist())), 0, "given point", notes)
    report = analyze(SymbolicField(system), box=box)
    candidates = []
    for p in report.points:
        e = p.equilibrium
        continuum = e is not None and e.kind == "continuum"
        null = (e.dimension or len(e.free)) if continuum else 0
        eigs = np.sort_complex(np.asarray(p.linear.eigenvalues))
        transverse = eigs[np.argsort(np.abs(eigs))][null:] if null else eigs
        stable = bool(transverse.size and np.all(transverse.real < 0))
        rank = 0 if (stable and not continuum and p.linear.classification in STABLE_CLASSES) else 1 if stable else 2
        candidates.append((rank, len(candidates), p, null))
    if not candidates:
        raise UserError(f"{label}: no equilibrium found; give the point with --at")
    rank, _, chosen, null = min(candidates, key=lambda c: c[:2])
    notes = []
    if rank == 2:
        notes.append(f"no stable equilibrium found; tuned at {_where(chosen.linear.point)} (not stable for the flow)")
    if null:
        notes.append(f"on a continuum of equilibria of dimension {null}: radii are transverse to it")
    return Target(label, system, field_, dict(chosen.linear.point), null, chosen.linear.classification, notes)


def _names(field_: Any) -> list[str]:
    return [str(getattr(p, "name", p)) for p in field_.params]


def _where(point: dict[str, float]) -> str:
    return "(" + ", ".join(f"{k}={v:.4g}" for k, v in point.items()) + ")"


# ---- tune: the table and the maps --------------------------------------------------------------------------------


@dataclass
class TuneReport:
    """Per target (penalty measure): the rules' optima and one stability map."""

    targets: list[Target]
    rules: list[str]
    results: dict[str, list[RuleAnalysis]]
    maps: dict[str, StabilityMap]
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[list[Any]]:
        """The table: measure, rule, best lr_d, lr_g, momentum, radius, rate per gradient, largest stable lr_d."""
        out = []
        for target in self.targets:
            for result in self.results[target.label]:
                best = result.optimum or {}
                out.append(
                    [
                        target.label,
                        result.rule,
                        best.get("lr_d"),
                        best.get("lr_g"),
                        best.get("momentum"),
                        best.get("radius"),
                        best.get("rate_per_gradient"),
                        result.max_stable_step,
                    ]
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "targets": [
                {
                    "label": t.label,
                    "system": t.system.describe(),
                    "point": t.point,
                    "classification": t.classification,
                    "null_dim": t.null_dim,
                    "notes": t.notes,
                    "rules": [r.to_dict() for r in self.results[t.label]],
                    "map": self.maps[t.label].to_dict() if t.label in self.maps else None,
                }
                for t in self.targets
            ],
            "notes": list(self.notes),
        }


TABLE_HEADER = ("measure", "rule", "best lr_d", "best lr_g", "momentum", "radius", "rate/gradient", "largest lr_d")


def tune(
    targets: Sequence[Target],
    rules: Sequence[UpdateRule | str] = DEFAULT_RULES,
    map_of: UpdateRule | str | None = None,
    y_name: str | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    resolution: tuple[int, int] = (121, 81),
    field_at: Callable[[str, float], Any] | None = None,
    progress: bool = False,
) -> TuneReport:
    """The optimal settings of every rule at every target, and the stability map of ``map_of`` per target.

    Args:
        map_of: the rule whose map is drawn (default: the first rule with ``momentum``, else the first rule);
            ``None`` with ``y_name=None`` and no momentum rule still draws step × ρ when ``field_at`` is given.
        y_name: the map's second axis (default ``momentum`` for momentum rules, else ``rho``).
        field_at: (target label, ρ) ↦ the field at weight ρ, for step × ρ maps.
    """
    from tqdm.auto import tqdm

    parsed = [as_rule(r) for r in rules]
    for rule in parsed:  # every assumption is checked before any work
        if rule.family in ("rmsprop", "adam"):
            assumed_state(rule, np.zeros(2), 1)
    if map_of is None:
        map_of = next((r for r in parsed if r.momentum is not None), parsed[0] if parsed else parse_rule("alt"))
    map_of = as_rule(map_of)
    if y_name is None:
        y_name = "momentum" if map_of.family == "sgd" else "rho"
    map_of = map_rule(map_of, y_name)
    if y_name == "rho" and field_at is None:
        raise UserError("a step × rho map needs toys or spec files (to rebuild the field at other weights)")
    results: dict[str, list[RuleAnalysis]] = {}
    maps: dict[str, StabilityMap] = {}
    quiet = None if progress else True
    with tqdm(total=len(targets) * len(parsed), desc="optima", unit=" rule", disable=quiet, leave=False) as bar:
        for target in targets:
            results[target.label] = []
            for rule in parsed:
                results[target.label].append(analyze_rule(rule, target.field, target.point, null_dim=target.null_dim))
                bar.update(1)
    count = resolution[0] * (
        (int(y_range[1]) - int(y_range[0]) + 1 if y_range else 10) if y_name == "n_critic" else resolution[1]
    )
    with tqdm(total=len(targets) * count, desc="stability map", unit=" pt", disable=quiet, leave=False) as bar:
        for target in targets:
            at = (lambda rho, label=target.label: field_at(label, rho)) if field_at is not None else None
            optimum = None
            if y_name == "momentum":
                same = [r for r in results[target.label] if r.rule == map_of.spec()]
                found = same[0] if same else analyze_rule(map_of, target.field, target.point, null_dim=target.null_dim)
                optimum = found.optimum
            maps[target.label] = stability_map(
                map_of, target.field, target.point, y_name, x_range, y_range, resolution, target.null_dim, at, bar,
                optimum,
            )  # fmt: skip
    return TuneReport(list(targets), [r.spec() for r in parsed], results, maps)


# ---- the figure beside the paper ------------------------------------------------------------------------------------

#: Rules of the report figure: the GD family and Adam (β₁ = 0.5, β₂ = 0.9 as the seeds train) at an assumed v.
PAPER_RULES = ("sim", "alt", "alt:momentum=0", "eg", "ogd", "adam:beta1=0.5,beta2=0.9,v=1")
PAPER_MEASURES = ("p_d", "p_g", "mu_gp", "mu_mid", "mu_anchor")


def paper_update_summary(rho: float = 1.0, anchor: float = 2.0, progress: bool = False) -> dict[str, Any]:
    """Fastest rate per gradient of each rule, for the three toys of ``003_…`` × the measures of Table 1, and the
    step × momentum map of alternating GD on the ψx² toy for μ_mid (simple penalty) against WGAN-GP (μ_GP, gp form).

    Adam's rate is its best over lr at a frozen second moment: at an equilibrium its linearisation depends on lr and
    v only through lr/(√(β₂v) + ε) (t = ∞), so the best rate over lr is the same for every v (v = 1 is used).
    """
    from stability.spec.toys import get_toy

    toys = []
    rules = [parse_rule(r) for r in PAPER_RULES]
    for toy in ("dirac", "psi_x2", "lemma3"):
        rates: dict[str, dict[str, float | None]] = {}
        details = {}
        for measure in PAPER_MEASURES:
            system = get_toy(toy, measure=measure, rho=rho, anchor=anchor)
            target = tune_target(system, measure)
            label = measure
            rates[label] = {}
            details[measure] = {"point": target.point, "null_dim": target.null_dim, "notes": target.notes, "rules": {}}
            for rule in rules:
                result = analyze_rule(rule, target.field, target.point, null_dim=target.null_dim)
                best = result.optimum
                rate = best["rate_per_gradient"] if best is not None and best["radius"] < 1 else None
                rates[label][_short(rule)] = rate
                details[measure]["rules"][rule.spec()] = best
        toys.append({"toy": toy, "rates": rates, "details": details})
    maps = []
    for title, measure, form in (("$\\mu_{mid}$ (simple penalty)", "mu_mid", "simple"), ("WGAN-GP", "mu_gp", "gp")):
        system = get_toy("psi_x2", measure=measure, rho=rho, form=form, anchor=anchor)
        target = tune_target(system, measure, at={"psi": 0.0, "theta": 1.0})
        best = analyze_rule("alt:momentum=0", target.field, target.point).optimum
        smap = stability_map(
            "alt:momentum=0", target.field, target.point, "momentum", x_range=(1e-3, 3.0), optimum=best
        )
        if form == "gp":
            smap.notes.append(
                "WGAN-GP's flow is not differentiable at ψ = 0 (the kink of ‖∇ₓD‖ − 1 where ∇ₓD = 0): its "
                "linearisation takes sign(0) = 0, which leaves the unpenalised center J = [[0, −2/3], [2/3, 0]]"
            )
        maps.append((f"alternating GD + momentum, ψx² toy, {title}", smap))
    return {"rules": [_short(r) for r in rules], "toys": toys, "maps": maps, "rho": rho, "anchor": anchor}


def _short(rule: UpdateRule) -> str:
    if rule.name == "alt" and rule.momentum is not None:
        return "alt + momentum"
    if rule.name == "adam":
        return "Adam (0.5, 0.9)"
    return rule.name
