"""Fetching and unpacking data sets with torchvision's own functions, through a staging folder.

torchvision's ``download_url`` writes straight to the final file name and keeps a file that failed its checksum,
and ``extract_archive`` writes into the final folder file by file. Here both work in a hidden staging folder
beside the data (same file system), and only checked files are then moved into place with ``os.replace`` (atomic
per file): an interrupted or corrupt download, or two processes of one ``torchrun`` job fetching at once, leave
no half file behind. The staging folder is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import sys
import urllib.error
import uuid
from collections.abc import Iterator
from pathlib import Path

from stability.util.errors import UserError


def first_line(exc: BaseException, limit: int = 160) -> str:
    """``Type: first line of the message``, cut to ``limit`` characters."""
    text = (str(exc).strip().splitlines() or [""])[0]
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def note(message: str) -> None:
    print(f"ganstab: note: {message}", file=sys.stderr)


@contextlib.contextmanager
def staging_folder(parent: Path, what: str) -> Iterator[Path]:
    """A fresh hidden folder ``parent/.{what}.{random}.partial``, removed with everything in it at the end."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        path = parent / f".{what}.{uuid.uuid4().hex}.partial"
        path.mkdir()
    except OSError as exc:
        raise UserError(f"cannot write in the data folder {parent} ({first_line(exc)})") from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def move_missing(source: Path, target: Path) -> list[str]:
    """Move the files of ``source`` that ``target`` lacks into it (``os.replace``, atomic per file).

    Files already in ``target`` are left alone: another process may have put them there first, and a corrupt one
    is reported by the checksum check that follows, not silently replaced.
    """
    try:
        target.mkdir(parents=True, exist_ok=True)
        moved = []
        for path in sorted(source.iterdir()):
            if path.is_file() and not (target / path.name).exists():
                os.replace(path, target / path.name)
                moved.append(path.name)
        return moved
    except OSError as exc:
        raise UserError(f"cannot move the fetched files into {target} ({first_line(exc)})") from None


#: What a failed fetch may raise: no network, a refused or cut connection, an HTTP error.
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError)
