"""PyTorch -> ONNX with checks: `onnx.checker`, optional onnxslim, parity against PyTorch, a manifest.

`export_model` writes ``DIR/model.fp32.onnx`` and ``DIR/model.fp32.json`` only when every check
passes; a failure leaves nothing new behind (work happens in a temporary folder inside DIR).

Exporter choice. torch 2.14.1 offers the TorchScript exporter (``dynamo=False``) and the
torch.export-based one (``dynamo=True``). Both match PyTorch on resnet20 and resnet18_cifar here
(max |diff| ~1e-5), but the dynamo exporter has shipped wrong ResNet graphs in recent releases
(pytorch/pytorch#169178: ResNet-18 at 0 % top-1 with torch 2.9.1; #166797: a Conv bias of the
wrong shape in ResNet-50), it writes opset 18 and silently keeps it when asked for a lower opset
(its version converter fails on Slice/Pad axes), and it takes 3-9x longer. The default is
therefore ``torchscript``; ``--exporter dynamo`` is there, and parity guards both.

Example::

    spec = get_spec("resnet20")
    loaded = load_model(get_spec("resnet20"), WeightsRequest())
    manifest = export_model(loaded.model, loaded.spec, Path("artifacts/resnet20"), weights=loaded.weights,
                            parity_dataset=load_cifar10("test"))      # a typed Manifest
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from edgebench.atomic import ensure_writable_dir, write_json
from edgebench.calibration.metrics import topk_hits
from edgebench.errors import EdgebenchError, ModelFileError, OutputExistsError, ParityError, UserInputError
from edgebench.manifest import Manifest, PrunedInfo, WeightsRecord, manifest_path
from edgebench.parity import ParityReference, ParityTolerance, compare_outputs, top1_agreement
from edgebench.system import default_threads

if TYPE_CHECKING:
    from edgebench.calibration.datasets import Dataset
    from edgebench.exporter.zoo import ModelSpec
    from torch import nn

EXPORTERS = ("torchscript", "dynamo")
DEFAULT_EXPORTER = "torchscript"  # see the module docstring: passes parity here, honours --opset, no known ResNet bug
DEFAULT_OPSET = 17  # every ORT >= 1.14 runs it, and onnxruntime.quantization handles it fully
DYNAMO_DEFAULT_OPSET = 18  # the opset the dynamo exporter writes natively (lower ones need its converter)
OPSET_RANGE = {"torchscript": (9, 20), "dynamo": (18, 23)}  # what each exporter of torch 2.14.1 writes
ONNX_FILE = "model.fp32.onnx"
OUTPUT_NAME = "logits"
RANDOM_PARITY_SAMPLES = 8


class ExportFailed(EdgebenchError):
    """torch.onnx could not produce a valid graph for this model (not a user-input problem)."""


def parse_batch(batch: int | str) -> int | None:
    """'dynamic' -> None; 'N' or N -> N (>= 1)."""
    if isinstance(batch, int) or (isinstance(batch, str) and batch.strip().isdigit()):
        n = int(batch)
        if n < 1:
            raise UserInputError(f"--batch {n} must be >= 1 or 'dynamic'")
        return n
    if isinstance(batch, str) and batch.strip().lower() == "dynamic":
        return None
    raise UserInputError(f"--batch '{batch}' is not 'dynamic' or a positive integer")


def default_opset(exporter: str) -> int:
    return DYNAMO_DEFAULT_OPSET if exporter == "dynamo" else DEFAULT_OPSET


def check_export_options(exporter: str, opset: int, *, parity_images: int = 0,
                         accuracy_images: int | None = None) -> None:
    """The export options (exporter, opset, image counts), checked before the model is loaded."""
    if parity_images < 0:
        raise UserInputError(f"--parity-images {parity_images} must be >= 0")
    if accuracy_images is not None and accuracy_images < 0:
        raise UserInputError(f"--accuracy-images {accuracy_images} must be >= 0")
    if exporter not in EXPORTERS:
        from edgebench.errors import suggest

        hint = suggest(exporter, EXPORTERS)
        raise UserInputError(f"--exporter '{exporter}' is not one of {', '.join(EXPORTERS)}.{hint}")
    lo, hi = OPSET_RANGE[exporter]
    if not lo <= opset <= hi:
        other = "dynamo" if exporter == "torchscript" else "torchscript"
        olo, ohi = OPSET_RANGE[other]
        raise UserInputError(
            f"--opset {opset} is outside what the {exporter} exporter writes ({lo}..{hi}); "
            f"use {lo}..{hi}, or --exporter {other} for {olo}..{ohi}"
        )


def count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass at batch 1 (torch.utils.flop_counter; MAC = FLOP / 2).

    Counts convolutions, linear layers and matmuls, the operations that dominate CNN cost; BN, ReLU,
    pooling and additions are not counted (the convention of the papers' MAC figures). The pass runs on a fake
    input (shapes only, no arithmetic: the same count, 6x faster on EfficientNet-Lite0), in eval mode (batch-norm
    statistics untouched).
    """
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with FakeTensorMode(allow_non_fake_inputs=True):
            x = torch.zeros((1, *input_shape[1:]), dtype=torch.float32)
            with FlopCounterMode(display=False) as fc, torch.inference_mode():
                model(x)
    finally:
        model.train(was_training)
    return int(fc.get_total_flops() // 2)


def _first_line(e: BaseException, limit: int = 300) -> str:
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return line.split("  [Caused by")[0].strip()[:limit]


def _export_raw(model: nn.Module, x: Any, path: Path, *, exporter: str, opset: int, dynamic: bool,
                input_name: str) -> None:
    """torch.onnx.export into `path`, quietly; errors become one clear line."""
    import torch

    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            if exporter == "torchscript":
                torch.onnx.export(
                    model, (x,), str(path), dynamo=False, opset_version=opset, do_constant_folding=True,
                    input_names=[input_name], output_names=[OUTPUT_NAME],
                    dynamic_axes={input_name: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic else None,
                )
            else:
                dyn = ({0: torch.export.Dim("batch", min=1, max=65536)},) if dynamic else None
                torch.onnx.export(
                    model, (x,), str(path), dynamo=True, opset_version=opset, external_data=False,
                    input_names=[input_name], output_names=[OUTPUT_NAME], dynamic_shapes=dyn, optimize=True,
                )
    except torch.onnx.errors.OnnxExporterError as e:
        raise UserInputError(
            f"the {exporter} exporter cannot express this model at opset {opset}: {_first_line(e)}; "
            f"try a higher --opset (default {DEFAULT_OPSET}) or the other --exporter"
        ) from None
    except Exception as e:  # torch.export / dynamo raise many unrelated classes; report one line
        raise ExportFailed(
            f"the {exporter} exporter failed on this model: {type(e).__name__}: {_first_line(e)}; "
            f"try --exporter {'dynamo' if exporter == 'torchscript' else 'torchscript'} (--debug for the traceback)"
        ) from e
    if not path.is_file():
        raise ExportFailed(f"the {exporter} exporter wrote no file")


def _check_onnx(path: Path, *, exporter: str, opset: int) -> None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    written = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:
        raise UserInputError(
            f"the {exporter} exporter wrote opset {written} although --opset {opset} was asked (it could not "
            f"convert this graph); use --opset {written} or --exporter "
            f"{'torchscript' if exporter == 'dynamo' else 'dynamo'}"
        )
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportFailed(f"the exported graph fails onnx.checker: {_first_line(e)}") from None


def _simplify(src: Path, dst: Path) -> None:
    import onnx
    import onnxslim

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slim = onnxslim.slim(onnx.load(str(src)))
    onnx.save(slim, str(dst))
    onnx.checker.check_model(str(dst), full_check=True)


def _ort_session(path: Path, threads: int) -> Any:
    from edgebench.runtimes import get_runtime
    from edgebench.runtimes.ort.options import OrtCpuOptions

    try:
        # no spin-waiting: parity is not a benchmark, and spinning threads slow a shared machine down
        opts = OrtCpuOptions(intra_op_threads=threads, spin_wait=False)
        return get_runtime("ort-cpu").load(path, opts)
    except ModelFileError as e:
        raise ExportFailed(f"ONNX Runtime cannot load the exported model: {e}; try another --opset") from None


def _torch_forward(model: nn.Module, x: np.ndarray, chunk: int) -> np.ndarray:
    import torch

    outs = []
    with torch.inference_mode():
        for i in range(0, len(x), chunk):
            outs.append(model(torch.from_numpy(x[i:i + chunk])).float().numpy())
    return np.concatenate(outs)


def _ort_forward(sess: Any, input_name: str, x: np.ndarray, chunk: int, fixed_batch: int | None) -> np.ndarray:
    """Run `x` through ORT in chunks; a fixed-batch model gets exactly `fixed_batch` rows (padded)."""
    size = fixed_batch or chunk
    outs = []
    for i in range(0, len(x), size):
        part = x[i:i + size]
        n = len(part)
        if fixed_batch is not None and n < fixed_batch:
            part = np.concatenate([part, np.repeat(part[-1:], fixed_batch - n, axis=0)])
        outs.append(sess.run({input_name: part})[OUTPUT_NAME][:n])
    return np.concatenate(outs)


def _reference(model: nn.Module, spec: ModelSpec, dataset: Dataset | None, parity_images: int,
               seed: int) -> ParityReference:
    """PyTorch outputs the ONNX candidates are compared with (computed once)."""
    from edgebench.calibration.preprocess import preprocess

    shape = tuple(int(d) for d in spec.input.shape[1:])
    rng = np.random.default_rng(seed)
    random_x = rng.standard_normal((RANDOM_PARITY_SAMPLES, *shape), dtype=np.float32)
    random_y = _torch_forward(model, random_x, 64)
    real_x = real_y = labels = None
    name = None
    if dataset is not None and parity_images > 0:
        ds = dataset.subset(parity_images)
        real_x = preprocess(ds.images, spec.input.preprocessing, spec.input_hw)
        real_y = _torch_forward(model, real_x, 100)
        labels, name = ds.labels, ds.name
    return ParityReference(random_x, random_y, real_x, real_y, labels, name)


def _topk_pct(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    return float(np.mean(topk_hits(logits, labels, k)) * 100.0)


def measure_parity(path: Path, ref: ParityReference, input_name: str, fixed_batch: int | None,
                   tol: ParityTolerance, threads: int) -> dict[str, Any]:
    """Parity figures of the ONNX file at `path` against `ref`; `passed` says whether `tol` holds."""
    sess = _ort_session(path, threads)
    out: dict[str, Any] = {"tolerance": asdict(tol)}
    # random inputs: batch 1 and a batch of 7 through a dynamic model (checks the batch axis), else the fixed batch
    if fixed_batch is None:
        y1 = _ort_forward(sess, input_name, ref.random_x[:1], 1, None)
        y7 = _ort_forward(sess, input_name, ref.random_x[1:], len(ref.random_x) - 1, None)
        onnx_y = np.concatenate([y1, y7])
        batches = [1, len(ref.random_x) - 1]
    else:
        onnx_y = _ort_forward(sess, input_name, ref.random_x, fixed_batch, fixed_batch)
        batches = [fixed_batch]
    if onnx_y.shape != ref.random_y.shape:
        raise ExportFailed(f"ONNX output shape {list(onnx_y.shape)} differs from PyTorch's {list(ref.random_y.shape)}")
    out["random"] = {"n": len(ref.random_x), "batches": batches,
                     **compare_outputs(onnx_y, ref.random_y, tol.atol, tol.rtol)}
    passed = out["random"]["passed"]
    if ref.real_x is not None and ref.real_y is not None:
        onnx_r = _ort_forward(sess, input_name, ref.real_x, 100, fixed_batch)
        real: dict[str, Any] = {"dataset": ref.dataset, "n": len(ref.real_x),
                                **compare_outputs(onnx_r, ref.real_y, tol.atol, tol.rtol)}
        if onnx_r.ndim == 2:  # class scores; a detector's raw grid [N, C, H, W] is held to the bound alone
            agree = top1_agreement(onnx_r, ref.real_y)
            real["top1_agreement"] = agree
            real["passed"] = real["passed"] and agree >= tol.min_top1_agreement
        if ref.labels is not None and onnx_r.ndim == 2 and onnx_r.shape[1] > int(ref.labels.max()):
            real["onnx_top1_pct"] = _topk_pct(onnx_r, ref.labels, 1)
            real["onnx_top5_pct"] = _topk_pct(onnx_r, ref.labels, 5)
            real["torch_top1_pct"] = _topk_pct(ref.real_y, ref.labels, 1)
        out["real"] = real
        passed = passed and real["passed"]
    out["passed"] = passed
    out["degenerate"] = bool(out["random"]["degenerate"] or out.get("real", {}).get("degenerate"))
    return out


def measure_accuracy(path: Path, spec: ModelSpec, dataset: Dataset, fixed_batch: int | None, threads: int,
                     limit: int | None) -> dict[str, Any] | None:
    """Top-1/top-5 of the ONNX file on `dataset` (first `limit` images) through ONNX Runtime.

    None when the dataset's labels or class names do not fit the model (accuracy would be meaningless).
    """
    from edgebench.calibration.preprocess import preprocess

    ds = dataset.subset(limit)
    if spec.input.class_names and ds.class_names and tuple(ds.class_names) != tuple(spec.input.class_names):
        return None
    sess = _ort_session(path, threads)
    hits1 = hits5 = 0
    for i in range(0, len(ds), 500):
        x = preprocess(ds.images[i:i + 500], spec.input.preprocessing, spec.input_hw)
        logits = _ort_forward(sess, spec.input.name, x, 100, fixed_batch)
        labels = ds.labels[i:i + 500]
        if int(labels.max()) >= logits.shape[1]:
            return None
        hits1 += int(topk_hits(logits, labels, 1).sum())
        hits5 += int(topk_hits(logits, labels, 5).sum())
    return {"dataset": ds.name, "n": len(ds), "top1_pct": 100.0 * hits1 / len(ds),
            "top5_pct": 100.0 * hits5 / len(ds), "runtime": "ort-cpu"}


def _output_info(spec: ModelSpec, batch_dim: int | str, shape: tuple[int, ...]) -> dict[str, Any]:
    """The manifest's `output`: name and shape; a detector also names its layout (`decoder`), which says how
    `edgebench eval` turns the raw output into boxes."""
    out: dict[str, Any] = {"name": OUTPUT_NAME, "shape": [batch_dim, *(int(d) for d in shape[1:])]}
    if spec.task == "detection":
        out.update(kind="detection-grid", decoder=spec.family)
    return out


def _parity_summary(p: dict[str, Any]) -> str:
    parts = [f"random max|diff| {p['random']['max_abs_diff']:.2e} (bound {p['random']['bound']:.2e})"]
    if "real" in p:
        r = p["real"]
        agree = f", top-1 agreement {r['top1_agreement'] * 100:.2f} %" if "top1_agreement" in r else ""
        parts.append(f"real images max|diff| {r['max_abs_diff']:.2e} (bound {r['bound']:.2e}){agree} on {r['n']}")
    return "; ".join(parts)


def _versions(exporter: str) -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    pkgs = ["edgebench", "torch", "torchvision", "onnx", "onnxruntime", "onnxslim"]
    if exporter == "dynamo":
        pkgs.append("onnxscript")
    for pkg in pkgs:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def export_model(
    model: nn.Module,
    spec: ModelSpec,
    out_dir: Path,
    *,
    opset: int | None = None,
    batch: int | str = "dynamic",
    exporter: str = DEFAULT_EXPORTER,
    simplify: bool = True,
    parity_dataset: Dataset | None = None,
    parity_images: int = 256,
    accuracy_images: int | None = 1000,
    force: bool = False,
    extra_manifest: Mapping[str, Any] | None = None,
    weights: WeightsRecord | Mapping[str, Any] | None = None,
    pruned: PrunedInfo | None = None,
    tolerance: ParityTolerance | None = None,
    threads: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> Manifest:
    """Export `model` to ``out_dir/model.fp32.onnx`` + manifest; return the manifest.

    `weights` describes the loaded checkpoint (a `WeightsRecord`, or its dict; None = random init);
    `pruned` the pruned round the model comes from; `extra_manifest` adds keys of your own (kept in `extra`).
    Raises ParityError (nothing written) when the ONNX graph does not match PyTorch within `tolerance`.
    """
    import torch

    tol = tolerance or ParityTolerance()
    if weights is None:
        record = WeightsRecord(source=WeightsRecord.RANDOM_INIT)
    else:
        record = weights if isinstance(weights, WeightsRecord) else WeightsRecord.from_dict(weights)
    opset = default_opset(exporter) if opset is None else opset
    check_export_options(exporter, opset, parity_images=parity_images, accuracy_images=accuracy_images)
    fixed_batch = parse_batch(batch)
    out_dir = ensure_writable_dir(Path(out_dir))
    onnx_final, json_final = _targets(out_dir, force)
    say = log or (lambda _msg: None)
    threads = threads or default_threads()

    model = model.eval().float().cpu()
    input_name = spec.input.name
    shape = tuple(int(d) for d in spec.input.shape[1:])
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        raw = work / "raw.onnx"
        example = torch.randn((fixed_batch or 2, *shape), generator=torch.Generator().manual_seed(seed))
        _export_raw(model, example, raw, exporter=exporter, opset=opset, dynamic=fixed_batch is None,
                    input_name=input_name)
        _check_onnx(raw, exporter=exporter, opset=opset)
        t_export = time.perf_counter() - t0
        say(f"exported with {exporter} at opset {opset} in {t_export:.1f} s; onnx.checker passed")

        ref = _reference(model, spec, parity_dataset, parity_images, seed)
        check = partial(measure_parity, ref=ref, input_name=input_name, fixed_batch=fixed_batch, tol=tol,
                        threads=threads)
        chosen, parity, simplify_info = _simplified(raw, work / "slim.onnx", check, say) if simplify else (
            raw, None, {"requested": False, "applied": False})
        if parity is None:
            parity = check(raw)
        if not parity["passed"]:
            raise ParityError(
                f"ONNX export of '{spec.name}' does not match PyTorch: {_parity_summary(parity)}; nothing was "
                f"written. Try --exporter {'dynamo' if exporter == 'torchscript' else 'torchscript'} or "
                "--no-simplify"
            )
        say(f"parity passed: {_parity_summary(parity)}")
        accuracy = None
        if parity_dataset is not None and accuracy_images != 0 and spec.task == "classification":
            accuracy = measure_accuracy(chosen, spec, parity_dataset, fixed_batch, threads, accuracy_images)

        params = count_params(model)
        # the published accuracy applies only to the published file itself
        published = spec.weights.top1_pct if spec.weights is not None and record.sha256 == spec.weights.sha256 \
            else None
        macs = count_macs(model, (1, *shape))
        batch_dim: int | str = "batch" if fixed_batch is None else fixed_batch
        manifest = Manifest(
            name=spec.name,
            arch=spec.name,
            family=spec.family,
            description=spec.description,
            input=replace(spec.input, shape=(batch_dim, *shape)),
            output=_output_info(spec, batch_dim, ref.random_y.shape),
            num_classes=int(ref.random_y.shape[1]) if spec.task == "classification" else spec.num_classes,
            task=None if spec.task == "classification" else spec.task,
            batch="dynamic" if fixed_batch is None else fixed_batch,
            params=params,
            macs=macs,
            macs_counter="torch.utils.flop_counter at batch 1 (conv, linear, matmul; MAC = FLOP/2)",
            weights=record,
            weights_sha256=record.sha256,
            published_top1_pct=published,
            fp32_accuracy=accuracy,  # named so a quantized child that keeps it still reads right
            pruned=pruned,
            precision="fp32",
            opset=opset,
            exporter=exporter,
            simplify=simplify_info,
            parity=parity,
            export_seconds=round(time.perf_counter() - t0, 3),
            created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
            versions=_versions(exporter),
        ).with_file(chosen).replace(onnx_file=ONNX_FILE)
        if extra_manifest:
            manifest = Manifest.from_dict({**manifest.to_dict(), **extra_manifest}, "extra_manifest")
        os.replace(chosen, onnx_final)
        try:
            write_json(json_final, manifest.to_dict())
        except BaseException:
            onnx_final.unlink(missing_ok=True)
            raise
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _targets(out_dir: Path, force: bool) -> tuple[Path, Path]:
    """The model file and manifest an export writes in `out_dir`; refused when either exists, unless `force`."""
    onnx_final = out_dir / ONNX_FILE
    json_final = manifest_path(onnx_final)
    if not force:
        for p in (onnx_final, json_final):
            if p.exists():
                raise OutputExistsError(f"'{p}' already exists; pass --force to overwrite it")
    return onnx_final, json_final


def _simplified(raw: Path, slim: Path, check: Callable[[Path], dict[str, Any]], say: Callable[[str], None]
                ) -> tuple[Path, dict[str, Any] | None, dict[str, Any]]:
    """onnxslim on `raw`, kept only if it passes parity (`check`): (the graph chosen, its parity or None when
    that is `raw`, not yet measured, the `simplify` record)."""
    info: dict[str, Any] = {"requested": True, "applied": False}
    chosen, parity = raw, None
    try:
        _simplify(raw, slim)
    except Exception as e:  # onnxslim raises assorted errors; the unsimplified graph is still good
        info["reason"] = f"onnxslim failed: {type(e).__name__}: {_first_line(e, 200)}"
    else:
        p = check(slim)
        if p["passed"]:
            chosen, parity = slim, p
            info["applied"] = True
        else:
            info["reason"] = f"simplified graph failed parity ({_parity_summary(p)})"
    if not info["applied"]:
        say(f"kept the unsimplified graph: {info['reason']}")
    return chosen, parity, info
