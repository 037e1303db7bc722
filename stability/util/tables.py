"""The one markdown-table writer: the lemma report, the experiments' results and the Table 2 reproduction use it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], cell: Callable[[Any], str] = str) -> str:
    """A GitHub-flavoured markdown table, one line per row, without a trailing newline.

    Args:
        header: the column names.
        rows: the cells of each row, as many as ``header``.
        cell: how a cell value becomes text (``str`` unless given); the text's ``|`` is escaped and its line breaks
            become spaces, so that a cell cannot break the table.
    """
    lines = [_line(header, str), "|" + "---|" * len(header)]
    lines += [_line(row, cell) for row in rows]
    return "\n".join(lines)


def _line(values: Sequence[Any], cell: Callable[[Any], str]) -> str:
    return "| " + " | ".join(cell(v).replace("|", "\\|").replace("\n", " ") for v in values) + " |"
