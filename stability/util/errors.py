"""The one exception type for user mistakes.

Everything a user can get wrong (a spec, a law name, a parameter value) raises
:class:`UserError` with a one-line message; the CLI prints it and exits 2.
Bugs stay ordinary exceptions so that they still show a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any


class UserError(ValueError):
    """A user-facing input error with a message that says what to fix."""


def unknown_name(kind: str, name: str, valid: list[str] | tuple[str, ...]) -> UserError:
    """Build the standard 'unknown X' error listing the valid names."""
    return UserError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}")


def checked_float(
    value: Any,
    name: str,
    *,
    positive: bool = False,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """``value`` (a number or its text) as a finite float64 in range, or a one-line :class:`UserError`.

    The one check every number a user gives passes (spec values, command-line options, ``--set``), so
    NaN, ±inf, overflow and out-of-range values are refused before any work starts.

    Args:
        value: the number, or the text the user typed.
        name: what it is, in the user's terms (``"--rho"``, ``"rho"``, ``"width"``).
        positive: require > 0 (and not so small that float64 rounds it to 0).
        low: inclusive lower bound.
        high: inclusive upper bound.
    """
    shown = _shown(value)
    if isinstance(value, bool):
        raise UserError(f"{name}: {value!r} is not a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except OverflowError:
        raise UserError(f"{name}: {shown} does not fit in a float64 (|x| < 1.8e308)") from None
    except (TypeError, ValueError):
        raise UserError(f"{name}: {_shown(value)!r} is not a number") from None
    if math.isnan(number):
        raise UserError(f"{name}: NaN is not a number")
    if math.isinf(number):
        text = str(value).strip().lower().lstrip("+-")
        reason = "infinite" if text in ("inf", "infinity") else "too large for a float64 (|x| < 1.8e308)"
        raise UserError(f"{name} must be finite, got {shown} ({reason})")
    if number == 0 and isinstance(value, str) and any(c in "123456789" for c in value.lower().split("e")[0]):
        raise UserError(f"{name}: {shown} rounds to 0 in float64 (its smallest non-zero number is about 5e-324)")
    if positive and number <= 0:
        raise UserError(f"{name} must be > 0, got {shown}")
    if low is not None and number < low:
        raise UserError(f"{name} must be >= {low:g}, got {shown}")
    if high is not None and number > high:
        raise UserError(f"{name} must be <= {high:g}, got {shown}")
    return number


def checked_int(value: Any, name: str, low: int, high: int) -> int:
    """``value`` (an int, an integral float or its text, e.g. ``"1e3"``) as an int in [low, high], or a UserError.

    ``high`` is the caller's sanity bound (a width of 1e12 would exhaust memory long before it trained).
    """
    if isinstance(value, bool):
        raise UserError(f"{name} must be an integer, got {value!r}")
    try:
        # int() of a float would truncate 2.5 silently; only ints and integer text go this way
        number = value if isinstance(value, int) else int(value.strip()) if isinstance(value, str) else None
    except ValueError:  # "1e3", "2.5", "nan": read as a float below
        number = None
    if number is None:
        real = checked_float(value, name)
        if not real.is_integer():
            raise UserError(f"{name} must be an integer, got {_shown(value)}")
        number = int(real)
    if number > high:
        raise UserError(f"{name} must be at most {high:,}, got {_shown(value)}")
    if number < low:
        raise UserError(f"{name} must be at least {low:,}, got {_shown(value)}")
    return number


def _shown(value: Any) -> str:
    """A number as the user wrote it, cut short when it runs to hundreds of digits."""
    text = str(value).strip()
    return text if len(text) <= 40 else f"{text[:12]}…{text[-6:]} ({len(text)} characters)"


class TooLarge(UserError):
    """A spec whose symbolic work runs past its time limit or nests too deeply for sympy."""


@contextlib.contextmanager
def within_limit(what: str, advice: str, seconds: float | None = None) -> Iterator[None]:
    """Run one symbolic step (a parse, an expectation, a derivative, a solve) under the command's time limit.

    The one guard for work that can blow up on a legal spec (a power tower, a sum of 20,000 terms, quadrature
    of a large integrand): past the limit, or on a recursion sympy cannot finish, it raises :class:`TooLarge`
    naming the step and what to do instead of hanging or printing a traceback.

    Args:
        what: the step, in the user's terms (``"the penalty term E_mu[phi(|grad_x D|^2)]"``).
        advice: what to try instead (``"use a smaller spec or --backend torch"``).
        seconds: the limit; default :data:`stability.util.timelimit.DEFAULT_SECONDS` (``GANSTAB_TIME_LIMIT``).
    """
    from stability.util import timelimit

    limit = timelimit.DEFAULT_SECONDS if seconds is None else seconds
    try:
        with timelimit.time_limit(limit):
            yield
    except timelimit.TimeLimitExceeded:
        raise TooLarge(f"{what} took longer than {limit:g} s (GANSTAB_TIME_LIMIT); {advice}") from None
    except RecursionError:
        raise TooLarge(f"{what} is nested too deeply for sympy; {advice}") from None


def number_type(positive: bool = False, low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    """argparse type: a finite float in range, by :func:`checked_float` (argparse names the option itself)."""

    def parse(text: str) -> float:
        try:
            return checked_float(text, "value", positive=positive, low=low, high=high)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ").removeprefix("value ")) from None

    return parse


def int_type(low: int, high: int) -> Callable[[str], int]:
    """argparse type: an integer in [low, high], by :func:`checked_int`; ``high`` keeps sizes within memory."""

    def parse(text: str) -> int:
        try:
            return checked_int(text, "value", low, high)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ").removeprefix("value ")) from None

    return parse
