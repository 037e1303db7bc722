"""What a ``ganstab spectrum`` run will cost, said before it starts: one timed Jacobian product times ARPACK's basis.

ARPACK's first Arnoldi factorisation alone takes ncv products, so ncv × (one product's time) is a lower bound on
each selection rule at each checkpoint; the restarts that follow add (ncv − k) products each. ``LR`` uses a basis of
max(8k, 120) vectors (:func:`stability.analysis.arpack.default_ncv`) where ``LM`` and ``LI`` use ARPACK's
max(2k + 1, 20), and needs more restarts besides: on a 42k-parameter DCGAN with 16 samples, top-20 ``LR`` took 415
products and ``LM`` 122 (``benchmarks/bench_spectrum_rules.py``); the GD radii, four more ARPACK runs, took 891.
The note names that cost, the cheaper rule and ``--no-gd``.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import torch

from stability.analysis.arpack import arpack_basis, default_ncv

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
    n: int,
    k: int,
    rules: tuple[str, ...],
    seconds: float,
    ncv: int | None,
    itemsize: int,
    checkpoints: int = 1,
    gd: bool = False,
    update: tuple[int, int] | None = None,
) -> str | None:
    """The sentence that says what the rules will cost at least, or ``None`` when that is under :data:`NOTE_SECONDS`.

    Raises:
        UserError: a basis that cannot be held in memory (:func:`~stability.analysis.arpack.arpack_basis`), before
            any ARPACK run.

    Args:
        n: the game's size; k: eigenvalues per rule; rules: ``LR``, ``LM``, ``LI``.
        seconds: one product's time (:func:`seconds_per_product`).
        ncv: the basis size asked for (``None``: each rule's default).
        itemsize: bytes per number of the field (the default basis is capped by memory).
        checkpoints: how many checkpoints the run analyses.
        gd: the GD radii are computed too: above :func:`~stability.analysis.spectrum.discrete_stability`'s dense
            limit, top-k by LR and by LM of J (simultaneous) and of J_alt(h) (alternating, two products each).
        update: the run's own update radius is computed too: (its dynamic state entries, field products per map
            product), e.g. (2n, 6) for Adam with n_critic = 5; above the dense limit of
            :func:`~stability.analysis.discrete.analyze_rule`, its top-6 of T by magnitude
            (:func:`~stability.analysis.discrete.radius_basis`), each map product costing that many field products.
    """
    if k >= n - 1:
        return None  # the dense spectrum: no ARPACK basis
    basis = {rule: arpack_basis(n, k, rule, ncv, itemsize)[0] for rule in rules}  # refuses one beyond memory
    if gd and n > _gd_parameter("dense_limit"):
        gd_k = _gd_parameter("k")
        basis["GD radii"] = 3 * sum(default_ncv(n, gd_k, rule, itemsize) for rule in ("LR", "LM"))
    if update is not None and update[0] > _update_dense_limit():
        size, evaluations = update
        basis["update radius"] = evaluations * _update_basis(size, itemsize)
    least = sum(basis.values()) * seconds
    if least * checkpoints < NOTE_SECONDS:
        return None
    parts = [f"{rule} {size} (≈ {size * seconds:.0f} s)" for rule, size in basis.items()]
    text = (
        f"one Jacobian product takes {seconds:.2f} s at n = {n:,}; ARPACK's first factorisations alone take "
        f"{', '.join(parts)} products, at least {least:.0f} s per checkpoint × {checkpoints} checkpoint(s) (with "
        "restarts, 2–3 times that on a 42k-parameter DCGAN)"
    )
    if "LR" in rules and "LM" not in rules:
        text += f"; --which LM needs a basis of {default_ncv(n, k, 'LM', itemsize)}"
    if "GD radii" in basis:
        text += "; --no-gd skips the GD radii"
    if "update radius" in basis:
        text += "; --no-update skips the run's own update radius"
    return text


def _update_basis(size: int, itemsize: int) -> int:
    """The basis of the update radius's ARPACK search (:func:`stability.analysis.discrete.radius_basis`, top-6)."""
    from stability.analysis.discrete import radius_basis

    return radius_basis(size, 6, itemsize)


def _update_dense_limit() -> int:
    """Dynamic state entries up to which the update radius is dense (``stability.analysis.discrete.DENSE_LIMIT``)."""
    from stability.analysis.discrete import DENSE_LIMIT

    return DENSE_LIMIT


def _gd_parameter(name: str) -> Any:
    """A default of :func:`~stability.analysis.spectrum.discrete_stability` (its ``k`` and ``dense_limit``)."""
    from stability.analysis.spectrum import discrete_stability

    return inspect.signature(discrete_stability).parameters[name].default
