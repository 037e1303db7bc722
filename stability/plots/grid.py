"""The measures grid: every toy of ``003_…`` under every penalty measure of Table 1.

Rows: Dirac GAN (Definition 5 / Lemma 1), the ψx² toy (Lemma 2), the Lemma 3
system (D₂ = ψx² on Dirac data). Columns: no penalty (WGAN), p_d, p_g, μ_GP,
μ_mid, μ_g,anc and the non-zero-centred WGAN-GP form (‖∇ₓD‖ − 1)² on μ_GP,
whose flow is discontinuous where ∇ₓD = 0 (drawn with sign(0) = 0 and
annotated as non-smooth).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from tqdm.auto import tqdm

from stability.plots.fields import TOY_TITLES, is_nonsmooth, toy_field
from stability.plots.marks import EquilibriumMark, draw_equilibria, find_marks
from stability.plots.portrait import annotate, draw_flowlines, draw_nullclines, nullclines
from stability.plots.style import PSI_LABEL, THETA_LABEL, figure_legend
from stability.spec.measures import MEASURES


@dataclass(frozen=True)
class Column:
    """A penalty: measure name (``None`` = WGAN), form, and its header."""

    key: str
    measure: str | None
    form: str
    title: str


@dataclass(frozen=True)
class Row:
    """A toy system and the box it is drawn in."""

    toy: str
    title: str
    box: tuple[float, float, float, float]


COLUMNS: tuple[Column, ...] = (
    Column("wgan", None, "simple", "no penalty (WGAN)"),
    *(
        Column(name, name, "simple", rf"$\mu = {MEASURES[name].tex}$")
        for name in ("p_d", "p_g", "mu_gp", "mu_mid", "mu_anchor")
    ),
    Column("wgan_gp", "mu_gp", "gp", r"WGAN-GP $(\|\nabla_x D\|-1)^2$, $\mu_{GP}$"),
)

ROWS: tuple[Row, ...] = (
    Row("dirac", TOY_TITLES["dirac"], (-2.0, 2.0, -2.0, 2.0)),
    Row("psi_x2", TOY_TITLES["psi_x2"], (-2.0, 2.0, -2.0, 2.0)),
    Row("lemma3", TOY_TITLES["lemma3"], (-2.0, 2.0, -2.0, 2.0)),
)


def measures_grid(
    rho: Any = 1,
    anchor: Any = 2,
    rows: Sequence[Row] = ROWS,
    columns: Sequence[Column] = COLUMNS,
    *,
    seeds: int = 9,
    panel_size: tuple[float, float] = (2.5, 2.35),
    progress: bool = True,
    summary: dict | None = None,
) -> tuple[Figure, np.ndarray]:
    """Phase portraits of every (toy, penalty) pair: streamlines, nullclines, equilibria by class.

    Args:
        rho: penalty weight ρ of every penalised column.
        anchor: the anchor A of μ_g,anc.
        rows: the toy systems to draw (default: the issue's 3 rows).
        columns: the penalties to draw (default: the issue's 7 columns).
        seeds: flow lines per axis in each panel (see :func:`~stability.plots.portrait.draw_flowlines`).
        panel_size: inches per panel.
        progress: tqdm bar over the panels.
        summary: if a dict is given, it is filled with the equilibria per panel
            (``{"dirac/p_d": [mark.to_dict(), ...]}``) for reports.

    Returns:
        ``(figure, axes)`` with ``axes`` of shape (len(rows), len(columns)).
    """
    n_rows, n_cols = len(rows), len(columns)
    width, height = panel_size[0] * n_cols + 0.9, panel_size[1] * n_rows + 1.3
    fig = Figure(figsize=(width, height))  # fixed margins: a layout engine costs seconds on 21 panels
    fig.subplots_adjust(
        left=0.75 / width, right=1 - 0.15 / width, bottom=0.95 / height, top=1 - 0.55 / height, wspace=0.08, hspace=0.08
    )
    same_box = len({row.box for row in rows}) == 1
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False, sharex="col", sharey=True if same_box else "row"))
    panels = [(i, j) for i in range(n_rows) for j in range(n_cols)]
    bar = tqdm(panels, desc="measures grid", disable=None if progress else True, leave=False)
    for i, j in bar:
        row, column = rows[i], columns[j]
        bar.set_postfix_str(f"{row.toy}/{column.key}")
        ax = axes[i, j]
        field_ = toy_field(row.toy, column.measure, rho=rho, form=column.form, anchor=anchor)
        draw_flowlines(ax, field_, row.box, seeds)
        draw_nullclines(ax, nullclines(field_, row.box, resolution=101))
        marks: list[EquilibriumMark] = find_marks(field_, row.box)
        draw_equilibria(ax, marks, size=6.5)
        if summary is not None:
            summary[f"{row.toy}/{column.key}"] = [m.to_dict() for m in marks]
        if is_nonsmooth(field_):
            annotate(ax, "non-smooth: flow jumps where\n$\\nabla_x D = 0$ (sign(0) = 0 drawn)")
        ax.set_xlim(row.box[0], row.box[1])
        ax.set_ylim(row.box[2], row.box[3])
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(5, integer=True))
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.set_title(column.title, fontsize=9)
        if j == 0:
            ax.set_ylabel(f"{row.title}\n{THETA_LABEL}", fontsize=9)
        if i == n_rows - 1:
            ax.set_xlabel(PSI_LABEL, fontsize=9)
    figure_legend(fig, axes.ravel(), ncol=6, loc="lower center", bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(
        f"Penalty measures across the toy systems of Kim et al. (ρ = {_number(rho)}, anchor A = {_number(anchor)})",
        fontsize=11,
        y=1 - 0.12 / height,
        va="top",
    )
    return fig, axes


def _number(value: Any) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)
