"""CIFAR-10 through ``torchvision.datasets.CIFAR10``: its files, checksums, download and reader.

torchvision reads Krizhevsky's "python version" (https://www.cs.toronto.edu/~kriz/cifar.html): the folder
``cifar-10-batches-py/`` with five training batches ``data_batch_1`` … ``data_batch_5`` (50,000 images), one
``test_batch`` (10,000) and ``batches.meta``, each a pickled dict whose ``data`` rows are the 1024 red, 1024 green
and 1024 blue values of a 32×32 image. Before it unpickles anything it checks every file's MD5 against the published
ones (``CIFAR10.train_list``, ``test_list``, ``meta``), so a tampered or damaged file is refused, never run.
Gulrajani et al.'s loader (``tflib/cifar10.py`` of ``igul222/improved_wgan_training``, lines 8–23) takes the same
``data_batch_1..5`` for training and ``test_batch`` for the held-out set.

What this module adds around torchvision:

- one-line errors that say which file is missing or damaged and where to put it (torchvision's is "Dataset not
  found or corrupted");
- the folder may be given as ``DIR`` (holding ``cifar-10-batches-py/``) or as that folder itself;
- a local ``cifar-10-python.tar.gz`` in ``DIR`` is checked (torchvision's ``CIFAR10.tgz_md5``) and unpacked with
  torchvision's ``extract_archive``: no network;
- ``download=True`` fetches the archive with torchvision's downloader and checksum, through a staging folder
  (:mod:`gan_train.data.download`), so an interrupted or corrupt download leaves nothing behind. Nothing is
  downloaded unless asked.

The class attributes are read when needed, never copied, so they are torchvision's (or a test's) at that moment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from gan_train.data.download import NETWORK_ERRORS, first_line, move_missing, note, staging_folder
from stability.util.errors import UserError

#: The folder torchvision reads (``CIFAR10.base_folder``).
FOLDER_NAME = "cifar-10-batches-py"
SPLITS = ("train", "test")
IMAGE_SHAPE = (3, 32, 32)


def _dataset() -> Any:
    from torchvision.datasets import CIFAR10

    return CIFAR10


def expected_files() -> list[tuple[str, str]]:
    """``(name, md5)`` of every file of ``cifar-10-batches-py/`` that torchvision checks, batches then meta."""
    cls = _dataset()
    return [(name, md5) for name, md5 in (*cls.train_list, *cls.test_list)] + [(cls.meta["filename"], cls.meta["md5"])]


def _root(data_dir: Path) -> Path:
    """The folder torchvision is given: ``data_dir``, or its parent when ``data_dir`` is the batches folder itself."""
    if data_dir.name == FOLDER_NAME and not (data_dir / FOLDER_NAME).is_dir():
        return data_dir.parent
    return data_dir


def _where_to_put(root: Path) -> str:
    cls = _dataset()
    return (
        f"download {cls.url} and put it (or its extracted {FOLDER_NAME}/ folder) in {root}, "
        "or pass --download (config: download=true)"
    )


def _missing(folder: Path) -> list[str]:
    return [name for name, _ in expected_files() if not (folder / name).is_file()]


def _unpack(archive: Path, root: Path) -> None:
    """Check a local archive's MD5, then unpack it with torchvision into ``root/cifar-10-batches-py/``."""
    from torchvision.datasets.utils import calculate_md5, extract_archive

    cls = _dataset()
    found = calculate_md5(archive)
    if found != cls.tgz_md5:
        raise UserError(
            f"{archive} has MD5 {found}, not the published {cls.tgz_md5}: it is corrupt or incomplete; delete it "
            f"and download {cls.url} again (or pass --download)"
        )
    with staging_folder(root, "cifar-10-extract") as stage:
        try:
            extract_archive(str(archive), str(stage))
        except Exception as exc:  # a checked archive that does not unpack: a full disk, a bad tar
            raise UserError(f"cannot unpack {archive} ({first_line(exc)})") from None
        moved = move_missing(stage / FOLDER_NAME, root / FOLDER_NAME)
    note(f"unpacked {len(moved)} file(s) of {archive.name} into {root / FOLDER_NAME}")


