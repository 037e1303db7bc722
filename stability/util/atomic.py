"""Atomic file writes: the one way this project puts a file in place.

Everything is written to a temporary file in the target's directory, flushed
and fsynced, then moved over the target with ``os.replace``. A process killed
at any moment leaves either the old file or the new one, never a truncated one.
Checkpoints, metrics logs, cached statistics, figures, samples and reports all
go through :func:`atomic_write`; any failure is one :class:`WriteError` and leaves no temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

#: Temporary names look like ``.NAME.PID.tmp``, so stale ones can be found and removed.
TEMPORARY_GLOB = ".*.tmp"


class WriteError(OSError):
    """An output file or folder that cannot be written (read-only, full disk, a file where a folder should be).

    The one type every write failure becomes, so the command line can give one line and its own exit status
    (:data:`stability.cli.EXIT_WRITE`) instead of a traceback; it stays an :class:`OSError` for callers that
    already catch those (the trainer's checkpoint writes).
    """

    def __init__(self, path: str | os.PathLike, cause: OSError, what: str = "write"):
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.what = what

    def __str__(self) -> str:
        return f"cannot {self.what} {self.filename}: {self.strerror}"


def _reason(path: Path, exc: OSError) -> OSError:
    """Name the usual culprit of a failed write in the user's terms."""
    for parent in [path.parent, *path.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                return OSError(exc.errno, f"{parent} is a file, not a folder")
            break
    if path.is_dir():
        return OSError(exc.errno, "it is a folder")
    return exc


def check_writable(path: str | os.PathLike, folder: bool = False) -> Path:
    """Fail early, before any work, when ``path`` (a file, or a folder with ``folder=True``) cannot be written.

    A file that exists is fine (it is replaced atomically): what must be writable is the folder that receives the
    new entry, the file's parent (or, for a folder, the folder itself or its nearest existing ancestor). Catches what
    can be seen before the work (a file where a folder is expected or the reverse, a folder without write permission,
    a read-only or pseudo file system such as ``/proc``); the write itself still reports anything else.
    """
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        what = "is a file, not a folder" if folder else "is a folder, not a file"
        raise WriteError(path, OSError(errno.EEXIST if folder else errno.EISDIR, f"{path} {what}"))
    start = path if folder else path.parent
    existing = next((p for p in [start, *start.parents] if p.exists()), Path("."))
    if not existing.is_dir():
        raise WriteError(path, OSError(errno.ENOTDIR, f"{existing} is a file, not a folder"))
    if not os.access(existing, os.W_OK | os.X_OK) or not _can_create_in(existing):
        raise WriteError(path, OSError(errno.EACCES, f"{existing} is not writable"))
    return path


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in ``folder``: ``os.access`` grants root every permission bit, so ``/proc`` or
    ``/sys`` pass it; an unnamed ``O_TMPFILE`` (nothing appears in the folder) or, where the file system lacks it, a
    named probe removed at once, asks the file system itself."""
    flag = getattr(os, "O_TMPFILE", 0)
    if flag:
        try:
            os.close(os.open(folder, flag | os.O_WRONLY, 0o600))
            return True
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.EISDIR):
                return False
    probe = temporary_path(folder / ".ganstab-probe")
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:
        return False
    with contextlib.suppress(OSError):
        probe.unlink()
    return True


def ensure_directory(folder: str | os.PathLike) -> Path:
    """``mkdir -p folder``, with any failure as one :class:`WriteError` (e.g. a file where a folder is expected)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(folder, _reason(folder / "-", exc), "create folder") from None
    return folder


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
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, (WriteError, BrokenPipeError)):
            raise WriteError(path, _reason(path, exc)) from None
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
