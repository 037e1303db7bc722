"""The training stream of a run: toy laws sampled in chunks, or an image set held on the device.

``data_subset = N`` trains on N fixed training images (:func:`class_balanced_subset`), for the critic-only
experiments of the seeds (:mod:`gan_train.data.fixed` holds their fixed generators). Both streams answer ``next()``
with one batch on the run's device and ``state_dict()`` / ``load_state_dict()`` for bitwise resume, so the loop
reads data one way whatever the data set.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from stability.util.errors import UserError


def training_stream(config: Any, device: torch.device, batch_size: int | None = None, seed_offset: int = 1_000_003):
    """The seeded stream of training batches of ``config.dataset`` (``batch_size`` rows, default the config's)."""
    batch = batch_size or config.batch_size
    if config.image_data:
        from gan_train.data.images import DeviceImageStream, get_image_dataset, load_images

        download = getattr(config, "download", False)  # fetch the data set when missing (torchvision's checksums)
        images, labels = load_images(config.dataset, config.data_dir, "train", download=download)
        if getattr(config, "data_subset", 0):  # N fixed images, one per class in turn (the seeds' critic-only runs)
            images = class_balanced_subset(images, labels, config.data_subset)
        scale = get_image_dataset(config.dataset).scale
        return DeviceImageStream(
            images, batch, seed=config.seed + seed_offset, device=device, dequantize=config.dequantize, scale=scale
        )
    from gan_train.data.toy import DataStream, data_law

    return _OnDevice(DataStream(data_law(config.dataset), batch, seed=config.seed + seed_offset), device)


def data_shape(config: Any) -> tuple[int, ...]:
    """The shape of one data point."""
    if config.image_data:
        from gan_train.data.images import get_image_dataset

        return tuple(get_image_dataset(config.dataset).shape)
    return (2,)


def anchor_image(config: Any, device: torch.device) -> torch.Tensor | None:
    """μ_g,anc's anchor A on image data: a constant image ``[c]`` or a U(−1, 1) image seeded by ``anchor_seed``.

    ``003_…`` uses an anchor of gray pixels on MNIST (line 217) and a fixed image on CIFAR-10; the image is a pure
    function of the config, so a resumed run (and ``ganstab spectrum``) rebuilds the same one.
    """
    if not (config.uses_anchor and config.image_data):
        return None
    shape = data_shape(config)
    if config.anchor:  # [c]; TrainConfig.validate allows [] or [c] on images
        return torch.full(shape, float(config.anchor[0]), device=device)
    draw = torch.Generator().manual_seed(config.anchor_seed)
    low = 0.0 if config.dataset == "mnist" else -1.0  # the generator's output range: sigmoid or tanh
    return (low + (1.0 - low) * torch.rand(shape, generator=draw)).to(device)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` (drawn on the host, e.g. by a seeded CPU generator) on ``device`` without a host synchronisation.

    By CUDA's documented behaviour a copy from pageable host memory synchronises the stream first (once per draw);
    a pinned copy is asynchronous (torch's pinned-memory allocator keeps the host block until the copy has run).
    The saving has not been measured here (no GPU).
    """
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


class _OnDevice:
    """A host stream whose batches are moved to the device (2-D toy data: tiny batches)."""

    def __init__(self, stream: Any, device: torch.device):
        self.stream, self.device = stream, device

    def next(self) -> torch.Tensor:
        return to_device(self.stream.next(), self.device)

    def state_dict(self) -> dict[str, Any]:
        return self.stream.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stream.load_state_dict(state)


def class_balanced_subset(images: np.ndarray, labels: Any, n: int) -> np.ndarray:
    """The first ``n`` images taken one class at a time: the first image of each class, then the second, and so on.

    With CIFAR-10's ten classes, ``n = 10`` gives one image per class ("ten representative CIFAR-10 images",
    ``001_…`` line 200). Within a class the order of the training split is kept, and the result is ordered by
    (round, class).

    Raises:
        UserError: ``n`` is larger than the number of images.
    """
    labels = np.asarray(labels)
    if not 1 <= n <= len(labels):
        raise UserError(f"data_subset must be in 1..{len(labels)} (the training images), got {n}")
    order = np.argsort(labels, kind="stable")  # grouped by class, split order inside each class
    _, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    within = np.empty(len(labels), dtype=np.int64)
    within[order] = np.arange(len(labels)) - np.repeat(starts, counts)  # rank of each image inside its class
    chosen = np.lexsort((labels, within))[:n]  # by rank, then by class
    return np.ascontiguousarray(images[chosen])
