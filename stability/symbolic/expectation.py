"""Symbolic expectations E[g(X)] over a :class:`~stability.spec.laws.Law`.

Exact where possible, and honest where not:

* atomic branches (dirac, discrete): a weighted sum, exact;
* integrands polynomial in the base variables: the moments of U(0, 1)
  (1/(k+1)) and N(0, 1) ((k−1)!! for even k) — exact, and much faster than
  ``sympy.integrate``;
* other integrands over one base variable (a ``|ψx|`` from the WGAN-GP
  form): ``sympy.integrate`` under a time limit, exact when it returns
  without an unevaluated integral;
* anything else (a logistic link on a normal law): tensor-product Gauss
  quadrature in the base variables, leaving ψ and θ symbolic; the result says
  so in its notes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import sympy

from stability.spec.laws import Branch, Law
from stability.spec.quadrature import QUADRATURE_NODES, base_nodes, describe_nodes, nodes_per_base
from stability.util.timelimit import TimeLimitExceeded, time_limit

#: Seconds ``sympy.integrate`` may take on one non-polynomial branch before quadrature takes over.
INTEGRATE_SECONDS = 2.0


@dataclass
class Expectation:
    """An expectation's value and how it was obtained."""

    value: sympy.Expr
    exact: bool = True
    notes: list[str] = field(default_factory=list)


def expectation(
    law: Law, integrand: Callable[[tuple[sympy.Expr, ...]], sympy.Expr], what: str = "E[...]", integrate: bool = True
) -> Expectation:
    """E[integrand(X)] for X ~ ``law``, symbolic in every non-base symbol.

    ``integrate=False`` skips the ``sympy.integrate`` attempt (when it is known to fail).
    """
    total = sympy.Integer(0)
    exact = True
    notes: list[str] = []
    for branch in law.branches:
        g = sympy.sympify(integrand(branch.point))
        value, branch_exact = _branch_expectation(branch, g, integrate)
        total += branch.weight * value
        if not branch_exact:
            exact = False
    if not exact:
        nodes = describe_nodes(QUADRATURE_NODES)
        notes.append(
            f"{what}: sympy could not integrate over the base variables of {law}; Gauss quadrature used ({nodes})"
        )
    return Expectation(total, exact, notes)


def _branch_expectation(branch: Branch, g: sympy.Expr, integrate: bool = True) -> tuple[sympy.Expr, bool]:
    if not branch.bases:
        return g, True
    used = [b for b in branch.bases if b.symbol in g.free_symbols]
    if not used:
        return g, True
    if g.is_polynomial(*[b.symbol for b in used]):
        poly = sympy.Poly(g, *[b.symbol for b in used])
        value = sympy.Integer(0)
        for powers, coefficient in poly.terms():
            moment = sympy.Integer(1)
            for base, k in zip(used, powers):
                moment *= _moment(base.kind, k)
            value += coefficient * moment
        return value, True
    attempt = integrate and len(used) == 1 and not (SKIP_HOPELESS and no_gaussian_closed_form(used[0], g))
    exact = _integrate(used, g) if attempt else None  # iterated integrals of kinks rarely close
    if exact is not None:
        return exact, True
    return _quadrature(used, g), False


#: Skip ``sympy.integrate`` where :func:`no_gaussian_closed_form` says it cannot succeed (a switch for the
#: benchmark of issue 27, which times the old behaviour beside the new).
SKIP_HOPELESS = True

#: Functions whose Gaussian expectation E[f(a·z + b)] has no elementary closed form (the network activations
#: tanh, and through its derivatives sech²; the inverse trigonometric family): sympy's integrators search until
#: the time limit and give up (2 s per branch, measured on c·tanh(a·z), sech², atan).
_NO_GAUSSIAN_FORM = (sympy.tanh, sympy.coth, sympy.sech, sympy.csch, sympy.atan, sympy.acot)


def no_gaussian_closed_form(base, g: sympy.Expr) -> bool:
    """Whether E[g] over one N(0, 1) base variable certainly has no closed form sympy could find.

    True when g holds, with the base variable u in its argument, a tanh-family or arctangent function, the
    logistic sigmoid 1/(1 + e^(…u…)) (a negative power of a sum holding an exponential of u), or a logarithm of
    such a sum (softplus). These are the activations of neural critics; sympy returned an unevaluated integral or
    ran past its time limit on each of them, while log(1 + z²), 1/(1 + z²) and sin²(az) did integrate, and so
    are not refused here. Uniform base variables are never refused (∫ tanh(au) du = log cosh(a)/a).
    """
    if base.kind == "uniform01":
        return False
    u = base.symbol

    def holds_exp_of_u(e: sympy.Expr) -> bool:
        return any(u in x.free_symbols for x in e.atoms(sympy.exp))

    for node in sympy.preorder_traversal(g):
        if isinstance(node, _NO_GAUSSIAN_FORM) and u in node.free_symbols:
            return True
        if isinstance(node, sympy.log) and holds_exp_of_u(node.args[0]) and node.args[0].is_Add:
            return True
        if isinstance(node, sympy.Pow) and node.exp.is_negative and node.base.is_Add and holds_exp_of_u(node.base):
            return True
    return False


def _integrate(bases, g: sympy.Expr) -> sympy.Expr | None:
    """Iterated ``sympy.integrate`` against the base densities, or ``None``."""
    try:
        with time_limit(INTEGRATE_SECONDS):
            value = g
            for base in bases:
                u = base.symbol
                if base.kind == "uniform01":
                    value = sympy.integrate(value, (u, 0, 1))
                else:
                    density = sympy.exp(-(u**2) / 2) / sympy.sqrt(2 * sympy.pi)
                    value = sympy.integrate(value * density, (u, -sympy.oo, sympy.oo))
                if value.has(sympy.Integral):
                    return None
    except (TimeLimitExceeded, NotImplementedError, ValueError, TypeError, RecursionError):
        return None
    if value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return None
    return value


def _moment(kind: str, k: int) -> sympy.Expr:
    if kind == "uniform01":
        return sympy.Rational(1, k + 1)
    if k % 2:
        return sympy.Integer(0)
    return sympy.factorial2(k - 1) if k else sympy.Integer(1)


def _quadrature(bases, g: sympy.Expr) -> sympy.Expr:
    n = nodes_per_base(QUADRATURE_NODES, len(bases))
    rules = [base_nodes(b.kind, n) for b in bases]
    terms = []
    for combo in itertools.product(*[range(n)] * len(bases)):
        weight = 1.0
        substitution = {}
        for base, (nodes, weights), i in zip(bases, rules, combo):
            weight *= float(weights[i])
            substitution[base.symbol] = sympy.Float(float(nodes[i]))
        terms.append(sympy.Float(weight) * g.xreplace(substitution))
    return sympy.Add(*terms)  # one Add: summing term by term re-flattens and costs O(n²)
