"""What a model does (`classification`, `detection`): one small interface per task, chosen by the manifest's `task`.

A `Task` knows how its dataset spec is read, how the model's raw outputs become predictions (numpy only, so it
runs on the device install), which metric scores them and which paired comparison applies to two models on the
same images. The concrete tasks live in the layers that own their data and maths (`edgebench.calibration.tasks`
registers both); this module only holds the protocol and the registry, so lower layers can name a task without
importing them. Example::

    from edgebench.calibration.tasks import task_of
    task = task_of(manifest)                       # TASKS.get(manifest.task or "classification")
    data = task.load_data("coco/val2017_first128", annotations=None)
    result = task.evaluate(session_outputs, data)  # e.g. {"map_pct": 19.1, "map50_pct": 35.7, ...}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from edgebench.registry import Registry

if TYPE_CHECKING:
    import numpy as np
    from edgebench.parity import ConvertTolerance, ParityReference

CLASSIFICATION = "classification"
DETECTION = "detection"
# the detection output layouts edgebench decodes (a manifest's output.decoder): FastestDet-style grids
# [N, 1+4+C, H, W], YOLOv5-style [N, boxes, 5+C], YOLOv8-style [N, 4+C, boxes], a graph with NMS inside [N, K, 6]
DETECTION_DECODERS = ("fastestdet", "yolov5", "yolov8", "nms-boxes")


@runtime_checkable
class Task(Protocol):
    """The per-task seam: data, post-processing, metric and paired comparison."""

    name: str
    headline: Headline  # the figure accuracy budgets count in (`HEADLINES`), `metric_names[0]`
    metric_names: tuple[str, ...]  # the result keys `score` fills, headline first (e.g. ("map_pct", "map50_pct"))
    agreement_key: str  # the key of `paired` that says how often two models agree (e.g. "box_agreement_pct")
    parity_data_hint: str  # what --parity-data takes for this task, in a message (e.g. "cifar10:test or ...")

    def load_data(self, spec: str, annotations: Path | None = None, data_dir: Path | None = None) -> Any:
        """The labelled dataset named by `spec` (and `annotations` where the task has them)."""
        ...

    def postprocess(self, outputs: Sequence[Any], data: Any, start: int, manifest: Any) -> list[Any]:
        """The predictions of the images `start..start+len(outputs[0])` from the model's raw outputs."""
        ...

    def score(self, predictions: Sequence[Any], data: Any) -> dict[str, Any]:
        """The task's metric over every image's predictions."""
        ...

    def paired(self, predictions: Sequence[Any], baseline: Sequence[Any], data: Any,
               scores: Mapping[str, Any], baseline_scores: Mapping[str, Any]) -> dict[str, Any]:
        """Two models' predictions on the same images compared (e.g. INT8 vs its FP32 parent)."""
        ...

    def default_data(self, purpose: str) -> str | None:
        """The dataset spec `edgebench convert` uses when none is given, for `purpose` "calibration" or "parity"
        (None: the task has none here)."""
        ...

    def parity_images(self, spec: str, manifest: Any, size: int) -> ParityImages:
        """The first `size` real images of `spec`, preprocessed as the model's input, for convert's parity."""
        ...

    def convert_parity(self, random_y: np.ndarray, real_y: np.ndarray | None, ref: ParityReference,
                       precision: str, tolerance: ConvertTolerance, manifest: Any) -> ParityFigures:
        """The task's figures of a converted model's outputs against ORT FP32's (`ref`) and why it fails, if it
        does; the max|diff| bound of FP32 is checked by the caller for every task."""
        ...


@dataclass(frozen=True)
class ParityImages:
    """Real images for convert's parity: `x` preprocessed float32, `labels` (class indices, or None), `data` (what
    the task scores them with beyond labels: a detector's `DetectionDataset`)."""

    x: Any
    labels: Any = None
    data: Any = None


@dataclass(frozen=True)
class ParityFigures:
    """A task's part of a parity record: figures added to the `random` and `real` blocks, failure reasons."""

    random: dict[str, Any]
    real: dict[str, Any]
    reasons: tuple[str, ...] = ()


TASKS: Registry[Task] = Registry("task")


@dataclass(frozen=True)
class Headline:
    """A task's headline accuracy, the figure accuracy budgets count in (`edgebench recommend`, sweeps).

    `key`: its result key (`accuracy.<key>`, a report row's attribute); `name`: how text names it; `delta_key`: the
    key of its paired difference to a baseline in points (`Task.paired`); `ci_key`: that difference's 95 % CI
    (None: the task gives none); `proportion`: the figure is a share of images (one image is 100/N points)."""

    key: str
    name: str
    delta_key: str
    ci_key: str | None
    proportion: bool


HEADLINES: Registry[Headline] = Registry("task")
HEADLINES.add(CLASSIFICATION, Headline("top1_pct", "top-1", "top1_delta_pts", "top1_delta_ci95_pts", True))
HEADLINES.add(DETECTION, Headline("map_pct", "mAP@0.5:0.95", "map_delta_pts", None, False))


def headline_of(task: str | None) -> Headline:
    """The headline accuracy of a task name (None: classification, as results from before `task`).

    >>> headline_of("detection").name, headline_of(None).key
    ('mAP@0.5:0.95', 'top1_pct')
    """
    return HEADLINES.get(task or CLASSIFICATION)
