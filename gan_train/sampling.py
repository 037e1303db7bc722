"""Load a trained generator from a run directory and draw samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gan_train import checkpoint as ckpt
from gan_train.config import TrainConfig, read_run_config
from gan_train.errors import CheckpointError
from gan_train.nets import architecture, build_generator
from stability.util.errors import UserError


def load_generator(
    run_dir: str | Path, iteration: int | None = None, ema: bool = False
) -> tuple[torch.nn.Module, TrainConfig, int]:
    """The generator of a run at ``iteration`` (newest checkpoint by default); ``ema``: its moving average instead
    (:mod:`gan_train.ema`, runs trained with ``ema`` > 0).

    Returns:
        ``(generator, config, iteration)`` with the generator on the CPU in eval mode.
    """
    run_dir = Path(run_dir)
    config = read_run_config(run_dir, "sample")
    found = dict(ckpt.list_checkpoints(run_dir))
    if not found:
        raise CheckpointError(f"run {run_dir} has no checkpoints yet")
    if iteration is None:
        iteration = max(found)
    if iteration not in found:
        raise CheckpointError(f"run {run_dir} has no checkpoint of iteration {iteration}; it has {sorted(found)}")
    return generator_from_checkpoint(found[iteration], config, run_dir, ema), config, iteration


def generator_from_checkpoint(
    path: str | Path, config: TrainConfig, run_dir: str | Path, ema: bool = False
) -> torch.nn.Module:
    """The generator of the checkpoint file ``path`` of the run ``run_dir`` (config ``config``), on the CPU in eval
    mode (also ``best.pt``, or a file outside the run's checkpoints folder); ``ema``: its moving average."""
    state = ckpt.read_checkpoint(path)
    if state.get("architecture") != architecture(config):
        raise CheckpointError(f"checkpoint {path} is from a different architecture than {run_dir}/config.json")
    key, what = ("generator_ema", "EMA generator") if ema else ("generator", "generator")
    if state.get(key) is None:
        raise UserError(f"run {run_dir} keeps no moving average of its generator (it trained with ema=0); drop --ema")
    generator = build_generator(config)
    ckpt.load_module_state(generator, state[key], what, path)
    return generator.eval()


@torch.no_grad()
def sample_run(
    run_dir: str | Path, n: int, iteration: int | None = None, seed: int = 0, ema: bool = False
) -> tuple[np.ndarray, TrainConfig, int]:
    """``n`` samples ``(n, 2)`` from the generator of a run (``ema``: its moving average), z drawn with ``seed``."""
    if n < 1:
        raise UserError(f"--n must be >= 1, got {n}")
    generator, config, iteration = load_generator(run_dir, iteration, ema)
    z = torch.randn(n, config.latent_dim, generator=torch.Generator().manual_seed(seed))
    return generator(z).float().numpy(), config, iteration
