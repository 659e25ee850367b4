"""The stages: pure functions of (settings, input artifacts) -> artifacts in `out`, calling the library.

They call what the CLI commands call (`exporter.export.export_model`, `exporter.prune_run.run_rounds`,
`calibration.entry.quantize`, `calibration.convert.convert_model`, `calibration.evaluate.evaluate`, `bench.runner`,
and `devices.remote.run_jobs_on` for a bench on a remote device), so a sweep cell and the commands agree.
Each returns its `outputs` (paths relative to `out`, figures) for the done marker; the embedded
executor and the Ray tasks run this same code.

Example::

    outputs = run_stage(node, [Input(dir, {"model": "model.fp32.onnx"})], out_dir)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.errors import DeviceError, EdgebenchError, UserInputError
from edgebench.sweep.graph import Node
from edgebench.task import headline_of

if TYPE_CHECKING:
    import threading

    from edgebench.bench.result import BenchResult
    from edgebench.devices.registry import Device

ACCURACY_FILE = "accuracy.json"
PREDICTIONS_FILE = "predictions.json"  # per image, for the paired comparison with the FP32
DETECTIONS_FILE = "predictions.npz"  # a detector's: every image's boxes (`calibration.detection.detections_arrays`)
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class Input:
    """A finished input node: its cache folder and the outputs its done marker records."""

    dir: Path
    outputs: dict[str, Any]

    @property
    def model(self) -> Path:
        return self.dir / self.outputs["model"]


def _data_dir(s: dict[str, Any]) -> Path | None:
    return Path(s["data_dir"]) if s.get("data_dir") else None


def _load(s: dict[str, Any], require_trained: bool) -> Any:
    from edgebench.exporter.loading import WeightsRequest, load_model
    from edgebench.exporter.zoo import get_spec

    random = s["weights"]["source"] == "random-init"
    return load_model(get_spec(s["model"]), WeightsRequest(random_init=random, data_dir=_data_dir(s),
                                                           require_trained=require_trained and not random))


def stage_export(s: dict[str, Any], _inputs: Sequence[Input], out: Path) -> dict[str, Any]:
    """`edgebench export MODEL -o out` with the sweep's settings; [export] parity_data is read as `export
    --parity-data` reads it (`export_run.parity_dataset`: a classifier's images in its class order, a detector's
    detection folder)."""
    from edgebench.exporter.export import ONNX_FILE, export_model
    from edgebench.exporter.export_run import parity_dataset

    loaded = _load(s, require_trained=False)
    parity = parity_dataset(loaded.spec, s["parity_data"], _data_dir(s), notes=lambda _m: None)
    m = export_model(loaded.model, loaded.spec, out, opset=s["opset"], batch=s["batch"], parity_dataset=parity,
                     accuracy_images=0, force=True, weights=loaded.weights, threads=1)
    return {"model": ONNX_FILE, "file_size_mb": m.file_size_mb, "params": m.params, "macs": m.macs}


def stage_import(s: dict[str, Any], _inputs: Sequence[Input], out: Path) -> dict[str, Any]:
    """A model file of the user's: copied into the cache (with its manifest and pruned-structure files)."""
    from edgebench.artifact import ModelArtifact
    from edgebench.manifest import manifest_path, sha256_file

    art = ModelArtifact.resolve(Path(s["path"]))
    sha = sha256_file(art.path)
    if s["sha256"] and sha != s["sha256"]:
        raise UserInputError(f"'{art.path}' changed while the sweep ran (sha256 {sha[:12]}, planned "
                             f"{s['sha256'][:12]}); run the sweep again")
    art.require_manifest("a sweep (input spec and preprocessing)")
    shutil.copy2(art.path, out / art.path.name)
    shutil.copy2(manifest_path(art.path), manifest_path(out / art.path.name))
    pruned = art.manifest.pruned if art.manifest else None
    for name in ((pruned.structure_file, pruned.weights_file) if pruned else ()):
        if name and (art.path.parent / name).is_file():
            shutil.copy2(art.path.parent / name, out / name)
    return {"model": art.path.name, "sha256": sha}


def stage_prune(s: dict[str, Any], _inputs: Sequence[Input], out: Path) -> dict[str, Any]:
    """`edgebench prune MODEL --ratios R --rounds 1 -e EPOCHS [--distill] -o out/run`: the pruned round 1 folder.

    With `distill`, the teacher is the model before pruning (a copy), as `prune --distill`.
    """
    from edgebench.calibration.datasets import Dataset, load_dataset
    from edgebench.exporter.prune.config import RatioConfig
    from edgebench.exporter.prune.run import PruneRunConfig, run_rounds
    from edgebench.exporter.train.loop import TrainConfig

    loaded = _load(s, require_trained=True)
    ratios = RatioConfig.parse(str(s["ratio"]))
    run = PruneRunConfig(importance=s["importance"], rounds=1, scope=s["scope"], seed=s["seed"], export_onnx=True,
                         round_to=s["round_to"])
    ft = TrainConfig(epochs=s["finetune_epochs"], lr=s["lr"], batch_size=s["batch_size"], seed=s["seed"])
    test = load_dataset(s["test_data"], _data_dir(s), labelled_for="evaluation").subset(s["limit_test"])
    if s["finetune_epochs"] > 0:
        train = load_dataset(s["train_data"], _data_dir(s), labelled_for="training").subset(s["limit_train"])
    else:
        train = Dataset(test.images[:0], test.labels[:0], "none")
    teacher = distill = None
    if s.get("distill"):
        from edgebench.exporter.train.distill import DistillConfig, TeacherRequest, resolve_teacher

        distill = DistillConfig(s["distill"]["alpha"], s["distill"]["temperature"])
        teacher = resolve_teacher(loaded.spec, loaded.model, TeacherRequest(distill=True))
    summary = run_rounds(loaded.model, loaded.spec, ratios, run, ft, train, test, out / "run", arch=loaded.spec.name,
                         num_classes=loaded.num_classes, weights_info=loaded.weights, force=True, teacher=teacher,
                         distill=distill)
    last = summary["rounds"][-1]
    return {"model": "run/round1/model.fp32.onnx", "macs": last["macs"], "params": last["params"],
            "macs_reduction_pct": last["macs_reduction_pct"], "top1_torch_pct": last["final_top1_pct"]}


def stage_quantize(s: dict[str, Any], inputs: Sequence[Input], out: Path) -> dict[str, Any]:
    """`edgebench quantize PARENT --mode M --preset P --data D -n N --seed S -o out`: the same entry and config."""
    from edgebench.calibration.entry import quantize

    r = quantize(inputs[0].model, out, quantize_config(s))
    return {"model": r.path.name, "file_size_mb": r.manifest.file_size_mb}


def quantize_config(s: dict[str, Any]) -> Any:
    """The quantize config of a sweep cell's settings (mode, preset, calibration, calib_size, seed), as the CLI
    builds it from the same options."""
    from edgebench.calibration.entry import DynamicConfig, Fp16Config, StaticConfig
    from edgebench.calibration.quantize import CalibrationSettings
    from edgebench.calibration.recipes import resolve_preset

    if s["mode"] == "fp16":
        return Fp16Config(force=True)
    if s["mode"] == "dynamic":
        return DynamicConfig(resolve_preset(s["preset"]), force=True)
    return StaticConfig(resolve_preset(s["preset"]), s["calibration"],
                        CalibrationSettings(size=s["calib_size"], seed=s["seed"]), data_dir=_data_dir(s), force=True)


def stage_convert(s: dict[str, Any], inputs: Sequence[Input], out: Path) -> dict[str, Any]:
    """`edgebench convert PARENT -r RUNTIME --precision P [-d CAL -n N --seed S] -o out`.

    Parity with ONNX Runtime FP32 is checked on the sweep's [convert] parity data; a refused conversion
    raises `ParityError`, which the executor records as this stage's error (its cells fail with the reason).
    """
    from edgebench.calibration.convert import ConvertConfig, convert_model
    from edgebench.exporter.rebuild import build_module
    from edgebench.parity import ConvertTolerance

    cfg = ConvertConfig(runtime=s["runtime"], precision=s["precision"], data=s["calibration"],
                        calib_size=s["calib_size"], seed=s["seed"], parity_data=s["parity_data"],
                        parity_images=s["parity_images"], out=out, force=True, threads=1,
                        tolerance=ConvertTolerance(**s["tolerance"]))
    path = convert_model(inputs[0].model, cfg, build_module=build_module)
    return {"model": path.relative_to(out).as_posix(), "file_size_mb": path.stat().st_size / 1e6}


def stage_evaluate(s: dict[str, Any], inputs: Sequence[Input], out: Path) -> dict[str, Any]:
    """`edgebench eval MODEL -r RUNTIME --data D --limit N --arithmetic A --baseline FP32` on the workstation.

    The model's task (its manifest's, `calibration.tasks.task_of`) says what is measured: a classifier's top-1/top-5
    on D, a detector's COCO mAP on the detection folder D (DIR/images + instances.json or labels/). The per-image
    predictions are kept (``predictions.json``; a detector's boxes ``predictions.npz``); the second input, when
    there is one, is the evaluation of this lineage's FP32 (`s["paired_with"]`), and ``paired`` holds the task's
    paired comparison against it on the same images (`Task.paired`: a classifier's agreement, flips, the top-1
    difference and its 95 % CI; a detector's mAP differences and box agreement), as `eval --baseline` prints.
    The FP32 evaluation itself gets ``paired`` with ``is_baseline`` (its difference is 0 by construction).
    """
    from edgebench.artifact import ModelArtifact
    from edgebench.atomic import write_json
    from edgebench.calibration.tasks import task_of
    from edgebench.runtimes import options_class
    from edgebench.task import DETECTION

    opts = options_class(s["runtime"]).from_dict({**s["runtime_options"], "intra_op_threads": s["threads"]}) \
        if s["runtime_options"] else None
    task = task_of(ModelArtifact.resolve(inputs[0].model).manifest)
    ds = task.load_data(s["data"], None, _data_dir(s)).subset(s["limit"])
    if task.name == DETECTION:
        from edgebench.calibration.evaluate_detection import evaluate_detection as run
    else:
        from edgebench.calibration.evaluate import evaluate as run
    acc = run(inputs[0].model, ds, runtime=s["runtime"], threads=s["threads"], arithmetic=s["arithmetic"],
              runtime_options=opts)
    keep = {k: acc[k] for k in ("dataset", "dataset_sha256", "n", *task.metric_names, "runtime", "threads",
                                "arithmetic", "arithmetic_reason", "warnings") if k in acc}
    head = task.headline
    if len(inputs) > 1:
        base = read_predictions(inputs[1], keep["dataset_sha256"], keep["n"])
        keep["paired"] = {"baseline": s["paired_with"], "is_baseline": False,
                          **task.paired(acc["predictions"], base, ds, acc, read_accuracy(inputs[1]))}
    else:
        keep["paired"] = {"baseline": f"evaluate {s['variant']}/{s['runtime']}", "is_baseline": True,
                          **task.paired(acc["predictions"], acc["predictions"], ds, acc, acc),
                          **({head.ci_key: [0.0, 0.0]} if head.ci_key else {})}
    predictions = write_predictions(out, task.name, acc["predictions"], keep["dataset_sha256"], keep["n"])
    write_json(out / ACCURACY_FILE, keep)
    return {"accuracy": ACCURACY_FILE, "predictions": predictions, head.key: keep[head.key], "n": keep["n"]}


def write_predictions(out: Path, task: str, predictions: Sequence[Any], dataset_sha256: str, n: int) -> str:
    """Keep an evaluation's per-image predictions in `out` for the paired comparisons against it: a classifier's
    classes in ``predictions.json``, a detector's boxes (`Detections`) in ``predictions.npz``; returns the name."""
    from edgebench.atomic import atomic_path, write_json
    from edgebench.task import DETECTION

    if task != DETECTION:
        write_json(out / PREDICTIONS_FILE, {"dataset_sha256": dataset_sha256, "n": n, "predictions": predictions})
        return PREDICTIONS_FILE
    import numpy as np
    from edgebench.calibration.detection import detections_arrays

    with atomic_path(out / DETECTIONS_FILE) as tmp, tmp.open("wb") as f:
        np.savez(f, dataset_sha256=np.array(dataset_sha256), **detections_arrays(predictions))
    return DETECTIONS_FILE


def read_accuracy(inp: Input) -> dict[str, Any]:
    """A finished evaluation's accuracy record (its ``accuracy.json``)."""
    return json.loads((inp.dir / inp.outputs["accuracy"]).read_text(encoding="utf-8"))


def read_predictions(inp: Input, dataset_sha256: str, n: int) -> list[Any]:
    """The per-image predictions of a finished evaluation (classes, or a detector's boxes), checked to be of the
    same `n` images."""
    name = inp.outputs.get("predictions")
    path = inp.dir / str(name)
    plain = isinstance(name, str) and Path(name).name == name and name not in ("", ".", "..")
    try:  # a plain file name in the evaluation's own folder, nothing else
        if plain and name == DETECTIONS_FILE:
            data = _read_detections(path)
        else:
            data = json.loads(path.read_text(encoding="utf-8")) if plain else None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, UserInputError) as e:
        raise EdgebenchError(f"the baseline evaluation's predictions '{path}' cannot be read ({e}); run the "
                             "sweep again (delete that cache folder)") from None
    preds = data.get("predictions") if isinstance(data, dict) else None
    if not isinstance(preds, list) or not (name == DETECTIONS_FILE or all(
            isinstance(p, int) and not isinstance(p, bool) for p in preds)):
        raise EdgebenchError(f"the baseline evaluation in '{inp.dir}' has no list of per-image predictions; delete "
                             "that cache folder and run the sweep again")
    if data.get("dataset_sha256") != dataset_sha256 or len(preds) != n:
        raise EdgebenchError(f"the baseline evaluation in '{inp.dir}' ran on other images ({len(preds)} images, "
                             f"dataset {str(data.get('dataset_sha256'))[:12]}) than this one ({n}, "
                             f"{dataset_sha256[:12]}): a paired comparison needs the same images")
    return preds


def _read_detections(path: Path) -> dict[str, Any]:
    """``predictions.npz`` (`write_predictions`) as the JSON file's fields: dataset_sha256 and predictions."""
    from edgebench.calibration.detection import detections_from_arrays
    from edgebench.readers import read_npz

    arrays = read_npz(path, "the baseline's boxes")
    sha = arrays.pop("dataset_sha256", None)
    return {"dataset_sha256": str(sha) if sha is not None and sha.ndim == 0 else None,
            "predictions": detections_from_arrays(arrays)}


REMOTE_TIMEOUT_S = 1800.0  # a remote cell's --timeout: `bench`'s default, as when it ran `bench --on`


def _bench_remote(s: dict[str, Any], inp: Input, device: Device, out: Path,
                  cancel: threading.Event | None = None) -> BenchResult:
    """The cell's Job, as `bench MODEL -r RUNTIME -t T -b B --on DEVICE` sends it (`devices.remote.run_jobs_on`):
    push (content-addressed), run there, pull.

    Ctrl-C (or `cancel`, set by the sweep's main thread) goes through `run_on`'s stop path: the device's
    process group is killed, nothing is pulled, and KeyboardInterrupt propagates.
    """
    import tempfile

    from edgebench.bench.harness import BenchConfig
    from edgebench.bench.runner import Job
    from edgebench.bench.schema import load_result
    from edgebench.devices.jobs import JobBatch
    from edgebench.devices.registry import DeviceRegistry
    from edgebench.devices.remote import run_jobs_on
    from edgebench.runtimes import options_class
    from edgebench.runtimes.artifacts import ARTIFACT_FILES
    from edgebench.runtimes.precisions import plan_precision

    model, precision = inp.model, None
    if s["runtime"] in ARTIFACT_FILES and model.suffix != ".onnx":  # a converted model: its cache folder travels
        model, precision = inp.dir, s["precision"]
    opts = options_class(s["runtime"]).from_dict({**s["runtime_options"], "intra_op_threads": s["threads"]})
    _, opts = plan_precision(s["runtime"], precision, opts, s["runtime_options"])
    bench = BenchConfig(warmup_iters=s["warmup_iters"], min_iters=s["min_iters"], min_seconds=s["min_seconds"],
                        max_seconds=s["max_seconds"], timeout_s=REMOTE_TIMEOUT_S)
    job = Job(model=str(model), runtime=s["runtime"], batch=s["batch"], options=opts, bench=bench.__dict__.copy())
    registry = DeviceRegistry(out / "devices.toml")  # in memory, just this device (resolved by the sweep's check)
    registry.devices = {device.name: device}
    with tempfile.TemporaryDirectory(prefix=".pull.", dir=out) as tmp:
        run_jobs_on(device.name, [JobBatch((job,), precision=precision)], Path(tmp), registry=registry,
                    echo=lambda _m: None, cancel=cancel)
        files = sorted((Path(tmp) / device.name).glob("*.json"))
        if len(files) != 1:
            raise DeviceError(f"device '{device.name}': the bench returned {len(files)} result files, expected 1")
        return load_result(files[0])


def stage_bench(s: dict[str, Any], inputs: Sequence[Input], out: Path, device: Device | None = None,
                cancel: threading.Event | None = None) -> dict[str, Any]:
    """`edgebench bench MODEL -r RUNTIME -t T -b B` in a fresh process (or `--on DEVICE` for a remote
    `device`), with the evaluation's accuracy attached.

    Interrupted (Ctrl-C, SIGTERM, `cancel` for a remote device), it writes nothing: the local measurement
    process is killed by `subprocess.run`, a remote one by `run_on`; result.json is only written, atomically,
    after a finished measurement."""
    from edgebench.atomic import write_json

    model, accuracy = inputs[0].model, read_accuracy(inputs[1])
    if s["device"] == "local":
        from edgebench.artifact import ModelArtifact
        from edgebench.bench.measure import MeasureConfig, measure
        from edgebench.runtimes import options_class

        opts = options_class(s["runtime"]).from_dict({**s["runtime_options"], "intra_op_threads": s["threads"]})
        bench = {"warmup_iters": s["warmup_iters"], "min_iters": s["min_iters"], "min_seconds": s["min_seconds"],
                 "max_seconds": s["max_seconds"]}
        config = MeasureConfig(bench=bench, batch=s["batch"], machine_id=s["machine_id"], accuracy=accuracy)
        result = measure(ModelArtifact.resolve(model).hashed(), s["runtime"], opts, config)
    else:
        if device is None or device.name != s["device"]:
            raise DeviceError(f"device '{s['device']}' is not in this sweep's device registry")
        if s["machine_id"] is None:
            raise DeviceError(f"device '{s['device']}' did not answer the sweep's probe; see the sweep log")
        result = _bench_remote(s, inputs[0], device, out, cancel).with_accuracy(accuracy)
        if result.machine.id != s["machine_id"]:
            raise DeviceError(f"device '{s['device']}' measured on fingerprint id {result.machine.id}, the sweep "
                              f"probed {s['machine_id']} (another board behind the same name?); run the sweep again")
    result = result.merged(sweep={k: s[k] for k in ("sweep", "variant", "model", "precision", "preset",
                                                    "prune_ratio", "device")})
    write_json(out / RESULT_FILE, result.to_dict())
    lat, head = result.latency, headline_of(result.model.task)
    return {"result": RESULT_FILE, "p50_ms": lat.p50_ms, "p50_ci95_ms": list(lat.p50_ci95_ms),
            head.key: accuracy.get(head.key)}


STAGE_FUNCTIONS: dict[str, Callable[[dict[str, Any], Sequence[Input], Path], dict[str, Any]]] = {
    "export": stage_export, "import": stage_import, "prune": stage_prune, "quantize": stage_quantize,
    "convert": stage_convert, "evaluate": stage_evaluate, "bench": stage_bench,
}


def run_stage(node: Node, inputs: Sequence[Input], out: Path, device: Device | None = None,
              cancel: threading.Event | None = None) -> dict[str, Any]:
    """Run `node`'s stage into the (existing, empty) folder `out`; returns its outputs.

    `device`: the registry entry of a remote bench cell's device (the only stage that takes one);
    `cancel`: stops its remote run from another thread (see `stage_bench`).
    """
    if node.stage == "bench":
        return stage_bench(node.settings, inputs, Path(out), device, cancel)
    return STAGE_FUNCTIONS[node.stage](node.settings, inputs, Path(out))
