"""`edgebench compare` on hand-made result files: tables, speed-ups, notes and bad input."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from edgebench.bench.report.analysis import build_report, resolve_baseline
from edgebench.bench.report.data import load_entries
from edgebench.bench.report.plots import pareto_front
from edgebench.cli import app
from typer.testing import CliRunner

from tests.bench.result_factory import PI4, X86, prune_summary, result, two_devices, write

pytest.importorskip("jinja2")
pytest.importorskip("matplotlib")


def _compare(args: list[str]) -> object:
    return CliRunner().invoke(app, ["compare", *args])


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_two_devices_tables_speedups_and_notes(tmp_path: Path) -> None:
    write(tmp_path / "res", two_devices())
    out = tmp_path / "report"
    r = _compare([str(tmp_path / "res"), "-o", str(out), "--no-plots"])
    assert r.exit_code == 0, r.output
    rows = _csv_rows(out / "report.csv")
    assert len(rows) == 6
    by = {(row["machine_id"], row["variant"], row["runtime"]): row for row in rows}
    # default baseline is the FP32 ort-cpu result; speed-ups are per machine
    assert {row["baseline"] for row in rows} == {"resnet20-fp32/ort-cpu"}
    assert float(by[(X86["id"], "resnet20-int8", "ort-cpu")]["speedup"]) == pytest.approx(2.0)
    assert float(by[(X86["id"], "resnet20-fp32", "torch")]["speedup"]) == pytest.approx(0.5)
    # torch-int8 quantizes the FP32 model itself: the runtime's precision names the variant
    assert float(by[(X86["id"], "resnet20-int8", "torch-int8")]["speedup"]) == pytest.approx(0.8)
    assert float(by[(PI4["id"], "resnet20-int8", "ort-cpu")]["speedup"]) == pytest.approx(8.0 / 6.0)
    # efficiency: 40.8 MMACs / 1 ms on 2 AMD avx512 cores at 2.6 GHz, int8 peak 64 MAC/cycle/core
    int8 = by[(X86["id"], "resnet20-int8", "ort-cpu")]
    assert float(int8["achieved_gmacs"]) == pytest.approx(40.813184)
    assert float(int8["peak_gmacs"]) == pytest.approx(2 * 2.6 * 64)
    pi = by[(PI4["id"], "resnet20-fp32", "ort-cpu")]
    assert float(pi["peak_gmacs"]) == pytest.approx(4 * 1.8 * 8)  # A72: 2 pipes x 4 lanes
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.count("## ") >= 4  # machines, two machine tables, across machines, notes
    assert "Raspberry Pi 4 Model B" in md and "AMD EPYC" in md
    assert "2.00x (1.96-2.04)" in md
    # the across-machines table holds the two variants benched on both devices
    across = md.split("## Across machines")[1].split("##")[0]
    assert "resnet20-fp32/ort-cpu" in across and "resnet20-int8/ort-cpu" in across and "torch" not in across
    assert "8.000 (4 t)" in across and "2.000 (2 t)" in across
    assert "come from 2 machines" in md


def test_missing_optional_fields_show_na_and_notes(tmp_path: Path) -> None:
    bare = result(X86, name="thirdparty", precision=None, p50=3.0, top1=None, macs=None, params=None,
                  drop=("model.precision", "model.arch", "model.params", "model.macs", "warnings"))
    bare["machine"]["cpu"].pop("cur_freq_mhz")
    bare["machine"]["cpu"].pop("max_freq_mhz")
    base = result(X86, p50=2.0, top1=None)
    write(tmp_path / "res", [base, bare])
    out = tmp_path / "rep"
    r = _compare([str(tmp_path / "res"), "-o", str(out), "--no-plots"])
    assert r.exit_code == 0, r.output
    rows = {row["variant"]: row for row in _csv_rows(out / "report.csv")}
    assert rows["thirdparty"]["macs"] == "" and rows["thirdparty"]["achieved_gmacs"] == ""
    assert rows["thirdparty"]["top1_pct"] == "" and rows["thirdparty"]["peak_gmacs"] == ""
    # another model (another lineage): absolute figures only, no ratio to resnet20's baseline
    assert rows["thirdparty"]["speedup"] == "" and rows["thirdparty"]["baseline"] == ""
    md = (out / "report.md").read_text(encoding="utf-8")
    line = next(ln for ln in md.splitlines() if ln.startswith("| thirdparty"))
    assert line.count("n/a") >= 5
    assert "No accuracy in: resnet20-fp32/ort-cpu, thirdparty/ort-cpu" in md
    assert "no efficiency for: thirdparty/ort-cpu" in md


def test_other_schema_version_is_refused_and_nothing_written(tmp_path: Path) -> None:
    paths = write(tmp_path / "res", [result(X86), result(X86, precision="int8", p50=1.0, version=2)])
    out = tmp_path / "rep"
    r = _compare([*map(str, paths), "-o", str(out)])
    assert r.exit_code == 2
    assert "schema_version 2" in r.stderr and paths[1].name in r.stderr and "reads version 1" in r.stderr
    assert "Traceback" not in r.output
    assert not (out / "report.md").exists() and not (out / "report.html").exists()


def test_missing_required_field_names_it(tmp_path: Path) -> None:
    bad = result(X86, precision="int8")
    del bad["latency"]["p99_ms"]
    paths = write(tmp_path / "res", [result(X86), bad])
    r = _compare([*map(str, paths), "-o", str(tmp_path / "rep")])
    assert r.exit_code == 2 and "latency.p99_ms" in r.stderr


def test_no_overlap(tmp_path: Path) -> None:
    paths = write(tmp_path / "res", [result(X86, name="resnet20"), result(PI4, name="resnet56", threads=4)])
    r = _compare([*map(str, paths), "-o", str(tmp_path / "rep")])
    assert r.exit_code == 2
    assert "no overlap" in r.stderr and "resnet56-fp32/ort-cpu" in r.stderr
    assert not (tmp_path / "rep" / "report.md").exists()


def test_unknown_baseline_suggests(tmp_path: Path) -> None:
    write(tmp_path / "res", two_devices())
    r = _compare([str(tmp_path / "res"), "-o", str(tmp_path / "rep"), "--baseline", "resnet20-fp32/ort-cpx"])
    assert r.exit_code == 2
    assert "--baseline 'resnet20-fp32/ort-cpx'" in r.stderr and "Did you mean 'resnet20-fp32/ort-cpu'" in r.stderr


def test_baseline_by_runtime_name_and_ambiguity() -> None:
    labels = ["resnet20-fp32/ort-cpu", "resnet20-int8/ort-cpu", "resnet20-fp32/torch"]
    assert resolve_baseline("torch", labels) == "resnet20-fp32/torch"
    with pytest.raises(ValueError, match="matches 2 results"):
        resolve_baseline("ort-cpu", labels)


def test_different_threads_are_not_compared(tmp_path: Path) -> None:
    write(tmp_path / "res", [result(X86, threads=2, p50=2.0), result(X86, precision="int8", threads=1, p50=1.5)])
    entries, machines, _ = load_entries([tmp_path / "res"])
    rep = build_report(entries, machines)
    int8 = next(e for e in rep.entries if e.precision == "int8")
    assert int8.speedup is None
    assert any("different thread counts" in n for n in rep.notes)
    assert any("not measured with the same batch and threads" in n for n in rep.notes)


def test_duplicates_keep_the_newest(tmp_path: Path) -> None:
    old = result(X86, p50=5.0, created="2026-01-01T00:00:00Z")
    new = result(X86, p50=2.0, created="2026-02-01T00:00:00Z")
    write(tmp_path / "res", [new, old, result(X86, precision="int8", p50=1.0)])
    entries, machines, _ = load_entries([tmp_path / "res"])
    rep = build_report(entries, machines)
    fp32 = [e for e in rep.entries if e.precision == "fp32"]
    assert len(fp32) == 1 and fp32[0].p50_ms == 2.0
    assert any("measured twice" in n for n in rep.notes)


def test_existing_report_needs_force(tmp_path: Path) -> None:
    write(tmp_path / "res", two_devices())
    out = tmp_path / "rep"
    assert _compare([str(tmp_path / "res"), "-o", str(out), "--no-plots"]).exit_code == 0
    r = _compare([str(tmp_path / "res"), "-o", str(out), "--no-plots"])
    assert r.exit_code == 2 and "--force" in r.stderr
    assert _compare([str(tmp_path / "res"), "-o", str(out), "--no-plots", "--force"]).exit_code == 0


def test_not_a_result_file(tmp_path: Path) -> None:
    p = tmp_path / "model.fp32.json"
    p.write_text('{"schema_version": 1, "kind": "edgebench.model"}', encoding="utf-8")
    r = _compare([str(p), "-o", str(tmp_path / "rep")])
    assert r.exit_code == 2 and "not an edgebench result" in r.stderr
    r = _compare([str(tmp_path / "nope"), "-o", str(tmp_path / "rep")])
    assert r.exit_code == 2 and "does not exist" in r.stderr


def test_pareto_front() -> None:
    assert pareto_front([(1, 90), (2, 91), (3, 89), (0.5, 80), (2, 85)]) == [(0.5, 80), (1, 90), (2, 91)]


def test_html_is_self_contained(tmp_path: Path) -> None:
    write(tmp_path / "res", two_devices())
    out = tmp_path / "rep"
    r = _compare([str(tmp_path / "res"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I), "external URL in report.html"
    srcs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert len(srcs) >= 3  # latency, pareto, speed-up
    assert "<script" not in html and "@import" not in html
    assert (out / "plots" / "pareto.png").is_file()
    assert "![pareto](plots/pareto.png)" in (out / "report.md").read_text(encoding="utf-8")


def test_pruning_rounds_tables_and_plots(tmp_path: Path) -> None:
    res = [result(X86, p50=2.0 - 0.4 * k, top1=91.5 - k, macs=int(40.8e6 * (1 - 0.25 * k)), prune_round=k)
           for k in range(3)]
    write(tmp_path / "res", res)
    (tmp_path / "res" / "summary.json").write_text(json.dumps(prune_summary(2)), encoding="utf-8")
    out = tmp_path / "rep"
    r = _compare([str(tmp_path / "res"), "-o", str(out), "--baseline", "resnet20-r0-fp32/ort-cpu"])
    assert r.exit_code == 0, r.output
    rows = {row["variant"]: row for row in _csv_rows(out / "report.csv")}
    assert set(rows) == {"resnet20-r0-fp32", "resnet20-r1-fp32", "resnet20-r2-fp32"}  # rounds are not merged
    assert float(rows["resnet20-r2-fp32"]["speedup"]) == pytest.approx(2.0 / 1.2)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Pruning rounds: resnet20 (l1, internal)" in md
    assert "| 2 | 20.40 | 0.135 | 50.0 | 50.0 | 79.50 | 89.50 | 89.90 | 0.525 |" in md
    assert (out / "plots" / "prune_rounds.png").is_file() and (out / "plots" / "prune_run_1.png").is_file()


def test_pruning_summary_alone_makes_a_report(tmp_path: Path) -> None:
    p = tmp_path / "summary.json"
    p.write_text(json.dumps(prune_summary(1)), encoding="utf-8")
    r = _compare([str(p), "-o", str(tmp_path / "rep"), "--no-plots"])
    assert r.exit_code == 0, r.output
    assert "## Pruning rounds" in (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "kind": "edgebench.prune-run", "rounds": "x"}', encoding="utf-8")
    r = _compare([str(bad), "-o", str(tmp_path / "rep2")])
    assert r.exit_code == 2 and "no list of rounds" in r.stderr


def test_above_peak_is_explained(tmp_path: Path) -> None:
    # 40.8 MMACs in 0.1 ms on one AMD avx512 core at a nominal 2.6 GHz: 408 GMAC/s > the 41.6 GMAC/s peak
    write(tmp_path / "res", [result(X86, p50=0.1, threads=1), result(X86, precision="int8", p50=1.0, threads=1)])
    entries, machines, _ = load_entries([tmp_path / "res"])
    rep = build_report(entries, machines)
    note = next(n for n in rep.notes if n.startswith("Above the computed peak"))
    assert "resnet20-fp32/ort-cpu t1" in note and "981 %" in note and "int8" not in note


def test_profile_beside_bench_result_keeps_the_bench_figures(tmp_path: Path) -> None:
    prof = result(X86, precision="int8", p50=9.0, created="2026-03-01T00:00:00Z")
    prof["kind"] = "profile"
    prof["profile"] = {"op_types": [{"op_type": "QLinearConv", "ms_per_run": 0.5, "pct": 80.0, "nodes": 19,
                                     "int8_nodes": 19}]}
    write(tmp_path / "res", [result(X86, p50=2.0), result(X86, precision="int8", p50=1.0), prof])
    entries, machines, profiles = load_entries([tmp_path / "res"])
    rep = build_report(entries, machines, profiles=profiles)
    int8 = [e for e in rep.entries if e.precision == "int8"]
    assert len(int8) == 1 and int8[0].p50_ms == 1.0 and int8[0].kind == "bench"
    assert not any("measured twice" in n for n in rep.notes)
    assert rep.profiles[0]["label"] == "resnet20-int8/ort-cpu"


def test_report_names_the_fastest_runtime_and_precision_per_machine(tmp_path: Path) -> None:
    results = [result(X86, runtime="ort-cpu", p50=2.0, top1=91.5),
               result(X86, precision="int8", runtime="ort-cpu", p50=1.2, top1=91.3),
               result(X86, precision="int8", runtime="litert", p50=0.9, top1=91.4),
               result(X86, runtime="openvino", p50=1.8, top1=91.5)]
    write(tmp_path / "results", results)
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "results"), "-o", str(tmp_path / "rep"), "--force"])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    line = next(ln for ln in md.splitlines() if ln.startswith("Fastest at batch 1"))
    assert "`resnet20-int8/litert` (int8, 2 t) 0.900 ms, top-1 91.40 %" in line.split(";")[0]
    assert "fastest fp32: `resnet20-fp32/openvino` (fp32, 2 t) 1.800 ms, top-1 91.50 %" in line
    assert "Fastest at batch 1" in (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")


def test_compare_config_checks_the_extra_and_the_metric_before_reading(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from edgebench.bench.report.compare import CompareConfig
    from edgebench.errors import RuntimeUnavailable, UserInputError

    missing = tmp_path / "not-there"  # never read: the config refuses first
    with pytest.raises(UserInputError, match="nope"):
        CompareConfig((missing,), metric="nope")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == "matplotlib" else real(m, *a))
    with pytest.raises(RuntimeUnavailable, match=r"matplotlib.*--no-plots"):
        CompareConfig((missing,))
    assert CompareConfig((missing,), plots=False).results == (missing,)
