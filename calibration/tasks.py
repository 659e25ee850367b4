"""The two registered tasks (`edgebench.task.TASKS`): classification and detection (numpy only, device-safe).

`task_of(manifest)` picks one by the manifest's `task` (absent: classification). Classification's existing paths
(`edgebench.calibration.evaluate`) are unchanged and only registered here; detection's evaluation is
`edgebench.calibration.evaluate_detection`, which calls these methods.
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
    coco_map,
    postprocess,
)
from edgebench.calibration.detection_data import DetectionDataset
from edgebench.errors import UserInputError
from edgebench.manifest import Manifest
from edgebench.task import CLASSIFICATION, DETECTION, DETECTION_DECODERS, TASKS, Task

# box agreement counts the baseline's boxes at or above this score (the boxes a user would draw)
AGREEMENT_SCORE = 0.3
# output layouts `postprocess` decodes (the manifest's output.decoder)
DECODERS = DETECTION_DECODERS


class Classification:
    """Top-1/top-5 over class scores [N, classes]; paired: agreement and flips (`paired_metrics`)."""

    name = CLASSIFICATION
    metric_names = ("top1_pct", "top5_pct")
    agreement_key = "agreement_pct"

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


class Detection:
    """COCO mAP@0.5:0.95 / mAP@0.5 over decoded, NMS-ed boxes; paired: mAP delta and box agreement."""

    name = DETECTION
    metric_names = ("map_pct", "map50_pct")
    agreement_key = "box_agreement_pct"

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
    manifest's decoder."""
    decoder = decoder_of(manifest)
    hw = manifest.input.image_hw() if manifest is not None and manifest.input is not None else None
    return postprocess(raw, decoder, width, height, hw, score_threshold)


TASKS.add(CLASSIFICATION, Classification())
TASKS.add(DETECTION, Detection())


def task_of(manifest: Manifest | None) -> Task:
    """The task a manifest names (`task`; absent or no manifest: classification)."""
    return TASKS.get((manifest.task if manifest is not None else None) or CLASSIFICATION)

