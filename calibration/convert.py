"""`edgebench convert`: a runtime's artifact beside the ONNX model, with its parity checked and a derived manifest.

    convert_model(Path("artifacts/resnet20"), "litert", "int8", data="cifar10:train")
    # -> artifacts/resnet20/litert/int8/model.tflite + model.json

The converter (`runtimes/<name>/convert.py`, from `runtimes.converters.get_converter`) writes into a fresh
temporary folder; the artifact is then loaded by its runtime and compared with ONNX Runtime on the FP32 model, on random
inputs and on real images. Only when parity holds is the folder renamed to `DIR/<runtime>/<precision>/`:
a converted model whose parity fails is never written (the reason is raised as a `ParityError`).

Parity (vs ORT FP32 on the same inputs), the agreement part by the manifest's task (`calibration.tasks`):
- FP32: max|diff| <= 1e-4 + 1e-4 * max|ref| on random inputs and real images, and on the real images top-1
  agreement >= 99 % (a classifier) or box agreement of the decoded boxes >= 99 % both ways (a detector);
- INT8: a classifier's top-1 agreement >= 95 % on the real images and top-1 within 2 points of FP32 (labelled
  data); a detector's box agreement >= 75 % both ways.
The real images default to the task's (`--parity-data auto`): cifar10:test for a classifier, the COCO sample
for a detector, which also calibrates a detector's INT8 when no --data is given.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from edgebench.atomic import ensure_writable_dir
from edgebench.errors import (
    CalibrationError,
    EdgebenchError,
    ModelFileError,
    OutputExistsError,
    ParityError,
    RuntimeUnavailable,
    UserInputError,
)
from edgebench.parity import ConvertTolerance, ParityReference, compare_outputs

if TYPE_CHECKING:
    from edgebench.manifest import InputInfo, Manifest
    from edgebench.runtimes.converters import ModuleBuilder
    from edgebench.task import Task

# the dataset: the task's (cifar10:train for a classifier); 300: NNCF's default subset size
DEFAULT_CALIBRATION = {"size": 300, "seed": 0}
DEFAULT_PARITY_DATA = "auto"  # the task's real images: cifar10:test for a classifier, the COCO sample for a detector
RANDOM_IMAGES = 8


@dataclass(frozen=True)
class ConvertConfig:
    """Everything `convert_model` takes besides the model: validated before any output exists."""

    runtime: str
    precision: str = "fp32"
    data: str | None = None          # INT8 calibration set (default: the ORT INT8 model's, else cifar10:train)
    calib_size: int | None = None
    seed: int = 0
    parity_data: str | None = DEFAULT_PARITY_DATA
    parity_images: int = 256
    out: Path | None = None          # the model folder (default: the folder of the ONNX model)
    force: bool = False
    threads: int = 1
    tolerance: ConvertTolerance = field(default_factory=ConvertTolerance)
    verbose: bool = False            # the converters' own output on the terminal instead of convert.log

    def __post_init__(self) -> None:
        from edgebench.runtimes.artifacts import check_precision

        check_precision(self.precision)
        if self.calib_size is not None and self.calib_size < 1:
            raise UserInputError(f"--calib-size {self.calib_size} must be >= 1")
        if self.parity_images < 1:
            raise UserInputError(f"--parity-images {self.parity_images} must be >= 1")
        if self.threads < 1:
            raise UserInputError(f"--threads {self.threads} must be >= 1")
        if self.precision == "fp32" and self.data is not None:
            raise UserInputError("--data is the INT8 calibration set; an FP32 conversion takes none (drop --data "
                                 "or add --precision int8)")


def convert_model(model: Path, config: ConvertConfig, log: Callable[[str], None] | None = None,
                  build_module: ModuleBuilder | None = None) -> Path:
    """Convert the FP32 ONNX model at `model` (or its folder) for `config.runtime`; returns the artifact file.

    `log` gets one progress line per stage; the converters' own output goes to `convert.log` in the artifact
    folder (to the terminal with `config.verbose`). `build_module` rebuilds the PyTorch module of a manifest
    (the exporter's `rebuild.build_module`, passed by the CLI and the sweep): the runtimes that convert from
    PyTorch (litert) need it."""
    from edgebench.atomic import check_writable_dir
    from edgebench.runtimes import RUNTIMES, get_runtime
    from edgebench.runtimes.artifacts import ARTIFACT_MANIFEST, artifact_dir
    from edgebench.runtimes.converters import CONVERT_LOG, ConvertJob, captured_output, get_converter

    onnx_path, manifest = _checked_parent(model, config, build_module)
    folder = Path(config.out) if config.out is not None else onnx_path.parent
    final = artifact_dir(folder, config.runtime, config.precision)
    if final.exists() and not config.force:
        raise OutputExistsError(f"'{final}' exists; pass --force to replace it")
    check_writable_dir(final.parent)  # before calibration and parity, not after
    converter = get_converter(config.runtime)            # missing converter packages: the workstation hint
    rt_cls = RUNTIMES.get(config.runtime)
    if not rt_cls().available():
        raise RuntimeUnavailable(f"runtime '{config.runtime}' (needed to check parity) is not installed; "
                                 f"{rt_cls.install_hint}")
    runtime = get_runtime(config.runtime)

    say = log or (lambda _m: None)
    calib, calib_record = (None, None)
    if config.precision == "int8":
        calib, calib_record = _calibration(onnx_path, manifest, config)
        say(f"calibration: {calib_record['images']} images of {calib_record['dataset']}")
    ref = _reference(onnx_path, manifest, config)
    real = f" and {len(ref.real_x)} images of {ref.dataset}" if ref.real_x is not None else ""
    say(f"reference: ONNX Runtime FP32 outputs on {len(ref.random_x)} random inputs{real}")

    ensure_writable_dir(final.parent)  # recorded: an error or Ctrl-C takes back the folders it made, when empty
    tmp = final.parent / f".tmp-{config.precision}-{os.getpid()}-{time.monotonic_ns()}"
    tmp.mkdir()
    try:
        t0 = time.perf_counter()
        where = "on the terminal (--verbose)" if config.verbose else f"its output in {final / CONVERT_LOG}"
        say(f"converting: {config.runtime} {config.precision} ({where})")
        job = ConvertJob(onnx_path=onnx_path, manifest=manifest, precision=config.precision, out_dir=tmp,
                         calibration=calib, build_module=build_module, extra={"threads": config.threads})
        with contextlib.nullcontext() if config.verbose else captured_output(tmp / CONVERT_LOG):
            out = converter(job)
        seconds = time.perf_counter() - t0
        child = _child_manifest(manifest, onnx_path, out, config, calib_record, seconds, final)
        from edgebench.atomic import write_json

        write_json(tmp / ARTIFACT_MANIFEST, child.to_dict())
        say(f"parity: {config.runtime} {config.precision} against ONNX Runtime FP32")
        with contextlib.nullcontext() if config.verbose else captured_output(tmp / CONVERT_LOG):
            sess = runtime.load(tmp / out.model_file.name, runtime.Options(intra_op_threads=config.threads))
            parity = _parity(sess, ref, config, manifest)
        write_json(tmp / ARTIFACT_MANIFEST, child.replace(parity=parity).to_dict())
        if not parity["passed"]:
            raise ParityError(f"{config.runtime} {config.precision} conversion of '{onnx_path}' refused, nothing "
                              f"written: {parity['reason']}")
        _move_into_place(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final / out.model_file.name


def _checked_parent(model: Path, config: ConvertConfig, build_module: ModuleBuilder | None) -> tuple[Path, Manifest]:
    """The FP32 ONNX parent and its manifest, refused before any work when `config.runtime` cannot convert it."""
    from edgebench.artifact import ModelArtifact
    from edgebench.runtimes import RUNTIMES, runtime_names

    runtime_names()  # registers the built-in and entry-point runtimes
    cls = RUNTIMES.get(config.runtime)  # unknown runtime: suggestion
    makes = getattr(cls, "converts", ())
    if config.precision not in makes:
        raise UserInputError(_no_such_precision(config.runtime, config.precision, makes))
    artifact = ModelArtifact.resolve(model)
    onnx_path, manifest = artifact.path, artifact.manifest
    if manifest is None or manifest.input is None:
        raise ModelFileError(f"'{onnx_path}' has no manifest with its input; convert a model made by edgebench "
                             "export (its folder or model.fp32.onnx)")
    if manifest.precision != "fp32":
        raise UserInputError(f"'{onnx_path.name}' is {manifest.precision}; convert the FP32 model "
                             f"({manifest.parent_file or 'model.fp32.onnx'}): the converter quantizes it itself")
    if getattr(cls, "converts_from", "onnx") == "pytorch":  # refused before any work
        if not manifest.arch:
            raise UserInputError(_no_pytorch_source(config.runtime, onnx_path, manifest.source == "described"))
        if build_module is None:
            raise EdgebenchError(f"the {config.runtime} converter starts from the PyTorch module: pass build_module "
                                 "(edgebench.exporter.rebuild.build_module) to convert_model")
    return onnx_path, manifest


def _move_into_place(tmp: Path, final: Path) -> None:
    """`tmp` becomes `final` (an existing `final` is replaced)."""
    if final.exists():
        old = final.parent / f".old-{final.name}-{os.getpid()}"
        final.rename(old)
        shutil.rmtree(old)
    tmp.rename(final)


def _no_pytorch_source(runtime: str, onnx_path: Path, described: bool) -> str:
    """Why a model without a PyTorch module cannot go to `runtime`, and the runtimes that convert from ONNX."""
    from edgebench.runtimes import RUNTIMES, runtime_names

    from_onnx = [f"{n} ({'/'.join(c.converts)})" for n in runtime_names() if (c := RUNTIMES.get(n)) is not None
                 and getattr(c, "converts", ()) and getattr(c, "converts_from", "onnx") == "onnx"]
    what = "a described third-party ONNX" if described else "not made by edgebench export"
    return (f"{runtime} conversion starts from the PyTorch module, and '{onnx_path.name}' has none ({what}: its "
            f"manifest names no 'arch'); these runtimes convert from the ONNX file and take it: "
            f"{', '.join(from_onnx) or 'none installed'} (e.g. edgebench convert {onnx_path} -r openvino "
            "--precision int8), or export the PyTorch model with edgebench export and convert that")


def _no_such_precision(runtime: str, precision: str, makes: tuple[str, ...]) -> str:
    if runtime == "openvino" and precision == "fp32":
        return ("OpenVINO reads the FP32 ONNX model directly, nothing to convert: edgebench bench MODEL -r openvino "
                "(--precision int8 makes the NNCF INT8 model)")
    from edgebench.runtimes import runtime_names
    from edgebench.runtimes.precisions import precision_way

    way = precision_way(runtime, precision) if runtime in runtime_names() else None
    if way is not None:  # bf16/fp16 by options on the FP32 model: its conversion (if any) is the fp32 one
        then = "" if runtime == "openvino" else f" after `edgebench convert MODEL -r {runtime}` (fp32)"
        return (f"{runtime} runs {precision} as the FP32 model with {way.how}: no {precision} conversion; run "
                f"edgebench bench MODEL -r {runtime} --precision {precision}{then}")
    if not makes:
        return (f"runtime '{runtime}' runs the ONNX or PyTorch model as it is; nothing to convert "
                "(convert makes models for openvino, litert, ncnn)")
    why = (" (ncnn's INT8 tools ncnn2table/ncnn2int8 are not in its wheel)" if runtime == "ncnn" else "")
    return f"runtime '{runtime}' has no {precision} conversion{why}; it has: {', '.join(makes)}"


def _calibration(onnx_path: Path, manifest: Manifest, config: ConvertConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """The INT8 calibration images: --data/--calib-size, else the ORT INT8 model's set, else the defaults."""
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.preprocess import preprocess
    from edgebench.manifest import find_typed_manifest

    spec: dict[str, Any] = {"dataset": _task(manifest).default_data("calibration"), **DEFAULT_CALIBRATION}
    source = "default"
    sibling = find_typed_manifest(onnx_path.parent / "model.int8.onnx")
    cal = sibling.calibration if sibling is not None else None
    if config.data is None and cal is not None and cal.dataset:
        spec["dataset"] = cal.dataset
        source = "model.int8.json (the ONNX Runtime INT8 model's dataset)"
    if config.data is not None:
        spec["dataset"], source = config.data, "--data"
    if config.calib_size is not None:
        spec["size"] = config.calib_size
    spec["seed"] = config.seed
    if spec["dataset"] is None:
        raise CalibrationError(f"no default calibration images for a {_task(manifest).name} model here (the COCO "
                               "sample coco/val2017_first128 is not under $EDGEBENCH_DATA or ../shared/data); give "
                               "--data IMAGES")
    info = _input(manifest)
    ds = load_dataset(str(spec["dataset"]), size=spec["size"], seed=spec["seed"], preprocessing=info.preprocessing,
                      input_hw=info.image_hw())
    if len(ds) == 0:
        raise CalibrationError(f"calibration set '{spec['dataset']}' is empty")
    x = preprocess(ds.images, info.preprocessing, info.image_hw())
    return x, {**spec, "images": len(ds), "sha256": ds.fingerprint(), "source": source}


def _input(manifest: Manifest) -> InputInfo:
    if manifest.input is None:  # convert_model refuses such a parent first
        raise ModelFileError(f"the manifest of '{manifest.onnx_file}' has no input; re-export the model")
    return manifest.input


def _task(manifest: Manifest | None) -> Task:
    """The manifest's task (none: classification)."""
    from edgebench.calibration.tasks import task_of

    return task_of(manifest)


def _reference(onnx_path: Path, manifest: Manifest, config: ConvertConfig) -> ParityReference:
    """ORT FP32 outputs on random inputs and on the first `parity_images` real images (the task's images for
    `auto`)."""
    from edgebench.errors import EdgebenchError
    from edgebench.runtimes import get_runtime

    info = _input(manifest)
    task = _task(manifest)
    shape = [1 if not isinstance(d, int) else d for d in info.shape]
    rng = np.random.default_rng(config.seed)
    random_x = rng.standard_normal((RANDOM_IMAGES, *shape[1:]), dtype=np.float32)
    ort = get_runtime("ort-cpu")
    sess = ort.load(onnx_path, ort.Options(intra_op_threads=config.threads, spin_wait=False))
    name = sess.inputs[0].name
    random_y = _run_each(sess, name, random_x)
    real_x = real_y = labels = data = None
    skipped = None
    spec = task.default_data("parity") if config.parity_data == DEFAULT_PARITY_DATA else config.parity_data
    if spec:
        try:
            real = task.parity_images(spec, manifest, config.parity_images)
        except EdgebenchError as e:
            skipped = f"real images not loaded ({e})"
        else:
            real_x, labels, data = real.x, real.labels, real.data
            real_y = _run_each(sess, name, real_x)
    elif config.parity_data:
        skipped = f"no default real images for a {task.name} model here"
    else:
        skipped = "no parity data given"
    if real_x is None and config.precision == "int8":
        raise CalibrationError(f"INT8 parity needs real images and {skipped}; give --parity-data (e.g. "
                               f"{task.parity_data_hint})")
    return ParityReference(random_x, random_y, real_x, real_y, labels, spec, skipped, data)


def _run_each(sess: Any, name: str, x: np.ndarray) -> np.ndarray:
    """One image at a time (batch 1): what every artifact takes, static or not."""
    return np.concatenate([next(iter(sess.run({name: x[i:i + 1]}).values())) for i in range(len(x))])


def _parity(sess: Any, ref: ParityReference, config: ConvertConfig, manifest: Manifest | None = None) -> dict[str, Any]:
    """The parity record of `sess` against `ref`: max|diff| for every task (the FP32 bound), the agreement of
    the manifest's task (`Task.convert_parity`; no manifest: classification)."""
    tol = config.tolerance
    task = _task(manifest)
    name = sess.inputs[0].name
    y = _run_each(sess, name, ref.random_x)
    if y.shape != ref.random_y.shape:
        return {"passed": False, "reason": f"output shape {list(y.shape)} differs from ONNX Runtime's "
                                           f"{list(ref.random_y.shape)}"}
    yr = _run_each(sess, name, ref.real_x) if ref.real_x is not None and ref.real_y is not None else None
    figures = task.convert_parity(y, yr, ref, config.precision, tol, manifest)
    rnd = compare_outputs(y, ref.random_y, tol.atol, tol.rtol)
    del rnd["passed"]  # the verdict is `passed` of the whole record (an INT8 bound is agreement, not max|diff|)
    out: dict[str, Any] = {"reference": "onnxruntime FP32", "tolerance": asdict(tol),
                           "random": {"n": len(y), **rnd, **figures.random}}
    reasons = []
    if config.precision == "fp32" and rnd["max_abs_diff"] > rnd["bound"]:
        reasons.append(f"random inputs max|diff| {rnd['max_abs_diff']:.2e} > bound {rnd['bound']:.2e}")
    if yr is not None and ref.real_y is not None:
        real: dict[str, Any] = {"dataset": ref.dataset, "n": len(yr),
                                **compare_outputs(yr, ref.real_y, tol.atol, tol.rtol), **figures.real}
        del real["passed"]
        out["real"] = real
        if config.precision == "fp32" and real["max_abs_diff"] > real["bound"]:
            reasons.append(f"real images max|diff| {real['max_abs_diff']:.2e} > bound {real['bound']:.2e}")
        reasons += figures.reasons
    else:
        out["real"] = {"skipped": ref.skipped}
    out["passed"] = not reasons
    out["reason"] = "; ".join(reasons) if reasons else None
    out["degenerate"] = bool(rnd["degenerate"] or out["real"].get("degenerate"))
    return out


def _child_manifest(parent: Manifest, onnx_path: Path, out: Any, config: ConvertConfig,
                    calib: dict[str, Any] | None, seconds: float, final: Path) -> Manifest:
    """`parent.derive(...)`: its network fields, this file, the runtime and converter (in `extra`), the parent's
    file (relative to the artifact folder) and sha256 (of the file as converted)."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from edgebench.manifest import sha256_file
    from edgebench.runtimes.static import artifact_size_mb

    details = dict(out.details)
    static_batch = details.pop("static_batch", None)
    changes: dict[str, Any] = {}
    if static_batch is not None and parent.input is not None:
        changes["input"] = replace(parent.input, shape=(static_batch, *parent.input.shape[1:]))
    if details.get("name_suffix"):
        changes["name"] = f"{parent.name or parent.arch or onnx_path.parent.name}-{details.pop('name_suffix')}"
    return parent.derive(
        precision=config.precision, onnx_file=out.model_file.name,
        onnx_sha256=sha256_file(out.model_file), file_size_mb=artifact_size_mb(out.model_file),
        parent_file=os.path.relpath(onnx_path, final), parent_sha256=sha256_file(onnx_path),
        parent_file_size_mb=onnx_path.stat().st_size / 1e6, calibration=calib,
        created_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        extra={**parent.extra, "runtime": config.runtime,
               "converter": {"name": out.converter, "version": out.converter_version, "seconds": seconds, **details},
               "static_shape": static_batch is not None},
        **changes,
    )
