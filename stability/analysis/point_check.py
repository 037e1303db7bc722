"""What every point of an analysis report goes through before it is called an equilibrium (issue 27).

* Its residual: the field evaluated by the compiled formula, against the size of the field's terms there
  (:func:`~stability.analysis.flows.term_size`); a point is an equilibrium when ‖F‖ ≤
  :data:`~stability.analysis.numeric_equilibria.ROOT_RTOL` times that size.
* Its Jacobian, by the chosen backend; for a long analytic formula (a quadrature flow) by the complex step on the
  compiled formula, which is exact to rounding and needs no second compilation.
* Whether it lies on a continuum: for a symbolic solution family, the derivatives of the solution in its free
  parameters; for a numeric root (a given point), :func:`~stability.analysis.continua.confirm_dimension`.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import sympy

from stability.analysis.continua import Probe, confirm_dimension
from stability.analysis.equilibria import Equilibrium, Verification
from stability.analysis.flows import SymbolicFlow, TorchFlow, expression_size
from stability.analysis.numeric_equilibria import ROOT_RTOL, RootTest
from stability.spec.expressions import exact_to_complex
from stability.symbolic.field import SYMBOLIC_JACOBIAN_LIMIT, SymbolicField

BACKENDS = ("symbolic", "torch")


class PointChecker:
    """Residuals, Jacobians and continuum probes at the points of one field.

    Args:
        field_: the symbolic field (constants bound).
        backend: ``"symbolic"`` (sympy's Jacobian, or the complex step on a long formula) or ``"torch"``
            (``torch.func`` autodiff of the spec, :class:`~stability.autodiff.field.TorchField`).
        torch_field: the torch field when already built.
    """

    def __init__(self, field_: SymbolicField, backend: str = "symbolic", torch_field=None) -> None:
        self.field = field_
        self.backend = backend
        self._torch_field = torch_field
        self.names = [p.name for p in field_.params]

    @cached_property
    def formula(self) -> SymbolicFlow:
        return SymbolicFlow.of(self.field)

    @property
    def torch_field(self):
        if self._torch_field is None:
            from stability.autodiff.field import torch_field_for

            self._torch_field = torch_field_for(self.field.system)
        return self._torch_field

    @cached_property
    def long(self) -> bool:
        return expression_size(self.field.exprs) > SYMBOLIC_JACOBIAN_LIMIT / 4  # a node prints as about 4 characters

    def residual(self, vector: np.ndarray) -> Verification:
        """‖F‖ by the compiled formula, against the size of the terms at ``vector``."""
        sample = self.formula.evaluate(np.asarray(vector, dtype=float)[None], jacobians=False)
        test = RootTest(floor=1e-300)
        relative = float(test.relative(sample.values, sample.sizes)[0])
        return Verification(
            self.formula.route,
            float(np.linalg.norm(sample.values[0])),
            float(np.linalg.norm(sample.sizes[0])),
            relative,
        )

    def is_root(self, verification: Verification) -> bool:
        return verification.relative <= ROOT_RTOL

    def jacobian(self, vector: np.ndarray) -> np.ndarray:
        """J at ``vector`` by the backend (see the class)."""
        if self.backend == "torch":
            return self.torch_field.jacobian(np.asarray(vector, dtype=float))
        if self.long and self.formula.analytic:
            J = self.formula.evaluate(np.asarray(vector, dtype=float)[None]).jacobians[0]
            if np.all(np.isfinite(J)):
                return J
        return self.field.jacobian(vector)

    def probe(self, vector: np.ndarray, jacobian: np.ndarray) -> Probe:
        """The continuum of roots through the root ``vector`` (dimension 0 when it is isolated)."""
        x = np.asarray(vector, dtype=float)
        flow = self.formula if self.formula.analytic else TorchFlow(self.torch_field, x)
        size = float(np.linalg.norm(self.formula.evaluate(x[None], jacobians=False).sizes[0]))
        test = RootTest(floor=max(1e-8 * size, 1e-300))
        step = 0.05 * max(1.0, float(np.max(np.abs(x))))
        return confirm_dimension(flow, x, jacobian, step, test)


def solution_tangents(field_: SymbolicField, equilibrium: Equilibrium) -> np.ndarray | None:
    """Orthonormal tangents of a symbolic solution family at its sample point: ∂x/∂(free parameters).

    ``None`` when the family is not known as expressions (then the caller linearises as at a point).
    """
    if equilibrium.kind != "continuum" or equilibrium.solution is None:
        return None
    params = list(field_.params)
    free = [p for p in params if p.name in equilibrium.free]
    if not free:
        return None
    at = {p: sympy.Float(equilibrium.point[p.name]) for p in free}
    columns = []
    for f in free:
        column = []
        for p in params:
            if p in free:
                column.append(1.0 if p is f else 0.0)
            else:
                derivative = sympy.diff(sympy.sympify(equilibrium.solution[p]), f).xreplace(at)
                column.append(exact_to_complex(derivative).real)
        columns.append(column)
    Q, _ = np.linalg.qr(np.array(columns, dtype=float).T)
    return Q
