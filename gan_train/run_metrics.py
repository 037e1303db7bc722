"""What a run reports while it trains: running means of the step statistics, W1, 2-D plots and IS/FID.

Every number goes to ``RUN_DIR/metrics.jsonl`` (and TensorBoard) through :class:`~gan_train.metrics.log.MetricsLog`.
The step statistics (:mod:`gan_train.step_io`) are summed on the device in float64 and read once per log interval.
W1 and the plots draw from a generator seeded by (seed, iteration) (:func:`metric_rng`) and the plots evaluate the
critic in eval mode, so reporting never perturbs training: a resumed run logs what the uninterrupted one logged.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from gan_train.distributed import World
from gan_train.metrics.log import MetricsLog, w1_assignment
from gan_train.step_io import STATS


def metric_rng(seed: int, iteration: int) -> torch.Generator:
    """The seeded CPU generator of the metrics at ``iteration`` (W1 and plot samples), apart from training's."""
    return torch.Generator().manual_seed(seed * 1_000_000_007 + iteration + 17)


@torch.no_grad()
def draw_samples(
    generator: torch.nn.Module, n: int, latent_dim: int, device: torch.device, rng: torch.Generator
) -> torch.Tensor:
    """``n`` generated points on the CPU, from latent codes drawn with ``rng``."""
    z = torch.randn(n, latent_dim, generator=rng).to(device)
    return generator(z).float().cpu()


class RunMetrics:
    """The running sums, the evaluator and the log of one run (the part of its state a checkpoint keeps).

    Args:
        config: the run's :class:`~gan_train.config.TrainConfig`.
        world: this process's place under torchrun (rank 0 writes; every rank shares an IS/FID evaluation).
        device: where the step statistics live.
        run_dir: the run directory (``metrics.jsonl``, ``tensorboard/``).
    """

    def __init__(self, config: Any, world: World, device: torch.device, run_dir: Path):
        self.config, self.world, self.device, self.run_dir = config, world, device, Path(run_dir)
        self.sums: dict[str, torch.Tensor] = {}  # by kind of step: the float64 sum of its statistics vectors
        self.counts: dict[str, int] = {}
        self.best_fid, self.best_iteration = math.inf, None
        self._evaluator = None  # the Inception network and reference statistics, loaded at the first evaluation
        self._log: MetricsLog | None = None

    # ---- the log -------------------------------------------------------------------------

    def open_log(self, start: int) -> None:
        """Open ``metrics.jsonl`` for a stretch of training from iteration ``start`` (later records are dropped)."""
        cfg = self.config
        self._log = MetricsLog(self.run_dir, start=start, tensorboard=cfg.tensorboard, active=self.world.is_main)

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` to the log (nothing before :meth:`open_log`: a trainer used outside :meth:`run`)."""
        if self._log is not None:
            self._log.write(record)

    # ---- the step statistics ----------------------------------------------------------------

    def accumulate(self, kind: str, stats: torch.Tensor) -> None:
        """Add one step's statistics (a device vector of ``STATS[kind]``) to the running sums, without a sync."""
        self.sums[kind] = self.sums[kind] + stats if kind in self.sums else stats
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def take_means(self) -> dict[str, float]:
        """The mean of every statistic since the last call (one host sync, averaged over ranks), by name; resets."""
        means = {}
        for kind, total in self.sums.items():
            for name, value in zip(STATS[kind], self.world.mean_(total.clone()).tolist()):
                means[name] = value / self.counts[kind]
        self.sums, self.counts = {}, {}
        return means

    # ---- W1, samples and plots of 2-D runs ----------------------------------------------------

    def w1(self, law: Any, generator: torch.nn.Module, iteration: int, n: int | None = None) -> float:
        """W1 between fresh data and generated samples by exact assignment (``004_…`` §6), seeded by iteration."""
        n = n or self.config.w1_samples
        rng = metric_rng(self.config.seed, iteration)
        data = law.sample(n, generator=rng, dtype=torch.float32)
        fake = draw_samples(generator, n, self.config.latent_dim, self.device, rng)
        return w1_assignment(data.numpy(), fake.numpy())

    def plot(self, path: str | Path, law: Any, extent: float, critic: torch.nn.Module, generator: torch.nn.Module,
             iteration: int, n: int = 1000) -> Path:  # fmt: skip
        """Level sets of D, data, samples and ∇ₓD arrows at generated points (Figure 3 of ``004_…``)."""
        from gan_train.plots import plot_snapshot

        rng = metric_rng(self.config.seed, iteration)
        data = law.sample(n, generator=rng, dtype=torch.float32).numpy()
        fake = draw_samples(generator, n, self.config.latent_dim, self.device, rng).numpy()
        critic.eval()  # no spectral-norm power iteration: plotting must not change the state
        try:
            title = f"{self.config.dataset}, {self.config.describe_regulariser()}, iteration {iteration}"
            return plot_snapshot(path, critic, data, fake, extent, title)
        finally:
            critic.train()

    # ---- IS/FID of image runs -------------------------------------------------------------------

    def evaluate(
        self, generator: torch.nn.Module, iteration: int, ema: torch.nn.Module | None = None
    ) -> dict[str, Any]:
        """IS/FID of ``generator`` (``eval_samples`` images, seeded), appended to ``metrics.jsonl``.

        ``ema``: the moving average of the generator (:mod:`gan_train.ema`), scored from the same latent codes; its
        numbers join the record under the same names with the suffix ``_ema`` (``fid_ema``, ``is_mean_ema``, …).
        Every rank calls it under torchrun (the evaluation is sharded over them). A new best FID (of the raw
        generator, Table 2's protocol) is marked ``"best": true``; :attr:`best_iteration` then names this iteration
        (the trainer copies its checkpoint).
        """
        from gan_train.evaluate import ImageEvaluator

        cfg = self.config
        if self._evaluator is None:
            self._evaluator = ImageEvaluator(
                cfg, cfg.inception_weights, device=self.device, progress=cfg.progress, world=self.world
            )
        scores = self._evaluator(generator, cfg.eval_samples, seed=cfg.seed + 4_000_037)
        record = {"iteration": iteration, "event": "eval", **scores}
        if ema is not None:
            averaged = self._evaluator(ema, cfg.eval_samples, seed=cfg.seed + 4_000_037)
            record.update({f"{key}_ema": value for key, value in averaged.items()})
        fid = scores.get("fid")
        if fid is not None and fid < self.best_fid:
            self.best_fid, self.best_iteration = fid, iteration
            record["best"] = True
        self.write(record)
        return record

    # ---- checkpoints ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The running sums since the last record and the best FID so far (checkpoint keys of their own)."""
        return {
            "metric_sums": {
                "sums": {kind: total.tolist() for kind, total in self.sums.items()},
                "counts": dict(self.counts),
            },
            "best_fid": {"fid": self.best_fid, "iteration": self.best_iteration},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; ``ValueError`` for sums of another version of the trainer."""
        sums = state["metric_sums"]["sums"]
        self.sums = {kind: torch.tensor(sums[kind], dtype=torch.float64, device=self.device) for kind in sums}
        self.counts = {kind: int(count) for kind, count in state["metric_sums"]["counts"].items()}
        if set(self.sums) - set(STATS) or any(len(v) != len(STATS[k]) for k, v in self.sums.items()):
            raise ValueError("its running metric sums are from another version of the trainer")
        best = state.get("best_fid") or {}  # older checkpoints have none
        self.best_fid = float(best.get("fid", math.inf))
        self.best_iteration = best.get("iteration")
