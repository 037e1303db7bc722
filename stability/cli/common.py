"""Small helpers shared by the CLI commands."""

from __future__ import annotations

import json
import math
from typing import Any

from stability.util.errors import UserError, checked_float, int_type, number_type

__all__ = ["dump_json", "finite_float", "int_type", "number_type", "parse_assignments", "parse_box", "positive_float"]
from stability.spec.serialize import jsonable


def parse_assignments(text: str | None, what: str) -> dict[str, float]:
    """``"psi=0,theta=1"`` → ``{"psi": 0.0, "theta": 1.0}``; each value finite, each name given once."""
    if not text:
        return {}
    values: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"{what}: expected name=value pairs separated by commas, got {text!r}")
        if name in values:  # a silent last-one-wins would analyse a point the user did not mean
            raise UserError(f"{what}: {name} is given twice (in {text!r})")
        values[name] = checked_float(value, f"{what} {name}")
    return values


def parse_box(text: str | None, dims: int) -> list[tuple[float, float]] | None:
    """``"-2,2,-1,1"`` → ``[(-2, 2), (-1, 1)]``; one pair ``"-2,2"`` applies to every parameter. Checked for size and
    order."""
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) == 2 and dims > 1:
        parts = parts * dims  # one pair: the same range for every parameter
    if len(parts) != 2 * dims:
        raise UserError(
            f"--box needs 2 numbers (min,max for every parameter) or {2 * dims} (min,max per parameter), "
            f"got {len(parts)}"
        )
    numbers = [checked_float(v, "--box") for v in parts]
    box = list(zip(numbers[::2], numbers[1::2]))
    if any(not lo < hi for lo, hi in box):
        raise UserError(f"--box: each min must be below its max, got {text!r}")
    if any(not math.isfinite(hi - lo) for lo, hi in box):  # the search steps by a fraction of the width
        raise UserError(f"--box: a width max - min overflows float64, got {text!r}")
    return box


#: argparse type: a finite float > 0.
positive_float = number_type(positive=True)
#: argparse type: a finite float.
finite_float = number_type()


def dump_json(obj: Any) -> str:
    """JSON with numpy values converted and non-finite floats as null."""
    return json.dumps(jsonable(obj), indent=2, ensure_ascii=False)
