"""The whole generator iteration (n_critic critic steps and the generator step) replayed as one CUDA graph.

At batch 64 an eager ResNet iteration spends its time launching ~2,000 kernels, not computing; a CUDA graph records
them once and replays them with one launch (``torch.cuda.CUDAGraph``; ``torch.compile`` is no option, its
AOTAutograd does not take the penalty's double backward). A replay is the same iteration as the eager loop's when:

* every input sits in a static buffer: the iteration's randomness is drawn eagerly, by the trainer's own
  :meth:`~gan_train.trainer.Trainer.draw_critic_batch` in the eager loop's order (data, z, α per critic step, then the
  generator's z), and copied into the buffers before each replay, so graph and eager runs see the same numbers;
* nothing Python-side changes between replays: the steps return their statistics as tensors, which are folded into
  the running sums and the divergence watch outside the graph (the step has no host synchronisation anyway);
* the optimisers are capturable (step counts on the device) and hold their learning rates as device tensors that
  the schedulers fill in place (their base rates kept as Python floats, so no step reads the device;
  :mod:`gan_train.optimizers`).

Under torchrun the graph holds DDP's all-reduces too, by PyTorch's recipe for a full-backward capture (its CUDA-
graph notes, "Usage with DistributedDataParallel"): NCCL >= 2.9.6 with its asynchronous error handling off
(:func:`gan_train.distributed.join`), DDP constructed on a side stream with its runtime sampling off
(:func:`gan_train.distributed.wrap`), and :data:`DDP_WARMUP_ITERATIONS` eager iterations before the capture. Every
rank captures the same sequence of collectives and replays it in step with the others.

Refused at start, in one line (:func:`gan_train.config.cuda_graph_refusal`): fp16 (GradScaler skips steps by a host
decision), MaxAL (its multiplier is a host number updated every step) and SGD (no capturable variant in torch). On a
device without CUDA the switch is a note and the loop runs eagerly.
Iterations whose critic-step count differs (the warm-up of ``004_…`` §6) run eagerly; so do the first
:data:`WARMUP_ITERATIONS`, on a side stream, as capture requires (lazy cuBLAS/cuDNN state, optimiser state).
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

import torch

from gan_train.step_io import CriticBatch

#: Eager iterations before the capture (PyTorch's recipe: warm up on a side stream first).
WARMUP_ITERATIONS = 3

#: Under DDP: PyTorch's recipe asks for at least 11 DDP iterations (bucket rebuilding after the first, runtime
#: statistics for the first 10). Each generator iteration is at least one for each wrapped network.
DDP_WARMUP_ITERATIONS = 11


def capture_available(device: torch.device) -> bool:
    """Whether CUDA graphs can be captured on ``device`` (the trainer falls back to eager elsewhere)."""
    return device.type == "cuda" and torch.cuda.is_available()


class Steps(Protocol):
    """What the graphed iteration needs of the trainer (:class:`gan_train.trainer.Trainer` provides it)."""

    config: Any
    world: Any
    device: torch.device

    def draw_critic_batch(self) -> CriticBatch: ...

    def generator_latent(self) -> torch.Tensor: ...

    def critic_step(self, batch: CriticBatch) -> torch.Tensor: ...

    def generator_step(self, z: torch.Tensor) -> torch.Tensor: ...

    def fold_critic_stats(self, index: int, stats: torch.Tensor) -> None: ...

    def fold_generator_stats(self, stats: torch.Tensor) -> None: ...


class GraphedIteration:
    """One generator iteration from static buffers: eager for the warm-up, then a captured graph replayed.

    ``capture=False`` runs the same staged iteration eagerly every time (what a CPU can check of this class: the
    staging, the order of the random draws and the folding of statistics; ``tests/test_train_graph.py``).
    """

    def __init__(self, trainer: Steps, capture: bool = True):
        self.trainer = trainer
        self.capture = capture
        self.warmup = DDP_WARMUP_ITERATIONS if trainer.world.distributed else WARMUP_ITERATIONS
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_iterations = 0
        self._batches: list[CriticBatch] | None = None
        self._z: torch.Tensor | None = None
        self._outputs: tuple[list[torch.Tensor], torch.Tensor | None] | None = None

    def applies(self, iteration: int) -> bool:
        """Whether iteration ``iteration`` has the captured shape (warm-up iterations have more critic steps)."""
        return self.trainer.config.critic_steps(iteration) == self.trainer.config.n_critic

    def __call__(self) -> None:
        """Run one iteration: draw its randomness, stage it, run or replay, fold the statistics."""
        trainer = self.trainer
        batches = [trainer.draw_critic_batch() for _ in range(trainer.config.n_critic)]
        z = trainer.generator_latent() if trainer.config.train_generator else None
        self._stage(batches, z)
        if self.graph is not None:
            self.graph.replay()
        elif self.capture and self.eager_iterations >= self.warmup:
            torch.cuda.synchronize(trainer.device)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):  # records only: the kernels run at the replay below
                self._outputs = self._body()
            self.graph.replay()
        else:  # an eager iteration from the buffers: before a capture on a side stream, as capture requires
            side = torch.cuda.Stream(device=trainer.device) if self.capture else None
            if side is not None:
                side.wait_stream(torch.cuda.current_stream(trainer.device))
            with torch.cuda.stream(side) if side is not None else contextlib.nullcontext():
                self._outputs = self._body()
            if side is not None:
                torch.cuda.current_stream(trainer.device).wait_stream(side)
            self.eager_iterations += 1
        critic_stats, generator_stats = self._outputs
        for index, stats in enumerate(critic_stats):  # copies: the next replay overwrites the outputs
            trainer.fold_critic_stats(index, stats.clone())
        if generator_stats is not None:
            trainer.fold_generator_stats(generator_stats.clone())

    def _stage(self, batches: list[CriticBatch], z: torch.Tensor | None) -> None:
        if self._batches is None:  # the first iteration's draws, copied, become the buffers
            self._batches = [batch.clone() for batch in batches]
            self._z = None if z is None else z.clone()
            return
        for buffer, batch in zip(self._batches, batches):
            buffer.x_data.copy_(batch.x_data)
            buffer.z.copy_(batch.z)
            if buffer.alpha is not None:
                buffer.alpha.copy_(batch.alpha)
        if z is not None:
            self._z.copy_(z)

    def _body(self) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        trainer = self.trainer
        critic_stats = [trainer.critic_step(batch) for batch in self._batches]
        generator_stats = trainer.generator_step(self._z) if self._z is not None else None
        return critic_stats, generator_stats
