"""Phase portraits: streamlines, nullclines, classified equilibria, trajectories.

The picture of a planar flow (ψ̇, θ̇) of Definition 4 of ``003_…``:
streamlines of the lambdified field, the nullclines ψ̇ = 0 and θ̇ = 0, the
equilibria marked by class, and optionally trajectories of the continuous
flow (``solve_ivp``) and of simultaneous / alternating gradient descent at a
learning rate h. Figure 3 of ``003_…`` (Lemma 3) is one such portrait
(:func:`stability.plots.paper.figure3`).
"""

from __future__ import annotations

from collections.abc import Sequence

import contourpy
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from stability.analysis.trajectories import Trajectory, evaluate_flow, flow_trajectory, gd_trajectory
from stability.plots.fields import as_field, is_nonsmooth, nonsmooth_label, require_plane
from stability.plots.marks import EquilibriumMark, draw_equilibria, find_marks
from stability.plots.style import (
    NULLCLINE_STYLE,
    STREAM_COLOR,
    TRAJECTORY_STYLE,
    label_plane,
    legend_unique,
    new_axes,
)
from stability.spec.system import GanSystem
from stability.symbolic.field import SymbolicField

Box = Sequence[float]


def grid(box: Box, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """A (ψ, θ) meshgrid over ``box`` = (ψmin, ψmax, θmin, θmax), shape (resolution, resolution)."""
    psi = np.linspace(box[0], box[1], resolution)
    theta = np.linspace(box[2], box[3], resolution)
    return np.meshgrid(psi, theta)


def nullclines(
    field_: SymbolicField, box: Box, resolution: int = 201, jump_tol: float = 2e-3
) -> dict[str, list[np.ndarray]]:
    """The zero sets of ψ̇ and θ̇ inside ``box`` as polylines.

    Zero crossings of each component on a grid (``contourpy``, linear
    interpolation), then every vertex is checked on the flow itself, at the
    vertex and a hair's breadth to each side: where |F_i| > ``jump_tol`` ·
    max|F_i| on either side, the crossing is a jump of a discontinuous field
    (WGAN-GP at ∇ₓD = 0), not a zero, and the polyline is cut there.
    Zeros of even multiplicity (θ² = 0) do not change sign and are not found;
    they are equilibria and drawn as such.

    Returns:
        ``{"psi_dot": [array (n, 2), ...], "theta_dot": [...]}`` with (ψ, θ) columns.
    """
    require_plane(field_)
    P, T = grid(box, resolution)
    values = evaluate_flow(field_, P, T)
    out: dict[str, list[np.ndarray]] = {}
    for name, Z in zip(("psi_dot", "theta_dot"), values):
        scale = float(np.max(np.abs(Z))) if Z.size else 0.0
        lines: list[np.ndarray] = []
        if scale > 0:
            generator = contourpy.contour_generator(P, T, Z, line_type="Separate")
            component = 0 if name == "psi_dot" else 1
            delta = 1e-7 * max(abs(v) for v in box) or 1e-7
            for line in generator.lines(0.0):
                # a zero of a continuous component is small on both sides of the vertex; at a jump one side is not
                near = [
                    evaluate_flow(field_, line[:, 0] + dx, line[:, 1] + dy)[component]
                    for dx, dy in ((0, 0), (delta, 0), (-delta, 0), (0, delta), (0, -delta))
                ]
                good = np.max(np.abs(near), axis=0) <= jump_tol * scale
                lines += [piece for piece in _runs(line, good) if len(piece) >= 2]
        out[name] = lines
    return out


def _runs(line: np.ndarray, keep: np.ndarray) -> list[np.ndarray]:
    pieces, start = [], None
    for i, k in enumerate(list(keep) + [False]):
        if k and start is None:
            start = i
        elif not k and start is not None:
            pieces.append(line[start:i])
            start = None
    return pieces


def draw_streamlines(
    ax: Axes, field_: SymbolicField, box: Box, resolution: int = 41, density: float = 1.0, rasterized: bool = True
) -> None:
    """Streamlines of the flow (grey), with arrowheads as one ``quiver``.

    ``streamplot`` draws each arrowhead as its own patch, which dominates the
    time to lay out and save a figure; instead each streamline gets one
    arrowhead at its middle, all in one artist. Lines are rasterised in vector
    formats to keep PDFs light.
    """
    P, T = grid(box, resolution)
    U, V = evaluate_flow(field_, P, T)
    U, V = np.nan_to_num(U), np.nan_to_num(V)
    if not (np.any(U) or np.any(V)):
        return
    stream = ax.streamplot(
        P, T, U, V, density=density, color=STREAM_COLOR, linewidth=0.7, num_arrows=0, broken_streamlines=True
    )
    stream.lines.set_rasterized(rasterized)
    positions, directions = [], []
    for line in stream.lines.get_segments():  # one polyline per streamline
        line = np.asarray(line, dtype=float)
        if len(line) < 2:
            continue
        arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))])
        i = min(int(np.searchsorted(arc, arc[-1] / 2)), len(line) - 2)
        positions.append((line[i] + line[i + 1]) / 2)
        directions.append(line[i + 1] - line[i])
    if not positions:
        return
    width, height = box[1] - box[0], box[3] - box[2]
    where, d = np.array(positions), np.array(directions)
    d = d / np.maximum(np.hypot(d[:, 0] / width, d[:, 1] / height), 1e-300)[:, None]  # unit length in box units
    arrow = 0.02  # arrow length as a fraction of the box
    ax.quiver(
        where[:, 0],
        where[:, 1],
        arrow * d[:, 0],
        arrow * d[:, 1],
        angles="xy",
        scale_units="xy",
        scale=1,
        pivot="mid",
        color=STREAM_COLOR,
        width=0.004,
        headwidth=5,
        headlength=6,
        headaxislength=5.5,
        zorder=1,
    )


