"""The training loop: n_critic critic steps per generator step, checkpoints, metrics.

Read it top to bottom: :class:`Trainer` builds everything from a :class:`~gan_train.config.TrainConfig`;
:meth:`Trainer.run` loops over generator iterations; one iteration (:meth:`Trainer._iteration`) is ``n_critic``
calls of :meth:`Trainer.critic_step` and one of :meth:`Trainer.generator_step` (with ``cuda_graph`` the same steps
captured once and replayed, :mod:`gan_train.graphed`). What the loop only calls lives in modules of its own: the
optimisers and their schedule (:mod:`gan_train.optimizers`), the divergence watch (:mod:`gan_train.nan_watch`), the
metrics (:mod:`gan_train.run_metrics`), the checkpoint files and the run lock (:mod:`gan_train.checkpoint`).
:func:`open_run` opens a run as :func:`gan_train.run_dir.plan_run` decides (start or resume), for every caller.

Randomness comes from three seeded sources, all saved in checkpoints: the
global torch RNG (model initialisation only, under ``fork_rng``), the data
stream's generator and the noise generator (z and α). Metrics (W1, plots) draw
from generators seeded by (seed, iteration) and evaluate the critic in eval
mode, so they never perturb training: a run interrupted and resumed from a
checkpoint gives bitwise the same parameters as an uninterrupted one (CPU).

A trainer holds its run directory's lock (``RUN_DIR/.lock``) and, under torchrun, a process group: use it as a
context manager (``with Trainer.create(config, run_dir) as trainer: trainer.run()``) or call :meth:`Trainer.close`.
"""

from __future__ import annotations

import contextlib
import gc
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from gan_train import checkpoint as ckpt
from gan_train import distributed as dist
from gan_train.config import TrainConfig, note_auto_device, resolve_device, write_run_config
from gan_train.data.streams import anchor_image, to_device, training_stream
from gan_train.data.toy import data_law, get_dataset
from gan_train.ema import GeneratorEMA
from gan_train.errors import CheckpointError, CheckpointWriteError, Preempted
from gan_train.graphed import GraphedIteration, capture_available
from gan_train.losses import critic_loss, generator_loss
from gan_train.nan_watch import DivergenceWatch
from gan_train.nets import architecture, build_critic, build_generator, clip_weights_
from gan_train.optimizers import (
    build_optimizer,
    build_scheduler,
    grad_norm,
    load_optimizer_state,
    portable_state,
)
from gan_train.penalty import CriticPenalty, widened
from gan_train.preemption import PreemptionSignals
from gan_train.run_dir import RunPlan, check_new_run_dir, plan_run, resume_point
from gan_train.run_metrics import RunMetrics, draw_samples, metric_rng
from gan_train.step_io import CRITIC_STATS, GENERATOR_STATS, CriticBatch, CriticLoss
from stability.spec.links import get_link
from stability.util.atomic import atomic_save, ensure_directory

#: CriticBatch and the statistics' names are defined in gan_train.step_io and re-exported here for scripts.
__all__ = ["CRITIC_STATS", "GENERATOR_STATS", "CriticBatch", "CriticLoss", "TrainResult", "Trainer", "open_run",
           "train"]  # fmt: skip


@dataclass
class TrainResult:
    """What a finished (or stopped) :meth:`Trainer.run` leaves behind."""

    run_dir: str
    iteration: int
    checkpoint: str | None
    last_record: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir,
            "iteration": self.iteration,
            "checkpoint": self.checkpoint,
            "last_record": self.last_record,
            "seconds": self.seconds,
        }


