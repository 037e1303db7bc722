"""Penalty forms φ applied to q = ‖∇ₓD‖² (what is penalised, not where).

Convention, stated once: the discriminator maximises
``E_pd[f(D)] + E_pθ[f(−D)] − (ρ/2) · E_μ[φ(q)]`` (Definition 4 of ``003_…``
has φ(q) = q). The forms are written on an ``ops`` backend (see
:mod:`stability.spec.ops`) so that sympy and torch evaluate the same formula.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stability.util.errors import unknown_name


def half_rho(rho: Any) -> Any:
    """ρ/2, the weight of E_μ[φ] in the critic's objective (Definition 4): the one place the convention is written.

    Works on numbers, sympy expressions and tensors alike.
    """
    return rho / 2


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

    #: Whether the penalty carries a Lagrange multiplier (MaxAL); pointwise forms do not.
    multiplier = False

    def batch_loss(self, q: Any, ops: Any, rho: Any, multiplier: Any = 0) -> Any:
        """The critic-loss term on a minibatch of q_i: (ρ/2)·mean_i φ(q_i), the sample mean of Definition 4."""
        return half_rho(rho) * self(q, ops).mean()

    def next_multiplier(self, multiplier: Any, q: Any, ops: Any, rho: Any) -> Any:
        """No multiplier: unchanged."""
        return multiplier


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


# ---- batch-maximum penalties (Zhou et al., ``001_…`` Section 4) -----------------------


@dataclass(frozen=True)
class MaxPenalty:
    """A penalty on the *largest* gradient norm over the penalty points.

    MaxGP (Eq. 12 of ``001_…``), MaxAL (Eq. 13–14) and the Lipschitz-GAN
    penalty (Eq. 10/12 of ``002_…``) penalise k = max ‖∇ₓD(x̂)‖ over the
    minibatch instead of the mean of φ(q): with q_max = max q = k², the critic
    maximises

    * MaxGP: ``−(ρ/2)·φ(q_max)`` with φ the ``gp`` form, i.e. −(ρ/2)(k − 1)²;
    * MaxAL: ``λ(k − 1) − (ρ/2)(k − 1)²`` and, after each critic step,
      ``λ ← λ − ρ(k − 1)`` (Eq. 14);
    * LGAN: ``−(ρ/2)·φ(q_max)`` with φ the ``simple`` form, i.e. −(ρ/2)k², the
      λ·k(f)² of ``002_…`` Eq. 10 (lines 406–412) with k(f) ≈ max‖∇ₓD‖ (Eq. 12,
      lines 677–680), k₀ = 0 as ``000_…`` chose ("We choose k₀ = 0 … we use
      λ·k² …", line 492; its J_maxgp = max‖∇f‖², Eq. 18, line 507). The trainer
      configures it by λ (``gp_lambda``), so ρ = 2λ and the term is λ·k².

    The aggregation is a maximum over samples, not an expectation, so these are
    kept apart from the pointwise :data:`FORMS`; they reuse :data:`GP` for
    (k − 1)² and :data:`SIMPLE` for k², so each formula is written once. The
    maximum is not smooth where the maximising sample changes.

    The sign of MaxAL's multiplier. Eq. 13 (``001_…`` line 170) and Eq. 14
    (line 177) are kept as printed; they are consistent with each other. Write
    the critic's problem as min −W(f) subject to c(f) = k(f) − 1 = 0, where
    W(f) = E_pd[f] − E_pθ[f]. Its augmented Lagrangian in the usual form (Nocedal
    and Wright, ``001_…``'s reference) is −W − λc + (ρ/2)c², whose multiplier
    update is λ ← λ − ρc. Maximising the negative, W + λc − (ρ/2)c², is Eq. 13,
    and λ ← λ − ρc is Eq. 14. Both fixed points follow from Eq. 11 (line 137):
    the best critic with Lipschitz constant k has W = k·W₁ (line 142). For fixed
    λ, the critic maximises k·W₁ + λ(k − 1) − (ρ/2)(k − 1)², so k − 1 = (W₁ + λ)/ρ.
    Eq. 14 then gives λ ← λ − (W₁ + λ) = −W₁. Its only fixed point is λ* = −W₁,
    where k = 1. Flipping the sign of only one of the two equations gives
    λ ← 2λ ± W₁, which diverges.

    ``001_…`` line 232 (Fig. 4b) says the optimal λ "is equivalent to W₁". That
    is the multiplier of the same Lagrangian written with −λ(k − 1), which is −λ
    here. So the multiplier settles at −W₁, and −λ is the quantity that tracks
    W₁. ``tests/test_trainer_additions.py`` checks this in a critic-only run
    where W₁ is known.

    Attributes:
        name: registry name (``maxgp``, ``maxal`` or ``lgan``).
        form: the pointwise form applied to q_max.
        multiplier: whether the Lagrange term λ(k − 1) of Eq. 13 is present.
    """

    name: str
    form: PenaltyForm
    multiplier: bool = False
    description: str = ""

    def objective(self, q_max: Any, ops: Any, rho: Any, lam: Any = 0) -> Any:
        """The term the critic maximises: Eq. 12, or Eq. 13 when ``multiplier``."""
        value = -half_rho(rho) * self.form(q_max, ops)
        if self.multiplier:
            value = value + lam * (ops.sqrt(q_max) - 1)
        return value

    def update_multiplier(self, lam: Any, q_max: Any, ops: Any, rho: Any) -> Any:
        """Eq. 14: λ ← λ − ρ(max ‖∇ₓD‖ − 1); it converges to −W₁ (see the class docstring)."""
        return lam - rho * (ops.sqrt(q_max) - 1)

    def batch_loss(self, q: Any, ops: Any, rho: Any, multiplier: Any = 0) -> Any:
        """The critic-loss term on a minibatch of q_i: −objective(max_i q_i) (Eq. 12, or Eq. 13 with λ)."""
        return -self.objective(q.max(), ops, rho, multiplier)

    def next_multiplier(self, multiplier: Any, q: Any, ops: Any, rho: Any) -> Any:
        """Eq. 14 after a critic step for MaxAL (q in float64 so that λ accumulates without rounding); MaxGP: as is."""
        if not self.multiplier:
            return multiplier
        return self.update_multiplier(multiplier, q.max().double(), ops, rho)


MAXGP = MaxPenalty("maxgp", GP, description="(ρ/2)(max‖∇ₓD‖−1)² over the batch (MaxGP, Eq. 12 of 001)")
MAXAL = MaxPenalty(
    "maxal",
    GP,
    multiplier=True,
    description="−λ(max‖∇ₓD‖−1) + (ρ/2)(max‖∇ₓD‖−1)², λ ← λ − ρ(max‖∇ₓD‖−1) (MaxAL, Eq. 13–14 of 001)",
)

LGAN = MaxPenalty(
    "lgan", SIMPLE, description="λ·max‖∇ₓD‖² over the batch, k₀ = 0 (Lipschitz GAN, Eq. 10/12 of 002; ρ = 2λ)"
)

#: Batch-maximum penalties by name.
MAX_FORMS: dict[str, MaxPenalty] = {p.name: p for p in (MAXGP, MAXAL, LGAN)}
