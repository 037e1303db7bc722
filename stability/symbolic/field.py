"""The simultaneous gradient flow of a :class:`~stability.spec.system.GanSystem`, symbolically.

With V(ψ, θ) = E_pd[f(D(x; ψ))] + E_pθ[f(−D(x; ψ))] and the penalty
P(ψ, θ) = M(ψ, θ) · E_μ̄[φ(‖∇ₓD(x̂; ψ)‖²)], the flow of Definition 4 of ``003_…``
(generalised to a link f and a form φ) is::

    ψ̇ = ∇_ψ V − (ρ/2) ∇_ψ P          (the penalty enters ψ̇ only, with the
    θ̇ = −∇_θ E_pθ[f(−D(x; ψ))]        ψ-dependence of the mass M included)

For f(t) = t this is θ̇ = ∇_θ E_pθ[D], as in the paper. Symbolic work ends at
:meth:`SymbolicField.numpy_function` (one ``lambdify`` with ``cse=True``);
numeric loops never call sympy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import numpy as np
import sympy

from stability.spec.expressions import exact_number
from stability.spec.lambdify import KinkSqrt, lambdify_numpy, lambdify_torch
from stability.spec.ops import SYMPY
from stability.spec.penalties import half_rho
from stability.spec.serialize import values_by_name
from stability.spec.system import GanSystem
from stability.symbolic.expectation import expectation
from stability.util.errors import UserError, within_limit

Point = Mapping[str, float] | Sequence[float] | np.ndarray


class SymbolicField:
    """(ψ̇, θ̇) of a system as sympy expressions, with numeric evaluators.

    Attributes:
        system: the spec it came from.
        params: the state symbols (ψ, θ).
        exprs: one expression per parameter, ψ̇ first.
        exact: False when an expectation used quadrature (see ``notes``).
        notes: how each expectation was obtained, when not exactly.
    """

    def __init__(self, system: GanSystem):
        self.system = system
        self.params = system.params
        ops = SYMPY
        f = system.link
        D = system.discriminator
        x = system.x
        on = lambda point: dict(zip(x, point))  # noqa: E731

        with _step("the data term E_pd[f(D)]"):
            data_term = expectation(system.data, lambda p: f(D.xreplace(on(p)), ops), "E_pd[f(D)]")
        _defined(data_term.value, "the data term E_pd[f(D)]")
        with _step("the generator term E_ptheta[f(-D)]"):
            gen_term = expectation(system.generator, lambda p: f(-D.xreplace(on(p)), ops), "E_ptheta[f(-D)]")
        _defined(gen_term.value, "the generator term E_ptheta[f(-D)]")
        parts = [data_term, gen_term]
        objective = data_term.value + gen_term.value
        penalty_value = sympy.Integer(0)
        penalty_gradient = [sympy.Integer(0)] * len(system.psi)
        if system.penalty is not None:
            pen = system.penalty
            grad_sq = sum(sympy.diff(D, xi) ** 2 for xi in x)
            law = pen.measure.law(system.data, system.generator)
            kinked = SimpleNamespace(**{**vars(ops), "sqrt": KinkSqrt})  # √q with subgradient 0 at ∇ₓD = 0
            integrand = lambda p: pen.form(grad_sq.xreplace(on(p)), kinked)  # noqa: E731
            with _step("the penalty term E_mu[phi(|grad_x D|^2)]"):
                term = expectation(law, integrand, "E_mu[phi(|grad_x D|^2)]")
            _defined(term.value, "the penalty term E_mu[phi(|grad_x D|^2)]")
            parts.append(term)
            mass = sympy.sympify(pen.measure.mass)
            penalty_value = mass * term.value
            with _step("the gradient of the penalty term"):
                if term.exact:
                    penalty_gradient = [sympy.diff(penalty_value, p) for p in system.psi]
                else:
                    # x̂ does not depend on ψ, so ∇ψ E[φ] = E[∇ψ φ]: differentiating the small integrand before
                    # quadrature is much cheaper than differentiating the quadrature sum.
                    penalty_gradient = [
                        sympy.diff(mass, p) * term.value
                        + mass * expectation(law, lambda q, p=p: sympy.diff(integrand(q), p), integrate=False).value
                        for p in system.psi
                    ]
        self.objective = objective
        self.penalty_value = penalty_value
        rho = system.penalty.rho if system.penalty is not None else 0
        with _step("the flow (the gradients of the objective)"):
            psi_dot = [sympy.diff(objective, p) - half_rho(rho) * g for p, g in zip(system.psi, penalty_gradient)]
            theta_dot = [-sympy.diff(gen_term.value, t) for t in system.theta]
            self.exprs = tuple(_tidy(_off_the_kinks(e)) for e in psi_dot + theta_dot)
        for p, e in zip(self.params, self.exprs):
            _defined(e, f"the flow d{p}/dt")
        self.exact = all(part.exact for part in parts)
        self.notes = [note for part in parts for note in part.notes]

    # ---- symbolic views ------------------------------------------------------

    @cached_property
    def jacobian_expr(self) -> sympy.Matrix:
        """∂(ψ̇, θ̇)/∂(ψ, θ) as a sympy matrix (DiracDelta terms of kinks dropped)."""
        with _step("the Jacobian of the flow"):
            J = sympy.Matrix(self.exprs).jacobian(self.params)
            return J.applyfunc(lambda e: _tidy(_off_the_kinks(e)))

    def jacobian_exact(self, point: Mapping[str, Any]) -> sympy.Matrix:
        """The Jacobian at a point given exactly (numbers are rationalised)."""
        vector = {p: _exact(point[p.name], p.name) for p in self.params}
        return self.jacobian_expr.xreplace(vector)

    def eigenvalues_exact(self, point: Mapping[str, Any]) -> list[sympy.Expr]:
        """Closed-form eigenvalues at a point, with multiplicity (small systems).

        sympy's radical root formulas can fail inside its integer factorisation on huge numerators (ρ = 1e-10 gives
        a discriminant of 21 digits, and even ``sqrt`` of it raises "... is not a prime factor"); the eigenvalues
        are then the characteristic polynomial's roots as ``CRootOf`` without radicals (isolated exactly, evaluated
        to any precision), which needs rational coefficients; otherwise the error stands.
        """
        J = self.jacobian_exact(point)
        try:
            return [v for v, k in J.eigenvals().items() for _ in range(k)]
        except (ValueError, ArithmeticError):
            poly = J.charpoly()
            if not (poly.domain.is_ZZ or poly.domain.is_QQ):
                raise
            return [sympy.CRootOf(poly, i, radicals=False) for i in range(poly.degree())]

    def substitute(self, values: Mapping[str, float]) -> SymbolicField:
        """A copy with named constants (e.g. ``rho``) replaced by numbers."""
        bound = self.system.bind(values)  # validates names and values exactly as for the spec
        by_name = {s.name: s for s in self.system.constants}
        mapping = {by_name[k]: _exact(v, k) for k, v in values.items()}
        clone = object.__new__(SymbolicField)
        cached = ("jacobian_expr", "_value_function", "_jacobian_function")
        clone.__dict__.update({k: v for k, v in self.__dict__.items() if k not in cached})
        clone.exprs = tuple(_tidy(e.xreplace(mapping)) for e in self.exprs)
        clone.objective = self.objective
        clone.penalty_value = self.penalty_value.xreplace(mapping)
        clone._constants_bound = tuple(by_name[k] for k in values)
        clone.system = bound
        return clone

    @property
    def free_constants(self) -> tuple[sympy.Symbol, ...]:
        free = set().union(*[e.free_symbols for e in self.exprs]) - set(self.params)
        return tuple(sorted(free, key=lambda s: s.name))

    def describe(self) -> list[str]:
        """Readable equations ``ψ̇ = …``, one per parameter."""
        return [f"d{p}/dt = {sympy.sstr(e)}" for p, e in zip(self.params, self.exprs)]

    # ---- numeric views -------------------------------------------------------

    @cached_property
    def _value_function(self):
        self.require_numeric()
        with _step("compiling the flow to numpy"):
            return lambdify_numpy(self.params, list(self.exprs))

    @cached_property
    def _jacobian_function(self):
        self.require_numeric()
        if len(str(self.exprs)) <= SYMBOLIC_JACOBIAN_LIMIT:
            jacobian = self.jacobian_expr.tolist()
            with _step("compiling the Jacobian to numpy"):
                return lambdify_numpy(self.params, jacobian)
        return _autodiff_jacobian(self.params, self.exprs)

    def numpy_function(self):
        """A vectorised ``F(*params) -> list of arrays``: the flow on grids, no sympy inside."""
        return self._value_function

    def jacobian_function(self):
        """``J(*params) -> nested lists``: vectorised on grids, except for flows above
        :data:`SYMBOLIC_JACOBIAN_LIMIT`, whose Jacobian is taken point by point by autodiff."""
        return self._jacobian_function

    def value(self, point: Point) -> np.ndarray:
        """The flow (ψ̇, θ̇) at a point."""
        vector = self.as_vector(point)
        return _finite(lambda: self._value_function(*vector), "flow", self.params, vector)

    def jacobian(self, point: Point) -> np.ndarray:
        """The Jacobian of the flow at a point, float64."""
        vector = self.as_vector(point)
        return _finite(lambda: self._jacobian_function(*vector), "Jacobian", self.params, vector)

    def jvp(self, point: Point, tangent: Sequence[float]) -> np.ndarray:
        """J(point) @ tangent."""
        return self.jacobian(point) @ np.asarray(tangent, dtype=float)

    def as_vector(self, point: Point) -> np.ndarray:
        """A point given by name (``{"psi": 0, "theta": 1}``) or in order, as an array."""
        names = [p.name for p in self.params]
        if isinstance(point, Mapping):
            return np.array(values_by_name(point, names))
        vector = np.asarray(point, dtype=float).ravel()
        if vector.size != len(names):
            raise UserError(f"point needs {len(names)} values ({', '.join(names)}), got {vector.size}")
        return vector

    def require_numeric(self) -> None:
        """Raise a :class:`UserError` naming any symbolic constant still free (e.g. ρ)."""
        free = self.free_constants
        if free:
            names = ", ".join(s.name for s in free)
            raise UserError(f"numeric evaluation needs values for {names} (e.g. --param {free[0].name}=1)")


#: Flows longer than this (characters) get their numeric Jacobian by forward-mode autodiff of the lambdified
#: flow: sympy's diff is exact too, but takes minutes on the thousands of terms of a quadrature expectation.
SYMBOLIC_JACOBIAN_LIMIT = 20_000


def _autodiff_jacobian(params: Sequence[sympy.Symbol], exprs: Sequence[sympy.Expr]):
    """J(*point) of the flow's own formula by ``torch.func.jacfwd`` (exact derivatives, no finite differences)."""
    import torch

    flow = lambdify_torch(params, exprs)

    def stacked(vector):
        return torch.stack([torch.as_tensor(c, dtype=vector.dtype) for c in flow(*vector)])

    jacobian = torch.func.jacfwd(stacked)
    return lambda *point: jacobian(torch.tensor([float(p) for p in point], dtype=torch.float64)).tolist()


