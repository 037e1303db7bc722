"""The training loop: n_critic critic steps per generator step, checkpoints, metrics.

Read it top to bottom: :class:`Trainer` builds everything from a
:class:`~gan_train.config.TrainConfig`, :meth:`Trainer.run` loops over
generator iterations; one iteration is ``n_critic`` calls of
:meth:`Trainer.critic_step` and one of :meth:`Trainer.generator_step` (:meth:`Trainer._iteration`;
with ``cuda_graph`` the same steps are captured once and replayed, :mod:`gan_train.graphed`).

Randomness comes from three seeded sources, all saved in checkpoints: the
global torch RNG (model initialisation only, under ``fork_rng``), the data
stream's generator and the noise generator (z and α). Metrics (W1, plots) draw
from generators seeded by (seed, iteration) and evaluate the critic in eval
mode, so they never perturb training: a run interrupted and resumed from a
checkpoint gives bitwise the same parameters as an uninterrupted one (CPU).
"""

from __future__ import annotations

import contextlib
import gc
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from gan_train import checkpoint as ckpt
from gan_train import distributed as dist
from gan_train.config import RESUMABLE_KEYS, TrainConfig, apply_overrides, read_run_config, write_run_config
from gan_train.data.streams import anchor_image, to_device, training_stream
from gan_train.data.toy import data_law, get_dataset
from gan_train.distributed import World, world_from_environment
from gan_train.errors import CheckpointError, CheckpointWriteError, DivergenceError, Preempted
from gan_train.graphed import (
    GraphedIteration,
    capture_available,
    float_base_rates,
    graph_optimizer,
    load_optimizer_state,
    portable_state,
)
from gan_train.losses import critic_loss, generator_loss
from gan_train.metrics.log import MetricsLog, w1_assignment
from gan_train.nets import architecture, build_critic, build_generator, clip_weights_
from gan_train.penalty import CriticPenalty, widened
from stability.spec.links import get_link
from stability.util.atomic import atomic_save
from stability.util.errors import UserError

#: Per-critic-step statistics, in the order they are accumulated.
CRITIC_STATS = ("loss_d", "loss_adv", "penalty", "gap", "d_mean", "grad_norm", "max_grad_norm", "param_grad_norm_d")
GENERATOR_STATS = ("loss_g", "param_grad_norm_g")
_STATS = {"critic": CRITIC_STATS, "generator": GENERATOR_STATS}
_MAX_TERMS = 16  # divergence codes are step_id · 16 + term index


