"""The one boundary where sympy expressions become numeric functions (numpy, torch or mpmath).

Every ``sympy.lambdify`` of the code base is the one in :func:`numeric_function` (``tests/test_architecture.py``
fails on a second call site). Both engines, the analysis, the plots and the laws' samplers cross it here, with the
same conventions at kinks: the subgradient sign(0) = 0 and Heaviside(0) = ½, so the symbolic and autodiff flows
agree on non-smooth points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import sympy

from stability.util.errors import UserError


class KinkSqrt(sympy.Function):
    """√q of a penalty's q = ‖∇ₓD‖², with the subgradient 0 at q = 0 (torch's ``safe_sqrt`` in ``spec.ops``).

    d√q/dψ = q'/(2√q) is 0/0 where ∇ₓD = 0 (the WGAN-GP kink); with this convention the flow and Jacobian
    there are the limits along the kink's symmetric directions, as sign(0) = 0 gives in one dimension, and the
    symbolic and autodiff engines agree. Square roots that sympy simplifies (√(ψ²x²) = |ψx|) stay plain.
    """

    is_real = True

    @classmethod
    def eval(cls, q):
        root = sympy.sqrt(q)
        if q.is_number or not any(p.exp == sympy.S.Half for p in root.atoms(sympy.Pow)):
            return root  # a number, or simplified away (|ψx|): nothing singular is left to guard
        return None

    def fdiff(self, argindex: int = 1):
        return KinkRsqrt(self.args[0]) / 2

    def _numpycode(self, printer) -> str:  # any numpy lambdify prints it, not only this module's
        return f"numpy.sqrt(numpy.maximum({printer._print(self.args[0])}, 0.0))"

    def _torchcode(self, printer) -> str:  # sympy's torch printer refuses unknown functions: name ours, found in
        return f"KinkSqrt({printer._print(self.args[0])})"  # TORCH_MODULES (mpmath prints the name by itself)


class KinkRsqrt(sympy.Function):
    """1/√q for q > 0 and 0 at q = 0: the derivative factor of :class:`KinkSqrt` (its singular part dropped)."""

    is_real = True

    @classmethod
    def eval(cls, q):
        if q.is_number:
            return sympy.Integer(0) if q == 0 else 1 / sympy.sqrt(q)
        return None

    def fdiff(self, argindex: int = 1):
        return -(KinkRsqrt(self.args[0]) ** 3) / 2

    def _numpycode(self, printer) -> str:
        q = printer._print(self.args[0])
        return f"numpy.where(({q}) > 0, 1/numpy.sqrt(numpy.where(({q}) > 0, {q}, 1.0)), 0.0)"

    def _torchcode(self, printer) -> str:
        return f"KinkRsqrt({printer._print(self.args[0])})"


#: numpy namespace: Heaviside(0) = ½ (sympy's printer leaves its argument convention to us).
NUMPY_MODULES = [
    {"Heaviside": lambda t, at_zero=0.5: np.heaviside(t, at_zero)},
    "numpy",
]

#: Below this many characters common-subexpression elimination pays; above it (the thousands of terms of a
#: quadrature-based expectation) it costs seconds without speeding the function up.
CSE_LIMIT = 5000


def _refuse_dirac(exprs: Any) -> None:
    """A Dirac delta has no numeric value at its point: refuse it in one line rather than raise a NameError."""
    items = exprs if isinstance(exprs, (list, tuple)) else [exprs]
    if any(isinstance(e, sympy.Basic) and e.has(sympy.DiracDelta) for e in items):
        raise UserError(
            "the field contains a Dirac delta (the derivative of a kink or step, e.g. d/dx of abs or Heaviside "
            "inside ∇ₓD); write D without the kink, or use the torch backend, whose autodiff takes one-sided values"
        )
    derivative = next((d for e in items if isinstance(e, sympy.Basic) for d in e.atoms(sympy.Derivative)), None)
    if derivative is not None:  # sympy's printers raise ValueError on one
        raise UserError(
            f"the field contains a derivative sympy could not evaluate, {derivative}; write D another way, or use "
            "the torch backend, whose autodiff differentiates numerically"
        )


def lambdify_numpy(args: Sequence[sympy.Symbol], exprs: Any) -> Callable[..., Any]:
    """numpy code for ``exprs`` in ``args``, with the kink conventions above (:func:`numeric_function`)."""
    return numeric_function(args, exprs, backend="numpy")


def _as_tensor(value, like):
    import torch

    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _fold(binary, *args):
    """sympy's n-ary Max/Min as a fold of torch's binary op, Python numbers promoted to tensors."""
    import torch

    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    like = tensors[0] if tensors else torch.tensor(0.0, dtype=torch.float64)
    out = args[0]
    for other in args[1:]:
        out = binary(_as_tensor(out, like), _as_tensor(other, like))
    return out


def _maximum(*args):
    import torch

    return _fold(torch.maximum, *args)


def _minimum(*args):
    import torch

    return _fold(torch.minimum, *args)


def _heaviside(t, at_zero=0.5):
    import torch

    # Same convention as numpy above: H(0) = ½; zero derivative everywhere.
    return torch.where(t > 0, torch.ones_like(t), torch.where(t < 0, torch.zeros_like(t), torch.full_like(t, at_zero)))


def _kink_rsqrt(q):
    import torch

    positive = q > 0
    return torch.where(positive, torch.rsqrt(torch.where(positive, q, torch.ones_like(q))), torch.zeros_like(q))


def _kink_sqrt(q):
    import torch

    return torch.sqrt(torch.clamp(q, min=0))


#: torch namespace: sympy's torch printer, with the few functions it maps to non-broadcasting calls replaced.
TORCH_MODULES = [
    {
        "max": _maximum,
        "min": _minimum,
        "heaviside": _heaviside,
        "Heaviside": _heaviside,
        "KinkSqrt": _kink_sqrt,
        "KinkRsqrt": _kink_rsqrt,
    },
    "torch",
]


def lambdify_torch(args: Sequence[sympy.Symbol], exprs: Sequence[sympy.Expr]) -> Callable[..., list]:
    """torch code for ``exprs``; the result returns a list (numbers may stay Python floats)."""
    return numeric_function(list(args), list(exprs), backend="torch", cse=True)


Backend = Literal["numpy", "torch", "mpmath"]


def _mp_kink_sqrt(q):
    import mpmath

    return mpmath.sqrt(q) if q > 0 else mpmath.mpf(0)


def _mp_kink_rsqrt(q):
    import mpmath

    return 1 / mpmath.sqrt(q) if q > 0 else mpmath.mpf(0)


#: mpmath namespace: its printer already gives Heaviside(0) = ½; the kink functions as for numpy and torch.
MPMATH_MODULES = [{"KinkSqrt": _mp_kink_sqrt, "KinkRsqrt": _mp_kink_rsqrt}, "mpmath"]

_MODULES: dict[str, list] = {"numpy": NUMPY_MODULES, "torch": TORCH_MODULES, "mpmath": MPMATH_MODULES}


def numeric_function(
    args: Any, exprs: Any, *, backend: Backend = "numpy", cse: bool | None = None
) -> Callable[..., Any]:
    """Compile sympy ``exprs`` into a function of ``args`` — the code base's one ``sympy.lambdify``.

    Args:
        args: a symbol or a sequence of symbols, the function's positional arguments (as ``sympy.lambdify``).
        exprs: one expression (the function returns one value) or a list of them (it returns a list).
        backend: ``"numpy"`` (arrays broadcast), ``"torch"`` (tensors, differentiable) or ``"mpmath"``
            (arbitrary precision scalars).
        cse: share common subexpressions; ``None`` decides by size (below :data:`CSE_LIMIT` characters it pays).

    Raises:
        UserError: the expressions hold a Dirac delta (no numeric value at its point), or the backend is unknown.
    """
    if backend not in _MODULES:
        raise UserError(f"unknown numeric backend {backend!r}; valid: {', '.join(_MODULES)}")
    _refuse_dirac(exprs)  # (the symbolic field drops its deltas by the sign(0) = 0 convention before this)
    if cse is None:
        cse = len(str(exprs)) < CSE_LIMIT
    return sympy.lambdify(args, exprs, modules=_MODULES[backend], cse=cse)
