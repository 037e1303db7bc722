"""zhou-offset: the free offset of the WGAN critic against a Lipschitz-GAN loss (``000_…`` Fig. 5, ``002_…`` Fig. 5).

What the seed texts fix:

* ``000_eb0b29c1f409eb4a.txt`` line 302: under φ(x) = ϕ(−x) = x "f*(x) ... has a free offset, which means given a
  f*(x), f*(x) + b with any b ∈ R is also an optimal. In practice, this behaves as an oscillatory f(x) during
  training. Any other instance in our new proposed objectives does not have this problem" (Figure 5, line 292);
* ``002_cea8ebeee4e8e97f.txt`` lines 612–624 say the same ("f* under the Wasserstein distance has a free offset
  ... it behaves as oscillations in f(x) during training"), Figure 5 (line 757): "Left: WGAN. Right: LGANs";
* 000 line 317: the generator's objective is fixed to ψ(x) = −x; App. E (line 492) and Eq. 18 (line 507): the
  Lipschitz constant is penalised through max‖∇ₓf‖² (k₀ = 0), the Lipschitz-GAN penalty λ·k(f)² of 002 Eq. 10/12;
* 000 App. I (line 638) and 001 line 186: Adam with β1 = 0, β2 = 0.9;
* 000 line 319: x + √(x²+1) and −log σ(−x) are among the best objectives of the family.

Each run trains a whole GAN (generator and critic) with the same Lipschitz-GAN penalty λ·max_i‖∇ₓD(x̂_i)‖² on
x̂ = αx_d + (1−α)x_g and one loss: WGAN (φ(x) = x), −log σ(−x) or x + √(x²+1). The trainer logs ``d_mean``, the
mean of D over the real and generated samples of each critic step (averaged over the log interval), which is the
quantity of the papers' figure; W1 by exact assignment is logged too. Outputs: ``d_mean`` (one panel per loss, every
seed thin and the median bold) and a table of the offset's drift and spread in the second half of training.

Deviations from the paper
* Neither paper says on which data or networks Figure 5 was made (000's Fig. 6, beside it, is CIFAR-10); this runs
  the 8 Gaussians with Gulrajani's 3×512 ReLU toy MLPs (tflib initialisation), 2-d latent, batch 256, 5 critic
  steps, Adam(1e-4, β = (0, 0.9)), 20,000 generator iterations (--iters).
* The papers give no λ for the toys; λ = 1 is ours (002's search grid is 0.01–10, line 671).
* Medians over seeds (default 5) where the papers show one run; `--quick` uses 16-unit networks, batch 32,
  2 critic steps and 20 iterations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gan_train.config import TrainConfig
from gan_train.experiments.base import (
    Options,
    Outcome,
    Report,
    Table,
    Task,
    Workspace,
    by_cell,
    med_iqr,
    new_figure,
    not_run,
)
from gan_train.experiments.geometry import quartiles

#: Loss name of the trainer → label.
LOSSES = {"identity": "WGAN, φ(x) = x", "logistic": "LGAN, φ(x) = −log σ(−x)", "sqrt": "LGAN, φ(x) = x + √(x²+1)"}
ITERATIONS, QUICK_ITERATIONS, LAMBDA = 20_000, 20, 1.0
W1_SAMPLES, QUICK_W1_SAMPLES = 500, 64


def tasks(options: Options) -> list[Task]:
    iterations = options.iters or (QUICK_ITERATIONS if options.quick else ITERATIONS)
    size = {"width": 16, "batch_size": 32, "n_critic": 2} if options.quick else {"width": 512, "batch_size": 256}
    out = []
    for loss in LOSSES:
        for seed in options.seed_list(5):
            config = TrainConfig(
                dataset="8gaussians", loss=loss, measure="mu_gp", form="lgan", gp_lambda=LAMBDA, depth=3,
                latent_dim=2, init="tflib", optimizer="adam", lr_d=1e-4, lr_g=1e-4, beta1=0.0, beta2=0.9,
                iterations=iterations, seed=seed, device=options.device, progress=options.progress,
                tensorboard=False, plot_every=0, log_every=max(1, iterations // 200),
                w1_every=max(1, iterations // 10), w1_samples=QUICK_W1_SAMPLES if options.quick else W1_SAMPLES,
                checkpoint_every=iterations if options.quick else max(1, iterations // 20), keep_checkpoints=1,
                **size,
            ).validate()  # fmt: skip
            out.append(Task(loss, seed, config, quick=options.quick))
    return out


def measure(trainer: Any, task: Task, iteration: int) -> dict[str, Any]:
    from gan_train.metrics.log import read_metrics

    records = [r for r in read_metrics(trainer.run_dir) if "d_mean" in r and "event" not in r]
    w1 = [(r["iteration"], r["w1"]) for r in records if "w1" in r]
    return {
        "iterations": [r["iteration"] for r in records],
        "d_mean": [r["d_mean"] for r in records],
        "gap": [r["gap"] for r in records],
        "w1_iterations": [i for i, _ in w1],
        "w1": [v for _, v in w1],
        "w1_final": w1[-1][1] if w1 else None,
    }


def report(workspace: Workspace, outcomes: list[Outcome]) -> Report:
    cells = by_cell(outcomes)
    rows, summary, curves = [], {}, {}
    for loss, label in LOSSES.items():
        group = cells[loss]
        if not_run(group):
            continue
        done = [o.final for o in group if o.final is not None]
        steps = done[0]["iterations"] if done else []
        series = np.array([_aligned(f["d_mean"], len(steps)) for f in done]) if done else np.zeros((0, 0))
        half = series[:, len(steps) // 2 :] if series.size else series
        drift = np.abs(np.nanmean(half, axis=1)) if half.size else np.array([np.nan])
        spread = np.nanstd(half, axis=1) if half.size else np.array([np.nan])
        spans = (np.nanmax(half, axis=1) - np.nanmin(half, axis=1)) if half.size else np.array([np.nan])
        w1 = [np.nan if f.get("w1_final") is None else f["w1_final"] for f in done] or [np.nan]
        band = quartiles(series) if series.size else {"q25": [], "median": [], "q75": []}
        curves[loss] = {"iterations": steps, "seeds": series.tolist(), **{k: np.asarray(v).tolist() for k, v in
                                                                         band.items()}}  # fmt: skip
        summary[loss] = {
            "label": label,
            "abs_mean_second_half": drift.tolist(),
            "std_second_half": spread.tolist(),
            "range_second_half": spans.tolist(),
            "w1_final": list(w1),
            "diverged": sum(o.diverged is not None for o in group),
        }
        rows.append([label, med_iqr(drift), med_iqr(spread), med_iqr(spans), med_iqr(w1),
                     summary[loss]["diverged"]])  # fmt: skip
    table = Table(
        "Mean critic value d_mean = mean of D over the real and generated samples, second half of training: "
        "median [25%, 75%] over seeds",
        ["loss", "abs(mean of d_mean)", "std of d_mean", "max − min of d_mean", "final W1", "diverged"],
        rows,
    )
    _figure(workspace, curves)
    notes = [
        "A loss whose optimal critic has a free offset (WGAN) leaves d_mean to wander; the Lipschitz-GAN losses pin "
        "it (000 line 302). Compare the columns across rows: larger |mean| and spread mean a drifting offset."
    ]
    return Report([table], summary, {"d_mean": curves}, notes)


def _aligned(values: list[Any], length: int) -> list[float]:
    v = [np.nan if x is None else float(x) for x in values[:length]]
    return v + [np.nan] * (length - len(v))


def _figure(workspace: Workspace, curves: dict[str, dict[str, Any]]) -> None:
    fig = new_figure(3.6 * len(LOSSES), 3.4)
    axes = fig.subplots(1, len(LOSSES), sharey=True, squeeze=False)[0]
    for ax, (loss, label) in zip(axes, LOSSES.items()):
        c = curves.get(loss)
        if c is None:  # outside --cells
            ax.set_title(f"{label} (not run)", fontsize=9)
            continue
        for row in c["seeds"]:
            ax.plot(c["iterations"], row, lw=0.6, alpha=0.5)
        if c["iterations"]:
            ax.plot(c["iterations"], c["median"], color="black", lw=1.6, label="median")
            ax.fill_between(c["iterations"], c["q25"], c["q75"], color="0.5", alpha=0.2)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("generator iteration")
    axes[0].set_ylabel("mean of D(x) over real and generated samples")
    fig.suptitle("000 Fig. 5 / 002 Fig. 5: the critic's offset during training (8 Gaussians)", fontsize=10)
    workspace.figure(fig, "d_mean", "Mean critic value against generator iteration, each seed and the median")
