"""`edgebench eval`'s text output, letter for letter (the printers share one skeleton: issue #25, D10)."""

from __future__ import annotations

from typing import Any

import pytest
from edgebench.cli.evaluate import PRINTERS

ONE = dict(model="/x/m.onnx", top1_pct=91.234, top5_pct=99.5, n=100, dataset="cifar10", runtime="ort-cpu",
           threads=2, arithmetic="host", seconds=1.23, warnings=["w1"], output_kind="probabilities",
           execution_precision="bf16", map_pct=30.1, map50_pct=50.2, gt_boxes=17, predictions=[1])
BASE = dict(ONE, model="/x/b.onnx", output_kind="logits", execution_precision=None, warnings=[])
PAIRED = dict(n=100, top1_delta_ci95_pts=[-0.5, 0.25], top1_delta_pts=-0.1, agreement_pct=98.0, agree=98,
              flipped_to_correct=1, flipped_to_wrong=2, changed_both_wrong=0, map_delta_pts=-1.0,
              map50_delta_pts=0.5, box_agreement_pct=88.8, matched_boxes=8, baseline_boxes=9, score_threshold=0.3,
              iou_threshold=0.5)
PAIR = dict(model=ONE, baseline=BASE, paired=PAIRED)

EXPECTED = {
    "classification": [
        "m.onnx: top-1 91.23 %  top-5 99.50 %  on 100 images of cifar10 (ort-cpu ran bf16, 2 threads, host, 1.2 s)",
        "measured argmax/top-5 of the final Softmax's probabilities (same as on logits)"],
    "detection": [
        "m.onnx: mAP@0.5:0.95 30.10  mAP@0.5 50.20  on 100 images of cifar10 (17 boxes; ort-cpu, 2 threads, host, "
        "1.2 s)"],
    "classification-paired": [
        "on 100 images of cifar10 (ort-cpu, 2 threads)",
        "model     m.onnx ran bf16: top-1 91.23 %  top-5 99.50 %  (host)",
        "baseline  b.onnx: top-1 91.23 %  top-5 99.50 %  (host)",
        "paired    top-1 -0.10 points (95 % CI -0.50 to +0.25); agreement 98.00 % (98/100); flipped to correct 1, "
        "to wrong 2, changed but both wrong 0"],
    "detection-paired": [
        "on 100 images of cifar10 (ort-cpu, 2 threads)",
        "model     m.onnx: mAP@0.5:0.95 30.10  mAP@0.5 50.20  (host)",
        "baseline  b.onnx: mAP@0.5:0.95 30.10  mAP@0.5 50.20  (host)",
        "paired    mAP -1.00 points, mAP@0.5 +0.50; box agreement 88.8 % (8/9 baseline boxes with score >= 0.3, "
        "same class at IoU >= 0.5)"],
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_eval_text_output(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    r: dict[str, Any] = PAIR if kind.endswith("-paired") else ONE
    PRINTERS[kind](r, False)
    out, err = capsys.readouterr()
    assert out.splitlines() == EXPECTED[kind]
    assert err == "warning: m.onnx: w1\n"


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_eval_json_output_drops_the_predictions(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    PRINTERS[kind](PAIR if kind.endswith("-paired") else ONE, True)
    printed = json.loads(capsys.readouterr().out)
    model = printed["model"] if kind.endswith("-paired") else printed
    assert "predictions" not in model and model["top1_pct"] == 91.234
    if kind.endswith("-paired"):
        assert printed["paired"] == PAIRED and printed["baseline"]["model"] == "/x/b.onnx"
