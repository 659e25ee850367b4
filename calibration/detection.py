"""Detection post-processing and metrics in numpy: FastestDet grid decoding, class-wise NMS, COCO mAP.

The same code runs after every runtime (ONNX Runtime, OpenVINO, ...) and on the device install (no torch, no
OpenCV, no pycocotools). Boxes are [x1, y1, x2, y2] in pixels of the original image for decoding and NMS; the
mAP takes them as COCO does ([x, y, w, h], see `coco_map`).

Example::

    dets = decode_fastestdet(raw[0], width=640, height=480)     # raw: the model's [N, 85, 22, 22] output
    dets = nms(dets, iou_threshold=0.45)
    coco_map([dets, ...], dataset)["map_pct"]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from edgebench.errors import UserInputError

if TYPE_CHECKING:
    from edgebench.calibration.detection_data import DetectionDataset

SCORE_THRESHOLD_MAP = 0.001  # what a mAP evaluation keeps (COCO practice)
NMS_IOU = 0.45  # FastestDet's batched NMS
MAX_DETECTIONS = 100  # per image and class, as COCO's evaluation
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's 101-point interpolation


@dataclass(frozen=True)
class Detections:
    """One image's boxes: `boxes` float64 [K, 4] (x1, y1, x2, y2 pixels), `scores` [K], `labels` int64 [K]."""

    boxes: np.ndarray = field(repr=False)
    scores: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        k = len(self.scores)
        if self.boxes.shape != (k, 4) or self.labels.shape != (k,):
            raise UserInputError(f"detections need boxes [K, 4], scores [K] and labels [K]; got "
                                 f"{list(self.boxes.shape)}, {list(self.scores.shape)}, {list(self.labels.shape)}")

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, keep: np.ndarray) -> Detections:
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep])


def detections_arrays(predictions: Sequence[Detections]) -> dict[str, np.ndarray]:
    """Every image's boxes as four arrays (an .npz's): `counts` [N] boxes per image, and the `boxes` [K, 4],
    `scores` [K] and `labels` [K] of all images in order; `detections_from_arrays` reads them back exactly.

    >>> d = Detections(np.array([[0., 0, 2, 2]]), np.array([0.9]), np.array([1]))
    >>> [len(x) for x in detections_from_arrays(detections_arrays([d, d.take(np.array([], int))]))]
    [1, 0]
    """
    return {"counts": np.array([len(p) for p in predictions], np.int64),
            "boxes": np.concatenate([np.asarray(p.boxes, np.float64).reshape(-1, 4) for p in predictions])
            if predictions else np.zeros((0, 4)),
            "scores": np.concatenate([np.asarray(p.scores, np.float64) for p in predictions])
            if predictions else np.zeros(0),
            "labels": np.concatenate([np.asarray(p.labels, np.int64) for p in predictions])
            if predictions else np.zeros(0, np.int64)}


