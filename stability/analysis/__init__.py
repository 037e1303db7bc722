"""Analysis of a vector field: what the engines' flows are used for.

``linear`` (classes, step limits), ``equilibria`` (exact and numeric), ``lyapunov``, ``analyze`` (all of it for one
field), ``trajectories`` (flow and gradient-descent paths, basins), ``spectrum`` (matrix-free top-k), ``theorem1``
(the block structure of Theorem 1), ``lemmas`` (the paper's lemma checks). Imported lazily.
"""

from stability.util.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["AnalysisReport", "analyze", "mass_warnings"], "stability.analysis.analyze"),
    **dict.fromkeys(["Equilibrium", "find_equilibria"], "stability.analysis.equilibria"),
    **dict.fromkeys(["LinearAnalysis", "Tolerance", "classify", "linearise"], "stability.analysis.linear"),
    **dict.fromkeys(["LyapunovCheck", "lemma1_basin_radius", "lyapunov_check"], "stability.analysis.lyapunov"),
    **dict.fromkeys(["Spectrum", "top_eigenvalues", "discrete_stability"], "stability.analysis.spectrum"),
    "theorem1_check": "stability.analysis.theorem1",
    "lemma_checks": "stability.analysis.lemmas",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
