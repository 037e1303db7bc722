"""zhou-images: ten CIFAR-10 images against ten noise images, the critic trained alone.

Sources: ``001_…`` §5.2 and Figure 2, ``000_…`` Figures 4, 17 and 18, ``002_…`` Figure 3. What the seed texts fix:

* ``001_2c08b1142daa9bbc.txt`` line 200: "we select ten representative CIFAR-10 images as P_r and use ten random noise
  as P_g ... we train the discriminator till optimal and check the gradient"; line 202 (and Figure 2, line 220):
  "the leftmost in each row is a sample x from P_g and the second is its gradient ∇ₓf(x). The interiors are
  x + ε·∇ₓf(x) with increasing ε, and the rightmost is the nearest (being closest to any point in the incremental
  path) real sample y from P_r"; line 204: with GP "the gradients ... tend to be a blending of several images ...
  and it also appears a sort of mode collapse", with MaxGP they point to the ten real images respectively; line
  216: "We train the discriminator for 1000k iterations with decreasing learning rate"; line 186: a ResNet like
  Gulrajani's, Adam β1 = 0, β2 = 0.9;
* ``000_eb0b29c1f409eb4a.txt`` line 298 (Figure 4) and line 433 (Figure 17): the same check for the Lipschitz-GAN
  objectives ("P_g is Gaussian noise"); lines 505–514 (Figure 18, Eq. 18 at line 507): the penalty
  E_x̂[‖∇f(x̂)‖²] against the maximum max_x̂ ‖∇f(x̂)‖²; App. I (lines 612–638): Gulrajani's ResNet critic, Adam
  (0, 0.9);
* ``002_cea8ebeee4e8e97f.txt`` lines 597–611 (Figure 3, line 646): ten CIFAR-10 images and "ten fixed noise images";
  "the final results ... keep almost identical when varying the loss metric".

Runs (the trainer's critic-only mode): ``dataset=cifar10`` from ``--data-dir``, ``data_subset=10`` (the first image
of each class), no dequantisation, ``fake_images=10`` (pixels i.i.d. N(0, 1)), batch 10, Gulrajani's CIFAR-10 ResNet
critic (DIM 128), Adam(2e-4, β = (0, 0.9)) decayed linearly to 0, 100,000 critic steps, penalty points
x̂ = αx_d + (1−α)x_g. Methods: GP (λ = 10), MaxGP (ρ = 20) and the simple penalty λ·E‖∇ₓD‖² (ρ = 2λ, λ = 1) under
the WGAN loss, and the Lipschitz-GAN penalty λ·max‖∇ₓD‖² (λ = 1) under the WGAN loss and under −log σ(−x).

Measured at the end, for each noise image x: its gradient g = ∇ₓD(x); its optimal-transport target y (the exact
assignment of the ten noise images to the ten real ones, Euclidean in pixel space, as for two points in
:mod:`gan_train.experiments.zhou_two_points`); the cosine between g and y − x; the step ε* = gᵀ(y − x)/‖g‖² at which
the path x + εg comes closest to y; the real image nearest to the path (the paper's rightmost column) and whether it
is y. Outputs: one figure per method, ``paths_METHOD`` (rows: the ten noise images; columns: x, g, then
x + (k/5)·d·g/‖g‖ for k = 1…5 with d = ‖y − x‖, so the last image is y exactly when g points at y, then y), the
figure ``cosines``, and the table; the pixels of the path figures are in ``runs/METHOD/seed_K/gradient_paths.npz``.

Deviations from the paper
* 100,000 critic steps (--iters) instead of 001's 1000k (line 216), with the same linearly decreasing learning rate;
  the learning rate 2e-4 is Gulrajani's ResNet one (001 gives none).
* Penalty weights are not given for this figure: GP λ = 10 and MaxGP ρ = 20 (Gulrajani's), λ = 1 for the simple and
  the Lipschitz-GAN penalties (002's grid 0.01–10, line 671).
* 000 keeps a buffer of the points of largest gradient (line 510); the trainer's maximum is over the batch (001
  line 160: "the buffer is usually unnecessary").
* The ten real images are the first of each class in the training split; 001 says "ten representative" images.
* The paper's "nearest real sample" is reported beside the optimal-transport target, and the figures end with the
  target; the path's steps are fractions of the distance to the target (the papers' ε values are not given); the
  cosine is a number the papers do not give.
* `--quick` uses the DCGAN critic with DIM 8 and 5 critic steps (the tests' CIFAR files are synthetic).
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

METHODS: dict[str, tuple[dict[str, Any], str]] = {
    "gp": ({"form": "gp", "gp_lambda": 10.0}, "GP (λ=10)"),
    "maxgp": ({"form": "maxgp", "rho": 20.0}, "MaxGP (ρ=20)"),
    "sgp": ({"form": "simple", "rho": 2.0}, "E‖∇D‖² (λ=1)"),
    "lgan": ({"form": "lgan", "gp_lambda": 1.0}, "LGAN max‖∇D‖², φ(x)=x (λ=1)"),
    "lgan-logistic": ({"form": "lgan", "gp_lambda": 1.0, "loss": "logistic"}, "LGAN max‖∇D‖², −log σ(−x) (λ=1)"),
}
ITERATIONS, QUICK_ITERATIONS, IMAGES, STEPS = 100_000, 5, 10, 5
PATHS = "gradient_paths.npz"


def tasks(options: Options) -> list[Task]:
    iterations = options.iters or (QUICK_ITERATIONS if options.quick else ITERATIONS)
    net = {"arch": "dcgan", "width": 8, "latent_dim": 8} if options.quick else {"arch": "resnet", "width": 128,
                                                                                  "latent_dim": 128}  # fmt: skip
    out = []
    for method, (keys, _) in METHODS.items():
        for seed in options.seed_list(1):
            config = TrainConfig(
                dataset="cifar10", data_dir=options.data_dir, data_subset=IMAGES, dequantize=False,
                fake_images=IMAGES, train_generator=False, batch_size=IMAGES, n_critic=1, measure="mu_gp",
                optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.0, beta2=0.9, lr_decay=True, iterations=iterations,
                seed=seed, device=options.device, progress=options.progress, tensorboard=False, plot_every=0,
                w1_every=0, log_every=max(1, iterations // 100), checkpoint_every=max(1, iterations // 10),
                keep_checkpoints=1, **net, **keys,
            ).validate()  # fmt: skip
            out.append(Task(method, seed, config, quick=options.quick))
    return out


def real_images(trainer: Any) -> Any:
    """The run's fixed real images as the critic sees them, ``(N, C, H, W)`` float32 (no dequantisation)."""
    u = trainer.data.data.float()
    return (u - 128.0) / 128.0 if trainer.data.scale == "tanh" else u / 256.0


