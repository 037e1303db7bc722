"""A run directory read back: its resolved config, its checkpoints, and the modules and penalty of one of them.

Everything is rebuilt with the trainer's own objects: the config reader (:func:`gan_train.config.read_run_config`),
the checkpoint reader and architecture check (:mod:`gan_train.checkpoint`, :func:`gan_train.nets.architecture`),
the network builders (:func:`gan_train.nets.build_critic`, :func:`~gan_train.nets.build_generator`), the penalty
(:meth:`gan_train.penalty.CriticPenalty.from_config`, with MaxAL's multiplier from the checkpoint) and the anchor
image of image runs (:func:`gan_train.data.streams.anchor_image`, a pure function of the config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_train import checkpoint as ckpt
from gan_train.config import RESUMABLE_KEYS, TrainConfig, read_run_config
from gan_train.data.streams import anchor_image
from gan_train.errors import CheckpointError
from gan_train.nets import architecture, build_critic, build_generator
from gan_train.penalty import CriticPenalty
from stability.util.errors import UserError


@dataclass
class RunCheckpoint:
    """One checkpoint of a run, rebuilt on the CPU.

    Attributes:
        run_dir: the run directory.
        iteration: generator iterations done when it was written.
        path: the checkpoint file.
        config: the run's resolved config.
        critic, generator: the modules with the checkpoint's parameters (and buffers).
        penalty: the trainer's penalty object (measure, form, ρ, MaxAL's multiplier at this checkpoint, the run's
            anchor), or ``None`` for an unpenalised run.
        lr_d, lr_g: the optimisers' learning rates at this checkpoint (any schedule applied).
        optimizer_states: the ``state_dict()`` of the critic's and the generator's optimiser (``opt_d``, ``opt_g``),
            for the run's own update (:mod:`gan_train.spectra.run_update`).
    """

    run_dir: Path
    iteration: int
    path: Path
    config: TrainConfig
    critic: nn.Module
    generator: nn.Module
    penalty: CriticPenalty | None
    lr_d: float
    lr_g: float
    optimizer_states: dict[str, Any] = field(default_factory=dict)


def run_checkpoints(run_dir: str | Path) -> tuple[TrainConfig, list[tuple[int, Path]]]:
    """The resolved config of a run and its checkpoints ``(iteration, path)``, oldest first.

    Raises:
        UserError: not a run directory (no or a bad ``config.json``), or no checkpoints yet.
    """
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, "analyse")
    found = ckpt.list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(f"run {run_dir} has no checkpoints yet (nothing in {ckpt.checkpoint_dir(run_dir)})")
    return config, found


def select_checkpoints(
    found: list[tuple[int, Path]], selection: str, run_dir: str | Path = ""
) -> list[tuple[int, Path]]:
    """``all``, ``last`` or a comma-separated list of iterations, checked against the checkpoints present."""
    text = selection.strip()
    if text == "all":
        return list(found)
    if text == "last":
        return [found[-1]]
    by_iteration = dict(found)
    chosen = []
    for part in text.split(","):
        try:
            iteration = int(part)
        except ValueError:
            raise UserError(f"--checkpoints expects all, last or iterations like 100,200; got {selection!r}") from None
        if iteration not in by_iteration:
            raise CheckpointError(
                f"run {run_dir} has no checkpoint of iteration {iteration}; it has {sorted(by_iteration)}"
            )
        chosen.append((iteration, by_iteration[iteration]))
    return sorted(set(chosen))


def check_checkpoint_config(run_dir: str | Path, config: TrainConfig, state: dict[str, Any], path: Path) -> bool:
    """Refuse a checkpoint that is not of the run ``config.json`` describes, naming the keys that disagree.

    The trainer stores its resolved config in every checkpoint; each key outside the bookkeeping ones
    (:data:`~gan_train.config.RESUMABLE_KEYS`, which a resume may change) must agree with ``config.json``, so an
    edited or truncated ``config.json`` (a key deleted falls back to its default) is refused, as ``train --resume``
    refuses it. Returns ``False`` for a checkpoint of an older trainer that stores no config: only its architecture
    could be compared (the caller says so).

    Raises:
        CheckpointError: an architecture or a key that disagrees.
    """
    if state.get("architecture") != architecture(config):
        raise CheckpointError(
            f"checkpoint {path} is from an unknown architecture: {state.get('architecture')} there, "
            f"{architecture(config)} in {Path(run_dir) / 'config.json'}"
        )
    recorded = state.get("config")
    if not isinstance(recorded, dict):
        return False
    differing = ckpt.config_disagreements(config.to_dict(), recorded, RESUMABLE_KEYS)
    if differing:
        raise CheckpointError(
            f"{Path(run_dir) / 'config.json'} disagrees with checkpoint {path.name} on {'; '.join(differing)}; "
            "restore config.json (the checkpoint holds the run's own)"
        )
    return True


def verify_checkpoints(run_dir: str | Path, config: TrainConfig, chosen: list[tuple[int, Path]]) -> list[int]:
    """Read each chosen checkpoint once before any work: checksum, iteration against its name, config against
    ``config.json`` (:func:`check_checkpoint_config`). Returns the iterations of checkpoints that store no config."""
    without_config = []
    for iteration, path in chosen:
        if not check_checkpoint_config(run_dir, config, ckpt.read_checkpoint(path), path):
            without_config.append(iteration)
    return without_config


def load_checkpoint(run_dir: str | Path, config: TrainConfig, iteration: int, path: str | Path) -> RunCheckpoint:
    """The modules, penalty and learning rates of one checkpoint of a run.

    Raises:
        CheckpointError: a corrupt checkpoint, one whose iteration is not its name's, or one that is not of the run
            ``config.json`` describes (:func:`check_checkpoint_config`).
    """
    path = Path(path)
    state = ckpt.read_checkpoint(path)
    check_checkpoint_config(run_dir, config, state, path)
    critic, generator = build_critic(config), build_generator(config)
    ckpt.load_module_state(critic, state["critic"], "critic", path)
    ckpt.load_module_state(generator, state["generator"], "generator", path)
    penalty = CriticPenalty.from_config(config)
    if penalty is not None:
        if state.get("penalty"):
            penalty.load_state_dict(state["penalty"])
        penalty.anchor = anchor_image(config, torch.device("cpu"))  # None: the measure's own anchor (2-D data)
    return RunCheckpoint(
        Path(run_dir),
        int(state.get("iteration", iteration)),  # read_checkpoint checked it against the file's name
        path,
        config,
        critic,
        generator,
        penalty,
        _learning_rate(state, "opt_d", config.lr_d),
        _learning_rate(state, "opt_g", config.lr_g),
        {key: state.get(key) for key in ("opt_d", "opt_g")},
    )


def _learning_rate(state: dict[str, Any], key: str, default: float) -> float:
    try:
        return float(state[key]["param_groups"][0]["lr"])
    except (KeyError, IndexError, TypeError, ValueError):
        return float(default)
