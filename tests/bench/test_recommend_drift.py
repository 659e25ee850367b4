"""bench/report/recommend.py: a margin inside the device's measured run-to-run drift (a sweep's `sweep.drift`) is noise;
without a drift measurement only the CIs count, and the text says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from edgebench.bench.report.data import load_results
from edgebench.bench.report.recommend import recommend
from edgebench.cli import app
from typer.testing import CliRunner

from tests.bench.result_factory import X86, result, write


def with_drift(r: dict[str, Any], pct: float | None) -> dict[str, Any]:
    """`r` as a sweep publishes it: a `sweep` block, with the device's measured drift when `pct` is given."""
    r["sweep"] = {"device": "local", "sweep": "t", "model": "resnet20", "variant": None}
    if pct is not None:
        r["sweep"]["drift"] = {"drift_pct": pct, "statistic": "largest |relative p50 change|", "repeats": 3}
    return r


def pair(tmp_path: Path, drift: tuple[float | None, float | None], runner_up_p50: float = 1.05) -> Any:
    """Recommended p50 1.0 ms (CI 0.99-1.01) vs runner-up 1.05 ms (CI 1.0395-1.0605): CIs apart, margin 5 %."""
    rs = [with_drift(result(X86, p50=1.0, threads=1), drift[0]),
          with_drift(result(X86, p50=runner_up_p50, threads=2), drift[1])]
    (rec,) = recommend(list(load_results(write(tmp_path / "r", rs)).rows), budget=1.0)
    assert rec.best is not None and rec.best.threads == 1 and rec.runner_up is not None
    return rec


def runner_up_line(rec: Any) -> str:
    return next(ln for ln in rec.lines() if ln.startswith("runner-up:"))


def test_margin_below_the_measured_drift_is_inside_the_noise(tmp_path: Path) -> None:
    rec = pair(tmp_path, (6.0, 6.0))
    assert rec.margin_pct == pytest.approx(5.0) and rec.cis_overlap is False
    assert rec.drift_pct == 6.0 and rec.within_drift is True and rec.within_noise is True
    line = runner_up_line(rec)
    assert "inside the measurement noise: inside the run-to-run drift measured on this device (6.0 %)" in line
    d = rec.to_dict()
    assert d["within_noise"] is True and d["drift_pct"] == 6.0 and "measured run-to-run drift" in d["noise_rule"]


def test_margin_above_the_measured_drift_is_outside_the_noise(tmp_path: Path) -> None:
    rec = pair(tmp_path, (2.0, 2.0))
    assert rec.within_drift is False and rec.within_noise is False
    line = runner_up_line(rec)
    assert "outside the measurement noise (the p50 95 % CIs are apart and the margin exceeds the run-to-run drift " \
        "measured on this device, 2.0 %)" in line
    # one of the two results carries a drift (e.g. one device's sweep and an older result): it counts, and the
    # larger of two counts
    assert pair(tmp_path / "one", (None, 6.0)).within_noise is True
    assert pair(tmp_path / "max", (2.0, 6.0)).drift_pct == 6.0


def test_without_drift_only_the_cis_count_and_the_text_says_so(tmp_path: Path) -> None:
    rec = pair(tmp_path, (None, None))  # a sweep result from before the drift measurement
    assert rec.drift_pct is None and rec.within_drift is None and rec.within_noise is False
    assert "outside the measurement noise (CIs only; drift not measured)" in runner_up_line(rec)
    assert rec.to_dict()["noise_rule"] == "CIs only; drift not measured"
    # plain `edgebench bench` results (no sweep block) whose CIs overlap: inside, CIs only
    rs = [result(X86, p50=1.0, threads=1), result(X86, p50=1.005, threads=2)]
    (plain,) = recommend(list(load_results(write(tmp_path / "p", rs)).rows), budget=1.0)
    assert plain.within_noise is True
    assert "inside the measurement noise (the p50 95 % CIs overlap; CIs only, drift not measured)" \
        in runner_up_line(plain)


def test_overlapping_cis_stay_inside_with_a_small_drift(tmp_path: Path) -> None:
    rec = pair(tmp_path, (0.1, 0.1), runner_up_p50=1.005)
    assert rec.cis_overlap is True and rec.within_drift is False and rec.within_noise is True
    assert "the p50 95 % CIs overlap; run-to-run drift measured on this device: 0.1 %" in runner_up_line(rec)


def test_report_and_cli_show_the_drift_rule(tmp_path: Path) -> None:
    pytest.importorskip("jinja2")
    write(tmp_path / "r", [with_drift(result(X86, p50=1.0, threads=1), 6.0),
                           with_drift(result(X86, p50=1.05, threads=2), 6.0)])
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "r"), "-o", str(tmp_path / "rep"), "--no-plots",
                                 "--budget", "1.0"])
    assert r.exit_code == 0, r.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    section = md[md.index("## Recommendation"):md.index("## Machines")]
    text = "inside the run-to-run drift measured on this device (6.0 %)"
    assert text in section and text in (tmp_path / "rep" / "report.html").read_text()
    r = CliRunner().invoke(app, ["recommend", str(tmp_path / "r"), "--budget", "1.0", "--json"])
    assert r.exit_code == 0, r.stderr
    (data,) = json.loads(r.stdout)
    assert data["within_noise"] is True and data["drift_pct"] == 6.0
