"""Atomic file writes: the one way this project puts a file in place.

Everything is written to a temporary file in the target's directory, flushed
and fsynced, then moved over the target with ``os.replace``. A process killed
at any moment leaves either the old file or the new one, never a truncated one.
Checkpoints, metrics logs, cached statistics, figures, samples and reports all
go through :func:`atomic_write`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

#: Temporary names look like ``.NAME.PID.tmp``, so stale ones can be found and removed.
TEMPORARY_GLOB = ".*.tmp"


def temporary_path(path: Path) -> Path:
    """The temporary file used while ``path`` is written (hidden, per process)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", fsync: bool = True) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on success it replaces ``path``, on failure it is removed.

    Args:
        path: the final file.
        mode: ``"wb"`` or ``"w"`` (text, UTF-8).
        fsync: flush to disk before the rename (and fsync the directory after), so the
            new file survives a power cut; cheap logs may pass ``False``.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        fsync_directory(path.parent)


def atomic_write(path: str | os.PathLike, data: bytes | str, fsync: bool = True) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w", fsync=fsync) as handle:
        handle.write(data)
    return Path(path)


def atomic_save(path: str | os.PathLike, write: Callable[[IO[bytes]], Any], fsync: bool = True) -> Path:
    """Let ``write(handle)`` fill a binary file (``torch.save``, ``np.save``, ``savefig``) and put it in place."""
    with atomic_open(path, "wb", fsync=fsync) as handle:
        write(handle)
    return Path(path)


def fsync_directory(folder: str | os.PathLike) -> None:
    """Make a rename inside ``folder`` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temporaries(folder: str | os.PathLike) -> None:
    """Delete temporary files that a killed process left in ``folder``."""
    folder = Path(folder)
    if folder.is_dir():
        for path in folder.glob(TEMPORARY_GLOB):
            with contextlib.suppress(OSError):
                path.unlink()
