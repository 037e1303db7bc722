"""Training on several processes with ``torchrun`` (torch.distributed + DistributedDataParallel).

The trainer reads the environment ``torchrun`` sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) and joins the process group:
NCCL on CUDA, gloo on CPU. Nothing is home-made: gradients are averaged by
:class:`~torch.nn.parallel.DistributedDataParallel` during the one ``backward``
of each step; the penalty's input gradient is taken out of place with
``torch.autograd.grad`` before it (the pattern DDP supports).

**The batch is global.** ``batch_size`` (and ``gen_batch_size``) are the
batch of the whole step; each rank computes on its ``1/world_size`` slice. All
ranks draw the same global batch from identically seeded streams and keep
their slice, so a run on N processes follows the 1-process run with the same
config (to float tolerance: the mean of N shard means is the global mean), and
a run may resume on a different number of processes (the shards are recut;
the streams are the same). Max-aggregated penalties (MaxGP, MaxAL) take the
maximum over the whole batch, which a shard does not see: they are refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from stability.spec.penalties import MAX_FORMS
from stability.util.errors import UserError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (a single process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, metrics, TensorBoard events and shows the progress bar."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch (the first dimension)."""
        if not self.distributed:
            return batch
        size = batch.shape[0] // self.world_size
        return batch[self.rank * size : (self.rank + 1) * size]

    def mean_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Average ``tensor`` over ranks, in place (a no-op on one process)."""
        if self.distributed:
            torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
            tensor /= self.world_size
        return tensor

    def min_(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MIN)
        return tensor

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is true on some rank (one collective)."""
        if not self.distributed:
            return flag
        value = torch.tensor([int(flag)], device=device)
        torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
        return bool(value.item())

    def all_gather_objects(self, obj: object) -> list:
        """Every rank's ``obj``, in rank order, on every rank (picklable CPU objects; ``[obj]`` on one process)."""
        if not self.distributed:
            return [obj]
        out: list = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()


