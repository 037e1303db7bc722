"""Update rules: the optimiser step a GAN is trained with, as one map on (parameters, optimiser memory).

The flow of Definition 4 of ``003_…`` is v(w) = (ψ̇, θ̇) on w = (ψ, θ); the trainer's gradients are g = −v
(critic and generator), so a plain gradient step is w ← w + h·v(w). Training runs a *discrete* rule instead: n_critic
critic steps per generator step, two learning rates, momentum, extragradient, or Adam with its moment estimates. Each
rule here is written once, as the map of torch.optim's step on the whole state

    z = (w, memory₁, …, memoryₖ)      (every slot as long as w; ``RuleState.z``)

and everything else reads that one definition: its linearisation is the derivative of the map (torch.func on the
same function, :mod:`stability.analysis.discrete`), its trajectories iterate it (``ganstab portrait --update``), the
dense update matrices of :mod:`stability.analysis.linear` apply it to a linear field F(w) = Jw.

The map is computed as an *increment* Δ(z), with z' = z + Δ(z): each step adds its change (−lr·buf, (1 − β₂)(g² − v),
…) rather than forming z' and subtracting z, so the derivative ∂Δ/∂z = T − I keeps its small entries (a contraction
1 − 1e-20 per step is not rounded to 1), and the code runs unchanged on numpy arrays and torch tensors, with a
trailing batch axis too.

Rules (registry :data:`RULES`, text syntax :func:`parse_rule`, e.g. ``alt:n_critic=5,lr_d=1e-4,momentum=-0.5`` or
``adam:lr=1e-4,beta1=0.5,beta2=0.9``), with g = −v(w) split into the critic's g_ψ and the generator's g_θ, and lr the
player's own step (lr_d for ψ, lr_g for θ):

* ``sim`` — simultaneous: one g at w, both players step. ``alt`` — alternating, as the trainer runs: n_critic
  critic steps, each with g_ψ at the current (ψ, θ), then one generator step with g_θ at the new ψ.
  Plain step w ← w − lr·g; with ``momentum`` β (torch.optim.SGD, dampening 0, not Nesterov; negative β allowed,
  which torch refuses): buf ← β·buf + g, w ← w − lr·buf (one buffer per player, updated on its own steps).
* ``eg`` — extragradient (Korpelevich): w½ = w − lr·g(w), w ← w − lr·g(w½).
* ``ogd`` — optimistic GD (Daskalakis et al. 2018): w ← w − lr·(2g(w) − g_prev), g_prev ← g(w).
* ``rmsprop`` — torch.optim.RMSprop (centered False, momentum 0): v ← α·v + (1 − α)·g², w ← w − lr·g/(√v + ε).
* ``adam`` — torch.optim.Adam (amsgrad False): m ← β₁·m + (1 − β₁)·g, v ← β₂·v + (1 − β₂)·g², at the
  optimiser's step s (1, 2, …) w ← w − lr/(1 − β₁ˢ)·m/(√v/√(1 − β₂ˢ) + ε).
  ``rmsprop`` and ``adam`` step in the order of ``order=alt`` (default, the trainer's) or ``order=sim``.

Cost: :attr:`UpdateRule.gradients` counts the players' gradient evaluations per map step (critic, generator), as a
trainer pays them: (1, 1) for ``sim``, (n_critic, 1) for ``alt``, (2, 2) for ``eg`` (the extrapolation costs a second
pair), (1, 1) for ``ogd`` (the previous gradient is kept). The rate per gradient evaluation is radius^(1/total).

Adam and RMSprop: at an equilibrium g = 0, so v decays by β₂ (α) each step and the effective step lr/(√v + ε) grows
without bound; their linearisation depends on the assumed second moment v (and on the step count t through the bias
correction), which the rule states as ``v=…`` (``v_d``/``v_g`` per player) and ``t=…`` (generator steps taken,
default ``inf``: no bias correction left) or which is read from a checkpoint's optimiser state. Nothing is assumed
silently: :meth:`UpdateRule.assumption` says what was used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from stability.util.errors import UserError, checked_float, checked_int, unknown_name

#: A flow v(w) = (ψ̇, θ̇) on flat arrays (numpy or torch; a trailing batch axis allowed).
FieldFn = Callable[[Any], Any]


# ---- hyper-parameters -----------------------------------------------------------------------------------------------


def _positive(value: Any, where: str) -> float:
    return checked_float(value, where, positive=True)


def _non_negative(value: Any, where: str) -> float:
    return checked_float(value, where, low=0.0)


def _unit(value: Any, where: str) -> float:
    """A decay rate in [0, 1): torch refuses β ≥ 1 and the average would never forget."""
    number = checked_float(value, where, low=0.0)
    if number >= 1:
        raise UserError(f"{where} must be in [0, 1), got {value}")
    return number


def _momentum(value: Any, where: str) -> float:
    """Heavy-ball β in (−1, 1); negative values are allowed (Gidel et al. 2019), |β| ≥ 1 never forgets."""
    number = checked_float(value, where)
    if not -1 < number < 1:
        raise UserError(f"{where} must be in (-1, 1), got {value}")
    return number


def _n_critic(value: Any, where: str) -> int:
    return checked_int(value, where, 1, 1000)


def _order(value: Any, where: str) -> str:
    text = str(value).strip()
    if text not in ("sim", "alt"):
        raise UserError(f"{where} must be sim or alt, got {value!r}")
    return text


def _steps(value: Any, where: str) -> float:
    """A step count for the bias correction: an integer ≥ 0, or ``inf`` (no correction left)."""
    if isinstance(value, (int, float)) and value == math.inf or str(value).strip().lower() == "inf":
        return math.inf
    return float(checked_int(value, where, 0, 10**15))


@dataclass(frozen=True)
class Key:
    """One hyper-parameter of the rule syntax: its meaning and its check (a one-line :class:`UserError`)."""

    name: str
    meaning: str
    check: Callable[[Any, str], Any]


KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("lr", "step size of both players (lr_d = lr_g = lr)", _positive),
        Key("lr_d", "the critic's step size", _positive),
        Key("lr_g", "the generator's step size", _positive),
        Key("momentum", "heavy-ball beta in (-1, 1), negative allowed (torch.optim.SGD, dampening 0)", _momentum),
        Key("n_critic", "critic steps per generator step", _n_critic),
        Key("order", "sim (both players at once) or alt (critic steps first; default)", _order),
        Key("alpha", "RMSprop's smoothing constant (torch default 0.99)", _unit),
        Key("beta1", "Adam's first-moment decay (torch default 0.9)", _unit),
        Key("beta2", "Adam's second-moment decay (torch default 0.999)", _unit),
        Key("eps", "the denominator's epsilon (torch default 1e-8)", _non_negative),
        Key("v", "assumed second moment of both players, for the linearisation", _positive),
        Key("v_d", "assumed second moment of the critic", _positive),
        Key("v_g", "assumed second moment of the generator", _positive),
        Key("t", "generator steps taken before, for Adam's bias correction (default inf: none left)", _steps),
    )
}

_DEFAULTS: dict[str, Any] = {"n_critic": 1, "order": "alt", "alpha": 0.99, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


# ---- the registry ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleKind:
    """A registry entry: the rule's family, schedule, keys and how to show it.

    Attributes:
        name: the registry name used in the syntax (``alt``).
        label: for tables and figures.
        family: ``sgd``, ``eg``, ``ogd``, ``rmsprop`` or ``adam`` (which step each player takes).
        schedule: ``sim`` or ``alt``, or ``None`` when the ``order`` key chooses.
        keys: the hyper-parameters it accepts.
        torch_optim: the torch.optim step it equals.
        description: one line for ``--help`` and the docs.
    """

    name: str
    label: str
    family: str
    schedule: str | None
    keys: tuple[str, ...]
    torch_optim: str
    description: str


_LR = ("lr", "lr_d", "lr_g")

#: Update rules by name (the syntax ``NAME:key=value,...`` of :func:`parse_rule`).
RULES: dict[str, RuleKind] = {
    k.name: k
    for k in (
        RuleKind(
            "sim",
            "simultaneous GD",
            "sgd",
            "sim",
            (*_LR, "momentum"),
            "torch.optim.SGD (momentum >= 0, dampening 0)",
            "both players step from the same point",
        ),
        RuleKind(
            "alt",
            "alternating GD",
            "sgd",
            "alt",
            (*_LR, "momentum", "n_critic"),
            "torch.optim.SGD per player (momentum >= 0, dampening 0)",
            "n_critic critic steps, then the generator at the new critic",
        ),
        RuleKind("eg", "extragradient", "eg", "sim", _LR, "SGD steps from an extrapolated point", "Korpelevich"),
        RuleKind("ogd", "optimistic GD", "ogd", "sim", _LR, "SGD on 2g_t - g_(t-1)", "Daskalakis et al. 2018"),
        RuleKind(
            "rmsprop",
            "RMSprop",
            "rmsprop",
            None,
            (*_LR, "alpha", "eps", "n_critic", "order", "v", "v_d", "v_g"),
            "torch.optim.RMSprop (centered False, momentum 0)",
            "per-coordinate step lr/(sqrt(v) + eps)",
        ),
        RuleKind(
            "adam",
            "Adam",
            "adam",
            None,
            (*_LR, "beta1", "beta2", "eps", "n_critic", "order", "v", "v_d", "v_g", "t"),
            "torch.optim.Adam (amsgrad False)",
            "first and second moments with bias correction",
        ),
    )
}

_SLOTS = {"sgd": (), "eg": (), "ogd": ("g_prev",), "rmsprop": ("v",), "adam": ("m", "v")}


def rule_names() -> list[str]:
    return list(RULES)


def get_kind(name: str) -> RuleKind:
    """The registry entry of ``name``, or a one-line error listing the valid names."""
    if name not in RULES:
        raise unknown_name("update rule", name, list(RULES))
    return RULES[name]


@dataclass(frozen=True)
class RuleState:
    """The state a rule maps: parameters and optimiser memory, with the players' step counts.

    Attributes:
        z: ``(S·n,)`` (or ``(S·n, B)``): w = (ψ, θ) first, then each memory slot of :attr:`UpdateRule.slots`.
        n_psi: how many of w's n entries are the critic's ψ.
        steps: optimiser steps the critic and the generator have taken (torch's ``step``; ``inf`` = no bias
            correction left).
    """

    z: Any
    n_psi: int
    steps: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class UpdateRule:
    """A rule with its hyper-parameters: build with :func:`parse_rule` or :func:`get_rule`.

    ``values`` holds the keys given (checked numbers, or tensors when a grid is evaluated under ``torch.func.vmap``);
    the rest take torch's defaults (:data:`_DEFAULTS`).
    """

    name: str
    values: Mapping[str, Any] = field(default_factory=dict)

    # ---- what the rule is ----

    @property
    def kind(self) -> RuleKind:
        return RULES[self.name]

    @property
    def family(self) -> str:
        return self.kind.family

    @property
    def schedule(self) -> str:
        return self.kind.schedule or self.values.get("order", _DEFAULTS["order"])

    def get(self, key: str) -> Any:
        """A hyper-parameter: the given value, else torch's default, else ``None``."""
        return self.values.get(key, _DEFAULTS.get(key))

    @property
    def lr_d(self) -> Any:
        return self.values.get("lr_d", self.values.get("lr"))

    @property
    def lr_g(self) -> Any:
        return self.values.get("lr_g", self.values.get("lr"))

    @property
    def momentum(self) -> Any:
        """β, or ``None``: no buffer (a given ``momentum=0`` keeps the buffer, so grids over β share one layout)."""
        return self.values.get("momentum")

    @property
    def n_critic(self) -> int:
        return int(self.get("n_critic")) if self.schedule == "alt" else 1

    @property
    def slots(self) -> tuple[str, ...]:
        """The memory slots of the state after w (each n long)."""
        if self.family == "sgd":
            return ("buf",) if self.momentum is not None else ()
        return _SLOTS[self.family]

    @property
    def frozen_slots(self) -> tuple[str, ...]:
        """Slots the reported radius holds fixed: the second moment, which decays by β₂ (α) on its own at g = 0."""
        return ("v",) if self.family in ("rmsprop", "adam") else ()

    @property
    def constant_linearisation(self) -> bool:
        """True when the map is linear in z for a linear field (GD variants, momentum, EG, OGD)."""
        return self.family in ("sgd", "eg", "ogd")

    @property
    def gradients(self) -> tuple[int, int]:
        """(critic, generator) gradient evaluations per map step, as a trainer pays them."""
        if self.family == "eg":
            return (2, 2)
        return (self.n_critic, 1)

    @property
    def field_evaluations(self) -> int:
        """Evaluations of the whole field v per map step (the analysis' cost of one map product)."""
        if self.family == "eg":
            return 2
        return self.n_critic + 1 if self.schedule == "alt" else 1

    @property
    def step_ratio(self) -> float:
        """lr_g / lr_d as given (1 when only ``lr`` or neither is given): kept when the step is scaled."""
        if self.lr_d is None or self.lr_g is None:
            return 1.0
        return float(self.lr_g) / float(self.lr_d)

    # ---- derived rules ----

    def with_values(self, **changes: Any) -> UpdateRule:
        """The same rule with some hyper-parameters replaced (unchecked: numbers or tensors of a grid)."""
        values = dict(self.values)
        if "lr" in changes:
            values.pop("lr_d", None)
            values.pop("lr_g", None)
        values.update(changes)
        return replace(self, values=values)

    def with_step(self, step: Any) -> UpdateRule:
        """The rule at step h: lr_d = h, lr_g = h·(lr_g/lr_d as given)."""
        ratio = self.step_ratio
        values = {k: v for k, v in self.values.items() if k not in _LR}
        values.update(lr_d=step, lr_g=step * ratio if ratio != 1.0 else step)
        return replace(self, values=values)

    # ---- text ----

    def spec(self) -> str:
        """The rule in the syntax :func:`parse_rule` reads back."""
        if not self.values:
            return self.name
        parts = [f"{k}={_text(self.values[k])}" for k in self.kind.keys if k in self.values]
        return f"{self.name}:{','.join(parts)}"

    def describe(self) -> str:
        """One line in words, e.g. ``alternating GD, 5 critic steps, lr_d = 0.0001, lr_g = 0.0001, β = -0.5``."""
        parts = [self.kind.label]
        if self.family in ("rmsprop", "adam"):
            parts[0] += f" ({'alternating' if self.schedule == 'alt' else 'simultaneous'})"
        if self.schedule == "alt" and self.n_critic > 1:
            parts.append(f"{self.n_critic} critic steps per generator step")
        if self.lr_d is not None:
            same = self.lr_d == self.lr_g
            parts.append(
                f"lr = {_text(self.lr_d)}" if same else f"lr_d = {_text(self.lr_d)}, lr_g = {_text(self.lr_g)}"
            )
        if self.momentum is not None:
            parts.append(f"momentum β = {_text(self.momentum)}")
        for key in ("alpha", "beta1", "beta2", "eps"):
            if key in self.kind.keys:
                parts.append(f"{key} = {_text(self.get(key))}")
        return ", ".join(parts)

    def assumption(self) -> str | None:
        """What the linearisation assumes of the optimiser's memory (``None`` when it depends on none)."""
        if self.family not in ("rmsprop", "adam"):
            return None
        v_d, v_g = self.values.get("v_d", self.values.get("v")), self.values.get("v_g", self.values.get("v"))
        if v_d is None or v_g is None:
            return None
        text = f"second moment v = {_text(v_d)}" if v_d == v_g else f"v_d = {_text(v_d)}, v_g = {_text(v_g)}"
        text += " in every coordinate"
        if self.family == "adam":
            t = self.get("t") if "t" in self.values else math.inf
            text += ", first moment m = 0, " + (
                "t = inf (no bias correction left)" if t == math.inf else f"after t = {int(t)} generator steps"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.spec(),
            "name": self.name,
            "description": self.describe(),
            "torch_optim": self.kind.torch_optim,
            "gradients_per_step": {"critic": self.gradients[0], "generator": self.gradients[1]},
            "state_slots": ["w", *self.slots],
            "assumed_state": self.assumption(),
        }

    # ---- the map ----

    def step(self, state: RuleState, field_fn: FieldFn) -> RuleState:
        """One step of the rule: the state after it (z' = z + Δ(z))."""
        delta, steps = self.increment(state, field_fn)
        return RuleState(state.z + delta, state.n_psi, steps)

    def increment(self, state: RuleState, field_fn: FieldFn) -> tuple[Any, tuple[float, float]]:
        """Δ(z) = z' − z of one step, accumulated from the step's own changes, and the new step counts.

        Pure in z (torch.func transforms compose with it); works on numpy and torch, with a trailing batch axis.
        """
        z, p = state.z, state.n_psi
        count = 1 + len(self.slots)
        if z.shape[0] % count:
            raise UserError(f"state of {z.shape[0]} entries does not split into w and {count - 1} memory slots")
        n = z.shape[0] // count
        w = z[:n]
        memory = {name: z[(i + 1) * n : (i + 2) * n] for i, name in enumerate(self.slots)}
        if self.lr_d is None or self.lr_g is None:
            raise UserError(f"{self.name}: give a step size, lr=... (or lr_d=... and lr_g=...)")
        if self.family == "eg":
            return self._extragradient(w, p, field_fn), state.steps
        players = (
            _Player(self, w[:p], {k: m[:p] for k, m in memory.items()}, self.lr_d, state.steps[0]),
            _Player(self, w[p:], {k: m[p:] for k, m in memory.items()}, self.lr_g, state.steps[1]),
        )
        critic, generator = players

        def gradient() -> Any:
            return -field_fn(_cat([w[:p] + critic.dw, w[p:] + generator.dw]))

        if self.schedule == "sim":
            g = gradient()
            critic.update(g[:p])
            generator.update(g[p:])
        else:
            for _ in range(self.n_critic):
                critic.update(gradient()[:p])
            generator.update(gradient()[p:])
        delta = _cat([critic.dw, generator.dw] + [x for s in self.slots for x in (critic.dm[s], generator.dm[s])])
        return delta, (critic.steps, generator.steps)

    def _extragradient(self, w: Any, p: int, field_fn: FieldFn) -> Any:
        g = -field_fn(w)
        half = _cat([w[:p] - self.lr_d * g[:p], w[p:] - self.lr_g * g[p:]])
        g = -field_fn(half)
        return _cat([-self.lr_d * g[:p], -self.lr_g * g[p:]])


