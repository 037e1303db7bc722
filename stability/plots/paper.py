"""Figures of the paper ``003_…``, reproduced from the spec.

:func:`figure3` — Figure 3: the phase portrait of the Lemma 3 system
(D₂ = ψx², p_d = δ₀, p_θ = δ_θ, μ_GP) with ρ = 3/8. Its flow (Appendix B) is
ψ̇ = −θ² − (4/3)ρψθ², θ̇ = 2ψθ: the nullclines are ψ = 0 (θ̇ = 0) and
ψ = −3/(4ρ) = −2 (ψ̇ = 0), and the whole ψ-axis θ = 0 is equilibria. The
regions A, B, C are read from the caption's four cases: A = {ψ < −3/(4ρ)}
(curves stay there), B = {−3/(4ρ) < ψ < 0} (curves stay there and converge to
some (b, 0), b < 0), C = {ψ > 0} (curves cross ψ = 0 perpendicularly into B).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from stability.plots.fields import toy_field
from stability.plots.marks import find_marks
from stability.plots.portrait import nullclines, phase_portrait
from stability.plots.style import figure_legend, legend_unique
from stability.spec.expressions import exact_value

#: ρ of Figure 3.
FIGURE3_RHO = sympy.Rational(3, 8)
FIGURE3_BOX = (-4.0, 2.0, -3.0, 3.0)


def figure3_starts(rho: Any = FIGURE3_RHO) -> list[tuple[float, float]]:
    """Starts of the drawn solution curves: in A, on the nullcline ψ = −3/(4ρ), in B and in C."""
    wall = -3 / (4 * float(rho))
    return [
        (wall - 1.5, 2.5),
        (wall - 1.0, -1.5),  # area A
        (wall, 2.6),  # on the nullcline psi = -3/(4 rho): converges to (-3/(4 rho), 0)
        (wall / 2, 2.5),
        (wall / 4, -2.0),  # area B
        (1.2, 0.8),
        (0.6, -1.2),  # area C: crosses psi = 0, converges to (b, 0) with b < 0
    ]


def figure3(
    rho: Any = FIGURE3_RHO,
    ax: Axes | None = None,
    box: tuple[float, float, float, float] = FIGURE3_BOX,
    t_max: float = 30.0,
    lr: float | None = None,
) -> tuple[Figure, Axes]:
    """Figure 3 of ``003_…``: the Lemma 3 phase portrait with its nullclines and areas A, B, C.

    Args:
        rho: penalty weight (3/8 in the paper).
        ax: draw into this axes, or a new figure.
        box: (ψmin, ψmax, θmin, θmax).
        t_max: horizon of the solution curves.
        lr: also draw simultaneous and alternating GD from one start in C.

    Returns:
        ``(figure, axes)``.
    """
    field_ = toy_field("lemma3", "mu_gp", rho=rho)
    wall = -3 / (4 * float(rho))
    fig, ax = phase_portrait(
        field_,
        box,
        ax if ax is not None else Figure(figsize=(6.4, 6.4), layout="constrained").add_subplot(),
        resolution=51,
        density=1.1,
        starts=figure3_starts(rho),
        t_max=t_max,
        lr=lr,
        gd_starts=[(1.2, 0.8)] if lr else None,
        gd_steps=150,
        marks=find_marks(field_, box),
        legend=False,
        title=rf"Figure 3 of Kim et al.: Lemma 3, $(D_2 = \psi x^2, \delta_0, \delta_\theta, \mu_{{GP}})$, "
        rf"$\rho = {sympy.latex(exact_value(rho, 'rho'))}$",
    )
    ax.title.set_fontsize(10)
    ax.axvspan(box[0], wall, color="#e5f5e0", alpha=0.5, zorder=0)
    ax.axvspan(wall, 0.0, color="#deebf7", alpha=0.5, zorder=0)
    ax.axvspan(0.0, box[1], color="#fee6ce", alpha=0.5, zorder=0)
    top = box[3] - 0.08 * (box[3] - box[2])
    for name, x in (("A", (box[0] + wall) / 2), ("B", wall / 2), ("C", box[1] / 2)):
        ax.text(
            x,
            top,
            name,
            fontsize=16,
            fontweight="bold",
            ha="center",
            va="center",
            zorder=9,
            bbox={"boxstyle": "circle,pad=0.2", "facecolor": "white", "edgecolor": "#444444"},
        )
    ax.text(
        -0.06, box[2] + 0.2, r"$\psi = 0$", rotation=90, fontsize=9, color="#01665e", va="bottom", ha="right", zorder=9
    )
    ax.text(
        wall - 0.06,
        box[2] + 0.2,
        rf"$\psi = -\frac{{3}}{{4\rho}} = {wall:g}$",
        rotation=90,
        fontsize=9,
        color="#8c510a",
        va="bottom",
        ha="right",
        zorder=9,
    )
    if ax is fig.axes[0] and len(fig.axes) == 1:
        figure_legend(fig, [ax], ncol=3)
    else:
        legend_unique(ax, loc="lower right", fontsize=7, framealpha=0.9)
    return fig, ax


def figure3_nullcline_positions(
    rho: Any = FIGURE3_RHO,
    box: tuple[float, float, float, float] = FIGURE3_BOX,
    resolution: int = 201,
    margin: float = 0.1,
) -> dict[str, list[float]]:
    """Where the nullclines of the Lemma 3 flow cross the plane off the equilibrium axis θ = 0.

    The distinct ψ (rounded to 1e-9) of every nullcline vertex with |θ| > ``margin``, as
    found on a grid by :func:`~stability.plots.portrait.nullclines`. Appendix B predicts
    ``{"psi_dot": [-3/(4ρ)], "theta_dot": [0]}``.
    """
    lines = nullclines(toy_field("lemma3", "mu_gp", rho=rho), box, resolution)
    out: dict[str, list[float]] = {}
    for name, pieces in lines.items():
        vertices = np.concatenate(pieces) if pieces else np.empty((0, 2))
        off_axis = vertices[np.abs(vertices[:, 1]) > margin]
        out[name] = sorted({round(float(v), 9) + 0.0 for v in off_axis[:, 0]})
    return out
