"""What every experiment shares: options, training that resumes, finished seeds kept, figures and the report.

An experiment module (one per experiment, registered in :data:`gan_train.experiments.EXPERIMENTS`) defines three
functions and has a docstring whose section "Deviations from the paper" lists, one bullet each, what differs from
the seed text (that list is copied into ``results.md`` and ``results.json``):

* ``tasks(options) -> list[Task]``: the training runs, each a *cell* (a method in a setting) and a seed with its
  :class:`~gan_train.config.TrainConfig`, and the iterations at which it is measured;
* ``measure(trainer, task, iteration) -> dict``: the numbers of one run at one of those iterations, read from the
  live :class:`~gan_train.trainer.Trainer` (critic and generator in eval mode, so measuring changes nothing);
* ``report(workspace, outcomes) -> Report``: tables, figures and their numbers, from every task's
  :class:`Outcome`.

Training is always the trainer's own loop. A task trains in ``OUT/runs/CELL/seed_K/`` (a normal run directory, so
``ganstab sample`` works on it) up to each measured iteration in turn (:meth:`Trainer.run` with ``stop_at``); the
measurements so far go to ``OUT/seeds/CELL/seed_K.partial.json`` and, when the run is done, the whole outcome to
``OUT/seeds/CELL/seed_K.json``, both written atomically. A rerun of the same command skips every seed that has its
file, resumes an interrupted run from its newest checkpoint (every checkpoint lies at or before the next
measurement still missing, so none is skipped), and only then writes the report again. A seed file made with a
different configuration (another ``--iters``, or ``--quick``) is refused: a results folder holds one experiment.
A run that diverges is recorded as such (the trainer's message), not retried: on the CPU it would diverge again.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from gan_train.config import TrainConfig
from gan_train.experiments.geometry import quartiles
from stability.spec.serialize import jsonable
from stability.util.atomic import atomic_save, atomic_write, check_writable, ensure_directory
from stability.util.errors import UserError
from stability.util.tables import markdown_table

#: Keys that do not change what a run computes (or only its speed), so a seed file made with other values of them
#: is still this experiment's: where the data lives, the device, threads and the progress bar.
INCIDENTAL_KEYS = ("progress", "threads", "device", "data_dir", "tensorboard")


@dataclass(frozen=True)
class Options:
    """The command line of ``ganstab experiment NAME``.

    Attributes:
        out: the results folder.
        seeds: seeds per cell (``None``: the experiment's default, at most two with ``quick``).
        iters: iterations per run, overriding the paper's (``None``: the paper's, or the quick count).
        quick: the short version run by the tests (tiny networks, tens of iterations).
        data_dir: where image data sets live (``zhou-images``).
        device: the torch device of every run.
        progress: tqdm progress bars.
        cells: shell patterns (``8gaussians-*``); when given, only the cells matching one of them are trained and the
            others are reported as not run (a results folder can be filled a part at a time).
        threads: torch CPU threads of every run (0: torch's default); two one-thread experiments side by side use two
            cores better than one two-thread run of these small networks.
    """

    out: Path
    seeds: int | None = None
    iters: int | None = None
    quick: bool = False
    data_dir: str = "data"
    device: str = "cpu"
    progress: bool = True
    cells: tuple[str, ...] = ()
    threads: int = 0

    def selects(self, cell: str) -> bool:
        """Whether ``--cells`` lets ``cell`` run (every cell without ``--cells``)."""
        return not self.cells or any(fnmatch.fnmatchcase(cell, pattern) for pattern in self.cells)

    def seed_list(self, default: int) -> list[int]:
        return list(range(self.seeds if self.seeds is not None else (min(2, default) if self.quick else default)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "seeds": self.seeds,
            "iters": self.iters,
            "quick": self.quick,
            "data_dir": self.data_dir,
            "device": self.device,
            "cells": list(self.cells),
        }


@dataclass(frozen=True)
class Task:
    """One training run: ``cell`` (a file-safe name of a method in a setting), a seed and its config.

    ``stops`` are iterations (besides the last) at which the run is measured; the last is ``config.iterations``.
    ``quick`` tells ``measure`` to take the small sample sizes of ``--quick``.
    """

    cell: str
    seed: int
    config: TrainConfig
    stops: tuple[int, ...] = ()
    quick: bool = False

    @property
    def measured_at(self) -> list[int]:
        last = self.config.iterations
        return sorted({s for s in self.stops if 0 < s < last} | {last})


@dataclass
class Outcome:
    """What one task produced: its measurements by iteration, or where it diverged."""

    task: Task
    at: dict[int, dict[str, Any]]
    diverged: str | None = None
    seconds: float = 0.0
    skipped: bool = False
    excluded: bool = False  # outside ``--cells``: not run, no measurements

    @property
    def final(self) -> dict[str, Any] | None:
        """The measurement at the last iteration, ``None`` when the run diverged before it."""
        return self.at.get(self.task.config.iterations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.task.cell,
            "seed": self.task.seed,
            "config": self.task.config.to_dict(),
            "at": {str(k): v for k, v in sorted(self.at.items())},
            "diverged": self.diverged,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Table:
    """A results table: its caption, column names and rows (numbers or text)."""

    caption: str
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]

    def markdown(self) -> str:
        return f"**{self.caption}**\n\n" + markdown_table(self.header, self.rows, _cell_text)

    def to_dict(self) -> dict[str, Any]:
        return {"caption": self.caption, "header": list(self.header), "rows": [list(r) for r in self.rows]}


@dataclass
class Report:
    """What :func:`run_experiment` writes after the runs: tables, figures (saved through the workspace), numbers."""

    tables: list[Table] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # the numbers behind the tables
    figure_data: dict[str, Any] = field(default_factory=dict)  # the numbers behind the figures
    notes: list[str] = field(default_factory=list)  # sentences for results.md (what a reader must know)


class Workspace:
    """The results folder of one experiment: seed files, run directories, figures and the report."""

    def __init__(self, entry: Any, module: ModuleType, options: Options):
        self.entry, self.module, self.options = entry, module, options
        self.out = check_writable(options.out, folder=True)
        ensure_directory(self.out)
        self.figures: list[tuple[str, str]] = []  # (name, caption)

    # ---- paths -------------------------------------------------------------------------------

    def run_dir(self, task: Task) -> Path:
        return self.out / "runs" / task.cell / f"seed_{task.seed}"

    def seed_file(self, task: Task) -> Path:
        return self.out / "seeds" / task.cell / f"seed_{task.seed}.json"

    def partial_file(self, task: Task) -> Path:
        return self.out / "seeds" / task.cell / f"seed_{task.seed}.partial.json"

    # ---- one task ------------------------------------------------------------------------------

    def outcome(self, task: Task, measure: Callable[[Any, Task, int], dict[str, Any]]) -> Outcome:
        """The finished seed's stored outcome, or train (resuming where a run was left) and measure it."""
        path = self.seed_file(task)
        if path.is_file():
            stored = _read_json(path)
            _check_seed_record(stored, path)
            at = _measurements(stored["at"], path)
            _check_same_config(stored["config"], task.config, path)
            return Outcome(task, at, stored["diverged"], float(stored["seconds"]), skipped=True)
        from gan_train.errors import DivergenceError

        started = time.perf_counter()
        partial_path = self.partial_file(task)
        at = _measurements(_read_json(partial_path), partial_path) if partial_path.is_file() else {}
        diverged = None
        with self._open(task) as trainer:  # releases the run's lock when done (or stopped)
            try:
                for stop in task.measured_at:
                    if stop in at:
                        continue
                    if trainer.iteration > stop:
                        raise UserError(
                            f"{self.run_dir(task)} is at iteration {trainer.iteration}, past the measurement at "
                            f"{stop} that {partial_path.name} lacks; delete that run directory to run this seed again"
                        )
                    trainer.run(stop_at=stop)
                    with _evaluating(trainer):
                        at[stop] = jsonable(measure(trainer, task, stop))
                    ensure_directory(partial_path.parent)
                    atomic_write(partial_path, json.dumps({str(k): v for k, v in at.items()}) + "\n")
            except DivergenceError as exc:
                diverged = str(exc)
        outcome = Outcome(task, at, diverged, time.perf_counter() - started)
        ensure_directory(path.parent)
        atomic_write(path, json.dumps(outcome.to_dict()) + "\n")
        if partial_path.is_file():
            partial_path.unlink()
        return outcome

    def _open(self, task: Task) -> Any:
        """A new run, or the interrupted one resumed from its newest checkpoint: :func:`gan_train.run_dir.plan_run`
        decides, and refuses a run begun with other settings (the incidental keys aside: a run continues on the
        device where it began)."""
        from gan_train.trainer import open_run

        return open_run(self.run_dir(task), task.config, keep=INCIDENTAL_KEYS)

    # ---- outputs -----------------------------------------------------------------------------------

    def figure(self, fig: Any, name: str, caption: str) -> None:
        """Save a matplotlib ``Figure`` as ``OUT/name.png`` and ``OUT/name.pdf`` (atomically)."""
        for suffix in ("png", "pdf"):
            atomic_save(self.out / f"{name}.{suffix}", lambda h, s=suffix: fig.savefig(h, format=s, dpi=110))
        self.figures.append((name, caption))

    def write_report(self, report: Report, outcomes: list[Outcome]) -> dict[str, Any]:
        """``results.md`` and ``results.json``; returns the JSON object (without the per-run measurements)."""
        deviations = deviations_of(self.module)
        diverged = [o for o in outcomes if o.diverged]
        head = {
            "experiment": self.entry.name,
            "source": self.entry.source,
            "summary_line": self.entry.summary,
            "options": self.options.to_dict(),
            "command": command_line(self.entry.name, self.options),
            "seeds": sorted({o.task.seed for o in outcomes}),
            "runs": sum(not o.excluded for o in outcomes),
            "not_run": [f"{o.task.cell}/seed_{o.task.seed}" for o in outcomes if o.excluded],
            "skipped": sum(o.skipped for o in outcomes),
            "diverged": [f"{o.task.cell}/seed_{o.task.seed}" for o in diverged],
            "deviations": deviations,
            "notes": report.notes,
            "tables": jsonable([t.to_dict() for t in report.tables]),
            "summary": jsonable(report.summary),
            "figures": [{"name": n, "caption": c, "files": [f"{n}.png", f"{n}.pdf"]} for n, c in self.figures],
        }
        full = {
            **head,
            "figure_data": jsonable(report.figure_data),
            "per_run": [jsonable(o.to_dict()) for o in outcomes],
        }
        atomic_write(self.out / "results.json", json.dumps(full, allow_nan=False) + "\n")
        atomic_write(self.out / "results.md", self._markdown(report, outcomes, deviations))
        return head

    def _markdown(self, report: Report, outcomes: list[Outcome], deviations: list[str]) -> str:
        entry = self.entry
        lines = [f"# {entry.name} — {entry.source}", "", entry.summary + ".", ""]
        lines += [f"Command: `{command_line(entry.name, self.options)}`", ""]
        ran = [o for o in outcomes if not o.excluded]
        seeds = sorted({o.task.seed for o in ran})
        lines += [
            f"{len(ran)} runs over seeds {seeds}; {sum(o.skipped for o in ran)} taken from earlier "
            f"invocations (finished seeds are skipped). Every number here is in `results.json`; `null` there "
            "stands for a value that is not finite.",
            "",
        ]
        if len(ran) < len(outcomes):
            cells = sorted({o.task.cell for o in outcomes if o.excluded})
            lines += [
                f"Only the cells matching `--cells {' '.join(self.options.cells)}` were run; "
                f"{len(outcomes) - len(ran)} runs of {len(cells)} other cells ({', '.join(cells)}) were not, and "
                "their table rows and panels are empty.",
                "",
            ]
        lines += [*report.notes, ""] if report.notes else []
        lines += ["## Results", ""]
        for table in report.tables:
            lines += [table.markdown(), ""]
        if self.figures:
            lines += ["## Figures", ""]
            for name, caption in self.figures:
                lines += [f"![{name}]({name}.png)", "", f"*{caption}* ([PDF]({name}.pdf))", ""]
        lines += ["## Deviations from the paper", ""]
        lines += [f"- {d}" for d in deviations] or ["- none"]
        runs = [(o.task.cell, o.task.seed, o.task.config.iterations, f"{o.seconds:.1f}", _run_status(o)) for o in ran]
        lines += ["", "## Runs", "", markdown_table(("cell", "seed", "iterations", "seconds", "status"), runs)]
        return "\n".join(lines) + "\n"


def run_experiment(name: str, options: Options) -> dict[str, Any]:
    """Run (or complete) experiment ``name`` into ``options.out`` and write its report; returns the report's head."""
    from gan_train.experiments import get_experiment

    entry = get_experiment(name)
    module = entry.load()
    tasks = module.tasks(options)
    if options.threads:
        from gan_train.config import apply_overrides

        tasks = [replace(t, config=apply_overrides(t.config, [f"threads={options.threads}"])) for t in tasks]
    names = list(dict.fromkeys(t.cell for t in tasks))
    unmatched = [p for p in options.cells if not any(fnmatch.fnmatchcase(cell, p) for cell in names)]
    if unmatched:  # a typo among good patterns would otherwise be dropped silently
        raise UserError(f"--cells {' '.join(unmatched)} matches no cell of {name}; its cells: {', '.join(names)}")
    chosen = [t for t in tasks if options.selects(t.cell)]
    existed = options.out.exists()
    try:
        return _run_tasks(name, entry, module, options, tasks, chosen)
    except BaseException:
        if not existed:  # a refused start (missing data, a bad setting) leaves no empty --out behind
            _remove_empty_folders(options.out)
        raise


def _remove_empty_folders(folder: Path) -> None:
    """Remove ``folder`` and the folders under it that hold no file (deepest first); anything written stays."""
    if folder.is_dir():
        for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                path.rmdir()
        with contextlib.suppress(OSError):
            folder.rmdir()


def _run_tasks(name: str, entry: Any, module: ModuleType, options: Options, tasks: list[Task],
               chosen: list[Task]) -> dict[str, Any]:  # fmt: skip
    """The runs of ``chosen`` (the others reported as not run), then the report."""
    from tqdm.auto import tqdm

    workspace = Workspace(entry, module, options)
    outcomes = []
    with tqdm(chosen, desc=name, unit="run", disable=not options.progress, dynamic_ncols=True) as bar:
        for task in bar:
            bar.set_postfix_str(f"{task.cell} seed {task.seed}")
            outcomes.append(workspace.outcome(task, module.measure))
    done = iter(outcomes)  # back in the tasks' order, the cells outside --cells as empty outcomes
    outcomes = [next(done) if options.selects(t.cell) else Outcome(t, {}, excluded=True) for t in tasks]
    report = module.report(workspace, outcomes)
    head = workspace.write_report(report, outcomes)
    head["out"] = str(workspace.out)
    return head


# ---- helpers for the experiment modules ---------------------------------------------------------------------


def seeded(seed: int, offset: int) -> Any:
    """A fresh ``torch.Generator`` for measurements, apart from every stream the trainer uses."""
    import torch

    return torch.Generator().manual_seed(seed * 1_000_003 + offset)


def by_cell(outcomes: list[Outcome]) -> dict[str, list[Outcome]]:
    """Outcomes grouped by cell, in the order the tasks came."""
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.task.cell, []).append(o)
    return groups


