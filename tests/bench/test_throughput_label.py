"""items/s is batch / mean latency and every table says so (issue #24 item 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.bench.stats import THROUGHPUT_HEADER, summarize
from edgebench.cli import app
from typer.testing import CliRunner

from tests.bench.result_factory import X86, result, write


def test_throughput_is_one_over_the_mean_not_the_median() -> None:
    s = summarize([1_000_000, 1_000_000, 1_000_000, 7_000_000])  # p50 1 ms, mean 2.5 ms
    assert s["throughput_items_per_s"] == pytest.approx(400.0)
    assert THROUGHPUT_HEADER == "items/s (1/mean)"


def test_bench_printout_names_it(tiny_onnx: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["bench", str(tiny_onnx), "--in-process", "--warmup-iters", "1", "--min-iters", "3",
                                 "--min-seconds", "0", "-t", "1", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.stderr
    assert THROUGHPUT_HEADER in r.stdout
    res = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert f"{res['latency']['throughput_items_per_s']:.1f}" in r.stdout


def test_report_md_and_html_name_it(tmp_path: Path) -> None:
    write(tmp_path / "res", [result(X86), result(X86, precision="int8")])
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "res"), "-o", str(tmp_path / "rep"), "--no-plots"])
    assert r.exit_code == 0, r.stderr
    assert f"| {THROUGHPUT_HEADER} |" in (tmp_path / "rep/report.md").read_text()
    assert f"<th>{THROUGHPUT_HEADER}</th>" in (tmp_path / "rep/report.html").read_text()
    assert "throughput_items_per_s" in (tmp_path / "rep/report.csv").read_text().splitlines()[0]
