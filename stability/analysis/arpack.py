"""ARPACK over any linear map given as a torch function: the one driver of every matrix-free spectrum.

:func:`arpack` runs ``scipy.sparse.linalg.eigs`` on a ``LinearOperator`` whose matvec is ``apply`` (a Jacobian
product of the flow, of an update rule's map, …), with the basis size of :func:`default_ncv`, an optional warm start
(:func:`warm_start_vector`) and a progress bar. It sits below both the flow's spectra
(:mod:`stability.analysis.spectrum`) and the update rules' radii (:mod:`stability.analysis.discrete`), so neither
imports the other to reach it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs
from threadpoolctl import ThreadpoolController

from stability.util.errors import UserError

#: ARPACK selection rules offered here.
WHICH = {"LR": "largest real part", "LM": "largest magnitude", "LI": "largest imaginary part"}


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
