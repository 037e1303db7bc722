"""The one exception type for user mistakes.

Everything a user can get wrong (a spec, a law name, a parameter value) raises
:class:`SpecError` with a one-line message; the CLI prints it and exits 2.
Bugs stay ordinary exceptions so that they still show a traceback.
"""

from __future__ import annotations


class SpecError(ValueError):
    """A user-facing input error with a message that says what to fix."""


def unknown_name(kind: str, name: str, valid: list[str] | tuple[str, ...]) -> SpecError:
    """Build the standard 'unknown X' error listing the valid names."""
    return SpecError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}")
