"""MNIST from a local copy of LeCun's four IDX files (never downloaded at run time).

Format (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST
DATABASE"): every file starts with a 4-byte big-endian magic number whose first
two bytes are 0, third byte the element type (0x08: unsigned byte) and fourth
byte the number of dimensions; then one big-endian uint32 per dimension; then
the elements in row-major order. Images are ``0x00000803`` (n, 28, 28), labels
``0x00000801`` (n,), values 0…9. The files may also be gzipped (``.gz``), as
distributed.

Gulrajani et al.'s ``gan_mnist.py`` read the LISA lab's ``mnist.pkl.gz``
instead (``tflib/mnist.py`` of ``igul222/improved_wgan_training``, lines 49–58),
whose training part is the first 50 000 of these 60 000 images with pixels
stored as float32 u/256, maximum 255/256 (lisa-lab/pylearn2 issue #93; Lasagne's
``examples/mnist.py``, lines 57–59, divides the IDX bytes by 256 "for
compatibility" with that pickle);
:func:`load_mnist` returns the raw uint8 images and leaves scaling to
:class:`gan_train.data.images.DeviceImageStream`.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from stability.util.errors import UserError

MNIST_URL = "https://yann.lecun.com/exdb/mnist/"
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


def _find(data_dir: Path, name: str) -> Path:
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise UserError(
        f"MNIST file {name} (or {name}.gz) not found in {data_dir}; download the four IDX files "
        f"({', '.join(n + '.gz' for pair in SPLIT_FILES.values() for n in pair)}) from {MNIST_URL} yourself "
        f"and put them there"
    )


def read_idx(path: str | os.PathLike[str], magic: int) -> np.ndarray:
    """Read one uint8 IDX file, gzipped or not, and check its header against its length.

    Args:
        path: the file; a name ending in ``.gz`` is decompressed.
        magic: the expected magic number (``0x00000803`` images, ``0x00000801`` labels).

    Returns:
        The uint8 array of the shape the header declares (a writable copy).

    Raises:
        UserError: unreadable gzip, wrong magic number, or a length that does not match the header.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (EOFError, OSError, zlib.error) as exc:
        raise UserError(f"MNIST file {path} is truncated or not gzip ({type(exc).__name__}); replace it") from exc
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != magic:
        found = f"0x{int.from_bytes(raw[:4], 'big'):08x}" if len(raw) >= 4 else "nothing"
        raise UserError(f"MNIST file {path} starts with {found}, not the IDX magic 0x{magic:08x}; replace it")
    if len(raw) < header:
        raise UserError(f"MNIST file {path} is truncated inside its header; replace it")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape)
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise UserError(
            f"MNIST file {path} is {what}: {len(raw)} bytes for shape {shape} ({expected} expected); replace it"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def load_mnist(data_dir: str | os.PathLike[str], split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST from the IDX files in ``data_dir``.

    Args:
        data_dir: a directory holding ``train-images-idx3-ubyte``,
            ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
            ``t10k-labels-idx1-ubyte``, each possibly gzipped (``.gz``; an
            uncompressed file is preferred when both exist).
        split: ``"train"`` (60 000 images) or ``"test"`` (``t10k``, 10 000).

    Returns:
        ``(images, labels)``: uint8 ``(N, 1, 28, 28)`` (0 = background) and int64 ``(N,)``.

    Raises:
        UserError: unknown split, a missing file (the message names the expected
            files and where to get them), or a corrupt file (named).
    """
    if split not in SPLIT_FILES:
        raise UserError(f"unknown MNIST split {split!r}; valid: {', '.join(SPLIT_FILES)}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"MNIST data directory {data_dir} does not exist; put the IDX files from {MNIST_URL} there")
    images_name, labels_name = SPLIT_FILES[split]
    images_path, labels_path = _find(data_dir, images_name), _find(data_dir, labels_name)
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[1:] != IMAGE_SHAPE[1:]:
        raise UserError(f"MNIST file {images_path} holds {images.shape[1:]} images, not 28×28; replace it")
    if len(labels) != len(images):
        raise UserError(
            f"MNIST file {labels_path} has {len(labels)} labels for the {len(images)} images of {images_path}"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise UserError(f"MNIST file {labels_path} has labels outside 0..{NUM_CLASSES - 1}; replace it")
    return images.reshape(len(images), *IMAGE_SHAPE), labels.astype(np.int64)
