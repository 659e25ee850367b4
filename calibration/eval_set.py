"""What accuracy-aware PTQ measures on, per task: the labelled eval images and a model file's predictions on them.

`eval_set(manifest, spec, size, ...)` picks the model's task from the registry (`calibration.tasks.task_of`) and
returns its eval images, a `predict(path)` over them (`calibration.evaluate.evaluate`, or `evaluate_detection` for a
detector; one thread) and the task that scores them. `calibration.entry` calls it for a `BudgetConfig`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgebench.calibration.tasks import task_of
from edgebench.errors import UserInputError
from edgebench.manifest import Manifest
from edgebench.task import CLASSIFICATION, DETECTION, Task

Predict = Callable[[Path], list[Any]]


def _classification(spec: str, manifest: Manifest | None, size: int | None, needed_by: str, data_dir: Path | None,
                    download: bool) -> tuple[Any, Predict]:
    from edgebench.calibration.evaluate import evaluate, load_eval_dataset

    ev = load_eval_dataset(spec, manifest, data_dir, download).require_labels(needed_by).subset(size)

    def predict(path: Path) -> list[Any]:
        return list(evaluate(path, ev, threads=1)["predictions"])

    return ev, predict


def _detection(spec: str, manifest: Manifest | None, size: int | None, needed_by: str, data_dir: Path | None,
               download: bool) -> tuple[Any, Predict]:
    from edgebench.calibration.evaluate_detection import evaluate_detection, load_detection

    if size is not None and size < 1:
        raise UserInputError(f"--eval-size {size} must be >= 1")
    det = load_detection(spec, None, size)

    def predict_boxes(path: Path) -> list[Any]:
        return list(evaluate_detection(path, det, threads=1, manifest=manifest)["predictions"])

    return det, predict_boxes


# per registered task: its eval images and a model file's predictions on them
LOADERS: dict[str, Callable[..., tuple[Any, Predict]]] = {CLASSIFICATION: _classification, DETECTION: _detection}


def eval_set(manifest: Manifest | None, spec: str, size: int | None = None, *, needed_by: str = "--accuracy-budget",
             data_dir: Path | None = None, download: bool = True) -> tuple[Any, Predict, Task]:
    """The model's task, its labelled eval images `spec` (first `size`, in the model's classes/preprocessing) and
    the predictions of a model file on them; `needed_by` names the option that needs the labels."""
    task = task_of(manifest)
    ev, predict = LOADERS[task.name](spec, manifest, size, needed_by, data_dir, download)
    return ev, predict, task
