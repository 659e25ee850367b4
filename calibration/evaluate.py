"""Accuracy of an ONNX model on a labelled image dataset, with the preprocessing its manifest names.

Torch-free: ONNX Runtime (or any registered runtime) + numpy. The per-image top-1 predictions are
returned too, so two models (FP32 and INT8) can be compared image by image.

Example::

    r = evaluate(Path("artifacts/resnet20/model.fp32.onnx"), "cifar10", limit=1000)
    r["top1_pct"], r["top5_pct"], r["n"]

An INT8 model is measured with the arithmetic its ONNX graph specifies: where this CPU's ONNX Runtime
integer kernels do not reproduce it (`calibration.recipes.host_arithmetic`: e.g. U8S8 without
reduce_range on x86 without VNNI, whose int16 pair sums saturate), `arithmetic="auto"` runs the QDQ graph
with graph optimizations disabled (DequantizeLinear -> float op -> QuantizeLinear) instead; see
docs/int8-arithmetic.md. The result says which: ``arithmetic`` is ``host-kernels`` or ``qdq-reference``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
from edgebench.calibration.metrics import paired_metrics, topk_hits
from edgebench.errors import CalibrationError, UserInputError, check_one_of
from edgebench.manifest import image_hw
from edgebench.system import default_threads

if TYPE_CHECKING:
    from edgebench.calibration.datasets import Dataset
    from edgebench.manifest import InputInfo, Manifest
    from edgebench.runtimes.options import RuntimeOptions

DEFAULT_BATCH_SIZE = 100
Arithmetic = Literal["auto", "host", "qdq"]
ARITHMETIC_MODES = ("auto", "host", "qdq")
HOST_KERNELS, QDQ_REFERENCE = "host-kernels", "qdq-reference"


def _usable_cores() -> int:
    return default_threads()


@dataclass(frozen=True)
class ArithmeticPlan:
    """How an evaluation runs a model: `qdq` loads it with graph optimizations disabled (no QDQ fusion).

    `arithmetic` is what the result records (``host-kernels`` or ``qdq-reference``); `warnings` holds one
    sentence when this CPU's integer kernels do not reproduce the model's arithmetic.
    """

    qdq: bool
    arithmetic: str
    reason: str
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"arithmetic": self.arithmetic, "arithmetic_reason": self.reason, "warnings": list(self.warnings)}


def plan_arithmetic(manifest: Manifest | None, runtime: str = "ort-cpu", arithmetic: str = "auto",
                    cpu: Mapping[str, Any] | None = None) -> ArithmeticPlan:
    """Which arithmetic to evaluate a model with (pure given `cpu`, the fingerprint's `cpu` section).

    ``host``: the runtime's optimized session (this CPU's integer kernels). ``qdq``: the QDQ graph with
    graph optimizations disabled, the arithmetic the ONNX graph specifies (what a device with exact
    kernels computes). ``auto``: ``qdq`` for an INT8 QDQ model whose arithmetic this CPU's kernels do not
    reproduce, else ``host``. Float models and runtimes other than ort-cpu always use ``host``.

    >>> zen3 = {"arch": "x86_64", "isa": {"avx2": True}}
    >>> from edgebench.manifest import Manifest
    >>> m = Manifest(precision="int8", recipe={"weight_type": "int8", "reduce_range": False})
    >>> plan_arithmetic(m, cpu=zen3).arithmetic, plan_arithmetic(m, arithmetic="host", cpu=zen3).arithmetic
    ('qdq-reference', 'host-kernels')
    """
    from edgebench.calibration.recipes import model_arithmetic

    check_one_of("--arithmetic", arithmetic, ARITHMETIC_MODES)
    if runtime != "ort-cpu":
        if arithmetic == "qdq":
            raise UserInputError(f"--arithmetic qdq (--as-target) needs --runtime ort-cpu, not '{runtime}': only "
                                 "ONNX Runtime runs the QDQ graph unfused; drop the option for this runtime")
        return ArithmeticPlan(False, HOST_KERNELS, f"runtime {runtime} runs its own kernels")
    if cpu is None:
        from edgebench.cpu import cpu_info

        cpu = cpu_info()
    choice = model_arithmetic(manifest, cpu)
    if choice is None:
        return ArithmeticPlan(False, HOST_KERNELS, "not an INT8 model (no recipe in its manifest): float kernels")
    recipe = manifest.recipe if manifest is not None else None
    qoperator = recipe is not None and recipe.quant_format == "qoperator"
    dynamic = manifest is not None and manifest.quantization_mode == "dynamic"
    if qoperator or dynamic:
        what = "QOperator" if qoperator else "dynamic INT8"
        if arithmetic == "qdq":
            raise UserInputError(f"--arithmetic qdq (--as-target) needs a QDQ model; this one is {what} (integer "
                                 "ops that stay integer when unfused); re-quantize it with "
                                 "edgebench quantize --mode static "
                                 "(every preset writes QDQ)")
        warn = () if choice.exact else (
            f"this CPU's ONNX Runtime integer kernels do not reproduce this {what} model's arithmetic "
            f"({choice.reason}), and a {what} model has no float reference to run instead: the accuracy is this "
            "CPU's, not necessarily the device's",)
        return ArithmeticPlan(False, HOST_KERNELS, choice.reason, warn)
    use_qdq = arithmetic == "qdq" or (arithmetic == "auto" and not choice.exact)
    if use_qdq:
        why = ("requested" if arithmetic == "qdq" else "chosen because the host's kernels are not exact") + \
              f": {choice.reason}"
        warn = () if choice.exact else (
            f"this CPU's ONNX Runtime integer kernels would give other results for this INT8 model "
            f"({choice.reason}); the accuracy reported is that of the exact QDQ arithmetic (graph optimizations "
            "disabled), which is what the device computes",)
        return ArithmeticPlan(True, QDQ_REFERENCE, why, warn)
    warn = () if choice.exact else (
        f"this CPU's ONNX Runtime integer kernels saturate for this INT8 model ({choice.reason}): the accuracy "
        "reported is this host's, not the model's; use --arithmetic qdq (--as-target) for what the device "
        "computes",)
    return ArithmeticPlan(False, HOST_KERNELS, choice.reason, warn)


def evaluation_session(path: Path, runtime: str, threads: int, plan: ArithmeticPlan,
                       options: RuntimeOptions | None = None) -> Any:
    """The runtime session an evaluation runs: optimized (host kernels), or unoptimized for the QDQ reference.

    `options`: the runtime's own options (e.g. torch-int8's calibration set, openvino's bf16 hint); threads, spin
    and graph optimization (where the Options have them) are set here over them.
    """
    from dataclasses import replace

    if options is not None and options.runtime not in (runtime, None):
        raise UserInputError(f"runtime options of '{options.runtime}' given to an evaluation on '{runtime}'")

    from edgebench.runtimes import get_runtime
    from edgebench.runtimes.ort.options import OrtCpuOptions

    # ONNX Runtime's graph optimization decides the arithmetic; other runtimes take the shared fields only
    common = {"intra_op_threads": threads, "spin_wait": False,
              "graph_optimization": "disable" if plan.qdq else "all"}
    if options is None:
        opts: RuntimeOptions = OrtCpuOptions(**common)
    else:  # the fields this runtime's Options has (torch-int8's have threads, not ORT's graph levels)
        opts = replace(options, **{k: v for k, v in common.items() if k in options.field_names()})
    return get_runtime(runtime).load(path, opts)


def evaluate(
    model_path: Path,
    dataset: Dataset | str,
    *,
    runtime: str = "ort-cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
    limit: int | None = None,
    threads: int | None = None,
    data_dir: Path | None = None,
    download: bool = True,
    arithmetic: Arithmetic = "auto",
    cpu: Mapping[str, Any] | None = None,
    manifest: Manifest | None = None,
    runtime_options: RuntimeOptions | None = None,
    labels_file: Path | None = None,
) -> dict[str, Any]:
    """Top-1/top-5 of `model_path` on `dataset` (a Dataset or a spec such as ``cifar10``).

    `runtime_options`: the runtime's own Options (e.g. `TorchInt8Options` with its calibration set).
    `labels_file`: the labels of a flat image folder (`load_eval_dataset`).

    `manifest` replaces the one beside the model (e.g. built in memory by `describe_manifest` for a model that
    has none). A model whose manifest says its output is not class scores (`output.kind` 'other') is refused.

    Returns ``top1_pct``, ``top5_pct``, ``n``, ``predictions`` (top-1 class per image, in dataset
    order), ``labels``-free metadata (dataset name and fingerprint, runtime, threads, seconds), and
    ``arithmetic`` / ``arithmetic_reason`` / ``warnings`` (see `plan_arithmetic`; `cpu` defaults to
    this host's).
    """
    from edgebench.artifact import ModelArtifact

    check_count("--batch-size", batch_size)
    check_count("--limit", limit)
    artifact = ModelArtifact.resolve(model_path)
    path = artifact.path
    manifest = manifest if manifest is not None else artifact.manifest
    plan = plan_arithmetic(manifest, runtime, arithmetic, cpu)
    info = _input_info(path, manifest)
    kind = output_kind(manifest, path)
    ds = dataset if not isinstance(dataset, str) else load_eval_dataset(dataset, manifest, data_dir, download,
                                                                         labels_file, size=limit)
    ds = _labelled_for(ds.require_labels("evaluation").subset(limit), manifest, info)
    threads = threads or _usable_cores()
    sess = evaluation_session(path, runtime, threads, plan, runtime_options)
    fixed = _fixed_batch(sess, path, ds)
    step = fixed or batch_size

    t0 = time.perf_counter()
    preds, top1, top5, nonfinite, num_classes = _scored(sess, ds, info, path, step, fixed)
    seconds = time.perf_counter() - t0
    n_total = len(ds)
    out: dict[str, Any] = {
        "model": str(path),
        "model_sha256": artifact.hashed().sha256 if path.is_file() else None,  # which file, wherever it ran
        "dataset": ds.name,
        "dataset_sha256": ds.fingerprint(),
        "n": n_total,
        "top1_pct": 100.0 * top1 / n_total,
        "top5_pct": 100.0 * top5 / n_total,
        "num_classes": num_classes,
        "runtime": runtime,
        "threads": threads,
        "batch_size": step,
        "output_kind": kind,
        "seconds": seconds,
        "nonfinite_logits": nonfinite,  # NaN/Inf outputs (e.g. NaN weights): the figures are meaningless
        **plan.to_dict(),
        # bf16/fp16 deployments: what the runtime reports it ran (None where it reports nothing, e.g. ORT)
        "precision": (getattr(sess, "info", None) or {}).get("precision"),
        "execution_precision": (getattr(sess, "info", None) or {}).get("execution_precision"),
        "predictions": np.concatenate(preds).astype(int).tolist(),
    }
    if nonfinite:
        out["warnings"].append(f"the model output {nonfinite} NaN/Inf logits (NaN weights?); its accuracy is "
                               "meaningless")
    return out


def _input_info(path: Path, manifest: Manifest | None) -> InputInfo:
    """The model's input as its manifest records it (how its images are preprocessed); refused without one."""
    info = manifest.input if manifest is not None else None
    if info is None:
        raise CalibrationError(
            f"'{path}' has no manifest ({path.with_suffix('.json').name}) saying how its images are preprocessed; "
            f"write one with `edgebench describe {path} --preprocessing imagenet|tf-lite|cifar10|unit|symmetric|"
            "caffe-bgr` (or --input-like / --mean --std ...), or give those same options to eval, or export the model "
            "with `edgebench export`: evaluation does not guess"
        )
    return info


def _labelled_for(ds: Dataset, manifest: Manifest, info: InputInfo) -> Dataset:
    """`ds`, refused when its labels or class names do not fit the model's classes."""
    from edgebench.calibration.labels import check_labels_fit

    check_labels_fit(ds, manifest.num_classes or len(info.class_names) or None)
    if info.class_names and ds.class_names and tuple(info.class_names) != tuple(ds.class_names):
        raise CalibrationError(
            f"dataset '{ds.name}' has classes {list(ds.class_names)[:4]}... but the model predicts "
            f"{list(info.class_names)[:4]}...; evaluate on the dataset the model was trained for ({info.dataset})"
        )
    return ds


def _fixed_batch(sess: Any, path: Path, ds: Dataset) -> int | None:
    """The batch a fixed-batch one-input classifier takes (None: any); refuses more inputs, or fewer graph
    outputs than the dataset's labels need."""
    from edgebench.calibration.labels import check_labels_fit

    if len(sess.inputs) != 1:
        raise CalibrationError(f"'{path}' has {len(sess.inputs)} inputs; evaluation handles one-input classifiers")
    spec = sess.inputs[0]
    out_shape = sess.outputs[0].shape
    if len(out_shape) == 2 and isinstance(out_shape[1], int) and out_shape[1] > 0:  # the graph's count (-1: unknown)
        check_labels_fit(ds, out_shape[1])
    return spec.shape[0] if isinstance(spec.shape[0], int) and spec.shape[0] > 0 else None


class _Tally(NamedTuple):
    predictions: list[np.ndarray]
    top1: int
    top5: int
    nonfinite: int
    num_classes: int | None


def _scored(sess: Any, ds: Dataset, info: InputInfo, path: Path, step: int, fixed: int | None) -> _Tally:
    """Run the model over `ds` in batches of `step` (a fixed batch's last one padded): predictions and hits."""
    from edgebench.calibration.preprocess import preprocess

    spec = sess.inputs[0]
    hw = image_hw(spec.shape, info.preprocessing.layout)
    out_name = sess.outputs[0].name
    preds: list[np.ndarray] = []
    top1 = top5 = nonfinite = 0
    num_classes = None
    for i in range(0, len(ds), step):
        images, labels = ds.images[i:i + step], ds.labels[i:i + step]
        x = preprocess(images, info.preprocessing, hw)
        n = len(x)
        if fixed is not None and n < fixed:
            x = np.concatenate([x, np.repeat(x[-1:], fixed - n, axis=0)])
        logits = np.asarray(sess.run({spec.name: x})[out_name])[:n]
        if logits.ndim != 2:
            raise CalibrationError(
                f"'{path}' output '{out_name}' has shape {list(logits.shape)}; expected [N, classes]"
            )
        num_classes = logits.shape[1]
        nonfinite += int((~np.isfinite(logits)).sum())
        if int(labels.max()) >= num_classes:
            raise CalibrationError(
                f"dataset '{ds.name}' has label {int(labels.max())} but the model has {num_classes} outputs"
            )
        preds.append(logits.argmax(axis=1))
        top1 += int((preds[-1] == labels).sum())  # argmax, as the predictions: INT8 logits can tie
        top5 += int(topk_hits(logits, labels, 5).sum())
    return _Tally(preds, top1, top5, nonfinite, num_classes)


def check_count(option: str, value: int | None) -> None:
    """A count option (--limit, --batch-size) is >= 1 when given: one line naming it otherwise."""
    if value is not None and value < 1:
        raise UserInputError(f"{option} {value} must be >= 1")


def load_eval_dataset(spec: str, manifest: Manifest | None, data_dir: Path | None = None, download: bool = True,
                      labels_file: Path | None = None, size: int | None = None, fit: bool = True) -> Dataset:
    """The dataset `spec` labelled in the model's class order (names/wnids mapped through the manifest's classes),
    an image folder decoded with the manifest's resize/crop (so images of any size load; `fit=False`: as they are);
    `size`: its first N images only (an image folder decodes only those)."""
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.labels import classes_for

    info = manifest.input if manifest is not None else None
    classes = classes_for(info.dataset, info.class_names, manifest.num_classes) if manifest and info else None
    pp = info.preprocessing if info else None
    if pp is not None and not fit:  # decoded as they are; only the channel count (grey models) is kept
        from dataclasses import replace

        pp = replace(pp, resize=None, crop=None)
    return load_dataset(spec, data_dir, download, preprocessing=pp, classes=classes, labels_file=labels_file,
                        size=size)


def _geometry(manifest: Manifest | None) -> tuple[Any, ...] | None:
    """What the image loader applies of a manifest's preprocessing: resize, crop and interpolation."""
    pp = manifest.input.preprocessing if manifest is not None and manifest.input is not None else None
    return (pp.resize, pp.crop, pp.interpolation) if pp is not None else None


def output_kind(manifest: Manifest | None, path: Path) -> str:
    """The manifest's output kind ('logits' when it does not say); a non-classification output is refused."""
    from edgebench.calibration.describe import CLASS_OUTPUT_KINDS

    out = (manifest.output if manifest is not None else None) or {}
    kind = str(out.get("kind") or "logits")
    if kind not in CLASS_OUTPUT_KINDS:
        raise UserInputError(
            f"output '{out.get('name')}' {list(out.get('shape') or [])} of '{path}' is '{kind}', not one score per "
            "class (the output kind `edgebench describe` read from the graph): eval measures classification "
            "top-1/top-5 and cannot score it; `edgebench bench` still measures its speed and memory"
        )
    return kind


def evaluate_pair(model_path: Path, baseline_path: Path, dataset: Dataset | str, *, limit: int | None = None,
                  data_dir: Path | None = None, download: bool = True, manifest: Manifest | None = None,
                  baseline_manifest: Manifest | None = None, labels_file: Path | None = None,
                  baseline_runtime_options: RuntimeOptions | None = None, **kwargs: Any) -> dict[str, Any]:
    """Evaluate `model_path` and `baseline_path` on the same images; add `paired_metrics`.

    The baseline runs with `baseline_runtime_options` (default: the runtime's defaults, i.e. FP32), so one
    FP32 file can be paired with itself run in bf16/fp16 (`runtime_options` selecting that precision).

    Returns ``{"model": evaluate(...), "baseline": evaluate(...), "paired": {...}}``.
    """
    from edgebench.artifact import ModelArtifact

    ma, mb = ModelArtifact.resolve(model_path), ModelArtifact.resolve(baseline_path)
    a, b = ma.path, mb.path
    if a.resolve() == b.resolve() and kwargs.get("runtime_options") == baseline_runtime_options:
        raise UserInputError(f"--baseline '{baseline_path}' is the model itself; give the other model (e.g. FP32)")
    pm = manifest if manifest is not None else ma.manifest
    bm = baseline_manifest if baseline_manifest is not None else mb.manifest
    # images are resized while loading only when both models resize alike; else each model's `preprocess` resizes
    # the decoded images once (a Lite1 loaded at 272 would be resized again to Lite0's 256)
    ds = dataset if not isinstance(dataset, str) else load_eval_dataset(
        dataset, pm, data_dir, download, labels_file, size=limit, fit=_geometry(pm) == _geometry(bm))
    ds = ds.require_labels("evaluation").subset(limit)
    r = evaluate(a, ds, manifest=manifest, **kwargs)
    rb = evaluate(b, ds, manifest=baseline_manifest, **{**kwargs, "runtime_options": baseline_runtime_options})
    return {"model": r, "baseline": rb, "paired": paired_metrics(r["predictions"], rb["predictions"], ds.labels)}
