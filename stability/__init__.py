"""Stability analysis of GAN gradient flows under gradient-penalty measures.

A GAN is *specified* as a :class:`GanSystem` (discriminator, laws, penalty
measure/form/weight, loss link); :class:`SymbolicField` derives its
simultaneous gradient flow (Definition 4 of Kim et al., "Local Stability and
Performance of Simple Gradient Penalty μ-WGAN"); :func:`analyze` and friends
give equilibria, Jacobians, spectra, classes and Lyapunov checks.

The data flow is the package layout::

    spec/       the GAN as data: laws, measures, forms, links, GanSystem, spec files, toys
    symbolic/   Definition 4 by sympy          ┐ one interface: value, jacobian, jvp
    autodiff/   Definition 4 by torch.func     ┘
    analysis/   equilibria, linearisation, Lyapunov, spectra, Theorem 1, lemma checks
    plots/      portraits, loci, basins, the report
    cli/        the ``ganstab`` command
    util/       atomic writes, time limits, lazy exports

Every name below is imported on first use, so ``import stability`` is cheap.
"""

from stability.util.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["AnalysisReport", "analyze"], "stability.analysis.analyze"),
    **dict.fromkeys(["Equilibrium", "find_equilibria"], "stability.analysis.equilibria"),
    **dict.fromkeys(
        [
            "LinearAnalysis",
            "Tolerance",
            "alternating_update",
            "classify",
            "eigenvalues",
            "linearise",
            "max_stable_step_alternating",
            "max_stable_step_simultaneous",
            "step_spectral_radii",
        ],
        "stability.analysis.linear",
    ),
    **dict.fromkeys(["LyapunovCheck", "lemma1_basin_radius", "lyapunov_check"], "stability.analysis.lyapunov"),
    "SymbolicField": "stability.symbolic.field",
    "TorchField": "stability.autodiff.field",
    "UserError": "stability.util.errors",
    **dict.fromkeys(
        ["Law", "dirac", "discrete", "mixture", "normal", "product", "pushforward", "uniform"], "stability.spec.laws"
    ),
    **dict.fromkeys(["LINKS", "LossLink", "get_link"], "stability.spec.links"),
    **dict.fromkeys(
        [
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
        ],
        "stability.spec.measures",
    ),
    **dict.fromkeys(["FORMS", "PenaltyForm", "get_form"], "stability.spec.penalties"),
    **dict.fromkeys(["GanSystem", "Penalty"], "stability.spec.system"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