def detections_from_arrays(arrays: Mapping[str, np.ndarray]) -> list[Detections]:
    """`detections_arrays` read back; a UserInputError when the arrays are missing or do not fit together."""
    if not {"counts", "boxes", "scores", "labels"} <= set(arrays):
        raise UserInputError(f"detections need the arrays counts, boxes, scores and labels; got {sorted(arrays)}")
    counts, boxes = np.asarray(arrays["counts"]), np.asarray(arrays["boxes"])
    scores, labels = np.asarray(arrays["scores"]), np.asarray(arrays["labels"])
    k = len(scores)
    if counts.ndim != 1 or counts.dtype.kind not in "iu" or (counts < 0).any() or int(counts.sum()) != k \
            or boxes.shape != (k, 4) or labels.shape != (k,) or labels.dtype.kind not in "iu" \
            or boxes.dtype.kind != "f" or scores.dtype.kind != "f":
        raise UserInputError(f"detections arrays do not fit together: counts {list(counts.shape)} summing to "
                             f"{int(counts.sum()) if counts.dtype.kind in 'iu' else '?'}, boxes "
                             f"{list(boxes.shape)}, scores {list(scores.shape)}, labels {list(labels.shape)}")
    ends = np.cumsum(counts)
    return [Detections(boxes[e - c:e], scores[e - c:e], labels[e - c:e]) for c, e in zip(counts, ends, strict=True)]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def decode_fastestdet(raw: np.ndarray, width: int, height: int,
                      score_threshold: float = SCORE_THRESHOLD_MAP) -> Detections:
    """One image's FastestDet head output [1+4+C, H, W] -> a box per grid cell scoring above the threshold.

    Channels: objectness (already a sigmoid), 4 box values, C class probabilities (already a softmax). Each cell
    predicts one box of its best class, scored obj^0.6 * cls^0.4; centre = (cell + tanh(offset)) / grid, size =
    sigmoid(w, h) of the whole image; scaled to the image's `width` x `height`.

    The centre of cell (row, col) with zero offsets is the cell's top-left corner (col / grid, row / grid), as the
    authors' decoder has it:

    >>> raw = np.zeros((7, 2, 2), np.float32); raw[0, 1, 0] = 1.0; raw[5, 1, 0] = 1.0   # obj and class 0 at row 1
    >>> d = decode_fastestdet(raw, width=100, height=100, score_threshold=0.5)
    >>> d.boxes.round(1).tolist(), d.scores.tolist(), d.labels.tolist()
    ([[-25.0, 25.0, 25.0, 75.0]], [1.0], [0])
    """
    raw = np.asarray(raw, np.float64)
    if raw.ndim != 3 or raw.shape[0] < 6:
        raise UserInputError(f"a FastestDet output per image is [1+4+classes, H, W]; got {list(raw.shape)}")
    _, gh, gw = raw.shape
    obj = raw[0]
    cls = raw[5:]
    label = cls.argmax(axis=0)
    cls_score = np.take_along_axis(cls, label[None], axis=0)[0]
    score = np.clip(obj, 0.0, None) ** 0.6 * np.clip(cls_score, 0.0, None) ** 0.4
    gy, gx = np.mgrid[0:gh, 0:gw]
    cx = (np.tanh(raw[1]) + gx) / gw
    cy = (np.tanh(raw[2]) + gy) / gh
    bw, bh = _sigmoid(raw[3]), _sigmoid(raw[4])
    keep = (score > score_threshold).ravel()
    boxes = np.stack([(cx - bw / 2) * width, (cy - bh / 2) * height,
                      (cx + bw / 2) * width, (cy + bh / 2) * height], axis=-1).reshape(-1, 4)
    return Detections(boxes[keep], score.ravel()[keep], label.ravel()[keep].astype(np.int64))


