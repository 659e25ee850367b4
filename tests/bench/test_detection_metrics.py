"""Detection maths in numpy: FastestDet decoding, class-wise NMS, COCO mAP (checked by hand and against
pycocotools), box agreement, and `edgebench eval` of a detector end to end on a detector built in code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from edgebench.calibration.detection import Detections, box_agreement, coco_map, decode_fastestdet, nms
from edgebench.calibration.detection_data import DetectionDataset, DetectionImage
from edgebench.cli import app
from typer.testing import CliRunner


def _ds(*images: tuple[list[list[float]], list[int]], classes: int = 2) -> DetectionDataset:
    """Ground truth per image as ([x, y, w, h] boxes, labels) on 100x100 images."""
    ims = tuple(DetectionImage(Path(f"{i}.png"), i + 1, 100, 100, np.asarray(b, np.float64).reshape(-1, 4),
                               np.asarray(lab, np.int64)) for i, (b, lab) in enumerate(images))
    return DetectionDataset("gt", ims, tuple(f"c{i}" for i in range(classes)), tuple(range(1, classes + 1)))


def _det(boxes: list[list[float]], scores: list[float], labels: list[int]) -> Detections:
    return Detections(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64),
                      np.asarray(labels, np.int64))


# --- decoding ------------------------------------------------------------------------------------------


def test_decode_fastestdet_by_hand() -> None:
    raw = np.zeros((1 + 4 + 3, 2, 2))
    raw[0, 0, 1] = 0.64  # objectness of cell row 0, col 1
    raw[5:, 0, 1] = [0.1, 0.3, 0.6]  # class 2 at 0.6
    raw[1, 0, 1] = np.arctanh(0.5)  # centre x = (1 + 0.5) / 2 = 0.75
    raw[2, 0, 1] = np.arctanh(-0.5)  # centre y = (0 - 0.5) / 2 = -0.25... clipped nowhere: decode does not clip
    raw[3, 0, 1] = 0.0  # w = sigmoid(0) = 0.5
    raw[4, 0, 1] = np.log(0.25 / 0.75)  # h = 0.25
    d = decode_fastestdet(raw, width=200, height=100, score_threshold=0.001)
    assert len(d) == 1 and d.labels.tolist() == [2]
    np.testing.assert_allclose(d.scores, [0.64 ** 0.6 * 0.6 ** 0.4])
    np.testing.assert_allclose(d.boxes, [[100, -37.5, 200, -12.5]])


def test_decode_keeps_scores_above_the_threshold_only() -> None:
    raw = np.zeros((6, 3, 3))
    raw[5] = 1.0
    raw[0] = np.arange(9).reshape(3, 3) / 10  # scores obj^0.6
    d = decode_fastestdet(raw, 10, 10, score_threshold=(0.45 ** 0.6))
    assert len(d) == 4  # obj 0.5 .. 0.8


def test_decode_refuses_a_wrong_layout() -> None:
    with pytest.raises(ValueError, match=r"\[1\+4\+classes, H, W\]"):
        decode_fastestdet(np.zeros((85, 22)), 10, 10)


# --- NMS -----------------------------------------------------------------------------------------------


def test_nms_is_class_wise_at_the_threshold() -> None:
    boxes = [[0, 0, 10, 10], [0, 0, 10, 8], [0, 0, 10, 4], [0, 0, 10, 10]]  # IoU with the first: 0.8, 0.4, 1
    d = _det(boxes, [0.9, 0.8, 0.7, 0.6], [0, 0, 0, 1])
    kept = nms(d, 0.45)
    assert kept.scores.tolist() == [0.9, 0.7, 0.6]  # 0.8 suppressed (IoU 0.8); 0.4 < 0.45 kept; class 1 kept
    assert nms(d, 0.85).scores.tolist() == [0.9, 0.8, 0.7, 0.6]
    assert len(nms(_det([], [], []))) == 0


def test_nms_suppression_chains_follow_the_kept_box() -> None:
    # b overlaps a (suppressed), c overlaps b but not a: c stays, as in torchvision's batched_nms
    d = _det([[0, 0, 10, 10], [3, 0, 13, 10], [8, 0, 18, 10]], [0.9, 0.8, 0.7], [0, 0, 0])
    assert nms(d, 0.45).scores.tolist() == [0.9, 0.7]


# --- mAP -----------------------------------------------------------------------------------------------


def test_map_by_hand_one_false_positive() -> None:
    # one class; ranked TP (0.9), FP (0.8), TP (0.7): recall .5 .5 1, precision 1 .5 .67 -> interpolated 1 up to
    # recall 0.5 (51 of the 101 points) and 2/3 above (50 points)
    ds = _ds(([[0, 0, 10, 10]], [0]), ([[50, 50, 20, 20]], [0]))
    preds = [_det([[0, 0, 10, 10], [60, 0, 90, 30]], [0.9, 0.8], [0, 0]), _det([[50, 50, 70, 70]], [0.7], [0])]
    r = coco_map(preds, ds)
    expected = 100 * (51 * 1.0 + 50 * 2 / 3) / 101
    assert r["map_pct"] == pytest.approx(expected) and r["map50_pct"] == pytest.approx(expected)
    assert r["classes"] == 1 and r["gt_boxes"] == 2 and r["detections"] == 3


def test_map_iou_thresholds() -> None:
    ds = _ds(([[0, 0, 10, 10]], [1]))
    r = coco_map([_det([[0, 0, 10, 7.2]], [0.5], [1])], ds)  # IoU 0.72: matched at 0.50 .. 0.70, 5 of 10
    assert r["map50_pct"] == pytest.approx(100.0)
    assert r["map_pct"] == pytest.approx(50.0)
    assert r["map75_pct"] == pytest.approx(0.0)


def test_map_class_without_detections_counts_zero_and_wrong_class_does_not_match() -> None:
    ds = _ds(([[0, 0, 10, 10], [50, 50, 10, 10]], [0, 1]))
    r = coco_map([_det([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.9], [0, 0])], ds)
    # class 0: AP 1 at recall 1 (the second box is a FP after it); class 1: no detection -> 0
    assert r["map_pct"] == pytest.approx(50.0)


def test_map_one_ground_truth_matched_once() -> None:
    ds = _ds(([[0, 0, 10, 10]], [0]))
    r = coco_map([_det([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], [0, 0])], ds)
    assert r["map_pct"] == pytest.approx(100.0)  # the duplicate ranks after the TP: precision 1 up to recall 1
    r = coco_map([_det([[0, 0, 10, 10], [0, 0, 10, 10]], [0.8, 0.9], [0, 0])], ds)
    assert r["map_pct"] == pytest.approx(100.0)


def test_map_needs_one_prediction_per_image() -> None:
    with pytest.raises(ValueError, match="one prediction list per image"):
        coco_map([], _ds(([[0, 0, 1, 1]], [0])))


def _random_case(seed: int) -> tuple[DetectionDataset, list[Detections]]:
    rng = np.random.default_rng(seed)
    images, preds = [], []
    for _ in range(25):
        k = int(rng.integers(0, 6))
        xy = rng.uniform(0, 60, (k, 2))
        wh = rng.uniform(5, 40, (k, 2))
        labels = rng.integers(0, 3, k)
        images.append((np.concatenate([xy, wh], 1).tolist(), labels.tolist()))
        # detections: jittered copies of some boxes (sometimes the wrong class) plus clutter
        keep = rng.random(k) < 0.8
        jitter = rng.normal(0, 3, (k, 4))
        xyxy = np.concatenate([xy, xy + wh], 1) + jitter
        clutter = rng.uniform(0, 80, (int(rng.integers(0, 4)), 2))
        clutter = np.concatenate([clutter, clutter + rng.uniform(5, 30, clutter.shape)], 1)
        b = np.concatenate([xyxy[keep], clutter])
        lab = np.concatenate([np.where(rng.random(k) < 0.9, labels, (labels + 1) % 3)[keep],
                              rng.integers(0, 3, len(clutter))])
        preds.append(_det(b.tolist(), rng.uniform(0.001, 1, len(b)).tolist(), lab.tolist()))
    return _ds(*images, classes=3), preds


def test_map_ignores_inverted_boxes_as_coco_does() -> None:
    # an unmatched box with negative area falls outside COCO's area range 'all': neither TP nor FP
    ds = _ds(([[0, 0, 10, 10]], [0]))
    r = coco_map([_det([[50, 50, 40, 60], [0, 0, 10, 10]], [0.9, 0.8], [0, 0])], ds)
    assert r["map_pct"] == pytest.approx(100.0)


def _pycocotools_map(ds: DetectionDataset, preds: list[Detections], tmp_path: Path) -> tuple[float, float]:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = {"images": [{"id": im.image_id, "width": im.width, "height": im.height, "file_name": im.path.name}
                     for im in ds.images],
          "categories": [{"id": c, "name": n} for c, n in zip(ds.category_ids, ds.class_names, strict=True)],
          "annotations": [{"id": len(ds.images) * 100 + i * 100 + j, "image_id": im.image_id,
                           "category_id": ds.category_ids[int(lab)], "bbox": box.tolist(), "iscrowd": 0,
                           "area": float(box[2] * box[3])}
                          for i, im in enumerate(ds.images) for j, (box, lab) in enumerate(zip(im.boxes, im.labels,
                                                                                               strict=True))]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    res = [{"image_id": im.image_id, "category_id": ds.category_ids[int(lab)], "score": float(s),
            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
           for im, d in zip(ds.images, preds, strict=True) for b, s, lab in zip(d.boxes, d.scores, d.labels,
                                                                              strict=True)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "gt.json"))
        ev = COCOeval(coco, coco.loadRes(res), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return 100 * float(ev.stats[0]), 100 * float(ev.stats[1])


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_map_matches_pycocotools_on_random_cases(seed: int, tmp_path: Path) -> None:
    pytest.importorskip("pycocotools", reason="pycocotools (the `detection` extra) is the reference; not installed")
    ds, preds = _random_case(seed)
    ours = coco_map(preds, ds)
    ref = _pycocotools_map(ds, preds, tmp_path)
    assert ours["map_pct"] == pytest.approx(ref[0], abs=1e-6)
    assert ours["map50_pct"] == pytest.approx(ref[1], abs=1e-6)


# --- box agreement ---------------------------------------------------------------------------------------


def test_box_agreement_counts_the_baselines_confident_boxes() -> None:
    base = [_det([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], [0.9, 0.8, 0.1], [0, 1, 0])]
    model = [_det([[0, 0, 10, 6], [20, 20, 30, 30], [50, 50, 60, 60]], [0.9, 0.2, 0.9], [0, 1, 0])]
    r = box_agreement(model, base, score_threshold=0.3)
    # baseline boxes >= 0.3: two; the first matches at IoU 0.6, the second's match scores 0.2 (< 0.3): 1 of 2
    assert (r["baseline_boxes"], r["matched_boxes"], r["box_agreement_pct"]) == (2, 1, 50.0)
    assert box_agreement(base, base)["box_agreement_pct"] == 100.0


def test_box_agreement_uses_each_box_once() -> None:
    base = [_det([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], [0, 0])]
    model = [_det([[0, 0, 10, 10]], [0.9], [0])]
    assert box_agreement(model, base)["matched_boxes"] == 1


# --- the device install: no torch ---------------------------------------------------------------------------


def test_detection_path_imports_no_torch() -> None:
    code = ("import sys; import edgebench.calibration.evaluate_detection, edgebench.calibration.tasks, "
            "edgebench.calibration.detection_data, edgebench.calibration.detection; "
            "print([m for m in ('torch', 'torchvision', 'cv2', 'pycocotools') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- edgebench eval on a detector built in code ----------------------------------------------------------------


def _grid(cls: int) -> np.ndarray:
    """A 2x2 grid, 2 classes: one box at cell (0, 0) = [0, 0, 0.5, 0.5] of the image, class `cls`, score 1."""
    g = np.zeros((1 + 4 + 2, 2, 2), np.float32)
    g[0, 0, 0] = 1.0
    g[1, 0, 0] = g[2, 0, 0] = np.arctanh(0.5)  # centre (0 + 0.5) / 2 = 0.25
    g[5 + cls, 0, 0] = 1.0  # w = h = sigmoid(0) = 0.5
    return g


def _detector(folder: Path, cls: int) -> Path:
    from edgebench.tools.synthetic import grid_detector

    return grid_detector(folder / "model.fp32.onnx", _grid(cls), size=32)


@pytest.fixture
def det_data(tmp_path: Path) -> Path:
    from PIL import Image

    d = tmp_path / "data"
    (d / "images").mkdir(parents=True)
    for i, (w, h) in enumerate([(40, 20), (64, 64)]):
        Image.fromarray(np.full((h, w, 3), 30 * i, np.uint8)).save(d / "images" / f"{i}.png")
    doc = {"images": [{"id": 1, "file_name": "0.png", "width": 40, "height": 20},
                      {"id": 2, "file_name": "1.png", "width": 64, "height": 64}],
           "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 10]},
                           {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 0, 32, 32]}]}
    (d / "instances.json").write_text(json.dumps(doc))
    return d


def test_eval_prints_map_of_a_detector(tmp_path: Path, det_data: Path) -> None:
    model = _detector(tmp_path / "right", cls=0)
    r = CliRunner().invoke(app, ["eval", str(model), "--data", str(det_data), "-t", "1", "--json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["map_pct"] == pytest.approx(100.0) and out["map50_pct"] == pytest.approx(100.0)
    assert (out["n"], out["gt_boxes"], out["detections"], out["task"]) == (2, 2, 2, "detection")
    text = CliRunner().invoke(app, ["eval", str(model), "--data", str(det_data), "-t", "1"]).stdout
    assert "mAP@0.5:0.95 100.00  mAP@0.5 100.00  on 2 images" in text


def test_eval_with_baseline_prints_the_paired_block(tmp_path: Path, det_data: Path) -> None:
    right, wrong = _detector(tmp_path / "right", cls=0), _detector(tmp_path / "wrong", cls=1)
    r = CliRunner().invoke(app, ["eval", str(wrong), "--baseline", str(right), "--data", str(det_data), "-t", "1",
                                 "--json"])
    assert r.exit_code == 0, r.stderr
    p = json.loads(r.stdout)["paired"]
    assert p["map_delta_pts"] == pytest.approx(-100.0)
    assert (p["baseline_boxes"], p["matched_boxes"], p["box_agreement_pct"]) == (2, 0, 0.0)
    text = CliRunner().invoke(app, ["eval", str(wrong), "-b", str(right), "--data", str(det_data), "-t", "1"]).stdout
    assert "paired    mAP -100.00 points" in text and "box agreement 0.0 % (0/2" in text


def test_eval_annotations_given_apart_and_limit(tmp_path: Path, det_data: Path) -> None:
    model = _detector(tmp_path / "right", cls=0)
    r = CliRunner().invoke(app, ["eval", str(model), "--data", str(det_data / "images"), "--annotations",
                                 str(det_data / "instances.json"), "--limit", "1", "-t", "1", "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["n"] == 1


def test_eval_baseline_of_another_task_is_refused(tmp_path: Path, det_data: Path, tiny_onnx: Path) -> None:
    import shutil

    from edgebench.manifest import InputInfo, Manifest

    cls = tmp_path / "cls" / "model.fp32.onnx"
    cls.parent.mkdir()
    shutil.copy(tiny_onnx, cls)
    m = Manifest(name="c", input=InputInfo("input", ("batch", 3, 16, 16))).with_file(cls)
    (cls.parent / "model.fp32.json").write_text(json.dumps(m.to_dict()))
    det = _detector(tmp_path / "det", cls=0)
    for model, base in ((cls, det), (det, cls)):
        r = CliRunner().invoke(app, ["eval", str(model), "--baseline", str(base), "--data", str(det_data)])
        assert r.exit_code == 2, r.stderr
        assert "compare two models of one task" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.data
@pytest.mark.slow
def test_numpy_map_matches_pycocotools_on_the_coco_sample(shared_data: Path, tmp_path: Path) -> None:
    """The authors' FastestDet.onnx on the 128 images: numpy mAP within 0.1 of pycocotools', and the figures the
    data README measured (19.1 / 35.7) within 0.3."""
    pytest.importorskip("pycocotools", reason="pycocotools (the `detection` extra) is the reference; not installed")
    from edgebench.calibration.evaluate_detection import evaluate_detection
    from edgebench.manifest import InputInfo, Manifest, Preprocessing

    pp = Preprocessing(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), channel_order="BGR", resize_mode="stretch")
    manifest = Manifest(name="authors", task="detection", input=InputInfo("input.1", (1, 3, 352, 352), pp),
                        output={"decoder": "fastestdet"})
    r = evaluate_detection(shared_data / "weights" / "fastestdet" / "FastestDet.onnx",
                           shared_data / "coco" / "val2017_first128", threads=1, manifest=manifest)
    assert r["map_pct"] == pytest.approx(19.1, abs=0.3) and r["map50_pct"] == pytest.approx(35.7, abs=0.3)
    from edgebench.calibration.detection_data import load_detection_data

    ref = _pycocotools_map(load_detection_data(shared_data / "coco" / "val2017_first128"), r["predictions"], tmp_path)
    assert r["map_pct"] == pytest.approx(ref[0], abs=0.1) and r["map50_pct"] == pytest.approx(ref[1], abs=0.1)


# --- the task seam ---------------------------------------------------------------------------------------


def test_task_registry_and_manifest_task() -> None:
    from edgebench.calibration.tasks import task_of
    from edgebench.errors import NotFoundError
    from edgebench.manifest import Manifest
    from edgebench.task import TASKS, Task

    assert TASKS.names() == ["classification", "detection"]
    assert all(isinstance(TASKS.get(n), Task) for n in TASKS.names())
    with pytest.raises(NotFoundError, match="Did you mean 'detection'"):
        TASKS.get("detektion")
    assert task_of(None).name == "classification"
    fp32 = Manifest(name="d", task="detection", onnx_file="model.fp32.onnx", onnx_sha256="ab")
    assert task_of(fp32).metric_names == ("map_pct", "map50_pct")
    back = Manifest.from_dict(fp32.to_dict())
    assert back.task == "detection" and "task" not in back.extra
    assert fp32.derive(precision="int8", onnx_file="model.int8.onnx").task == "detection"  # INT8 child keeps it
    assert "task" not in Manifest(name="c").to_dict()  # a classifier's manifest is unchanged


def test_resize_mode_round_trip() -> None:
    from edgebench.errors import UserInputError
    from edgebench.manifest import Preprocessing

    assert "resize_mode" not in Preprocessing().to_dict()  # the default: classifier manifests stay as they were
    pp = Preprocessing(resize_mode="stretch")
    assert Preprocessing.from_dict(pp.to_dict()) == pp
    with pytest.raises(UserInputError, match="resize_mode 'squash' is not one of short-side, stretch"):
        Preprocessing(resize_mode="squash")  # type: ignore[arg-type]


def test_stretch_preprocessing_needs_the_model_size() -> None:
    from edgebench.calibration.preprocess import preprocess
    from edgebench.errors import DataError
    from edgebench.manifest import Preprocessing

    pp = Preprocessing(resize_mode="stretch", mean=(0.0,) * 3, std=(1.0,) * 3)
    x = preprocess(np.full((1, 5, 9, 3), 255, np.uint8), pp, (4, 4))
    assert x.shape == (1, 3, 4, 4) and float(x.min()) == pytest.approx(1.0)
    with pytest.raises(DataError, match="needs the model's input height and width"):
        preprocess(np.zeros((1, 5, 9, 3), np.uint8), pp)


# --- bench: model-only and end-to-end latency of a detector ---------------------------------------------------

QUICK_BENCH = ("--in-process", "-t", "1", "--warmup-iters", "1", "--min-iters", "5", "--min-seconds", "0")


def test_bench_of_a_detector_reports_end_to_end_apart(tmp_path: Path) -> None:
    from edgebench.bench.schema import load_result

    model = _detector(tmp_path / "m", cls=0)
    r = CliRunner().invoke(app, ["bench", str(model), "-o", str(tmp_path / "res"), *QUICK_BENCH])
    assert r.exit_code == 0, r.stderr
    assert "end-to-end p50" in r.stdout and "model only p50" in r.stdout
    res = load_result(next((tmp_path / "res").glob("*.json")))  # schema-checked
    e = res.rest["end_to_end"]
    assert e["n"] >= 5 and e["frame"] == "640x480 uint8" and "NMS" in e["includes"]
    # the frame's resize + decode + NMS come on top of the model alone
    assert e["e2e_p50_ms"] > res.latency.p50_ms > 0


def test_end_to_end_session_returns_the_frames_boxes(tmp_path: Path) -> None:
    from edgebench.artifact import ModelArtifact
    from edgebench.bench.end_to_end import EndToEnd
    from edgebench.runtimes import get_runtime, options_class

    model = _detector(tmp_path / "m", cls=1)
    sess = get_runtime("ort-cpu").load(model, options_class("ort-cpu")(intra_op_threads=1))
    e2e = EndToEnd(sess, ModelArtifact.resolve(model).manifest)
    (dets,) = e2e.run(e2e.feeds())
    # the grid's one box: the top-left quarter of the 640x480 frame, class 1, score 1
    assert dets.labels.tolist() == [1] and dets.scores.tolist() == pytest.approx([1.0])
    assert dets.boxes[0].tolist() == pytest.approx([0, 0, 320, 240], abs=1e-3)


def test_bench_of_a_classifier_has_no_end_to_end(tiny_onnx: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["bench", str(tiny_onnx), "-o", str(tmp_path), "--json", *QUICK_BENCH])
    assert r.exit_code == 0, r.stderr
    assert "end_to_end" not in json.loads(r.stdout)


def test_compare_shows_map_instead_of_top1_for_detectors(tmp_path: Path, det_data: Path) -> None:
    model = _detector(tmp_path / "m", cls=0)
    r = CliRunner().invoke(app, ["bench", str(model), "-o", str(tmp_path / "res"), "--eval", str(det_data),
                                 *QUICK_BENCH, "-t", "1,2"])  # two results: something to compare
    assert r.exit_code == 0, r.stderr
    res = json.loads(sorted((tmp_path / "res").glob("*.json"))[0].read_text())
    assert res["model"]["task"] == "detection" and res["accuracy"]["map_pct"] == pytest.approx(100.0)
    c = CliRunner().invoke(app, ["compare", str(tmp_path / "res"), "-o", str(tmp_path / "rep")])
    assert c.exit_code == 0, c.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| variant"))
    assert "mAP@0.5:0.95 %" in header and "end-to-end p50 ms" in header and "top-1" not in header
    assert "mAP@0.5:0.95 100.00 %" in md  # the fastest line
    csv_header = (tmp_path / "rep" / "report.csv").read_text().splitlines()[0]
    assert "map_pct" in csv_header and "e2e_p50_ms" in csv_header


def test_interleave_times_the_end_to_end_path_in_the_same_rounds(tmp_path: Path) -> None:
    """`interleaved_latency(wrap=...)`: what make bench-detection uses to time model-only and end-to-end together."""
    from edgebench.artifact import ModelArtifact
    from edgebench.bench.end_to_end import EndToEnd
    from edgebench.bench.interleave import interleaved_latency

    model = _detector(tmp_path / "m", cls=0)
    wrapped: list[str] = []

    def wrap(label: str, sess: object, feeds: dict) -> tuple[object, dict]:
        if label != "e2e":
            return sess, feeds
        wrapped.append(label)
        e2e = EndToEnd(sess, ModelArtifact.resolve(model).manifest)
        return e2e, e2e.feeds()

    lat = interleaved_latency({"model": model, "e2e": model}, rounds=2, iters=3, warmup=1, wrap=wrap)
    assert wrapped == ["e2e"] and len(lat["e2e"]["round_p50_ms"]) == 2
    assert lat["e2e"]["p50_ms"] > lat["model"]["p50_ms"]  # the frame's resize + decode + NMS on top