def measure(trainer: Any, task: Task, iteration: int) -> dict[str, Any]:
    import torch

    from gan_train.experiments.geometry import cosines
    from gan_train.metrics.log import optimal_matching
    from stability.util.atomic import atomic_save

    x = trainer.generator.samples.float()  # (10, C, H, W) on the device
    real = real_images(trainer).to(x.device)
    probe = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(trainer.critic(probe).sum(), probe)
    xf, rf, gf = (t.detach().double().cpu().flatten(1).numpy() for t in (x, real, grad))
    targets, _ = optimal_matching(xf, rf)  # the optimal-transport partner of each fake image
    direction = rf[targets] - xf
    cos = cosines(gf, direction)
    sq = np.einsum("ij,ij->i", gf, gf)
    step = np.divide(np.einsum("ij,ij->i", gf, direction), sq, out=np.full(len(sq), np.nan), where=sq > 0)
    path_nearest = _nearest_to_paths(xf, gf, rf)
    greedy = np.linalg.norm(xf[:, None] - rf[None], axis=2).argmin(axis=1)
    distance = np.linalg.norm(direction, axis=1)
    reach = np.divide(distance, np.sqrt(sq), out=np.zeros(len(sq)), where=sq > 0)  # ε that moves x by ‖y − x‖
    fractions = np.arange(1, STEPS + 1)[:, None, None] / STEPS  # (steps, 1, 1)
    path = xf[None] + fractions * reach[None, :, None] * gf[None]  # (steps, 10, P)
    shape = tuple(x.shape[1:])
    arrays = {"noise": xf.reshape(-1, *shape), "gradient": gf.reshape(-1, *shape), "real": rf.reshape(-1, *shape),
              "path": path.reshape(STEPS, -1, *shape), "targets": targets}  # fmt: skip
    atomic_save(trainer.run_dir / PATHS, lambda h: np.savez_compressed(h, **arrays))
    return {
        "cosine": cos,
        "step": step,
        "targets": targets,
        "path_nearest": path_nearest,
        "path_nearest_is_target": path_nearest == targets,
        "nearest_to_noise": greedy,
        "grad_norm": np.sqrt(sq),
        "distance_to_target": distance,
        "path_end_distance_to_target": np.linalg.norm(path[-1] - rf[targets], axis=1),
    }


def _nearest_to_paths(x: np.ndarray, g: np.ndarray, real: np.ndarray) -> np.ndarray:
    """For each i, the real image closest to the path x_i + εg_i, ε ≥ 0 (001 line 202's "nearest real sample")."""
    norm = np.linalg.norm(g, axis=1, keepdims=True)
    unit = np.divide(g, norm, out=np.zeros_like(g), where=norm > 0)
    offset = real[None, :, :] - x[:, None, :]  # (n, m, P)
    along = np.maximum(np.einsum("nmp,np->nm", offset, unit), 0.0)
    return np.linalg.norm(offset - along[..., None] * unit[:, None, :], axis=2).argmin(axis=1)


