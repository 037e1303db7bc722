"""MNIST through ``torchvision.datasets.MNIST``: its layout, download and IDX reader.

torchvision reads LeCun's four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``: a big-endian header of magic number and sizes, then
the uint8 values) from ``DIR/MNIST/raw/``, all four present whichever split is read. Its download fetches the
gzipped files from its mirrors (``MNIST.mirrors``) and checks each against its MD5 (``MNIST.resources``).

Gulrajani et al.'s ``gan_mnist.py`` read the LISA lab's ``mnist.pkl.gz`` instead (``tflib/mnist.py`` of
``igul222/improved_wgan_training``, lines 49–58), whose training part is the first 50,000 of these 60,000 images
with pixels stored as float32 u/256 (lisa-lab/pylearn2 issue #93; Lasagne's ``examples/mnist.py``, lines 57–59,
divides the IDX bytes by 256 "for compatibility" with that pickle); :func:`load_mnist` returns the raw uint8
images and leaves scaling to :class:`gan_train.data.images.DeviceImageStream`.

What this module adds around torchvision: one-line errors naming the missing or damaged file and where it belongs;
``DIR`` may also be ``DIR/MNIST`` or ``DIR/MNIST/raw``; gzipped files in the raw folder (as distributed) are
unpacked there with torchvision's ``extract_archive``, without a network; ``download=True`` runs torchvision's
download in a staging folder (:mod:`gan_train.data.download`), so a failed one leaves nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from gan_train.data.download import NETWORK_ERRORS, first_line, move_missing, note, staging_folder
from stability.util.errors import UserError

SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


def _dataset() -> Any:
    from torchvision.datasets import MNIST

    return MNIST


def raw_names() -> list[str]:
    """The four uncompressed file names torchvision reads (``MNIST.resources`` without ``.gz``)."""
    return [os.path.splitext(name)[0] for name, _ in _dataset().resources]


def _root(data_dir: Path) -> Path:
    """The folder torchvision is given (it reads ``root/MNIST/raw``): ``data_dir`` or the one above ``MNIST/``."""
    if data_dir.name == "raw" and data_dir.parent.name == "MNIST":
        return data_dir.parent.parent
    if data_dir.name == "MNIST" and (data_dir / "raw").is_dir():
        return data_dir.parent
    return data_dir


def raw_folder(data_dir: str | os.PathLike[str]) -> Path:
    """Where torchvision looks for the IDX files of ``data_dir``."""
    return _root(Path(data_dir)) / "MNIST" / "raw"


def _where_to_put(raw: Path) -> str:
    cls = _dataset()
    names = ", ".join(name for name, _ in cls.resources)
    return f"download {names} from {cls.mirrors[0]} and put them (gzipped or not) in {raw}, or pass --download"


def _missing(raw: Path) -> list[str]:
    return [name for name in raw_names() if not (raw / name).is_file()]


def _unpack(raw: Path, names: list[str]) -> None:
    """Unpack ``name.gz`` of each of ``names`` in ``raw`` with torchvision's ``extract_archive`` (no network)."""
    from torchvision.datasets.utils import extract_archive

    with staging_folder(raw, "mnist-extract") as stage:
        for name in names:
            try:
                extract_archive(str(raw / f"{name}.gz"), str(stage))
            except Exception as exc:  # a truncated or foreign .gz
                raise UserError(
                    f"MNIST file {raw / (name + '.gz')} is truncated or not gzip ({first_line(exc)}); replace it"
                ) from None
        move_missing(stage, raw)
    note(f"unpacked {len(names)} gzipped MNIST file(s) in {raw}")


def fetch_mnist(root: Path) -> None:
    """torchvision's download (``MNIST(..., download=True)``: its mirrors and MD5s) in a staging folder, then the
    checked files moved into ``root/MNIST/raw``.

    Raises:
        UserError: no network (where to put what instead), or downloads that fail their MD5; nothing is kept.
    """
    cls = _dataset()
    raw = root / "MNIST" / "raw"
    with staging_folder(root, "mnist-download") as stage:
        note(f"downloading MNIST from {cls.mirrors[0]} into {raw}")
        try:
            cls(str(stage), train=True, download=True)
        except (RuntimeError, *NETWORK_ERRORS) as exc:  # torchvision joins each mirror's error into one message
            reasons = "; ".join(line.strip() for line in str(exc).splitlines()[1:] if line.strip()) or str(exc)
            raise UserError(
                f"cannot download MNIST ({type(exc).__name__}: {reasons[:300]}); nothing was kept; offline, "
                f"{_where_to_put(raw).removesuffix(', or pass --download')}"
            ) from None
        except Exception as exc:
            raise UserError(f"the download of MNIST failed ({first_line(exc)}); nothing was kept") from None
        move_missing(stage / "MNIST" / "raw", raw)


