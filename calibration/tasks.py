"""The two registered tasks (`edgebench.task.TASKS`): classification and detection (numpy only, device-safe).

`task_of(manifest)` picks one by the manifest's `task` (absent: classification). Classification's existing paths
(`edgebench.calibration.evaluate`) are unchanged and only registered here; detection's evaluation is
`edgebench.calibration.evaluate_detection`, which calls these methods. `edgebench convert` takes its default data
and its parity rule from here (`default_data`, `parity_images`, `convert_parity`): top-1 agreement for a
classifier, the agreement of the decoded boxes for a detector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from edgebench.calibration.dataset import Dataset
from edgebench.calibration.detection import (
    SCORE_THRESHOLD_MAP,
    Detections,
    box_agreement,
    box_agreement_both_ways,
    coco_map,
    postprocess,
)
from edgebench.calibration.detection_data import DetectionDataset, find_coco_sample
from edgebench.errors import UserInputError
from edgebench.manifest import Manifest
from edgebench.parity import ConvertTolerance, ParityReference, top1_agreement
from edgebench.task import (
    CLASSIFICATION,
    DETECTION,
    DETECTION_DECODERS,
    TASKS,
    ParityFigures,
    ParityImages,
    Task,
    headline_of,
)

# box agreement counts the baseline's boxes at or above this score (the boxes a user would draw)
AGREEMENT_SCORE = 0.3
# output layouts `postprocess` decodes (the manifest's output.decoder)
DECODERS = DETECTION_DECODERS


class Classification:
    """Top-1/top-5 over class scores [N, classes]; paired: agreement and flips (`paired_metrics`)."""

    name = CLASSIFICATION
    headline = headline_of(CLASSIFICATION)
    metric_names = (headline.key, "top5_pct")
    agreement_key = "agreement_pct"
    parity_data_hint = "cifar10:test or an image folder"

    def load_data(self, spec: str, annotations: Path | None = None, data_dir: Path | None = None) -> Dataset:
        from edgebench.calibration.datasets import load_dataset

        if annotations is not None:
            raise UserInputError("--annotations is for detection models; a classifier's labels come with --data "
                                 "(class sub-folders, an .npz or cifar10)")
        return load_dataset(spec, data_dir)

    def postprocess(self, outputs: Sequence[Any], data: Any, start: int, manifest: Any) -> list[Any]:
        return [int(i) for i in np.asarray(outputs[0]).argmax(axis=1)]

    def score(self, predictions: Sequence[Any], data: Any) -> dict[str, Any]:
        p, y = np.asarray(predictions), np.asarray(data.labels)
        return {"top1_pct": 100.0 * float((p == y).mean())}

    def paired(self, predictions: Sequence[Any], baseline: Sequence[Any], data: Any,
               scores: Mapping[str, Any], baseline_scores: Mapping[str, Any]) -> dict[str, Any]:
        from edgebench.calibration.metrics import paired_metrics

        return paired_metrics(predictions, baseline, data.labels)

    def default_data(self, purpose: str) -> str | None:
        return {"calibration": "cifar10:train", "parity": "cifar10:test"}[purpose]

    def parity_images(self, spec: str, manifest: Manifest, size: int) -> ParityImages:
        """The first `size` images of a classification dataset; labelled when its classes are the model's."""
        from edgebench.calibration.datasets import load_dataset
        from edgebench.calibration.preprocess import preprocess

        info = _input_of(manifest)
        ds = load_dataset(spec, size=size, preprocessing=info.preprocessing)
        x = preprocess(ds.images, info.preprocessing, info.image_hw())
        same_classes = not (info.class_names and ds.class_names) or tuple(info.class_names) == tuple(ds.class_names)
        return ParityImages(x, ds.labels if same_classes else None)

    def convert_parity(self, random_y: np.ndarray, real_y: np.ndarray | None, ref: ParityReference,
                       precision: str, tolerance: ConvertTolerance, manifest: Manifest | None) -> ParityFigures:
        """Top-1 agreement with ORT FP32 (>= `min_agreement_fp32` / `min_agreement_int8`); INT8 on labelled
        images also loses at most `max_top1_drop_int8` points of top-1."""
        rnd = {"top1_agreement": top1_agreement(random_y, ref.random_y)}
        if real_y is None or ref.real_y is None:
            return ParityFigures(rnd, {})
        tol = tolerance
        agree = top1_agreement(real_y, ref.real_y)
        real: dict[str, Any] = {"top1_agreement": agree}
        if ref.labels is not None and real_y.shape[1] > int(ref.labels.max()):
            real["top1_pct"] = 100 * float(np.mean(real_y.argmax(1) == ref.labels))
            real["reference_top1_pct"] = 100 * float(np.mean(ref.real_y.argmax(1) == ref.labels))
        reasons = []
        if precision == "fp32":
            if agree < tol.min_agreement_fp32:
                reasons.append(f"top-1 agreement {agree:.1%} < {tol.min_agreement_fp32:.0%}")
        else:
            if agree < tol.min_agreement_int8:
                reasons.append(f"top-1 agreement with FP32 {agree:.1%} < {tol.min_agreement_int8:.0%} on "
                               f"{len(real_y)} real images")
            if "top1_pct" in real and real["reference_top1_pct"] - real["top1_pct"] > tol.max_top1_drop_int8:
                reasons.append(f"top-1 {real['top1_pct']:.1f} % is more than {tol.max_top1_drop_int8} points below "
                               f"FP32's {real['reference_top1_pct']:.1f} %")
        return ParityFigures(rnd, real, tuple(reasons))


