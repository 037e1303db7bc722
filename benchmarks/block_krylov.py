"""A thick-restart block Krylov–Schur eigensolver that starts from a whole subspace: the instrument of
``bench_warm_subspace.py``.

ARPACK (:func:`scipy.sparse.linalg.eigs`, what ``ganstab spectrum`` uses) takes one start vector, so its warm start
along training is one vector in the span of the previous checkpoint's Ritz vectors. The natural stronger warm start
is the previous checkpoint's whole invariant subspace, which ARPACK cannot take and this solver can. The benchmark
asks whether it saves products; this module is kept outside the package because the answer was no (the benchmark's
docstring has the figures), and it is tested (``tests/test_block_krylov.py``) because that answer rests on it.

The method is block Rayleigh–Ritz with residual expansion and Krylov–Schur thick restarts (Stewart 2001; the block
form of Zhou & Saad 2008), for a real operator A given as a block product ``X (n×b) ↦ AX``:

* V (n×m) is orthonormal and W = AV is kept, so H = VᵀW is the Rayleigh quotient.
* An ordered real Schur form H·Q = Q·T puts the wanted Ritz values (largest real part, magnitude, or |imaginary
  part|) first; the Ritz pairs are (λ, V·Q·y) with T·y = λy.
* The residual block R = W·Q − V·Q·T is orthogonal to V (Galerkin); the Ritz pair's residual is R·y, and a pair is
  converged when ‖R·y‖ ≤ tol·|λ|·‖y‖ (ARPACK's criterion).
* The basis grows by the residuals of the unconverged wanted pairs (orthonormalised against V twice, then
  column-pivoted QR), ``block`` columns at a time. span(V, R) = span(V, AV·Q): started from one block this is block
  Krylov.
* When V would exceed ``max_basis`` columns it shrinks to the Schur vectors of the ``keep`` best Ritz values
  (V ← V·Q, W ← W·Q, H ← T): no product is repeated.

Its dense work (n×m by m×s products every expansion) is not optimised: at n = 1M it took longer than the products.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from stability.util.errors import UserError

WHICH_KEYS = ("LR", "LM", "LI")


@dataclass
class BlockResult:
    """What :func:`block_eigs` found.

    Attributes:
        eigenvalues: the k wanted eigenvalues (complex), best first (like ARPACK, a conjugate pair split by the
            k-th place contributes one member).
        vectors: unit Ritz vectors ``(n, k)`` in the same order (complex where the value is).
        basis: a real orthonormal basis ``(n, s)`` of the Schur vectors of the ``keep`` best Ritz values at the end:
            the start of the next, nearby, solve.
        products: operator columns applied.
        iterations: expansions.
        restarts: thick restarts.
        converged: all k reached the tolerance.
        residuals: ‖Ax − λx‖/|λ| of each returned pair (from the residual block, not a fresh product).
    """

    eigenvalues: np.ndarray
    vectors: np.ndarray
    basis: np.ndarray
    products: int
    iterations: int
    restarts: int
    converged: bool
    residuals: np.ndarray
    notes: list[str] = field(default_factory=list)


def selection_key(values: np.ndarray, which: str) -> np.ndarray:
    """The quantity maximised by ``which``: Re λ, |λ| or |Im λ| (so a conjugate pair ranks together)."""
    if which == "LR":
        return values.real
    if which == "LM":
        return np.abs(values)
    if which == "LI":
        return np.abs(values.imag)
    raise UserError(f"unknown eigenvalue selection {which!r}; valid: {', '.join(WHICH_KEYS)}")


def ordered_schur(H: np.ndarray, want: int, which: str) -> tuple[np.ndarray, np.ndarray]:
    """An orthonormal Q (m×s) spanning H's invariant subspace of its ``want`` best eigenvalues, and T = QᵀHQ.

    s ≥ ``want``: a conjugate pair or a tie at the boundary is kept whole. Q is from LAPACK's reordered real Schur
    form (backward stable); if the reordering fails (nearly equal eigenvalues on both sides of the cut), from the
    real and imaginary parts of the eigenvectors, orthonormalised.
    """
    m = H.shape[0]
    values = np.linalg.eigvals(H)
    if want >= m:
        T, Q = scipy.linalg.schur(H, output="real")
        return Q, T
    key = np.sort(selection_key(values, which))[::-1]
    scale = max(float(np.max(np.abs(key))), 1e-300)
    while want < m and key[want - 1] - key[want] <= 1e-12 * scale:  # a pair (or a tie) straddles the cut
        want += 1
    if want >= m:
        T, Q = scipy.linalg.schur(H, output="real")
        return Q, T
    threshold = 0.5 * (key[want - 1] + key[want])
    try:
        T, Q, sdim = scipy.linalg.schur(
            H, output="real", sort=lambda re, im: selection_key(np.array([re + 1j * im]), which)[0] > threshold
        )
    except (np.linalg.LinAlgError, ValueError):
        sdim = -1
    if sdim >= want:
        return Q[:, :sdim], T[:sdim, :sdim]
    vals, Y = np.linalg.eig(H)
    chosen = np.argsort(-selection_key(vals, which), kind="stable")[:want]
    parts = [Y[:, chosen].real, Y[:, chosen].imag[:, np.abs(vals[chosen].imag) > 0]]
    Q, _ = np.linalg.qr(np.concatenate(parts, axis=1))
    return Q, Q.T @ H @ Q


def _orthonormalise(X: np.ndarray, V: np.ndarray | None, drop: float) -> np.ndarray:
    """An orthonormal basis of the part of span(X) orthogonal to V (classical Gram–Schmidt twice, then
    column-pivoted QR); directions whose remaining norm is below ``drop`` of their column's are dropped."""
    norms = np.linalg.norm(X, axis=0)
    X = X[:, norms > 0] / norms[norms > 0]
    for _ in range(2):
        if V is not None and V.shape[1]:
            X = X - V @ (V.T @ X)
    if X.shape[1] == 0:
        return X
    # column-pivoted QR: the leading columns of Q span X's range, so a dependent column is dropped without
    # losing a later column's component along it (unpivoted QR would give that component to a noise direction)
    Q, R, _ = scipy.linalg.qr(X, mode="economic", pivoting=True)
    Q = Q[:, : int(np.sum(np.abs(np.diag(R)) > drop))]
    if V is not None and V.shape[1] and Q.shape[1]:
        Q = Q - V @ (V.T @ Q)  # rounding can reintroduce a little of V when X was nearly in its span
        Q, _ = np.linalg.qr(Q)
    return Q


