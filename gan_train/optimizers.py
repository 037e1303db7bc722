"""The optimisers of a run: building them, the learning-rate schedule, and their state in checkpoints.

Adam (fused where torch has the kernel), RMSprop or plain SGD; with ``lr_decay`` both rates fall linearly to 0 over
``iterations`` (Gulrajani et al.'s ResNet script). In CUDA-graph mode (:mod:`gan_train.graphed`) the optimisers are
*capturable*: step counts on the device and the learning rate a device tensor that the scheduler fills in place, so
a replayed step reads no host number. A checkpoint holds learning rates as Python floats either way
(:func:`portable_state`), so a graphed run resumes eagerly and the other way round (:func:`load_optimizer_state`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

#: Optimiser settings that describe the implementation, not the state: kept from the receiving optimiser on load.
_IMPLEMENTATION_KEYS = ("capturable", "fused", "foreach", "differentiable")


def build_optimizer(config: Any, module: torch.nn.Module, lr: float, capturable: bool) -> torch.optim.Optimizer:
    """The optimiser ``config.optimizer`` over ``module``'s parameters at rate ``lr``.

    Adam uses torch's fused kernel where there is one (the same update, ~6x cheaper step on CPU). A fixed generator
    has no parameters: it gets an SGD over one empty placeholder tensor, whose steps change nothing, so the scheduler
    and the checkpoints look the same for every run. ``capturable``: a CUDA-graph run (:func:`_capturable`).
    """
    params = list(module.parameters())
    if not params:
        return torch.optim.SGD([torch.zeros(0, requires_grad=True)], lr=lr)
    betas = (config.beta1, config.beta2)
    if capturable:
        return _capturable(config.optimizer, params, lr, betas)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    if config.optimizer == "sgd":  # 000_… App. Fig. 10–11 (line 390): "SGD optimizer with lr=…"
        return torch.optim.SGD(params, lr=lr, foreach=True)
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)


def _capturable(kind: str, params: list[torch.Tensor], lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    """A capturable optimiser whose learning rate is a device tensor (SGD is refused by the config in graph mode)."""
    lr_tensor = torch.tensor(lr, dtype=torch.float32, device=params[0].device)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr_tensor, foreach=True, capturable=True)
    return torch.optim.Adam(params, lr=lr_tensor, betas=betas, fused=True, capturable=True)


def lr_factor(config: Any) -> Callable[[int], float]:
    """The factor of the base rate after ``step`` scheduler steps: 1, or ``1 − step/iterations`` with ``lr_decay``."""
    decay, iterations = config.lr_decay, config.iterations

    def factor(step: int) -> float:
        return max(0.0, 1.0 - step / iterations) if decay else 1.0

    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: Any, capturable: bool
) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning-rate schedule of ``optimizer`` (:func:`lr_factor`), stepped once per generator iteration.

    ``capturable``: the base rates are kept as Python floats, so that a scheduler step writes the tensor rate with an
    asynchronous ``fill_`` instead of reading a device tensor (a host synchronisation every iteration).
    """
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config))
    if capturable:
        scheduler.base_lrs = [float(rate) for rate in scheduler.base_lrs]
        for group in optimizer.param_groups:
            group["initial_lr"] = float(group["initial_lr"])
    return scheduler


def portable_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """``optimizer.state_dict()`` with Python-float learning rates: a checkpoint of a graphed run resumes eagerly,
    and the other way round (:func:`load_optimizer_state`)."""
    state = optimizer.state_dict()
    for group in state["param_groups"]:
        for key in ("lr", "initial_lr"):
            if isinstance(group.get(key), torch.Tensor):
                group[key] = float(group[key])
    return state


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load ``state`` but keep this optimiser's implementation (capturable, fused, …) and the type of its rate."""
    own = [{key: group[key] for key in _IMPLEMENTATION_KEYS if key in group} for group in optimizer.param_groups]
    tensor_rate = [isinstance(group["lr"], torch.Tensor) for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, keys, as_tensor in zip(optimizer.param_groups, own, tensor_rate):
        group.update(keys)
        device = group["params"][0].device
        rate = float(group["lr"])
        group["lr"] = torch.tensor(rate, dtype=torch.float32, device=device) if as_tensor else rate
        on_device = bool(group.get("capturable") or group.get("fused"))
        for param in group["params"]:  # step counts live where this implementation reads them
            step = optimizer.state.get(param, {}).get("step")
            if isinstance(step, torch.Tensor):
                target = device if on_device else torch.device("cpu")
                optimizer.state[param]["step"] = step.to(device=target, dtype=torch.float32)


def grad_norm(module: torch.nn.Module) -> torch.Tensor:
    """The 2-norm of all of ``module``'s parameter gradients (0 when none has one), on its device, no host sync."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    device = next(module.parameters()).device
    if not grads:
        return torch.zeros((), device=device)
    return torch.nn.utils.get_total_norm(grads).float().to(device)
