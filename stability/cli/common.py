"""Small helpers shared by the CLI commands."""

from __future__ import annotations

import json
import math
from typing import Any

from stability.spec.errors import SpecError
from stability.spec.serialize import jsonable


def parse_assignments(text: str | None, what: str) -> dict[str, float]:
    """``"psi=0,theta=1"`` → ``{"psi": 0.0, "theta": 1.0}``."""
    if not text:
        return {}
    values: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise SpecError(f"{what}: expected name=value pairs separated by commas, got {text!r}")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise SpecError(f"{what}: {value.strip()!r} is not a number (in {text!r})") from None
    return values


def parse_box(text: str | None, dims: int) -> list[tuple[float, float]] | None:
    """``"-2,2,-1,1"`` → ``[(-2, 2), (-1, 1)]``, checked for size and order."""
    if text is None:
        return None
    try:
        numbers = [float(v) for v in text.split(",")]
    except ValueError:
        raise SpecError(f"--box: expected 2x{dims} comma-separated numbers, got {text!r}") from None
    if len(numbers) != 2 * dims:
        raise SpecError(f"--box needs {2 * dims} numbers (min,max per parameter), got {len(numbers)}")
    box = list(zip(numbers[::2], numbers[1::2]))
    if any(not lo < hi for lo, hi in box):
        raise SpecError(f"--box: each min must be below its max, got {text!r}")
    return box


def _number(text: str, positive: bool) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise argparse.ArgumentTypeError(f"must be {'> 0' if positive else 'finite'}, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    return _number(text, positive=True)


def finite_float(text: str) -> float:
    """argparse type: a finite float."""
    return _number(text, positive=False)


def dump_json(obj: Any) -> str:
    """JSON with numpy values converted and non-finite floats as null."""
    return json.dumps(jsonable(obj), indent=2, ensure_ascii=False)
