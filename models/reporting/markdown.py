"""The one Markdown table writer and the cell formatting the reports share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def md_escape(text: Any) -> str:
    """A table cell: ``|`` escaped and line breaks as spaces, so the table stays one table."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table (cells escaped) as lines.

    Args:
        header: Column titles.
        rows: One sequence of cells per row (any values; shown with ``str``).

    Returns:
        The header line, the separator line and one line per row.
    """
    lines = ["| " + " | ".join(md_escape(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
    return lines