def not_run(outcomes: list[Outcome]) -> bool:
    """Whether every run of a cell lies outside ``--cells`` (its table row is left out rather than shown empty)."""
    return all(o.excluded for o in outcomes)


def _run_status(outcome: Outcome) -> str:
    """The status column of the report's table of runs."""
    if outcome.diverged:
        return "diverged: " + outcome.diverged
    return "skipped (finished earlier)" if outcome.skipped else "ran"


def missing_panel(outcome: Outcome) -> str:
    """What a figure panel without a measurement says: outside ``--cells``, diverged, or no data."""
    if outcome.excluded:
        return "not run"
    return "diverged" if outcome.diverged else "no data"


def finals(outcomes: list[Outcome], key: str) -> list[float]:
    """``final[key]`` of each outcome that finished (diverged runs give NaN, so a median says so)."""
    return [float(o.final[key]) if o.final is not None and o.final.get(key) is not None else math.nan for o in outcomes]


def med_iqr(values: Sequence[float], digits: int = 3) -> str:
    """``median [q25, q75]`` of the finite values, ``–`` when there is none; the count of non-finite ones if any."""
    v = np.asarray(values, dtype=np.float64)
    ok = v[np.isfinite(v)]
    if not len(ok):
        return "–"
    q25, q50, q75 = (quartiles(ok)[k] for k in ("q25", "median", "q75"))
    text = f"{q50:.{digits}g} [{q25:.{digits}g}, {q75:.{digits}g}]" if len(ok) > 1 else f"{q50:.{digits}g}"
    return text + (f" ({len(v) - len(ok)} not finite)" if len(ok) < len(v) else "")


