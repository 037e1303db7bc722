"""A run directory: whether a run starts or resumes there, and with which config (checked before anything is written).

:func:`plan_run` is the one decision of start or resume, for ``ganstab train``, the experiments and the Table 2
sweep (they open their trainers through :func:`gan_train.trainer.open_run`, which follows it).
:func:`resume_point` reads what a resume continues from and refuses what cannot continue: config changes beyond the
bookkeeping keys (:data:`~gan_train.config.RESUMABLE_KEYS`), a ``config.json`` that disagrees with the checkpoint,
fewer iterations than are done. Nothing here builds a network or writes a file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_train import checkpoint as ckpt
from gan_train.config import CONFIG_FILE, RESUMABLE_KEYS, TrainConfig, apply_overrides, read_run_config
from gan_train.errors import CheckpointError
from stability.util.errors import UserError


@dataclass(frozen=True)
class RunPlan:
    """What :func:`plan_run` decided for a run directory."""

    run_dir: Path
    resume: bool
    config: TrainConfig  # the new run's config, or the saved one with the bookkeeping changes applied
    overrides: tuple[str, ...] = ()  # on resume: the assignments that turn config.json into ``config``


def plan_run(
    run_dir: str | Path,
    config: TrainConfig | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    resume: bool | None = None,
    keep: tuple[str, ...] = (),
) -> RunPlan:
    """Whether the run in ``run_dir`` starts or resumes, and with which config.

    Args:
        run_dir: the run directory.
        config: the run the caller wants. A new run gets it. A resumed run follows it on the bookkeeping keys
            (:data:`~gan_train.config.RESUMABLE_KEYS`) and must agree with it on every other key but ``keep``
            (:func:`check_same_run`); ``None``: the saved config (``ganstab train --resume``).
        overrides: ``key=value`` assignments applied on resume after ``config``'s (bookkeeping keys only).
        resume: ``True`` (``--resume``): continue the run in ``run_dir``, which must hold one (its ``config.json``);
            ``False``: start a new run (``run_dir`` absent or empty); ``None``: continue when ``run_dir`` holds a
            run, start otherwise.
        keep: keys that may differ from ``config`` on resume, keeping the value the run began with (a note says so),
            e.g. the device of an experiment continued on another machine.

    Raises:
        UserError: no run to resume; files but no run in ``run_dir``; a new run without a config or in a directory
            that holds files; a resumed run that ``config`` or ``overrides`` would change beyond bookkeeping.
    """
    run_dir = Path(run_dir)
    holds_run = (run_dir / CONFIG_FILE).is_file()
    if resume is None:
        if not holds_run and run_dir.is_dir() and any(run_dir.iterdir()):
            raise UserError(f"{run_dir} holds files but no {CONFIG_FILE}; delete it to start that run again")
        resume = holds_run
    if not resume:
        if config is None:
            raise UserError(f"a new run in {run_dir} needs a config (e.g. --preset NAME)")
        check_new_run_dir(run_dir)
        return RunPlan(run_dir, False, config)
    saved = read_run_config(run_dir, "resume")
    changes = []
    if config is not None:
        check_same_run(run_dir, saved, config, keep)
        wanted, before = config.to_dict(), saved.to_dict()
        changes = [f"{key}={_as_text(wanted[key])}" for key in RESUMABLE_KEYS if before[key] != wanted[key]]
    overrides = (*changes, *overrides)
    return RunPlan(run_dir, True, apply_overrides(saved, list(overrides), allowed=RESUMABLE_KEYS), overrides)


def check_new_run_dir(run_dir: Path) -> None:
    """Refuse to start a run in a directory that already holds files (or is a file)."""
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise UserError(f"run directory {run_dir} already exists; pass --resume to continue it or choose a new one")


def check_same_run(run_dir: Path, saved: TrainConfig, wanted: TrainConfig, keep: tuple[str, ...] = ()) -> None:
    """Refuse to resume ``run_dir`` (begun as ``saved``) as ``wanted`` when they differ beyond bookkeeping keys.

    A key of ``keep`` that differs keeps the saved value; a note on stderr says so.
    """
    before, after = saved.to_dict(), wanted.to_dict()
    for key, value in after.items():
        if before[key] == value or key in RESUMABLE_KEYS:
            continue
        if key not in keep:
            raise UserError(
                f"{run_dir} was started with {key}={before[key]!r}, not {value!r}; continue it as it was started "
                "or use a new run directory"
            )
        print(f"ganstab: note: {run_dir} continues with {key}={before[key]!r}, where it began", file=sys.stderr)


@dataclass(frozen=True)
class ResumePoint:
    """What :meth:`~gan_train.trainer.Trainer.resume` continues from."""

    saved: TrainConfig  # config.json as it is
    config: TrainConfig  # with the overrides applied
    state: dict[str, Any] | None  # the newest checkpoint, verified; None: the run has none (it starts over)
    checkpoint: Path | None


def resume_point(run_dir: Path, overrides: list[str] | tuple[str, ...] = ()) -> ResumePoint:
    """Read the run's config and newest checkpoint and check that the run can continue with ``overrides``.

    Raises:
        UserError: a non-bookkeeping override, ``iterations`` changed under ``lr_decay``, fewer iterations than done.
        CheckpointError: a corrupt checkpoint, or a ``config.json`` that disagrees with it.
    """
    base = read_run_config(run_dir, "resume")
    config = apply_overrides(base, list(overrides), allowed=RESUMABLE_KEYS)
    if config.lr_decay and config.iterations != base.iterations:
        raise UserError("iterations cannot change on resume when lr_decay is on (the schedule depends on it)")
    found = ckpt.list_checkpoints(run_dir)
    if not found:
        return ResumePoint(base, config, None, None)
    path = found[-1][1]
    state = ckpt.read_checkpoint(path)
    differing = ckpt.config_disagreements(base.to_dict(), state.get("config") or {}, RESUMABLE_KEYS)
    if differing:
        raise CheckpointError(
            f"{run_dir}/config.json disagrees with checkpoint {path.name} on {'; '.join(differing)}; restore "
            "config.json or start a new run"
        )
    done = int(state.get("iteration", 0))
    if config.iterations < done:  # training would not run, and config.json would claim a shorter run
        raise UserError(
            f"{run_dir} is already at iteration {done}; iterations={config.iterations} would not train "
            f"(set iterations >= {done}, or sample from an earlier checkpoint with --checkpoint)"
        )
    return ResumePoint(base, config, state, path)


def _as_text(value: Any) -> str:
    """A config value as ``--set`` would spell it."""
    return str(value).lower() if isinstance(value, bool) else str(value)
