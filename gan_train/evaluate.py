"""Inception Score and FID of a run's generator: the one evaluation used by the loop and by ``ganstab eval``.

The Inception network, IS and FID maths are torch-fidelity's (:mod:`gan_train.metrics.inception`), loaded from a
local weights file; the training set's reference statistics are computed once and cached, keyed by checksums of
the data and of the weights (:mod:`gan_train.metrics.reference`). Samples are drawn with a seeded latent generator,
so an evaluation is a function of the checkpoint, the weights and the seed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from stability.util.errors import UserError

#: Images per generator call in an evaluation (Gulrajani's ``get_inception_score`` draws 100 at a time).
EVAL_BATCH = 100

#: Where reference statistics are cached unless ``$GANSTAB_CACHE`` says otherwise.
DEFAULT_CACHE = Path.home() / ".cache" / "ganstab"


def cache_dir() -> Path:
    return Path(os.environ.get("GANSTAB_CACHE") or DEFAULT_CACHE) / "inception-reference"


class ImageEvaluator:
    """IS/FID of generators of one data set, with the extractor and reference statistics loaded once.

    Args:
        config: a run's :class:`~gan_train.config.TrainConfig` (its data set, data folder and latent size).
        weights: path to ``pt_inception-2015-12-05-6726825d.pth``.
        metrics: any of ``"is"``, ``"fid"``.
        device: where Inception runs.
        progress: tqdm bars.
        world: under torchrun, the processes an evaluation is sharded over (every rank must call it); rank 0
            computes missing reference statistics first and the others then read them from the cache.
    """

    def __init__(
        self,
        config: Any,
        weights: str,
        metrics=("is", "fid"),
        device: Any = "cpu",
        progress: bool = True,
        world: Any = None,
    ):
        if config.dataset != "cifar10":
            raise UserError(
                f"IS and FID use an ImageNet Inception network on RGB images: cifar10 only, not {config.dataset}"
            )
        from gan_train.metrics.inception import load_inception

        self.config, self.metrics, self.progress, self.world = config, tuple(metrics), progress, world
        self.extractor = load_inception(weights, device)
        self.reference = None
        if "fid" in self.metrics:
            from gan_train.data.images import load_images
            from gan_train.metrics.reference import array_sha256, file_sha256, reference_statistics

            images, _ = load_images(config.dataset, config.data_dir, "train")
            keys = (array_sha256(images), file_sha256(weights))
            main = world is None or world.is_main
            for turn in (True, False):  # rank 0 computes (or reads) the statistics, then the others read the cache
                if turn == main:
                    self.reference = reference_statistics(
                        images, self.extractor, cache_dir(), *keys, progress=progress and main
                    )
                if world is not None:
                    world.barrier()

    @torch.no_grad()
    def __call__(self, generator: torch.nn.Module, n_samples: int, seed: int = 0, batch_size: int = EVAL_BATCH) -> dict:
        """``{"n_samples", "is_mean", "is_std", "fid"}`` of ``n_samples`` images of ``generator``."""
        from gan_train.metrics.inception import evaluate_generator

        device = next(generator.parameters()).device
        # every latent code at once: image i has code i whatever the batches or the number of processes
        codes = torch.randn(n_samples, self.config.latent_dim, generator=torch.Generator().manual_seed(seed))
        offset = 0
        was_training = generator.training
        generator.eval()

        def sample(b: int) -> torch.Tensor:
            nonlocal offset
            z, offset = codes[offset : offset + b], offset + b
            return generator(z.to(device)).float()

        def skip(k: int) -> None:
            nonlocal offset
            offset += k

        try:
            return evaluate_generator(
                sample,
                n_samples=n_samples,
                batch_size=batch_size,
                extractor=self.extractor,
                reference_stats=self.reference,
                metrics=self.metrics,
                splits=self.config.is_splits,
                progress=self.progress,
                world=self.world,
                skip_fn=skip,
            )
        finally:
            generator.train(was_training)
