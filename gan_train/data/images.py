"""Image data sets held on the device, and their seeded minibatch stream.

:data:`IMAGE_DATASETS` names the loaders (:mod:`gan_train.data.cifar10`,
:mod:`gan_train.data.mnist`: torchvision's datasets, downloaded only when asked); :class:`DeviceImageStream`
copies a whole training set to the device once, as uint8, and draws every batch there.

Batches follow Gulrajani et al.'s loaders (``igul222/improved_wgan_training``):
``tflib/cifar10.py`` shuffles the images at the start of every epoch
(``np.random.shuffle``, lines 25–29) and yields consecutive slices
``images[i*b:(i+1)*b]`` for ``i < len(images) // b`` (lines 31–32), so each
epoch visits every image at most once and drops the remainder. Here the
permutation is ``torch.randperm`` on the device, from the stream's own
generator.

Pixel mapping, for uint8 values u:

* ``scale="tanh"`` (the [−1, 1] range of a tanh generator): ``gan_cifar_resnet.py``
  line 194 maps ``2*((u/256.)-.5)`` = u/128 − 1 and line 195 adds
  ``tf.random_uniform(minval=0., maxval=1./128)``, "dequantize": one intensity
  level of that scale, so x ∈ [−1, 1). (The older ``gan_cifar.py``, line 92,
  divides by 255 and adds no noise.)
* ``scale="sigmoid"`` (the [0, 1] range of a sigmoid generator): u/256, the
  values of the ``mnist.pkl.gz`` that ``gan_mnist.py`` fed unchanged (line 103;
  see :mod:`gan_train.data.mnist`), plus, if dequantizing, one level 1/256 of
  noise, so x ∈ [0, 1). Gulrajani's MNIST script did not dequantize.

The noise is drawn as an integer j uniform on {0, …, 2¹⁶ − 1} and the batch is
computed as x = (u + j/2¹⁶)/128 − 1 (resp. (u + j/2¹⁶)/256) in exact integer
and power-of-two float32 arithmetic: a uniform law on a grid 2⁻²³ fine (the
float32 resolution near ±1), whose values never round up into the next
intensity level, as ``u/128 − 1 + U(0, 1/128)`` in float32 occasionally would.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gan_train.data.cifar10 import load_cifar10
from gan_train.data.mnist import load_mnist
from stability.util.errors import UserError, unknown_name

SCALES = ("tanh", "sigmoid")
_NOISE_BITS = 16  # sub-levels of dequantisation noise per intensity level


@dataclass(frozen=True)
class ImageDataset:
    """A named image data set: its loader, image shape, description and the scale of its GAN script."""

    name: str
    load: Callable[..., tuple[np.ndarray, np.ndarray]]  # load(data_dir, split, download=False)
    shape: tuple[int, int, int]  # (channels, height, width)
    description: str
    scale: str  # default pixel mapping of DeviceImageStream


IMAGE_DATASETS: dict[str, ImageDataset] = {
    d.name: d
    for d in (
        ImageDataset(
            "cifar10",
            load_cifar10,
            (3, 32, 32),
            "CIFAR-10, 50 000 train / 10 000 test 32×32 RGB images (Krizhevsky 2009), in [−1, 1] (gan_cifar_resnet.py)",
            "tanh",
        ),
        ImageDataset(
            "mnist",
            load_mnist,
            (1, 28, 28),
            "MNIST, 60 000 train / 10 000 test 28×28 grey digits (LeCun et al. 1998), in [0, 1] (gan_mnist.py)",
            "sigmoid",
        ),
    )
}


def get_image_dataset(name: str) -> ImageDataset:
    """The registry entry of ``name``; a :class:`UserError` listing the valid names otherwise."""
    if name not in IMAGE_DATASETS:
        raise unknown_name("image dataset", name, list(IMAGE_DATASETS))
    return IMAGE_DATASETS[name]


def load_images(
    name: str, data_dir: str | os.PathLike[str], split: str = "train", download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Load a registered image data set from a local directory (downloaded there only with ``download``).

    Args:
        name: a key of :data:`IMAGE_DATASETS` (``"cifar10"``, ``"mnist"``).
        data_dir: the directory holding its files (see the loader's docstring).
        split: ``"train"`` or ``"test"``.
        download: fetch the files into ``data_dir`` when missing (torchvision's download and checksums).

    Returns:
        ``(images, labels)``: uint8 ``(N, C, H, W)`` and int64 ``(N,)``.

    Raises:
        UserError: unknown name or split, missing or corrupt files, a failed download.
    """
    dataset = get_image_dataset(name)
    images, labels = dataset.load(data_dir, split, download=download)
    if images.shape[1:] != dataset.shape:  # the loaders check this; a guard against a wrong registry entry
        raise AssertionError(f"{name} loader returned images of shape {images.shape[1:]}, not {dataset.shape}")
    return images, labels


