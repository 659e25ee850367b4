"""`edgebench eval` as one call: a typed `EvalConfig` (validated on construction) and `run_eval`, which picks
the evaluation a model needs (classification or detection, alone or paired with a baseline).

    cfg = EvalConfig(data="cifar10", limit=1000, arithmetic="auto")
    outcome = run_eval(cfg, ModelArtifact.resolve(Path("artifacts/resnet20")))
    outcome.kind, outcome.result["top1_pct"]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from edgebench.calibration.evaluate import ARITHMETIC_MODES, DEFAULT_BATCH_SIZE, check_count
from edgebench.errors import UserInputError, check_one_of

if TYPE_CHECKING:
    from edgebench.artifact import ModelArtifact
    from edgebench.manifest import Manifest
    from edgebench.runtimes.options import RuntimeOptions

EvalKind = Literal["classification", "classification-paired", "detection", "detection-paired"]


@dataclass(frozen=True)
class EvalConfig:
    """What `edgebench eval` measures and how (everything but the models)."""

    data: str = "cifar10"
    annotations: Path | None = None
    limit: int | None = None
    runtime: str = "ort-cpu"
    threads: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    data_dir: Path | None = None
    download: bool = True
    arithmetic: str = "auto"
    as_target: bool = False
    labels_file: Path | None = None
    runtime_options: RuntimeOptions | None = None

    def __post_init__(self) -> None:
        check_count("--limit", self.limit)  # here too, so that `eval --on` refuses them before anything is pushed
        check_count("--batch-size", self.batch_size)
        check_one_of("--arithmetic", self.arithmetic, ARITHMETIC_MODES)
        if self.as_target and self.arithmetic not in ("auto", "qdq"):
            raise UserInputError(f"--as-target means --arithmetic qdq, not --arithmetic {self.arithmetic}; give "
                                 "one of them")

    @property
    def arithmetic_mode(self) -> str:
        """`--as-target` is `--arithmetic qdq`."""
        return "qdq" if self.as_target else self.arithmetic


@dataclass(frozen=True)
class EvalOutcome:
    """Which evaluation ran and its result (the `evaluate*` functions' dict)."""

    kind: EvalKind
    result: dict[str, Any]


def run_eval(cfg: EvalConfig, model: ModelArtifact, baseline: Path | None = None,
             baseline_manifest: Manifest | None = None) -> EvalOutcome:
    """Evaluate `model` (with `baseline` on the same images when given): a detector's mAP or a classifier's top-k.
    `baseline_manifest` replaces the baseline's own (one described in memory)."""
    if baseline is not None:
        _same_task(model.path, model.manifest, baseline)
    if model.manifest is not None and model.manifest.task == "detection":
        return _detection(cfg, model, baseline)
    if cfg.annotations is not None:
        raise UserInputError(f"--annotations is for detection models; '{model.path.name}' is a classifier "
                             "(its labels come with --data); drop --annotations")
    common: dict[str, Any] = dict(limit=cfg.limit, runtime=cfg.runtime, threads=cfg.threads,
                                  batch_size=cfg.batch_size, data_dir=cfg.data_dir, download=cfg.download,
                                  arithmetic=cfg.arithmetic_mode, manifest=model.manifest,
                                  labels_file=cfg.labels_file, runtime_options=cfg.runtime_options)
    if baseline is not None:
        from edgebench.calibration.evaluate import evaluate_pair

        return EvalOutcome("classification-paired", evaluate_pair(model.path, baseline, cfg.data,
                                                                  baseline_manifest=baseline_manifest, **common))
    from edgebench.calibration.evaluate import evaluate

    return EvalOutcome("classification", evaluate(model.path, cfg.data, **common))


def _detection(cfg: EvalConfig, model: ModelArtifact, baseline: Path | None) -> EvalOutcome:
    """A detector: COCO mAP, and with a baseline the paired block (mAP delta, box agreement)."""
    from edgebench.calibration.evaluate_detection import evaluate_detection, evaluate_detection_pair

    if cfg.data == "cifar10":
        raise UserInputError(f"'{model.path.name}' is a detector: give --data DIR (DIR/images with "
                             "DIR/instances.json or DIR/labels/) or --data IMAGES --annotations FILE; see "
                             "docs/detection.md")
    common: dict[str, Any] = dict(annotations=cfg.annotations, limit=cfg.limit, runtime=cfg.runtime,
                                  threads=cfg.threads, batch_size=cfg.batch_size, arithmetic=cfg.arithmetic_mode,
                                  manifest=model.manifest)
    if baseline is None:
        return EvalOutcome("detection", evaluate_detection(model.path, cfg.data, **common))
    return EvalOutcome("detection-paired", evaluate_detection_pair(model.path, baseline, cfg.data, **common))


def _same_task(model: Path, manifest: Manifest | None, baseline: Path) -> None:
    """A paired comparison needs two models of one task (two classifiers, or two detectors)."""
    from edgebench.artifact import ModelArtifact

    base = ModelArtifact.resolve(baseline)
    task, base_task = ((m.task if m is not None else None) or "classification" for m in (manifest, base.manifest))
    if task != base_task:
        raise UserInputError(f"--baseline '{base.path}' is a {base_task} model but '{model}' is a {task} "
                             "model; compare two models of one task (e.g. the INT8 detector with its FP32 parent)")
