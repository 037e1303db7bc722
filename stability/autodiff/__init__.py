"""The autodiff engine: the flow of Definition 4 on flat parameter vectors with ``torch.func``.

``nodes`` (fixed expectation nodes of laws), ``penalty_nodes`` (where the penalty is evaluated: paired or product
nodes), ``game`` (the torch ingredients), ``from_spec`` / ``from_modules`` (the two builders), ``field``
(:class:`TorchField`). Imported lazily.
"""

from stability.util.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["TorchField", "torch_field_for", "Point"], "stability.autodiff.field"),
    "TorchGame": "stability.autodiff.game",
    "game_from_system": "stability.autodiff.from_spec",
    **dict.fromkeys(["game_from_modules", "flatten_modules"], "stability.autodiff.from_modules"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
