"""One visual vocabulary for every figure: class colours, markers, line styles.

Equilibria are marked by their class (:mod:`stability.analysis.linear`): **filled**
markers for stable classes (:data:`~stability.analysis.linear.STABLE_CLASSES`),
**hollow** ones for unstable, saddle, center and non-hyperbolic points, and a
line for a continuum of equilibria (solid where it attracts, dashed where it
repels). Colours are from the Okabe–Ito colour-blind-safe palette.

Figures are :class:`matplotlib.figure.Figure` objects created without pyplot,
so drawing never needs a display (headless-safe, no global backend state).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from stability.analysis.linear import (
    CENTER,
    NON_HYPERBOLIC,
    SADDLE,
    STABLE_CLASSES,
    STABLE_FOCUS,
    STABLE_NODE,
    UNSTABLE_FOCUS,
    UNSTABLE_NODE,
)
from stability.util.atomic import atomic_save

#: Marker style per equilibrium class: colour and marker shape.
CLASS_STYLE: dict[str, dict[str, str]] = {
    STABLE_NODE: {"color": "#009E73", "marker": "o"},
    STABLE_FOCUS: {"color": "#0072B2", "marker": "o"},
    UNSTABLE_NODE: {"color": "#D55E00", "marker": "o"},
    UNSTABLE_FOCUS: {"color": "#E69F00", "marker": "o"},
    SADDLE: {"color": "#CC79A7", "marker": "s"},
    CENTER: {"color": "#000000", "marker": "D"},
    NON_HYPERBOLIC: {"color": "#7f7f7f", "marker": "^"},
    "non-smooth point": {"color": "#8c510a", "marker": "X"},
}

#: Line style of a continuum of equilibria by its transverse behaviour.
CONTINUUM_STYLE: dict[str, dict] = {
    "attracting": {"color": "#009E73", "linestyle": "-", "linewidth": 3.0, "alpha": 0.9},
    "repelling": {"color": "#D55E00", "linestyle": "--", "linewidth": 3.0, "alpha": 0.9},
    "neutral": {"color": "#7f7f7f", "linestyle": ":", "linewidth": 3.0, "alpha": 0.8},
}

#: Nullclines ψ̇ = 0 and θ̇ = 0.
NULLCLINE_STYLE: dict[str, dict] = {
    "psi_dot": {"color": "#8c510a", "linestyle": "--", "linewidth": 1.6, "label": r"nullcline $\dot\psi = 0$"},
    "theta_dot": {"color": "#01665e", "linestyle": "-.", "linewidth": 1.6, "label": r"nullcline $\dot\theta = 0$"},
}

#: Trajectories: the continuous flow and discrete gradient descent.
TRAJECTORY_STYLE: dict[str, dict] = {
    "flow": {"color": "#000000", "linestyle": "-", "linewidth": 1.4, "label": "flow (solve_ivp)"},
    "simultaneous": {
        "color": "#D55E00",
        "linestyle": "-",
        "linewidth": 0.8,
        "marker": ".",
        "markersize": 3,
        "label": "simultaneous GD",
    },
    "alternating": {
        "color": "#0072B2",
        "linestyle": "-",
        "linewidth": 0.8,
        "marker": ".",
        "markersize": 3,
        "label": "alternating GD",
    },
}

STREAM_COLOR = "#b0b0b0"
PSI_LABEL = r"$\psi$ (discriminator)"
THETA_LABEL = r"$\theta$ (generator)"


def is_stable(classification: str) -> bool:
    """Filled markers are for the stable classes."""
    return classification in STABLE_CLASSES


def marker_kwargs(classification: str, size: float = 8.0) -> dict:
    """``Axes.plot`` keywords for one equilibrium marker of a class."""
    style = CLASS_STYLE.get(classification, CLASS_STYLE[NON_HYPERBOLIC])
    return {
        "marker": style["marker"],
        "markersize": size,
        "markeredgecolor": style["color"],
        "markerfacecolor": style["color"] if is_stable(classification) else "white",
        "markeredgewidth": 1.8,
        "linestyle": "none",
        "zorder": 6,
    }


def new_axes(ax: Axes | None = None, figsize: tuple[float, float] = (5.0, 4.5)) -> tuple[Figure, Axes]:
    """``(figure, axes)``: the given axes and its figure, or a new headless figure."""
    if ax is not None:
        return ax.figure, ax
    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.add_subplot()


def label_plane(ax: Axes, names: Sequence[str] = ("psi", "theta")) -> None:
    """Axis labels ψ and θ (or the spec's parameter names)."""
    pretty = {"psi": PSI_LABEL, "theta": THETA_LABEL}
    ax.set_xlabel(pretty.get(names[0], names[0]))
    ax.set_ylabel(pretty.get(names[1], names[1]))


_LEGEND_ORDER = (
    "nullcline",
    "stable",
    "unstable",
    "saddle",
    "center",
    "non-hyperbolic",
    "non-smooth",
    "equilibria, continuum",
    "flow",
    "simultaneous",
    "alternating",
    "start",
)


def legend_rank(label: str) -> tuple[int, str]:
    """Sort key of legend entries: nullclines, classes, continua, trajectories."""
    for rank, prefix in enumerate(_LEGEND_ORDER):
        if label.startswith(prefix):
            return rank, label
    return len(_LEGEND_ORDER), label


def legend_unique(ax: Axes, **kwargs) -> None:
    """A legend with one entry per label (repeated artists merged), in a fixed order."""
    handles, labels = ax.get_legend_handles_labels()
    unique: dict[str, object] = {}
    for handle, label in zip(handles, labels):
        unique.setdefault(label, handle)
    if unique:
        ordered = sorted(unique, key=legend_rank)
        ax.legend([unique[k] for k in ordered], ordered, **kwargs)


def figure_legend(
    figure: Figure,
    axes: Sequence[Axes],
    ncol: int = 5,
    fontsize: float = 8,
    loc: str = "outside lower center",
    **kwargs,
) -> None:
    """One legend for all panels, below them (unique labels, fixed order)."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    labels = sorted(handles, key=legend_rank)
    if labels:
        figure.legend(
            [handles[k] for k in labels],
            labels,
            loc=loc,
            ncol=min(ncol, len(labels)),
            fontsize=fontsize,
            frameon=False,
            **kwargs,
        )


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save by the file's extension (``.png``, ``.pdf``, ``.svg``), written atomically.

    The figure is drawn to a temporary file next to the target and moved into
    place with ``os.replace``, so a crash never leaves a half-written figure.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    return atomic_save(path, lambda handle: figure.savefig(handle, format=fmt, dpi=dpi), fsync=False)
