"""zhou-gaussians: two real Gaussians against one fixed fake Gaussian (``002_…`` Figs. 1–2, ``000_…`` Fig. 3, App. A).

What the seed texts fix:

* ``002_cea8ebeee4e8e97f.txt`` lines 585–598 (Figure 2, line 644): "the gradient direction of ∇ₓf*(x) with a set of
  φ and ϕ that satisfy Eq. (11)": (a) φ(x) = x, (b) −log σ(−x), (c) x + √(x²+1), (d) exp(x); "Pr consists of two
  Gaussians and Pg is fixed as one Gaussian which is close to one of the two real Gaussians"; "the gradient of each
  generated sample is pointing towards some real sample" (lines 603–605); the model is Eq. 10 (lines 405–412),
  λ·k(f)² with k(f) ≈ max‖∇ₓf‖ (Eq. 12, line 680); the quadratic (LSGAN) loss does not satisfy Eq. 11 (lines
  434–436);
* 002 lines 551–584 (Figure 1, line 564): without a Lipschitz constraint "We choose the Least-Squares GAN ... the
  gradient is very random", the "gradient uninformativeness"; "we actually conduct the same experiments with a set
  of different hyper-parameters. The rest is provided in Appendix B";
* ``000_eb0b29c1f409eb4a.txt`` line 296 (Figure 3): the same four losses, "the gradient of each generated sample is
  towards a real sample"; lines 366–395 (App. A, Figures 7–11): LSGAN value surfaces under Adam(1e-2), 1024 × 1
  ReLU; Adam(1e-2), 1024 × 4 ReLU; Adam(1e-5), 1024 × 4 ReLU; SGD(1e-3), 1024 × 64 SELU; SGD(1e-4), 128 × 64 SELU
  (Adam with β1 = 0, β2 = 0.9);
* 000 App. I (line 638) and ``001_…`` line 186: Adam with β1 = 0, β2 = 0.9.

Runs (critic alone; data ``mixture([normal([-1, 0], 0.1), normal([1, 0], 0.1)])``, fixed generator
``normal([0.5, 0.5], 0.1)``): the five losses φ(x) = x, −log σ(−x), x + √(x²+1), exp(x) and LSGAN's (x+1)², each with
the Lipschitz-GAN penalty λ·max‖∇ₓD(x̂)‖² on x̂ = αx_d + (1−α)x_g (λ = 1) and without any constraint; LSGAN without
a constraint also under the five settings of 000's Figures 7–11. Main setting: 3×512 ReLU MLP, tflib
initialisation, Adam(1e-3, β = (0, 0.9)), batch 256, 5000 critic steps. Measured at the end, at 512 fake samples:
the angle between ∇ₓD and the direction to each sample's optimal-transport partner among 512 real samples (exact
assignment), the share of gradients whose ray passes within 3σ of a real Gaussian's centre ("points towards some
real sample") and, of those, the share towards the far Gaussian. Outputs: ``fields`` (losses × with/without the
constraint), ``lsgan_settings`` (the LSGAN runs) and the table.

A pilot of the main setting (one seed, 3000 critic steps, on the CPU) gave median angles to the transport partner of
1.8° (WGAN loss) and 2.2° (−log σ(−x)) with the penalty, against 56° for LSGAN without a constraint, whose
gradients (‖∇ₓD‖ ≈ 0.003) point at a real Gaussian for 9% of the fake samples; with Adam(1e-4) the penalised critics
were still far from their optimum after 3000 steps (17° and 56°), hence the learning rate 1e-3.

Deviations from the paper
* The papers give neither the Gaussians' positions and widths nor the networks, optimiser or step count of
  Figures 1–3: the means (−1, 0), (1, 0), the fake mean (0.5, 0.5), σ = 0.1, the 3×512 ReLU MLP, Adam(1e-3,
  β = (0, 0.9)), batch 256 and 5000 critic steps (--iters) are ours; λ = 1 comes from 002's grid 0.01–10 (line 671).
* 000's Figures 7–11 show LSGAN value surfaces on data the text does not describe; they run here on the same
  Gaussians, with PyTorch's default initialisation (the papers state none), for as many steps as the main runs
  (a GPU is advisable: the 64-layer 1024-unit MLP has 67M parameters).
* The quadratic loss with the constraint is added to complete the grid; 002 Figure 1's disjoint/overlapping/mode-
  collapse panels are represented by the one disjoint setting.
* `--quick`: 16-unit networks of at most 3 hidden layers, batch 32, 20 critic steps.
"""

