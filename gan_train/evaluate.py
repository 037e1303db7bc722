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

from stability.spec.errors import SpecError

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
    """

    def __init__(self, config: Any, weights: str, metrics=("is", "fid"), device: Any = "cpu", progress: bool = True):
        if config.dataset != "cifar10":
            raise SpecError(
                f"IS and FID use an ImageNet Inception network on RGB images: cifar10 only, not {config.dataset}"
            )
        from gan_train.metrics.inception import load_inception

        self.config, self.metrics, self.progress = config, tuple(metrics), progress
        self.extractor = load_inception(weights, device)
        self.reference = None
        if "fid" in self.metrics:
            from gan_train.data.images import load_images
            from gan_train.metrics.reference import array_sha256, file_sha256, reference_statistics

            images, _ = load_images(config.dataset, config.data_dir, "train")
            self.reference = reference_statistics(
                images, self.extractor, cache_dir(), array_sha256(images), file_sha256(weights), progress=progress
            )

    @torch.no_grad()
    def __call__(self, generator: torch.nn.Module, n_samples: int, seed: int = 0, batch_size: int = 100) -> dict:
        """``{"n_samples", "is_mean", "is_std", "fid"}`` of ``n_samples`` images of ``generator``."""
        from gan_train.metrics.inception import evaluate_generator

        device = next(generator.parameters()).device
        draw = torch.Generator().manual_seed(seed)
        was_training = generator.training
        generator.eval()

        def sample(b: int) -> torch.Tensor:
            return generator(torch.randn(b, self.config.latent_dim, generator=draw).to(device)).float()

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
            )
        finally:
            generator.train(was_training)
