"""Accuracy-aware INT8 of a detector: the search of `calibration.accuracy_aware` with the task's metric (paired
mAP@0.5:0.95 drop, box agreement) instead of top-1, through `edgebench quantize --accuracy-budget`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.cli import app
from typer.testing import CliRunner


def lossy_grid() -> np.ndarray:
    """2x2 grid, 2 classes: one box [0, 0, 0.5, 0.5] of the image at cell (0, 0), class 0, objectness 1; and one
    huge value (a class score of an empty cell) that stretches the output's INT8 range so far that the box's
    offsets and objectness round to 0: plain INT8 loses every box, the Add kept float keeps them all."""
    g = np.zeros((1 + 4 + 2, 2, 2), np.float32)
    g[0, 0, 0] = 1.0
    g[1, 0, 0] = g[2, 0, 0] = np.arctanh(0.5)
    g[5, 0, 0] = 1.0
    g[6, 1, 1] = 1000.0  # objectness 0 there: no box, only a wide range
    return g


@pytest.fixture
def det(tmp_path: Path) -> tuple[Path, Path]:
    """(the detector, its COCO folder): two images, one ground-truth box each where the grid puts its box."""
    from edgebench.tools.synthetic import grid_detector
    from PIL import Image

    d = tmp_path / "data"
    (d / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(40, 20), (40, 20)]):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), np.uint8)).save(d / "images" / f"{i}.png")
    doc = {"images": [{"id": 1, "file_name": "0.png", "width": 40, "height": 20},
                      {"id": 2, "file_name": "1.png", "width": 40, "height": 20}],
           "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 10]},
                           {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 0, 20, 10]}]}
    (d / "instances.json").write_text(json.dumps(doc))
    return grid_detector(tmp_path / "m" / "model.fp32.onnx", lossy_grid(), size=32), d


def _quantize(model: Path, data: Path, out: Path, *extra: str) -> object:
    return CliRunner().invoke(app, ["quantize", str(model), "--data", str(data / "images"), "--preset",
                                    "qdq-s8s8-tensor", "--accuracy-budget", "0.5", "--eval-data", str(data),
                                    "-o", str(out), "--json", *extra])


def test_map_budget_keeps_the_damaging_node_float(det: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = det
    out = tmp_path / "q" / "model.int8.onnx"
    r = _quantize(model, data, out)
    assert r.exit_code == 0, r.stderr
    a = json.loads(r.stdout)["accuracy_aware"]
    assert (a["metric"], a["agreement"], a["met"], a["eval_images"]) == ("map_pct", "box_agreement_pct", True, 2)
    assert a["drop_before_pts"] == pytest.approx(100.0)  # plain INT8: every box lost
    assert a["drop_after_pts"] <= 0.5 and "add_grid" in a["float_nodes"]
    assert a["steps"][0]["agreement_pct"] == 0.0 and a["steps"][-1]["agreement_pct"] == 100.0
    assert "relative L2 error" in a["fell_back"][0]["why"]
    # what was written scores as the search said: eval of the INT8 against its FP32 parent
    e = CliRunner().invoke(app, ["eval", str(out), "--baseline", str(model), "--data", str(data), "-t", "1",
                                 "--json"])
    assert e.exit_code == 0, e.stderr
    assert json.loads(e.stdout)["paired"]["map_delta_pts"] == pytest.approx(0.0, abs=0.5)


def test_map_budget_not_met_writes_nothing(det: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = det
    out = tmp_path / "q" / "model.int8.onnx"
    r = _quantize(model, data, out, "--max-float", "0")
    assert r.exit_code == 1 and "accuracy budget 0.5 points not met: best drop +100.00" in r.stderr
    assert not out.exists() and "Traceback" not in r.stderr


def test_classification_search_unchanged_without_a_task() -> None:
    """No task: top-1 against the labels, as before (the classification callers that pass none)."""
    from edgebench.calibration.accuracy_aware import _comparison
    from edgebench.calibration.dataset import Dataset

    ds = Dataset(np.zeros((4, 2, 2, 3), np.uint8), np.array([0, 1, 1, 0]), "d")
    drop, agreement = _comparison(None, ds)([0, 1, 0, 1], [0, 1, 1, 0])
    assert (drop, agreement) == (50.0, 50.0)
    from edgebench.calibration.tasks import task_of

    assert _comparison(task_of(None), ds)([0, 1, 0, 1], [0, 1, 1, 0]) == (50.0, 50.0)
