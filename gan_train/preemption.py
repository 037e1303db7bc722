"""SIGTERM and SIGINT during training: finish the iteration, write a checkpoint, then stop.

A cluster's preemption notice (SIGTERM) or a Ctrl-C (SIGINT) both lose nothing: :class:`PreemptionSignals` only
remembers the signal, and the loop (:meth:`gan_train.trainer.Trainer.run`) checks it after each iteration, writes a
checkpoint and raises :class:`~gan_train.errors.Preempted`.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


class PreemptionSignals:
    """Remembers the first SIGTERM/SIGINT while installed, instead of dying mid-iteration.

    A second signal gets the previous handler, so a second Ctrl-C still stops at once. Only the main thread can
    install handlers; elsewhere (a notebook's worker thread) signals keep their usual meaning.
    """

    def __init__(self):
        self.signal: signal.Signals | None = None
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal = signal.Signals(signum)
        self.restore()

    def restore(self) -> None:
        """Put the previous handlers back (after the first signal, and when the loop ends)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