def ensure_mnist(data_dir: str | os.PathLike[str], download: bool = False) -> Path:
    """The folder to give torchvision, after making sure its four IDX files are there (unpacked or downloaded).

    Raises:
        UserError: files missing (named, with where they belong), a damaged ``.gz``, or a failed download.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir() and not download:
        raise UserError(f"MNIST data directory {data_dir} does not exist; {_where_to_put(raw_folder(data_dir))}")
    root = _root(data_dir)
    raw = root / "MNIST" / "raw"
    gzipped = [name for name in _missing(raw) if (raw / f"{name}.gz").is_file()]
    if gzipped:
        _unpack(raw, gzipped)
    if _missing(raw) and download:
        fetch_mnist(root)
    missing = _missing(raw)
    if missing:
        flat = [n for n in missing if (data_dir / n).is_file() or (data_dir / f"{n}.gz").is_file()]
        if flat and data_dir != raw:  # the layout of ganstab before torchvision read MNIST
            raise UserError(
                f"MNIST is read by torchvision from {raw}: move {', '.join(flat)} (or their .gz) from {data_dir} there"
            )
        raise UserError(f"MNIST file(s) {', '.join(missing)} (or .gz) not found in {raw}; {_where_to_put(raw)}")
    return root


def _diagnose(raw: Path, split: str, exc: BaseException) -> UserError:
    """The one-line error for torchvision's refusal, naming the file its own readers cannot read."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images, labels = SPLIT_FILES[split]
    for name, read in ((images, read_image_file), (labels, read_label_file)):
        try:
            read(str(raw / name))
        except Exception as problem:  # torchvision's readers assert, or fail to reshape a truncated file
            return UserError(f"MNIST file {raw / name} is not a readable IDX file ({first_line(problem)}); replace it")
    return UserError(f"torchvision could not read MNIST from {raw} ({first_line(exc)})")


def load_mnist(
    data_dir: str | os.PathLike[str], split: str = "train", download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST as arrays, read by ``torchvision.datasets.MNIST``.

    Args:
        data_dir: a folder holding ``MNIST/raw/`` with the four IDX files (each may be gzipped, ``.gz``, and is
            then unpacked there), or ``MNIST/`` or ``MNIST/raw/`` itself.
        split: ``"train"`` (60,000 images) or ``"test"`` (``t10k``, 10,000).
        download: fetch the files when they are missing (torchvision's mirrors and MD5s).

    Returns:
        ``(images, labels)``: uint8 ``(N, 1, 28, 28)`` (0 = background) and int64 ``(N,)``.

    Raises:
        UserError: unknown split, a missing file (named, with where it belongs), a damaged file (named),
            or a failed download.
    """
    if split not in SPLIT_FILES:
        raise UserError(f"unknown MNIST split {split!r}; valid: {', '.join(SPLIT_FILES)}")
    root = ensure_mnist(data_dir, download)
    raw = root / "MNIST" / "raw"
    try:
        dataset = _dataset()(str(root), train=split == "train", download=False)
        images, labels = dataset.data.numpy(), dataset.targets.numpy().astype(np.int64)
    except Exception as exc:  # torchvision's readers assert, or fail to reshape a damaged file
        raise _diagnose(raw, split, exc) from None
    images_path, labels_path = (raw / name for name in SPLIT_FILES[split])
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE[1:]:
        raise UserError(f"MNIST file {images_path} holds {images.shape[1:]} images, not 28×28; replace it")
    if len(labels) != len(images):
        raise UserError(
            f"MNIST file {labels_path} has {len(labels)} labels for the {len(images)} images of {images_path}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise UserError(f"MNIST file {labels_path} has labels outside 0..{NUM_CLASSES - 1}; replace it")
    return np.ascontiguousarray(images.reshape(len(images), *IMAGE_SHAPE)), labels