class _Player:
    """One player's part of the state during a map step: its changes so far and its step count."""

    def __init__(self, rule: UpdateRule, w: Any, memory: dict[str, Any], lr: Any, steps: float):
        self.rule, self.lr, self.steps = rule, lr, steps
        self.memory = memory
        self.dw = _zeros_like(w)
        self.dm = {k: _zeros_like(m) for k, m in memory.items()}

    def current(self, slot: str) -> Any:
        return self.memory[slot] + self.dm[slot]

    def update(self, g: Any) -> None:
        """One optimiser step of this player with gradient g (torch.optim's formulas, see the module docstring)."""
        rule, lr = self.rule, self.lr
        family = rule.family
        self.steps += 1
        if family == "sgd":
            beta = rule.momentum
            if beta is None:
                self.dw = self.dw - lr * g
                return
            buf = self.current("buf")
            self.dm["buf"] = self.dm["buf"] + ((beta - 1) * buf + g)  # buf' − buf
            self.dw = self.dw - lr * (beta * buf + g)
        elif family == "ogd":
            previous = self.current("g_prev")
            self.dm["g_prev"] = self.dm["g_prev"] + (g - previous)
            self.dw = self.dw - lr * (2 * g - previous)
        elif family == "rmsprop":
            alpha, eps = rule.get("alpha"), rule.get("eps")
            v = self.current("v")
            v_new = alpha * v + (1 - alpha) * g * g
            self.dm["v"] = self.dm["v"] + (1 - alpha) * (g * g - v)
            self.dw = self.dw - lr * g / (_sqrt(v_new) + eps)
        elif family == "adam":
            beta1, beta2, eps = rule.get("beta1"), rule.get("beta2"), rule.get("eps")
            m, v = self.current("m"), self.current("v")
            m_new = m + (1 - beta1) * (g - m)  # torch's lerp
            v_new = beta2 * v + (1 - beta2) * g * g
            correction1 = 1 - beta1**self.steps
            correction2 = 1 - beta2**self.steps
            self.dm["m"] = self.dm["m"] + (1 - beta1) * (g - m)
            self.dm["v"] = self.dm["v"] + (1 - beta2) * (g * g - v)
            self.dw = self.dw - (lr / correction1) * m_new / (_sqrt(v_new) / _sqrt(correction2) + eps)
        else:  # pragma: no cover - the registry lists every family
            raise AssertionError(family)


