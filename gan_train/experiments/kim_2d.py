"""kim-2d: the 2-D examples of Kim, Park, Hwang (``003_…``), Section 5.1 and Figure 4 of Appendix D.

What the seed text (``003_ecd3fe7488654c83.txt``) fixes:

* line 200: the penalty measures are tested on "mixture of 8 Gaussians, mixture of 25 Gaussians, and swissroll"
  with "a simple gradient penalty term", and all methods "used the same network settings and hyperparameters";
* lines 202–207 (Table 1): WGAN (weight clipping), WGAN-GP (E_μ[(‖∇ₓD‖−1)²] on x̂ = αx_d + (1−α)x_g) and the
  five measures p_g, p_d, μ_GP, μ_mid, μ_g,anc with E_μ[‖∇ₓD‖²], "no additional weights";
* lines 211–213: the code is Gulrajani et al.'s (igul222/improved_wgan_training), "Only the loss function was
  modified";
* line 217: 8 Gaussians 30K, 25 Gaussians 200K and Swiss roll 100K iterations; the anchor of μ_g,anc is (2, −1);
* line 487 (Figure 4): samples of the five measures on the three data sets.

Each run is the preset ``toy-{dataset}-{method}`` of :mod:`gan_train.presets`: the 3×512 ReLU MLPs of Gulrajani's
``gan_toy.py`` with its initialisation, 2-d latent, batch 256, 5 critic steps per generator step, Adam(1e-4,
β = (0.5, 0.9)); WGAN RMSprop 5e-5 with clipping c = 0.01. At the end of each run: W1 by exact assignment between
1000 data and 1000 generated samples (:func:`gan_train.metrics.log.w1_assignment`, the estimate of ``004_…``
line 218) and, on the two mixtures, mode coverage (:func:`gan_train.experiments.geometry.mode_coverage`: of 2500
samples, one within 3σ of its nearest centre is of high quality, a mode with at least 20 of them is covered).

Outputs: ``samples_grid`` (rows: data sets, columns: methods; the first seed's samples over its critic's level
sets) and a table of W1 and modes covered per cell, median [quartiles] over seeds (default 5).

Deviations from the paper
* Figure 4 shows the five SGP measures; the grid adds WGAN and WGAN-GP (the baselines of Table 1, line 202) and draws
  the critic's level sets under the samples.
* 003 reports no W1 or mode coverage and shows one run; the table gives both as medians over seeds (default 5).
* 003 states no toy penalty weight; the presets use gan_toy.py's λ = 0.1 for WGAN-GP and the same weight on the
  simple penalty, 0.1·E_μ[‖∇ₓD‖²] (ρ = 0.2), as "only the loss function was modified" (line 213).
* Initialisation: gan_toy.py's tflib one (He-uniform hidden layers, Glorot-uniform output, zero biases).
* The Swiss roll has no modes: its mode coverage is "–".
* `--iters N` replaces the three iteration counts (30k, 200k, 100k) by N; `--quick` uses 16-unit networks, batch
  32, 2 critic steps and 20 iterations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gan_train.config import apply_overrides
from gan_train.experiments.base import (
    Options,
    Outcome,
    Report,
    Table,
    Task,
    Workspace,
    by_cell,
    finals,
    med_iqr,
    missing_panel,
    new_figure,
    not_run,
    seeded,
    to_list,
)
from gan_train.presets import ITERATIONS, get_preset

DATASETS = ("8gaussians", "25gaussians", "swissroll")
METHODS = ("wgan", "wgan-gp", "p_g", "p_d", "mu_gp", "mu_mid", "mu_anchor")
LABELS = {
    "wgan": "WGAN",
    "wgan-gp": "WGAN-GP",
    "p_g": "$p_g$",
    "p_d": "$p_d$",
    "mu_gp": "$\\mu_{GP}$",
    "mu_mid": "$\\mu_{mid}$",
    "mu_anchor": "$\\mu_{g,anc}$",
}
TEXT_LABELS = {"p_g": "p_g", "p_d": "p_d", "mu_gp": "μ_GP", "mu_mid": "μ_mid", "mu_anchor": "μ_g,anc"}
W1_SAMPLES, COVERAGE_SAMPLES, GRID, SHOWN = 1000, 2500, 64, 500
QUICK = ["width=16", "batch_size=32", "n_critic=2"]
QUICK_W1_SAMPLES = 128


def tasks(options: Options) -> list[Task]:
    out = []
    for dataset in DATASETS:
        iterations = options.iters or (20 if options.quick else ITERATIONS[dataset])
        for method in METHODS:
            for seed in options.seed_list(5):
                sets = [
                    f"iterations={iterations}",
                    f"seed={seed}",
                    f"device={options.device}",
                    f"progress={options.progress}",
                    "tensorboard=false",
                    "plot_every=0",
                    "w1_every=0",
                    "keep_checkpoints=1",
                    f"checkpoint_every={iterations if options.quick else max(1, iterations // 20)}",
                    f"log_every={max(1, iterations // 200)}",
                    *(QUICK if options.quick else []),
                ]
                config = apply_overrides(get_preset(f"toy-{dataset}-{method}").config(), sets)
                out.append(Task(f"{dataset}-{method}", seed, config, quick=options.quick))
    return out


def measure(trainer: Any, task: Task, iteration: int) -> dict[str, Any]:
    from gan_train.experiments.geometry import mixture_modes, mode_coverage

    n = QUICK_W1_SAMPLES if task.quick else W1_SAMPLES
    result: dict[str, Any] = {"w1": trainer.w1(n), "w1_samples": n}
    samples = trainer.samples(COVERAGE_SAMPLES, seeded(task.seed, 11)).numpy()
    try:
        centres, sigmas = mixture_modes(trainer.law)
    except ValueError:  # the Swiss roll
        result["coverage"] = None
    else:
        result["coverage"] = mode_coverage(samples, centres, sigmas)
    if task.seed == 0:  # the figure's numbers, for the first seed
        from gan_train.plots import critic_on_grid

        extent = trainer.dataset.extent
        data = trainer.law.sample(SHOWN, generator=seeded(task.seed, 12)).numpy()
        _, _, values = critic_on_grid(trainer.critic, extent, GRID)
        result["figure"] = {
            "extent": extent,
            "critic_grid": to_list(values, 5),
            "data": to_list(data, 5),
            "samples": to_list(samples[:SHOWN], 5),
        }
    return result


def report(workspace: Workspace, outcomes: list[Outcome]) -> Report:
    cells = by_cell(outcomes)
    rows, summary = [], {}
    for dataset in DATASETS:
        for method in METHODS:
            group = cells[f"{dataset}-{method}"]
            if all(o.excluded for o in group):  # outside --cells
                continue
            w1 = finals(group, "w1")
            covered = [_coverage(o, "covered") for o in group]
            quality = [_coverage(o, "high_quality") for o in group]
            modes = next((o.final["coverage"]["modes"] for o in group if o.final and o.final.get("coverage")), None)
            summary[f"{dataset}-{method}"] = {
                "w1": w1,
                "w1_median": _median(w1),
                "modes": modes,
                "covered": covered,
                "covered_median": _median(covered),
                "high_quality": quality,
                "high_quality_median": _median(quality),
                "diverged": sum(o.diverged is not None for o in group),
                "iterations": group[0].task.config.iterations,
            }
            rows.append(
                [
                    dataset,
                    TEXT_LABELS.get(method, LABELS[method]),
                    group[0].task.config.iterations,
                    med_iqr(w1),
                    f"{med_iqr(covered)} of {modes}" if modes else "–",
                    med_iqr(quality) if modes else "–",
                    sum(o.diverged is not None for o in group),
                ]
            )
    n = next((o.final["w1_samples"] for o in outcomes if o.final), W1_SAMPLES)
    table = Table(
        f"W1 (exact assignment, {n} samples a side) and mode coverage ({COVERAGE_SAMPLES} samples) at the last "
        f"iteration: median [25%, 75%] over {len(group)} seed(s)",
        ["data", "method", "iterations", "W1", "modes covered", "high-quality fraction", "diverged"],
        rows,
    )
    figure_data = _figure(workspace, cells, summary)
    return Report([table], summary, figure_data)


def _figure(workspace: Workspace, cells: dict[str, list[Outcome]], summary: dict[str, Any]) -> dict[str, Any]:
    # rows of the data sets that ran (all, unless --cells left a whole data set out)
    datasets = [d for d in DATASETS if not all(not_run(cells[f"{d}-{m}"]) for m in METHODS)]
    fig = new_figure(2.1 * len(METHODS), 2.2 * len(datasets) + 0.4)
    axes = fig.subplots(len(datasets), len(METHODS), squeeze=False)
    data = {}
    for i, dataset in enumerate(datasets):
        for j, method in enumerate(METHODS):
            ax = axes[i][j]
            first = cells[f"{dataset}-{method}"][0]
            shown = first.final.get("figure") if first.final else None
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(LABELS[method], fontsize=10)
            if j == 0:
                ax.set_ylabel(dataset, fontsize=10)
            if shown is None:
                ax.text(
                    0.5,
                    0.5,
                    missing_panel(first),
                    ha="center",
                    transform=ax.transAxes,
                )
                continue
            extent = shown["extent"]
            xs = np.linspace(-extent, extent, GRID)
            ax.contourf(xs, xs, np.array(shown["critic_grid"], dtype=float), levels=20, cmap="viridis", alpha=0.8)
            real, fake = np.array(shown["data"]), np.array(shown["samples"])
            ax.scatter(real[:, 0], real[:, 1], s=1, c="red", alpha=0.5)
            ax.scatter(fake[:, 0], fake[:, 1], s=1, c="blue", alpha=0.5)
            ax.set_xlim(-extent, extent)
            ax.set_ylim(-extent, extent)
            ax.set_aspect("equal")
            w1 = summary[f"{dataset}-{method}"]["w1_median"]
            ax.text(0.03, 0.03, f"W1 {w1:.3g}", transform=ax.transAxes, fontsize=7, color="white")
            data[f"{dataset}-{method}"] = {"seed": first.task.seed, **shown}
    fig.suptitle("003 Fig. 4: samples (blue) and data (red) over the critic's level sets, first seed", fontsize=11)
    caption = "Samples of the first seed over its critic's level sets; W1: median over seeds"
    workspace.figure(fig, "samples_grid", caption)
    return {"samples_grid": data}


def _coverage(outcome: Outcome, key: str) -> float:
    coverage = outcome.final.get("coverage") if outcome.final else None
    return float(coverage[key]) if coverage and coverage.get(key) is not None else float("nan")


def _median(values: list[float]) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else float("nan")
