"""Plain-data conversions shared by results, reports and the CLI."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

import numpy as np

from stability.util.errors import UserError


def jsonable(value: Any) -> Any:
    """Numpy scalars/arrays and complex numbers as JSON types; non-finite floats as ``None`` (null)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (complex, np.complexfloating)):
        return [jsonable(float(value.real)), jsonable(float(value.imag))]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, PurePath):
        return str(value)
    return value


def values_by_name(point: Mapping[str, Any], names: Sequence[str]) -> list[float]:
    """The values of ``point`` in the order of ``names``; exactly those names, or a :class:`UserError`."""
    missing = [n for n in names if n not in point]
    extra = [k for k in point if k not in names]
    if missing or extra:
        shown = ", ".join(list(names)[:20]) + (", ..." if len(names) > 20 else "")
        raise UserError(
            f"point must give exactly {shown}"
            + (f"; missing {', '.join(missing[:10])}" if missing else "")
            + (f"; unknown {', '.join(map(str, extra[:10]))}" if extra else "")
        )
    return [float(point[n]) for n in names]
