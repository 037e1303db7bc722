"""Figures of spectra along training, drawn from the numbers of ``spectrum.json`` (one line per run).

* ``spectrum_vs_iteration.png``: max Re λ and max |Im λ| of the top eigenvalues of J against the iteration;
* ``eigenvalues_complex_plane.png``: the top eigenvalues in the complex plane, one panel per run, coloured by
  iteration (Re λ > 0: locally unstable flow);
* ``field_norm.png``: ‖v(ψ, θ)‖ = ‖(ψ̇, θ̇)‖ against the iteration (log scale).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from stability.plots.style import save_figure

FIGURES = ("spectrum_vs_iteration.png", "eigenvalues_complex_plane.png", "field_norm.png")


def _series(run: dict[str, Any], key: str) -> tuple[list[int], list[float]]:
    points = [(c["iteration"], c[key]) for c in run["checkpoints"] if c.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def _eigenvalues(checkpoint: dict[str, Any]) -> np.ndarray:
    values = [complex(re, im) for s in checkpoint["spectra"].values() for re, im in s["eigenvalues"]]
    return np.unique(np.asarray(values, dtype=complex))


def spectrum_figures(runs: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Draw the three figures of ``runs`` (``RunSpectra.to_dict()`` items) into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    paths = []

    figure = Figure(figsize=(10.0, 4.0), layout="constrained")
    left, right = figure.subplots(1, 2)
    for run in runs:
        left.plot(*_series(run, "max_real_part"), marker="o", markersize=3, label=run["label"])
        right.plot(*_series(run, "max_abs_imag_part"), marker="o", markersize=3, label=run["label"])
    left.axhline(0.0, color="0.6", linewidth=0.8)
    left.set(xlabel="iteration", ylabel=r"max Re $\lambda$", title="largest real part of the top eigenvalues")
    right.set(xlabel="iteration", ylabel=r"max |Im $\lambda$|", title="largest |imaginary part|")
    left.legend(fontsize=7)
    paths.append(save_figure(figure, out_dir / FIGURES[0]))

    columns = min(3, len(runs))
    rows = math.ceil(len(runs) / columns)
    figure = Figure(figsize=(4.2 * columns + 0.8, 3.8 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns)).reshape(-1)
    iterations = [c["iteration"] for run in runs for c in run["checkpoints"]]
    low, high = min(iterations), max(iterations)
    scatter = None
    for ax, run in zip(axes, runs):
        for checkpoint in run["checkpoints"]:
            values = _eigenvalues(checkpoint)
            colour = np.full(values.shape, checkpoint["iteration"], dtype=float)
            scatter = ax.scatter(
                values.real, values.imag, c=colour, cmap="viridis", vmin=low, vmax=max(high, low + 1), s=10
            )
        ax.axvline(0.0, color="0.6", linewidth=0.8)
        ax.set(xlabel=r"Re $\lambda$", ylabel=r"Im $\lambda$", title=run["label"])
        ax.title.set_fontsize(8)
    for ax in axes[len(runs) :]:
        ax.set_visible(False)
    if scatter is not None:
        figure.colorbar(scatter, ax=axes[: len(runs)].tolist(), label="iteration")
    paths.append(save_figure(figure, out_dir / FIGURES[1]))

    figure = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = figure.add_subplot()
    for run in runs:
        ax.plot(*_series(run, "field_norm"), marker="o", markersize=3, label=run["label"])
    ax.set_yscale("log")
    ax.set(xlabel="iteration", ylabel=r"$\|v(\psi, \theta)\|$", title="distance from stationarity")
    ax.legend(fontsize=7)
    paths.append(save_figure(figure, out_dir / FIGURES[2]))
    return paths
