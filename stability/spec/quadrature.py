"""Gauss quadrature of the base variables U(0, 1) and N(0, 1): the one rule both engines use.

Where an expectation cannot be taken exactly, the symbolic engine sums the integrand over these nodes and the
autodiff engine evaluates it there, so both agree to rounding; with ``n`` nodes per variable the rule is exact for
polynomials of degree ≤ 2n − 1 in each.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from stability.util.errors import UserError

#: Quadrature nodes per base variable, by the number of base variables in a branch (tensor-product rules grow as
#: n^k, so fewer per variable in higher dimension).
QUADRATURE_NODES = {1: 24, 2: 12, 3: 6}

Nodes = int | Mapping[int, int]


def base_nodes(kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss nodes and weights of one base variable: Legendre on [0, 1], or probabilists' Hermite."""
    if kind == "uniform01":
        x, w = np.polynomial.legendre.leggauss(n)
        return (x + 1) / 2, w / 2
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / np.sqrt(2 * np.pi)


def nodes_per_base(nodes: Nodes, count: int) -> int:
    """Nodes per base variable for a branch with ``count`` base variables."""
    if isinstance(nodes, Mapping):
        return int(nodes.get(count, 6))
    if int(nodes) < 1:
        raise UserError(f"nodes must be >= 1, got {nodes}")
    return int(nodes)


def describe_nodes(nodes: Nodes) -> str:
    """How many nodes a rule uses, for notes in results."""
    if isinstance(nodes, Mapping):
        return ", ".join(f"{k} base variable(s): {n} nodes each" for k, n in sorted(nodes.items()))
    return f"{nodes} nodes per base variable"
