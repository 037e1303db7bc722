"""CIFAR-10 from a local copy of Krizhevsky's "python version" (never downloaded at run time).

Format (https://www.cs.toronto.edu/~kriz/cifar.html, section "Dataset layout"):
the archive ``cifar-10-python.tar.gz`` (MD5 ``c58f30108f718f92721af3b95e74349a``)
holds a folder ``cifar-10-batches-py/`` with five training batches
``data_batch_1`` … ``data_batch_5``, one ``test_batch`` and ``batches.meta``.
Each batch is a (Python 2 ``cPickle``) dict whose ``b"data"`` entry is a
10000×3072 uint8 array, one row per image: the 1024 red values, then green,
then blue, each channel a 32×32 image in row-major order, so a row reshapes to
(3, 32, 32); ``b"labels"`` is a list of 10000 integers in 0…9.

Gulrajani et al.'s loader (``tflib/cifar10.py`` of ``igul222/improved_wgan_training``,
lines 8–23) concatenates ``data_batch_1..5`` for training and ``test_batch``
for the held-out set, as :func:`load_cifar10` does.

The pickles are read by a restricted unpickler that can build nothing but
dicts, lists, byte strings, numbers and uint8 numpy arrays, so a tampered batch
file cannot run code; the result is then checked key by key, shape by shape.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from stability.util.errors import UserError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the CIFAR page
ARCHIVE_NAME = "cifar-10-python.tar.gz"
FOLDER_NAME = "cifar-10-batches-py"
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 10

# (resolved path, size, mtime_ns) -> hex MD5, so a 170 MB archive is hashed once per process.
_MD5_CACHE: dict[tuple[str, int, int], str] = {}

# The only globals a CIFAR batch pickle refers to: numpy's array/dtype reconstruction (numpy 1.x
# wrote ``numpy.core``, numpy 2 writes ``numpy._core``) and ``_codecs.encode``, which Python 3
# uses for byte strings under pickle protocol ≤ 2.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


def _where_to_put(data_dir: Path) -> str:
    return f"download {CIFAR10_URL} yourself and put it (or its extracted {FOLDER_NAME}/ folder) in {data_dir}"


def _hash_file(path: Path, chunk: int = 1 << 20) -> str:
    """MD5 of a file, read in chunks of ``chunk`` bytes (constant memory)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def archive_md5(path: str | os.PathLike[str]) -> str:
    """The MD5 of ``path``, cached in memory by (path, size, modification time).

    Args:
        path: the archive.

    Returns:
        The lower-case hex digest; the file is re-read only if its size or mtime changed.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _MD5_CACHE:
        _MD5_CACHE[key] = _hash_file(path)
    return _MD5_CACHE[key]


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of :data:`_ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        if module == "_codecs":
            import codecs

            return codecs.encode
        if name in ("ndarray", "dtype"):
            return getattr(np, name)
        try:
            from numpy._core import multiarray  # numpy ≥ 2
        except ImportError:  # pragma: no cover - numpy 1.x
            from numpy.core import multiarray
        return getattr(multiarray, name)


def parse_batch(f: IO[bytes], label: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 batch pickle and check its content.

    Args:
        f: the open batch file (binary).
        label: how error messages name the file (a path, or ``archive:member``).

    Returns:
        ``(images, labels)``: uint8 ``(n, 3, 32, 32)`` and int64 ``(n,)``.

    Raises:
        UserError: the file is not a readable batch (truncated, corrupt, wrong content).
    """
    try:
        batch = _BatchUnpickler(f, encoding="bytes").load()
    except Exception as exc:  # any failure of a corrupt pickle is the user's file, not a bug
        raise UserError(f"CIFAR-10 batch {label} is corrupt or truncated ({type(exc).__name__}); replace it") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise UserError(f"CIFAR-10 batch {label} is not a CIFAR-10 batch (no b'data'/b'labels' entries); replace it")
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise UserError(f"CIFAR-10 batch {label} has data {got}, expected uint8 (n, 3072); replace it")
    if not isinstance(labels, list | np.ndarray) or len(labels) != len(data):
        raise UserError(f"CIFAR-10 batch {label} has {len(labels)} labels for {len(data)} images; replace it")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise UserError(f"CIFAR-10 batch {label} has non-integer labels; replace it") from exc
    if labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES)):
        raise UserError(f"CIFAR-10 batch {label} has labels outside 0..{NUM_CLASSES - 1}; replace it")
    return np.ascontiguousarray(data).reshape(len(data), *IMAGE_SHAPE), labels


