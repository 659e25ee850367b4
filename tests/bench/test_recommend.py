"""bench/report/recommend.py and `edgebench recommend`: Pareto front, budget, margin vs noise, machines kept apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.bench.report.data import load_results
from edgebench.bench.report.recommend import pareto_rows, recommend
from edgebench.cli import app
from edgebench.errors import NotFoundError, UserInputError
from typer.testing import CliRunner

from tests.bench.result_factory import PI4, X86, result, two_devices, write


def rows(tmp_path: Path, results: list[dict]) -> list:
    return list(load_results(write(tmp_path / "r", results)).rows)


def test_recommends_the_fastest_within_budget_per_machine(tmp_path: Path) -> None:
    recs = recommend(rows(tmp_path, two_devices()), budget=0.3)
    by = {r.machine.id: r for r in recs}
    assert set(by) == {X86["id"], PI4["id"]}  # grouped by machine, never ranked together
    x86 = by[X86["id"]]
    assert x86.reference_top1 == 91.5 and "unpruned FP32" in x86.reference
    assert x86.best is not None and (x86.best.runtime, x86.best.precision) == ("ort-cpu", "int8")
    assert x86.runner_up is not None and x86.runner_up.p50_ms == 2.0  # torch-int8 (91.0) is outside 0.3 points
    assert x86.margin == pytest.approx(1.0) and x86.margin_pct == pytest.approx(100.0)
    assert x86.within_noise is False
    # a budget of 0 keeps only the FP32 deployments
    tight = {r.machine.id: r for r in recommend(rows(tmp_path / "b", two_devices()), budget=0.0)}[X86["id"]]
    assert tight.best is not None and tight.best.precision == "fp32" and tight.best.runtime == "ort-cpu"


def test_pareto_front_drops_dominated_deployments(tmp_path: Path) -> None:
    rs = [r for r in rows(tmp_path, two_devices()) if r.machine.id == X86["id"]]
    front = pareto_rows(rs, "p50_ms")
    # torch fp32 (4 ms, 91.5) is dominated by ort fp32 (2 ms, 91.5); torch-int8 (2.5 ms, 91.0) by ort int8
    assert [(r.runtime, r.precision) for r in front] == [("ort-cpu", "int8"), ("ort-cpu", "fp32")]


def test_margin_inside_the_noise_when_cis_overlap(tmp_path: Path) -> None:
    rs = rows(tmp_path, [result(X86, p50=1.0, threads=1), result(X86, p50=1.005, threads=2)])
    (rec,) = recommend(rs, budget=1.0)
    assert rec.best is not None and rec.best.threads == 1
    assert rec.within_noise is True and "inside the measurement noise" in " ".join(rec.lines())


def test_no_deployment_meets_the_budget_names_most_accurate_and_fastest(tmp_path: Path) -> None:
    recs = recommend(rows(tmp_path, two_devices()), budget=0.3, reference_top1=93.0)
    rec = {r.machine.id: r for r in recs}[X86["id"]]
    assert rec.best is None and rec.most_accurate.top1_pct == 91.5 and rec.fastest.p50_ms == 1.0
    text = " ".join(rec.lines())
    assert "no deployment is within 0.3 points of 93.00 %" in text and "most accurate" in text and "fastest" in text


def test_other_metrics(tmp_path: Path) -> None:
    rec = recommend(rows(tmp_path, two_devices()), budget=1.0, metric="file_size_mb", device=X86["id"])[0]
    assert rec.best is not None and rec.best.file_size_mb == 0.3 and rec.within_noise is False
    rec2 = recommend(rows(tmp_path / "m", two_devices()), budget=1.0, metric="peak_rss_mb", device=X86["id"])[0]
    assert rec2.within_noise is None and "no noise estimate" in " ".join(rec2.lines())


def test_device_selection_and_refusals(tmp_path: Path) -> None:
    rs = rows(tmp_path, two_devices())
    (pi,) = recommend(rs, budget=1.0, device="raspberrypi")
    assert pi.machine.id == PI4["id"]
    with pytest.raises(NotFoundError, match=r"matches no result.*Did you mean 'raspberrypi'"):
        recommend(rs, budget=1.0, device="raspberrypy")
    # two machines that share a host name: never ranked together
    other = {**X86, "id": "x86ccccccccc"}
    mixed = rows(tmp_path / "mix", [result(X86), result(other, p50=1.5)])
    with pytest.raises(UserInputError, match="matches results from 2 machines"):
        recommend(mixed, budget=1.0, device="workstation")
    with pytest.raises(UserInputError, match="must be >= 0"):
        recommend(rs, budget=-1.0)
    with pytest.raises(UserInputError, match="no result carries an accuracy"):
        recommend(rows(tmp_path / "noacc", [result(X86, top1=None)]), budget=1.0)


def test_cli_recommend(tmp_path: Path) -> None:
    write(tmp_path / "r", two_devices())
    r = CliRunner().invoke(app, ["recommend", str(tmp_path / "r"), "--budget", "0.3"])
    assert r.exit_code == 0, r.stderr
    assert "results from 2 machines: ranked per machine" in r.stdout
    assert "recommended: resnet20-int8/ort-cpu int8 t2 b1" in r.stdout and "Pareto front" in r.stdout
    r = CliRunner().invoke(app, ["recommend", str(tmp_path / "r"), "--device", PI4["id"], "--json"])
    data = json.loads(r.stdout)
    assert len(data) == 1 and data[0]["recommended"]["precision"] == "int8"
    r = CliRunner().invoke(app, ["recommend", str(tmp_path / "r"), "--metric", "p50"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "Did you mean 'p50_ms'" in r.stderr


def test_report_opens_with_the_recommendation(tmp_path: Path) -> None:
    pytest.importorskip("jinja2")
    write(tmp_path / "r", two_devices())
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "r"), "-o", str(tmp_path / "rep"), "--no-plots",
                                 "--budget", "0.3"])
    assert r.exit_code == 0, r.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    assert md.index("## Recommendation") < md.index("## Machines")
    assert "recommended: resnet20-int8/ort-cpu int8 t2 b1" in md and "Pareto front" in md
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.index("<h2>Recommendation</h2>") < html.index("<h2>Machines</h2>")
    assert "budget 0.3 points" in r.stdout


def test_recommend_config_checks_the_metric_before_any_file_is_read(tmp_path: Path) -> None:
    from edgebench.bench.report.recommend import RecommendConfig, recommend_files

    with pytest.raises(UserInputError, match="--metric 'p51_ms' is not one of"):
        RecommendConfig(metric="p51_ms")
    with pytest.raises(UserInputError):  # a folder without results is refused by the reader, not ranked empty
        recommend_files([tmp_path / "none"], RecommendConfig())
