"""Stability maps of update rules and the fastest rate each rule reaches.

A stability map (:class:`~stability.analysis.discrete.StabilityMap`) is the spectral radius of a rule's linearised
map over a grid of two hyper-parameters (step × momentum, step × ρ, step × n_critic, …): drawn as a colour field with
the radius-1 contour (inside it the rule converges locally) and the grid's best point starred, one panel per penalty
measure. :func:`rate_bars` draws the fastest rate per gradient evaluation each rule reaches, per measure and toy.
:func:`update_rules_figure` is the figure beside the paper in the ``ganstab lemmas`` report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

#: Radii drawn above this are clipped to it (diverging rules would swamp the colour scale).
RADIUS_CEILING = 1.5
#: Okabe–Ito colours for the rules' bars.
RULE_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

_AXIS_LABELS = {"step": r"step $h$ (lr$_d$)", "momentum": r"momentum $\beta$", "rho": r"penalty weight $\rho$"}


def draw_stability_map(ax: Axes, smap: Any, title: str | None = None, colorbar: bool = True) -> Any:
    """One panel: radius colours (clipped at :data:`RADIUS_CEILING`), the radius-1 contour, the best point."""
    X, Y = np.meshgrid(smap.x, smap.y)
    radius = np.clip(np.asarray(smap.radius, dtype=float), 0, RADIUS_CEILING)
    mesh = ax.pcolormesh(X, Y, radius, shading="nearest", cmap="viridis", norm=Normalize(0, RADIUS_CEILING))
    mesh.set_rasterized(True)
    finite = np.isfinite(radius)
    if finite.any() and radius[finite].min() < 1 < radius[finite].max():
        ax.contour(X, Y, np.where(finite, radius, RADIUS_CEILING), levels=[1.0], colors="white", linewidths=1.6)
        ax.plot([], [], color="white", linewidth=1.6, label="radius 1")
    if smap.best is not None:
        ax.plot(
            smap.best["x"], smap.best["y"], marker="*", markersize=13, color="#D55E00", markeredgecolor="black",
            linestyle="none", label=f"{'fastest' if smap.best.get('refined') else 'grid best'}: radius "
            f"{smap.best['radius']:.3g}",
        )  # fmt: skip
    if smap.x_log:
        ax.set_xscale("log")
    if smap.y_log:
        ax.set_yscale("log")
    ax.set_xlabel(_AXIS_LABELS.get(smap.x_name, smap.x_name))
    ax.set_ylabel(_AXIS_LABELS.get(smap.y_name, smap.y_name))
    if title:
        ax.set_title(title, fontsize=10)
    legend = ax.legend(loc="lower left", fontsize=7, framealpha=0.85)
    legend.set_zorder(10)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label="spectral radius of the update", shrink=0.9)
    return mesh


def stability_map_figure(maps: Sequence[tuple[str, Any]], suptitle: str | None = None) -> tuple[Figure, list[Axes]]:
    """One panel per ``(title, map)`` in a row (wrapped at three), one colour bar."""
    count = max(len(maps), 1)
    columns = min(count, 3)
    rows = (count + columns - 1) // columns
    figure = Figure(figsize=(4.3 * columns + 0.8, 3.7 * rows), layout="constrained")
    axes = [figure.add_subplot(rows, columns, i + 1) for i in range(count)]
    mesh = None
    for ax, (title, smap) in zip(axes, maps):
        mesh = draw_stability_map(ax, smap, title, colorbar=False)
    if mesh is not None:
        figure.colorbar(mesh, ax=axes, label="spectral radius of the update (clipped at 1.5)", shrink=0.9)
    if suptitle:
        figure.suptitle(suptitle, fontsize=11)
    return figure, axes


def rate_bars(
    ax: Axes, rates: dict[str, dict[str, float | None]], rules: Sequence[str], title: str | None = None
) -> None:
    """Grouped bars: per measure (groups) 1 − the fastest rate per gradient evaluation of each rule (bars).

    ``rates[measure][rule]`` is the rate radius^(1/G) (G the gradient evaluations per map step; lower is faster) or
    ``None`` when no step contracts (marked × on the axis). The bar is 1 − rate, so higher is faster and a rule that
    converges in finitely many steps (rate 0, a nilpotent map) reaches 1.
    """
    measures = list(rates)
    width = 0.8 / max(len(rules), 1)
    for j, rule in enumerate(rules):
        xs = np.arange(len(measures)) + (j - (len(rules) - 1) / 2) * width
        values = [rates[m].get(rule) for m in measures]
        color = RULE_COLORS[j % len(RULE_COLORS)]
        ax.bar(xs, [0.0 if v is None else 1 - v for v in values], width, color=color, label=rule, edgecolor="white")
        none = [x for x, v in zip(xs, values) if v is None]
        if none:  # an empty unclipped line has an unbounded extent: constrained layout then collapses every axes
            ax.plot(none, [0.0] * len(none), linestyle="none", marker="x", color=color, markersize=5, clip_on=False)
    ax.set_xticks(np.arange(len(measures)), measures, fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("1 − fastest rate per gradient", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)


def update_rules_figure(summary: dict[str, Any]) -> Figure:
    """The report figure: fastest rates per toy (top row) and the two stability maps (bottom row).

    ``summary`` is :func:`stability.analysis.tuning.paper_update_summary`'s result.
    """
    from stability.plots.fields import MEASURE_TITLES, TOY_TITLES

    toys, maps = summary["toys"], summary["maps"]
    figure = Figure(figsize=(15, 9), layout="constrained")
    rows = figure.subfigures(2, 1, height_ratios=[1, 1.05])
    top = rows[0].subplots(1, len(toys))
    for ax, toy in zip(np.atleast_1d(top), toys):
        rates = {MEASURE_TITLES.get(m, m): values for m, values in toy["rates"].items()}
        rate_bars(ax, rates, summary["rules"], TOY_TITLES.get(toy["toy"], toy["toy"]))
    rows[0].legend(
        *np.atleast_1d(top)[0].get_legend_handles_labels(), loc="outside right center", fontsize=8, title="rule"
    )
    rows[0].suptitle("Fastest local rate per gradient evaluation (× : no step contracts)", fontsize=10)
    bottom = np.atleast_1d(rows[1].subplots(1, max(len(maps), 1)))
    mesh = None
    for ax, (title, smap) in zip(bottom, maps):
        mesh = draw_stability_map(ax, smap, title, colorbar=False)
    if mesh is not None:
        rows[1].colorbar(mesh, ax=list(bottom), label="spectral radius (clipped at 1.5)", shrink=0.9)
    return figure