# ---- array helpers: numpy or torch alike ------------------------------------------------------------------------


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _cat(parts: list[Any]) -> Any:
    if any(_is_torch(x) for x in parts):
        import torch

        return torch.cat(parts, 0)
    return np.concatenate(parts, 0)


def _zeros_like(x: Any) -> Any:
    if _is_torch(x):
        import torch

        return torch.zeros_like(x)
    return np.zeros_like(x)


def _sqrt(x: Any) -> Any:
    """√x, whose torch derivative at x = 0 is taken as 0 instead of ∞.

    A second moment is exactly 0 only where every gradient so far was exactly 0 (a dead unit of a checkpoint, or
    torch's zero start), and then the first moment is 0 too: the update m/(√v + ε) is identically 0 along v there, so
    its true derivative in v is 0, while autodiff's 0·∞ would be NaN and spread through n_critic steps to every entry
    of a JVP. Values are unchanged (the map still equals torch.optim's step bit for bit).
    """
    if _is_torch(x):
        import torch

        positive = x > 0
        return torch.where(positive, torch.where(positive, x, 1.0).sqrt(), 0.0)
    if isinstance(x, (int, float)):
        return math.sqrt(x)
    return np.sqrt(x)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return "inf" if value == math.inf else f"{value:g}"
    return str(value)


