"""Report figures against the result files they came from: speed-ups and their ranges from the two CIs,
per-row efficiency, noisy flags, which rows get a speed-up, the fastest row per machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from edgebench.bench.report.analysis import Report, best_per_machine, build_report
from edgebench.bench.report.data import Row, load_results

from tests.bench.result_factory import PI4, X86, result, write


def with_ci(r: dict[str, Any], lo: float, hi: float) -> dict[str, Any]:
    r["latency"]["p50_ci95_ms"] = [lo, hi]
    return r


def report(tmp_path: Path, results: list[dict[str, Any]], baseline: str | None = None) -> Report:
    write(tmp_path / "res", results)
    loaded = load_results([tmp_path / "res"])
    return build_report(loaded.rows, loaded.machines, baseline=baseline)


def row(rep: Report, variant: str, runtime: str = "ort-cpu", machine: str = X86["id"],
        threads: int | None = None) -> Row:
    return next(r for r in rep.rows if r.variant == variant and r.runtime == runtime and r.machine_id == machine
                and (threads is None or r.threads == threads))


def test_speedup_and_its_range_from_asymmetric_cis(tmp_path: Path) -> None:
    # baseline p50 6 ms, CI 5.5-7.0; INT8 p50 2 ms, CI 1.9-2.5: speed-up 3.0, range 5.5/2.5 .. 7.0/1.9
    base = with_ci(result(X86, precision="fp32", p50=6.0), 5.5, 7.0)
    int8 = with_ci(result(X86, precision="int8", p50=2.0), 1.9, 2.5)
    rep = report(tmp_path, [base, int8])
    r = row(rep, "resnet20-int8")
    assert r.speedup == pytest.approx(3.0)
    assert r.speedup_lo == pytest.approx(5.5 / 2.5)
    assert r.speedup_hi == pytest.approx(7.0 / 1.9)
    b = row(rep, "resnet20-fp32")
    assert b.speedup == pytest.approx(1.0)
    assert (b.speedup_lo, b.speedup_hi) == pytest.approx((5.5 / 7.0, 7.0 / 5.5))


def test_a_slower_row_gets_a_speedup_below_one(tmp_path: Path) -> None:
    rep = report(tmp_path, [result(X86, precision="fp32", p50=2.0), result(X86, precision="fp32", runtime="torch",
                                                                           p50=5.0)])
    r = row(rep, "resnet20-fp32", "torch")
    assert r.speedup == pytest.approx(0.4)
    assert r.speedup_lo == pytest.approx(2.0 * 0.99 / (5.0 * 1.01))
    assert r.speedup_hi == pytest.approx(2.0 * 1.01 / (5.0 * 0.99))


def test_a_zero_ci_bound_gives_no_range_instead_of_a_division(tmp_path: Path) -> None:
    base = result(X86, precision="fp32", p50=2.0)
    int8 = with_ci(result(X86, precision="int8", p50=1.0), 0.0, 1.1)
    r = row(report(tmp_path, [base, int8]), "resnet20-int8")
    assert r.speedup == pytest.approx(2.0) and r.speedup_hi is None
    assert r.speedup_lo == pytest.approx(1.98 / 1.1)


def test_only_the_same_batch_and_threads_get_a_speedup(tmp_path: Path) -> None:
    rep = report(tmp_path, [result(X86, precision="fp32", p50=2.0, threads=2),
                            result(X86, precision="int8", p50=1.0, threads=2),
                            result(X86, precision="int8", p50=0.6, threads=1)])
    assert row(rep, "resnet20-int8", threads=2).speedup == pytest.approx(2.0)
    assert row(rep, "resnet20-int8", threads=1).speedup is None
    assert any("not comparable" in n and "1 threads" in n for n in rep.notes)


def test_each_machine_uses_its_own_baseline(tmp_path: Path) -> None:
    rep = report(tmp_path, [result(X86, precision="fp32", p50=2.0), result(X86, precision="int8", p50=1.0),
                            result(PI4, precision="fp32", p50=8.0, threads=4),
                            result(PI4, precision="int8", p50=6.0, threads=4)])
    assert row(rep, "resnet20-int8").speedup == pytest.approx(2.0)
    assert row(rep, "resnet20-int8", machine=PI4["id"]).speedup == pytest.approx(8.0 / 6.0)


def test_a_machine_without_the_baseline_gets_no_speedups(tmp_path: Path) -> None:
    rep = report(tmp_path, [result(X86, precision="fp32", p50=2.0), result(X86, precision="int8", p50=1.0),
                            result(PI4, precision="int8", p50=6.0, threads=4)], baseline="resnet20-fp32/ort-cpu")
    assert row(rep, "resnet20-int8", machine=PI4["id"]).speedup is None
    assert any(PI4["id"] in n and "no resnet20-fp32/ort-cpu result" in n for n in rep.notes)


def test_efficiency_per_row_from_known_macs_and_times(tmp_path: Path) -> None:
    # 10^9 MACs x batch 4 in 2 ms = 2000 GMAC/s; the Pi 4 (2 pipes x 8 INT8 MACs, 4 cores at 1.8 GHz) peaks at 115.2
    rep = report(tmp_path, [result(PI4, precision="fp32", p50=4.0, threads=4, batch=4, macs=10**9),
                            result(PI4, precision="int8", p50=2.0, threads=4, batch=4, macs=10**9)])
    r = row(rep, "resnet20-int8", machine=PI4["id"])
    assert r.achieved_gmacs == pytest.approx(2000.0)
    assert r.peak_gmacs == pytest.approx(4 * 1.8 * 16)
    assert r.fraction_of_peak == pytest.approx(2000.0 / 115.2)
    assert r.peak_rule == "neon: 2 x 8"
    f = row(rep, "resnet20-fp32", machine=PI4["id"])
    assert f.achieved_gmacs == pytest.approx(1000.0) and f.peak_gmacs == pytest.approx(4 * 1.8 * 8)
    assert any("Above the computed peak" in n for n in rep.notes)


def test_noisy_flag_only_on_noisy_rows(tmp_path: Path) -> None:
    rep = report(tmp_path, [result(X86, precision="fp32", p50=2.0), result(X86, precision="int8", p50=1.0, noisy=True)])
    assert row(rep, "resnet20-int8").flags == ("noisy",)
    assert row(rep, "resnet20-fp32").flags == ()


def test_fastest_row_per_machine(tmp_path: Path) -> None:
    rep = report(tmp_path, [result(X86, precision="fp32", p50=2.0, threads=2),
                            result(X86, precision="fp32", p50=1.5, threads=1),
                            result(PI4, precision="fp32", p50=8.0, threads=4),
                            result(PI4, precision="fp32", p50=9.0, threads=2),
                            result(X86, precision="int8", p50=1.0, threads=2)])
    cells = best_per_machine(rep)
    assert [(label, b) for label, b, _ in cells] == [("resnet20-fp32/ort-cpu", 1)]  # INT8 is on one machine only
    per = cells[0][2]
    assert per[X86["id"]].p50_ms == 1.5 and per[PI4["id"]].p50_ms == 8.0


def test_fastest_row_over_three_machines(tmp_path: Path) -> None:
    third = {**X86, "id": "x86ccccccccc", "hostname": "laptop"}
    rep = report(tmp_path, [result(X86, precision="fp32", p50=2.0), result(X86, precision="int8", p50=1.0),
                            result(PI4, precision="fp32", p50=8.0, threads=4),
                            result(third, precision="fp32", p50=3.0), result(third, precision="int8", p50=1.2)])
    cells = dict(((label, b), per) for label, b, per in best_per_machine(rep))
    assert set(cells[("resnet20-fp32/ort-cpu", 1)]) == {X86["id"], PI4["id"], "x86ccccccccc"}
    assert set(cells[("resnet20-int8/ort-cpu", 1)]) == {X86["id"], "x86ccccccccc"}


def test_sub_millisecond_cis_still_give_a_range(tmp_path: Path) -> None:
    base = with_ci(result(X86, precision="fp32", p50=0.8), 0.7, 0.9)
    int8 = with_ci(result(X86, precision="int8", p50=0.4), 0.3, 0.5)
    r = row(report(tmp_path, [base, int8]), "resnet20-int8")
    assert (r.speedup, r.speedup_lo, r.speedup_hi) == pytest.approx((2.0, 0.7 / 0.5, 0.9 / 0.3))


def test_the_baseline_is_exactly_the_named_label(tmp_path: Path) -> None:
    # baseline INT8: the FP32 row (a label sorting before it) must not be taken as the baseline
    rep = report(tmp_path, [result(X86, precision="fp32", p50=2.0), result(X86, precision="int8", p50=1.0)],
                 baseline="resnet20-int8/ort-cpu")
    assert row(rep, "resnet20-fp32").speedup == pytest.approx(0.5)
    assert row(rep, "resnet20-int8").speedup == pytest.approx(1.0)


def test_every_machine_after_one_without_the_baseline_is_kept(tmp_path: Path) -> None:
    # machines are taken in id order: the Pi 4 ("pi4...") comes first and has no FP32 result; x86 after it
    # still gets its speed-ups
    assert PI4["id"] < X86["id"]
    rep = report(tmp_path, [result(PI4, precision="int8", p50=4.0, threads=4), result(X86, precision="fp32", p50=2.0),
                            result(X86, precision="int8", p50=1.0)], baseline="resnet20-fp32/ort-cpu")
    assert len(rep.rows) == 3
    assert row(rep, "resnet20-int8").speedup == pytest.approx(2.0)
    assert row(rep, "resnet20-int8", machine=PI4["id"]).speedup is None


def test_a_zero_ci_gives_no_range(tmp_path: Path) -> None:
    # a hand-edited or truncated file: CI [0, 0] around a 1 ms median; no division by zero, no range
    rep = report(tmp_path, [result(X86, precision="fp32", p50=2.0), with_ci(result(X86, precision="int8", p50=1.0),
                                                                            0.0, 0.0)])
    r = row(rep, "resnet20-int8")
    assert r.speedup == pytest.approx(2.0) and r.speedup_lo is None and r.speedup_hi is None


def test_no_comparability_note_when_every_row_matches(tmp_path: Path) -> None:
    rep = report(tmp_path, [result(X86, precision="fp32", p50=2.0), result(X86, precision="int8", p50=1.0)])
    assert not [n for n in rep.notes if "not comparable" in n or "no speed-up" in n], rep.notes
