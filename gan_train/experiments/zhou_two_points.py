"""zhou-two-points: two real and two fake points, the critic trained alone (``001_…`` §5.1, Figure 1).

What the seed text (``001_2c08b1142daa9bbc.txt``) fixes:

* line 190: "we randomly sample two data points in two-dimensional space as P_r and another two points as P_g. We fix
  this two distributions and train a discriminator with different implementations of Lipschitz continuity";
* line 192: the check is whether "the gradients of generated samples ... point towards their target real samples
  that minimize the transport cost" (Proposition 1, lines 56–58: at the optimal critic ∇f*(x_t) is the unit vector
  along the optimal-transport pairing);
* lines 194–196 and 208 (Figure 1): SN "quickly converged to a suboptimal solution", GP "leads to an oscillatory
  discriminator", MaxGP "stably converged to the optimal discriminator";
* line 186: MLPs for the toys, Adam with β1 = 0, β2 = 0.9;
* penalties: GP (Eq. 6, line 85, ρ/2·E[(‖∇f‖−1)²]), LP (Eq. 7, line 87), MaxGP (Eq. 12, line 156), MaxAL (Eqs. 13–14,
  lines 170–177), SN (Eq. 8, line 96); the Lipschitz-GAN objective is Eq. 10 of ``002_…`` (lines 405–412,
  λ·k(f)² with k(f) ≈ max‖∇ₓf‖, Eq. 12 there).

The optimal-transport target of each fake point is known in closed form: of the two pairings of two uniform points,
the cheaper (:func:`gan_train.experiments.geometry.two_point_targets`; ``tests/test_experiments.py`` checks it
against an assignment computed by hand and against Kuhn–Munkres). Each seed draws its own four points in [−1, 1]²
and initialises the critic; the critic is measured at ten evenly spaced iterations: the angle between ∇ₓD at each
fake point and the direction to its target (and to the nearer-in-angle of the two real points, the weaker property
of Theorem 2 of ``002_…``), ‖∇ₓD‖, and D at the four points.

Runs: fixed data ``discrete([x₁, x₂])`` and fixed generator ``discrete([y₁, y₂])`` (critic-only mode), 3×512 ReLU
MLP critic, Adam(1e-4, β = (0, 0.9)), batch 256, WGAN loss except for the Lipschitz-GAN objective
(φ(x) = −log σ(−x)), penalty points x̂ = αx_d + (1−α)x_g. Weights: GP and LP λ = 10 (ρ = 20 in 001's ρ/2
convention), MaxGP and MaxAL ρ = 20 (MaxAL's multiplier from 0), the Lipschitz-GAN λ = 1. Outputs: ``arrows``
(the gradient field and the arrows at the fake points, with the transport pairing dashed) and ``angles`` (angle
against iteration, median and quartiles over seeds and the two fake points).

Deviations from the paper
* 001 gives no learning rate, width, batch, penalty weight or iteration count for this toy: the 3×512 ReLU MLP with
  tflib initialisation, lr 1e-4, batch 256 and 10,000 critic steps (--iters) are ours, from Gulrajani's toy script;
  the weights are Gulrajani's λ = 10 (ρ = 20) for GP, LP, MaxGP and MaxAL, and λ = 1 (from the grid 0.01–10 of
  002 line 671) for the Lipschitz-GAN objective, whose loss φ(x) = −log σ(−x) is one of 002's choices (lines 430–432).
* The points are drawn uniformly in [−1, 1]² per seed, redrawn until every two of them are at least 0.25 apart and
  the two pairings' costs differ by at least 10% (a near tie makes the transport target ambiguous).
* Figure 1 of 001 shows SN, GP and MaxGP; LP, MaxAL and the Lipschitz-GAN objective are added, and the angle is
  measured rather than only drawn.
* MaxGP takes the batch maximum of ‖∇ₓD‖ (001 line 160: the buffer "is usually unnecessary").
* `--quick`: 16-unit networks, batch 32, 20 critic steps.
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
    to_list,
)
from gan_train.experiments.geometry import angles_deg, quartiles, two_point_targets

#: Method → (config keys, label).
METHODS: dict[str, tuple[dict[str, Any], str]] = {
    "gp": ({"measure": "mu_gp", "form": "gp", "gp_lambda": 10.0}, "GP (λ=10)"),
    "lp": ({"measure": "mu_gp", "form": "lp", "gp_lambda": 10.0}, "LP (λ=10)"),
    "maxgp": ({"measure": "mu_gp", "form": "maxgp", "rho": 20.0}, "MaxGP (ρ=20)"),
    "maxal": ({"measure": "mu_gp", "form": "maxal", "rho": 20.0, "maxal_lambda0": 0.0}, "MaxAL (ρ=20)"),
    "sn": ({"spectral_norm": True}, "SN"),
    "lgan": ({"measure": "mu_gp", "form": "lgan", "gp_lambda": 1.0, "loss": "logistic"}, "LGAN −log σ(−x) (λ=1)"),
}
ITERATIONS, QUICK_ITERATIONS, STOPS = 10_000, 20, 10
EXTENT, GRID, FIELD = 1.5, 48, 15


def points(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seed's two real and two fake points ``(2, 2)`` each, in [−1, 1]² (see the docstring for the rule)."""
    rng = np.random.default_rng(seed + 15_001)
    while True:
        real, fake = rng.uniform(-1, 1, (2, 2)), rng.uniform(-1, 1, (2, 2))
        every = np.concatenate([real, fake])
        gaps = np.linalg.norm(every[:, None] - every[None], axis=2)[np.triu_indices(4, 1)]
        _, best, other = two_point_targets(fake, real)
        if gaps.min() >= 0.25 and other >= 1.1 * best:
            return np.round(real, 4), np.round(fake, 4)