# ---- building rules -------------------------------------------------------------------------------------------------


def get_rule(name: str, **values: Any) -> UpdateRule:
    """A rule by name with checked hyper-parameters, e.g. ``get_rule("alt", lr=0.1, momentum=-0.5)``."""
    kind = get_kind(name)
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in kind.keys:
            raise UserError(f"{name}: unknown key {key!r}; valid: {', '.join(kind.keys)}")
        checked[key] = KEYS[key].check(value, f"{name}: {key}")
    if "lr" in checked and ("lr_d" in checked or "lr_g" in checked):
        raise UserError(f"{name}: give lr (both players) or lr_d and lr_g, not both")
    if ("lr_d" in checked) != ("lr_g" in checked):
        given, missing = ("lr_d", "lr_g") if "lr_d" in checked else ("lr_g", "lr_d")
        raise UserError(f"{name}: {given} is given but {missing} is not; give both, or lr for both")
    if "v" in checked and ("v_d" in checked or "v_g" in checked):
        raise UserError(f"{name}: give v (both players) or v_d and v_g, not both")
    if ("v_d" in checked) != ("v_g" in checked):
        raise UserError(f"{name}: give both v_d and v_g, or v for both")
    if checked.get("order") == "sim" and checked.get("n_critic", 1) > 1:
        raise UserError(f"{name}: n_critic = {checked['n_critic']} needs order=alt (critic steps come first)")
    ordered = {k: checked[k] for k in kind.keys if k in checked}
    return UpdateRule(name, ordered)


