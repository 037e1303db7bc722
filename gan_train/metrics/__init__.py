"""Training metrics: W1 by exact assignment and the run log (:mod:`gan_train.metrics.log`).

Names are imported lazily so that ``import gan_train.metrics`` costs nothing until one is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MetricsLog": "gan_train.metrics.log",
    "read_metrics": "gan_train.metrics.log",
    "w1_assignment": "gan_train.metrics.log",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gan_train.metrics' has no attribute {name!r}")
