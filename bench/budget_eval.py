"""What accuracy-aware PTQ measures on, per task: the labelled eval images and a model file's predictions on them.

`budget_evaluator(spec, size)` is the `evaluator` of `calibration.entry.BudgetConfig`; the CLI builds it
here, where `calibration.evaluate` and `calibration.evaluate_detection` are importable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgebench.artifact import ModelArtifact
from edgebench.calibration.tasks import task_of
from edgebench.errors import UserInputError
from edgebench.task import DETECTION, Task


def budget_evaluator(spec: str, size: int | None = None, data_dir: Path | None = None, download: bool = True
                     ) -> Callable[[ModelArtifact], tuple[Any, Callable[[Path], list[Any]], Task]]:
    """What accuracy-aware PTQ (`calibration.entry.BudgetConfig`) measures on: for a model, its task's labelled
    eval images `spec` (first `size`), the predictions of a model file on them (`calibration.evaluate.evaluate`, or
    `evaluate_detection` for a detector) and the task that scores them."""

    def load(artifact: ModelArtifact) -> tuple[Any, Callable[[Path], list[Any]], Task]:
        task = task_of(artifact.manifest)
        if task.name == DETECTION:
            from edgebench.calibration.evaluate_detection import evaluate_detection, load_detection

            if size is not None and size < 1:
                raise UserInputError(f"--eval-size {size} must be >= 1")
            det = load_detection(spec, None, size)

            def predict_boxes(path: Path) -> list[Any]:
                return list(evaluate_detection(path, det, threads=1, manifest=artifact.manifest)["predictions"])

            return det, predict_boxes, task
        from edgebench.calibration.evaluate import evaluate, load_eval_dataset

        ev = load_eval_dataset(spec, artifact.manifest, data_dir, download).require_labels(
            "--accuracy-budget").subset(size)

        def predict(path: Path) -> list[Any]:
            return list(evaluate(path, ev, threads=1)["predictions"])

        return ev, predict, task

    return load