def draw_flowlines(
    ax: Axes,
    field_: SymbolicField,
    box: Box,
    seeds: int = 11,
    steps: int = 12,
    color: str = STREAM_COLOR,
    linewidth: float = 0.8,
) -> None:
    """Short flow lines through a grid of seeds, with an arrowhead at each seed (fast streamlines).

    All seeds are integrated together (midpoint rule on the direction field
    F/‖F‖ in box-normalised coordinates, forwards and backwards), so the cost
    is a few dozen vectorised evaluations of the flow — much cheaper than
    ``streamplot`` for grids of small panels. Lines stop at the box edge and
    where the flow vanishes.
    """
    from matplotlib.collections import LineCollection

    width, height = box[1] - box[0], box[3] - box[2]
    offsets = (np.arange(seeds) + 0.5) / seeds
    sx, sy = np.meshgrid(box[0] + width * offsets, box[2] + height * offsets)
    seed = np.stack([sx.ravel(), sy.ravel()])  # (2, N) in data units
    scale = np.array([[width], [height]])
    h = 0.55 / seeds / steps  # per step, in box units: each half-line spans ~0.55 of the seed spacing

    def direction(x: np.ndarray) -> np.ndarray:
        u, v = evaluate_flow(field_, x[0], x[1])
        d = np.stack([u, v]) / scale
        norm = np.linalg.norm(d, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(norm > 1e-12, d / norm, np.nan)
        return d * scale

    halves = []
    for sign in (1.0, -1.0):
        x = seed.copy()
        path = [x.copy()]
        for _ in range(steps):
            middle = x + 0.5 * sign * h * direction(x)
            x = x + sign * h * direction(middle)
            outside = (x[0] < box[0]) | (x[0] > box[1]) | (x[1] < box[2]) | (x[1] > box[3])
            x[:, outside] = np.nan
            path.append(x.copy())
        halves.append(np.stack(path))  # (steps + 1, 2, N)
    lines = np.concatenate([halves[1][::-1], halves[0][1:]])  # backward reversed, then forward
    segments = [line[np.all(np.isfinite(line), axis=1)] for line in np.moveaxis(lines, 2, 0)]
    ax.add_collection(
        LineCollection([s for s in segments if len(s) >= 2], colors=color, linewidths=linewidth, zorder=1)
    )
    d = direction(seed)  # unit length in box-normalised coordinates, data units here
    ok = np.all(np.isfinite(d), axis=0)
    arrow = 0.25 / seeds  # arrow length as a fraction of the box
    ax.quiver(
        seed[0, ok],
        seed[1, ok],
        arrow * d[0, ok],
        arrow * d[1, ok],
        angles="xy",
        scale_units="xy",
        scale=1,
        pivot="mid",
        color=color,
        width=0.006,
        headwidth=4.5,
        headlength=5,
        headaxislength=4.5,
        zorder=1,
    )


def draw_nullclines(ax: Axes, lines: dict[str, list[np.ndarray]], labels: bool = True) -> None:
    for name, pieces in lines.items():
        style = dict(NULLCLINE_STYLE[name])
        label = style.pop("label")
        for piece in pieces:
            ax.plot(piece[:, 0], piece[:, 1], zorder=3, label=label if labels else None, **style)


#: Styles of update-rule trajectories (``--update``), in order; the label is the rule's text.
RULE_STYLES = tuple(
    {"color": color, "linestyle": "-", "linewidth": 0.9, "marker": marker, "markersize": 3}
    for color, marker in (("#009E73", "."), ("#CC79A7", "x"), ("#E69F00", "+"), ("#56B4E9", "."), ("#000000", "x"))
)


def draw_trajectory(
    ax: Axes, trajectory: Trajectory, label: str | None = None, start_marker: bool = True, style: dict | None = None
) -> None:
    style = dict(style) if style is not None else dict(TRAJECTORY_STYLE[trajectory.method])
    default_label = style.pop("label", trajectory.method)
    if trajectory.step is not None and trajectory.method in TRAJECTORY_STYLE:  # a rule's text names its own step
        default_label += f" (h = {trajectory.step:g})"
    states = trajectory.states
    ax.plot(states[:, 0], states[:, 1], zorder=4, label=label or default_label, **style)
    if start_marker:
        ax.plot(
            states[0, 0],
            states[0, 1],
            marker="*",
            color="black",
            markersize=10,
            linestyle="none",
            zorder=7,
            label="start",
        )
    if trajectory.method == "flow" and len(states) > 10:
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(states, axis=0), axis=1))])
        if arc[-1] > 0:
            i = min(int(np.searchsorted(arc, 0.45 * arc[-1])), len(states) - 2)
            ax.annotate(
                "",
                xy=states[i + 1],
                xytext=states[i],
                zorder=4,
                arrowprops={"arrowstyle": "-|>", "color": style["color"], "lw": 1.2, "mutation_scale": 14},
            )


