"""A sweep measures each device's run-to-run drift (sweep/drift.py): cells benched again after the lane, the record
in summary.json and in the published results, cached like a stage (a re-run measures nothing)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from edgebench.cli import app
from edgebench.errors import UserInputError
from edgebench.sweep.config import parse_sweep
from edgebench.sweep.drift import repeat_key
from edgebench.sweep.executor import DONE
from typer.testing import CliRunner

from tests.sweep.tiny_sweep import sweep_text


def run(sweep: Path, out: Path) -> dict:
    r = CliRunner().invoke(app, ["sweep", str(sweep), "-o", str(out)])
    assert r.exit_code == 0, r.output
    return json.loads((out / "summary.json").read_text())


def write_sweep(tiny: Path, repeat_cells: int) -> Path:
    text = sweep_text(tiny, models=[str(tiny / "tiny")], threads="[1]")  # fp32 + int8: 2 cells
    text = text.replace("warmup_iters = 2\n", f"warmup_iters = 2\nrepeat_cells = {repeat_cells}\n")
    text = text.replace("budgets = [0.3, 1.0]", "budgets = [100.0]")  # both cells qualify: a runner-up
    (tiny / "sweep.toml").write_text(text, encoding="utf-8")
    return tiny / "sweep.toml"


def test_sweep_measures_the_drift_once_and_publishes_it(tiny: Path) -> None:
    sweep, out = write_sweep(tiny, 2), tiny / "out"
    s = run(sweep, out)
    assert s["counts"] == {"done": 6, "cached": 0, "failed": 0, "skipped": 0}  # repeats are not stages
    drift = s["drift"]["local"]
    assert isinstance(drift["drift_pct"], float) and math.isfinite(drift["drift_pct"]) and drift["drift_pct"] >= 0
    assert drift["repeats"] == 2 and drift["machine_id"] and "largest" in drift["statistic"]
    cells = drift["cells"]
    benches = [n for n in s["nodes"] if n["stage"] == "bench"]
    assert cells[0]["key"] == benches[0]["key"]  # the lane's first cell, then the fastest
    assert {c["key"] for c in cells} == {n["key"] for n in benches}
    assert [c["status"] for c in cells] == ["done", "done"]
    for c in cells:
        assert c["repeat_key"] == repeat_key(c["key"])
        assert c["change_pct"] == pytest.approx(100 * (c["p50_ms_repeat"] - c["p50_ms_first"]) / c["p50_ms_first"])
        first = json.loads((out / "cache" / c["key"] / "result.json").read_text())
        again = json.loads((out / "cache" / c["repeat_key"] / "result.json").read_text())
        assert first["latency"]["p50_ms"] == c["p50_ms_first"] and again["latency"]["p50_ms"] == c["p50_ms_repeat"]
        assert again["created_utc"] >= first["created_utc"]  # measured again, after
    assert drift["drift_pct"] == max(abs(c["change_pct"]) for c in cells)
    # every published result of the device carries it; the recommendation reads it from there
    for p in (out / "results" / "local").glob("*.json"):
        assert json.loads(p.read_text())["sweep"]["drift"]["drift_pct"] == drift["drift_pct"]
    assert len(list((out / "results" / "local").glob("*.json"))) == 2  # the repeats are not published
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["100"][0]["drift_pct"] == drift["drift_pct"]
    assert rec["100"][0]["noise_rule"].startswith("p50 95 % CIs overlap or |margin|")
    assert "drift measured on this device" in (out / "recommendation.md").read_text()

    # a second run measures nothing: every stage and every repeat from the cache, the same drift
    markers = {c["repeat_key"]: (out / "cache" / c["repeat_key"] / DONE).stat().st_mtime_ns for c in cells}
    s2 = run(sweep, out)
    assert s2["counts"] == {"done": 0, "cached": 6, "failed": 0, "skipped": 0}
    assert [c["status"] for c in s2["drift"]["local"]["cells"]] == ["cached", "cached"]
    assert s2["drift"]["local"]["drift_pct"] == drift["drift_pct"]
    assert {k: (out / "cache" / k / DONE).stat().st_mtime_ns for k in markers} == markers

    # repeat_cells = 0: no drift measured, results without it, the recommendation says CIs only
    s3 = run(write_sweep(tiny, 0), out)
    assert s3["counts"]["done"] == 0 and s3["drift"] == {"local": None}
    for p in (out / "results" / "local").glob("*.json"):
        assert "drift" not in json.loads(p.read_text())["sweep"]
    assert json.loads((out / "recommendation.json").read_text())["100"][0]["noise_rule"] == \
        "CIs only; drift not measured"


def test_repeat_cells_must_not_be_negative() -> None:
    with pytest.raises(UserInputError, match=r"repeat_cells -1 must be >= 0"):
        parse_sweep('models = ["resnet20"]\n[bench]\nrepeat_cells = -1\n')
    assert parse_sweep('models = ["resnet20"]').bench.repeat_cells == 3
