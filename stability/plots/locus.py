"""Eigenvalue root loci: the spectrum of the Jacobian at an equilibrium as a constant varies.

The field is derived **once** with the constant symbolic (e.g. the toy built
with ``rho=sympy.Symbol("rho", positive=True)``); the Jacobian is lambdified
with the constant as an extra argument and evaluated on all values at once,
then ``numpy.linalg.eigvals`` runs batched. Closed forms to compare with
(``003_…``): Dirac GAN λ = (−ρM(0,0) ± √(ρ²M(0,0)² − 4))/2 (Lemma 1);
ψx² toy at (0, ±1) λ = −2ρE_μ[x²] ± √(4ρ²E_μ[x²]² − 4/9) (Lemma 2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from stability.plots.style import new_axes
from stability.spec.lambdify import lambdify_numpy
from stability.symbolic.field import SymbolicField
from stability.util.errors import UserError

#: Marker per locus when several share one axes.
LOCUS_MARKERS = ("o", "s", "^", "D", "v", "P")


@dataclass
class Locus:
    """Eigenvalues of the Jacobian at ``point`` for each value of one constant.

    Attributes:
        parameter: the constant's name (``"rho"``, ``"A"``).
        values: (n,) values of the constant.
        eigenvalues: (n, d) complex, each row sorted by (Re, Im).
        label: legend text.
        point: the equilibrium (a fixed point, or "varies").
    """

    parameter: str
    values: np.ndarray
    eigenvalues: np.ndarray
    label: str
    point: dict[str, float] | str

    def to_dict(self) -> dict:
        return {
            "parameter": self.parameter,
            "label": self.label,
            "point": self.point,
            "range": [float(self.values[0]), float(self.values[-1])],
            "count": int(len(self.values)),
            "max_real_part": float(np.max(self.eigenvalues.real)),
        }


def eigenvalue_locus(
    field_: SymbolicField,
    parameter: str,
    values: Sequence[float] | np.ndarray,
    point: Mapping[str, float] | Callable[[float], Mapping[str, float]],
    fixed: Mapping[str, float] | None = None,
    label: str | None = None,
) -> Locus:
    """The spectrum of J(point) of a field whose constant ``parameter`` was left symbolic.

    Args:
        field_: a field with free constants (``field_.free_constants``).
        parameter: the name of the constant to sweep.
        values: its values.
        point: the equilibrium as ``{name: value}``, or a function of the
            parameter value returning it (equilibria that move with ρ).
        fixed: values of the other free constants.
        label: legend text (default: the system's name).
    """
    constants = {s.name: s for s in field_.free_constants}
    if parameter not in constants:
        raise UserError(
            f"the field has no free constant {parameter!r} (free: {', '.join(constants) or 'none'}); "
            f"build the system with a symbolic {parameter}"
        )
    fixed = dict(fixed or {})
    missing = set(constants) - {parameter} - set(fixed)
    if missing:
        raise UserError(f"give values for the other free constants: {', '.join(sorted(missing))}")
    order = list(field_.params) + [constants[parameter]] + [constants[k] for k in sorted(fixed)]
    jacobian = lambdify_numpy(order, field_.jacobian_expr.tolist())
    values = np.asarray(values, dtype=float)
    names = [p.name for p in field_.params]
    if callable(point):
        points = np.array([[float(point(v)[n]) for n in names] for v in values])
        where: dict[str, float] | str = "varies"
    else:
        points = np.tile([float(point[n]) for n in names], (len(values), 1))
        where = {n: float(point[n]) for n in names}
    rows = jacobian(*points.T, values, *[np.full(values.shape, float(fixed[k])) for k in sorted(fixed)])
    d = len(names)
    J = np.empty((len(values), d, d))
    for i in range(d):
        for j in range(d):
            J[:, i, j] = np.broadcast_to(np.asarray(rows[i][j], dtype=float), values.shape)
    eigs = np.linalg.eigvals(J)
    order_idx = np.array([np.lexsort((row.imag, row.real)) for row in eigs], dtype=int).reshape(eigs.shape)
    eigs = np.take_along_axis(eigs, order_idx, axis=1)
    return Locus(parameter, values, eigs, label or field_.system.name, where)


def plot_root_locus(
    loci: Locus | Sequence[Locus],
    ax: Axes | None = None,
    *,
    title: str | None = None,
    cmap: str = "viridis",
    colorbar: bool = True,
    parameter_label: str | None = None,
    legend: bool = True,
) -> tuple[Figure, Axes]:
    """Draw loci in the complex plane, coloured by the parameter, with the stability boundary.

    The boundary of continuous-time stability is the imaginary axis
    Re λ = 0; the unstable half-plane Re λ > 0 is shaded. When a fast real
    branch dwarfs the complex one, the real axis is symmetric-log scaled
    (linear within |Re λ| < max|Im λ|).

    Returns:
        ``(figure, axes)``; a colorbar axes is added to the figure when ``colorbar``.
    """
    loci = [loci] if isinstance(loci, Locus) else list(loci)
    if not loci:
        raise UserError("no locus to draw")
    fig, ax = new_axes(ax, figsize=(5.5, 4.5))
    low = min(float(locus.values.min()) for locus in loci)
    high = max(float(locus.values.max()) for locus in loci)
    norm = Normalize(low, high)
    scatter = None
    for k, locus in enumerate(loci):
        values = np.repeat(locus.values[:, None], locus.eigenvalues.shape[1], axis=1)
        scatter = ax.scatter(
            locus.eigenvalues.real.ravel(),
            locus.eigenvalues.imag.ravel(),
            c=values.ravel(),
            cmap=cmap,
            norm=norm,
            s=9,
            marker=LOCUS_MARKERS[k % len(LOCUS_MARKERS)],
            label=locus.label,
            zorder=3,
            linewidths=0,
        )
    re = np.concatenate([locus.eigenvalues.real.ravel() for locus in loci])
    im = np.concatenate([locus.eigenvalues.imag.ravel() for locus in loci])
    span_x = max(1e-3, float(np.max(np.abs(re))))
    span_y = max(1e-3, float(np.max(np.abs(im))))
    wide = span_x > 8 * max(span_y, 0.5)  # a fast real branch would squash the complex one: log-compress it
    linthresh = max(span_y, 0.5)
    pad = 0.3 * linthresh if wide else 0.25 * span_x
    x_low, x_high = float(np.min(re)) - (0.3 * span_x if wide else 0.1 * span_x), max(float(np.max(re)), 0.0) + pad
    ax.axvspan(0.0, x_high, color="#f4cccc", alpha=0.6, zorder=0, label=r"unstable: Re $\lambda$ > 0")
    ax.axvline(0.0, color="#c0392b", linewidth=1.4, zorder=1, label=r"stability boundary Re $\lambda$ = 0")
    ax.axhline(0.0, color="#999999", linewidth=0.6, zorder=1)
    ax.set_xlim(x_low, x_high)
    if wide:
        ax.set_xscale("symlog", linthresh=linthresh, linscale=1.5)
        ticks = [t for t in (-1000, -100, -20, -5, -1, 0) if x_low <= t <= x_high]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_ylim(-1.15 * span_y, 1.15 * span_y)
    ax.set_xlabel(r"Re $\lambda$" + (" (symmetric log scale)" if wide else ""))
    ax.set_ylabel(r"Im $\lambda$")
    ax.set_title(title or "Eigenvalue root locus")
    name = parameter_label or _pretty(loci[0].parameter)
    if colorbar and scatter is not None:
        fig.colorbar(scatter, ax=ax, label=name)
    if legend:
        ax.legend(loc="upper left", fontsize=7, framealpha=0.9, markerscale=1.5)
    return fig, ax


def _pretty(name: str) -> str:
    return {"rho": r"$\rho$", "A": r"anchor $A$"}.get(name, name)