def world_from_environment() -> World:
    """The :class:`World` ``torchrun`` describes in the environment (rank 0 of 1 without it)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise UserError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (they are set by torchrun)") from None
    if size < 1 or not 0 <= rank < size:
        raise UserError(f"RANK={rank} is not a rank of WORLD_SIZE={size}")
    return World(rank, size, local)


def device_for(name: str, world: World) -> torch.device:
    """The torch device ``name`` for this process: ``cuda`` means this process's GPU (``LOCAL_RANK``) under torchrun.

    Raises:
        UserError: an unknown device name, or CUDA where there is none.
    """
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; e.g. cpu, cuda, cuda:1") from None
    if world.distributed and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", world.local_rank)  # one GPU per process under torchrun
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} is not available here (torch.cuda.is_available() is False)")
    return device


#: The first NCCL release that lets a CUDA graph capture collectives (PyTorch's CUDA-graph notes, "Usage with
#: DistributedDataParallel"); older ones would need the all-reduces kept outside the graph.
NCCL_CAPTURE_VERSION = (2, 9, 6)


def join(world: World, device: torch.device, capture: bool = False) -> None:
    """Join the process group of ``world`` (once per process; NCCL on CUDA devices, gloo otherwise).

    ``capture``: the iteration will be a CUDA graph with DDP's all-reduces inside it. PyTorch's recipe for that
    (its CUDA-graph notes, "Usage with DistributedDataParallel") needs NCCL >= 2.9.6, refused in one line otherwise,
    and NCCL's asynchronous error handling off before the group is created. torchrun turns it on
    (``TORCH_NCCL_ASYNC_ERROR_HANDLING=1``), so it is turned off here, for this process only.
    """
    if not world.distributed or torch.distributed.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if capture and backend == "nccl":
        version = tuple(torch.cuda.nccl.version())
        if version < NCCL_CAPTURE_VERSION:
            raise UserError(
                f"cuda_graph=true under torchrun needs NCCL >= 2.9.6 to capture DDP's all-reduces; this torch has "
                f"NCCL {'.'.join(map(str, version))}: drop cuda_graph or install a newer torch"
            )
        os.environ["TORCH_NCCL_ASYNC_ERROR_HANDLING"] = "0"
    torch.distributed.init_process_group(backend, rank=world.rank, world_size=world.world_size)


def check_config(world: World, config) -> None:
    """Refuse what a sharded step cannot do, in one line."""
    if not world.distributed:
        return
    for key in ("batch_size", "generator_batch"):
        value = getattr(config, key)
        if value < world.world_size:
            raise UserError(f"{key}={value} is smaller than the {world.world_size} processes: each needs a sample")
        if value % world.world_size:
            raise UserError(
                f"{key}={value} does not split evenly over {world.world_size} processes (the batch is global)"
            )
    if getattr(config, "eval_every", 0):
        from gan_train.evaluate import EVAL_BATCH
        from gan_train.metrics.inception import even_batches

        sizes = even_batches(config.eval_samples, EVAL_BATCH)
        if len(sizes) < world.world_size or min(sizes) < 2:
            raise UserError(
                f"eval_samples={config.eval_samples} makes {len(sizes)} evaluation batch(es) of up to {EVAL_BATCH} "
                f"images, fewer than the {world.world_size} processes that share them: raise eval_samples to at "
                f"least {EVAL_BATCH * (world.world_size - 1) + 1}"
            )
    if config.form in MAX_FORMS:
        raise UserError(
            f"form={config.form} penalises the maximum over the whole batch, which one process's shard does not "
            "see; run it on one process"
        )


def leave() -> None:
    """Destroy the process group, if one was joined (call once the process is done with torch.distributed)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def synchronise_batchnorm(
    module: torch.nn.Module, world: World, device: torch.device, enabled: bool, name: str
) -> tuple[torch.nn.Module, str | None]:
    """``module`` with its BatchNorm layers as :class:`~torch.nn.SyncBatchNorm` under torchrun on CUDA, and a note.

    The batch is global (module docstring), but a plain BatchNorm normalises each process's shard by the shard's
    own statistics, so N processes would not follow the 1-process run (and 8 GPUs at batch 64 normalise over 8
    samples). SyncBatchNorm gathers the statistics over the processes in training mode; in eval mode (IS/FID
    sampling) each process normalises its own evaluation batch, as one process does. The layers keep their
    parameters (the same tensors), buffers and state-dict keys, so checkpoints move between both kinds.
    torch runs SyncBatchNorm on GPUs only: on CPU (gloo) the layers stay per process and the note says so.
    ``enabled=False`` keeps per-process statistics on purpose (Gulrajani's multi-GPU scripts).
    """
    layers = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not world.distributed or not layers:
        return module, None
    if not enabled:
        return module, (
            f"sync_batchnorm=false: the {name}'s {len(layers)} BatchNorm layer(s) normalise each process's shard of "
            f"the batch ({world.world_size} processes), so the run differs from the 1-process run"
        )
    if device.type != "cuda":
        return module, (
            f"the {name}'s {len(layers)} BatchNorm layer(s) normalise each process's shard: torch runs SyncBatchNorm "
            f"on GPUs only, so on {device.type} the {world.world_size} processes differ from the 1-process run"
        )
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module), None


#: DDP's runtime-statistics sample rate under capture: never again after its first 10 iterations (a sample records
#: CUDA timing events and reads them back at the next forward, host work that a graph replay does not repeat).
_NO_RUNTIME_SAMPLES = 2**31 - 1


def wrap(module: torch.nn.Module, world: World, capture: bool = False) -> torch.nn.Module:
    """``module`` inside :class:`~torch.nn.parallel.DistributedDataParallel` under torchrun; itself otherwise.

    A module without trainable parameters (a fixed generator) needs no gradient averaging and stays as it is.
    ``capture``: the iteration will be captured as a CUDA graph, all-reduces included. PyTorch's recipe constructs
    DDP on a side stream and warms it up for at least 11 eager iterations
    (:data:`gan_train.graphed.DDP_WARMUP_ITERATIONS`); DDP's runtime statistics, sampled every 100th iteration after
    the 10th, are turned off so that no sample falls into the captured iteration.
    """
    if not world.distributed or not any(p.requires_grad for p in module.parameters()):
        return module
    from torch.nn.parallel import DistributedDataParallel

    device = next(module.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    if not (capture and device.type == "cuda"):
        return DistributedDataParallel(module, device_ids=ids)
    side = torch.cuda.Stream(device=device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        wrapped = DistributedDataParallel(module, device_ids=ids)
    torch.cuda.current_stream(device).wait_stream(side)
    wrapped._set_ddp_runtime_logging_sample_rate(_NO_RUNTIME_SAMPLES)
    return wrapped
