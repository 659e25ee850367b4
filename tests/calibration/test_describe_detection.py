"""`edgebench describe --task detection` of third-party detectors built in code (YOLOv5-style [1, N, 5+C],
YOLOv8-style [1, 4+C, N], FastestDet-style grids, NMS inside [1, K, 6]), then `eval` decoding their boxes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.cli import app
from edgebench.tools.synthetic import constant_detector
from typer.testing import CliRunner

# the ground truth below: one box of class 0 covering the top-left quarter of each 40x20 image; in pixels of
# the 32x32 model input (stretched) that is centre (8, 8), size 16x16
BOX_XYWH = [8.0, 8.0, 16.0, 16.0]


def _yolov5() -> np.ndarray:
    rows = np.zeros((1, 12, 5 + 2), np.float32)  # more boxes than 5+C, as in real exports (the rest: zeros)
    rows[0, 0] = [*BOX_XYWH, 0.9, 0.95, 0.05]  # the right box: objectness 0.9, class 0
    rows[0, 1] = [*BOX_XYWH, 0.85, 0.9, 0.1]  # a duplicate NMS must drop
    rows[0, 2] = [24, 24, 4, 4, 0.0001, 0.5, 0.5]  # below the score threshold
    return rows


def _yolov8() -> np.ndarray:
    """The same boxes as [1, 4+C, N], each class score times the YOLOv5 objectness (no objectness here)."""
    v5 = _yolov5()[0]
    return np.ascontiguousarray((np.concatenate([v5[:, :4], v5[:, 5:] * v5[:, 4:5]], axis=1).T)[None])


def _boxes() -> np.ndarray:
    out = np.zeros((1, 4, 6), np.float32)
    out[0, 0] = [0, 0, 16, 16, 0.9, 0]  # x1y1x2y2 in input pixels, score, class; the rest: padding
    return out


def _grid() -> np.ndarray:
    g = np.zeros((1, 1 + 4 + 2, 2, 2), np.float32)
    g[0, 0, 0, 0] = 1.0
    g[0, 1, 0, 0] = g[0, 2, 0, 0] = np.arctanh(0.5)
    g[0, 5, 0, 0] = 1.0
    return g


@pytest.fixture
def coco(tmp_path: Path) -> Path:
    from PIL import Image

    d = tmp_path / "data"
    (d / "images").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.full((20, 40, 3), 50 * i, np.uint8)).save(d / "images" / f"{i}.png")
    doc = {"images": [{"id": i + 1, "file_name": f"{i}.png", "width": 40, "height": 20} for i in range(2)],
           "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
           "annotations": [{"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [0, 0, 20, 10]}
                           for i in range(2)]}
    (d / "instances.json").write_text(json.dumps(doc))
    return d


@pytest.mark.parametrize(("layout", "output", "nms", "decoder", "classes"), [
    ("yolov5", _yolov5(), False, "yolov5", 2),
    ("yolov8", _yolov8(), False, "yolov8", 2),
    ("nms", _boxes(), True, "nms-boxes", None),
    ("grid", _grid(), False, "fastestdet", 2),
])
def test_describe_detection_layouts_then_eval(tmp_path: Path, coco: Path, layout: str, output: np.ndarray,
                                              nms: bool, decoder: str, classes: int | None) -> None:
    model = constant_detector(tmp_path / layout / "det.onnx", output, nms=nms)
    r = CliRunner().invoke(app, ["describe", str(model), "--task", "detection", "--preprocessing", "unit", "--json"])
    assert r.exit_code == 0, r.stderr
    m = json.loads(r.stdout)
    assert (m["task"], m["output"]["decoder"], m.get("num_classes")) == ("detection", decoder, classes)
    assert m["input"]["preprocessing"]["resize_mode"] == "stretch"
    e = CliRunner().invoke(app, ["eval", str(model), "--data", str(coco), "-t", "1", "--json"])
    assert e.exit_code == 0, e.stderr
    out = json.loads(e.stdout)
    # the one right box per image (the duplicate suppressed, the faint one dropped): every ground truth found
    assert out["map_pct"] == pytest.approx(100.0) and out["detections"] == 2


def test_describe_detection_refuses_an_unknown_layout(tmp_path: Path) -> None:
    model = constant_detector(tmp_path / "det.onnx", np.zeros((1, 8), np.float32))
    r = CliRunner().invoke(app, ["describe", str(model), "--task", "detection", "--preprocessing", "unit"])
    assert r.exit_code == 2 and "is none of the detection layouts edgebench decodes" in r.stderr
    assert not (tmp_path / "det.json").exists()


def test_describe_unknown_task_and_wrong_labels(tmp_path: Path) -> None:
    model = constant_detector(tmp_path / "det.onnx", _yolov5())
    r = CliRunner().invoke(app, ["describe", str(model), "--task", "detectoin", "--preprocessing", "unit"])
    assert r.exit_code == 2 and "--task 'detectoin' is not one of classification, detection" in r.stderr
    r = CliRunner().invoke(app, ["describe", str(model), "--task", "detection", "--preprocessing", "unit",
                                 "--labels", "coco"])
    assert r.exit_code == 2 and "names 80 classes but the yolov5 output" in r.stderr
    assert not (tmp_path / "det.json").exists()


def test_yolov8_e2e_boxes_scaled_to_the_frame(tmp_path: Path) -> None:
    """bench's end-to-end path decodes a described third-party layout too (boxes scaled to the 640x480 frame)."""
    from edgebench.artifact import ModelArtifact
    from edgebench.bench.end_to_end import EndToEnd
    from edgebench.runtimes import get_runtime, options_class

    model = constant_detector(tmp_path / "det.onnx", _yolov8())
    r = CliRunner().invoke(app, ["describe", str(model), "--task", "detection", "--preprocessing", "unit"])
    assert r.exit_code == 0, r.stderr
    sess = get_runtime("ort-cpu").load(model, options_class("ort-cpu")(intra_op_threads=1))
    e2e = EndToEnd(sess, ModelArtifact.resolve(model).manifest)
    (dets,) = e2e.run(e2e.feeds())
    assert dets.labels.tolist() == [0] and dets.boxes[0].tolist() == pytest.approx([0, 0, 320, 240], abs=1e-3)
