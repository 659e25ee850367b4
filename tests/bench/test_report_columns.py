"""The column table feeds every output; report figures match the result files they came from."""

from __future__ import annotations

import ast
import csv
import dataclasses
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edgebench.bench.report.analysis import build_report
from edgebench.bench.report.columns import COLUMNS, Column
from edgebench.bench.report.compare import make_report
from edgebench.bench.report.data import load_results
from edgebench.errors import NotFoundError, ResultSchemaError, UserInputError

from tests.bench.result_factory import PI4, X86, result, two_devices, write

pytest.importorskip("jinja2")

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


@pytest.fixture
def p95_column() -> Iterator[Column]:
    """A column registered at run time (removed afterwards, whatever the test does)."""
    col = COLUMNS.add(Column("p95_ms", lambda r: r.result.latency.p95_ms, header="p95 ms", unit="ms", digits=3),
                      after="p90_ms")
    try:
        yield col
    finally:
        COLUMNS.remove("p95_ms")


def test_one_registered_column_reaches_markdown_csv_and_html(tmp_path: Path, p95_column: Column) -> None:
    write(tmp_path / "res", two_devices())
    rep, _ = make_report([tmp_path / "res"], tmp_path / "rep", plots=False)
    rows = _csv(tmp_path / "rep" / "report.csv")
    header = list(rows[0])
    assert header.index("p95_ms") == header.index("p90_ms") + 1
    # 2.0 ms * 1.03 in result_factory: the raw figure in the CSV, three decimals in the tables
    x86_fp32 = next(r for r in rows if r["machine_id"] == X86["id"] and r["variant"] == "resnet20-fp32"
                    and r["runtime"] == "ort-cpu")
    assert float(x86_fp32["p95_ms"]) == pytest.approx(2.06)
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert "| p90 ms | p95 ms | p99 ms |" in md
    assert "| 2.040 | 2.060 | 2.100 |" in md
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "<th>p90 ms</th><th>p95 ms</th><th>p99 ms</th>" in html
    assert "<td>2.040</td><td>2.060</td><td>2.100</td>" in html
    assert len(rep.rows) == 6


def test_column_outputs_can_be_chosen(tmp_path: Path) -> None:
    COLUMNS.add(Column("csv_only", lambda r: r.threads * 10))
    COLUMNS.add(Column("md_only", lambda r: "mark", header="md only", in_html=False, in_csv=False))
    try:
        write(tmp_path / "res", two_devices())
        make_report([tmp_path / "res"], tmp_path / "rep", plots=False)
    finally:
        COLUMNS.remove("csv_only")
        COLUMNS.remove("md_only")
    assert {r["csv_only"] for r in _csv(tmp_path / "rep" / "report.csv")} == {"20", "40"}
    assert "md_only" not in (tmp_path / "rep" / "report.csv").read_text(encoding="utf-8")
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert "| md only |" in md and "csv_only" not in md
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "md only" not in html and "csv_only" not in html


def test_column_table_rejects_bad_columns() -> None:
    with pytest.raises(UserInputError, match="registered twice"):
        COLUMNS.add(Column("p50_ms", lambda r: 1))
    with pytest.raises(UserInputError, match="'P95 ms' is not lowercase"):
        Column("P95 ms", lambda r: 1)
    with pytest.raises(UserInputError, match="in_markdown=True but no header"):
        Column("x", lambda r: 1, in_markdown=True)
    with pytest.raises(NotFoundError, match="Did you mean 'p90_ms'"):
        COLUMNS.add(Column("x", lambda r: 1), after="p90ms")
    assert "x" not in COLUMNS