def fetch_cifar10(root: Path) -> None:
    """Download the archive with torchvision (``CIFAR10(..., download=True)``: its URL and MD5) into a staging
    folder, then move the archive and the checked files into ``root``.

    Raises:
        UserError: no network (what to put where instead), or a download whose MD5 is not the published one
            (interrupted, or another file); nothing is kept either way.
    """
    cls = _dataset()
    with staging_folder(root, "cifar-10-download") as stage:
        note(f"downloading {cls.url} into {root}")
        try:
            cls(str(stage), train=True, download=True)
        except RuntimeError as exc:  # torchvision: "File not found or corrupted." after its MD5 check
            got = stage / cls.filename
            if not got.is_file():
                raise UserError(f"cannot download {cls.url} ({first_line(exc)}); nothing was kept") from None
            from torchvision.datasets.utils import calculate_md5

            raise UserError(
                f"the download of {cls.url} has MD5 {calculate_md5(got)}, not the published {cls.tgz_md5} "
                "(interrupted, or another file): refused, nothing was kept"
            ) from None
        except NETWORK_ERRORS as exc:
            raise UserError(
                f"cannot download {cls.url} ({first_line(exc)}); offline, fetch it elsewhere and put it (or its "
                f"extracted {FOLDER_NAME}/ folder) in {root}"
            ) from None
        except Exception as exc:  # anything else torchvision or the archive raises: one line, nothing kept
            raise UserError(f"the download of {cls.url} failed ({first_line(exc)}); nothing was kept") from None
        move_missing(stage / FOLDER_NAME, root / FOLDER_NAME)
        move_missing(stage, root)  # the archive, as torchvision keeps it


def ensure_cifar10(data_dir: str | os.PathLike[str], download: bool = False) -> Path:
    """The folder to give torchvision, after making sure its files are there (unpacked or downloaded if need be).

    Raises:
        UserError: files missing and no archive (the message names them and where to put what), a local archive
            with the wrong MD5, or a failed download.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir() and not download:
        raise UserError(f"CIFAR-10 data directory {data_dir} does not exist; {_where_to_put(data_dir)}")
    root = _root(data_dir)
    folder = root / FOLDER_NAME
    if not _missing(folder):
        return root
    archive = root / _dataset().filename
    if archive.is_file():
        _unpack(archive, root)
    elif download:
        fetch_cifar10(root)
    if _missing(folder):
        missing = _missing(folder)
        if folder.is_dir():
            raise UserError(f"CIFAR-10 folder {folder} lacks {', '.join(missing)}; {_where_to_put(root)}")
        raise UserError(
            f"CIFAR-10 not found in {root}: expected {_dataset().filename} or {FOLDER_NAME}/ "
            f"({', '.join(missing)}); {_where_to_put(root)}"
        )
    return root


def _diagnose(root: Path, exc: BaseException) -> UserError:
    """The one-line error for torchvision's refusal: the first file whose MD5 is not the published one."""
    from torchvision.datasets.utils import calculate_md5

    folder = root / FOLDER_NAME
    for name, md5 in expected_files():
        found = calculate_md5(folder / name)
        if found != md5:
            return UserError(
                f"CIFAR-10 file {folder / name} has MD5 {found}, not the published {md5}: it is corrupt; delete it "
                f"and put {_dataset().filename} in {root} (or pass --download) to restore it"
            )
    return UserError(f"torchvision could not read CIFAR-10 from {folder} ({first_line(exc)})")


def load_cifar10(
    data_dir: str | os.PathLike[str], split: str = "train", download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 as arrays, read by ``torchvision.datasets.CIFAR10``.

    Args:
        data_dir: a folder holding ``cifar-10-batches-py/`` (or that folder itself), or
            ``cifar-10-python.tar.gz`` (checked and unpacked there).
        split: ``"train"`` (``data_batch_1..5``, 50,000 images) or ``"test"`` (``test_batch``, 10,000).
        download: fetch the archive into ``data_dir`` when the files are missing (torchvision's URL and MD5).

    Returns:
        ``(images, labels)``: uint8 ``(N, 3, 32, 32)`` (channel-first RGB) and int64 ``(N,)``, in the files' order.

    Raises:
        UserError: unknown split, missing files (named, with where to put what), a file whose MD5 is not the
            published one (named), or a failed download.
    """
    if split not in SPLITS:
        raise UserError(f"unknown CIFAR-10 split {split!r}; valid: {', '.join(SPLITS)}")
    root = ensure_cifar10(data_dir, download)
    try:
        dataset = _dataset()(str(root), train=split == "train", download=False)
    except Exception as exc:  # torchvision's "Dataset not found or corrupted", or an unreadable pickle
        raise _diagnose(root, exc) from None
    images = np.ascontiguousarray(np.asarray(dataset.data, dtype=np.uint8).transpose(0, 3, 1, 2))  # NHWC → NCHW
    labels = np.asarray(dataset.targets, dtype=np.int64)
    if images.shape[1:] != IMAGE_SHAPE or len(labels) != len(images):
        raise UserError(f"CIFAR-10 in {root / FOLDER_NAME} holds {images.shape} images and {len(labels)} labels")
    return images, labels