def report(workspace: Workspace, outcomes: list[Outcome]) -> Report:
    cells = by_cell(outcomes)
    rows, summary = [], {}
    for method, (_, label) in METHODS.items():
        if not_run(cells[method]):
            continue
        done = [o.final for o in cells[method] if o.final is not None]
        cos = np.array([v if v is not None else np.nan for d in done for v in d["cosine"]])
        hit = np.array([bool(v) for d in done for v in d["path_nearest_is_target"]])
        distinct = [len(set(d["path_nearest"])) for d in done]
        norms = np.array([v for d in done for v in d["grad_norm"] if v is not None])
        summary[method] = {
            "label": label,
            "cosines": cos.tolist(),
            "cosine_median": float(np.nanmedian(cos)) if np.isfinite(cos).any() else float("nan"),
            "path_nearest_is_target": float(hit.mean()) if len(hit) else float("nan"),
            "distinct_path_targets": distinct,
            "diverged": sum(o.diverged is not None for o in cells[method]),
        }
        rows.append([label, med_iqr(cos), f"{np.nanmin(cos):.3g}" if np.isfinite(cos).any() else "–",
                     f"{summary[method]['path_nearest_is_target']:.2f}", med_iqr(distinct), med_iqr(norms),
                     summary[method]["diverged"]])  # fmt: skip
        for outcome in cells[method][:1]:
            _paths(workspace, outcome, label)
    _cosines(workspace, summary)
    iterations = outcomes[0].task.config.iterations
    table = Table(
        f"Gradient of the critic at the ten noise images after {iterations} critic steps: cosine with the direction "
        "to the optimal-transport target (median [25%, 75%] and minimum over images × seeds), the share whose "
        "nearest real image along the gradient path is that target, the distinct real images the ten paths reach",
        ["method", "cosine", "min cosine", "path ends at OT target", "distinct images reached", "‖∇ₓD‖", "diverged"],
        rows,
    )
    notes = [
        "The optimal WGAN critic's gradient at a noise image points straight at its optimal-transport target "
        "(Proposition 1 of 001): cosine 1, every path ending at its own target, ten distinct images reached. "
        f"The pixels behind the path figures are in runs/METHOD/seed_K/{PATHS}."
    ]
    return Report([table], summary, {}, notes)


def _show(image: np.ndarray) -> np.ndarray:
    return np.clip((np.transpose(image, (1, 2, 0)) + 1.0) / 2.0, 0.0, 1.0)


def _paths(workspace: Workspace, outcome: Outcome, label: str) -> None:
    path_file = workspace.run_dir(outcome.task) / PATHS
    if outcome.final is None or not path_file.is_file():
        return
    data = np.load(path_file)
    titles = ["x", "∇ₓD(x)", *[f"+{k}/{STEPS}·d" for k in range(1, STEPS + 1)], "OT target"]
    rows = []
    for i in range(IMAGES):
        gradient = data["gradient"][i]
        scale = np.abs(gradient).max() or 1.0
        row = [data["noise"][i], gradient / scale, *[data["path"][k][i] for k in range(STEPS)],
               data["real"][data["targets"][i]]]  # fmt: skip
        rows.append([_show(image) for image in row])
    mosaic, size = _mosaic(rows)
    fig = new_figure(0.75 * len(titles) + 0.8, 0.75 * IMAGES + 0.6)
    ax = fig.subplots()
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([size * (j + 0.5) for j in range(len(titles))], titles, fontsize=6)
    cosines = [f"cos {c:.2f}" if c is not None else "–" for c in outcome.final["cosine"]]
    ax.set_yticks([size * (i + 0.5) for i in range(IMAGES)], cosines, fontsize=6)
    ax.tick_params(length=0)
    ax.xaxis.tick_top()
    ax.set_title(f"{label}: gradient paths x + ε∇ₓD(x), seed {outcome.task.seed}", fontsize=8)
    name = f"paths_{outcome.task.cell}"
    workspace.figure(fig, name, f"{label}: each noise image, its gradient, the path along it and its OT target")


def _mosaic(rows: list[list[np.ndarray]], pad: int = 2) -> tuple[np.ndarray, int]:
    """Images ``(H, W, 3)`` in [0, 1] laid out in a grid with white gaps: one array for one ``imshow``."""
    h, w, _ = rows[0][0].shape
    size = h + pad
    out = np.ones((len(rows) * size, len(rows[0]) * size, 3))
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            out[i * size : i * size + h, j * size : j * size + w] = image
    return out, size


def _cosines(workspace: Workspace, summary: dict[str, Any]) -> None:
    fig = new_figure(6.5, 3.6)
    ax = fig.subplots()
    shown = [m for m in METHODS if m in summary]  # the methods run (all, unless --cells chose some)
    labels = [summary[m]["label"] for m in shown]
    values = [[v for v in summary[m]["cosines"] if v is not None and np.isfinite(v)] or [np.nan] for m in shown]
    for k, row in enumerate(values):
        ax.scatter(np.full(len(row), k) + np.linspace(-0.15, 0.15, len(row)), row, s=12)
    ax.boxplot(values, positions=range(len(values)), widths=0.5, showfliers=False)
    ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=7, ha="right")
    ax.set_ylabel("cos(∇ₓD(x), y_OT − x)")
    ax.set_ylim(-1.05, 1.05)
    ax.axhline(1.0, color="0.6", lw=0.5)
    ax.set_title("Cosine between the critic's gradient and the OT direction, per noise image", fontsize=9)
    workspace.figure(fig, "cosines", "Cosine between ∇ₓD at each noise image and the direction to its OT target")
