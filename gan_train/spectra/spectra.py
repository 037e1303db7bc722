"""Spectra of the real game along training: one :class:`CheckpointSpectrum` per checkpoint of a run.

At each checkpoint (ψ, θ) the field v(ψ, θ) = (ψ̇, θ̇) of Definition 4 of ``003_…`` is built from the run's own
objects (:func:`~gan_train.spectra.field.run_field`) over one fixed sample set shared by all checkpoints, and:

* the top-k eigenvalues of J = ∂v/∂(ψ, θ), matrix-free (ARPACK over VJPs, :func:`~stability.analysis.spectrum.
  top_eigenvalues`), each ARPACK run started from the previous checkpoint's Ritz vectors
  (:func:`~stability.analysis.arpack.warm_start_vector`); measured, this saves almost nothing on the toy runs,
  whose Jacobian moves by 5–10% between consecutive checkpoints (``benchmarks/bench_warm_subspace.py``);
* ‖v(ψ, θ)‖, the distance from stationarity, with ‖ψ̇‖ and ‖θ̇‖;
* the spectral radius of simultaneous and alternating GD at the run's learning rates
  (:func:`~stability.analysis.spectrum.discrete_stability`: stable iff |1 + hλ| < 1);
* the spectral radius of the run's own update (issue 24): its optimiser's map with n_critic critic steps and both
  learning rates, linearised at the optimiser state the checkpoint holds (:mod:`gan_train.spectra.run_update`);
* where ‖v‖ is below a tolerance, the Theorem 1 check: J = [[−ρQ, −R], [Rᵀ, 0]], Q ⪰ 0, N(Q) ⊂ N(Rᵀ) and the
  projected system Hurwitz (:func:`~stability.analysis.theorem1.theorem1_check`, dense, so for small games).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_train.spectra.checkpoints import load_checkpoint, run_checkpoints, select_checkpoints
from gan_train.spectra.cost import cost_note, seconds_per_product
from gan_train.spectra.field import SampleSet, run_field, run_notes, sample_set
from gan_train.spectra.run_update import run_update_radius, update_cost
from stability.analysis.arpack import WHICH, warm_start_vector
from stability.analysis.spectrum import (
    DiscreteStability,
    Spectrum,
    discrete_stability,
    top_eigenvalues,
)
from stability.analysis.theorem1 import theorem1_check
from stability.util.errors import UserError

#: Largest game for which the Theorem 1 check (a dense Jacobian and Q, R blocks) is run.
THEOREM1_LIMIT = 4000


@dataclass
class CheckpointSpectrum:
    """The spectrum and stationarity of the field at one checkpoint.

    Attributes:
        iteration: the checkpoint's generator iteration.
        field_norm, psi_dot_norm, theta_dot_norm: ‖v‖, ‖ψ̇‖, ‖θ̇‖.
        spectra: top-k eigenvalues per selection rule (``LR``, ``LM``, ``LI``).
        gd: simultaneous and alternating GD at step ``lr_d`` (empty when not asked for).
        lr_d, lr_g: the run's learning rates at this checkpoint.
        theorem1: the Theorem 1 check when ‖v‖ ≤ the stationarity tolerance and the game is small enough.
        update: the run's own update at this checkpoint (:class:`~stability.analysis.discrete.RuleAnalysis` as a
            dict: rule, radius, rate per gradient, products, the optimiser state it was linearised at).
    """

    iteration: int
    path: str
    field_norm: float
    psi_dot_norm: float
    theta_dot_norm: float
    spectra: dict[str, Spectrum]
    gd: dict[str, DiscreteStability]
    lr_d: float
    lr_g: float
    theorem1: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    update: dict[str, Any] | None = None

    def eigenvalues(self) -> np.ndarray:
        """Every eigenvalue found at this checkpoint (the union over the selection rules)."""
        found = [s.eigenvalues for s in self.spectra.values() if len(s.eigenvalues)]
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=complex)

    @property
    def products(self) -> int:
        return sum(s.products for s in self.spectra.values())

    def to_dict(self) -> dict[str, Any]:
        values = self.eigenvalues()
        return {
            "iteration": self.iteration,
            "path": self.path,
            "field_norm": self.field_norm,
            "psi_dot_norm": self.psi_dot_norm,
            "theta_dot_norm": self.theta_dot_norm,
            "max_real_part": float(np.max(values.real)) if values.size else None,
            "max_abs_imag_part": float(np.max(np.abs(values.imag))) if values.size else None,
            "spectra": {which: s.to_dict() for which, s in self.spectra.items()},
            "products": self.products,
            "learning_rates": {"lr_d": self.lr_d, "lr_g": self.lr_g},
            "gd": {method: _gd_dict(d) for method, d in self.gd.items()},
            "update": self.update,
            "theorem1": self.theorem1,
            "notes": list(self.notes),
            "seconds": self.seconds,
        }


@dataclass
class RunSpectra:
    """:class:`CheckpointSpectrum` of each selected checkpoint of one run, and what the field is."""

    run_dir: str
    label: str
    config: dict[str, Any]
    n: int
    n_psi: int
    samples: dict[str, Any]
    expectation_note: str
    dtype: str
    k: int
    which: tuple[str, ...]
    warm_start: bool
    checkpoints: list[CheckpointSpectrum] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir,
            "label": self.label,
            "n": self.n,
            "n_psi": self.n_psi,
            "n_theta": self.n - self.n_psi,
            "dtype": self.dtype,
            "k": self.k,
            "which": list(self.which),
            "warm_start": self.warm_start,
            "samples": self.samples,
            "expectation_note": self.expectation_note,
            "notes": list(self.notes),
            "config": self.config,
            "checkpoints": [c.to_dict() for c in self.checkpoints],
        }


def _gd_dict(stability: DiscreteStability) -> dict[str, Any]:
    """The GD result without its eigenvalue list (for dense games, the whole spectrum of J)."""
    out = stability.to_dict()
    out.pop("eigenvalues")
    return out


def check_which(which: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"LR,LM"`` or a sequence of rules, checked against :data:`~stability.analysis.arpack.WHICH`."""
    rules = tuple(w.strip().upper() for w in (which.split(",") if isinstance(which, str) else which) if w.strip())
    bad = [w for w in rules if w not in WHICH]
    if bad or not rules:
        raise UserError(f"unknown eigenvalue selection {','.join(bad) or which!r}; valid: {', '.join(WHICH)}")
    return tuple(dict.fromkeys(rules))