def parse_rule(text: str) -> UpdateRule:
    """``NAME`` or ``NAME:key=value,key=value`` → :class:`UpdateRule`; any mistake is a one-line :class:`UserError`.

    Examples: ``alt:n_critic=5,lr_d=1e-4,lr_g=1e-4,momentum=-0.5``, ``adam:lr=1e-4,beta1=0.5,beta2=0.9,v=1e-6``.
    """
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"empty update rule; write NAME[:key=value,...] with NAME one of {', '.join(RULES)}")
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    kind = get_kind(name)
    values: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise UserError(f"{name}: expected key=value pairs separated by commas, got {part!r} in {text!r}")
        if key not in kind.keys:
            raise UserError(f"{name}: unknown key {key!r}; valid: {', '.join(kind.keys)}")
        if key in values:
            raise UserError(f"{name}: {key} is given twice (in {text!r})")
        values[key] = value.strip()
    return get_rule(name, **values)


def as_rule(rule: UpdateRule | str) -> UpdateRule:
    return parse_rule(rule) if isinstance(rule, str) else rule


def syntax_help() -> str:
    """The rules and their keys, one line each (for ``--help`` and errors)."""
    return "; ".join(f"{k.name}: {','.join(k.keys)}" for k in RULES.values())


# ---- states ---------------------------------------------------------------------------------------------------------


