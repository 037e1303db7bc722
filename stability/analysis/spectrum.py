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
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs
from threadpoolctl import ThreadpoolController

from stability.analysis.linear import (
    eigenvalues,
    max_stable_step_alternating,
    max_stable_step_simultaneous,
)
from stability.autodiff.field import Point, TorchField
from stability.util.errors import UserError

#: ARPACK selection rules offered here.
WHICH = {"LR": "largest real part", "LM": "largest magnitude", "LI": "largest imaginary part"}
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


def _order(values: np.ndarray, which: str) -> np.ndarray:
    return values[_ranking(values, which)]


def _ranking(values: np.ndarray, which: str) -> np.ndarray:
    key = {"LR": values.real, "LM": np.abs(values), "LI": values.imag}[which]
    return np.argsort(-key, kind="stable")


def warm_start_vector(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """A real ARPACK start vector in the span of earlier Ritz vectors: Σᵢ aᵢ Re xᵢ + bᵢ Im xᵢ, normalised.

    ARPACK takes one start vector; its implicit restarts filter the start towards the wanted invariant subspace, so
    a start that already lies near it (the Ritz vectors of a nearby matrix, e.g. the previous checkpoint's) needs
    fewer products. The weights aᵢ, bᵢ are seeded standard normals (a fixed sum could cancel a conjugate pair's
    imaginary parts); real and imaginary parts are taken so that complex pairs contribute their real plane.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[1] == 0:
        raise UserError(f"warm start needs Ritz vectors of shape (n, k >= 1), got {vectors.shape}")
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(vectors.shape[1]), rng.standard_normal(vectors.shape[1])
    columns = vectors / np.maximum(np.linalg.norm(vectors, axis=0), 1e-300)
    v0 = columns.real @ a + (columns.imag @ b if np.iscomplexobj(columns) else 0.0)
    norm = float(np.linalg.norm(v0))
    if not np.isfinite(norm) or norm == 0.0:
        raise UserError("warm start vector is zero or not finite")
    return v0 / norm


def _check(which: str, operator: str) -> None:
    if which not in WHICH:
        raise UserError(f"unknown eigenvalue selection {which!r}; valid: {', '.join(WHICH)}")
    if operator not in OPERATORS:
        raise UserError(f"unknown product {operator!r}; valid: {', '.join(OPERATORS)}")


def _default_tol(field_: TorchField) -> float:
    return 1e-10 if field_.dtype == torch.float64 else 1e-5


def _progress(enabled: bool, desc: str):
    if not enabled:
        return None
    from tqdm import tqdm

    # disable=None: tqdm draws no bar when stderr is not a terminal (no carriage returns in a log file)
    return tqdm(desc=desc, unit=" products", leave=False, mininterval=1.0, disable=None)


#: Largest game whose top-k falls back to the dense spectrum when k ≥ n − 1 (a 4000 × 4000 float64 Jacobian is
#: 128 MB); beyond it such a k is refused.
DENSE_FALLBACK_LIMIT = 4000

#: Bytes of Arnoldi vectors (ncv × n) the default basis size may take.
MAX_BASIS_BYTES = 2 * 2**30


def default_ncv(n: int, k: int, which: str, itemsize: int = 8) -> int:
    """ARPACK's basis size when none is given: max(8k, 120) for ``LR``, ARPACK's own max(2k + 1, 20) otherwise.

    The largest real parts of these games' Jacobians lie inside a spectrum of much larger magnitudes, and ARPACK's
    default basis restarts thousands of times before it finds them. Measured on ``toy-8gaussians-mu_gp`` after
    400 iterations (n = 9,843, float32, tol 1e-5): top-6 LR took 5,303 products with ncv = 20, 184 with 80 and 121
    with 120; top-20 LR 39,010 with ncv = 41, 820 with 80, 312 with 120, 258 with 160. At n = 1,055,235 (width 512,
    top-20 LR) ncv = 80 took 350 products and 160 took 287 in the same time. ``LM`` and ``LI`` converged within the
    first factorisation there, so a larger basis only adds products to them. On an easy game the larger first
    factorisation costs a little: at n = 1,235 top-6 LR took 121 products against ARPACK's 83
    (``benchmarks/bench_jacobian.py --parts basis [--quick]`` measures both). The LR basis is capped by
    :data:`MAX_BASIS_BYTES` (never below ARPACK's own default) and by n; ARPACK needs k + 1 < ncv ≤ n.
    """
    arpack_own = max(2 * k + 1, 20)
    ncv = arpack_own
    if which == "LR":
        ncv = max(arpack_own, min(max(8 * k, 120), MAX_BASIS_BYTES // max(n * itemsize, 1)))
    return max(k + 2, min(n, ncv))


def arpack_basis(n: int, k: int, which: str, ncv: int | None, itemsize: int) -> tuple[int, list[str]]:
    """The ARPACK basis size for top-k of an n × n operator, and a note when a given ``ncv`` was capped at n.

    ``None``: :func:`default_ncv`. A given ``ncv`` must exceed k + 1 and is capped at n (the basis holds at most n
    vectors; more would only allocate ncv × n numbers).

    Raises:
        UserError: ``ncv <= k + 1``, or a basis of more than :data:`MAX_BASIS_BYTES` (k = 9,999 of a 42k-parameter
            game asks for 6.3 GiB of Arnoldi vectors).
    """
    notes = []
    if ncv is None:
        ncv = default_ncv(n, k, which, itemsize)
    elif ncv <= k + 1:
        raise UserError(f"ncv must exceed k + 1 = {k + 1}, got {ncv}")
    elif ncv > n:
        notes.append(f"ncv = {ncv} exceeds n = {n}: capped at n")
        ncv = n
    basis = ncv * n * itemsize
    if basis > MAX_BASIS_BYTES:
        raise UserError(
            f"k = {k} needs an ARPACK basis of {ncv:,} vectors of n = {n:,} ({basis / 2**30:.1f} GiB, more than "
            f"{MAX_BASIS_BYTES / 2**30:g} GiB); ask for fewer eigenvalues (--k) or a smaller --ncv"
        )
    return ncv, notes


def arpack(
    apply: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    k: int,
    which: str,
    dtype: torch.dtype,
    tol: float = 0.0,
    ncv: int | None = None,
    maxiter: int | None = None,
    seed: int = 0,
    progress: bool = False,
    desc: str = "ARPACK",
    v0: np.ndarray | None = None,
    return_vectors: bool = False,
) -> tuple:
    """Top-k eigenvalues of the linear map ``apply`` (tensor → tensor) by ARPACK.

    Returns ``(eigenvalues, products, converged, notes)``, and the Ritz vectors ``(n, k)`` in the eigenvalues'
    order as a fifth item when ``return_vectors``; on non-convergence the converged subset is returned with a
    note. ``v0``: the start vector (default: seeded standard normal), e.g. :func:`warm_start_vector`.
    """
    count = [0]
    bar = _progress(progress, desc)

    # ARPACK works in the field's precision: for float32 fields the single-precision driver halves the cost of
    # its own orthogonalisation (about 0.1 s -> 0.04 s per product at n = 1M here) and the products are
    # float32-accurate anyway.
    np_dtype = np.float32 if dtype == torch.float32 else np.float64

    def matvec(v: np.ndarray) -> np.ndarray:
        u = torch.from_numpy(np.ascontiguousarray(v, dtype=np_dtype).reshape(-1)).to(dtype)
        out = apply(u)
        count[0] += 1
        if bar is not None:
            bar.update(1)
        return out.detach().numpy().astype(np_dtype, copy=False)

    operator = LinearOperator((n, n), matvec=matvec, dtype=np_dtype)
    ncv = default_ncv(n, k, which, np.dtype(np_dtype).itemsize) if ncv is None else ncv
    if v0 is None:
        v0 = np.random.default_rng(seed).standard_normal(n)
    elif np.shape(v0) != (n,) or not np.all(np.isfinite(v0)):
        raise UserError(f"ARPACK start vector must be {n} finite numbers, got shape {np.shape(v0)}")
    v0 = np.asarray(v0).astype(np_dtype)
    notes: list[str] = []
    converged = True
    vectors = None
    try:
        # ARPACK's BLAS (scipy's OpenBLAS) runs single-threaded: its idle worker threads otherwise spin on the cores
        # torch's products need (a 1M-parameter VJP went from 0.15 s to 0.25 s inside ARPACK on 2 cores). MKL or
        # OpenMP pools, which torch uses, are left alone.
        with ThreadpoolController().select(internal_api="openblas").limit(limits=1):
            found = eigs(
                operator,
                k=k,
                which=which,
                v0=v0,
                tol=tol,
                ncv=ncv,
                maxiter=maxiter,
                return_eigenvectors=return_vectors,
            )
        values, vectors = found if return_vectors else (found, None)
    except ArpackNoConvergence as exc:
        values, vectors = exc.eigenvalues, exc.eigenvectors
        converged = False
        notes.append(f"ARPACK did not converge: {len(values)} of {k} eigenvalues converged after {count[0]} products")
    finally:
        if bar is not None:
            bar.close()
    values = np.asarray(values, dtype=complex)
    order = _ranking(values, which)
    if return_vectors:
        return values[order], count[0], converged, notes, np.asarray(vectors)[:, order]
    return values[order], count[0], converged, notes


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
    result = analyze_rule(rule, field_, point, optimise=False, dense_limit=0, k=k, tol=tol, ncv=ncv, progress=progress)
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
