"""Text from result files made safe for Markdown: one cell escape behind every Markdown table edgebench writes
(report.md, recommendation.md), and the inline escape behind its headings and bullets.

A variant name is whatever the model folder was called: a newline in it must not start a heading, a pipe must
not add a table column, and `<script>` must stay text (report.html escapes the same names as HTML).
"""

from __future__ import annotations

from collections.abc import Sequence


def md_text(value: object) -> str:
    """`value` on one Markdown line: line breaks and other control characters become spaces, backslashes and
    '<' are escaped (no raw HTML).

    >>> md_text("resnet\\n# injected")
    'resnet # injected'
    """
    text = "".join(c if c.isprintable() else " " for c in str(value))
    return text.replace("\\", "\\\\").replace("<", "&lt;")


def md_cell(value: object) -> str:
    """`value` as one Markdown table cell: `md_text`, and '|' escaped so it cannot add a column.

    >>> md_cell("a|b\\nc")
    'a\\\\|b c'
    """
    return md_text(value).replace("|", "\\|")


def md_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; every header and cell goes through `md_cell`."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
