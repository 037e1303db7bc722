"""What the test files share: headless plotting, one thread, and the tiny training configuration.

``tiny_config`` is a plain function (imported as ``from conftest import tiny_config``): the trainer's tests call it
with their own overrides, often several times in one test.
"""

from __future__ import annotations

import os

import matplotlib
import pytest

# Headless plotting in every test process, and one thread each so the suite behaves on 2-core CI.
matplotlib.use("Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

#: The small, quiet run every trainer test starts from: a 16-wide, 2-deep MLP, two critic steps, no W1, plots,
#: TensorBoard or progress bar, and checkpoints only where a test asks for them.
TINY_TRAIN = dict(
    width=16,
    depth=2,
    n_critic=2,
    checkpoint_every=1000,
    w1_every=0,
    plot_every=0,
    tensorboard=False,
    progress=False,
)


def tiny_config(**overrides):
    """A validated ``TrainConfig`` of :data:`TINY_TRAIN` with ``overrides`` applied."""
    from gan_train.config import TrainConfig

    return TrainConfig(**{**TINY_TRAIN, **overrides}).validate()


@pytest.fixture
def one_torch_thread():
    """One torch thread during the test (tiny nets: fastest, and no contention), the previous count after it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