class Trainer:
    """A GAN training run (2-D toy data or images), in a run directory.

    Use :meth:`create` for a new run and :meth:`resume` to continue one (or :func:`open_run`, which decides), as a
    context manager that releases the run directory on exit.
    """

    def __init__(self, config: TrainConfig, run_dir: str | Path):
        self.config = config.validate()
        self.run_dir = Path(run_dir)
        self.run_lock: ckpt.RunLock | None = None  # taken by create/resume, released by close
        self.world = dist.world_from_environment()  # rank 0 of 1, or this process's place under torchrun
        self.device = dist.device_for(resolve_device(config.device), self.world)  # auto: cuda if available, else cpu
        dist.check_config(self.world, self.config)
        capture = config.cuda_graph and capture_available(self.device)  # cuda_graph without CUDA: eager, a note
        dist.join(self.world, self.device, capture=capture)
        if config.threads > 0:
            torch.set_num_threads(config.threads)  # small 2-D nets often run fastest on one thread
        self.dataset = get_dataset(config.dataset) if not config.image_data else None  # 2-D plots and W1
        self.law = data_law(config.dataset) if not config.image_data else None
        self._build_networks(capture)
        # ema > 0: a moving average of the generator's weights, evaluated beside it (gan_train/ema.py)
        self.ema = GeneratorEMA(self.generator, config.ema, config.ema_start) if config.ema else None
        # cuda_graph: the iteration is captured once and replayed (gan_train/graphed.py); without CUDA, eager.
        self._graphed: GraphedIteration | None = GraphedIteration(self) if capture else None
        if config.cuda_graph and not capture and self.world.is_main:
            print(
                f"ganstab train: note: cuda_graph=true needs a CUDA device; running eagerly on {self.device}",
                file=sys.stderr,
            )
        self.opt_g = build_optimizer(config, self.generator, config.lr_g, capturable=capture)
        self.opt_d = build_optimizer(config, self.critic, config.lr_d, capturable=capture)
        self.sched_g = build_scheduler(self.opt_g, config, capturable=capture)
        self.sched_d = build_scheduler(self.opt_d, config, capturable=capture)
        self.penalty = CriticPenalty.from_config(config)
        if self.penalty is not None:
            self.penalty.anchor = anchor_image(config, self.device)  # None: the measure's own anchor (2-D data)
        self.link = get_link(config.loss)
        self.data = training_stream(config, self.device)
        if self.world.is_main:  # once the data is there: device=auto fell back to the CPU for images
            note_auto_device(config, self.device.type)
        self.noise = torch.Generator().manual_seed(config.seed + 2_000_003)  # z and α
        fp16 = config.amp == "fp16"
        # Disabled scalers are no-ops (scale returns the loss, step is optimizer.step): one code path for all modes.
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.iteration = 0
        self.metrics = RunMetrics(config, self.world, self.device, self.run_dir)
        self.watch = DivergenceWatch(self.penalty is not None, config.amp, self.device)
        self.last_checkpoint: Path | None = None

    def _build_networks(self, capture: bool) -> None:
        """Generator and critic, initialised from ``seed`` alone, and the forwards that training runs through."""
        config = self.config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.generator = build_generator(config).to(self.device)
            self.critic = build_critic(config).to(self.device)
        if config.channels_last:  # NHWC weights; conv outputs follow their layout, so the whole step stays NHWC
            self.generator.to(memory_format=torch.channels_last)
            self.critic.to(memory_format=torch.channels_last)
        for name in ("generator", "critic"):  # BatchNorm over the global batch under torchrun on CUDA
            module, note = dist.synchronise_batchnorm(
                getattr(self, name), self.world, self.device, config.sync_batchnorm, name
            )
            setattr(self, name, module)
            if note and self.world.is_main:
                print(f"ganstab train: note: {note}", file=sys.stderr)
        # Under torchrun the training forwards go through DDP (gradients averaged in the one backward); the
        # forwards that need no parameter gradient (G in the critic step, D in the generator step) do not.
        self._critic_fwd = dist.wrap(self.critic, self.world, capture=capture)
        self._generator_fwd = dist.wrap(self.generator, self.world, capture=capture)

    # ---- a run directory: new, resumed, released ------------------------------------------

    @classmethod
    def create(cls, config: TrainConfig, run_dir: str | Path) -> Trainer:
        """Start a new run; refuses a run directory that already holds files."""
        run_dir = Path(run_dir)
        check_new_run_dir(run_dir)
        trainer = cls(config, run_dir)  # under torchrun: every rank has checked the directory before this rendezvous
        if trainer.world.is_main:
            ensure_directory(run_dir)  # a file in the way is one line, not a traceback
            trainer.run_lock = ckpt.RunLock.acquire(run_dir)  # a second process starting here at once is refused
            write_run_config(run_dir, config)
            if trainer.penalty is not None and trainer.penalty.anchor is not None:  # recorded beside the config
                atomic_save(run_dir / "anchor.pt", lambda handle: torch.save(trainer.penalty.anchor.cpu(), handle))
        trainer.world.barrier()
        return trainer

    @classmethod
    def resume(cls, run_dir: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Trainer:
        """Continue a run from its newest checkpoint (from the start if it has none).

        Only bookkeeping keys (:data:`~gan_train.config.RESUMABLE_KEYS`) may be
        overridden. A corrupt checkpoint or one of a different architecture is
        refused with :class:`~gan_train.errors.CheckpointError`, and nothing in
        the run directory is modified.
        """
        run_dir = Path(run_dir)
        point = resume_point(run_dir, overrides)  # everything is checked before anything is written
        config, state = point.config, point.state
        lock = ckpt.RunLock.acquire(run_dir) if dist.world_from_environment().is_main else None
        try:
            trainer = cls(config, run_dir)
            if state is not None:
                trainer.load_state(state, point.checkpoint)
                trainer.last_checkpoint = point.checkpoint
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        trainer.run_lock = lock
        if trainer.world.is_main:
            if config != point.saved:
                write_run_config(run_dir, config)
            ckpt.remove_stale_temporaries(run_dir)
        trainer.world.barrier()
        return trainer

    @classmethod
    def open(cls, plan: RunPlan) -> Trainer:
        """The run ``plan`` describes (:func:`gan_train.run_dir.plan_run`): :meth:`create` or :meth:`resume`."""
        return cls.resume(plan.run_dir, plan.overrides) if plan.resume else cls.create(plan.config, plan.run_dir)

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the run directory's lock, and leave the process group under torchrun. Safe to call twice.

        Why more than :func:`gan_train.distributed.leave`: a 2-process gloo run that only destroyed the group aborted
        now and then at interpreter exit (SIGABRT, "terminate called without an active exception": 4 of 30, 1 of
        20 and 4 of 44 runs). gdb shows gloo's worker thread (``pt_gloo_runloop``) freeing a finished all-reduce's
        tensors, whose Python objects need the GIL, while the interpreter shuts down. Once a DDP has been built
        (even if it is deleted), gloo's threads outlive ``destroy_process_group`` (and the backend's ``shutdown``);
        without DDP they end (a short script shows both). Dropping the DDP wrappers and collecting garbage before
        destroying the group gave 0 of 60 (without the collection: 1 of 30). A measured mitigation of a race inside
        torch, not a proof. The networks stay usable for sampling and plots in this process.
        """
        lock, self.run_lock = self.run_lock, None
        if lock is not None:  # the run directory is free for the next command (a resume, in this process or not)
            lock.release()
        if not self.world.distributed:
            return
        self._critic_fwd, self._generator_fwd = self.critic, self.generator
        gc.collect()
        dist.leave()

    # ---- one step each -----------------------------------------------------------------

    @property
    def autocast(self):
        if self.config.amp == "off":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _latent(self, n: int) -> torch.Tensor:
        return to_device(torch.randn(n, self.config.latent_dim, generator=self.noise), self.device)  # (n, latent)

    def draw_critic_batch(self) -> CriticBatch:
        """One critic step's randomness, in a fixed order: the data batch, then z, then α (from the noise RNG)."""
        batch = self.config.batch_size
        x_data = self.data.next()  # (B, 2) or (B, C, H, W), on the device
        if self.config.channels_last:
            x_data = x_data.contiguous(memory_format=torch.channels_last)
        z = self._latent(batch)
        alpha = None
        if self.penalty is not None and self.penalty.measure.alpha is not None:
            alpha = self.penalty.measure.alpha.sample(batch, generator=self.noise, dtype=x_data.dtype)
            alpha = self.world.shard(to_device(alpha, self.device))  # (B / world_size,)
        # Every rank draws the same global batch and keeps its slice (gan_train/distributed.py).
        return CriticBatch(self.world.shard(x_data), self.world.shard(z), alpha)

    def generator_latent(self) -> torch.Tensor:
        """The generator step's latent codes (this process's shard), drawn after its iteration's critic batches."""
        return self.world.shard(self._latent(self.config.generator_batch))

    def critic_loss(self, batch: CriticBatch) -> CriticLoss:
        """The loss the critic minimises on ``batch`` (adversarial + penalty), its statistics and its penalty.

        One forward of the critic takes the real and generated samples together
        (``003_…`` Definition 4: ψ̇ = −∇_ψ of this loss); when the measure's x̂ *is*
        one of them (p_d, p_g) the penalty's input gradient is taken from that
        same forward, otherwise x̂ gets its own forward. Returns the scalar loss,
        a detached float64 vector of :data:`CRITIC_STATS` but the last (no host
        sync) and the penalty term (``None`` without a penalty).
        """
        n = batch.x_data.shape[0]
        with torch.no_grad(), self.autocast:
            x_gen = widened(self.generator(batch.z))  # like x_data, no graph to G
        x_in = torch.cat([batch.x_data, x_gen])
        # Under autocast the penalty gets its own float32 forward: bf16's 8-bit mantissa loses 5–9% of
        # ‖∇ₓD‖² at initialisation (tests/test_train_step.py), which the penalty cannot afford.
        reused = self.penalty.reused_rows(n) if self.penalty is not None and self.config.amp == "off" else None
        if reused is not None:
            x_in.requires_grad_(True)
        with self.autocast:
            d = widened(self._critic_fwd(x_in))  # (2B,)
        d_real, d_fake = d[:n], d[n:]
        loss_adv = critic_loss(self.link, d_real, d_fake)
        loss, penalty = loss_adv, None
        if self.penalty is not None:
            scale = self.scaler_d.get_scale() if self.scaler_d.is_enabled() else None
            if reused is not None:
                penalty = self.penalty.from_forward(x_in, d, reused, grad_scale=scale)
            else:
                with torch.autocast(self.device.type, enabled=False):
                    penalty = self.penalty(self._critic_fwd, batch.x_data, x_gen, alpha=batch.alpha, grad_scale=scale)
            loss = loss + penalty.loss
        nan = torch.full((), math.nan, device=d.device)
        stats = torch.stack(
            [
                loss.detach(),
                loss_adv.detach(),
                penalty.loss.detach() if penalty is not None else torch.zeros((), device=d.device),
                (d_real.mean() - d_fake.mean()).detach(),
                d.mean().detach(),
                penalty.q.sqrt().mean() if penalty is not None else nan,
                penalty.q.sqrt().max() if penalty is not None else nan,
            ]
        ).double()
        return CriticLoss(loss, stats, penalty)

    def generator_loss(self, z: torch.Tensor) -> torch.Tensor:
        """The loss the generator minimises at latent codes ``z`` (critic parameters get no gradient)."""
        self.critic.requires_grad_(False)  # no parameter gradients for D in the G step
        try:
            with self.autocast:
                d_fake = widened(self.critic(self._generator_fwd(z)))  # (B,)
        finally:
            self.critic.requires_grad_(True)
        return generator_loss(self.config.gen_loss, self.link, d_fake)

    def critic_step(self, batch: CriticBatch) -> torch.Tensor:
        """One critic update on ``batch``; returns its statistics (:data:`CRITIC_STATS`) as a device tensor.

        No host synchronisation and no Python state that changes from step to step (MaxAL's multiplier aside),
        so that :mod:`gan_train.graphed` can capture it; the caller folds the statistics in.
        """
        loss, stats, penalty = self.critic_loss(batch)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()
        self.scaler_d.unscale_(self.opt_d)
        stats = torch.cat([stats, grad_norm(self.critic).double().reshape(1)])
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        if self.config.clip > 0:
            clip_weights_(self.critic, self.config.clip)
        if penalty is not None:
            self.penalty.after_step(penalty)
        return stats

    def generator_step(self, z: torch.Tensor) -> torch.Tensor:
        """One generator update at latent codes ``z``; returns :data:`GENERATOR_STATS` as a device tensor."""
        loss = self.generator_loss(z)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss).backward()
        self.scaler_g.unscale_(self.opt_g)
        stats = torch.stack([loss.detach().double(), grad_norm(self.generator).double()])
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        return stats

    def fold_critic_stats(self, index: int, stats: torch.Tensor) -> None:
        """Add critic step ``index``'s statistics to the running sums and the divergence watch."""
        steps = self.config.critic_steps(self.iteration)  # n_critic, or the warm-up's count (004 §6)
        self.watch.watch(stats, "critic", f"critic step {index + 1}/{steps}", self.iteration + 1)
        self.metrics.accumulate("critic", stats)

    def fold_generator_stats(self, stats: torch.Tensor) -> None:
        self.watch.watch(stats, "generator", "generator step", self.iteration + 1)
        self.metrics.accumulate("generator", stats)

    # ---- the loop --------------------------------------------------------------------------

    def _iteration(self) -> None:
        """One generator iteration: the critic steps, then the generator step (eagerly, or a CUDA-graph replay)."""
        cfg = self.config
        if self._graphed is not None and self._graphed.applies(self.iteration):
            self._graphed()
        else:
            for index in range(cfg.critic_steps(self.iteration)):  # n_critic, or the warm-up's count (004 §6)
                self.fold_critic_stats(index, self.critic_step(self.draw_critic_batch()))
            if cfg.train_generator:
                self.fold_generator_stats(self.generator_step(self.generator_latent()))
        if self.ema is not None:  # after the generator step (eager or replayed): this iteration's weights count
            self.ema.update(self.generator, self.iteration)
        if not cfg.train_generator:  # critic-only mode: no generator step, so its statistics are logged as NaN
            self.opt_g.step()  # G has no gradients, so this changes nothing; the LR scheduler expects it
            nan = torch.full((len(GENERATOR_STATS),), math.nan, dtype=torch.float64, device=self.device)
            self.metrics.accumulate("generator", nan)
        self.sched_d.step()
        self.sched_g.step()

    def run(self, stop_at: int | None = None) -> TrainResult:
        """Train up to ``config.iterations`` generator iterations (or stop early at ``stop_at``).

        Raises:
            DivergenceError: a loss or gradient became NaN/Inf (the last good checkpoint is kept).
            CheckpointWriteError: a checkpoint could not be written (the previous one is intact).
            Preempted: SIGTERM or SIGINT arrived (the iteration was finished and a checkpoint written).
        """
        cfg = self.config
        end = cfg.iterations if stop_at is None else min(stop_at, cfg.iterations)
        main = self.world.is_main
        self.metrics.open_log(start=self.iteration)
        bar = tqdm(
            total=cfg.iterations,
            initial=self.iteration,
            disable=not (cfg.progress and main),
            desc=f"{cfg.dataset} {cfg.describe_regulariser()}",
            unit="it",
            dynamic_ncols=True,
        )
        started = time.perf_counter()
        first = self.iteration
        record: dict[str, Any] = {}
        preemption = PreemptionSignals()  # SIGTERM/SIGINT: finish the iteration, checkpoint, stop
        try:
            self.generator.train()
            self.critic.train()
            while self.iteration < end:
                self._iteration()
                self.iteration += 1
                it = self.iteration
                evaluated = cfg.eval_every and (it % cfg.eval_every == 0 or it == cfg.iterations)
                checkpointed = it % cfg.checkpoint_every == 0 or it == cfg.iterations or evaluated
                plotted = cfg.plot_every and it % cfg.plot_every == 0
                logged = it % cfg.log_every == 0 or it == end
                if logged or plotted or checkpointed:
                    self._raise_if_diverged()  # the one host sync of the loop (besides the records themselves)
                if logged:
                    record = self._record(it, (it - first) / max(time.perf_counter() - started, 1e-9))
                    self.metrics.write(record)
                    bar.set_postfix(
                        loss_d=f"{record['loss_d']:.3g}",
                        loss_g=f"{record['loss_g']:.3g}",
                        gap=f"{record['gap']:.3g}",
                        **({"w1": f"{record['w1']:.3g}"} if "w1" in record else {}),
                        refresh=False,
                    )
                if plotted and main:
                    self.plot(self.run_dir / "plots" / f"iter_{it:08d}.png")
                if evaluated:  # every rank: the evaluation is sharded over them (rank 0 logs it)
                    self.metrics.evaluate(self.generator, it, ema=self.ema.module if self.ema is not None else None)
                if checkpointed:
                    self.save_checkpoint()
                    if evaluated and main and self.metrics.best_iteration == it:
                        atomic_save(self.run_dir / "best.pt", lambda h: h.write(self.last_checkpoint.read_bytes()))
                bar.update(1)
                if self.world.any(preemption.signal is not None, self.device):  # all ranks stop together
                    self._raise_if_diverged()
                    self.save_checkpoint()
                    raise Preempted(preemption.signal or signal.SIGTERM, self.iteration, self.last_checkpoint)
        finally:
            preemption.restore()
            bar.close()
            self.metrics.close_log()
        return TrainResult(
            str(self.run_dir),
            self.iteration,
            str(self.last_checkpoint) if self.last_checkpoint else None,
            record,
            time.perf_counter() - started,
        )

    def _raise_if_diverged(self) -> None:
        """One host sync: raise :class:`~gan_train.errors.DivergenceError` naming the first non-finite step."""
        found = self.watch.check(self.world, self.metrics.sums)
        if found is not None:
            self.metrics.write(found.record())
            raise found.error(self.last_checkpoint)

    def _record(self, iteration: int, rate: float) -> dict[str, Any]:
        """One ``metrics.jsonl`` line: the means since the last one, the learning rates, and W1 when it is due."""
        record: dict[str, Any] = {"iteration": iteration, **self.metrics.take_means()}
        record["lr_d"] = float(self.opt_d.param_groups[0]["lr"])  # a device tensor under cuda_graph
        record["lr_g"] = float(self.opt_g.param_groups[0]["lr"])
        if self.penalty is not None and self.penalty.form.multiplier:
            record["maxal_lambda"] = self.penalty.multiplier
        if self.config.w1_every and iteration % self.config.w1_every == 0:
            record["w1"] = self.w1() if self.world.is_main else math.nan
            if self.ema is not None:  # the same data and latent codes, the averaged generator
                w1_ema = self.metrics.w1(self.law, self.ema.module, iteration) if self.world.is_main else math.nan
                record["w1_ema"] = w1_ema
        record["it_per_s"] = rate
        return record

    # ---- what the networks look like now (metrics that never perturb training) --------------------

    def samples(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` generated points ``(n, 2)`` on the CPU, from the metrics RNG of this iteration by default."""
        rng = generator or metric_rng(self.config.seed, self.iteration)
        return draw_samples(self.generator, n, self.config.latent_dim, self.device, rng)

    def w1(self, n: int | None = None) -> float:
        """W1 between fresh data and generated samples by exact assignment (``004_…``)."""
        return self.metrics.w1(self.law, self.generator, self.iteration, n)

    def plot(self, path: str | Path, n: int = 1000) -> Path:
        """Level sets of D, data, samples and ∇ₓD arrows at generated points (Figure 3 of ``004_…``)."""
        return self.metrics.plot(path, self.law, self.dataset.extent, self.critic, self.generator, self.iteration, n)

    # ---- checkpoints -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly (see :mod:`gan_train.checkpoint`)."""
        return {
            "iteration": self.iteration,
            "config": self.config.to_dict(),
            "architecture": architecture(self.config),
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "generator_ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_g": portable_state(self.opt_g),  # learning rates as floats: resumable eagerly or graphed
            "opt_d": portable_state(self.opt_d),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "penalty": self.penalty.state_dict() if self.penalty is not None else None,
            "rng": {"data": self.data.state_dict(), "noise": self.noise.get_state(), "torch": torch.get_rng_state()},
            **self.metrics.state_dict(),  # metric_sums, best_fid
            "world_size": self.world.world_size,
        }

    def load_state(self, state: dict[str, Any], path: str | Path = "<memory>") -> None:
        """Restore :meth:`state`; checks the architecture before touching anything."""
        if state.get("architecture") != architecture(self.config):
            raise CheckpointError(
                f"checkpoint {path} is from a different architecture: {state.get('architecture')} "
                f"there, {architecture(self.config)} here"
            )
        try:
            ckpt.load_module_state(self.generator, state["generator"], "generator", path)
            ckpt.load_module_state(self.critic, state["critic"], "critic", path)
            if self.ema is not None:
                ckpt.load_module_state(self.ema.module, state["generator_ema"], "EMA generator", path)
            load_optimizer_state(self.opt_g, state["opt_g"])
            load_optimizer_state(self.opt_d, state["opt_d"])
            self.sched_g.load_state_dict(state["sched_g"])
            self.sched_d.load_state_dict(state["sched_d"])
            if state.get("scaler_g"):  # {} for a disabled scaler
                self.scaler_g.load_state_dict(state["scaler_g"])
                self.scaler_d.load_state_dict(state["scaler_d"])
            if self.penalty is not None and state.get("penalty"):
                self.penalty.load_state_dict(state["penalty"])
            self.data.load_state_dict(state["rng"]["data"])
            self.noise.set_state(state["rng"]["noise"])
            torch.set_rng_state(state["rng"]["torch"])
            self.metrics.load_state_dict(state)
            self.iteration = int(state["iteration"])
            was = int(state.get("world_size", 1))
            if was != self.world.world_size and self.world.is_main:  # the global batch is unchanged: recut, say so
                print(
                    f"ganstab train: note: resuming on {self.world.world_size} process(es), the run was on {was}; "
                    "the global batch and its random streams are unchanged, each process takes its new shard",
                    file=sys.stderr,
                )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint {path} does not match this run: {exc}") from None

    def save_checkpoint(self) -> Path:
        """Write the checkpoint of the current iteration atomically and prune old ones (rank 0 only)."""
        path = ckpt.checkpoint_path(self.run_dir, self.iteration)
        if not self.world.is_main:
            self.last_checkpoint = path
            return path
        try:
            ckpt.write_checkpoint(path, self.state())
        except OSError as exc:
            previous = str(self.last_checkpoint) if self.last_checkpoint else "none"
            raise CheckpointWriteError(
                f"could not write the checkpoint of iteration {self.iteration} ({exc.strerror or exc}); "
                f"the previous checkpoint is intact ({previous})"
            ) from None
        self.last_checkpoint = path
        ckpt.prune_checkpoints(self.run_dir, self.config.keep_checkpoints)
        return path


def open_run(
    run_dir: str | Path,
    config: TrainConfig | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    resume: bool | None = None,
    keep: tuple[str, ...] = (),
) -> Trainer:
    """The trainer of the run in ``run_dir``, started or resumed as :func:`gan_train.run_dir.plan_run` decides (the
    same arguments); the experiments and the Table 2 sweep open their runs here, ``ganstab train`` through
    :meth:`Trainer.open` of its plan. It holds the run's lock: use it as ``with open_run(...) as trainer:``.
    """
    return Trainer.open(plan_run(run_dir, config, overrides, resume=resume, keep=keep))


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False) -> TrainResult:
    """Create (or resume) a run in ``run_dir`` and train it to the end, releasing the run directory after."""
    with open_run(run_dir, None if resume else config, resume=resume) as trainer:
        return trainer.run()
