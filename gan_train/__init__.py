"""``gan_train``: a GAN trainer whose penalties are the ``stability`` definitions.

Public names (imported lazily, so ``import gan_train`` does not import torch)::

    TrainConfig, PRESETS, get_preset, apply_overrides   # configuration
    Trainer, train, TrainResult                        # the loop
    CriticPenalty, gradient_sq_norms                   # penalty terms
    DATASETS, data_law, DataStream                     # 2-D toy data
    w1_assignment                                      # metrics
    load_generator, sample_run                         # using a run
    DivergenceError, CheckpointError, CheckpointWriteError, TrainingStopped
"""

from __future__ import annotations

from stability.util.lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "gan_train.config",
    "apply_overrides": "gan_train.config",
    "PRESETS": "gan_train.presets",
    "get_preset": "gan_train.presets",
    "Trainer": "gan_train.trainer",
    "TrainResult": "gan_train.trainer",
    "train": "gan_train.trainer",
    "CriticPenalty": "gan_train.penalty",
    "gradient_sq_norms": "gan_train.penalty",
    "DATASETS": "gan_train.data.toy",
    "data_law": "gan_train.data.toy",
    "DataStream": "gan_train.data.toy",
    "w1_assignment": "gan_train.metrics.log",
    "load_generator": "gan_train.sampling",
    "sample_run": "gan_train.sampling",
    "DivergenceError": "gan_train.errors",
    "CheckpointError": "gan_train.errors",
    "CheckpointWriteError": "gan_train.errors",
    "TrainingStopped": "gan_train.errors",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