def _find_folder(data_dir: Path, names: tuple[str, ...]) -> Path | None:
    """The batch folder under ``data_dir`` (or ``data_dir`` itself) that holds all of ``names``."""
    for folder in (data_dir / FOLDER_NAME, data_dir):
        if all((folder / name).is_file() for name in names):
            return folder
    return None


def _load_from_folder(folder: Path, names: tuple[str, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    parts = []
    for name in names:
        with open(folder / name, "rb") as f:
            parts.append(parse_batch(f, str(folder / name)))
    return parts


def _load_from_archive(archive: Path, names: tuple[str, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Read the wanted members in one forward pass through the gzip stream (nothing is extracted)."""
    if archive_md5(archive) != CIFAR10_MD5:
        raise UserError(
            f"{archive} has MD5 {archive_md5(archive)}, not the published {CIFAR10_MD5}: "
            f"it is corrupt or incomplete; delete it and download {CIFAR10_URL} again"
        )
    wanted = {f"{FOLDER_NAME}/{name}": name for name in names}
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                name = wanted.get(member.name)
                if name is None or not member.isfile():
                    continue
                f = tar.extractfile(member)
                assert f is not None  # a regular file always has a stream
                found[name] = parse_batch(io.BytesIO(f.read()), f"{archive}:{member.name}")
                if len(found) == len(wanted):
                    break
    except UserError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UserError(
            f"{archive} is truncated or not a gzip tar ({type(exc).__name__}); download {CIFAR10_URL} again"
        ) from exc
    missing = [f"{FOLDER_NAME}/{name}" for name in names if name not in found]
    if missing:
        raise UserError(f"{archive} lacks {', '.join(missing)}; download {CIFAR10_URL} again")
    return [found[name] for name in names]


def load_cifar10(data_dir: str | os.PathLike[str], split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load CIFAR-10 from a local directory.

    ``data_dir`` may hold the extracted ``cifar-10-batches-py/`` folder, or be
    that folder, or hold ``cifar-10-python.tar.gz``. A complete folder is read
    first; otherwise the archive is checked against its published MD5 (hashed
    once per process, see :func:`archive_md5`) and its members are read
    straight out of the tar.

    Args:
        data_dir: the directory described above.
        split: ``"train"`` (``data_batch_1..5``, 50 000 images) or ``"test"``
            (``test_batch``, 10 000 images).

    Returns:
        ``(images, labels)``: uint8 ``(N, 3, 32, 32)`` (channel-first RGB) and
        int64 ``(N,)``, in the files' order.

    Raises:
        UserError: unknown split, missing files (the message names them and the
            URL to fetch), MD5 mismatch, or a corrupt/truncated file (named).
    """
    if split not in SPLIT_FILES:
        raise UserError(f"unknown CIFAR-10 split {split!r}; valid: {', '.join(SPLIT_FILES)}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"CIFAR-10 data directory {data_dir} does not exist; {_where_to_put(data_dir)}")
    names = SPLIT_FILES[split]
    folder = _find_folder(data_dir, names)
    if folder is not None:
        parts = _load_from_folder(folder, names)
    elif (data_dir / ARCHIVE_NAME).is_file():
        parts = _load_from_archive(data_dir / ARCHIVE_NAME, names)
    else:
        partial = next((d for d in (data_dir / FOLDER_NAME, data_dir) if (d / names[0]).is_file()), None)
        if partial is not None:
            missing = [name for name in names if not (partial / name).is_file()]
            raise UserError(f"CIFAR-10 folder {partial} lacks {', '.join(missing)}; {_where_to_put(data_dir)}")
        raise UserError(
            f"CIFAR-10 not found in {data_dir}: expected {ARCHIVE_NAME} or {FOLDER_NAME}/ "
            f"({', '.join(names)}); {_where_to_put(data_dir)}"
        )
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return images, labels
