"""COCO mAP of a detection model (manifest `task: detection`) through any runtime, torch-free.

Each image is read, resized as the manifest's preprocessing says, run through the runtime session, and its raw
output decoded + NMS-ed by the task (`edgebench.calibration.tasks.Detection`): the same numpy code after every
runtime. Example::

    r = evaluate_detection(Path("artifacts/fastestdet/model.fp32.onnx"), "../shared/data/coco/val2017_first128")
    r["map_pct"], r["map50_pct"], r["n"]
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from edgebench.calibration.detection_data import DetectionDataset, fitted_images
from edgebench.calibration.evaluate import check_count, evaluation_session, plan_arithmetic
from edgebench.calibration.tasks import decoder_of
from edgebench.errors import CalibrationError, UserInputError
from edgebench.system import default_threads
from edgebench.task import DETECTION, TASKS

if TYPE_CHECKING:
    from edgebench.manifest import Manifest
    from edgebench.runtimes.options import RuntimeOptions

DETECTION_BATCH = 16  # images per run: they are decoded and resized in memory first


def load_detection(data: str | Path | DetectionDataset, annotations: Path | None = None,
                   limit: int | None = None) -> DetectionDataset:
    """The detection dataset `data` (a folder, or already loaded), cut to its first `limit` images."""
    check_count("--limit", limit)
    ds = data if isinstance(data, DetectionDataset) else TASKS.get(DETECTION).load_data(str(data), annotations)
    return ds.subset(limit)


def evaluate_detection(model_path: Path, data: str | Path | DetectionDataset, *, annotations: Path | None = None,
                       runtime: str = "ort-cpu", limit: int | None = None, threads: int | None = None,
                       batch_size: int = DETECTION_BATCH, arithmetic: str = "auto",
                       cpu: Mapping[str, Any] | None = None, manifest: Manifest | None = None,
                       runtime_options: RuntimeOptions | None = None) -> dict[str, Any]:
    """mAP@0.5:0.95 / mAP@0.5 (percent) of the detector at `model_path` on `data`; `predictions` holds each
    image's `Detections` (for a paired comparison), the rest is JSON-ready. `runtime_options`: the runtime's own
    Options (e.g. a sweep's bf16/fp16 cell), as `evaluate` takes them."""
    from edgebench.artifact import ModelArtifact

    check_count("--batch-size", batch_size)
    artifact = ModelArtifact.resolve(model_path)
    path = artifact.path
    manifest = manifest if manifest is not None else artifact.manifest
    if manifest is None or manifest.input is None or manifest.task != DETECTION:
        raise UserInputError(f"'{path}' has no detection manifest (task: detection); export it with "
                             "`edgebench export fastestdet -o DIR`")
    decoder_of(manifest)
    task = TASKS.get(DETECTION)
    ds = load_detection(data, annotations, limit)
    names = manifest.input.class_names
    if ds.class_names and names and tuple(ds.class_names) != tuple(names):
        raise CalibrationError(f"dataset '{ds.name}' has classes {list(ds.class_names)[:3]}... but the model predicts "
                               f"{list(names)[:3]}...; evaluate on the classes the model was trained for")
    plan = plan_arithmetic(manifest, runtime, arithmetic, cpu)
    threads = threads or default_threads()
    sess = evaluation_session(path, runtime, threads, plan, runtime_options)
    if len(sess.inputs) != 1:
        raise CalibrationError(f"'{path}' has {len(sess.inputs)} inputs; detection evaluation handles one image input")
    spec = sess.inputs[0]
    fixed = spec.shape[0] if isinstance(spec.shape[0], int) and spec.shape[0] > 0 else None
    step = fixed or batch_size
    from edgebench.calibration.preprocess import preprocess

    hw = manifest.input.image_hw()
    t0 = time.perf_counter()
    predictions: list[Any] = []
    for i in range(0, len(ds), step):
        chunk = replace(ds, images=ds.images[i:i + step])
        x = preprocess(fitted_images(chunk, manifest.input), manifest.input.preprocessing, hw)
        n = len(x)
        if fixed is not None and n < fixed:
            x = np.concatenate([x, np.repeat(x[-1:], fixed - n, axis=0)])
        raw = np.asarray(sess.run({spec.name: x})[sess.outputs[0].name])[:n]
        if not np.isfinite(raw).all():
            raise CalibrationError(f"'{path}' output NaN/Inf on images {i}..{i + n - 1}: its mAP would be meaningless")
        predictions += task.postprocess([raw], ds, i, manifest)
    seconds = time.perf_counter() - t0
    scores = task.score(predictions, ds)
    return {"model": str(path), "model_sha256": artifact.hashed().sha256 if path.is_file() else None,  # wherever it ran
            "task": DETECTION, "dataset": ds.name, "dataset_sha256": ds.fingerprint(),
            "n": len(ds), **scores, "runtime": runtime, "threads": threads, "batch_size": step, "seconds": seconds,
            **plan.to_dict(), "predictions": predictions}


def evaluate_detection_pair(model_path: Path, baseline_path: Path, data: str | Path | DetectionDataset, *,
                            annotations: Path | None = None, limit: int | None = None,
                            manifest: Manifest | None = None, baseline_manifest: Manifest | None = None,
                            **kwargs: Any) -> dict[str, Any]:
    """Both detectors on the same images, then the paired block: mAP deltas and box agreement."""
    from edgebench.artifact import ModelArtifact

    a, b = (ModelArtifact.resolve(p).path for p in (model_path, baseline_path))
    if a.resolve() == b.resolve():
        raise UserInputError(f"--baseline '{baseline_path}' is the model itself; give the other model (e.g. FP32)")
    ds = load_detection(data, annotations, limit)
    r = evaluate_detection(a, ds, manifest=manifest, **kwargs)
    rb = evaluate_detection(b, ds, manifest=baseline_manifest, **kwargs)
    paired = TASKS.get(DETECTION).paired(r["predictions"], rb["predictions"], ds, r, rb)
    return {"model": r, "baseline": rb, "paired": paired}
