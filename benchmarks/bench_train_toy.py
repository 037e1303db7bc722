"""Critic steps per second of the 2-D trainer against a plain reference loop.

The reference is the loop one would write by hand (Gulrajani et al.'s toy
WGAN-GP in PyTorch): the same :class:`models.mlp.MLP` nets, the same Adam, the
same penalty λ·E[(‖∇ₓD‖−1)²] on x̂ = αx_d + (1−α)x_g, data drawn from a
pre-sampled pool of the same law, and nothing else (no NaN checks, no metrics,
no checkpoints). The trainer runs the ``toy-8gaussians-wgan-gp`` preset with
W1, plots, TensorBoard, progress bar and checkpoints off (metrics.jsonl
records every 100 iterations and the NaN/Inf checks stay on).

Rounds alternate between the two loops (A B B A …) so that both see the same
machine load. Both wall-clock and process CPU time are reported; on a shared
machine the CPU time (one thread by default) is the fairer measure, since it
does not count time the process spent descheduled. Rates use the best round.

Usage:
    PYTHONPATH=. python benchmarks/bench_train_toy.py [--iterations 10] [--rounds 8] [--width 512] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from gan_train.config import apply_overrides
from gan_train.data.toy import data_law
from gan_train.presets import get_preset
from gan_train.trainer import Trainer
from models.mlp import MLP


class ReferenceLoop:
    """A plain WGAN-GP toy loop, written without the framework."""

    def __init__(self, width: int, depth: int, batch: int, n_critic: int, lam: float, seed: int = 0):
        torch.manual_seed(seed)
        self.G = MLP(2, 2, width, depth)
        self.D = MLP(2, 1, width, depth)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=1e-4, betas=(0.5, 0.9))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=1e-4, betas=(0.5, 0.9))
        self.batch, self.n_critic, self.lam = batch, n_critic, lam
        self.pool = data_law("8gaussians").sample(65536, generator=torch.Generator().manual_seed(seed))
        self.position = 0

    def data(self) -> torch.Tensor:
        if self.position + self.batch > len(self.pool):
            self.position = 0
        out = self.pool[self.position : self.position + self.batch]
        self.position += self.batch
        return out

    def iteration(self) -> None:
        for _ in range(self.n_critic):
            real = self.data()
            fake = self.G(torch.randn(self.batch, 2)).detach()
            alpha = torch.rand(self.batch, 1)
            x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.D(x_hat).sum(), x_hat, create_graph=True)
            penalty = self.lam * ((grad.norm(dim=1) - 1) ** 2).mean()
            loss = self.D(fake).mean() - self.D(real).mean() + penalty
            self.opt_d.zero_grad()
            loss.backward()
            self.opt_d.step()
        loss_g = -self.D(self.G(torch.randn(self.batch, 2))).mean()
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=10, help="generator iterations per round (default 10)")
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds per loop (default 8)")
    parser.add_argument("--width", type=int, default=512, help="hidden units (default 512, the preset's)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for both loops (default 1)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    preset = get_preset("toy-8gaussians-wgan-gp")
    config = apply_overrides(
        preset.config(),
        [
            f"width={args.width}",
            "iterations=1000000",
            "checkpoint_every=1000000",
            "w1_every=0",
            "plot_every=0",
            "tensorboard=false",
            "progress=false",
            f"threads={args.threads}",
        ],
    )
    n_critic = config.n_critic
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer.create(config, f"{folder}/run")
        reference = ReferenceLoop(config.width, config.depth, config.batch_size, n_critic, config.gp_lambda)
        trainer.run(stop_at=3)  # warm up both
        for _ in range(3):
            reference.iteration()

        def run_trainer() -> None:
            trainer.run(stop_at=trainer.iteration + args.iterations)

        def run_reference() -> None:
            for _ in range(args.iterations):
                reference.iteration()

        loops = {"trainer": run_trainer, "reference": run_reference}
        wall: dict[str, list[float]] = {name: [] for name in loops}
        cpu: dict[str, list[float]] = {name: [] for name in loops}
        for index in range(args.rounds):
            order = ("trainer", "reference") if index % 2 == 0 else ("reference", "trainer")
            for name in order:
                w0, c0 = time.perf_counter(), time.process_time()
                loops[name]()
                wall[name].append(time.perf_counter() - w0)
                cpu[name].append(time.process_time() - c0)

    steps = args.iterations * n_critic
    print(
        f"bench_train_toy: {preset.name}, width {config.width}, depth {config.depth}, batch {config.batch_size}, "
        f"n_critic {n_critic}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"{args.rounds} rounds x {args.iterations} iterations each, best round"
    )
    print(f"{'loop':<10} {'critic steps/s (wall)':>22} {'critic steps/s (CPU)':>21}")
    for name in loops:
        print(f"{name:<10} {steps / min(wall[name]):>22.1f} {steps / min(cpu[name]):>21.1f}")
    ratio_wall = min(wall["reference"]) / min(wall["trainer"])
    ratio_cpu = min(cpu["reference"]) / min(cpu["trainer"])
    print(f"trainer / reference = {ratio_wall:.3f}x wall, {ratio_cpu:.3f}x CPU (goal >= 1.0x)")


if __name__ == "__main__":
    main()
