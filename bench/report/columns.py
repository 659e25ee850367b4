"""THE column table of the report: one `Column` per figure feeds report.md, report.csv and report.html.

Order is the CSV's order; the columns with a `header` also make the per-machine tables of the Markdown
and HTML reports, in the same order. Adding a figure to every output is one `COLUMNS.add(...)`::

    COLUMNS.add(Column("p95_ms", lambda r: r.result.latency.p95_ms, header="p95 ms", unit="ms", digits=3),
                after="p90_ms")

`value` gives the raw figure (the CSV cell; None is an empty cell); `text` the table cell (default:
`value` with `digits` decimals, 'n/a' for None).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from edgebench.bench.report.data import Row
from edgebench.bench.stats import THROUGHPUT_HEADER
from edgebench.errors import NotFoundError, UserInputError, suggest

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


def fmt(v: Any, digits: int | None = 3) -> str:
    """A table cell: 'n/a' for missing values, numbers with `digits` decimals (None: as they are).

    >>> fmt(None), fmt(2, 3), fmt(0.5, 1), fmt(4, None)
    ('n/a', '2.000', '0.5', '4')
    """
    if v is None:
        return "n/a"
    if digits is not None and isinstance(v, int | float) and not isinstance(v, bool):
        return f"{float(v):.{digits}f}"
    return str(v)


@dataclass(frozen=True)
class Column:
    """One figure of the report.

    key: the CSV header (lowercase, digits, underscores; unique). value: row -> the raw figure.
    header: the Markdown/HTML table header; None keeps the column out of those tables.
    unit: for documentation (docs/compare.md). digits: decimals of the table cell.
    text: row -> the table cell, when it is more than the formatted value (e.g. p50 with its CI).
    left: left-aligned in the HTML table. in_csv / in_markdown / in_html: which outputs show it
    (the table ones default to "has a header"). task: a task's metric (top-1 for classification, mAP for
    detection): in a table only when one of its rows is of that task (a detectors-only table has no top-1).
    """

    key: str
    value: Callable[[Row], Any]
    header: str | None = None
    unit: str = ""
    digits: int | None = None
    text: Callable[[Row], str] | None = None
    left: bool = False
    in_csv: bool = True
    in_markdown: bool | None = None
    in_html: bool | None = None
    task: str | None = None  # the tables show it only when one of their rows is of this task; None: always

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise UserInputError(f"column key {self.key!r} is not lowercase letters, digits and underscores "
                                 "(it is the CSV header); e.g. 'p95_ms'")
        if not callable(self.value) or (self.text is not None and not callable(self.text)):
            raise UserInputError(f"column '{self.key}': value and text must be functions of a report Row")
        for flag in ("in_markdown", "in_html"):
            if getattr(self, flag) is None:
                object.__setattr__(self, flag, self.header is not None)
            elif getattr(self, flag) and self.header is None:
                raise UserInputError(f"column '{self.key}' has {flag}=True but no header; give header='...'")

    def cell(self, row: Row) -> str:
        """The Markdown/HTML table cell."""
        return self.text(row) if self.text is not None else fmt(self.value(row), self.digits)


class ColumnTable:
    """An ordered registry of columns by key; a lookup of an unknown key suggests the closest one."""

    def __init__(self, columns: list[Column]) -> None:
        self._cols: list[Column] = []
        for c in columns:
            self.add(c)

    def add(self, column: Column, *, after: str | None = None) -> Column:
        """Append `column`, or insert it right after the column `after`."""
        if column.key in self:
            raise UserInputError(f"report column '{column.key}' is registered twice; pick another key")
        pos = len(self._cols) if after is None else self.index(after) + 1
        self._cols.insert(pos, column)
        return column

    def remove(self, key: str) -> Column:
        return self._cols.pop(self.index(key))

    def index(self, key: str) -> int:
        for i, c in enumerate(self._cols):
            if c.key == key:
                return i
        keys = [c.key for c in self._cols]
        raise NotFoundError(f"unknown report column '{key}'; known: {', '.join(keys)}.{suggest(key, keys)}")

    def get(self, key: str) -> Column:
        return self._cols[self.index(key)]

    def __contains__(self, key: object) -> bool:
        return any(c.key == key for c in self._cols)

    def __iter__(self) -> Iterator[Column]:
        return iter(list(self._cols))

    def __len__(self) -> int:
        return len(self._cols)

    def names(self) -> list[str]:
        """The column keys, in order."""
        return [c.key for c in self._cols]

    def for_output(self, output: str) -> list[Column]:
        """The columns of 'csv', 'markdown' or 'html', in order."""
        if output not in ("csv", "markdown", "html"):
            raise UserInputError(f"unknown report output '{output}'; known: csv, markdown, html")
        return [c for c in self._cols if getattr(c, f"in_{output}")]


def _per_million(v: float | None) -> float | None:
    return v / 1e6 if v is not None else None


def _runtime_cell(r: Row) -> str:
    return r.runtime + (f" ({', '.join(r.flags)})" if r.flags else "")


def speedup_cell(r: Row) -> str:
    """The ratio, its range and the baseline it is relative to: 2.00x (1.96-2.04) vs resnet20-fp32/ort-cpu."""
    if r.speedup is None:
        return "n/a"
    vs = f" vs {r.baseline}" if r.baseline else ""
    if r.speedup_lo is not None and r.speedup_hi is not None:
        return f"{r.speedup:.2f}x ({r.speedup_lo:.2f}-{r.speedup_hi:.2f}){vs}"
    return f"{r.speedup:.2f}x{vs}"


C = Column
COLUMNS = ColumnTable([
    C("machine_id", lambda r: r.machine_id),
    C("machine", lambda r: r.machine.label),
    C("variant", lambda r: r.variant, header="variant", left=True),
    C("runtime", lambda r: r.runtime, header="runtime", text=_runtime_cell, left=True),
    C("runtime_version", lambda r: r.runtime_version),
    C("precision", lambda r: r.precision),
    C("arch", lambda r: r.arch),
    C("batch", lambda r: r.batch, header="batch"),
    C("threads", lambda r: r.threads, header="threads"),
    C("graph_optimization", lambda r: r.graph_optimization),
    C("p50_ms", lambda r: r.p50_ms, header="p50 ms [95% CI]", unit="ms", digits=3,
      text=lambda r: f"{r.p50_ms:.3f} [{r.ci_lo_ms:.3f}-{r.ci_hi_ms:.3f}]"),
    C("p50_ci95_lo_ms", lambda r: r.ci_lo_ms, unit="ms"),
    C("p50_ci95_hi_ms", lambda r: r.ci_hi_ms, unit="ms"),
    C("min_ms", lambda r: r.min_ms, header="min ms", unit="ms", digits=3),
    C("p90_ms", lambda r: r.p90_ms, header="p90 ms", unit="ms", digits=3),
    C("p99_ms", lambda r: r.p99_ms, header="p99 ms", unit="ms", digits=3),
    C("throughput_items_per_s", lambda r: r.throughput, header=THROUGHPUT_HEADER, unit="items/s", digits=1),
    C("peak_rss_mb", lambda r: r.peak_rss_mb, header="peak RSS MB", unit="MB", digits=1),
    C("file_size_mb", lambda r: r.file_size_mb, header="size MB", unit="MB", digits=3),
    C("params", lambda r: r.params, header="params M", text=lambda r: fmt(_per_million(r.params), 3)),
    C("macs", lambda r: r.macs, header="MMACs", text=lambda r: fmt(_per_million(r.macs), 2)),
    C("top1_pct", lambda r: r.top1_pct, header="top-1 %", unit="%", digits=2, task="classification"),
    C("top5_pct", lambda r: r.top5_pct, header="top-5 %", unit="%", digits=2, task="classification"),
    C("map_pct", lambda r: r.map_pct, header="mAP@0.5:0.95 %", unit="%", digits=2, task="detection"),
    C("map50_pct", lambda r: r.map50_pct, header="mAP@0.5 %", unit="%", digits=2, task="detection"),
    C("e2e_p50_ms", lambda r: r.e2e_p50_ms, header="end-to-end p50 ms", unit="ms", digits=3, task="detection"),
    C("accuracy_n", lambda r: r.accuracy_n),
    C("accuracy_dataset", lambda r: r.accuracy_dataset),
    C("speedup", lambda r: r.speedup, header="speed-up", unit="x", text=speedup_cell),
    C("speedup_lo", lambda r: r.speedup_lo, unit="x"),
    C("speedup_hi", lambda r: r.speedup_hi, unit="x"),
    C("baseline", lambda r: r.baseline),
    C("lineage", lambda r: r.lineage),
    C("lineage_root_sha256", lambda r: r.lineage_root),
    C("achieved_gmacs", lambda r: r.achieved_gmacs, header="GMAC/s", unit="GMAC/s", digits=2),
    C("peak_gmacs", lambda r: r.peak_gmacs, unit="GMAC/s"),
    C("fraction_of_peak", lambda r: r.fraction_of_peak, header="% of peak",
      text=lambda r: fmt(r.fraction_of_peak * 100 if r.fraction_of_peak is not None else None, 2)),
    C("peak_rule", lambda r: r.peak_rule),
    C("noisy", lambda r: r.noisy),
    C("sha256", lambda r: r.sha256),
    C("source", lambda r: r.source),
])
