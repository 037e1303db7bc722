"""Matrix-free spectra of the flow's Jacobian and discrete-time stability for networks.

ARPACK (``scipy.sparse.linalg.eigs``) runs over a ``LinearOperator`` whose
matvec is one Jacobian product of a :class:`~stability.autodiff.field.TorchField`;
no dense Jacobian is formed. The products are the field's traced graphs
(:meth:`~stability.autodiff.field.TorchField.linearization`): the default Jᵀu
runs the transposed graph, the alternative Jv the product graph, each only the
part of the derivative that reads the vector (the point's part runs once); Jᵀ
has the eigenvalues of J. Only ARPACK's float64 vectors live in numpy; each
product converts one of them to and from a torch tensor.

Discrete time (Mescheder et al. 2017; :mod:`stability.analysis.linear`): a step
x ← x + hF(x) is locally stable iff |1 + hλ| < 1 for every eigenvalue λ of J.
Alternating GD (ψ first) has the update I + h·J_alt(h), so the same test applies to
the eigenvalues of J_alt(h), again matrix-free (a VJP through the map, two field
evaluations deep). Both maps are the ``sim`` and ``alt`` rules of
:mod:`stability.analysis.update_rules`, linearised by :mod:`stability.analysis.discrete`;
every other rule (momentum, n_critic, extragradient, Adam, …) goes through
:func:`~stability.analysis.discrete.analyze_rule` directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from stability.analysis.arpack import (
    DENSE_FALLBACK_LIMIT,
    WHICH,
    _order,
    arpack,
    arpack_basis,
)
from stability.analysis.linear import (
    eigenvalues,
    max_stable_step_alternating,
    max_stable_step_simultaneous,
)
from stability.autodiff.field import Point, TorchField
from stability.util.errors import UserError

OPERATORS = ("vjp", "jvp")
METHODS = ("simultaneous", "alternating")


@dataclass
class Spectrum:
    """Top-k eigenvalues of the flow's Jacobian (or of J_alt(h)) and how they were found.

    Attributes:
        eigenvalues: complex, best first under ``which``.
        which: ``LR``, ``LM`` or ``LI``.
        method: ``"arpack"`` or ``"dense"``.
        operator: the product ARPACK used (``"vjp: J^T u"`` or ``"jvp: J v"``) or ``"dense"``.
        products: Jacobian products evaluated (dense: the n basis products).
        seconds: wall time.
        converged: ARPACK converged (always True for dense).
        product_seconds: of ``seconds``, the time spent in Jacobian products (the rest is ARPACK's
            own work, or the dense eigensolve).
        warm_start: ARPACK started from a given vector (e.g. :func:`warm_start_vector` of an earlier
            spectrum's Ritz vectors) instead of a seeded random one.
        ncv: ARPACK's basis size (None for dense).
        vectors: the Ritz vectors ``(n, k)`` of the eigenvalues (eigenvectors of the operator ARPACK ran on: Jᵀ
            for ``"vjp"``), in the same order, when asked for with ``return_vectors``; not in :meth:`to_dict`.
    """

    eigenvalues: np.ndarray
    which: str
    k: int
    n: int
    method: str
    operator: str
    products: int
    seconds: float
    converged: bool
    tol: float
    notes: list[str] = field(default_factory=list)
    product_seconds: float = 0.0
    warm_start: bool = False
    vectors: np.ndarray | None = field(default=None, repr=False)
    ncv: int | None = None

    def to_dict(self) -> dict:
        return {
            "eigenvalues": [[float(v.real), float(v.imag)] for v in self.eigenvalues],
            "which": self.which,
            "k": self.k,
            "n": self.n,
            "method": self.method,
            "operator": self.operator,
            "products": self.products,
            "seconds": self.seconds,
            "converged": self.converged,
            "tol": self.tol,
            "notes": list(self.notes),
            "product_seconds": self.product_seconds,
            "warm_start": self.warm_start,
            "ncv": self.ncv,
        }


def _check(which: str, operator: str) -> None:
    if which not in WHICH:
        raise UserError(f"unknown eigenvalue selection {which!r}; valid: {', '.join(WHICH)}")
    if operator not in OPERATORS:
        raise UserError(f"unknown product {operator!r}; valid: {', '.join(OPERATORS)}")


def _default_tol(field_: TorchField) -> float:
    return 1e-10 if field_.dtype == torch.float64 else 1e-5


def dense_spectrum(field_: TorchField, point: Point | None = None, chunk_size: int | None = None) -> Spectrum:
    """All eigenvalues of J from the dense Jacobian (built with batched VJPs), sorted by real part."""
    start = time.perf_counter()
    J = field_.jacobian(point, chunk_size=chunk_size)
    values = eigenvalues(J)
    return Spectrum(
        values, "LR", len(values), field_.size, "dense", "dense", field_.size, time.perf_counter() - start, True, 0.0
    )


def top_eigenvalues(
    field_: TorchField,
    point: Point | None = None,
    k: int = 6,
    which: str = "LR",
    operator: str = "vjp",
    tol: float | None = None,
    ncv: int | None = None,
    maxiter: int | None = None,
    seed: int = 0,
    progress: bool = False,
    v0: np.ndarray | None = None,
    return_vectors: bool = False,
) -> Spectrum:
    """Top-k eigenvalues of the Jacobian of the flow, matrix-free.

    Args:
        field_: the torch field.
        point: where (default: the modules' own parameters).
        k: how many eigenvalues.
        which: ``"LR"`` largest real part, ``"LM"`` largest magnitude, ``"LI"``
            largest imaginary part.
        operator: ``"vjp"`` (Jᵀu by the traced transposed graph; same eigenvalues as J) or ``"jvp"`` (Jv by the
            traced product graph); at n = 2,403 each costs less than one field evaluation
            (``benchmarks/bench_products.py``).
        tol: ARPACK relative tolerance (default 1e-10 in float64; 1e-5 in float32, whose products
            carry a rounding noise of about 1e-7·‖J‖ that a tighter tolerance would chase).
        ncv: Arnoldi basis size (default :func:`default_ncv`: max(8k, 120) for ``LR``, ARPACK's max(2k+1, 20)
            for ``LM`` and ``LI``).
        seed: seed of the ARPACK start vector (results are reproducible).
        progress: show a product counter on stderr.
        v0: ARPACK's start vector instead of the seeded one: a warm start, e.g. :func:`warm_start_vector` of the
            Ritz vectors of a nearby point's spectrum (same ``operator``: the vectors are the operator's).
        return_vectors: keep the Ritz vectors in ``Spectrum.vectors`` (for the next warm start).

    When k ≥ n − 1 ARPACK cannot run; the dense spectrum is used instead and a
    note says so.
    """
    _check(which, operator)
    n = field_.size
    if k < 1:
        raise UserError(f"k must be >= 1, got {k}")
    if k >= n - 1:
        if n > DENSE_FALLBACK_LIMIT:  # an n × n Jacobian and its eigensolve: minutes to hours, gigabytes
            raise UserError(
                f"k = {k} must be below n - 1 = {n - 1} (ARPACK); the dense spectrum of n = {n} is too large"
            )
        spectrum = dense_spectrum(field_, point)
        spectrum.eigenvalues = _order(spectrum.eigenvalues, which)[:k]
        spectrum.which, spectrum.k = which, min(k, n)
        spectrum.notes.append(f"k = {k} >= n - 1 = {n - 1}: ARPACK needs k < n - 1, so the dense spectrum was used")
        return spectrum
    tol = _default_tol(field_) if tol is None else tol
    ncv, capped = arpack_basis(n, k, which, ncv, field_.dtype.itemsize)
    start = time.perf_counter()
    product = field_.vjp_operator(point) if operator == "vjp" else field_.jvp_operator(point)
    name = "vjp: J^T u (traced graph)" if operator == "vjp" else "jvp: J v (traced graph)"
    in_products = [0.0]

    def apply(u: torch.Tensor) -> torch.Tensor:
        begin = time.perf_counter()
        out = product(u)
        in_products[0] += time.perf_counter() - begin
        return out

    found = arpack(
        apply,
        n,
        k,
        which,
        field_.dtype,
        tol,
        ncv,
        maxiter,
        seed,
        progress,
        f"top-{k} {which} eigenvalues" + (" (warm start)" if v0 is not None else ""),
        v0=v0,
        return_vectors=return_vectors,
    )
    values, products, converged, notes = found[:4]
    seconds = time.perf_counter() - start
    spectrum = Spectrum(
        values, which, k, n, "arpack", name, products, seconds, converged, tol, capped + notes, in_products[0]
    )
    spectrum.warm_start, spectrum.ncv = v0 is not None, ncv
    spectrum.vectors = found[4] if return_vectors else None
    return spectrum


# ---- discrete time ----------------------------------------------------------------------


@dataclass
class DiscreteStability:
    """Local stability of simultaneous or alternating GD with step h.

    ``stable`` is decided by |1 + hμ| < 1 on the eigenvalues μ examined: all of
    them (``complete``) for dense systems, the union of the top-k by largest
    real part and by largest magnitude for matrix-free ones.
    """

    method: str
    step: float
    stable: bool
    spectral_radius: float
    complete: bool
    max_stable_step: float | None
    eigenvalues: np.ndarray
    products: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "step": self.step,
            "stable": self.stable,
            "spectral_radius": self.spectral_radius,
            "complete": self.complete,
            "max_stable_step": self.max_stable_step,
            "eigenvalues": [[float(v.real), float(v.imag)] for v in self.eigenvalues],
            "products": self.products,
            "seconds": self.seconds,
            "notes": list(self.notes),
        }


def alternating_operator(
    field_: TorchField, point: Point | None, step: float
) -> Callable[[torch.Tensor], torch.Tensor]:
    """v ↦ J_alt(h)ᵀ v with J_alt(h) = (T(h) − I)/h for the alternating update T(h).

    T is the ``alt`` rule's map of :mod:`stability.analysis.update_rules`; (T − I)ᵀv is one VJP through its
    increment (two field evaluations deep), whose field products are the traced ones
    (:meth:`~stability.autodiff.field.TorchField.first_order_fn`).
    """
    from stability.analysis.discrete import increment_operator
    from stability.analysis.update_rules import UpdateRule, initial_state

    rule = UpdateRule("alt", {"lr": step})
    vector = field_.vector(point)
    apply, _ = increment_operator(rule, initial_state(rule, vector, field_.n_psi), field_.first_order_fn(vector))
    return lambda v: apply(v) / step


def discrete_stability(
    field_: TorchField,
    point: Point | None = None,
    step: float = 1e-3,
    method: str = "simultaneous",
    k: int = 6,
    dense_limit: int = 2000,
    tol: float | None = None,
    progress: bool = False,
    ncv: int | None = None,
) -> DiscreteStability:
    """Is GD with step ``step`` locally stable at ``point``?

    Small systems (n ≤ ``dense_limit``) use the dense Jacobian and the exact
    tests of :mod:`stability.analysis.linear` (spectral radius of I + hJ or of the
    alternating update; largest stable step). Larger ones use ARPACK on J (or
    J_alt(h)) twice, for the top-k eigenvalues by largest real part and by
    largest magnitude, and test |1 + hμ| < 1 on their union; the largest stable
    step reported is then an upper bound from those eigenvalues (simultaneous)
    or ``None`` (alternating). ``ncv``: ARPACK's basis size for both searches
    (default :func:`default_ncv` per rule).
    """
    if method not in METHODS:
        raise UserError(f"unknown GD method {method!r}; valid: {', '.join(METHODS)}")
    if not step > 0:
        raise UserError(f"the step size must be > 0, got {step}")
    from stability.analysis.discrete import analyze_rule
    from stability.analysis.update_rules import UpdateRule

    start = time.perf_counter()
    rule = UpdateRule("sim" if method == "simultaneous" else "alt", {"lr": float(step)})
    n = field_.size
    if n <= dense_limit:
        result = analyze_rule(rule, field_, point, optimise=False, dense_limit=n)
        J = field_.jacobian(point)
        if method == "simultaneous":
            eigs = eigenvalues(J)
        else:  # μ with T = I + hμ: the eigenvalues of J_alt(h), sorted as eigenvalues() sorts
            mu = (result.eigenvalues - 1) / step
            eigs = mu[np.lexsort((mu.imag, mu.real))]
        if method == "simultaneous":
            h_max = max_stable_step_simultaneous(eigs)
        else:
            h_max = max_stable_step_alternating(J, field_.n_psi)
        radius = result.radius
        notes = []
        if method == "alternating" and float(np.linalg.norm(field_.value(point))) > 0:
            notes.append(
                "max_stable_step from the alternating map on the field's linearisation at this point (exact at an "
                "equilibrium; the radius is the map's own)"
            )
        return DiscreteStability(
            method, step, bool(radius < 1), radius, True, h_max, eigs, n, time.perf_counter() - start, notes
        )
    result = analyze_rule(
        rule, field_, point, optimise=False, dense_limit=0, k=k, tol=tol, ncv=ncv, progress=progress, increments=True
    )
    eigs = (result.eigenvalues - 1) / step  # μ with T = I + hμ: eigenvalues of J (sim) or of J_alt(h)
    radius = result.radius
    h_max = max_stable_step_simultaneous(eigs) if method == "simultaneous" else None
    notes = [n for n in result.notes if not n.startswith("matrix-free")]
    notes.append(
        f"matrix-free: |1 + hμ| tested on the top-{k} eigenvalues by largest real part and by largest magnitude "
        f"of {'J' if method == 'simultaneous' else 'J_alt(h) = (T(h) - I)/h'}; the radius is over those only"
    )
    if h_max is not None:
        notes.append("max_stable_step is an upper bound from the computed eigenvalues")
    return DiscreteStability(
        method,
        step,
        bool(radius < 1),
        radius,
        False,
        h_max,
        eigs,
        result.products,
        time.perf_counter() - start,
        notes,
    )