@dataclass
class CriticBatch:
    """One critic step's randomness, drawn once (:meth:`Trainer.draw_critic_batch`).

    Holding it apart from the loss lets a test (or ``ganstab spectrum``) evaluate
    the trainer's own loss on a batch it chose.
    """

    x_data: torch.Tensor  # (B, ...) data batch
    z: torch.Tensor  # (B, latent_dim) latent codes; x_gen = generator(z), no graph to G
    alpha: torch.Tensor | None  # (B,) the measure's interpolation weights when it draws α, else None


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

    Use :meth:`create` for a new run and :meth:`resume` to continue one.
    """

    def __init__(self, config: TrainConfig, run_dir: str | Path):
        self.config = config.validate()
        self.run_dir = Path(run_dir)
        self.world = world_from_environment()  # rank 0 of 1, or this process's place under torchrun
        self.device = _device(config.device, self.world)
        dist.check_config(self.world, self.config)
        capture = config.cuda_graph and capture_available(self.device)  # cuda_graph without CUDA: eager, a note
        dist.join(self.world, self.device, capture=capture)
        if config.threads > 0:
            torch.set_num_threads(config.threads)  # small 2-D nets often run fastest on one thread
        self.dataset = get_dataset(config.dataset) if not config.image_data else None  # 2-D plots and W1
        self.law = data_law(config.dataset) if not config.image_data else None
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
        # cuda_graph: the iteration is captured once and replayed (gan_train/graphed.py); without CUDA, eager.
        self._graphed: GraphedIteration | None = None
        if capture:
            self._graphed = GraphedIteration(self)
        elif config.cuda_graph and self.world.is_main:
            print(
                f"ganstab train: note: cuda_graph=true needs a CUDA device; running eagerly on {self.device}",
                file=sys.stderr,
            )
        self.opt_g = self._optimizer(self.generator, config.lr_g)
        self.opt_d = self._optimizer(self.critic, config.lr_d)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, self._lr_factor)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, self._lr_factor)
        if self._graphed is not None:
            float_base_rates(self.sched_g)
            float_base_rates(self.sched_d)
        self.penalty = CriticPenalty.from_config(config)
        if self.penalty is not None:
            self.penalty.anchor = anchor_image(config, self.device)  # None: the measure's own anchor (2-D data)
        self.link = get_link(config.loss)
        self.data = training_stream(config, self.device)
        self.noise = torch.Generator().manual_seed(config.seed + 2_000_003)  # z and α
        self.global_rng = torch.get_rng_state()
        fp16 = config.amp == "fp16"
        # Disabled scalers are no-ops (scale returns the loss, step is optimizer.step): one code path for all modes.
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.iteration = 0
        self._evaluator = None  # the Inception network and reference statistics, loaded at the first evaluation
        self._best_fid, self._best_iteration = math.inf, None
        # Running sums of the per-step statistics, on the device (float64): read once per log interval.
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._watched = self._watched_terms()
        self._first_bad = torch.full((), -1, dtype=torch.int64, device=self.device)
        self._step_id = 0
        self._steps_seen: list[tuple[int, str, str]] = []
        self._last_penalty = None
        self.last_checkpoint: Path | None = None

    # ---- construction ----------------------------------------------------------------

    @classmethod
    def create(cls, config: TrainConfig, run_dir: str | Path) -> Trainer:
        """Start a new run; refuses a run directory that already holds files."""
        run_dir = Path(run_dir)
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise UserError(f"run directory {run_dir} already exists; pass --resume to continue it or choose a new one")
        trainer = cls(config, run_dir)  # under torchrun: every rank has checked the directory before this rendezvous
        trainer.run_lock = None
        if trainer.world.is_main:
            from stability.util.atomic import ensure_directory  # (imported here: the rest of the module is not mine)

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
        base = read_run_config(run_dir, "resume")
        config = apply_overrides(base, list(overrides), allowed=RESUMABLE_KEYS)
        if config.lr_decay and config.iterations != base.iterations:
            raise UserError("iterations cannot change on resume when lr_decay is on (the schedule depends on it)")
        found = ckpt.list_checkpoints(run_dir)
        state = ckpt.read_checkpoint(found[-1][1]) if found else None
        if state is not None:  # everything is checked before anything is written
            differing = ckpt.config_disagreements(base.to_dict(), state.get("config") or {}, RESUMABLE_KEYS)
            if differing:
                raise CheckpointError(
                    f"{run_dir}/config.json disagrees with checkpoint {found[-1][1].name} on "
                    f"{'; '.join(differing)}; restore config.json or start a new run"
                )
            done = int(state.get("iteration", 0))
            if config.iterations < done:  # training would not run, and config.json would claim a shorter run
                raise UserError(
                    f"{run_dir} is already at iteration {done}; iterations={config.iterations} would not train "
                    f"(set iterations >= {done}, or sample from an earlier checkpoint with --checkpoint)"
                )
        lock = ckpt.RunLock.acquire(run_dir) if world_from_environment().is_main else None
        try:
            trainer = cls(config, run_dir)
            if state is not None:
                trainer.load_state(state, found[-1][1])
                trainer.last_checkpoint = found[-1][1]
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        trainer.run_lock = lock
        if trainer.world.is_main:
            if config != base:
                write_run_config(run_dir, config)
            ckpt.remove_stale_temporaries(run_dir)
        trainer.world.barrier()
        return trainer

    def _optimizer(self, module: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        """Adam (fused kernel where torch has one: same update, ~6x cheaper step on CPU), RMSprop or plain SGD.

        A fixed generator has no parameters. It gets an SGD over one empty placeholder tensor, whose steps change
        nothing, so the scheduler and the checkpoints look the same for every run.
        """
        params = list(module.parameters())
        if not params:
            return torch.optim.SGD([torch.zeros(0, requires_grad=True)], lr=lr)
        if self._graphed is not None:  # capturable, with a device-tensor learning rate
            return graph_optimizer(self.config.optimizer, params, lr, (self.config.beta1, self.config.beta2))
        if self.config.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr, foreach=True)
        if self.config.optimizer == "sgd":  # 000_… App. Fig. 10–11 (line 390): "SGD optimizer with lr=…"
            return torch.optim.SGD(params, lr=lr, foreach=True)
        betas = (self.config.beta1, self.config.beta2)
        try:
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
        except (RuntimeError, ValueError, TypeError):
            return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)

    def _lr_factor(self, step: int) -> float:
        if not self.config.lr_decay:
            return 1.0
        return max(0.0, 1.0 - step / self.config.iterations)

    @property
    def autocast(self):
        if self.config.amp == "off":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    # ---- one step each -----------------------------------------------------------------

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

    def critic_loss(self, batch: CriticBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss the critic minimises on ``batch`` (adversarial + penalty) and its statistics.

        One forward of the critic takes the real and generated samples together
        (``003_…`` Definition 4: ψ̇ = −∇_ψ of this loss); when the measure's x̂ *is*
        one of them (p_d, p_g) the penalty's input gradient is taken from that
        same forward, otherwise x̂ gets its own forward. Returns the scalar loss
        and a detached float64 vector of :data:`CRITIC_STATS` (no host sync).
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
        self._last_penalty = penalty
        return loss, stats

    def generator_loss(self, z: torch.Tensor) -> torch.Tensor:
        """The loss the generator minimises at latent codes ``z`` (critic parameters get no gradient)."""
        self.critic.requires_grad_(False)  # no parameter gradients for D in the G step
        try:
            with self.autocast:
                d_fake = widened(self.critic(self._generator_fwd(z)))  # (B,)
        finally:
            self.critic.requires_grad_(True)
        return generator_loss(self.config.gen_loss, self.link, d_fake)

    def generator_latent(self) -> torch.Tensor:
        """The generator step's latent codes (this process's shard), drawn after its iteration's critic batches."""
        return self.world.shard(self._latent(self.config.generator_batch))

    def critic_step(self, batch: CriticBatch) -> torch.Tensor:
        """One critic update on ``batch``; returns its statistics (:data:`CRITIC_STATS`) as a device tensor.

        No host synchronisation and no Python state that changes from step to step (MaxAL's multiplier aside),
        so that :mod:`gan_train.graphed` can capture it; the caller folds the statistics in.
        """
        cfg = self.config
        loss, stats = self.critic_loss(batch)
        penalty = self._last_penalty
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()
        self.scaler_d.unscale_(self.opt_d)
        stats = torch.cat([stats, _grad_norm(self.critic).double().reshape(1)])
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        if cfg.clip > 0:
            clip_weights_(self.critic, cfg.clip)
        if penalty is not None:
            self.penalty.after_step(penalty)
        return stats

    def generator_step(self, z: torch.Tensor) -> torch.Tensor:
        """One generator update at latent codes ``z``; returns :data:`GENERATOR_STATS` as a device tensor."""
        loss = self.generator_loss(z)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss).backward()
        self.scaler_g.unscale_(self.opt_g)
        stats = torch.stack([loss.detach().double(), _grad_norm(self.generator).double()])
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        return stats

    def fold_critic_stats(self, index: int, stats: torch.Tensor) -> None:
        """Add critic step ``index``'s statistics to the running sums and the divergence watch."""
        self._watch(stats, "critic", f"critic step {index + 1}/{self._critic_steps()}")
        self._accumulate("critic", stats)

    def fold_generator_stats(self, stats: torch.Tensor) -> None:
        self._watch(stats, "generator", "generator step")
        self._accumulate("generator", stats)

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
        if not cfg.train_generator:  # critic-only mode: no generator step, so its statistics are logged as NaN
            self.opt_g.step()  # G has no gradients, so this changes nothing; the LR scheduler expects it
            nan = torch.full((len(GENERATOR_STATS),), math.nan, dtype=torch.float64, device=self.device)
            self._accumulate("generator", nan)
        self.sched_d.step()
        self.sched_g.step()

    def _critic_steps(self) -> int:
        return self.config.critic_steps(self.iteration)  # n_critic, or the warm-up's count (004 §6)

    # ---- divergence, detected on the device and read once per log interval ------------------

    def _watch(self, stats: torch.Tensor, kind: str, where: str) -> None:
        """Remember (on the device, without a host sync) the first step whose watched statistics are not finite."""
        bad = ~torch.isfinite(stats) & self._watched[kind]
        code = self._step_id * _MAX_TERMS + torch.argmax(bad.to(torch.int64))
        self._first_bad = torch.where((self._first_bad < 0) & bad.any(), code, self._first_bad)
        self._steps_seen.append((self.iteration + 1, kind, where))
        self._step_id += 1

    def _raise_if_diverged(self) -> None:
        """One host sync: raise :class:`DivergenceError` naming the first non-finite step since the last check."""
        none = torch.iinfo(torch.int64).max  # "no bad step" for the minimum over ranks
        first = int(self.world.min_(torch.where(self._first_bad < 0, none, self._first_bad)))
        first = -1 if first == none else first
        self._first_bad.fill_(-1)
        steps, self._steps_seen, start = self._steps_seen, [], self._step_id - len(self._steps_seen)
        if first < 0:
            return
        iteration, kind, where = steps[first // _MAX_TERMS - start]
        term = (CRITIC_STATS if kind == "critic" else GENERATOR_STATS)[first % _MAX_TERMS]
        value = self._bad_value(kind, term)
        last = str(self.last_checkpoint) if self.last_checkpoint else "none written yet"
        message = (
            f"diverged at iteration {iteration} ({where}): {_TERM_NAMES.get(term, term)} is {value}; "
            f"the last good checkpoint is kept ({last})"
        )
        self._log_event({"iteration": iteration, "event": "diverged", "term": term, "where": where})
        raise DivergenceError(message, iteration, term)

    def _bad_value(self, kind: str, term: str) -> str:
        # The value itself is not kept per step (that would be a sync); nan, or inf when the running sum says so.
        total = float(self._sums[kind][(CRITIC_STATS if kind == "critic" else GENERATOR_STATS).index(term)])
        return "inf" if math.isinf(total) else "nan"

    def _watched_terms(self) -> dict[str, torch.Tensor]:
        """Which statistics a step is checked on: no input-gradient norms without a penalty; under fp16 not
        the terms computed from scaled gradients (the GradScaler skips overflowing steps by design)."""
        masks = {}
        for kind, names in (("critic", CRITIC_STATS), ("generator", GENERATOR_STATS)):
            keep = [
                not (name in ("grad_norm", "max_grad_norm") and self.penalty is None)
                and not (self.config.amp == "fp16" and name in _SCALED_TERMS)
                for name in names
            ]
            masks[kind] = torch.tensor(keep, device=self.device)
        return masks

    # ---- the loop --------------------------------------------------------------------------

    def run(self, stop_at: int | None = None) -> TrainResult:
        """Train up to ``config.iterations`` generator iterations (or stop early at ``stop_at``).

        Raises:
            DivergenceError: a loss or gradient became NaN/Inf (the last good checkpoint is kept).
            CheckpointWriteError: a checkpoint could not be written (the previous one is intact).
        """
        cfg = self.config
        end = cfg.iterations if stop_at is None else min(stop_at, cfg.iterations)
        main = self.world.is_main
        self._metrics = MetricsLog(self.run_dir, start=self.iteration, tensorboard=cfg.tensorboard, active=main)
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
        preemption = _PreemptionSignals()  # SIGTERM/SIGINT: finish the iteration, checkpoint, stop
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
                    elapsed = time.perf_counter() - started
                    record = self._record(it, (it - first) / max(elapsed, 1e-9))
                    self._metrics.write(record)
                    bar.set_postfix(
                        loss_d=f"{record['loss_d']:.3g}",
                        loss_g=f"{record['loss_g']:.3g}",
                        gap=f"{record['gap']:.3g}",
                        **({"w1": f"{record['w1']:.3g}"} if "w1" in record else {}),
                        refresh=False,
                    )
                if plotted and main:
                    self.plot(Path(self.run_dir) / "plots" / f"iter_{it:08d}.png")
                if evaluated:  # every rank: the evaluation is sharded over them (rank 0 logs it)
                    self._evaluate(it)
                if checkpointed:
                    self.save_checkpoint()
                    if evaluated and main and self._best_iteration == it:
                        atomic_save(self.run_dir / "best.pt", lambda h: h.write(self.last_checkpoint.read_bytes()))
                bar.update(1)
                if self.world.any(preemption.signal is not None, self.device):  # all ranks stop together
                    self._raise_if_diverged()
                    self.save_checkpoint()
                    raise Preempted(preemption.signal or signal.SIGTERM, self.iteration, self.last_checkpoint)
        finally:
            preemption.restore()
            bar.close()
            self._metrics.close()
        return TrainResult(
            str(self.run_dir),
            self.iteration,
            str(self.last_checkpoint) if self.last_checkpoint else None,
            record,
            time.perf_counter() - started,
        )

    # ---- metrics ------------------------------------------------------------------------------

    def _accumulate(self, kind: str, stats: torch.Tensor) -> None:
        self._sums[kind] = self._sums[kind] + stats if kind in self._sums else stats
        self._counts[kind] = self._counts.get(kind, 0) + 1

    def _mean_stats(self) -> dict[str, float]:
        """The mean of every statistic since the last record (one host sync), by name."""
        means = {}
        for kind, total in self._sums.items():
            for name, value in zip(_STATS[kind], self.world.mean_(total.clone()).tolist()):
                means[name] = value / self._counts[kind]
        return means

    def _record(self, iteration: int, rate: float) -> dict[str, Any]:
        record: dict[str, Any] = {"iteration": iteration, **self._mean_stats()}
        self._sums, self._counts = {}, {}
        record["lr_d"] = float(self.opt_d.param_groups[0]["lr"])  # a device tensor under cuda_graph
        record["lr_g"] = float(self.opt_g.param_groups[0]["lr"])
        if self.penalty is not None and self.penalty.form.multiplier:
            record["maxal_lambda"] = self.penalty.multiplier
        if self.config.w1_every and iteration % self.config.w1_every == 0:
            record["w1"] = self.w1() if self.world.is_main else math.nan
        record["it_per_s"] = rate
        return record

    def _evaluate(self, iteration: int) -> dict[str, Any]:
        """IS/FID of the current generator (``eval_samples`` images, seeded), appended to ``metrics.jsonl``.

        The best checkpoint by FID is copied to ``RUN_DIR/best.pt`` (the newest are kept as usual).
        """
        from gan_train.evaluate import ImageEvaluator

        if self._evaluator is None:
            self._evaluator = ImageEvaluator(
                self.config,
                self.config.inception_weights,
                device=self.device,
                progress=self.config.progress,
                world=self.world,
            )
        scores = self._evaluator(self.generator, self.config.eval_samples, seed=self.config.seed + 4_000_037)
        record = {"iteration": iteration, "event": "eval", **scores}
        fid = scores.get("fid")
        if fid is not None and fid < self._best_fid:
            self._best_fid, self._best_iteration = fid, iteration
            record["best"] = True
        self._log_event(record)
        return record

    def _log_event(self, record: dict[str, Any]) -> None:
        metrics = getattr(self, "_metrics", None)
        if metrics is not None:
            metrics.write(record)

    def _metric_generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.config.seed * 1_000_000_007 + self.iteration + 17)

    @torch.no_grad()
    def samples(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` generated points ``(n, 2)`` on the CPU, from a metrics RNG by default."""
        generator = generator or self._metric_generator()
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(self.device)
        return self.generator(z).float().cpu()

    def w1(self, n: int | None = None) -> float:
        """W1 between fresh data and generated samples by exact assignment (``004_…``)."""
        n = n or self.config.w1_samples
        generator = self._metric_generator()
        data = self.law.sample(n, generator=generator, dtype=torch.float32)
        return w1_assignment(data.numpy(), self.samples(n, generator).numpy())

    def plot(self, path: str | Path, n: int = 1000) -> Path:
        """Level sets of D, data, samples and ∇ₓD arrows at generated points (Figure 3 of ``004_…``)."""
        from gan_train.plots import plot_snapshot

        generator = self._metric_generator()
        data = self.law.sample(n, generator=generator, dtype=torch.float32).numpy()
        fake = self.samples(n, generator).numpy()
        self.critic.eval()  # no spectral-norm power iteration: plotting must not change the state
        try:
            title = f"{self.config.dataset}, {self.config.describe_regulariser()}, iteration {self.iteration}"
            return plot_snapshot(path, self.critic, data, fake, self.dataset.extent, title)
        finally:
            self.critic.train()

    # ---- checkpoints -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly (see :mod:`gan_train.checkpoint`)."""
        return {
            "iteration": self.iteration,
            "config": self.config.to_dict(),
            "architecture": architecture(self.config),
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "opt_g": portable_state(self.opt_g),  # learning rates as floats: resumable eagerly or graphed
            "opt_d": portable_state(self.opt_d),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "penalty": self.penalty.state_dict() if self.penalty is not None else None,
            "rng": {"data": self.data.state_dict(), "noise": self.noise.get_state(), "torch": torch.get_rng_state()},
            "metric_sums": {
                "sums": {kind: total.tolist() for kind, total in self._sums.items()},
                "counts": dict(self._counts),
            },
            "best_fid": {"fid": self._best_fid, "iteration": self._best_iteration},
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
            self.global_rng = state["rng"]["torch"]
            torch.set_rng_state(self.global_rng)
            sums = state["metric_sums"]["sums"]
            self._sums = {kind: torch.tensor(sums[kind], dtype=torch.float64, device=self.device) for kind in sums}
            self._counts = {kind: int(count) for kind, count in state["metric_sums"]["counts"].items()}
            if set(self._sums) - set(_STATS) or any(len(v) != len(_STATS[k]) for k, v in self._sums.items()):
                raise ValueError("its running metric sums are from another version of the trainer")
            self.iteration = int(state["iteration"])
            best = state.get("best_fid") or {}  # older checkpoints have none
            self._best_fid = float(best.get("fid", math.inf))
            self._best_iteration = best.get("iteration")
            was = int(state.get("world_size", 1))
            if was != self.world.world_size and self.world.is_main:  # the global batch is unchanged: recut, say so
                print(
                    f"ganstab train: note: resuming on {self.world.world_size} process(es), the run was on {was}; "
                    "the global batch and its random streams are unchanged, each process takes its new shard",
                    file=sys.stderr,
                )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint {path} does not match this run: {exc}") from None

    def close(self) -> None:
        """Leave the process group under torchrun, once this process is done with training (a no-op otherwise).

        Why more than :func:`gan_train.distributed.leave`: a 2-process gloo run that only destroyed the group aborted
        now and then at interpreter exit (SIGABRT, "terminate called without an active exception": 4 of 30, 1 of
        20 and 4 of 44 runs). gdb shows gloo's worker thread (``pt_gloo_runloop``) freeing a finished all-reduce's
        tensors, whose Python objects need the GIL, while the interpreter shuts down. Once a DDP has been built
        (even if it is deleted), gloo's threads outlive ``destroy_process_group`` (and the backend's ``shutdown``);
        without DDP they end (a short script shows both). Dropping the DDP wrappers and collecting garbage before
        destroying the group gave 0 of 60 (without the collection: 1 of 30). A measured mitigation of a race inside
        torch, not a proof. The networks stay usable for sampling and plots in this process.
        """
        if not self.world.distributed:
            return
        self._critic_fwd, self._generator_fwd = self.critic, self.generator
        gc.collect()
        dist.leave()

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


#: Terms that pass through GradScaler-scaled gradients under fp16 (checked by the scaler, not by us).
_SCALED_TERMS = ("loss_d", "penalty", "grad_norm", "max_grad_norm", "param_grad_norm_d", "param_grad_norm_g")

_TERM_NAMES = {
    "loss_d": "the critic loss",
    "loss_adv": "the critic's adversarial loss",
    "penalty": "the gradient penalty",
    "gap": "the critic gap E[D(x_d)] − E[D(x_g)]",
    "grad_norm": "the input-gradient norm ‖∇ₓD‖ at the penalty points",
    "max_grad_norm": "the largest input-gradient norm ‖∇ₓD‖",
    "param_grad_norm_d": "the critic's parameter gradient",
    "loss_g": "the generator loss",
    "param_grad_norm_g": "the generator's parameter gradient",
}


def _device(name: str, world: World | None = None) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; e.g. cpu, cuda, cuda:1") from None
    if world is not None and world.distributed and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", world.local_rank)  # one GPU per process under torchrun
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} is not available here (torch.cuda.is_available() is False)")
    return device


class _PreemptionSignals:
    """Remembers the first SIGTERM/SIGINT during :meth:`Trainer.run` instead of dying mid-iteration.

    The loop then finishes its iteration, writes a checkpoint and raises
    :class:`~gan_train.errors.Preempted` (a cluster's preemption notice or a
    Ctrl-C both lose nothing). A second signal gets the previous handler, so a
    second Ctrl-C still stops at once. Only the main thread can install handlers;
    elsewhere (a notebook's worker thread) signals keep their usual meaning.
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
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


def _grad_norm(module: torch.nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    device = next(module.parameters()).device
    if not grads:
        return torch.zeros((), device=device)
    return torch.nn.utils.get_total_norm(grads).float().to(device)


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False) -> TrainResult:
    """Create (or resume) a run in ``run_dir`` and train it to the end."""
    trainer = Trainer.resume(run_dir) if resume else Trainer.create(config, run_dir)
    return trainer.run()