from __future__ import annotations

import textwrap
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
    finals,
    med_iqr,
    missing_panel,
    new_figure,
    not_run,
    seeded,
    to_list,
)

REAL = "mixture([normal([-1, 0], 0.1), normal([1, 0], 0.1)])"
FAKE = "normal([0.5, 0.5], 0.1)"
LOSSES = {
    "identity": "φ(x) = x (WGAN)",
    "logistic": "φ(x) = −log σ(−x)",
    "sqrt": "φ(x) = x + √(x²+1)",
    "exp": "φ(x) = exp(x)",
    "quadratic": "φ(x) = (x+1)² (LSGAN)",
}
#: LSGAN without a constraint under 000's App. A settings: name → (keys, label).
SETTINGS: dict[str, tuple[dict[str, Any], str]] = {
    "fig7": ({"optimizer": "adam", "lr_d": 1e-2, "activation": "relu", "width": 1024, "depth": 1},
             "Fig. 7: Adam 1e-2, ReLU 1024×1"),
    "fig8": ({"optimizer": "adam", "lr_d": 1e-2, "activation": "relu", "width": 1024, "depth": 4},
             "Fig. 8: Adam 1e-2, ReLU 1024×4"),
    "fig9": ({"optimizer": "adam", "lr_d": 1e-5, "activation": "relu", "width": 1024, "depth": 4},
             "Fig. 9: Adam 1e-5, ReLU 1024×4"),
    "fig10": ({"optimizer": "sgd", "lr_d": 1e-3, "activation": "selu", "width": 1024, "depth": 64},
              "Fig. 10: SGD 1e-3, SELU 1024×64"),
    "fig11": ({"optimizer": "sgd", "lr_d": 1e-4, "activation": "selu", "width": 128, "depth": 64},
              "Fig. 11: SGD 1e-4, SELU 128×64"),
}  # fmt: skip
ITERATIONS, QUICK_ITERATIONS, LAMBDA = 5000, 20, 1.0
SAMPLES, QUICK_SAMPLES, SHOWN, EXTENT, GRID, FIELD = 512, 128, 160, 2.0, 64, 15