class Detection:
    """COCO mAP@0.5:0.95 / mAP@0.5 over decoded, NMS-ed boxes; paired: mAP delta and box agreement."""

    name = DETECTION
    headline = headline_of(DETECTION)
    metric_names = (headline.key, "map50_pct")
    agreement_key = "box_agreement_pct"
    parity_data_hint = "a detection folder DIR with images/ and instances.json, or an image folder"

    def load_data(self, spec: str, annotations: Path | None = None, data_dir: Path | None = None) -> DetectionDataset:
        from edgebench.calibration.detection_data import load_detection_data

        return load_detection_data(Path(spec), annotations)

    def postprocess(self, outputs: Sequence[Any], data: DetectionDataset, start: int,
                    manifest: Manifest | None) -> list[Detections]:
        decoder_of(manifest)
        raw = np.asarray(outputs[0])
        out = []
        for k in range(len(raw)):
            im = data.images[start + k]
            out.append(decode_one(raw[k], manifest, im.width, im.height, SCORE_THRESHOLD_MAP))
        return out

    def score(self, predictions: Sequence[Detections], data: DetectionDataset) -> dict[str, Any]:
        return coco_map(predictions, data)

    def paired(self, predictions: Sequence[Detections], baseline: Sequence[Detections], data: DetectionDataset,
               scores: Mapping[str, Any], baseline_scores: Mapping[str, Any]) -> dict[str, Any]:
        agreement = box_agreement(predictions, baseline, score_threshold=AGREEMENT_SCORE)
        return {"n": len(data), "map_delta_pts": float(scores["map_pct"]) - float(baseline_scores["map_pct"]),
                "map50_delta_pts": float(scores["map50_pct"]) - float(baseline_scores["map50_pct"]), **agreement}

    def default_data(self, purpose: str) -> str | None:
        """The COCO sample (coco/val2017_first128 under $EDGEBENCH_DATA, ../shared/data, ...): its images/ to
        calibrate on, the folder (images and boxes) for parity; None when there is none."""
        sample = find_coco_sample()
        if sample is None:
            return None
        return str(sample / "images") if purpose == "calibration" else str(sample)

    def parity_images(self, spec: str, manifest: Manifest, size: int) -> ParityImages:
        """A detection folder (DIR/images + instances.json or labels/: its boxes give the mAP too) or unlabelled
        images (an image folder, an .npz): the first `size`, fitted (stretched or letterboxed) and normalised as the
        model's input."""
        from edgebench.calibration.datasets import load_dataset
        from edgebench.calibration.detection_data import fitted_images, load_detection_data
        from edgebench.calibration.preprocess import preprocess

        info = _input_of(manifest)
        if (Path(spec) / "images").is_dir():
            ds = load_detection_data(Path(spec)).subset(size)
            return ParityImages(preprocess(fitted_images(ds, info), info.preprocessing, info.image_hw()), data=ds)
        images = load_dataset(spec, size=size, preprocessing=info.preprocessing, input_hw=info.image_hw()).images
        return ParityImages(preprocess(images, info.preprocessing, info.image_hw()))

    def convert_parity(self, random_y: np.ndarray, real_y: np.ndarray | None, ref: ParityReference,
                       precision: str, tolerance: ConvertTolerance, manifest: Manifest) -> ParityFigures:
        """Box agreement of the decoded boxes (score >= `AGREEMENT_SCORE`) both ways: ORT FP32's boxes the model
        reproduces and the model's boxes ORT FP32 has, each >= `min_box_agreement_fp32` / `_int8`; mAP of both on
        a labelled folder (recorded, not a gate)."""
        if real_y is None or ref.real_y is None:
            return ParityFigures({}, {})
        data = ref.data if isinstance(ref.data, DetectionDataset) and len(ref.data) == len(real_y) else None
        labelled = data is not None and data.num_boxes > 0
        threshold = SCORE_THRESHOLD_MAP if labelled else AGREEMENT_SCORE  # NMS keeps the same boxes above 0.3
        got, base = (_decoded(y, data, manifest, threshold) for y in (real_y, ref.real_y))
        real: dict[str, Any] = dict(box_agreement_both_ways(got, base, AGREEMENT_SCORE))
        if labelled and data is not None:
            real["map_pct"] = coco_map(got, data)["map_pct"]
            real["reference_map_pct"] = coco_map(base, data)["map_pct"]
        bar = tolerance.min_box_agreement_fp32 if precision == "fp32" else tolerance.min_box_agreement_int8
        what = "box agreement" if precision == "fp32" else "box agreement with FP32"
        pct = f"{100 * bar:.0f} %"
        reasons = []
        if real["box_agreement_pct"] < 100 * bar:
            reasons.append(f"{what} {real['box_agreement_pct']:.1f} % < {pct} on {len(real_y)} real images (of ORT "
                           f"FP32's {real['reference_boxes']} boxes with score >= {AGREEMENT_SCORE}, the share the "
                           "model reproduces)")
        if real["box_agreement_reverse_pct"] < 100 * bar:
            reasons.append(f"reverse {what} {real['box_agreement_reverse_pct']:.1f} % < {pct} (of the model's "
                           f"{real['boxes']} boxes, the share ORT FP32 has)")
        return ParityFigures({}, real, tuple(reasons))