def initial_state(rule: UpdateRule, w: Any, n_psi: int, **memory: Any) -> RuleState:
    """The state torch.optim starts from: w, every memory slot zero (or as given), no steps taken.

    Zero memory is torch's start: SGD's first buffer is g (= β·0 + g), Adam's and RMSprop's averages start at 0.
    """
    unknown = set(memory) - set(rule.slots)
    if unknown:
        raise UserError(
            f"{rule.name} has no memory slot {sorted(unknown)}; its slots: {', '.join(rule.slots) or 'none'}"
        )
    parts = [w] + [memory[s] if s in memory else _zeros_like(w) for s in rule.slots]
    return RuleState(_cat(parts), n_psi, (0.0, 0.0))


def assumed_state(rule: UpdateRule, w: Any, n_psi: int) -> RuleState:
    """The state the linearisation is taken at: w, zero first moment and buffers, the rule's assumed v and t.

    Adam and RMSprop need ``v`` (or ``v_d`` and ``v_g``): at an equilibrium their true v has decayed towards 0,
    where the map is not differentiable, so the caller must say which v it means.
    """
    memory: dict[str, Any] = {}
    steps = (0.0, 0.0)
    if "v" in rule.slots:
        v_d, v_g = rule.values.get("v_d", rule.values.get("v")), rule.values.get("v_g", rule.values.get("v"))
        if v_d is None or v_g is None:
            raise UserError(
                f"{rule.name}: its linearisation depends on the second moment v, which decays to 0 at an equilibrium; "
                f"say which to assume, e.g. {rule.spec()}{',' if rule.values else ':'}v=1e-8 (or v_d=...,v_g=...), "
                "or analyse a checkpoint, whose optimiser state holds it"
            )
        ones = _zeros_like(w) + 1
        memory["v"] = _cat([ones[:n_psi] * v_d, ones[n_psi:] * v_g])
        t = rule.values.get("t", math.inf)
        steps = (t * rule.n_critic if rule.schedule == "alt" else t, t)
    state = initial_state(rule, w, n_psi, **memory)
    return replace(state, steps=steps)


