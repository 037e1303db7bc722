"""The block Krylov–Schur solver of ``benchmarks/block_krylov.py`` against LAPACK's dense eigenvalues.

The benchmark that says a subspace warm start saves no products (``benchmarks/bench_warm_subspace.py``) is only as
good as this solver, so it is tested like package code:

* top-k by largest real part, magnitude and |imaginary part| of non-normal matrices with complex pairs equal the
  top-k of ``numpy.linalg.eigvals``, and each returned pair satisfies Ax = λx on a fresh product;
* started from an exact invariant subspace it converges on the first Rayleigh–Ritz step (the start is used);
* float32 vectors reach the float32 tolerance;
* bad arguments are one-line :class:`UserError`\\ s.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from stability.util.errors import UserError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from block_krylov import block_eigs, ordered_schur, selection_key  # noqa: E402


def _matrix(n: int = 300, seed: int = 0) -> np.ndarray:
    """Non-normal, with a spread real spectrum and many complex pairs near the top."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) / np.sqrt(n) + np.diag(np.linspace(-3.0, 1.0, n))


def _top(values: np.ndarray, which: str, k: int) -> np.ndarray:
    return np.sort(selection_key(values, which))[::-1][:k]


@pytest.mark.parametrize("which", ["LR", "LM", "LI"])
@pytest.mark.parametrize("block", [1, 3])
def test_top_k_equals_the_dense_spectrum(which, block):
    A = _matrix()
    dense = np.linalg.eigvals(A)
    assert np.sum(np.abs(dense.imag) > 1e-8) > 100  # the test matrix has complex pairs
    k = 8
    found = block_eigs(lambda X: A @ X, A.shape[0], k, which, tol=1e-10, block=block, max_basis=60)
    assert found.converged, found.notes
    assert len(found.eigenvalues) == k
    # the selection quantity of each of the k found equals that of the k best of the dense spectrum
    assert np.allclose(np.sort(selection_key(found.eigenvalues, which))[::-1], _top(dense, which, k), atol=1e-8)
    # each found value is an eigenvalue of A, and its vector an eigenvector (a fresh product, not the solver's)
    for value, x in zip(found.eigenvalues, found.vectors.T):
        assert np.min(np.abs(dense - value)) < 1e-8
        assert np.linalg.norm(A @ x - value * x) < 1e-8 * max(abs(value), 1.0)
    assert found.basis.shape[1] >= k and np.allclose(found.basis.T @ found.basis, np.eye(found.basis.shape[1]))


def test_products_are_the_columns_applied():
    A = _matrix(200, seed=3)
    columns = []

    def apply(X):
        columns.append(X.shape[1])
        return A @ X

    found = block_eigs(apply, 200, 5, "LR", tol=1e-9, block=2, max_basis=30)
    assert found.converged and found.products == sum(columns)


def test_a_start_spanning_the_invariant_subspace_converges_at_once():
    A = _matrix(250, seed=1)
    k = 6
    values, vectors = np.linalg.eig(A)
    chosen = np.argsort(-values.real)[: k + 2]  # k + 2 so that no conjugate pair is cut
    start = np.concatenate([vectors[:, chosen].real, vectors[:, chosen].imag], axis=1)
    warm = block_eigs(lambda X: A @ X, 250, k, "LR", tol=1e-9, block=k, max_basis=40, start=start)
    cold = block_eigs(lambda X: A @ X, 250, k, "LR", tol=1e-9, block=k, max_basis=40)
    assert warm.converged and warm.iterations == 0
    assert warm.products <= start.shape[1] < cold.products
    assert np.allclose(np.sort_complex(warm.eigenvalues), np.sort_complex(cold.eigenvalues), atol=1e-8)


def test_float32_reaches_the_float32_tolerance():
    A = _matrix(300, seed=2)
    found = block_eigs(lambda X: A.astype(np.float32) @ X, 300, 5, "LR", tol=1e-5, dtype=np.float32, block=5)
    assert found.converged and found.vectors.dtype == np.complex128
    assert np.allclose(np.sort(found.eigenvalues.real)[::-1], _top(np.linalg.eigvals(A), "LR", 5), atol=1e-4)


def test_ordered_schur_keeps_a_conjugate_pair_whole():
    # eigenvalues 3, 1 ± 2i, 0.5, -1: the two best by real part cut the pair, so three are kept
    rotation = np.array([[1.0, 2.0], [-2.0, 1.0]])
    H = np.zeros((5, 5))
    H[0, 0], H[1:3, 1:3], H[3, 3], H[4, 4] = 3.0, rotation, 0.5, -1.0
    S = np.eye(5) + 0.3 * np.random.default_rng(0).standard_normal((5, 5))  # a non-orthogonal similarity
    Q, T = ordered_schur(S @ H @ np.linalg.inv(S), 2, "LR")
    assert Q.shape == (5, 3)
    assert np.allclose(np.sort_complex(np.linalg.eigvals(T)), np.sort_complex([1 - 2j, 1 + 2j, 3.0]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k >= 1"),
        ({"max_basis": 50}, "max_basis < n"),
        ({"k": 10, "block": 10, "max_basis": 15}, "k + block <= max_basis"),
        ({"which": "SR"}, "unknown eigenvalue selection"),
        ({"start": np.zeros((49, 2))}, "start basis"),
        ({"start": np.full((50, 2), np.nan)}, "start basis"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, message):
    A = _matrix(50)
    options = {"k": 3, "max_basis": 20, **kwargs}
    with pytest.raises(UserError, match=re.escape(message)) as caught:
        block_eigs(lambda X: A @ X, 50, **options)
    assert "\n" not in str(caught.value)


def test_a_non_finite_product_is_refused():
    with pytest.raises(UserError, match="non-finite"):
        block_eigs(lambda X: np.full_like(X, np.inf), 50, 3, max_basis=20)
