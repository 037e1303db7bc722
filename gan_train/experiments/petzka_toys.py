"""petzka-toys: WGAN-GP against WGAN-LP on the 2-D toy data (``004_…`` §6, Figures 3–5 and 10–11).

What the seed text (``004_e81d41fd8d471d47.txt``) fixes:

* line 162 (Eq. 8): WGAN-LP minimises E_ν[f] − E_μ[f] + λ·E_τ[(max{0, ‖∇f(x̂)‖ − 1})²]; WGAN-GP (Eq. 6) penalises
  (‖∇f(x̂)‖ − 1)²; line 188: x̂ "randomly sampled on the line between the training sample x and the generated
  sample y";
* line 190: generator and critic "three hidden Leaky ReLU layers, each containing 512 neurons, and one linear
  output layer", latent dimension two, "10 critic updates ... for every generator update, except for the first 25
  generator updates, where the critic is updated 100 times", RMSprop with learning rate 5·10⁻⁵, batch size 256;
* lines 194–209 (Figure 3): level sets of the critic on the Swiss roll after 10, 50, 100, 500 and 1000 iterations,
  GP with λ = 10, GP with λ = 1, LP with λ = 10;
* lines 198–216 (Figure 4): "the negative of the critic's loss (without the regularization term)" for λ = 5,
  "Median results over the 20 runs (blue area indicates quantiles...)";
* line 218 and Figure 5 (line 236): W1 as "the cost of minimum assignment based on Euclidean distance between sets
  of samples" (Kuhn–Munkres), "a sample set size of 500 ... every 10th iteration over the course of 500
  iterations", "repeated 10 times for different random seeds", λ = 5, medians over the 10 runs;
* lines 574 and 581 (Figures 10–11): the same two curves for WGAN-GP with λ = 1.

Runs: data ``swissroll``; for the curves GP (λ = 5), LP (λ = 5) and GP (λ = 1), 500 generator iterations each over
20 seeds, a record every iteration (the critic's loss without the penalty is ``loss_adv`` of ``metrics.jsonl``, its
negative plotted, averaged over that iteration's critic steps) and W1 every 10 iterations from 500 fresh samples a
side (the trainer's ``w1_every`` / ``w1_samples``); W1 bands over the first 10 seeds, as the paper; for the level
sets GP (λ = 10), GP (λ = 1) and LP (λ = 10), one seed each, measured at 10, 50, 100, 500 and 1000 iterations.
Outputs: ``level_sets``, ``critic_loss`` and ``w1`` figures and a table of the curves' end values and fluctuation.

Deviations from the paper
* 004 does not say which data set its Figures 4 and 5 use (Figure 3's is the Swiss roll; lines 562–567 add 8 and 25
  Gaussians in the appendix): all curves here are on the Swiss roll.
* The initialisation is not stated; the runs use tflib's (He-uniform hidden layers, Glorot-uniform output, zero
  biases), as Petzka's code is a fork of Gulrajani's (line 192). The Leaky ReLU slope is 0.2 (tflib's).
* Figure 4 marks outliers as points; the figure here draws the median and the 25–75% band only (every run's curve is
  in results.json).
* The critic's loss is recorded as its mean over the critic steps of each generator iteration (100 during the
  warm-up, 10 after it), not at one step.
* `--iters N` sets the curve runs to N iterations and the level-set runs to N (stops past N dropped); `--quick` uses
  16-unit networks, batch 32, 2 critic steps (3 in a 2-iteration warm-up), 10 iterations, W1 from 32 samples every
  5 iterations.
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
    missing_panel,
    new_figure,
    not_run,
    seeded,
    to_list,
)
from gan_train.experiments.geometry import quartiles

#: Curve cells: name → (form, λ, label); the level-set cells of Figure 3 likewise.
CURVES = {"gp-5": ("gp", 5.0, "WGAN-GP, λ=5"), "lp-5": ("lp", 5.0, "WGAN-LP, λ=5"), "gp-1": ("gp", 1.0, "WGAN-GP, λ=1")}
LEVELS = {
    "levels-gp-10": ("gp", 10.0, "GP, λ=10"),
    "levels-gp-1": ("gp", 1.0, "GP, λ=1"),
    "levels-lp-10": ("lp", 10.0, "LP, λ=10"),
}
ITERATIONS, LEVEL_ITERATIONS, LEVEL_STOPS, W1_SEEDS = 500, 1000, (10, 50, 100, 500), 10
QUICK = {"width": 16, "batch_size": 32, "n_critic": 2, "critic_warmup": 2, "critic_warmup_steps": 3,
         "w1_every": 5, "w1_samples": 32}  # fmt: skip
FULL = {"width": 512, "batch_size": 256, "n_critic": 10, "critic_warmup": 25, "critic_warmup_steps": 100,
        "w1_every": 10, "w1_samples": 500}  # fmt: skip
GRID, SHOWN = 64, 500


def _config(form: str, weight: float, iterations: int, seed: int, options: Options) -> TrainConfig:
    return TrainConfig(
        dataset="swissroll", depth=3, activation="leaky_relu", init="tflib", latent_dim=2, optimizer="rmsprop",
        lr_d=5e-5, lr_g=5e-5, measure="mu_gp", form=form, gp_lambda=weight, iterations=iterations, seed=seed,
        device=options.device, progress=options.progress, tensorboard=False, plot_every=0, log_every=1,
        checkpoint_every=iterations if options.quick else 100, keep_checkpoints=1,
        **(QUICK if options.quick else FULL),
    ).validate()  # fmt: skip


def tasks(options: Options) -> list[Task]:
    iterations = options.iters or (10 if options.quick else ITERATIONS)
    out = [
        Task(cell, seed, _config(form, weight, iterations, seed, options), quick=options.quick)
        for cell, (form, weight, _) in CURVES.items()
        for seed in options.seed_list(20)
    ]
    levels = options.iters or (10 if options.quick else LEVEL_ITERATIONS)
    stops = (2, 5) if options.quick and options.iters is None else LEVEL_STOPS
    for cell, (form, weight, _) in LEVELS.items():
        config = _config(form, weight, levels, 0, options)
        out.append(Task(cell, 0, config, tuple(s for s in stops if s < levels), quick=options.quick))
    return out


def measure(trainer: Any, task: Task, iteration: int) -> dict[str, Any]:
    if task.cell in LEVELS:
        from gan_train.plots import critic_on_grid

        extent = trainer.dataset.extent
        _, _, values = critic_on_grid(trainer.critic, extent, GRID)
        return {
            "extent": extent,
            "critic_grid": to_list(values, 5),
            "data": to_list(trainer.law.sample(SHOWN, generator=seeded(task.seed, 21)).numpy(), 5),
            "samples": to_list(trainer.samples(SHOWN, seeded(task.seed, 22)).numpy(), 5),
        }
    from gan_train.metrics.log import read_metrics

    records = [r for r in read_metrics(trainer.run_dir) if "loss_adv" in r and "event" not in r]
    return {
        "iterations": [r["iteration"] for r in records],
        "negative_critic_loss": [-r["loss_adv"] for r in records],
        "w1_iterations": [r["iteration"] for r in records if "w1" in r],
        "w1": [r["w1"] for r in records if "w1" in r],
    }


def report(workspace: Workspace, outcomes: list[Outcome]) -> Report:
    cells = by_cell(outcomes)
    rows, summary, curves = [], {}, {}
    for cell, (_, _, label) in CURVES.items():
        done = [o.final for o in cells[cell] if o.final is not None]
        steps = done[0]["iterations"] if done else []
        loss = _stack([d["negative_critic_loss"] for d in done], len(steps))
        w1_steps = done[0]["w1_iterations"] if done else []
        w1 = _stack([d["w1"] for d in done[:W1_SEEDS]], len(w1_steps))
        curves[cell] = {
            "iterations": steps,
            "loss": {k: np.asarray(v).tolist() for k, v in quartiles(loss).items()} if loss.size else {},
            "w1_iterations": w1_steps,
            "w1": {k: np.asarray(v).tolist() for k, v in quartiles(w1).items()} if w1.size else {},
            "w1_seeds": min(W1_SEEDS, len(done)),
            "loss_seeds": len(done),
        }
        late = [i for i, s in enumerate(steps) if s > steps[-1] / 5]  # after the first fifth (the warm-up)
        fluctuation = np.nanstd(loss[:, late], axis=1) if loss.size and late else np.array([np.nan])
        final_w1 = w1[:, -1] if w1.size else np.array([np.nan])
        last = [i for i, s in enumerate(w1_steps) if s > (w1_steps[-1] if w1_steps else 0) * 0.8]
        late_w1 = np.nanmean(w1[:, last], axis=1) if w1.size and last else np.array([np.nan])
        final_loss = loss[:, -1] if loss.size else np.array([np.nan])
        summary[cell] = {
            "label": label,
            "final_w1": final_w1.tolist(),
            "mean_w1_last_fifth": late_w1.tolist(),
            "final_negative_critic_loss": final_loss.tolist(),
            "fluctuation_negative_critic_loss": fluctuation.tolist(),
            "diverged": sum(o.diverged is not None for o in cells[cell]),
        }
        if not not_run(cells[cell]):
            rows.append([label, med_iqr(final_w1), med_iqr(late_w1), med_iqr(final_loss), med_iqr(fluctuation),
                         summary[cell]["diverged"]])  # fmt: skip
    table = Table(
        "End of the curve runs: W1 (exact assignment) over the first 10 seeds and the negative critic loss "
        "(without the penalty) over all seeds, median [25%, 75%]",
        ["method", "final W1", "mean W1, last fifth", "final −loss", "std of −loss after the first fifth",
         "diverged"],
        rows,
    )  # fmt: skip
    levels = _level_sets(workspace, cells)
    _bands(workspace, curves, "loss", "critic_loss", "negative critic loss (no penalty)",
           "004 Fig. 4 / 10: negative critic loss, median and 25–75% over seeds")  # fmt: skip
    _bands(workspace, curves, "w1", "w1", "W1 (exact assignment)", "004 Fig. 5 / 11: W1 estimate, median and 25–75% "
           "over the first 10 seeds")  # fmt: skip
    return Report([table], summary, {"curves": curves, "level_sets": levels})


def _stack(rows: list[list[Any]], length: int) -> np.ndarray:
    out = np.full((len(rows), length), np.nan)
    for i, row in enumerate(rows):
        values = [np.nan if v is None else float(v) for v in row[:length]]
        out[i, : len(values)] = values
    return out


def _bands(workspace: Workspace, curves: dict[str, Any], key: str, name: str, ylabel: str, title: str) -> None:
    shown = {cell: spec for cell, spec in CURVES.items() if curves[cell][key]} or CURVES  # cells that ran (--cells)
    fig = new_figure(3.6 * len(shown), 3.3)
    axes = fig.subplots(1, len(shown), sharey=True, squeeze=False)[0]
    for ax, (cell, (_, _, label)) in zip(axes, shown.items()):
        c = curves[cell]
        steps = c["iterations"] if key == "loss" else c["w1_iterations"]
        if c[key]:
            ax.plot(steps, c[key]["median"], color="tab:blue", lw=1.2)
            ax.fill_between(steps, c[key]["q25"], c[key]["q75"], color="tab:blue", alpha=0.25)
        ax.set_title(f"{label} ({c['w1_seeds' if key == 'w1' else 'loss_seeds']} runs)", fontsize=9)
        ax.set_xlabel("generator iteration")
    axes[0].set_ylabel(ylabel)
    fig.suptitle(title, fontsize=10)
    workspace.figure(fig, name, title)


def _level_sets(workspace: Workspace, cells: dict[str, list[Outcome]]) -> dict[str, Any]:
    stops = cells[next(iter(LEVELS))][0].task.measured_at
    ran = {cell: spec for cell, spec in LEVELS.items() if not not_run(cells[cell])} or LEVELS  # rows of --cells
    fig = new_figure(2.2 * len(stops), 2.3 * len(ran))
    axes = fig.subplots(len(ran), len(stops), squeeze=False)
    data: dict[str, Any] = {}
    for i, (cell, (_, _, label)) in enumerate(ran.items()):
        outcome = cells[cell][0]
        data[cell] = {str(k): v for k, v in outcome.at.items()}
        for j, stop in enumerate(stops):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"iteration {stop}", fontsize=9)
            if j == 0:
                ax.set_ylabel(label, fontsize=9)
            shown = outcome.at.get(stop)
            if shown is None:
                ax.text(0.5, 0.5, missing_panel(outcome), ha="center", transform=ax.transAxes)
                continue
            extent = shown["extent"]
            xs = np.linspace(-extent, extent, GRID)
            ax.contourf(xs, xs, np.array(shown["critic_grid"], dtype=float), levels=20, cmap="viridis")
            real, fake = np.array(shown["data"]), np.array(shown["samples"])
            ax.scatter(real[:, 0], real[:, 1], s=1, c="red", alpha=0.6)
            ax.scatter(fake[:, 0], fake[:, 1], s=1, c="blue", alpha=0.6)
            ax.set_xlim(-extent, extent)
            ax.set_ylim(-extent, extent)
            ax.set_aspect("equal")
    fig.suptitle("004 Fig. 3: critic level sets on the Swiss roll (yellow high), data red, samples blue", fontsize=10)
    workspace.figure(fig, "level_sets", "Level sets of the critic during training, GP λ=10, GP λ=1 and LP λ=10")
    return data