def parameters(rule: UpdateRule, state: RuleState) -> Any:
    """The parameters w of a state (its first n entries)."""
    return state.z[: state.z.shape[0] // (1 + len(rule.slots))]


def iterate(
    rule: UpdateRule, state: RuleState, field_fn: FieldFn, n_steps: int, escape: float = math.inf
) -> tuple[np.ndarray, bool]:
    """Parameters along ``n_steps`` map steps (numpy, first row the start), and whether the path escaped.

    Stops early once ‖w‖ exceeds ``escape`` or turns non-finite (the path is then *diverged*).
    """
    path = [np.asarray(parameters(rule, state), dtype=float).copy()]
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(int(n_steps)):
            state = rule.step(state, field_fn)
            w = np.asarray(parameters(rule, state), dtype=float)
            if not np.all(np.isfinite(w)) or np.linalg.norm(w) > escape:
                diverged = True
                break
            path.append(w.copy())
    return np.array(path), diverged


def update_matrix(rule: UpdateRule | str, jacobian: np.ndarray, n_psi: int) -> np.ndarray:
    """The map's matrix T for a linear field v(w) = Jw (numpy): I + Δ applied to the basis of the state.

    For the GD family (``sim``, ``alt``, momentum, ``eg``, ``ogd``) the map is linear in the state, so this is its
    exact Jacobian everywhere; e.g. ``sim`` gives I + hJ and ``alt`` [[I + hA, hB], [hC(I + hA), I + hE + h²CB]]
    for J = [[A, B], [C, E]] (:func:`stability.analysis.linear.alternating_update`).
    """
    return np.eye(_state_size(rule, jacobian)) + update_increment_matrix(rule, jacobian, n_psi)


def update_increment_matrix(rule: UpdateRule | str, jacobian: np.ndarray, n_psi: int) -> np.ndarray:
    """T − I for a linear field, computed from the increment (its small entries are not lost to 1 + x − 1).

    Hyper-parameters may be arrays of one length B (a grid): the result is then (B, N, N), one matrix per point.
    """
    rule = as_rule(rule)
    if not rule.constant_linearisation:
        raise UserError(f"{rule.name}'s map is not linear in its state; linearise it with stability.analysis.discrete")
    J = np.asarray(jacobian, dtype=float)
    size = _state_size(rule, J)
    batch = {np.shape(v) for v in rule.values.values() if np.ndim(v)}
    if len(batch) > 1:
        raise UserError(f"grid hyper-parameters of different shapes: {sorted(batch)}")
    shape = batch.pop() if batch else ()
    basis = np.eye(size).reshape((size, size) + (1,) * len(shape)) * np.ones(shape)
    delta, _ = rule.increment(RuleState(basis, n_psi), lambda w: np.tensordot(J, w, axes=1))
    return np.moveaxis(delta, (0, 1), (-2, -1)) if shape else delta


def _state_size(rule: UpdateRule | str, J: np.ndarray) -> int:
    return (1 + len(as_rule(rule).slots)) * len(J)
