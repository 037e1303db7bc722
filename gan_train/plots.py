"""Plots of 2-D runs (matplotlib, Agg backend).

One figure per snapshot, in the manner of Figure 3 of ``004_…``: filled level
sets of the critic D over a grid, training samples (red), generated samples
(blue), and the gradient ∇ₓD at a subset of generated points (black arrows):
the direction in which the generator's samples are pushed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from stability.util.atomic import atomic_save  # noqa: E402


def critic_on_grid(critic: nn.Module, extent: float, n: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D on an ``n × n`` grid of [−extent, extent]²: ``(xs, ys, values)`` with values ``(n, n)``."""
    xs = np.linspace(-extent, extent, n)
    gx, gy = np.meshgrid(xs, xs)
    device = next(critic.parameters()).device
    points = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32, device=device)
    with torch.no_grad():
        values = critic(points).double().cpu().numpy().reshape(n, n)
    return xs, xs, values


def critic_gradients(critic: nn.Module, points: torch.Tensor) -> np.ndarray:
    """∇ₓD at ``points`` (``(B, 2)``), as a ``(B, 2)`` array."""
    device = next(critic.parameters()).device
    x = points.detach().to(device).clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return grad.cpu().numpy()


def plot_snapshot(
    path: str | Path,
    critic: nn.Module | None,
    data: np.ndarray,
    generated: np.ndarray,
    extent: float,
    title: str = "",
    arrows: int = 128,
) -> Path:
    """Save the level sets of ``critic`` with data, samples and gradient arrows to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 6))
    if critic is not None:
        xs, ys, values = critic_on_grid(critic, extent)
        contour = ax.contourf(xs, ys, values, levels=30, cmap="viridis", alpha=0.85)
        fig.colorbar(contour, ax=ax, fraction=0.046, pad=0.04, label="D(x)")
    ax.scatter(data[:, 0], data[:, 1], s=4, c="red", alpha=0.5, label="data")
    ax.scatter(generated[:, 0], generated[:, 1], s=4, c="blue", alpha=0.5, label="generated")
    if critic is not None and arrows > 0:
        pts = torch.tensor(generated[:arrows], dtype=torch.float32)
        grad = critic_gradients(critic, pts)
        ax.quiver(pts[:, 0], pts[:, 1], grad[:, 0], grad[:, 1], color="black", width=0.003, alpha=0.8)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    atomic_save(path, lambda handle: fig.savefig(handle, format=Path(path).suffix.lstrip(".").lower(), dpi=100))
    plt.close(fig)
    return path
