"""What a ``ganstab spectrum`` run will cost, said before it starts: one timed Jacobian product times ARPACK's basis.

ARPACK's first Arnoldi factorisation alone takes ncv products, so ncv × (one product's time) is a lower bound on
each selection rule at each checkpoint; the restarts that follow add (ncv − k) products each. ``LR`` uses a basis of
max(8k, 120) vectors (:func:`stability.analysis.spectrum.default_ncv`) where ``LM`` and ``LI`` use ARPACK's
max(2k + 1, 20), and needs more restarts besides: on a 42k-parameter DCGAN with 16 samples, top-20 ``LR`` took 409
products and ``LM`` 109 (``benchmarks/bench_spectrum_rules.py``). The note names that cost and the cheaper rule.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from stability.analysis.spectrum import arpack_basis, default_ncv

#: A run whose lower bound per checkpoint is above this many seconds gets the cost note before it starts.
NOTE_SECONDS = 30.0


def seconds_per_product(field_: Any, repeats: int = 2) -> float:
    """The wall time of one Jacobian product Jᵀu of ``field_`` (the fastest of ``repeats``, after one warm-up)."""
    product = field_.vjp_operator(None)
    u = torch.randn(field_.size, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(field_.dtype)
    product(u)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(u)
        best = min(best, time.perf_counter() - start)
    return best


def cost_note(
    n: int, k: int, rules: tuple[str, ...], seconds: float, ncv: int | None, itemsize: int, checkpoints: int = 1
) -> str | None:
    """The sentence that says what the rules will cost at least, or ``None`` when that is under :data:`NOTE_SECONDS`.

    Raises:
        UserError: a basis that cannot be held in memory (:func:`~stability.analysis.spectrum.arpack_basis`), before
            any ARPACK run.

    Args:
        n: the game's size; k: eigenvalues per rule; rules: ``LR``, ``LM``, ``LI``.
        seconds: one product's time (:func:`seconds_per_product`).
        ncv: the basis size asked for (``None``: each rule's default).
        itemsize: bytes per number of the field (the default basis is capped by memory).
        checkpoints: how many checkpoints the run analyses.
    """
    if k >= n - 1:
        return None  # the dense spectrum: no ARPACK basis
    basis = {rule: arpack_basis(n, k, rule, ncv, itemsize)[0] for rule in rules}  # refuses one beyond memory
    least = sum(basis.values()) * seconds
    if least * checkpoints < NOTE_SECONDS:
        return None
    parts = [f"{rule}: at least {size} products (≈ {size * seconds:.0f} s)" for rule, size in basis.items()]
    text = (
        f"one Jacobian product takes {seconds:.2f} s at n = {n:,}; ARPACK's first factorisation alone needs "
        f"{'; '.join(parts)} per checkpoint, × {checkpoints} checkpoint(s), and restarts add more"
    )
    if "LR" in rules and "LM" not in rules:
        cheap = default_ncv(n, k, "LM", itemsize)
        text += f"; --which LM needs a basis of {cheap} (top-20 LR took 3.8× LM's products on a 42k DCGAN)"
    return text
