"""report.csv: one row per result, one column per `Column` of the column table with in_csv."""

from __future__ import annotations

import csv
import io

from edgebench.bench.report.analysis import Report
from edgebench.bench.report.columns import COLUMNS


def render_csv(rep: Report) -> str:
    """Raw figures (full precision; empty cell for a missing value), header = the column keys."""
    cols = COLUMNS.for_output("csv")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.key for c in cols])
    for r in rep.rows:
        w.writerow(["" if (v := c.value(r)) is None else v for c in cols])
    return buf.getvalue()
