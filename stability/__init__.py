"""Stability analysis of GAN gradient flows under gradient-penalty measures.

A GAN is *specified* as a :class:`GanSystem` (discriminator, laws, penalty
measure/form/weight, loss link); :class:`SymbolicField` derives its
simultaneous gradient flow (Definition 4 of Kim et al., "Local Stability and
Performance of Simple Gradient Penalty μ-WGAN"); :func:`analyze` and friends
give equilibria, Jacobians, spectra, classes and Lyapunov checks.
"""

from stability.analysis import AnalysisReport, analyze
from stability.equilibria import Equilibrium, find_equilibria
from stability.errors import SpecError
from stability.field import SymbolicField
from stability.laws import Law, dirac, discrete, mixture, normal, product, pushforward, uniform
from stability.linear import (
    LinearAnalysis,
    Tolerance,
    alternating_update,
    classify,
    eigenvalues,
    linearise,
    max_stable_step_alternating,
    max_stable_step_simultaneous,
    step_spectral_radii,
)
from stability.links import LINKS, LossLink, get_link
from stability.lyapunov import LyapunovCheck, lemma1_basin_radius, lyapunov_check
from stability.measures import (
    MEASURES,
    PenaltyMeasure,
    get_measure,
    interpolation,
    mu_anchor,
    mu_gp,
    mu_mid,
    p_d,
    p_g,
    weighted,
)
from stability.penalties import FORMS, PenaltyForm, get_form
from stability.system import GanSystem, Penalty

__all__ = [
    "AnalysisReport",
    "analyze",
    "Equilibrium",
    "find_equilibria",
    "SpecError",
    "SymbolicField",
    "Law",
    "dirac",
    "discrete",
    "mixture",
    "normal",
    "product",
    "pushforward",
    "uniform",
    "LinearAnalysis",
    "Tolerance",
    "alternating_update",
    "classify",
    "eigenvalues",
    "linearise",
    "max_stable_step_alternating",
    "max_stable_step_simultaneous",
    "step_spectral_radii",
    "LINKS",
    "LossLink",
    "get_link",
    "LyapunovCheck",
    "lemma1_basin_radius",
    "lyapunov_check",
    "MEASURES",
    "PenaltyMeasure",
    "get_measure",
    "interpolation",
    "mu_anchor",
    "mu_gp",
    "mu_mid",
    "p_d",
    "p_g",
    "weighted",
    "FORMS",
    "PenaltyForm",
    "get_form",
    "GanSystem",
    "Penalty",
]
