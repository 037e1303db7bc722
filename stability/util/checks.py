"""The checks every command's inputs pass, one definition per kind: seeds, sizes, tolerances and output paths.

Each kind has a checker (for Python callers) and an argparse type built on it (for the commands), so a new command
inherits the same bounds and messages by naming the type. Numbers go through :func:`~stability.util.errors.
checked_int`/:func:`~stability.util.errors.checked_float` (NaN, ±inf, overflow, out of range: one line, exit 2);
output paths through :func:`~stability.util.atomic.check_writable` (a folder, a read-only place or ``/proc``: one
:class:`~stability.util.atomic.WriteError` line, exit 4), all at parse time, before any work starts. A file that
exists is a valid output: it is replaced atomically.
"""

from __future__ import annotations

import argparse
import errno
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stability.util.atomic import WriteError, check_writable
from stability.util.errors import UserError, checked_float, checked_int, int_type, number_type

#: The largest seed a command takes. ``torch.Generator.manual_seed`` and numpy's ``default_rng`` both take every
#: integer in [0, 2**63), and torch refuses negative ones; a seed of the trainer (``gan_train.config.INT_LIMITS``)
#: may be narrower, since streams derived from it must stay within 64 bits.
MAX_SEED = 2**63 - 1


def checked_seed(value: Any, name: str = "--seed") -> int:
    """``value`` as a seed in [0, :data:`MAX_SEED`], or a one-line :class:`UserError`."""
    return checked_int(value, name, 0, MAX_SEED)


def seed_type() -> Callable[[str], int]:
    """argparse type of a seed: an integer in [0, :data:`MAX_SEED`]."""
    return int_type(0, MAX_SEED)


def size_type(high: int, low: int = 1) -> Callable[[str], int]:
    """argparse type of a size (samples, images, eigenvalues): an integer in [low, high].

    ``high`` is the bound that keeps a typo from exhausting memory; the caller names why it is that number.
    """
    return int_type(low, high)


def tolerance_type(high: float | None = None) -> Callable[[str], float]:
    """argparse type of a tolerance: a finite float >= 0 (NaN would make every comparison false)."""
    return number_type(low=0.0, high=high)


def checked_tolerance(value: Any, name: str) -> float:
    """``value`` as a finite tolerance >= 0, or a one-line :class:`UserError`."""
    return checked_float(value, name, low=0.0)


def output_file(path: str | os.PathLike, suffixes: Sequence[str] = (), what: str = "--out") -> Path:
    """Check an output file before the work: its suffix (:class:`UserError`, exit 2), and that it can be written
    (:class:`WriteError`, exit 4): not a folder, its folder writable. A file that exists passes (it is replaced).

    Args:
        path: the file.
        suffixes: the accepted suffixes, lower case with the dot (``(".npy", ".png")``); empty: any.
        what: the option, for messages.
    """
    path = Path(path)
    if path.is_dir():
        hint = f" ending in {' or '.join(suffixes)}" if suffixes else ""
        raise WriteError(path, OSError(errno.EISDIR, f"{path} is a folder; give a file name{hint}"))
    if suffixes and path.suffix.lower() not in suffixes:
        raise UserError(f"{what} must end in {' or '.join(suffixes)}, got {str(path)!r}")
    return check_writable(path)


def output_folder(path: str | os.PathLike) -> Path:
    """Check an output folder before the work: not a file, and it (or the nearest folder above it that exists) is
    writable; a :class:`WriteError` (exit 4) otherwise. The folder is not created."""
    return check_writable(path, folder=True)


def output_file_type(*suffixes: str) -> Callable[[str], Path]:
    """argparse type of an output file (see :func:`output_file`). A wrong suffix is argparse's one-line error
    (exit 2); a path that cannot be written raises :class:`WriteError`, which ``ganstab`` turns into exit 4."""

    def parse(text: str) -> Path:
        try:
            return output_file(text, suffixes)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("--out ")) from None

    return parse


def output_folder_type() -> Callable[[str], Path]:
    """argparse type of an output folder (see :func:`output_folder`)."""
    return output_folder
