"""Errors of the trainer.

User mistakes (bad config, unusable checkpoint) are :class:`UserError`s: one
line, exit status 2. A run that stops on its own (divergence, a checkpoint
that cannot be written) raises :class:`TrainingStopped`: one line, exit
status 3, the last good checkpoint kept.
"""

from __future__ import annotations

import signal

from stability.util.errors import UserError


class CheckpointError(UserError):
    """A checkpoint that is missing, corrupt, or from a different architecture."""


class TrainingStopped(RuntimeError):
    """The run stopped before its last iteration; the message says where and why."""


class DivergenceError(TrainingStopped):
    """A loss or gradient became NaN or infinite."""

    def __init__(self, message: str, iteration: int, term: str):
        super().__init__(message)
        self.iteration = iteration
        self.term = term


class CheckpointWriteError(TrainingStopped):
    """Writing a checkpoint failed (e.g. a full disk); the previous one is intact."""


class Preempted(TrainingStopped):
    """SIGTERM or SIGINT arrived: the iteration was finished and a checkpoint written. The message says what happened;
    each command adds how to continue (``train --resume``, or the same ``experiment``/``table2`` command again)."""

    def __init__(self, signum: int, iteration: int, checkpoint: object):
        name = signal.Signals(signum).name
        super().__init__(f"{name} at iteration {iteration}: checkpoint {checkpoint} written")
        self.signum = int(signum)
        self.iteration = iteration

    @property
    def exit_status(self) -> int:
        return 128 + self.signum  # the shell's convention for "killed by signal N"
