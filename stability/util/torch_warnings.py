"""Warnings that torch's own internals raise: kept off the user's terminal, narrowly, by their message.

torch 2.x loads its forward-mode decompositions (the first ``torch.func.jvp``/``jacfwd`` of a process) through
``torch.jit.script``, which warns "`torch.jit.script` is deprecated" (a ``FutureWarning``, a
``DeprecationWarning`` in some releases) from torch's own code: nothing a user of ``ganstab`` wrote or can change.
The command line installs these filters once, before any command runs; library users keep Python's defaults.
"""

from __future__ import annotations

import warnings

#: (message regex, category) of each warning torch raises about itself, matched at the start of the message.
TORCH_INTERNAL_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    (r"`torch\.jit\.script` is deprecated", FutureWarning),
    (r"`torch\.jit\.script` is deprecated", DeprecationWarning),
)


def silence_torch_internals() -> None:
    """Ignore exactly the warnings of :data:`TORCH_INTERNAL_WARNINGS` (no other warning of torch or of ours)."""
    for message, category in TORCH_INTERNAL_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
