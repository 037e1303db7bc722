"""The spec layer: a GAN written as data, read by both engines and by the trainer.

Laws (``laws``), penalty measures (``measures``, Table 1 of ``003_…``), penalty forms (``penalties``), loss links
(``links``), the two-backend operations they are written on (``ops``), the system (``system``), the expression
parser and spec files (``expressions``, ``specfile``), the paper's toy systems (``toys``), and the one place where
sympy becomes numbers (``lambdify``) with its quadrature rule (``quadrature``). Imported lazily.
"""

from stability.util.lazy import lazy_exports

_EXPORTS = {
    "UserError": "stability.util.errors",
    **dict.fromkeys(
        ["Law", "dirac", "discrete", "mixture", "normal", "product", "pushforward", "uniform"], "stability.spec.laws"
    ),
    **dict.fromkeys(
        ["MEASURES", "PenaltyMeasure", "get_measure", "interpolation", "mu_anchor", "mu_gp", "mu_mid", "p_d", "p_g"],
        "stability.spec.measures",
    ),
    "weighted": "stability.spec.measures",
    **dict.fromkeys(["FORMS", "MAX_FORMS", "PenaltyForm", "MaxPenalty", "get_form"], "stability.spec.penalties"),
    **dict.fromkeys(["LINKS", "LossLink", "get_link"], "stability.spec.links"),
    **dict.fromkeys(["GanSystem", "Penalty"], "stability.spec.system"),
    "load_spec": "stability.spec.specfile",
    **dict.fromkeys(["TOYS", "get_toy", "dirac_gan", "psi_x2_toy", "lemma3_system"], "stability.spec.toys"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
