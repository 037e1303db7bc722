"""Basin-of-attraction pictures, with the Lemma 1 radius R of ``003_…``.

The numbers come from :func:`stability.analysis.trajectories.basin_of_attraction`;
this module colours each grid start by the equilibrium it converges to (or
"does not converge") and draws the disk of radius R that Lemma 1 guarantees
to lie inside the basin of the origin of the Dirac GAN with mass M(ψ, θ).
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Patch

from stability.analysis.trajectories import NO_CONVERGENCE, BasinEstimate
from stability.plots.portrait import draw_streamlines
from stability.plots.style import label_plane, new_axes
from stability.symbolic.field import SymbolicField

#: Colours of the basins (one per target equilibrium); "does not converge" is light grey.
BASIN_COLORS = ("#a6dba0", "#92c5de", "#fdb863", "#c2a5cf", "#f4a582", "#80cdc1", "#dfc27d")
NO_CONVERGENCE_COLOR = "#e8e8e8"


def plot_basin(
    estimate: BasinEstimate,
    ax: Axes | None = None,
    *,
    radius: float | None = None,
    center: tuple[float, float] = (0.0, 0.0),
    field_: SymbolicField | None = None,
    title: str | None = None,
    legend: bool = True,
) -> tuple[Figure, Axes]:
    """Colour grid starts by their limit; optionally the Lemma 1 disk and streamlines.

    Args:
        estimate: from :func:`~stability.analysis.trajectories.basin_of_attraction`.
        ax: draw into this axes, or a new figure.
        radius: Lemma 1's R (a dashed circle around ``center``); ``inf`` is noted, not drawn.
        field_: overlay faint streamlines of this flow.
        title: axes title.
        legend: draw a legend.

    Returns:
        ``(figure, axes)``.
    """
    fig, ax = new_axes(ax)
    n = len(estimate.targets)
    colors = [NO_CONVERGENCE_COLOR] + [BASIN_COLORS[k % len(BASIN_COLORS)] for k in range(n)]
    cmap = ListedColormap(colors)
    dpsi = (estimate.psi[1] - estimate.psi[0]) / 2 if len(estimate.psi) > 1 else 0.5
    dtheta = (estimate.theta[1] - estimate.theta[0]) / 2 if len(estimate.theta) > 1 else 0.5
    extent = (estimate.psi[0] - dpsi, estimate.psi[-1] + dpsi, estimate.theta[0] - dtheta, estimate.theta[-1] + dtheta)
    ax.imshow(
        estimate.labels + 1,
        origin="lower",
        extent=extent,
        cmap=cmap,
        vmin=-0.5,
        vmax=n + 0.5,
        interpolation="nearest",
        aspect="auto",
        zorder=0,
    )
    handles = [
        Patch(facecolor=colors[k + 1], edgecolor="none", label=f"→ {target}")
        for k, target in enumerate(estimate.targets)
        if np.any(estimate.labels == k)
    ]
    if np.any(estimate.labels == NO_CONVERGENCE):
        handles.append(
            Patch(
                facecolor=NO_CONVERGENCE_COLOR,
                edgecolor="#999999",
                label=f"does not converge (t ≤ {estimate.horizon:g})",
            )
        )
    if field_ is not None:
        box = (estimate.psi[0], estimate.psi[-1], estimate.theta[0], estimate.theta[-1])
        draw_streamlines(ax, field_, box, resolution=31, density=0.8)
    if radius is not None and np.isfinite(radius):
        ax.add_patch(
            Circle(
                center,
                radius,
                fill=False,
                linestyle="--",
                linewidth=2.0,
                edgecolor="black",
                zorder=5,
                label=f"Lemma 1 ball, R = {radius:.4g}",
            )
        )
        handles.append(ax.patches[-1])
    elif radius is not None:
        ax.text(0.02, 0.98, "Lemma 1: R = ∞ (global basin)", transform=ax.transAxes, va="top", fontsize=8)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal", adjustable="box")
    label_plane(ax)
    ax.set_title(title or "Basin of attraction")
    if legend:
        ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.9)
    return fig, ax
