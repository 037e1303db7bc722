"""Penalty forms φ applied to q = ‖∇ₓD‖² (what is penalised, not where).

Convention, stated once: the discriminator maximises
``E_pd[f(D)] + E_pθ[f(−D)] − (ρ/2) · E_μ[φ(q)]`` (Definition 4 of ``003_…``
has φ(q) = q). The forms are written on an ``ops`` backend (see
:mod:`stability.ops`) so that sympy and torch evaluate the same formula.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stability.errors import unknown_name


@dataclass(frozen=True)
class PenaltyForm:
    """φ(q) with q = ‖∇ₓD‖², and where it stops being smooth.

    Attributes:
        name: registry name.
        phi: ``phi(q, ops)``.
        kinks: gradient norms ‖∇ₓD‖ at which φ(‖·‖²) is not twice
            differentiable; the analysis reports equilibria that sit on them.
        kink_note: what goes wrong there, for reports.
    """

    name: str
    phi: Callable[[Any, Any], Any]
    kinks: tuple[float, ...] = ()
    kink_note: str = ""
    description: str = ""

    def __call__(self, q: Any, ops: Any) -> Any:
        return self.phi(q, ops)


SIMPLE = PenaltyForm("simple", lambda q, ops: q, description="‖∇ₓD‖² (simple gradient penalty, Definition 4)")
GP = PenaltyForm(
    "gp",
    lambda q, ops: ops.square(ops.sqrt(q) - 1),
    kinks=(0.0,),
    kink_note="(‖∇ₓD‖−1)² is not differentiable at ∇ₓD = 0: the vector field is discontinuous there",
    description="(‖∇ₓD‖−1)² (WGAN-GP, Gulrajani et al. 2017)",
)
LP = PenaltyForm(
    "lp",
    lambda q, ops: ops.square(ops.relu(ops.sqrt(q) - 1)),
    kinks=(1.0,),
    kink_note="max(0,‖∇ₓD‖−1)² has a discontinuous second derivative at ‖∇ₓD‖ = 1: the Jacobian jumps there",
    description="max(0, ‖∇ₓD‖−1)² (WGAN-LP, Petzka et al. 2018)",
)

#: Pointwise penalty forms by name.
FORMS: dict[str, PenaltyForm] = {form.name: form for form in (SIMPLE, GP, LP)}


def get_form(name: str) -> PenaltyForm:
    if name not in FORMS:
        raise unknown_name("penalty form", name, list(FORMS))
    return FORMS[name]