def command_line(name: str, options: Options) -> str:
    words = ["ganstab", "experiment", name]
    if options.seeds is not None:
        words += ["--seeds", str(options.seeds)]
    if options.iters is not None:
        words += ["--iters", str(options.iters)]
    if options.quick:
        words.append("--quick")
    if name == "zhou-images":
        words += ["--data-dir", options.data_dir]
    if options.device != "cpu":
        words += ["--device", options.device]
    if options.cells:
        words += ["--cells", *(f"'{c}'" for c in options.cells)]
    if options.threads:
        words += ["--threads", str(options.threads)]
    return " ".join([*words, "--out", str(options.out)])


def deviations_of(module: ModuleType) -> list[str]:
    """The bullets of the section "Deviations from the paper" of a module's docstring, one string each."""
    lines = (module.__doc__ or "").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().rstrip(":") == "Deviations from the paper")
    except StopIteration:
        raise ValueError(f"{module.__name__} has no 'Deviations from the paper' section in its docstring") from None
    bullets: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("* "):
            bullets.append(line[2:].strip())
        elif line.startswith("  ") and bullets and line.strip():
            bullets[-1] += " " + line.strip()
        elif bullets or line.strip():
            break
    return [" ".join(b.replace("``", "`").split()) for b in bullets]


def new_figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` (no pyplot state, so nothing leaks between experiments)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def to_list(array: Any, digits: int = 6) -> Any:
    """An array as nested lists of floats rounded to ``digits`` significant digits (keeps results.json small)."""
    a = np.asarray(array, dtype=np.float64)
    return np.vectorize(lambda v: float(f"{v:.{digits}g}") if math.isfinite(v) else v, otypes=[float])(a).tolist()


@dataclass
class _evaluating:
    """Critic and generator in eval mode while a run is measured (no spectral-norm power iteration, no BatchNorm
    update): a measurement never changes the state training continues from."""

    trainer: Any

    def __enter__(self) -> None:
        self.trainer.critic.eval()
        self.trainer.generator.eval()

    def __exit__(self, *exc: Any) -> None:
        self.trainer.critic.train()
        self.trainer.generator.train()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is unreadable ({exc}); delete it to run that seed again") from None
    if not isinstance(value, dict):
        raise UserError(f"{path} does not hold a JSON object; delete it to run that seed again")
    return value


#: The fields of a finished seed's record (``Outcome.to_dict``) and the JSON types each must have.
SEED_RECORD = {"config": (dict,), "at": (dict,), "diverged": (str, type(None)), "seconds": (int, float)}


def _check_seed_record(stored: dict[str, Any], path: Path) -> None:
    """Refuse a seed file that is not a whole record (a field missing or of the wrong type) in one line: taken as
    finished, it would put an empty or broken seed into the results."""
    for key, types in SEED_RECORD.items():
        if key not in stored:
            raise UserError(f"{path} is not a finished seed's record (no {key!r}); delete it to run that seed again")
        value = stored[key]
        if not isinstance(value, types) or isinstance(value, bool):
            names = " or ".join("null" if t is type(None) else {dict: "an object"}.get(t, t.__name__) for t in types)
            raise UserError(
                f"{path}: {key!r} must be {names}, not {type(value).__name__}; delete it to run that seed again"
            )


def _measurements(at: dict[str, Any], path: Path) -> dict[int, dict[str, Any]]:
    """``{"iteration": {...}}`` of a seed file as ``{iteration: {...}}``; a key that is not an iteration or a
    measurement that is not an object is one line."""
    out = {}
    for key, value in at.items():
        if not (isinstance(key, str) and key.isdigit()) or not isinstance(value, dict):
            raise UserError(
                f"{path} holds {key!r}: {type(value).__name__} where an iteration and its measurements belong; "
                "delete it to run that seed again"
            )
        out[int(key)] = value
    return out


def _check_same_config(stored: dict[str, Any], config: TrainConfig, path: Path) -> None:
    """Refuse a seed record made with other settings. A key the record lacks was added to the trainer after it was
    written, with a default that keeps the old behaviour: it is compared as that default (not as "missing")."""
    wanted, defaults = config.to_dict(), TrainConfig().to_dict()
    made = {key: stored.get(key, defaults[key]) for key in wanted}
    differing = [k for k in wanted if k not in INCIDENTAL_KEYS and made[k] != wanted[k]]
    if differing:
        key = differing[0]
        raise UserError(
            f"{path} was made with {key}={made[key]!r}, this invocation wants {wanted[key]!r} "
            f"({len(differing)} key(s) differ): use another --out for other settings"
        )


def _cell_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "–"
    return str(value)