def _law(pts: np.ndarray) -> str:
    return "discrete([" + ", ".join(f"[{x:g}, {y:g}]" for x, y in pts) + "])"


def tasks(options: Options) -> list[Task]:
    iterations = options.iters or (QUICK_ITERATIONS if options.quick else ITERATIONS)
    size = {"width": 16, "batch_size": 32} if options.quick else {"width": 512, "batch_size": 256}
    out = []
    for method, (keys, _) in METHODS.items():
        for seed in options.seed_list(5):
            real, fake = points(seed)
            config = TrainConfig(
                dataset=_law(real), fake=_law(fake), train_generator=False, latent_dim=2, depth=3, init="tflib",
                optimizer="adam", lr_d=1e-4, lr_g=1e-4, beta1=0.0, beta2=0.9, n_critic=1, iterations=iterations,
                seed=seed, device=options.device, progress=options.progress, tensorboard=False, plot_every=0,
                w1_every=0, log_every=max(1, iterations // 100), checkpoint_every=iterations, keep_checkpoints=1,
                **size, **keys,
            ).validate()  # fmt: skip
            stops = tuple(round(iterations * k / STOPS) for k in range(1, STOPS))
            out.append(Task(method, seed, config, stops, quick=options.quick))
    return out


def measure(trainer: Any, task: Task, iteration: int) -> dict[str, Any]:
    import torch

    from gan_train.plots import critic_gradients, critic_on_grid

    real, fake = points(task.seed)
    targets, cost, other = two_point_targets(fake, real)
    grad = critic_gradients(trainer.critic, torch.tensor(fake, dtype=torch.float32)).astype(np.float64)
    to_target = real[targets] - fake
    every = [angles_deg(grad, real[j] - fake) for j in range(2)]
    with torch.no_grad():
        values = trainer.critic(torch.tensor(np.concatenate([real, fake]), dtype=torch.float32, device=_dev(trainer)))
    values = values.double().cpu().numpy()
    result = {
        "angle_ot": angles_deg(grad, to_target),
        "angle_any": np.minimum(*every),
        "grad": grad,
        "grad_norm": np.linalg.norm(grad, axis=1),
        "d_real": values[:2],
        "d_fake": values[2:],
        "gap": float(values[:2].mean() - values[2:].mean()),
        "targets": targets,
        "transport_cost": cost / 2,  # W1 of the two uniform measures
        "other_pairing_cost": other / 2,
    }
    if trainer.penalty is not None and trainer.penalty.form.multiplier:
        result["maxal_lambda"] = float(trainer.penalty.multiplier)
    if iteration == task.config.iterations:
        xs = np.linspace(-EXTENT, EXTENT, FIELD)
        gx, gy = np.meshgrid(xs, xs)
        grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
        _, _, contour = critic_on_grid(trainer.critic, EXTENT, GRID)
        result["field"] = to_list(critic_gradients(trainer.critic, grid), 4)
        result["critic_grid"] = to_list(contour, 5)
        result["real"], result["fake"] = real, fake
    return result


def report(workspace: Workspace, outcomes: list[Outcome]) -> Report:
    cells = by_cell(outcomes)
    rows, summary, curves = [], {}, {}
    for method, (_, label) in METHODS.items():
        group = cells[method]
        if not_run(group):
            continue
        final = np.array([_pair(o, o.task.config.iterations, "angle_ot") for o in group]).ravel()
        weak = np.array([_pair(o, o.task.config.iterations, "angle_any") for o in group]).ravel()
        stops = group[0].task.measured_at
        series = np.array([[_pair(o, s, "angle_ot") for s in stops] for o in group])  # (seeds, stops, 2)
        pooled = series.transpose(0, 2, 1).reshape(-1, len(stops))  # (seeds·2, stops)
        band = quartiles(pooled)
        late = pooled[:, len(stops) // 2 :]
        swing = np.nanmax(late, axis=1) - np.nanmin(late, axis=1) if late.size else np.array([np.nan])
        norms = np.array([_pair(o, o.task.config.iterations, "grad_norm") for o in group]).ravel()
        curves[method] = {"iterations": stops, **{k: np.asarray(v).tolist() for k, v in band.items()}}
        summary[method] = {
            "label": label,
            "angle_ot_final": final.tolist(),
            "angle_ot_median": float(np.nanmedian(final)) if np.isfinite(final).any() else float("nan"),
            "angle_any_final": weak.tolist(),
            "within_10_deg": float(np.mean(final < 10)) if len(final) else float("nan"),
            "swing_late": swing.tolist(),
            "grad_norm_final": norms.tolist(),
            "diverged": sum(o.diverged is not None for o in group),
        }
        rows.append(
            [
                label,
                med_iqr(final),
                f"{np.nanmax(final):.3g}" if np.isfinite(final).any() else "–",
                f"{summary[method]['within_10_deg']:.2f}",
                med_iqr(weak),
                med_iqr(swing),
                med_iqr(norms),
                summary[method]["diverged"],
            ]
        )
    iterations = outcomes[0].task.config.iterations
    table = Table(
        f"Angle (degrees) between ∇ₓD at each fake point and the direction to its optimal-transport target after "
        f"{iterations} critic steps: median [25%, 75%] over seeds × the two fake points",
        ["method", "angle to OT target", "max", "share < 10°", "angle to nearer real point",
         "late swing of the angle (max − min, 2nd half)", "‖∇ₓD‖ at fake points", "diverged"],
        rows,
    )  # fmt: skip
    _arrows(workspace, cells)
    _angles(workspace, curves)
    notes = [
        "The angle to the optimal-transport target is 0° at the optimal WGAN critic (Proposition 1 of 001); "
        "'angle to nearer real point' is the smaller of the angles to the two real points (Theorem 2 of 002 asks "
        "only that the gradient point towards some real sample)."
    ]
    return Report([table], summary, {"angles": curves}, notes)


def _pair(outcome: Outcome, iteration: int, key: str) -> list[float]:
    at = outcome.at.get(iteration)
    if at is None or at.get(key) is None:
        return [np.nan, np.nan]
    return [np.nan if v is None else float(v) for v in at[key]]


def _dev(trainer: Any) -> Any:
    return next(trainer.critic.parameters()).device


def _arrows(workspace: Workspace, cells: dict[str, list[Outcome]]) -> None:
    shown = min(3, len(next(iter(cells.values()))))
    fig = new_figure(2.6 * shown, 2.5 * len(METHODS))
    axes = fig.subplots(len(METHODS), shown, squeeze=False)
    xs = np.linspace(-EXTENT, EXTENT, FIELD)
    gx, gy = np.meshgrid(xs, xs)
    for i, (method, (_, label)) in enumerate(METHODS.items()):
        for j, outcome in enumerate(cells[method][:shown]):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            final = outcome.final
            if final is None:
                ax.text(0.5, 0.5, missing_panel(outcome), ha="center", transform=ax.transAxes)
                continue
            contour = np.array(final["critic_grid"], dtype=float)
            ax.contourf(np.linspace(-EXTENT, EXTENT, GRID), np.linspace(-EXTENT, EXTENT, GRID), contour,
                        levels=20, cmap="viridis", alpha=0.7)  # fmt: skip
            field = np.array(final["field"], dtype=float)
            unit = field / np.maximum(np.linalg.norm(field, axis=1, keepdims=True), 1e-12)
            ax.quiver(gx.ravel(), gy.ravel(), unit[:, 0], unit[:, 1], color="0.35", width=0.003, scale=30)
            real, fake = np.array(final["real"]), np.array(final["fake"])
            grad = np.array(final["grad"], dtype=float)
            for k, target in enumerate(final["targets"]):
                ax.plot(*zip(fake[k], real[target]), "--", color="lime", lw=1)
            g = grad / np.maximum(np.linalg.norm(grad, axis=1, keepdims=True), 1e-12)
            ax.quiver(fake[:, 0], fake[:, 1], g[:, 0], g[:, 1], color="black", width=0.012, scale=5)
            ax.scatter(real[:, 0], real[:, 1], s=40, c="red", edgecolors="white", zorder=3)
            ax.scatter(fake[:, 0], fake[:, 1], s=40, c="blue", marker="X", zorder=3)
            angles = ", ".join(f"{a:.0f}°" for a in final["angle_ot"] if a is not None)
            ax.set_title(f"{label}, seed {outcome.task.seed}\nangles {angles}", fontsize=8)
            ax.set_xlim(-EXTENT, EXTENT)
            ax.set_ylim(-EXTENT, EXTENT)
            ax.set_aspect("equal")
    fig.suptitle("001 Fig. 1: ∇ₓD (unit arrows) at the fake points (blue ×);\nreal points red, OT pairing dashed",
                 fontsize=9)  # fmt: skip
    workspace.figure(fig, "arrows", "Critic level sets, its unit gradient field (grey) and ∇ₓD at the fake points "
                     "(black), after the last critic step; dashed: the optimal-transport pairing")  # fmt: skip


def _angles(workspace: Workspace, curves: dict[str, dict[str, Any]]) -> None:
    fig = new_figure(6.5, 4.0)
    ax = fig.subplots()
    for method, (_, label) in METHODS.items():
        c = curves.get(method)
        if c is None:  # outside --cells
            continue
        line = ax.plot(c["iterations"], c["median"], marker="o", ms=3, label=label)[0]
        ax.fill_between(c["iterations"], c["q25"], c["q75"], color=line.get_color(), alpha=0.15)
    ax.set_xlabel("critic step")
    ax.set_ylabel("angle to OT target (degrees)")
    ax.set_ylim(0, 180)
    ax.legend(fontsize=7)
    ax.set_title("Angle between ∇ₓD(fake) and its OT direction: median and quartiles over seeds × points", fontsize=9)
    workspace.figure(fig, "angles", "Angle to the optimal-transport direction against critic steps")