def _step(what: str):
    """One symbolic step under the command's time limit, named for the message if it runs out."""
    return within_limit(f"deriving {what}", "simplify the spec (fewer terms, a polynomial D, atomic laws)")


def _defined(expr: sympy.Expr, what: str) -> None:
    """Refuse a term that sympy has found infinite or undefined (D = psi/x on a Dirac at 0 divides by zero)."""
    if sympy.sympify(expr).has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise UserError(
            f"{what} is infinite or undefined (D or its gradient divides by zero, or explodes, on the laws' points)"
        )


def _exact(value: Any, name: str) -> sympy.Expr:
    return value if isinstance(value, sympy.Basic) else exact_number(value, name)


def _finite(evaluate: Any, what: str, params: Sequence[sympy.Symbol], point: np.ndarray) -> np.ndarray:
    """``evaluate()`` of a compiled flow as float64, or one line saying where it overflows (a 1e308 in the spec)."""
    where = ", ".join(f"{p.name}={v:.6g}" for p, v in zip(params, point))
    with np.errstate(all="ignore"):
        try:
            array = np.array(evaluate(), dtype=float)
        except OverflowError:  # an exact 10^600 in the formula meets a float
            array = np.array([[np.inf]])
    if not np.all(np.isfinite(array)):
        bad = "overflows float64" if not np.any(np.isnan(array)) else "is not a number (NaN)"
        raise UserError(f"the {what} at ({where}) {bad}: the spec's numbers are too large (or a division by zero)")
    return array


def _off_the_kinks(expr: sympy.Expr) -> sympy.Expr:
    """The derivatives of kinks dropped: 0 off the kink, and the convention sign(0) = 0 at it (numpy has no delta).

    d sign(u)/du = 2·DiracDelta(u) (from |ψx| in ∇ₓD); where sympy cannot tell that u is real (u = θ/ψ, infinite at
    ψ = 0) it leaves d sign(u)/dv unevaluated instead, which is 2·DiracDelta(u)·∂u/∂v, dropped alike.
    """
    expr = expr.replace(sympy.DiracDelta, lambda *a: 0)
    return expr.replace(
        lambda e: isinstance(e, sympy.Derivative) and isinstance(e.expr, (sympy.sign, sympy.Heaviside)),
        lambda e: sympy.S.Zero,
    )


def _tidy(expr: sympy.Expr) -> sympy.Expr:
    """Cheap normalisation: expand polynomials, leave the rest as sympy built it."""
    expr = sympy.sympify(expr)
    if expr.is_polynomial():
        return sympy.expand(expr)
    return expr