def _iou(ax1: Any, ay1: Any, ax2: Any, ay2: Any, area_a: Any, bx1: Any, by1: Any, bx2: Any, by2: Any,
         area_b: Any) -> np.ndarray:
    """IoU of boxes given by their corners and areas (broadcast against each other): one arithmetic for
    `box_iou` and `nms`."""
    w = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0.0, None)
    h = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0.0, None)
    inter = w * h
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _corners(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x1, y1, x2, y2 (float64, contiguous) and the area of each box of [N, 4]."""
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, k], np.float64) for k in range(4))
    return x1, y1, x2, y2, np.clip(x2 - x1, 0.0, None) * np.clip(y2 - y1, 0.0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` [M, 4] with every box in `b` [N, 4] (x1, y1, x2, y2) -> [M, N].

    >>> box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3], [0, 0, 2, 2]])).round(4).tolist()
    [[0.1429, 1.0]]
    """
    ca = [v[:, None] for v in _corners(np.asarray(a, np.float64).reshape(-1, 4))]
    cb = [v[None, :] for v in _corners(np.asarray(b, np.float64).reshape(-1, 4))]
    return _iou(*ca, *cb)


def nms(dets: Detections, iou_threshold: float = NMS_IOU) -> Detections:
    """Class-wise (batched) non-maximum suppression: a box is dropped when a higher-scored box of the same
    class overlaps it by more than `iou_threshold`. Kept boxes come out by descending score.

    >>> d = Detections(np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10.]]), np.array([.9, .8, .7]),
    ...                np.array([0, 0, 1]))
    >>> nms(d).scores.tolist()
    [0.9, 0.7]
    """
    if not 0.0 <= iou_threshold <= 1.0:
        raise UserInputError(f"NMS IoU threshold {iou_threshold} must be within 0..1")
    if len(dets) == 0:
        return dets
    # offset each class far apart so one pass handles every class (boxes of different classes never overlap)
    span = float(np.abs(dets.boxes).max()) + 1.0
    shifted = np.asarray(dets.boxes, np.float64) + (dets.labels.astype(np.float64) * 2.0 * span)[:, None]
    c = _corners(shifted)  # the areas once, not at every step
    order = np.argsort(-dets.scores, kind="stable")
    keep: list[int] = []
    while len(order):
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if not len(rest):
            break
        iou = _iou(*(v[i] for v in c), *(v[rest] for v in c))
        order = rest[iou <= iou_threshold]
    return dets.take(np.asarray(keep, np.int64))


def postprocess_fastestdet(raw: np.ndarray, width: int, height: int, score_threshold: float = SCORE_THRESHOLD_MAP,
                           iou_threshold: float = NMS_IOU) -> Detections:
    """Decode one image's FastestDet output and apply class-wise NMS."""
    return nms(decode_fastestdet(raw, width, height, score_threshold), iou_threshold)


def _pixel_boxes(xywh: np.ndarray, width: int, height: int, input_hw: tuple[int, int]) -> np.ndarray:
    """Centre/size boxes in pixels of the model's input (a stretched image) -> x1y1x2y2 in the original image."""
    sx, sy = width / input_hw[1], height / input_hw[0]
    cx, cy, w, h = xywh.T
    return np.stack([(cx - w / 2) * sx, (cy - h / 2) * sy, (cx + w / 2) * sx, (cy + h / 2) * sy], axis=-1)


def decode_yolov5(raw: np.ndarray, width: int, height: int, input_hw: tuple[int, int],
                  score_threshold: float = SCORE_THRESHOLD_MAP) -> Detections:
    """One image's YOLOv5-style output [N, 5+C]: cx, cy, w, h (pixels of the model input), objectness, C class
    scores (all after their sigmoid, as an ONNX export has them); score = obj * cls of the best class.

    >>> raw = np.array([[16., 16, 8, 8, 0.9, 0.1, 0.8], [4, 4, 2, 2, 0.0005, 1, 0]])
    >>> d = decode_yolov5(raw, width=64, height=32, input_hw=(32, 32), score_threshold=0.01)
    >>> d.boxes.tolist(), d.scores.round(2).tolist(), d.labels.tolist()
    ([[24.0, 12.0, 40.0, 20.0]], [0.72], [1])
    """
    raw = np.asarray(raw, np.float64)
    if raw.ndim != 2 or raw.shape[1] < 6:
        raise UserInputError(f"a YOLOv5-style output per image is [boxes, 5+classes]; got {list(raw.shape)}")
    cls = raw[:, 5:]
    label = cls.argmax(axis=1)
    score = raw[:, 4] * cls[np.arange(len(cls)), label]
    keep = score > score_threshold
    return Detections(_pixel_boxes(raw[keep, :4], width, height, input_hw), score[keep], label[keep].astype(np.int64))


def decode_yolov8(raw: np.ndarray, width: int, height: int, input_hw: tuple[int, int],
                  score_threshold: float = SCORE_THRESHOLD_MAP) -> Detections:
    """One image's YOLOv8-style output [4+C, N]: cx, cy, w, h (pixels of the model input), C class scores (after
    their sigmoid; no objectness); score = the best class's.

    >>> raw = np.array([[16., 16, 8, 8, 0.1, 0.8]]).T
    >>> d = decode_yolov8(raw, width=32, height=64, input_hw=(32, 32))
    >>> d.boxes.tolist(), d.scores.tolist(), d.labels.tolist()
    ([[12.0, 24.0, 20.0, 40.0]], [0.8], [1])
    """
    raw = np.asarray(raw, np.float64)
    if raw.ndim != 2 or raw.shape[0] < 5:
        raise UserInputError(f"a YOLOv8-style output per image is [4+classes, boxes]; got {list(raw.shape)}")
    t = raw.T
    label = t[:, 4:].argmax(axis=1)
    score = t[np.arange(len(t)), 4 + label]
    keep = score > score_threshold
    return Detections(_pixel_boxes(t[keep, :4], width, height, input_hw), score[keep], label[keep].astype(np.int64))


def decode_nms_boxes(raw: np.ndarray, width: int, height: int, input_hw: tuple[int, int],
                     score_threshold: float = SCORE_THRESHOLD_MAP) -> Detections:
    """One image's output of a graph with NMS inside, [K, 6]: x1, y1, x2, y2 (pixels of the model input), score,
    class; rows of score <= the threshold (the padding of a fixed-size output) are dropped.

    >>> d = decode_nms_boxes(np.array([[0., 0, 16, 8, 0.9, 2], [0, 0, 0, 0, 0, 0]]), 64, 64, (32, 32))
    >>> d.boxes.tolist(), d.labels.tolist()
    ([[0.0, 0.0, 32.0, 16.0]], [2])
    """
    raw = np.asarray(raw, np.float64)
    if raw.ndim != 2 or raw.shape[1] != 6:
        raise UserInputError(f"an output with NMS inside is [boxes, 6] (x1, y1, x2, y2, score, class) per image; "
                             f"got {list(raw.shape)}")
    keep = raw[:, 4] > score_threshold
    sx, sy = width / input_hw[1], height / input_hw[0]
    boxes = raw[keep, :4] * np.array([sx, sy, sx, sy])
    return Detections(boxes, raw[keep, 4], raw[keep, 5].round().astype(np.int64))


def postprocess(raw: np.ndarray, decoder: str, width: int, height: int, input_hw: tuple[int, int] | None,
                score_threshold: float = SCORE_THRESHOLD_MAP, iou_threshold: float = NMS_IOU) -> Detections:
    """One image's raw output (batch dim removed) -> its boxes in a `width` x `height` image, by `decoder`
    (`edgebench.task.DETECTION_DECODERS`); class-wise NMS after it, except for a graph with NMS inside."""
    if decoder == "fastestdet":
        return postprocess_fastestdet(raw, width, height, score_threshold, iou_threshold)
    if input_hw is None:
        raise UserInputError(f"a {decoder} output gives boxes in pixels of the model input, whose height and width "
                             "are not fixed; describe the model with --size H,W")
    if decoder == "nms-boxes":
        return decode_nms_boxes(raw, width, height, input_hw, score_threshold)
    decode = {"yolov5": decode_yolov5, "yolov8": decode_yolov8}.get(decoder)
    if decode is None:
        raise UserInputError(f"unknown detection decoder '{decoder}'")
    return nms(decode(raw, width, height, input_hw, score_threshold), iou_threshold)


# --- COCO mAP ----------------------------------------------------------------------------------------


def _xyxy(xywh: np.ndarray) -> np.ndarray:
    out = np.array(xywh, np.float64).reshape(-1, 4)
    out[:, 2:] += out[:, :2]
    return out


def _match(iou: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """COCO's greedy matching: bool [T, D], detection d (sorted by score) matched a ground truth at threshold t."""
    t_count, (d_count, g_count) = len(thresholds), iou.shape
    matched = np.zeros((t_count, d_count), bool)
    for ti, t in enumerate(thresholds):
        taken = np.zeros(g_count, bool)
        for d in range(d_count):
            best, m = min(float(t), 1 - 1e-10), -1
            for g in range(g_count):
                if taken[g] or iou[d, g] < best:
                    continue
                best, m = iou[d, g], g
            if m >= 0:
                taken[m] = True
                matched[ti, d] = True
    return matched


def _average_precision(tp: np.ndarray, ignored: np.ndarray, scores: np.ndarray, n_gt: int) -> np.ndarray:
    """101-point interpolated precision per IoU threshold ([T]) from the per-detection matches tp [T, D]
    (`ignored` [T, D]: neither true nor false positives)."""
    order = np.argsort(-scores, kind="mergesort")
    tp, ignored = tp[:, order], ignored[:, order]
    tps = np.cumsum(tp & ~ignored, axis=1, dtype=np.float64)
    fps = np.cumsum(~tp & ~ignored, axis=1, dtype=np.float64)
    out = np.zeros(len(tp))
    for ti in range(len(tp)):
        recall = tps[ti] / n_gt
        precision = tps[ti] / (tps[ti] + fps[ti] + np.spacing(1))
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone, from the right
        idx = np.searchsorted(recall, RECALL_POINTS, side="left")
        q = np.zeros(len(RECALL_POINTS))
        ok = idx < len(precision)
        q[ok] = precision[idx[ok]]
        out[ti] = q.mean()
    return out


def coco_map(predictions: Sequence[Detections], data: DetectionDataset,
             max_detections: int = MAX_DETECTIONS) -> dict[str, float | int]:
    """COCO bbox mAP@0.5:0.95 and mAP@0.5 (percent), computed as pycocotools' COCOeval does (area 'all',
    100 detections per image and class, greedy matching by score, 101-point interpolated precision, classes
    without ground truth left out of the mean).

    >>> from pathlib import Path
    >>> from edgebench.calibration.detection_data import DetectionDataset, DetectionImage
    >>> gt = DetectionImage(Path("a.jpg"), 1, 100, 100, np.array([[0., 0, 10, 10]]), np.array([0]))
    >>> ds = DetectionDataset("one", (gt,), ("thing",), (1,))
    >>> hit = Detections(np.array([[0., 0, 10, 10]]), np.array([0.9]), np.array([0]))
    >>> round(coco_map([hit], ds)["map_pct"], 6)
    100.0
    """
    if len(predictions) != len(data):
        raise UserInputError(f"mAP needs one prediction list per image: {len(predictions)} for {len(data)} images")
    classes = sorted({int(c) for im in data.images for c in im.labels})
    per_class: dict[int, tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], int]] = {
        c: ([], [], [], 0) for c in classes}
    for im, det in zip(data.images, predictions, strict=True):
        gt_boxes = _xyxy(im.boxes)
        for c in classes:
            g = gt_boxes[im.labels == c]
            sel = np.flatnonzero(det.labels == c)
            sel = sel[np.argsort(-det.scores[sel], kind="mergesort")][:max_detections]
            tps, igs, scs, n = per_class[c]
            if len(sel):
                boxes = det.boxes[sel]
                iou = box_iou(boxes, g) if len(g) else np.zeros((len(sel), 0))
                matched = _match(iou, IOU_THRESHOLDS)
                # COCO's area range 'all' is [0, 1e10]: an unmatched box of negative (inverted) area is ignored
                area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
                tps.append(matched)
                igs.append(~matched & ((area < 0) | (area > 1e10))[None, :])
                scs.append(det.scores[sel])
            per_class[c] = (tps, igs, scs, n + len(g))
    ap = []
    for c in classes:
        tps, igs, scs, n = per_class[c]
        if not tps:
            ap.append(np.zeros(len(IOU_THRESHOLDS)))
            continue
        ap.append(_average_precision(np.concatenate(tps, axis=1), np.concatenate(igs, axis=1), np.concatenate(scs),
                                     n))
    if not ap:
        raise UserInputError(f"dataset '{data.name}' has no ground-truth boxes: mAP is undefined")
    table = np.stack(ap)  # [classes, thresholds]
    return {"map_pct": 100.0 * float(table.mean()), "map50_pct": 100.0 * float(table[:, 0].mean()),
            "map75_pct": 100.0 * float(table[:, 5].mean()), "classes": len(classes),
            "gt_boxes": data.num_boxes, "detections": int(sum(len(d) for d in predictions))}


