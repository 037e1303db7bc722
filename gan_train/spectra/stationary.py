"""``ganstab spectrum --stationary``: a checkpoint polished to the nearest stationary point of its game (issue 27).

The Theorem 1 check of ``003_…`` (J = [[−ρQ, −R], [Rᵀ, 0]], Q ⪰ 0, N(Q) ⊂ N(Rᵀ)) is a statement about equilibria,
and no checkpoint of a real run is one: ‖v‖ stays far above any tolerance. Here each selected checkpoint's game (the
run's own field over a fixed sample set, :func:`~gan_train.spectra.field.run_field`) is moved to the nearest zero of
v by :func:`~stability.analysis.stationary.polish_stationary` (matrix-free Levenberg–Marquardt with CG on JVP and VJP
products), and at the point reached:

* how far it moved, ‖v‖ before and after, and the products it took;
* the top-k eigenvalues of J (ARPACK over VJPs, :func:`~stability.analysis.spectrum.top_eigenvalues`);
* the Theorem 1 check (dense, for games up to :data:`~gan_train.spectra.spectra.THEOREM1_LIMIT` parameters), only
  where a stationary point was reached; where none was, the report says so in words and runs no check that needs one.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_train.spectra.checkpoints import load_checkpoint, run_checkpoints, select_checkpoints
from gan_train.spectra.field import SampleSet, run_field, sample_set
from gan_train.spectra.spectra import THEOREM1_LIMIT, check_which
from stability.analysis.spectrum import Spectrum, top_eigenvalues
from stability.analysis.stationary import StationaryPoint, polish_stationary
from stability.analysis.theorem1 import theorem1_check

#: LM steps of the polish by default (each a CG solve of at most :data:`CG_ITERATIONS` steps).
ITERATIONS = 30
CG_ITERATIONS = 100


@dataclass
class StationaryCheckpoint:
    """One checkpoint, the stationary point its polish reached (or not), and the analysis there."""

    iteration: int
    path: str
    n: int
    n_psi: int
    polish: StationaryPoint
    spectra: dict[str, Spectrum]
    theorem1: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        values = [s.eigenvalues for s in self.spectra.values() if len(s.eigenvalues)]
        found = np.unique(np.concatenate(values)) if values else np.zeros(0, complex)
        return {
            "iteration": self.iteration,
            "path": self.path,
            "n": self.n,
            "n_psi": self.n_psi,
            "polish": self.polish.to_dict(),
            "max_real_part": float(np.max(found.real)) if found.size else None,
            "spectra": {rule: s.to_dict() for rule, s in self.spectra.items()},
            "theorem1": self.theorem1,
            "notes": list(self.notes),
            "seconds": self.seconds,
        }


def stationary_checkpoint(
    checkpoint,
    samples: SampleSet,
    dtype: torch.dtype = torch.float64,
    k: int = 6,
    which: tuple[str, ...] = ("LR",),
    iterations: int = ITERATIONS,
    cg_iterations: int = CG_ITERATIONS,
    rtol: float = 1e-8,
    seconds: float | None = None,
    seed: int = 0,
) -> StationaryCheckpoint:
    """Polish one loaded checkpoint (:func:`~gan_train.spectra.checkpoints.load_checkpoint`) and analyse the result.

    Args:
        checkpoint: the loaded checkpoint.
        samples: the fixed sample set of the field.
        dtype: of the field.
        k, which: eigenvalues per selection rule at the point reached.
        iterations, cg_iterations, rtol, seconds: of :func:`~stability.analysis.stationary.polish_stationary`.
        seed: of ARPACK's start vector.
    """
    start = time.perf_counter()
    field_ = run_field(checkpoint, samples, dtype)
    polish = polish_stationary(
        field_, None, rtol=rtol, iterations=iterations, cg_iterations=cg_iterations, seconds=seconds
    )
    notes = [polish.describe()]
    spectra = {rule: top_eigenvalues(field_, polish.point, k=k, which=rule, seed=seed) for rule in which}
    if not polish.reached:
        notes.append("the eigenvalues are at the best point found, which is not stationary; no Theorem 1 check")
    theorem1 = None
    if polish.reached:
        penalty = field_.game.penalty
        if penalty is not None and penalty.batch_maximum:
            notes.append(f"Theorem 1 is stated for an expectation penalty, not {penalty.form.name}: no check")
        elif field_.size > THEOREM1_LIMIT:
            notes.append(f"the Theorem 1 check needs the dense Jacobian: n = {field_.size} > {THEOREM1_LIMIT}")
        else:
            check = theorem1_check(field_, polish.point)
            theorem1 = {**check.to_dict(), "summary": check.summary()}
    return StationaryCheckpoint(
        checkpoint.iteration,
        str(checkpoint.path) if hasattr(checkpoint, "path") else "",
        field_.size,
        field_.n_psi,
        polish,
        spectra,
        theorem1,
        notes,
        time.perf_counter() - start,
    )


def stationary_along_training(
    run_dir: str | Path,
    checkpoints: str = "last",
    k: int = 6,
    which: str | tuple[str, ...] = ("LR",),
    samples: int | SampleSet | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    iterations: int = ITERATIONS,
    rtol: float = 1e-8,
    seconds: float | None = None,
) -> list[StationaryCheckpoint]:
    """:func:`stationary_checkpoint` at the selected checkpoints of a run (``"last"`` by default), oldest first."""
    rules = check_which(which)
    config, found = run_checkpoints(run_dir)
    chosen = select_checkpoints(found, checkpoints, run_dir)
    if not isinstance(samples, SampleSet):
        samples = sample_set(config, config.batch_size if samples is None else int(samples), seed)
    out = []
    for iteration, path in chosen:
        checkpoint = load_checkpoint(run_dir, config, iteration, path)
        entry = stationary_checkpoint(
            checkpoint, samples, dtype, k, rules, iterations=iterations, rtol=rtol, seconds=seconds, seed=seed
        )
        entry.path = str(path)
        out.append(entry)
    return out


def run_stationary(args: argparse.Namespace) -> int:
    """The ``--stationary`` branch of ``ganstab spectrum``: writes DIR/stationary.json and prints a table."""
    from stability.cli.common import dump_json
    from stability.spec.serialize import jsonable
    from stability.util.atomic import atomic_write

    runs = []
    for run_dir in args.run_dirs:
        entries = stationary_along_training(
            run_dir,
            args.checkpoints,
            args.k,
            args.which,
            args.samples,
            args.seed,
            getattr(torch, args.dtype),
            iterations=args.stationary_iterations,
        )
        runs.append({"run_dir": str(run_dir), "checkpoints": [e.to_dict() for e in entries]})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = dump_json(jsonable({"runs": runs}))
    atomic_write(out / "stationary.json", text + "\n")
    if args.json:
        print(text)
    else:
        print(format_stationary(runs, out))
    return 0


def format_stationary(runs: list[dict], out: Path) -> str:
    """One block per checkpoint: the polish in words, the largest real part, the Theorem 1 verdict."""
    lines = []
    for run in runs:
        lines.append(f"{run['run_dir']}:")
        for c in run["checkpoints"]:
            lines.append(f"  iteration {c['iteration']} (n = {c['n']}): {c['polish']['describe']}")
            if c["max_real_part"] is not None:
                lines.append(f"    max Re λ there: {c['max_real_part']:.6g}")
            if c["theorem1"] is not None:
                lines += [f"    Theorem 1: {line}" for line in c["theorem1"]["summary"]]
                lines.append(f"    Theorem 1 holds: {'yes' if c['theorem1']['holds'] else 'NO'}")
            lines += [f"    note: {n}" for n in c["notes"][1:]]
    lines.append(f"wrote {out / 'stationary.json'}")
    return "\n".join(lines)
