"""docs/extending/report-column.md: its Python blocks run, and the columns they add reach md/csv/html."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from edgebench.bench.report import make_report
from edgebench.bench.report.columns import COLUMNS

from tests.bench.result_factory import X86, result, write

pytest.importorskip("jinja2")

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending" / "report-column.md"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, re.S | re.M)


def test_doc_example_adds_columns_to_every_output(tmp_path: Path) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert blocks, f"{DOC} has no ```python block"
    before = COLUMNS.names()
    try:
        for code in blocks:
            exec(compile(code, str(DOC), "exec"), {})  # the documented example, from this repo
        added = [k for k in COLUMNS.names() if k not in before]
        assert added == ["p95_ms", "ms_per_item"]
        write(tmp_path / "res", [result(X86, p50=2.0, batch=4), result(X86, precision="int8", p50=1.0, batch=4)])
        make_report([tmp_path / "res"], tmp_path / "rep", plots=False)
    finally:
        for k in COLUMNS.names():
            if k not in before:
                COLUMNS.remove(k)
    assert COLUMNS.names() == before
    text = (tmp_path / "rep" / "report.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.splitlines()[0].split(",")
    assert header.index("p95_ms") == header.index("p90_ms") + 1
    fp32 = next(r for r in rows if r["precision"] == "fp32")
    assert float(fp32["p95_ms"]) == pytest.approx(2.0 * 1.03) and float(fp32["ms_per_item"]) == 0.5
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert "| p90 ms | p95 ms | p99 ms | items/s (1/mean) | ms/item |" in md
    assert "| 2.040 | 2.060 | 2.100 | 2000.0 | 0.500 |" in md
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "<th>p95 ms</th>" in html and "<th>ms/item</th>" in html
    assert "<td>2.060</td>" in html and "<td>0.500</td>" in html
