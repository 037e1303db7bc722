"""The symbolic engine: expectations (``expectation``) and the flow of Definition 4 in sympy (``field``)."""

from stability.util.lazy import lazy_exports

_EXPORTS = {"SymbolicField": "stability.symbolic.field", "expectation": "stability.symbolic.expectation"}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