def _config(options: Options, seed: int, iterations: int, **keys: Any) -> TrainConfig:
    values = dict(
        dataset=REAL, fake=FAKE, train_generator=False, latent_dim=2, width=512, depth=3, init="tflib",
        optimizer="adam", lr_d=1e-3, beta1=0.0, beta2=0.9, batch_size=256, n_critic=1, iterations=iterations,
        seed=seed, device=options.device, progress=options.progress, tensorboard=False, plot_every=0, w1_every=0,
        log_every=max(1, iterations // 100), checkpoint_every=iterations if options.quick else max(1, iterations // 5),
        keep_checkpoints=1,
    )  # fmt: skip
    values.update(keys)
    if values["optimizer"] == "sgd":
        values.pop("beta1"), values.pop("beta2")
    if options.quick:
        values.update(width=16, depth=min(values["depth"], 3), batch_size=32)
    return TrainConfig(**values).validate()


def tasks(options: Options) -> list[Task]:
    iterations = options.iters or (QUICK_ITERATIONS if options.quick else ITERATIONS)
    out = []
    for seed in options.seed_list(3):
        for loss in LOSSES:
            for constrained in (True, False):
                keys = {"loss": loss}
                if constrained:
                    keys.update(measure="mu_gp", form="lgan", gp_lambda=LAMBDA)
                cell = f"{loss}-{'lgan' if constrained else 'none'}"
                out.append(Task(cell, seed, _config(options, seed, iterations, **keys), quick=options.quick))
        for name, (keys, _) in SETTINGS.items():
            config = _config(options, seed, iterations, loss="quadratic", init="torch", **keys)
            out.append(Task(f"lsgan-{name}", seed, config, quick=options.quick))
    return out


def measure(trainer: Any, task: Task, iteration: int) -> dict[str, Any]:
    import torch

    from gan_train.experiments.geometry import angles_deg, mixture_modes, ray_hits
    from gan_train.metrics.log import optimal_matching
    from gan_train.plots import critic_gradients, critic_on_grid

    n = QUICK_SAMPLES if task.quick else SAMPLES
    fake = trainer.samples(n, seeded(task.seed, 31)).double().numpy()
    real = trainer.law.sample(n, generator=seeded(task.seed, 32), dtype=torch.float64).numpy()
    grad = critic_gradients(trainer.critic, torch.tensor(fake, dtype=torch.float32)).astype(np.float64)
    targets, _ = optimal_matching(fake, real)  # the optimal-transport partner of each fake point
    centres, sigmas = mixture_modes(trainer.law)
    hits = np.stack([ray_hits(fake, grad, centres[k : k + 1], 3 * sigmas[k]) for k in range(len(centres))], 1)
    far = int(np.argmax(np.linalg.norm(centres - fake.mean(0), axis=1)))
    towards = hits.any(axis=1)
    angle = angles_deg(grad, real[targets] - fake)
    result = {
        "angle_ot_median": float(np.nanmedian(angle)) if np.isfinite(angle).any() else None,
        "angle_ot_quartiles": np.nanpercentile(angle, [25, 75]) if np.isfinite(angle).any() else None,
        "towards_real": float(towards.mean()),
        "towards_far": float(hits[:, far].mean()),
        "grad_norm_median": float(np.median(np.linalg.norm(grad, axis=1))),
        "ot_to_far": float(np.mean(np.linalg.norm(real[targets] - centres[far], axis=1) < 3 * sigmas[far])),
        "samples": n,
    }
    if task.seed == 0:
        xs = np.linspace(-EXTENT, EXTENT, FIELD)
        gx, gy = np.meshgrid(xs, xs)
        grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
        _, _, contour = critic_on_grid(trainer.critic, EXTENT, GRID)
        result["figure"] = {
            "critic_grid": to_list(contour, 5),
            "field": to_list(critic_gradients(trainer.critic, grid), 4),
            "fake": to_list(fake[:SHOWN], 5),
            "grad": to_list(grad[:SHOWN], 5),
            "real": to_list(real[:SHOWN], 5),
        }
    return result


def report(workspace: Workspace, outcomes: list[Outcome]) -> Report:
    cells = by_cell(outcomes)
    rows, summary = [], {}
    labels = {f"{loss}-{c}": f"{text}, {'Lipschitz-GAN penalty' if c == 'lgan' else 'no constraint'}"
              for loss, text in LOSSES.items() for c in ("lgan", "none")}  # fmt: skip
    labels.update({f"lsgan-{name}": f"LSGAN, no constraint, {text}" for name, (_, text) in SETTINGS.items()})
    for cell, label in labels.items():
        group = cells[cell]
        if not_run(group):
            continue
        values = {key: finals(group, key) for key in ("angle_ot_median", "towards_real", "towards_far",
                                                       "grad_norm_median", "ot_to_far")}  # fmt: skip
        summary[cell] = {"label": label, **values, "diverged": sum(o.diverged is not None for o in group)}
        rows.append([label, med_iqr(values["angle_ot_median"]), med_iqr(values["towards_real"]),
                     med_iqr(values["towards_far"]), med_iqr(values["ot_to_far"]),
                     med_iqr(values["grad_norm_median"]), summary[cell]["diverged"]])  # fmt: skip
    table = Table(
        f"Gradients at {_samples(outcomes)} fake samples after the last critic step: per run the median angle to the "
        "optimal-transport partner, the share of rays through a real Gaussian (within 3σ), the share through the "
        "far one, and the OT plan's share sent to the far one; median [25%, 75%] over seeds",
        ["objective", "median angle to OT partner (°)", "share towards a real Gaussian", "share towards the far one",
         "OT share to the far one", "median ‖∇ₓD‖", "diverged"],
        rows,
    )  # fmt: skip
    data = {}
    data["fields"] = _grid(workspace, cells, [[f"{loss}-lgan", f"{loss}-none"] for loss in LOSSES], labels,
                           "fields", "002 Fig. 1–2 / 000 Fig. 3: ∇ₓD at the fixed fake Gaussian (blue); real "
                           "Gaussians red; left with the Lipschitz-GAN penalty, right without")  # fmt: skip
    lsgan = [["quadratic-none", *[f"lsgan-{n}" for n in SETTINGS]]]
    title = ("002 Fig. 1 / 000 App. A: LSGAN without a constraint under several settings (002 lines 566–567: "
             "the gradient 'is very random')")  # fmt: skip
    data["lsgan_settings"] = _grid(workspace, cells, lsgan, {**labels, "quadratic-none": "LSGAN, no constraint, "
                                   "main setting"}, "lsgan_settings", title)  # fmt: skip
    notes = [
        "An informative critic sends every fake sample's gradient towards a real Gaussian ('share towards a real "
        "Gaussian' near 1); under WGAN the optimal-transport plan sends part of the fake mass to the far Gaussian "
        "('OT share to the far one'), and the angle to the OT partner is then 0 at the optimal critic."
    ]
    return Report([table], summary, data, notes)


def _samples(outcomes: list[Outcome]) -> int:
    return next((o.final["samples"] for o in outcomes if o.final), SAMPLES)


def _grid(workspace: Workspace, cells: dict[str, list[Outcome]], layout: list[list[str]], labels: dict[str, str],
          name: str, title: str) -> dict[str, Any]:  # fmt: skip
    rows, cols = len(layout), max(len(r) for r in layout)
    fig = new_figure(2.7 * cols, 2.7 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    xs = np.linspace(-EXTENT, EXTENT, FIELD)
    gx, gy = np.meshgrid(xs, xs)
    shown = {}
    for i, row in enumerate(layout):
        for j, cell in enumerate(row):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(textwrap.fill(labels[cell], 34), fontsize=7)
            first = cells[cell][0]
            figure = first.final.get("figure") if first.final else None
            if figure is None:
                ax.text(0.5, 0.5, missing_panel(first), ha="center", transform=ax.transAxes)
                continue
            shown[cell] = figure
            grid = np.linspace(-EXTENT, EXTENT, GRID)
            ax.contourf(grid, grid, np.array(figure["critic_grid"], dtype=float), levels=20, cmap="viridis",
                        alpha=0.75)  # fmt: skip
            field = np.array(figure["field"], dtype=float)
            unit = field / np.maximum(np.linalg.norm(field, axis=1, keepdims=True), 1e-12)
            ax.quiver(gx.ravel(), gy.ravel(), unit[:, 0], unit[:, 1], color="0.4", width=0.003, scale=30)
            real, fake = np.array(figure["real"]), np.array(figure["fake"])
            grad = np.array(figure["grad"], dtype=float)
            g = grad / np.maximum(np.linalg.norm(grad, axis=1, keepdims=True), 1e-12)
            ax.scatter(real[:, 0], real[:, 1], s=2, c="red")
            ax.scatter(fake[:, 0], fake[:, 1], s=2, c="blue")
            ax.quiver(fake[:, 0], fake[:, 1], g[:, 0], g[:, 1], color="black", width=0.004, scale=14)
            ax.set_xlim(-EXTENT, EXTENT)
            ax.set_ylim(-EXTENT, EXTENT)
            ax.set_aspect("equal")
        for j in range(len(row), cols):
            axes[i][j].set_visible(False)
    fig.suptitle(textwrap.fill(title, 45 * cols), fontsize=9)
    workspace.figure(fig, name, title)
    return shown
