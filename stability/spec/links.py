"""Loss links f of the GAN objective max_ψ E_pd[f(D)] + E_pθ[f(−D)].

f(t) = t is the WGAN (Definition 4 of ``003_…``). Section 4 of ``003_…``
extends the analysis to concave f with f'' < 0 and f'(0) ≠ 0; the
Lipschitz-GAN family of Zhou et al. (``000_…`` Table 1, ``002_…``) writes the
critic loss as E_pg[φ(D)] + E_pd[φ(−D)], which is this objective with
f(t) = −φ(−t). Each link is written once on an ``ops`` backend.

``logistic_linear`` is the last row of Table 2 of ``000_…`` (line 313):
φ(x) = −log σ(−x) + 0.01x, so f(t) = −log(1 + e^{−t}) + 0.01t. The text below
the table (line 319) calls it −log σ(−x) + 0.1x. We use the table's 0.01,
because that row is the one with reported scores. The weight is written
``t / 100`` so that sympy keeps it exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stability.util.errors import unknown_name


@dataclass(frozen=True)
class LossLink:
    """f(t) with its Lipschitz-GAN φ(x) = −f(−x) named in the docstring."""

    name: str
    f: Callable[[Any, Any], Any]
    description: str

    def __call__(self, t: Any, ops: Any) -> Any:
        return self.f(t, ops)


LINKS: dict[str, LossLink] = {
    link.name: link
    for link in (
        LossLink("identity", lambda t, ops: t, "f(t) = t: WGAN; φ(x) = x"),
        LossLink(
            "logistic", lambda t, ops: -ops.softplus(-t), "f(t) = −log(1+e^{−t}): original GAN; φ(x) = −log σ(−x)"
        ),
        LossLink("exp", lambda t, ops: -ops.exp(-t), "f(t) = −e^{−t}; φ(x) = exp(x)"),
        LossLink("sqrt", lambda t, ops: t - ops.sqrt(t * t + 1), "f(t) = t − √(t²+1); φ(x) = x + √(x²+1)"),
        LossLink("hinge", lambda t, ops: -ops.relu(1 - t), "f(t) = −max(0, 1−t); φ(x) = max(0, x+1)"),
        LossLink("quadratic", lambda t, ops: -ops.square(1 - t), "f(t) = −(1−t)²; φ(x) = (x+1)²"),
        LossLink(
            "logistic_linear",
            lambda t, ops: -ops.softplus(-t) + t / 100,
            "f(t) = −log(1+e^{−t}) + 0.01t; φ(x) = −log σ(−x) + 0.01x (000 Table 2)",
        ),
    )
}


def get_link(name: str) -> LossLink:
    if name not in LINKS:
        raise unknown_name("loss link", name, list(LINKS))
    return LINKS[name]
