"""Names from result files cannot break report.md / recommendation.md (bench/report/markdown.py: one cell escape)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from edgebench.bench.report.markdown import md_cell, md_table, md_text
from edgebench.cli import app
from typer.testing import CliRunner

from tests.bench.result_factory import X86, result, write

EVIL = "evil|col\n# Injected heading\r\n<script>x</script>\\"


def test_cell_and_text_escapes() -> None:
    assert "\n" not in md_cell(EVIL) and "\r" not in md_cell(EVIL)
    assert re.search(r"(?<!\\)\|", md_cell(EVIL)) is None  # every pipe escaped
    assert "<script>" not in md_text(EVIL) and "&lt;script>" in md_text(EVIL)
    assert md_cell("a\\|b") == "a\\\\\\|b"  # a backslash before a pipe cannot un-escape it
    table = md_table(["name", "p50"], [[EVIL, "1.0"]])
    assert len(table.splitlines()) == 3 and all(ln.count(" | ") == 1 for ln in table.splitlines()[::2])


def test_report_md_keeps_an_evil_variant_name_in_its_cell(tmp_path: Path) -> None:
    pytest.importorskip("jinja2")
    evil = result(X86, precision="int8", top1=91.4, p50=1.0)
    evil["model"]["name"] = EVIL
    write(tmp_path / "r", [result(X86, p50=2.0, top1=91.5), evil])
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "r"), "-o", str(tmp_path / "rep"), "--no-plots"])
    assert r.exit_code == 0, (r.stderr, r.stdout)
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert not re.search(r"^# Injected", md, flags=re.M), "a variant name started a heading"
    assert "<script>" not in md
    for line in md.splitlines():
        if line.startswith("|") and "evil" in line:  # the same column count as the header of its table
            assert len(re.findall(r"(?<!\\)\|", line)) >= 3 and "col" in line