def box_agreement(predictions: Sequence[Detections], baseline: Sequence[Detections], score_threshold: float = 0.3,
                  iou_threshold: float = 0.5) -> dict[str, float | int]:
    """How many of the baseline's boxes (score >= `score_threshold`) the model reproduces: a box of the same class
    with IoU >= `iou_threshold` and score >= the threshold (greedy, highest scores first, each box used once).

    >>> a = Detections(np.array([[0., 0, 10, 10], [20, 20, 30, 30]]), np.array([0.9, 0.8]), np.array([0, 1]))
    >>> b = Detections(np.array([[0., 0, 10, 9], [20, 20, 30, 30]]), np.array([0.8, 0.7]), np.array([0, 2]))
    >>> box_agreement([b], [a])["box_agreement_pct"]
    50.0
    """
    if len(predictions) != len(baseline):
        raise UserInputError(f"box agreement needs both models on the same images: {len(predictions)} vs "
                             f"{len(baseline)}")
    matched = total = 0
    for p, b in zip(predictions, baseline, strict=True):
        p = p.take(np.flatnonzero(p.scores >= score_threshold))
        b = b.take(np.flatnonzero(b.scores >= score_threshold))
        total += len(b)
        if not len(b) or not len(p):
            continue
        iou = box_iou(b.boxes, p.boxes)
        iou[b.labels[:, None] != p.labels[None, :]] = 0.0
        used = np.zeros(len(p), bool)
        for i in np.argsort(-b.scores, kind="stable"):
            cand = np.where(used, -1.0, iou[i])
            j = int(cand.argmax())
            if cand[j] >= iou_threshold:
                used[j] = True
                matched += 1
    return {"baseline_boxes": total, "matched_boxes": matched,
            "box_agreement_pct": 100.0 * matched / total if total else 100.0,
            "score_threshold": score_threshold, "iou_threshold": iou_threshold}


