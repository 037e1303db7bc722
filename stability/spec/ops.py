"""Elementary operations on two backends, so each formula is written once.

Penalty forms, loss links and measure rules are plain Python functions of an
``ops`` namespace; :data:`SYMPY` evaluates them to exact expressions for the
symbolic engine and :data:`TORCH` to tensors for autodiff and training.
"""

from __future__ import annotations

from types import SimpleNamespace

import sympy


def _sympy_softplus(t):
    return sympy.log(1 + sympy.exp(t))


SYMPY = SimpleNamespace(
    name="sympy",
    sqrt=sympy.sqrt,
    relu=lambda t: sympy.Max(0, t),
    exp=sympy.exp,
    log=sympy.log,
    softplus=_sympy_softplus,
    square=lambda t: t**2,
)


def _torch_ops() -> SimpleNamespace:
    import torch

    def safe_sqrt(q):
        # sqrt with a zero (sub)gradient at q = 0 instead of inf * 0 = nan: the
        # double `where` keeps the unused branch finite under autograd.
        positive = q > 0
        return torch.where(positive, torch.sqrt(torch.where(positive, q, torch.ones_like(q))), torch.zeros_like(q))

    return SimpleNamespace(
        name="torch",
        sqrt=safe_sqrt,
        relu=torch.relu,
        exp=torch.exp,
        log=torch.log,
        softplus=torch.nn.functional.softplus,
        square=torch.square,
    )


class _LazyTorch:
    """Import torch only when a torch formula is first evaluated."""

    _ops: SimpleNamespace | None = None

    def __getattr__(self, item):
        if _LazyTorch._ops is None:
            _LazyTorch._ops = _torch_ops()
        return getattr(_LazyTorch._ops, item)


TORCH = _LazyTorch()
