"""A time limit for pure-Python sympy work (solve, integrate), which has no timeout of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator


class TimeLimitExceeded(Exception):
    """Raised inside a :func:`time_limit` block when its time is up."""


#: Deadlines (``time.monotonic()``) of the enclosing :func:`time_limit` blocks, innermost last.
_DEADLINES: list[float] = []


def _seconds_from_environment(default: float = 120.0) -> float:
    with contextlib.suppress(ValueError):
        seconds = float(os.environ.get("GANSTAB_TIME_LIMIT", default))
        if 0 < seconds < 1e9:
            return seconds
    return default


#: Seconds one symbolic step may take (``GANSTAB_TIME_LIMIT``, default 120) before it fails with a message.
DEFAULT_SECONDS = _seconds_from_environment()


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` via SIGALRM.

    Blocks nest: an inner block never outlives the one around it (a quick ``sympy.integrate`` attempt inside a
    command's overall limit), and leaving it re-arms the outer alarm with the time the outer block has left.
    Only the main thread can receive signals; elsewhere (and on platforms without SIGALRM) the block runs
    unlimited.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(signum, frame):
        # re-arm first: an exception raised inside a callback (a gc hook, a __del__) is swallowed by Python, and
        # the block would then run unlimited; leaving the block clears the timer
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        raise TimeLimitExceeded

    now = time.monotonic()
    deadline = min(now + seconds, _DEADLINES[-1]) if _DEADLINES else now + seconds
    previous = signal.signal(signal.SIGALRM, handler)
    _DEADLINES.append(deadline)
    signal.setitimer(signal.ITIMER_REAL, max(deadline - now, 1e-6))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _DEADLINES.pop()
        signal.signal(signal.SIGALRM, previous)
        if _DEADLINES:  # an enclosing block whose time ran out meanwhile fires at once
            signal.setitimer(signal.ITIMER_REAL, max(_DEADLINES[-1] - time.monotonic(), 1e-6))