def box_agreement_both_ways(predictions: Sequence[Detections], baseline: Sequence[Detections],
                            score_threshold: float = 0.3, iou_threshold: float = 0.5) -> dict[str, float | int]:
    """`box_agreement` taken both ways: the baseline's boxes the model reproduces (`box_agreement_pct`, of
    `reference_boxes`) and the model's boxes the baseline has (`box_agreement_reverse_pct`, of `boxes`): a model
    that adds boxes scores low on the second.

    >>> a = Detections(np.array([[0., 0, 10, 10]]), np.array([0.9]), np.array([0]))
    >>> b = Detections(np.array([[0., 0, 10, 10], [20, 20, 30, 30]]), np.array([0.9, 0.8]), np.array([0, 1]))
    >>> r = box_agreement_both_ways([b], [a])
    >>> r["box_agreement_pct"], r["box_agreement_reverse_pct"], r["reference_boxes"], r["boxes"]
    (100.0, 50.0, 1, 2)
    """
    ahead = box_agreement(predictions, baseline, score_threshold, iou_threshold)
    back = box_agreement(baseline, predictions, score_threshold, iou_threshold)
    return {"box_agreement_pct": ahead["box_agreement_pct"], "box_agreement_reverse_pct": back["box_agreement_pct"],
            "reference_boxes": ahead["baseline_boxes"], "boxes": back["baseline_boxes"],
            "matched_boxes": ahead["matched_boxes"], "score_threshold": score_threshold,
            "iou_threshold": iou_threshold}
