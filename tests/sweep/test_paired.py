"""A sweep evaluates every cell against its lineage's FP32 on the same images (the paired block in each result,
as `eval --baseline` computes it), and summary.json keeps every run's record (a cached re-run adds one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.sweep.config import load_sweep
from edgebench.sweep.run import previous_runs, run_sweep

from tests.sweep.tiny_sweep import sweep_text


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
def test_cells_are_paired_with_their_fp32_and_reruns_keep_their_records(tiny: Path) -> None:
    from edgebench.calibration.evaluate import evaluate_pair

    (tiny / "sweep.toml").write_text(sweep_text(tiny, models=[str(tiny / "tiny")], threads="[1]"))
    out = tiny / "out"
    first = run_sweep(load_sweep(tiny / "sweep.toml"), out)
    assert first.counts == {"done": 6, "cached": 0, "failed": 0, "skipped": 0}
    results = {json.loads(p.read_text())["sweep"]["precision"]: json.loads(p.read_text())
               for p in (out / "results" / "local").glob("*.json")}
    assert set(results) == {"fp32", "int8:x86-avx2"}
    fp32, int8 = results["fp32"]["accuracy"], results["int8:x86-avx2"]["accuracy"]
    assert fp32["paired"]["is_baseline"] is True and fp32["paired"]["top1_delta_ci95_pts"] == [0.0, 0.0]
    p = int8["paired"]
    assert p["baseline"] == "evaluate tiny-fp32/ort-cpu" and p["is_baseline"] is False and p["n"] == 48
    assert p["top1_delta_pts"] == pytest.approx(int8["top1_pct"] - fp32["top1_pct"])
    assert p["top1_delta_ci95_pts"][0] <= p["top1_delta_pts"] <= p["top1_delta_ci95_pts"][1]
    # the same figures as `eval MODEL --baseline FP32` on the same images
    nodes = {n["label"]: n for n in summary(out)["nodes"]}
    cache = out / "cache"
    model = cache / nodes["quantize tiny-int8-x86-avx2"]["key"] / "model.int8.onnx"
    pair = evaluate_pair(model, tiny / "tiny" / "model.fp32.onnx", str(tiny / "data.npz"), limit=48, threads=1)
    assert {k: v for k, v in p.items() if k not in ("baseline", "is_baseline")} == pair["paired"]
    # the recommendation uses them, and says that 48 images cannot resolve a 0.3-point budget
    rec = json.loads((out / "recommendation.json").read_text())["0.3"][0]
    assert rec["paired"] is True
    assert any("48 images cannot resolve a 0.3-point budget" in w and "at least 1001 images" in w
               for w in rec["warnings"])

    # a fully cached re-run: both runs are recorded, the cells keep the seconds they took when they ran
    second = run_sweep(load_sweep(tiny / "sweep.toml"), out)
    assert second.counts == {"done": 0, "cached": 6, "failed": 0, "skipped": 0}
    s = summary(out)
    assert s["counts"] == second.counts and [r["counts"] for r in s["runs"]] == [first.counts, second.counts]
    assert s["runs"][0]["wall_s"] == pytest.approx(first.wall_s) and s["runs"][1]["wall_s"] == s["wall_s"]
    assert all(r["started_utc"].endswith("Z") and r["mode"] == "embedded" for r in s["runs"])
    for label, n in nodes.items():
        again = next(x for x in s["nodes"] if x["label"] == label)
        assert again["cached"] is True and again["status"] == "cached"
        assert again["seconds"] == pytest.approx(n["seconds"]) and again["seconds"] > 0


def test_previous_runs_reads_old_summaries_and_drops_what_is_not_a_record(tmp_path: Path) -> None:
    said: list[str] = []
    s = tmp_path / "summary.json"
    assert previous_runs(s, said.append) == [] and not said  # a first run
    # a summary from before `runs`: its one run is kept
    s.write_text(json.dumps({"kind": "edgebench.sweep", "wall_s": 12.5, "mode": "embedded",
                             "counts": {"done": 8, "cached": 0, "failed": 0, "skipped": 0}, "interrupted": None}))
    assert previous_runs(s, said.append) == [{"started_utc": None, "wall_s": 12.5, "mode": "embedded",
                                              "counts": {"done": 8, "cached": 0, "failed": 0, "skipped": 0},
                                              "interrupted": None}]
    good = {"started_utc": "2026-12-07T14:00:00Z", "wall_s": 1.0, "mode": "embedded", "counts": {"done": 1},
            "interrupted": None}
    s.write_text(json.dumps({"kind": "edgebench.sweep", "runs": [good, {"wall_s": -1, "counts": {}},
                                                                 {"wall_s": float("nan"), "counts": {}}, "x"]}))
    assert previous_runs(s, said.append) == [good] and "3 earlier run record(s) are not valid" in said[-1]
    for text in ("{not json", json.dumps([1, 2]), json.dumps({"kind": "edgebench.other"})):
        s.write_text(text)
        assert previous_runs(s, said.append) == [] and "earlier runs' records are dropped" in said[-1]


def test_baseline_predictions_that_cannot_be_paired_fail_the_stage(tmp_path: Path) -> None:
    from edgebench.errors import EdgebenchError
    from edgebench.sweep.stages import Input, read_predictions

    (tmp_path / "predictions.json").write_text(json.dumps({"dataset_sha256": "ab", "n": 3, "predictions": [1, 2, 3]}))
    (tmp_path.parent / "outside.json").write_text(json.dumps({"dataset_sha256": "ab", "n": 3, "predictions": [1]}))
    inp = Input(tmp_path, {"predictions": "predictions.json"})
    assert read_predictions(inp, "ab", 3) == [1, 2, 3]
    with pytest.raises(EdgebenchError, match="other images"):
        read_predictions(inp, "cd", 3)  # another dataset
    with pytest.raises(EdgebenchError, match="other images"):
        read_predictions(inp, "ab", 4)  # another --limit
    for outputs in ({}, {"predictions": "../outside.json"}, {"predictions": 5}, {"predictions": "."}):
        with pytest.raises(EdgebenchError, match="no list of per-image predictions"):
            read_predictions(Input(tmp_path, outputs), "ab", 3)
    for text in ("{not json", json.dumps({"predictions": [1, True, 3]}), json.dumps([1, 2, 3])):
        (tmp_path / "predictions.json").write_text(text)
        with pytest.raises(EdgebenchError):
            read_predictions(inp, "ab", 3)
