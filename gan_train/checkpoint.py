"""Checkpoints: atomic, checksummed, validated against the architecture before loading.

A checkpoint file is ``MAGIC + sha256(payload) + payload`` where the payload
is a ``torch.save`` of plain state dicts (models, optimisers, schedulers, the
MaxAL multiplier, every RNG state, the resolved config, the iteration). It is
written to a temporary file in the same directory, flushed and fsynced, then
moved into place with ``os.replace``: a process killed at any moment leaves
either the old set of checkpoints or the new one, never a torn file. A write
that fails (a full disk) removes its temporary file and leaves the previous
checkpoints untouched. Reading checks the magic and the checksum, then loads
with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_train.errors import CheckpointError
from stability.util.atomic import WriteError, atomic_write
from stability.util.errors import UserError

MAGIC = b"GANSTAB-CKPT-1\n"
FORMAT = "ganstab.train/1"
_NAME = re.compile(r"^ckpt_(\d{8,})\.pt$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: str | Path, iteration: int) -> Path:
    return checkpoint_dir(run_dir) / f"ckpt_{iteration:08d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """``(iteration, path)`` of the checkpoints of a run, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def write_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically (temp file + fsync + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    data = buffer.getvalue()
    atomic_write(path, MAGIC + hashlib.sha256(data).digest() + data)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and verify a checkpoint; :class:`CheckpointError` if it is not a good one."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    head = len(MAGIC) + 32
    if len(raw) < head or not raw.startswith(MAGIC):
        raise CheckpointError(f"{path} is not a ganstab checkpoint (bad header)")
    digest, data = raw[len(MAGIC) : head], raw[head:]
    if hashlib.sha256(data).digest() != digest:
        raise CheckpointError(f"checkpoint {path} is corrupt (checksum mismatch); delete it to use an earlier one")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise CheckpointError(f"checkpoint {path} cannot be loaded: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} has an unknown format")
    named = _NAME.match(path.name)
    if named and payload.get("iteration") != int(named.group(1)):
        # every reader (resume, sample, spectrum) would otherwise use it as the iteration its name says
        raise CheckpointError(
            f"checkpoint {path} holds iteration {payload.get('iteration')!r}, not the {int(named.group(1))} its name "
            "says; rename it to match or delete it"
        )
    return payload


def load_module_state(module: nn.Module, state: dict[str, torch.Tensor], what: str, path: str | Path) -> None:
    """Load ``state`` into ``module`` after checking that names and shapes match."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        detail = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(f"checkpoint {path} holds a {what} of a different architecture ({detail})")
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"checkpoint {path} holds a {what} of a different architecture: {key} has shape "
                f"{tuple(state[key].shape)} there but {tuple(value.shape)} here"
            )
    module.load_state_dict(state)


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints (``keep = 0`` keeps all)."""
    if keep <= 0:
        return
    for _, path in list_checkpoints(run_dir)[:-keep]:
        with contextlib.suppress(OSError):
            path.unlink()


def remove_stale_temporaries(run_dir: str | Path) -> None:
    """Delete temporary files left by a process killed in the middle of a write."""
    folder = checkpoint_dir(run_dir)
    if folder.is_dir():
        for path in folder.glob(".ckpt_*.tmp"):
            with contextlib.suppress(OSError):
                path.unlink()


#: The lock file of a run directory: held by the one process training in it.
LOCK_FILE = ".lock"


class RunLock:
    """An exclusive lock on a run directory (``flock`` on ``RUN_DIR/.lock``), so two processes never train one run.

    The kernel drops it when the process dies (even by SIGKILL), so a killed run can be resumed at once. Within one
    process the lock is shared (a notebook that resumes a run it created holds it once); other processes are refused.
    """

    _held: dict[Path, tuple[RunLock, int]] = {}

    def __init__(self, path: Path, handle: Any):
        self.path = path
        self._handle = handle

    @classmethod
    def acquire(cls, run_dir: str | Path) -> RunLock:
        """Take the lock of ``run_dir`` (which must exist), or raise a :class:`UserError` naming the holder."""
        import fcntl

        path = (Path(run_dir) / LOCK_FILE).resolve()
        if path in cls._held:
            lock, count = cls._held[path]
            cls._held[path] = (lock, count + 1)
            return lock
        try:
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock's lifetime
        except OSError as exc:
            raise WriteError(path, exc) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise UserError(
                f"run directory {Path(run_dir)} is in use by {holder}; wait for it to finish (or stop it) first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        lock = cls(path, handle)
        cls._held[path] = (lock, 1)
        return lock

    def release(self) -> None:
        """Give the lock up (once per :meth:`acquire` in this process)."""
        lock, count = self._held.get(self.path, (self, 1))
        if count > 1:
            self._held[self.path] = (lock, count - 1)
            return
        self._held.pop(self.path, None)
        with contextlib.suppress(OSError, ValueError):
            self._handle.close()  # closing drops the flock


def config_disagreements(saved: dict[str, Any], recorded: dict[str, Any], free: tuple[str, ...]) -> list[str]:
    """``key (config.json: a, checkpoint: b)`` for each key outside ``free`` where the two configs differ.

    Keys one of them lacks (a config from another version of the trainer) are not compared.
    """
    return [
        f"{key} (config.json: {saved[key]!r}, checkpoint: {recorded[key]!r})"
        for key in saved
        if key in recorded and key not in free and saved[key] != recorded[key]
    ]
