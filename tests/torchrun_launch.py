"""Launching a test's worker script on two processes with torchrun (gloo on CPU), as a user's ``torchrun`` would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_two_processes(script: Path, source: str, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """Write ``source`` to ``script``, run it on 2 processes with ``torchrun --standalone`` and check it succeeded.

    The test's own torchrun variables are dropped, so that the launcher sets them afresh.
    """
    script.write_text(source)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
               *args]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done
