"""`recommend` on detectors: the budget in paired mAP@0.5:0.95 points (a sweep's `map_delta_pts`), the texts and
JSON naming the metric, and never a detector ranked against a classifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from edgebench.bench.report.data import load_results
from edgebench.bench.report.recommend import Recommendation, recommend
from edgebench.cli import app
from edgebench.errors import UserInputError
from typer.testing import CliRunner

from tests.bench.result_factory import X86, detector_result, result, write


def detectors(paired: bool = True) -> list[dict[str, Any]]:
    """FastestDet FP32 30.0 mAP at 4 ms; INT8 per-channel 29.5 (paired -0.5) at 3 ms; INT8 per-tensor 28.0 (paired
    -2.0) at 2 ms."""
    rows = [(dict(precision="fp32", p50=4.0, map_pct=30.0), 0.0),
            (dict(precision="int8", runtime="ort-cpu", p50=3.0, map_pct=29.5, sha="a" * 64), -0.5),
            (dict(precision="int8", runtime="openvino", p50=2.0, map_pct=28.0, sha="b" * 64), -2.0)]
    return [detector_result(X86, **kw, map_delta=d if paired else None, baseline=d == 0.0) for kw, d in rows]


def rank(tmp_path: Path, results: list[dict[str, Any]], **kw: Any) -> list[Recommendation]:
    folder = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
    write(folder, results)
    return recommend(load_results([folder]).rows, **kw)


def test_the_budget_is_in_paired_map_points(tmp_path: Path) -> None:
    (rec,) = rank(tmp_path, detectors(), budget=1.0)
    assert rec.paired and rec.headline.key == "map_pct"
    assert rec.best is not None and (rec.best.precision, rec.best.p50_ms) == ("int8", 3.0)  # -2.0 is out
    assert rec.runner_up is not None and rec.runner_up.precision == "fp32"
    lines = rec.lines()
    assert "budget 1 points of paired mAP@0.5:0.95 drop vs each deployment's FP32" in lines[0]
    assert lines[1] == ("recommended: fastestdet-int8/ort-cpu int8 t2 b1: mAP@0.5:0.95 29.50 % (paired -0.50 points "
                        "vs FP32), p50 ms 3.000 (2.970-3.030)")
    assert any("no confidence interval" in w and "128 images" in w for w in rec.warnings)
    assert rec.front_header()[4] == "mAP@0.5:0.95 %" and [r[4] for r in rec.front_rows()] == ["28.00", "29.50",
                                                                                               "30.00"]
    d = rec.to_dict()
    assert d["recommended"]["map_pct"] == 29.5 and "top1_pct" not in d["recommended"]
    assert d["recommended"]["drop_pts"] == 0.5 and d["recommended"]["paired_delta_ci95_pts"] is None
    assert d["reference_map_pct"] == 30.0 and "reference_top1_pct" not in d
    # 2 points: the per-tensor INT8 is the fastest within it
    (wide,) = rank(tmp_path, detectors(), budget=2.0)
    assert wide.best is not None and wide.best.runtime == "openvino"


def test_a_map_budget_nothing_meets(tmp_path: Path) -> None:
    # unpaired (`bench --eval` results) against a published 33.0 mAP: every deployment is more than 1 point below
    (rec,) = rank(tmp_path, detectors(paired=False), budget=1.0, reference_top1=33.0)
    assert rec.best is None and not rec.paired
    assert rec.most_accurate.map_pct == 30.0 and rec.fastest.p50_ms == 2.0
    text = " ".join(rec.lines())
    assert "budget 1 mAP@0.5:0.95 points below 33.00 % (given reference)" in text
    assert "no deployment is within 1 mAP@0.5:0.95 points of 33.00 %" in text
    # unpaired without --reference: a warning, without the binomial noise of a top-1 share
    (fallback,) = rank(tmp_path, detectors(paired=False), budget=1.0)
    (w,) = fallback.warnings
    assert "held against unpaired mAP@0.5:0.95 differences" in w and "sampling error" not in w


def test_detectors_and_classifiers_are_never_ranked_together(tmp_path: Path) -> None:
    mixed = [*detectors(), result(X86, precision="fp32", p50=1.0, top1=91.5),
             result(X86, precision="int8", p50=0.5, top1=91.2)]
    recs = rank(tmp_path, mixed, budget=1.0)
    by = {r.headline.name: r for r in recs}
    assert set(by) == {"top-1", "mAP@0.5:0.95"} and len(recs) == 2
    assert all(c.task == "detection" for c in by["mAP@0.5:0.95"].candidates)
    assert by["top-1"].best is not None and by["top-1"].best.top1_pct == 91.2
    assert by["mAP@0.5:0.95"].best is not None and by["mAP@0.5:0.95"].best.map_pct == 29.5
    # one --reference figure cannot be both a top-1 and an mAP
    with pytest.raises(UserInputError, match=r"--reference 91.5 is one accuracy figure, but the results hold "
                                             r"classification \(top-1\) and detection \(mAP@0.5:0.95\) models"):
        rank(tmp_path, mixed, budget=1.0, reference_top1=91.5)


def test_cli_recommend_on_detectors(tmp_path: Path) -> None:
    write(tmp_path / "r", detectors())
    r = CliRunner().invoke(app, ["recommend", str(tmp_path / "r"), "--budget", "1", "--json"])
    assert r.exit_code == 0, r.stderr
    (data,) = json.loads(r.stdout)
    assert data["recommended"]["map_pct"] == 29.5 and data["budget_points"] == 1.0
    r = CliRunner().invoke(app, ["recommend", str(tmp_path / "r"), "--budget", "1"])
    assert "mAP@0.5:0.95 %" in r.stdout and "recommended: fastestdet-int8/ort-cpu" in r.stdout
    r = CliRunner().invoke(app, ["recommend", str(tmp_path / "r"), "--reference", "0"])
    assert r.exit_code == 2 and "an accuracy % (top-1, or mAP@0.5:0.95 for a detector) in (0, 100]" in r.stderr
