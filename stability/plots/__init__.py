"""Figures of GAN gradient flows: phase portraits, basins, root loci, measure grids.

Every function draws into a given :class:`matplotlib.axes.Axes` (``ax=``) or
a new headless :class:`matplotlib.figure.Figure` (no pyplot, no display
needed) and returns ``(figure, axes)`` so that figures compose. Save with
``figure.savefig(path)`` or :func:`save_figure` (atomic, format by extension).

The numbers behind the pictures are public too: :func:`nullclines`,
:func:`find_marks`, :func:`eigenvalue_locus`, and the trajectory and basin
helpers of :mod:`stability.analysis.trajectories` (which need no matplotlib).
"""

from stability.plots.basin import plot_basin
from stability.plots.fields import MEASURE_TITLES, TOY_TITLES, as_field, toy_field
from stability.plots.grid import COLUMNS, ROWS, Column, Row, measures_grid
from stability.plots.locus import Locus, eigenvalue_locus, plot_root_locus
from stability.plots.marks import EquilibriumMark, draw_equilibria, find_marks, numeric_jacobian
from stability.plots.paper import FIGURE3_RHO, figure3, figure3_nullcline_positions
from stability.plots.portrait import draw_trajectory, nullclines, phase_portrait
from stability.plots.style import CLASS_STYLE, save_figure

__all__ = [
    "plot_basin",
    "MEASURE_TITLES",
    "TOY_TITLES",
    "as_field",
    "toy_field",
    "COLUMNS",
    "ROWS",
    "Column",
    "Row",
    "measures_grid",
    "Locus",
    "eigenvalue_locus",
    "plot_root_locus",
    "EquilibriumMark",
    "draw_equilibria",
    "find_marks",
    "numeric_jacobian",
    "FIGURE3_RHO",
    "figure3",
    "figure3_nullcline_positions",
    "draw_trajectory",
    "nullclines",
    "phase_portrait",
    "CLASS_STYLE",
    "save_figure",
]