def decoder_of(manifest: Manifest | None) -> str:
    """The output layout a detection manifest names (`output.decoder`); one line naming the fix otherwise."""
    decoder = str(((manifest.output if manifest is not None else None) or {}).get("decoder") or "")
    if decoder not in DECODERS:
        raise UserInputError(f"the manifest's output.decoder is '{decoder or '(none)'}'; edgebench decodes "
                             f"{', '.join(DECODERS)} outputs; export the model with edgebench export, or describe "
                             "it with `edgebench describe MODEL --task detection`")
    return decoder


def decode_one(raw: np.ndarray, manifest: Manifest | None, width: int, height: int,
               score_threshold: float = SCORE_THRESHOLD_MAP) -> Detections:
    """One image's raw output (batch dim removed) -> its boxes in a `width` x `height` image, after NMS, by the
    manifest's decoder. A letterboxed input (`resize_mode` letterbox): decoded and NMS-ed in input pixels, then
    mapped back to the image (`Letterbox.boxes_to_image`: the padding off, divided by the scale, clipped)."""
    decoder = decoder_of(manifest)
    info = manifest.input if manifest is not None else None
    hw = info.image_hw() if info is not None else None
    if info is None or info.preprocessing.resize_mode != "letterbox":
        return postprocess(raw, decoder, width, height, hw, score_threshold)
    from edgebench.calibration.preprocess import Letterbox

    target = info.preprocessing.fit_hw(hw)
    if target is None:
        raise UserInputError(f"a letterboxed input needs its height and width; '{info.name}' {list(info.shape)} has "
                             "none fixed: describe the model with --size HxW")
    d = postprocess(raw, decoder, target[1], target[0], target, score_threshold)
    return Detections(Letterbox.of((height, width), target).boxes_to_image(d.boxes), d.scores, d.labels)


def _input_of(manifest: Manifest) -> Any:
    if manifest.input is None:
        raise UserInputError(f"the manifest of '{manifest.onnx_file}' has no input; re-export the model")
    return manifest.input


def _decoded(raw: np.ndarray, data: DetectionDataset | None, manifest: Manifest,
             score_threshold: float) -> list[Detections]:
    """Every image's boxes from its raw output: in the image's own size when `data` has it, else in the model
    input's (box agreement is the same either way: IoU does not change when both boxes are scaled)."""
    hw = _input_of(manifest).image_hw() or (1, 1)
    sizes = [(im.width, im.height) for im in data.images] if data is not None else [(hw[1], hw[0])] * len(raw)
    return [decode_one(raw[k], manifest, w, h, score_threshold) for k, (w, h) in enumerate(sizes)]


TASKS.add(CLASSIFICATION, Classification())
TASKS.add(DETECTION, Detection())


def task_of(manifest: Manifest | None) -> Task:
    """The task a manifest names (`task`; absent or no manifest: classification)."""
    return TASKS.get((manifest.task if manifest is not None else None) or CLASSIFICATION)