def block_eigs(
    apply_block: Callable[[np.ndarray], np.ndarray],
    n: int,
    k: int,
    which: str = "LR",
    tol: float = 1e-10,
    dtype: type = np.float64,
    block: int | None = None,
    max_basis: int | None = None,
    keep: int | None = None,
    start: np.ndarray | None = None,
    max_products: int | None = None,
    seed: int = 0,
    on_products: Callable[[int], None] | None = None,
) -> BlockResult:
    """The k eigenvalues of a real linear operator that maximise ``which``, by block Krylov–Schur.

    Args:
        apply_block: ``X ↦ AX`` for real ``X`` of shape ``(n, b)`` (the operator's columns, batched).
        n: the operator's size.
        k: eigenvalues wanted (1 ≤ k, and ``max_basis`` < n).
        which: ``LR`` (largest real part), ``LM`` (magnitude), ``LI`` (|imaginary part|).
        tol: relative residual ‖Ax − λx‖ ≤ tol·|λ| (0: the dtype's machine epsilon).
        dtype: float64 or float32 for the n-long vectors (the small projected problems are float64).
        block: columns added per expansion (default k).
        max_basis: largest basis before a restart (default max(3k, 2k + block, 20)).
        keep: Schur vectors kept at a restart and returned in ``basis`` (default (k + max_basis − block) // 2:
            k plus half the room a restart leaves).
        start: ``(n, s)`` start columns, e.g. an earlier :attr:`BlockResult.basis`; padded with seeded normal
            columns to one block when s < block. Default: one seeded normal block.
        max_products: stop unconverged after this many operator columns (default 100·max_basis).
        on_products: called with the number of columns after each application (a progress bar).
    """
    if which not in WHICH_KEYS:
        raise UserError(f"unknown eigenvalue selection {which!r}; valid: {', '.join(WHICH_KEYS)}")
    block = k if block is None else int(block)
    max_basis = max(3 * k, 2 * k + block, 20) if max_basis is None else int(max_basis)
    keep = (k + max_basis - block) // 2 if keep is None else int(keep)
    keep = max(min(keep, max_basis - block), k)
    if k < 1 or block < 1:
        raise UserError(f"block Krylov–Schur needs k >= 1 and block >= 1, got k = {k}, block = {block}")
    if max_basis < k + block or max_basis >= n:
        raise UserError(
            f"block Krylov–Schur needs k + block <= max_basis < n, got k = {k}, block = {block}, "
            f"max_basis = {max_basis}, n = {n}"
        )
    eps = float(np.finfo(dtype).eps)
    tol = eps if tol <= 0 else float(tol)
    max_products = 100 * max_basis if max_products is None else int(max_products)
    rng = np.random.default_rng(seed)
    products = 0

    def apply(X: np.ndarray) -> np.ndarray:
        nonlocal products
        Y = np.asarray(apply_block(np.ascontiguousarray(X, dtype=dtype)), dtype=dtype)
        if Y.shape != X.shape:
            raise UserError(f"the block product returned shape {Y.shape} for input {X.shape}")
        if not np.all(np.isfinite(Y)):
            raise UserError("the operator returned non-finite values")
        products += X.shape[1]
        if on_products is not None:
            on_products(X.shape[1])
        return Y

    if start is None:
        V = _orthonormalise(rng.standard_normal((n, block)).astype(dtype), None, 0.0)
        warm = False
    else:
        start = np.asarray(start)
        if start.ndim != 2 or start.shape[0] != n or start.shape[1] == 0 or not np.all(np.isfinite(start)):
            raise UserError(f"the start basis must be finite and of shape ({n}, s >= 1), got {start.shape}")
        V = _orthonormalise(start[:, : max_basis - block].astype(dtype), None, 1e3 * eps)
        if V.shape[1] < block:
            pad = rng.standard_normal((n, block - V.shape[1])).astype(dtype)
            V = np.concatenate([V, _orthonormalise(pad, V, 1e3 * eps)], axis=1)
        warm = True
    W = apply(V)
    H = (V.T @ W).astype(np.float64)
    iterations = restarts = 0
    notes: list[str] = []
    while True:
        Q, T = ordered_schur(H, min(k, H.shape[0]), which)
        Qd = Q.astype(dtype)
        R = W @ Qd - V @ (Qd @ T.astype(dtype))  # residual block of the wanted Schur vectors, ⟂ V
        lam, Y = np.linalg.eig(T)
        order = np.argsort(-selection_key(lam, which), kind="stable")
        lam, Y = lam[order], Y[:, order]
        RY = R.astype(np.complex128) @ Y if np.iscomplexobj(Y) else R @ Y
        residual = np.linalg.norm(RY, axis=0) / np.maximum(np.linalg.norm(Y, axis=0), 1e-300)
        relative = residual / np.maximum(np.abs(lam), 1e-300)
        top = min(k, len(lam))
        done = H.shape[0] >= k and bool(np.all(relative[:top] <= tol))
        if done or products >= max_products:
            break
        # expansion: the residuals of the unconverged wanted pairs, real and imaginary parts (one per conjugate pair)
        columns = []
        for i in range(top):
            if relative[i] <= tol:
                continue
            if lam[i].imag < 0 and np.any(np.isclose(lam[:top], np.conj(lam[i]))):
                continue  # its conjugate's residual spans the same real plane
            columns.append(RY[:, i].real)
            if lam[i].imag != 0:
                columns.append(RY[:, i].imag)
        X = np.stack(columns[:block], axis=1).astype(dtype) if columns else R[:, :block]
        if V.shape[1] + X.shape[1] > max_basis:  # thick restart: the Schur vectors of the keep best Ritz values
            Qk, Tk = ordered_schur(H, keep, which)
            Qk = Qk.astype(dtype)
            V, W, H = V @ Qk, W @ Qk, Tk
            restarts += 1
        E = _orthonormalise(X, V, 1e3 * eps)
        if E.shape[1] < X.shape[1]:  # residuals nearly inside the basis: fill the block with fresh directions
            fresh = _orthonormalise(rng.standard_normal((n, X.shape[1] - E.shape[1])).astype(dtype), V, 1e3 * eps)
            E = np.concatenate([E, fresh], axis=1) if E.shape[1] else fresh
            E = _orthonormalise(E, V, 1e3 * eps)
        if E.shape[1] == 0:
            notes.append("the basis stopped growing (the residuals lie in it to rounding)")
            break
        WE = apply(E)
        H = np.block(
            [[H, (V.T @ WE).astype(np.float64)], [(E.T @ W).astype(np.float64), (E.T @ WE).astype(np.float64)]]
        )
        V, W = np.concatenate([V, E], axis=1), np.concatenate([W, WE], axis=1)
        iterations += 1
    converged = bool(np.all(relative[:top] <= tol)) and top == k
    if not converged:
        notes.append(
            f"block Krylov–Schur did not converge: {int(np.sum(relative[:top] <= tol))} of {k} eigenvalues reached "
            f"tol {tol:.1e} after {products} products"
        )
    X = (V @ Qd).astype(np.complex128 if np.iscomplexobj(Y) else dtype) @ Y[:, :top]
    X = X / np.maximum(np.linalg.norm(X, axis=0), 1e-300)
    Qk, _ = ordered_schur(H, min(keep, H.shape[0]), which)
    basis = V @ Qk.astype(dtype)
    if warm:
        notes.append(f"started from a given basis of {start.shape[1]} columns")
    return BlockResult(lam[:top], X, basis, products, iterations, restarts, converged, relative[:top], notes)