def default_starts(box: Box, count: int = 4) -> list[tuple[float, float]]:
    """Start points spread over the box (off its centre and axes)."""
    cx, cy = (box[0] + box[1]) / 2, (box[2] + box[3]) / 2
    rx, ry = (box[1] - box[0]) / 2, (box[3] - box[2]) / 2
    angles = np.linspace(0.3, 0.3 + 2 * np.pi, count, endpoint=False)
    return [(cx + 0.6 * rx * np.cos(a), cy + 0.6 * ry * np.sin(a)) for a in angles]


def phase_portrait(
    spec: SymbolicField | GanSystem,
    box: Box = (-3.0, 3.0, -3.0, 3.0),
    ax: Axes | None = None,
    *,
    resolution: int = 41,
    density: float = 1.0,
    show_nullclines: bool = True,
    marks: Sequence[EquilibriumMark] | None = None,
    show_equilibria: bool = True,
    starts: Sequence[Sequence[float]] | None = (),
    t_max: float = 20.0,
    lr: float | None = None,
    gd_starts: Sequence[Sequence[float]] | None = None,
    gd_steps: int = 100,
    gd_methods: Sequence[str] = ("simultaneous", "alternating"),
    rules: Sequence[object] = (),
    title: str | None = None,
    legend: bool = True,
    annotate_nonsmooth: bool = True,
) -> tuple[Figure, Axes]:
    """Draw the phase portrait of a planar GAN flow.

    Args:
        spec: a :class:`GanSystem` or its :class:`SymbolicField` (one ψ, one θ).
        box: (ψmin, ψmax, θmin, θmax).
        ax: draw into this axes (compose your own figures); a new figure otherwise.
        resolution: grid points per axis for the streamlines.
        density: streamline density.
        show_nullclines: draw ψ̇ = 0 and θ̇ = 0.
        marks: precomputed :func:`find_marks` (the search runs otherwise).
        show_equilibria: draw equilibria by class.
        starts: starts of continuous-flow trajectories; ``None`` = 4 default starts.
        t_max: horizon of the flow trajectories.
        lr: learning rate h of discrete GD trajectories (none drawn when ``None``).
        gd_starts: starts of the GD trajectories (default: the first flow start).
        gd_steps: number of GD steps.
        gd_methods: ``"simultaneous"`` and/or ``"alternating"``.
        rules: update rules (:mod:`stability.analysis.update_rules`, or their text) whose iterates are drawn from
            the GD starts, ``gd_steps`` steps each, at their own step size.
        title: axes title (default: the system's name).
        legend: draw a legend.
        annotate_nonsmooth: write a note on panels of non-smooth penalty forms.

    Returns:
        ``(figure, axes)``.
    """
    field_ = as_field(spec)
    names = require_plane(field_)
    fig, ax = new_axes(ax)
    draw_streamlines(ax, field_, box, resolution, density)
    if show_nullclines:
        draw_nullclines(ax, nullclines(field_, box))
    if show_equilibria:
        draw_equilibria(ax, marks if marks is not None else find_marks(field_, box))
    flow_starts = default_starts(box) if starts is None else list(starts)
    for start in flow_starts:
        trajectory = flow_trajectory(field_, start, t_max=t_max, rtol=1e-8, atol=1e-10, escape=10 * _extent(box))
        draw_trajectory(ax, trajectory)
    if lr is not None:
        if gd_starts is None:
            gd_starts = flow_starts[:1] or default_starts(box, 1)
        for start in gd_starts:
            for method in gd_methods:
                trajectory = gd_trajectory(
                    field_, start, lr, gd_steps, alternating=method == "alternating", escape=10 * _extent(box)
                )
                draw_trajectory(ax, trajectory)
    if rules:
        from stability.analysis.trajectories import rule_trajectory

        if gd_starts is None:
            gd_starts = flow_starts[:1] or default_starts(box, 1)
        for index, rule in enumerate(rules):
            for start in gd_starts:
                trajectory = rule_trajectory(field_, start, rule, gd_steps, escape=10 * _extent(box))
                draw_trajectory(ax, trajectory, style=RULE_STYLES[index % len(RULE_STYLES)])
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    label_plane(ax, names)
    ax.set_title(title if title is not None else field_.system.name)
    if annotate_nonsmooth and is_nonsmooth(field_):
        annotate(ax, nonsmooth_label(field_))
    if legend:
        legend_unique(ax, loc="upper right", fontsize=7, framealpha=0.85)
    return fig, ax


def annotate(ax: Axes, text: str) -> None:
    """A small boxed note in the lower-left corner of a panel."""
    ax.text(
        0.02,
        0.02,
        text,
        transform=ax.transAxes,
        fontsize=6.5,
        va="bottom",
        ha="left",
        wrap=True,
        zorder=8,
        bbox={"boxstyle": "round,pad=0.25", "facecolor": "#fff3cd", "edgecolor": "#c9a227", "alpha": 0.95},
    )


def _extent(box: Box) -> float:
    return float(max(abs(v) for v in box))