def spectra_along_training(
    run_dir: str | Path,
    checkpoints: str = "all",
    k: int = 20,
    which: str | tuple[str, ...] = ("LR",),
    samples: int | SampleSet | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    warm_start: bool = True,
    gd: bool = True,
    stationary_tol: float = 1e-3,
    tol: float | None = None,
    ncv: int | None = None,
    progress: bool = False,
    bar: Any = None,
    update: bool = True,
    update_k: int = 6,
) -> RunSpectra:
    """The spectra of the field at the selected checkpoints of a run, oldest first.

    Args:
        run_dir: the trainer's run directory.
        checkpoints: ``"all"``, ``"last"`` or iterations ``"100,200"``.
        k: eigenvalues per selection rule (k ≥ n − 1 falls back to the dense spectrum, with a note).
        which: selection rules, ``LR`` (largest real part), ``LM`` (magnitude), ``LI`` (imaginary part).
        samples: the size N of the fixed sample set (default: the run's batch size), or a given
            :class:`~gan_train.spectra.field.SampleSet` (e.g. one trainer batch).
        seed: seed of the sample set and of ARPACK's first start vector.
        dtype: of the field and of ARPACK (float32 halves the cost of large games; tolerance 1e-5 then).
        warm_start: start each ARPACK run from the previous checkpoint's Ritz vectors of the same rule.
        gd: compute the spectral radii of simultaneous and alternating GD at the run's ``lr_d``.
        stationary_tol: run the Theorem 1 check where ‖v‖ ≤ this (and n ≤ :data:`THEOREM1_LIMIT`).
        tol: ARPACK's tolerance (default: :func:`top_eigenvalues`'s).
        ncv: ARPACK's basis size (default: :func:`top_eigenvalues`'s).
        progress: product counters on stderr; ``bar``: an outer progress bar advanced once per checkpoint.
        update: the radius of the run's own update (optimiser, n_critic, both learning rates, the checkpoint's
            optimiser state; :func:`~gan_train.spectra.run_update.run_update_radius`).
        update_k: eigenvalues of the update map (ARPACK's top-k by magnitude) for games beyond the dense limit.
    """
    rules = check_which(which)
    if k < 1:
        raise UserError(f"--k must be >= 1, got {k}")
    config, found = run_checkpoints(run_dir)
    chosen = select_checkpoints(found, checkpoints, run_dir)
    if not isinstance(samples, SampleSet):
        samples = sample_set(config, config.batch_size if samples is None else int(samples), seed)
    result: RunSpectra | None = None
    previous: dict[str, np.ndarray | None] = {}
    previous_field = previous_update = None  # the field and the update's Ritz vectors at the checkpoint before
    for iteration, path in chosen:
        start = time.perf_counter()
        checkpoint = load_checkpoint(run_dir, config, iteration, path)
        field_ = run_field(checkpoint, samples, dtype)
        if previous_field is not None:  # the same operations on new weights: the previous trace, checked, not a new one
            field_.reuse_trace(previous_field)
        previous_field = field_
        if result is None:
            result = RunSpectra(
                str(run_dir),
                f"{Path(run_dir).name} ({config.describe_regulariser()})",
                config.to_dict(),
                field_.size,
                field_.n_psi,
                samples.to_dict(),
                field_.expectation_note,
                str(dtype).replace("torch.", ""),
                k,
                rules,
                warm_start,
                notes=run_notes(checkpoint, samples, update),
            )
            seconds = seconds_per_product(field_)  # said before the first ARPACK run, when the run is a long one
            own_cost = update_cost(checkpoint, field_.size) if update else None
            note = cost_note(field_.size, k, rules, seconds, ncv, field_.dtype.itemsize, len(chosen), gd, own_cost)
            if note:
                print(f"ganstab spectrum: note: {note}", file=sys.stderr)
        value = field_.value()
        psi_norm, theta_norm = (
            float(np.linalg.norm(value[: field_.n_psi])),
            float(np.linalg.norm(value[field_.n_psi :])),
        )
        spectra = {}
        for rule in rules:
            before = previous.get(rule)
            v0 = warm_start_vector(before, seed) if warm_start and before is not None else None
            spectrum = top_eigenvalues(
                field_, k=k, which=rule, tol=tol, ncv=ncv, seed=seed, progress=progress, v0=v0, return_vectors=True
            )
            previous[rule], spectrum.vectors = spectrum.vectors, None  # held for the next checkpoint only
            spectra[rule] = spectrum
        steps, step_notes = {}, []
        if gd and checkpoint.lr_d > 0:
            for method in ("simultaneous", "alternating"):
                steps[method] = discrete_stability(field_, step=checkpoint.lr_d, method=method, progress=progress)
        elif gd:  # the last checkpoint of an lr_decay run: x <- x + 0·v is the identity
            step_notes.append(
                f"lr_d is 0 at iteration {checkpoint.iteration} (the end of its schedule): a zero step does not move, "
                "so the update is the identity, of spectral radius exactly 1; no GD radii are computed"
            )
        own = None
        if update:
            warm_from = previous_update if warm_start else None
            own, note = run_update_radius(
                checkpoint, field_, k=update_k, tol=tol, progress=progress, warm_from=warm_from
            )
            if note:
                step_notes.append(note)
            if own is not None:  # its Ritz vectors are held for the next checkpoint only
                previous_update, own.vectors = own.vectors, None
        if checkpoint.config.lr_decay:
            step_notes.append(f"learning rates here: lr_d = {checkpoint.lr_d:g}, lr_g = {checkpoint.lr_g:g} (lr_decay)")
        entry = CheckpointSpectrum(
            checkpoint.iteration,
            str(path),
            float(np.hypot(psi_norm, theta_norm)),
            psi_norm,
            theta_norm,
            spectra,
            steps,
            checkpoint.lr_d,
            checkpoint.lr_g,
            notes=step_notes,
            update=own.to_dict() if own is not None else None,
        )
        if entry.field_norm <= stationary_tol:
            entry.theorem1, note = _theorem1(field_)
            if note:
                entry.notes.append(note)
        entry.seconds = time.perf_counter() - start
        result.checkpoints.append(entry)
        if bar is not None:
            bar.update(1)
    return result


def _theorem1(field_) -> tuple[dict[str, Any] | None, str | None]:
    """The Theorem 1 check near stationarity, or why it is not run."""
    penalty = field_.game.penalty
    if penalty is not None and penalty.batch_maximum:
        return None, f"near stationarity, but Theorem 1 is stated for an expectation penalty, not {penalty.form.name}"
    if field_.size > THEOREM1_LIMIT:
        return None, (
            f"near stationarity, but the Theorem 1 check needs the dense Jacobian: n = {field_.size} > {THEOREM1_LIMIT}"
        )
    check = theorem1_check(field_)
    out = check.to_dict()
    out["summary"] = check.summary()
    return out, None