def _json(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def test_speedup_and_efficiency_match_the_result_files(tmp_path: Path) -> None:
    write(tmp_path / "res", two_devices())
    make_report([tmp_path / "res"], tmp_path / "rep", plots=False)
    rows = _csv(tmp_path / "rep" / "report.csv")
    files = {r["source"]: _json(r["source"]) for r in rows}

    def is_baseline(d: dict[str, Any], mid: str) -> bool:  # FP32 model on ONNX Runtime, same machine
        return (d["machine"]["id"] == mid and d["runtime"]["name"] == "ort-cpu"
                and d["model"]["precision"] == "fp32" and "precision" not in d["runtime"])

    for row in rows:
        mine = files[row["source"]]
        (base,) = [d for d in files.values() if is_baseline(d, mine["machine"]["id"])
                   and d["options"]["threads"] == mine["options"]["threads"]]
        assert float(row["speedup"]) == pytest.approx(base["latency"]["p50_ms"] / mine["latency"]["p50_ms"])
        lo, hi = base["latency"]["p50_ci95_ms"], mine["latency"]["p50_ci95_ms"]
        assert float(row["speedup_lo"]) == pytest.approx(lo[0] / hi[1])
        gmacs = mine["model"]["macs"] * mine["options"]["batch"] / (mine["latency"]["p50_ms"] / 1000) / 1e9
        assert float(row["achieved_gmacs"]) == pytest.approx(gmacs)
        assert float(row["fraction_of_peak"]) == pytest.approx(gmacs / float(row["peak_gmacs"]))
        assert float(row["p50_ms"]) == mine["latency"]["p50_ms"]
    # the same figures from known numbers: 40 813 184 MACs in 1 ms and 8 ms; 2 AMD cores x 2.6 GHz x 64 (INT8)
    by = {(r["machine_id"], r["variant"], r["runtime"]): r for r in rows}
    x86_int8 = by[(X86["id"], "resnet20-int8", "ort-cpu")]
    assert float(x86_int8["achieved_gmacs"]) == pytest.approx(40.813184)
    assert float(x86_int8["fraction_of_peak"]) == pytest.approx(40.813184 / (2 * 2.6 * 64))
    assert float(by[(PI4["id"], "resnet20-fp32", "ort-cpu")]["achieved_gmacs"]) == pytest.approx(40.813184 / 8)
    assert float(x86_int8["speedup"]) == 2.0
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    line = next(ln for ln in md.splitlines() if ln.startswith("| resnet20-int8 | ort-cpu | 1 | 2 |"))
    assert "| 2.00x (1.96-2.04) vs resnet20-fp32/ort-cpu | 40.81 | 12.26 |" in line  # 40.81 / 332.8 = 12.26 %


def test_rows_are_frozen_and_analysis_returns_new_rows(tmp_path: Path) -> None:
    write(tmp_path / "res", [result(X86, p50=2.0), result(X86, precision="int8", p50=1.0, noisy=True)])
    loaded = load_results([tmp_path / "res"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.rows[0].p50_ms = 1.0  # type: ignore[misc]
    rep = build_report(loaded.rows, loaded.machines)
    assert all(r.speedup is None and r.flags == () for r in loaded.rows)
    int8 = next(r for r in rep.rows if r.precision == "int8")
    assert int8.speedup == 2.0 and int8.flags == ("noisy",) and int8.baseline == "resnet20-fp32/ort-cpu"


def test_previous_layout_results_load(tmp_path: Path) -> None:
    """result_factory writes the result files as `edgebench bench` wrote them before the reports were split."""
    paths = write(tmp_path / "res", two_devices())
    loaded = load_results(paths)
    assert len(loaded.rows) == 6 and set(loaded.machines) == {X86["id"], PI4["id"]}
    assert {r.variant for r in loaded.rows} == {"resnet20-fp32", "resnet20-int8"}


def test_newer_schema_version_is_one_line_with_the_fix(tmp_path: Path) -> None:
    (path,) = write(tmp_path / "res", [result(X86, version=7)])
    with pytest.raises(ResultSchemaError) as err:
        load_results([path])
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "schema_version 7" in msg and "newer edgebench" in msg
    assert "reads version 1" in msg and "pip install --upgrade edgebench" in msg
    (old,) = write(tmp_path / "old", [result(X86, version=0)])
    with pytest.raises(ResultSchemaError, match=r"schema_version 0; .* Re-run the benchmark"):
        load_results([old])


def _report_imports(path: Path) -> set[str]:
    """The bench/report/ modules that `path` imports (module-level or lazily), by file stem."""
    prefix = "edgebench.bench.report."
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
            out.add(node.module.removeprefix(prefix))
        elif isinstance(node, ast.Import):
            out |= {a.name.removeprefix(prefix) for a in node.names if a.name.startswith(prefix)}
    return out


def test_report_modules_import_one_way() -> None:
    graph = {p.stem: _report_imports(p) for p in (BENCH / "report").glob("*.py") if p.stem != "__init__"}
    assert "compare" not in set().union(*(graph[m] for m in graph if m != "compare")), graph
    order: list[str] = []  # a topological order exists iff there is no cycle
    while len(order) < len(graph):
        ready = sorted(m for m in graph if m not in order and graph[m] <= set(order))
        assert ready, f"import cycle among {sorted(set(graph) - set(order))}"
        order += ready
    assert order.index("data") < order.index("columns") < order.index("render_html")


def test_compare_doc_lists_every_column() -> None:
    doc = (BENCH.parent / "docs" / "compare.md").read_text(encoding="utf-8")
    missing = [c.key for c in COLUMNS if f"`{c.key}`" not in doc]
    assert not missing, f"docs/compare.md does not document the report columns {missing}"
    for c in COLUMNS.for_output("markdown"):
        assert c.header in doc, c.header