def _noise_seed(seed: int, rank: int) -> int:
    """A seed for the dequantisation noise of one rank, distinct from the permutation stream's."""
    digest = hashlib.blake2b(f"ganstab-dequantize:{seed}:{rank}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # below 2**63


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise UserError(f"{name} must be an integer ≥ {low}, got {value!r}")
    return int(value)


class DeviceImageStream:
    """Seeded minibatches of a uint8 image set held on the device, in shuffled epochs.

    Each epoch is one ``torch.randperm`` of the N images, drawn on the device
    from a generator seeded with ``seed`` (the same on every rank); a step takes
    the next ``batch_size · world_size`` entries and rank r keeps
    ``perm[pos + r·b : pos + (r+1)·b]``, so the ranks of one step see disjoint
    images. An epoch ends when fewer than ``batch_size · world_size`` entries
    are left (they are skipped, as ``len(images) // batch_size`` in
    Gulrajani's ``tflib/cifar10.py`` line 31). Dequantisation noise comes
    from a second generator, seeded per rank.

    ``next()`` only launches device work (a slice, a gather, the noise and the
    conversion): no host synchronisation, no data loader. The whole state is
    (generator state at the start of the epoch, position, noise generator
    state); :meth:`load_state_dict` redraws the epoch's permutation from it, so
    a resumed stream continues bitwise identically.

    Args:
        images: uint8 images ``(N, C, H, W)`` (numpy or torch); copied to ``device`` once.
        batch_size: images per batch and rank.
        seed: seed of the permutations (and, with the rank, of the noise).
        device: where the images live and batches are drawn.
        dequantize: add uniform noise of one intensity level (``gan_cifar_resnet.py`` line 195).
        scale: ``"tanh"`` (x = u/128 − 1 ∈ [−1, 1)) or ``"sigmoid"`` (x = u/256 ∈ [0, 1)).
        rank: this process's rank in ``0..world_size−1``.
        world_size: number of ranks sharing each epoch's permutation.

    Raises:
        UserError: non-uint8 images, a bad scale/rank/size, or more ranks or a
            larger step than there are images.
    """

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        batch_size: int,
        seed: int,
        device: str | torch.device = "cpu",
        dequantize: bool = True,
        scale: str = "tanh",
        rank: int = 0,
        world_size: int = 1,
    ):
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.world_size = _check_int("world_size", world_size, 1)
        self.rank = _check_int("rank", rank, 0)
        if self.rank >= self.world_size:
            raise UserError(f"rank must be in 0..{self.world_size - 1} for world_size {self.world_size}, got {rank}")
        if scale not in SCALES:
            raise UserError(f"unknown pixel scale {scale!r}; valid: {', '.join(SCALES)}")
        self.scale = scale
        self.dequantize = bool(dequantize)
        if isinstance(images, torch.Tensor):
            if images.dtype != torch.uint8:
                raise UserError(f"images must be uint8, got {images.dtype}")
            host = images
        else:
            array = np.asarray(images)
            if array.dtype != np.uint8:
                raise UserError(f"images must be uint8, got {array.dtype}")
            if not (array.flags.c_contiguous and array.flags.writeable):
                array = np.array(array, order="C")
            host = torch.from_numpy(array)
        if host.ndim < 2:
            raise UserError(f"images must have shape (N, C, H, W), got {tuple(host.shape)}")
        n = host.shape[0]
        if self.world_size > n:
            raise UserError(f"{self.world_size} ranks but only {n} images: each rank needs at least one")
        if self.batch_size * self.world_size > n:
            raise UserError(
                f"batch_size {self.batch_size} × {self.world_size} rank(s) exceeds the {n} images of the data set"
            )
        self.data = host.to(device)  # the one host→device copy
        self.device = self.data.device
        self.num_samples = n
        self._span = self.batch_size * self.world_size
        self._offset = self.rank * self.batch_size
        self.perm_generator = torch.Generator(device=self.device).manual_seed(seed)
        self.noise_generator = torch.Generator(device=self.device).manual_seed(_noise_seed(seed, self.rank))
        self.epoch = 0
        self._start_epoch()

    @property
    def steps_per_epoch(self) -> int:
        """Batches per epoch (per rank)."""
        return self.num_samples // self._span

    def _start_epoch(self) -> None:
        self._epoch_state = self.perm_generator.get_state()
        self._perm = torch.randperm(self.num_samples, generator=self.perm_generator, device=self.device)
        self._position = 0

    def next(self) -> torch.Tensor:
        """The next batch, float32 ``(batch_size, C, H, W)`` on the device."""
        if self._position + self._span > self.num_samples:
            self.epoch += 1
            self._start_epoch()
        start = self._position + self._offset
        u = self.data.index_select(0, self._perm[start : start + self.batch_size])
        self._position += self._span
        if not self.dequantize:
            x = u.to(torch.float32)
            return (x - 128.0).mul_(1.0 / 128) if self.scale == "tanh" else x.mul_(1.0 / 256)
        j = torch.randint(
            0, 1 << _NOISE_BITS, u.shape, generator=self.noise_generator, device=self.device, dtype=torch.float32
        )
        v = j.add_(u, alpha=1 << _NOISE_BITS)  # 2¹⁶·u + j: an integer below 2²⁴, exact in float32
        if self.scale == "tanh":  # (u + j/2¹⁶)/128 − 1, exact: a power-of-two scaling, then −1
            return v.mul_(2.0 ** -(_NOISE_BITS + 7)).sub_(1.0)
        return v.mul_(2.0 ** -(_NOISE_BITS + 8))  # (u + j/2¹⁶)/256

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the stream bitwise: generator states, position and sizes."""
        return {
            "epoch_state": self._epoch_state.clone(),
            "position": self._position,
            "epoch": self.epoch,
            "noise_state": self.noise_generator.get_state(),
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "world_size": self.world_size,
            "rank": self.rank,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the stream exactly: redraw the current epoch's permutation from its generator state.

        Raises:
            UserError: the state belongs to a stream over another data set size, batch size or rank layout.
        """
        for key in ("num_samples", "batch_size", "world_size", "rank"):
            if int(state[key]) != getattr(self, key):
                raise UserError(
                    f"saved image stream has {key} {int(state[key])}, this run has {getattr(self, key)}; "
                    "resume with the same data set and batch layout"
                )
        self.perm_generator.set_state(state["epoch_state"].cpu())
        self._epoch_state = self.perm_generator.get_state()
        self._perm = torch.randperm(self.num_samples, generator=self.perm_generator, device=self.device)
        self._position = int(state["position"])
        self.epoch = int(state["epoch"])
        self.noise_generator.set_state(state["noise_state"].cpu())
