"""Training metrics: W1 by exact assignment, the jsonl log and TensorBoard scalars.

W1 between two equal-size sample sets is estimated as in Section 6 of
``004_…``: the cost of the minimum-cost perfect matching under the Euclidean
distance (Kuhn–Munkres; scipy's ``linear_sum_assignment``), divided by the
number of pairs. For n samples per side this is the exact W1 between the two
empirical measures (an optimal coupling of uniform empirical measures of equal
size is a permutation, Birkhoff). The matching itself (:func:`optimal_matching`)
is also the experiments' optimal-transport target of each fake sample.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from stability.util.atomic import WriteError, atomic_write


def optimal_matching(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """The minimum-cost perfect matching of ``a`` to ``b`` (each ``(n, d)``, equal n) under the Euclidean distance.

    Returns:
        ``(partner, distance)``, both ``(n,)``: row i of ``a`` is matched with row ``partner[i]`` of ``b``, at
        distance ``distance[i]`` (float64), an optimal coupling of the two uniform empirical measures.
    """
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    if a.shape != b.shape:
        raise ValueError(f"optimal_matching needs two sets of the same shape, got {a.shape} and {b.shape}")
    cost = cdist(a, b)  # (n, n) Euclidean distances
    rows, cols = linear_sum_assignment(cost)
    partner = np.empty(len(a), dtype=np.int64)
    partner[rows] = cols
    return partner, cost[rows, cols][np.argsort(rows)]


def w1_assignment(a: Any, b: Any) -> float:
    """W1 between the empirical measures of ``a`` and ``b`` (each ``(n, d)``), in float64: the matching's mean cost."""
    return float(optimal_matching(a, b)[1].mean())


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl``, and mirrors scalars to TensorBoard.

    Args:
        run_dir: the run directory.
        start: the iteration training starts from; on resume, records after
            it (written by the interrupted run after its last checkpoint, or all
            of them when it had none) are dropped, and so are TensorBoard events,
            so that the log reads like one uninterrupted run.
        tensorboard: write TensorBoard scalars when ``tensorboard`` is installed.
    """

    def __init__(self, run_dir: str | Path, start: int = 0, tensorboard: bool = True, active: bool = True):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.active = active  # False on ranks other than 0 under torchrun: they write nothing
        self.writer = None
        if not active:
            return
        board = Path(run_dir) / "tensorboard"
        if self.path.exists():  # a resume, also of a run killed before its first checkpoint (start = 0)
            self._truncate_after(start)
        if start == 0 and board.is_dir():  # restarting from scratch: the old events would all come twice
            for old in board.glob("events.out.tfevents.*"):
                with contextlib.suppress(OSError):
                    old.unlink()
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print("ganstab train: note: tensorboard is not installed; TensorBoard scalars are off", file=sys.stderr)
            else:
                # purge_step: TensorBoard drops the old file's events from `start` on, which this run writes again
                self.writer = SummaryWriter(str(board), purge_step=start if start else None)

    def write(self, record: dict[str, Any]) -> None:
        if not self.active:
            return
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, allow_nan=True) + "\n")
        except OSError as exc:  # a full disk: one line from the command, not a traceback
            raise WriteError(self.path, exc) from None
        if self.writer is not None:
            step = int(record["iteration"])
            for key, value in record.items():
                if key != "iteration" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _truncate_after(self, start: int) -> None:
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                if int(json.loads(line).get("iteration", 0)) <= start:
                    kept.append(line)
        atomic_write(self.path, "".join(line + "\n" for line in kept), fsync=False)


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """All records of ``metrics.jsonl``."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
