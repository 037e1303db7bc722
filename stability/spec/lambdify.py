"""The one boundary where sympy expressions become numeric functions (numpy or torch).

Both engines and the laws' samplers cross it here, with the same conventions at kinks: the subgradient
sign(0) = 0 and Heaviside(0) = ½, so the symbolic and autodiff flows agree on non-smooth points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy

#: numpy namespace: Heaviside(0) = ½ (sympy's printer leaves its argument convention to us).
NUMPY_MODULES = [{"Heaviside": lambda t, at_zero=0.5: np.heaviside(t, at_zero)}, "numpy"]

#: Below this many characters common-subexpression elimination pays; above it (the thousands of terms of a
#: quadrature-based expectation) it costs seconds without speeding the function up.
CSE_LIMIT = 5000


def lambdify_numpy(args: Sequence[sympy.Symbol], exprs: Any):
    """numpy code for ``exprs`` in ``args``, with the kink conventions above."""
    return sympy.lambdify(args, exprs, modules=NUMPY_MODULES, cse=len(str(exprs)) < CSE_LIMIT)


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


#: torch namespace: sympy's torch printer, with the few functions it maps to non-broadcasting calls replaced.
TORCH_MODULES = [{"max": _maximum, "min": _minimum, "heaviside": _heaviside, "Heaviside": _heaviside}, "torch"]


def lambdify_torch(args: Sequence[sympy.Symbol], exprs: Sequence[sympy.Expr]):
    """torch code for ``exprs``; the result returns a list (numbers may stay Python floats)."""
    return sympy.lambdify(list(args), list(exprs), modules=TORCH_MODULES, cse=True)
