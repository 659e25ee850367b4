"""A sweep over a detector: its evaluate stage scores COCO mAP on a detection folder, pairs every cell with its
FP32 (mAP delta, box agreement), and the recommendation holds the budget in mAP@0.5:0.95 points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.cli import app
from edgebench.sweep.config import load_sweep
from edgebench.sweep.run import run_sweep
from typer.testing import CliRunner

from tests.calibration.test_detection_quant import lossy_grid


def detector_sweep(root: Path) -> Path:
    """root/det (a FastestDet-layout detector whose per-tensor INT8 loses every box), root/coco (two images, the
    box the detector predicts in each) and root/sweep.toml: fp32 + that INT8, ranked by file size (exact)."""
    from edgebench.tools.synthetic import coco_folder, grid_detector

    grid_detector(root / "det" / "model.fp32.onnx", lossy_grid(), size=32)
    coco_folder(root / "coco", [[(0, [0, 0, 20, 10])], [(0, [0, 0, 20, 10])]], classes=("a", "b"))
    (root / "sweep.toml").write_text(f"""
models = ["{root / 'det'}"]
[quantize]
precisions = ["fp32", "int8:qdq-s8s8-tensor"]
calibration = "{root / 'coco' / 'images'}"
calib_size = 2
[eval]
data = "{root / 'coco'}"
[bench]
min_seconds = 0.0
min_iters = 5
warmup_iters = 1
repeat_cells = 0
[recommend]
budgets = [1.0, 100.0]
metric = "file_size_mb"
""", encoding="utf-8")
    return root / "sweep.toml"


@pytest.mark.slow
def test_a_detector_sweep_recommends_within_an_map_budget(tmp_path: Path) -> None:
    from edgebench.calibration.evaluate_detection import evaluate_detection_pair

    out = tmp_path / "out"
    done = run_sweep(load_sweep(detector_sweep(tmp_path)), out)
    assert done.counts == {"done": 6, "cached": 0, "failed": 0, "skipped": 0}
    results = {r["sweep"]["precision"]: r for r in
               (json.loads(p.read_text()) for p in (out / "results" / "local").glob("*.json"))}
    fp32, int8 = results["fp32"]["accuracy"], results["int8:qdq-s8s8-tensor"]["accuracy"]
    assert results["fp32"]["model"]["task"] == "detection" and "top1_pct" not in fp32
    assert (fp32["map_pct"], int8["map_pct"]) == (100.0, 0.0)
    assert fp32["paired"]["is_baseline"] is True and fp32["paired"]["map_delta_pts"] == 0.0
    p = int8["paired"]
    assert (p["map_delta_pts"], p["box_agreement_pct"], p["n"]) == (-100.0, 0.0, 2)
    # the same figures as `eval INT8 --baseline FP32` (the FP32's boxes came back from its predictions.npz)
    nodes = {n["label"]: n["key"] for n in json.loads((out / "summary.json").read_text())["nodes"]}
    model = out / "cache" / nodes["quantize det-int8-qdq-s8s8-tensor"] / "model.int8.onnx"
    pair = evaluate_detection_pair(model, tmp_path / "det" / "model.fp32.onnx", str(tmp_path / "coco"), threads=1)
    assert {k: v for k, v in p.items() if k not in ("baseline", "is_baseline")} == pair["paired"]
    # 1 mAP point: only the FP32 qualifies; 100 points: the smaller INT8 file
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["1"][0]["recommended"]["precision"] == "fp32" and rec["1"][0]["reference_map_pct"] == 100.0
    assert rec["100"][0]["recommended"]["precision"] == "int8" and rec["100"][0]["recommended"]["drop_pts"] == 100.0
    assert "budget 1 points of paired mAP@0.5:0.95 drop" in (out / "recommendation.md").read_text()
    # `edgebench recommend` on the sweep folder says the same
    r = CliRunner().invoke(app, ["recommend", str(out), "--budget", "100", "--metric", "file_size_mb"])
    assert r.exit_code == 0, r.stderr
    assert "recommended: det-int8-qdq-s8s8-tensor/ort-cpu int8 t1 b1: mAP@0.5:0.95 0.00 % (paired -100.00 points " \
           "vs FP32)" in r.stdout
