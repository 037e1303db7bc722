"""The update a run really trained with, at one of its checkpoints: its rule and its optimiser state.

``ganstab spectrum`` reports, beside the eigenvalues of J and the plain-GD radii, the spectral radius of the run's
*own* update (issue 24): its optimiser (Adam, RMSprop or plain SGD), its n_critic critic steps per generator step,
its two learning rates at that checkpoint (after any ``lr_decay``), as one
:class:`~stability.analysis.update_rules.UpdateRule` of the registry, linearised at the optimiser state the
checkpoint holds (Adam's first and second moments m, v and step counts; RMSprop's square average), not at an assumed
one. The map, its derivative and the radius are :mod:`stability.analysis.update_rules` and
:func:`stability.analysis.discrete.analyze_rule`: nothing here re-derives a step.

The state is read in the order the field flattens the modules (``named_parameters`` of the critic, then of the
generator), which is the order the trainer gave the parameters to its optimisers
(:func:`gan_train.optimizers.build_optimizer`), so torch's integer keys of ``state_dict()["state"]`` are positions
in that list.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from gan_train.errors import CheckpointError
from gan_train.spectra.checkpoints import RunCheckpoint
from stability.analysis.arpack import warm_start_vector
from stability.analysis.discrete import DENSE_LIMIT, RuleAnalysis, analyze_rule, dynamic_index
from stability.analysis.update_rules import RuleState, UpdateRule, get_rule

#: torch.optim's state key of each memory slot of the registry, per optimiser.
_STATE_KEYS = {"adam": {"m": "exp_avg", "v": "exp_avg_sq"}, "rmsprop": {"v": "square_avg"}, "sgd": {}}


def run_rule(checkpoint: RunCheckpoint) -> UpdateRule | None:
    """The registry rule of the run's optimiser at this checkpoint, or ``None`` when a learning rate is 0.

    Hyper-parameters come from the checkpoint's optimiser (``param_groups``: betas, eps, alpha, the scheduled lr),
    falling back to the config's and torch's defaults for a checkpoint without them; critic steps are those of the
    next generator iteration (``config.critic_steps``, the warm-up of ``004_…`` §6 included).
    """
    config = checkpoint.config
    if checkpoint.lr_d <= 0 or checkpoint.lr_g <= 0:
        return None
    group = _group(checkpoint.optimizer_states.get("opt_d"))
    values: dict[str, Any] = {
        "lr_d": checkpoint.lr_d,
        "lr_g": checkpoint.lr_g,
        "n_critic": config.critic_steps(checkpoint.iteration),
    }
    if config.optimizer == "sgd":
        return get_rule("alt", **values)
    values["order"] = "alt"
    values["eps"] = float(group.get("eps", 1e-8))
    if config.optimizer == "rmsprop":
        return get_rule("rmsprop", alpha=float(group.get("alpha", 0.99)), **values)
    beta1, beta2 = group.get("betas", (config.beta1, config.beta2))
    return get_rule("adam", beta1=float(beta1), beta2=float(beta2), **values)


def run_state(checkpoint: RunCheckpoint, rule: UpdateRule, w: torch.Tensor, n_psi: int) -> RuleState:
    """The state z = (w, memory slots) and the players' step counts, read from the checkpoint's two optimisers.

    A parameter without optimiser state (never stepped) has zero memory and step 0, torch's own start.

    Raises:
        CheckpointError: optimiser state whose sizes are not those of the modules' parameters.
    """
    keys = _STATE_KEYS[rule.family]
    parts = {slot: [] for slot in rule.slots}
    steps = []
    for name, module in (("opt_d", checkpoint.critic), ("opt_g", checkpoint.generator)):
        params = list(module.parameters())
        saved = checkpoint.optimizer_states.get(name) or {}
        per_param = saved.get("state", {}) if isinstance(saved, dict) else {}
        counts = []
        for index, param in enumerate(params):
            entry = per_param.get(index, {})
            for slot in rule.slots:
                value = entry.get(keys[slot])
                if value is None:
                    parts[slot].append(torch.zeros(param.numel(), dtype=w.dtype))
                    continue
                if value.numel() != param.numel():
                    raise CheckpointError(
                        f"checkpoint {checkpoint.path}: {name}'s {keys[slot]} of parameter {index} has "
                        f"{value.numel()} entries, the parameter {param.numel()}"
                    )
                parts[slot].append(value.detach().reshape(-1).to(w.dtype))
            counts.append(float(entry["step"]) if "step" in entry else 0.0)
        steps.append(max(counts) if counts else 0.0)
    memory = [torch.cat(parts[slot]) if parts[slot] else w.new_zeros(0) for slot in rule.slots]
    for slot, values in zip(rule.slots, memory):
        if values.numel() != w.numel():
            raise CheckpointError(
                f"checkpoint {checkpoint.path}: the optimisers' {keys[slot]} hold {values.numel()} entries, the "
                f"game has {w.numel()} parameters"
            )
    return RuleState(torch.cat([w, *memory]), n_psi, (steps[0], steps[1]))


def state_note(rule: UpdateRule, state: RuleState) -> str:
    """What the linearisation was taken at, in words (never assumed silently)."""
    if not rule.slots:
        return "plain SGD keeps no optimiser memory: the map depends on the parameters only"
    n = state.z.shape[0] // (1 + len(rule.slots))
    described = []
    for i, slot in enumerate(rule.slots):
        values = state.z[(i + 1) * n : (i + 2) * n]
        zeros = int((values == 0).sum())
        text = f"{slot} (‖{slot}‖ = {float(values.norm()):.3g}"
        text += f", {zeros} exact zeros)" if zeros else ")"
        described.append(text)
    critic, generator = (int(s) if math.isfinite(s) else s for s in state.steps)
    return (
        f"linearised at the checkpoint's own optimiser state: {', '.join(described)}, after {critic} critic and "
        f"{generator} generator optimiser steps (the bias correction of the next steps)"
        if rule.family == "adam"
        else f"linearised at the checkpoint's own optimiser state: {', '.join(described)}"
    )


def run_update_radius(
    checkpoint: RunCheckpoint,
    field_: Any,
    k: int = 6,
    tol: float | None = None,
    progress: bool = False,
    dense_limit: int = DENSE_LIMIT,
    warm_from: np.ndarray | None = None,
) -> tuple[RuleAnalysis | None, str | None]:
    """The radius of the run's own update map at the checkpoint: dense up to ``dense_limit`` dynamic state entries
    (parameters and first moments), else ARPACK's top-``k`` of T by magnitude over VJPs of the map, warm-started
    from ``warm_from`` (an earlier checkpoint's Ritz vectors, ``RuleAnalysis.vectors``, of the same size) when given;
    the returned analysis keeps its own in ``vectors`` for the next.

    Returns the analysis, or ``None`` and why not (a learning rate of 0 at the end of an ``lr_decay`` schedule).
    """
    rule = run_rule(checkpoint)
    if rule is None:
        return None, (
            f"a learning rate is 0 at iteration {checkpoint.iteration} (the end of its schedule): the run's update "
            "does not move, so its map is the identity; no update radius is computed"
        )
    w = field_.vector(None)
    state = run_state(checkpoint, rule, w, field_.n_psi)
    size = len(dynamic_index(rule, field_.size))
    v0 = warm_start_vector(warm_from) if warm_from is not None and warm_from.shape[0] == size else None
    analysis = analyze_rule(
        rule,
        field_,
        None,
        state=state,
        optimise=False,
        k=k,
        tol=tol,
        progress=progress,
        dense_limit=dense_limit,
        v0=v0,
        return_vectors=True,  # matrix-free only; the dense spectrum needs no start
    )
    analysis.notes.insert(0, state_note(rule, state))
    return analysis, None


def update_cost(checkpoint: RunCheckpoint, n: int) -> tuple[int, int] | None:
    """(dynamic state entries, field products per map product) of the run's update, for the cost note; ``None``
    when there is no update radius (a learning rate of 0)."""
    rule = run_rule(checkpoint)
    if rule is None:
        return None
    return len(dynamic_index(rule, n)), rule.field_evaluations


def _group(saved: Any) -> dict[str, Any]:
    try:
        return dict(saved["param_groups"][0])
    except (KeyError, IndexError, TypeError):
        return {}
