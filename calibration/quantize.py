"""Quantize an exported FP32 model: static INT8 (calibrated), dynamic INT8, or FP16.

Writes `model.int8.onnx` (or `model.int8-dynamic.onnx`, `model.fp16.onnx`) + its manifest, both
atomically and only after the result loaded and ran in ONNX Runtime. The model comes in as a
`ModelArtifact` (resolved once at the CLI edge; a Path is resolved here); its manifest is read once,
the file's sha256 is checked against it, and the child's manifest is `parent.derive(...)`. Needs `onnx` and
`onnxruntime.quantization` (the `export` extra), imported inside the functions.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from edgebench.artifact import ModelArtifact
from edgebench.atomic import atomic_path, write_json
from edgebench.calibration.dataset import Dataset
from edgebench.calibration.graph import INTEGER_OPS, QDQ_OPS, classify_nodes
from edgebench.calibration.reader import ImageCalibrationReader
from edgebench.calibration.recipes import PresetChoice
from edgebench.errors import CalibrationError, ModelFileError, OutputExistsError, RuntimeUnavailable, UserInputError
from edgebench.manifest import InputInfo, Manifest, manifest_path

Mode = Literal["static", "dynamic", "fp16"]
MODES = ("static", "dynamic", "fp16")
OUTPUT_NAMES = {"static": "model.int8.onnx", "dynamic": "model.int8-dynamic.onnx", "fp16": "model.fp16.onnx"}
PRECISIONS = {"static": "int8", "dynamic": "int8", "fp16": "fp16"}

# Images per calibrator pass (ORT's strided calibration). MinMax keeps only per-batch min/max; histogram
# methods keep whole activations of a pass and np.asarray() them, which also breaks on a short last batch,
# so they get one batch per pass.
CHUNK_IMAGES = {"minmax": 1024, "entropy": 1, "percentile": 1}
DEFAULT_CALIB_SIZE = 1000
# Per-channel QDQ needs opset 13 (axis on QuantizeLinear/DequantizeLinear); older graphs are upgraded first.
MIN_QUANT_OPSET = 13
Log = Callable[[str], None]


@dataclass(frozen=True)
class CalibrationSettings:
    """Which calibration images and how they are batched."""

    size: int | None = DEFAULT_CALIB_SIZE
    seed: int | None = 0
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 1:
            raise UserInputError(f"--calib-size {self.size} must be >= 1 (e.g. 500)")
        if self.batch_size < 1:
            raise UserInputError(f"--batch-size {self.batch_size} must be >= 1")


# ---- model checks -------------------------------------------------------------------------------------


def _import_onnx() -> Any:
    try:
        import onnx
        import onnxruntime.quantization  # noqa: F401
    except ImportError as e:
        raise RuntimeUnavailable(
            f"quantization needs onnx and onnxruntime.quantization ({e.name} is missing); "
            "pip install 'edgebench[export]' on the workstation"
        ) from None
    return onnx


def load_onnx(path: Path) -> Any:
    """The ModelProto at `path` (calibration.graph.load_graph), once quantization's own packages are known present."""
    from edgebench.calibration.graph import load_graph

    _import_onnx()
    return load_graph(path)


def quantized_ops(model: Any) -> list[str]:
    """Op types showing that `model` is already quantized (empty for a float model)."""
    found = sorted({n.op_type for n in model.graph.node
                    if n.op_type in QDQ_OPS or n.op_type in INTEGER_OPS or n.op_type.startswith("QLinear")})
    return found


def check_float_model(model: Any, path: Path, precision: str | None) -> None:
    """Refuse an already quantized (or FP16) model (`precision`: its manifest's): quantizing twice only loses
    accuracy."""
    from onnx import TensorProto

    ops = quantized_ops(model)
    if ops or precision in ("int8", "fp16"):
        what = f"holds {', '.join(ops)}" if ops else f"has precision '{precision}' in its manifest"
        raise UserInputError(
            f"'{path}' is already quantized ({what}); pass the FP32 parent (e.g. model.fp32.onnx) instead"
        )
    if any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer):
        raise UserInputError(f"'{path}' holds float16 weights; pass the FP32 model (e.g. model.fp32.onnx) instead")


def check_finite_weights(model: Any, path: Path) -> None:
    """Refuse a model whose float weights hold NaN/Inf: its scales cannot be computed (ONNX Runtime would stop
    on an assertion) and its outputs are meaningless anyway."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    floats = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16)
    bad = []
    for init in model.graph.initializer:
        if init.data_type in floats:
            n = int((~np.isfinite(numpy_helper.to_array(init).astype(np.float32))).sum())
            if n:
                bad.append((init.name, n))
    if bad:
        first = ", ".join(f"{name} ({n})" for name, n in bad[:3])
        raise ModelFileError(
            f"'{path}' has NaN/Inf weights in {len(bad)} tensor(s): {first}; it cannot be quantized (or give "
            "meaningful outputs): re-export it from a trained checkpoint"
        )


def graph_input(model: Any) -> tuple[str, list[int | str | None]]:
    """Name and dims of the one real input (initializers listed as inputs are skipped)."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ModelFileError(
            f"the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
            "edgebench quantizes one-input image models"
        )
    dims: list[int | str | None] = []
    for d in inputs[0].type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
    return inputs[0].name, dims


def output_producers(model: Any) -> tuple[str, ...]:
    """Op types of the nodes that write the graph outputs (e.g. ('Gemm',) for a classifier)."""
    outs = {o.name for o in model.graph.output}
    return tuple(sorted({n.op_type for n in model.graph.node if outs & set(n.output)}))


def count_nodes(model: Any, recipe: Any = None) -> dict[str, Any]:
    """How many compute nodes run in INT8 vs floating point (`calibration.graph.classify_nodes`, the one
    classification `profile` uses too), by op type, and each float node with the reason."""
    classes = classify_nodes(model, recipe)
    int8_ops: dict[str, int] = {}
    float_ops: dict[str, int] = {}
    for c in classes:
        if c.runs == "int8":
            int8_ops[c.op_type] = int8_ops.get(c.op_type, 0) + 1
        elif c.runs == "float":
            float_ops[c.op_type] = float_ops.get(c.op_type, 0) + 1
    return {
        "int8": sum(int8_ops.values()),
        "float": sum(float_ops.values()),
        "quantize_dequantize": sum(c.runs == "convert" for c in classes),
        "int8_op_types": dict(sorted(int8_ops.items())),
        "float_op_types": dict(sorted(float_ops.items())),
        "float_nodes": {c.name: c.reason for c in classes if c.runs == "float"},
    }


# ---- helpers ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence ORT quantization's prints, logging warnings and its C++ log (they are not errors)."""
    import onnxruntime as ort

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    ort.set_default_logger_severity(3)  # the sessions ORT's quantizer opens itself: no colour warnings on stderr
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        ort.set_default_logger_severity(2)  # ORT's default (warnings)
        root.setLevel(level)


def output_name(model: Path, mode: Mode) -> str:
    """The file name `mode` writes for `model`: `model.int8.onnx` (...) for `model.fp32.onnx`, else named after
    the input, so that two third-party models in one folder do not collide.

    >>> output_name(Path("a/model.fp32.onnx"), "static"), output_name(Path("thirdparty/mnv2.onnx"), "static")
    ('model.int8.onnx', 'mnv2.int8.onnx')
    >>> output_name(Path("x/mnv2.fp32.onnx"), "dynamic")
    'mnv2.int8-dynamic.onnx'
    """
    stem = Path(model).name.removesuffix(".onnx").removesuffix(".fp32")
    default = OUTPUT_NAMES[mode]
    return default if stem == "model" else f"{stem}{default.removeprefix('model')}"


def resolve_output(model: Path, output: Path | None, mode: Mode) -> Path:
    """`-o`: an .onnx file, or a folder that gets `output_name`; default: beside the model."""
    name = output_name(model, mode)
    if output is None:
        out = Path(model).parent / name
    elif Path(output).suffix == ".onnx":
        out = Path(output)
    else:
        out = Path(output) / name
    if out.resolve() == Path(model).resolve():
        raise UserInputError(f"output '{out}' is the input model; choose another -o")
    return out


def check_output(model: Path, output: Path | None, mode: Mode, force: bool) -> Path:
    """The output `resolve_output` gives, refused when it (or its manifest) exists without `force` or its folder
    cannot be written: the CLI calls it before the calibration data is read."""
    from edgebench.atomic import check_writable_dir

    out = resolve_output(model, output, mode)
    for p in (out, manifest_path(out)):
        if p.exists() and not force:
            raise OutputExistsError(f"'{p}' already exists; pass --force to overwrite it")
    check_writable_dir(out.parent)
    return out


def as_artifact(model: Path | ModelArtifact) -> ModelArtifact:
    """`model` as a ModelArtifact (a Path, folder or file, is resolved here; the CLI passes an artifact)."""
    return model if isinstance(model, ModelArtifact) else ModelArtifact.resolve(model)


def _parent(artifact: ModelArtifact) -> tuple[Manifest, InputInfo]:
    manifest = artifact.require_manifest("quantizing")
    if manifest.input is None:
        raise UserInputError(
            f"the manifest of '{artifact.path}' ({manifest_path(artifact.path).name}) has no 'input' telling its "
            "preprocessing; write it with `edgebench describe` (or export the model) before quantizing"
        )
    return manifest, manifest.input


def _spatial(info: InputInfo, dims: list[int | str | None]) -> tuple[int, int] | None:
    shape = list(info.shape) if info.shape else dims
    if len(shape) != 4:
        return None
    hw = shape[2:4] if info.preprocessing.layout == "NCHW" else shape[1:3]
    return (hw[0], hw[1]) if all(isinstance(d, int) and d > 0 for d in hw) else None


def _calibrate_with_ort(call: Callable[[], object], model: Path | ModelArtifact) -> None:
    """Run ORT's quantizer (`call`), which runs the model on the calibration data: ORT failing to run it is the
    model's fault, one line (exit 2), not an internal error; any other error passes through."""
    from edgebench.runtimes.ort.options import ort_errors

    try:
        call()
    except ort_errors() as e:
        first = (str(e).splitlines() or [type(e).__name__])[0][:300]
        raise ModelFileError(f"ONNX Runtime cannot run '{getattr(model, 'path', model)}' on the calibration data "
                             f"({first}); check it with `edgebench bench MODEL` first: a quantizable model must run "
                             "in ONNX Runtime's CPU provider") from e


def _smoke_run(path: Path, input_name: str, x: np.ndarray) -> None:
    """Load the written model and run one batch: a model that cannot run is never kept."""
    from edgebench.runtimes.ort.options import cpu_session

    try:
        sess = cpu_session(path, intra_op_threads=1)
        out = sess.run(None, {input_name: x})
    except Exception as e:  # ORT's pybind errors have no common base
        raise ModelFileError(f"the quantized model does not run in ONNX Runtime ({str(e).splitlines()[0][:300]})"
                             ) from e
    if not all(np.isfinite(o).all() for o in out if np.issubdtype(np.asarray(o).dtype, np.floating)):
        raise CalibrationError("the quantized model outputs NaN/Inf on the calibration data; check the data and recipe")


@contextlib.contextmanager
def _quantizer_input(model: Path, opset: int | None, preprocess: bool, log: Log | None
                     ) -> Iterator[tuple[Path, dict[str, Any] | None]]:
    """The file ORT's quantizer reads, in a temporary folder while the block runs: `model` at a quantizable opset
    (`upgrade_opset`), then through quant_pre_process when `preprocess`; with the opset upgrade's record."""
    with tempfile.TemporaryDirectory(prefix="edgebench-quant-") as td:
        src, upgrade = upgrade_opset(model, opset, Path(td), log)
        yield (_pre_process(src, Path(td)) if preprocess else src), upgrade


def _pre_process(model: Path, tmp_dir: Path) -> Path:
    """ORT's quant_pre_process (ONNX shape inference + graph optimizations) into `tmp_dir`."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    dst = tmp_dir / "preprocessed.onnx"
    try:
        with _quiet():
            quant_pre_process(str(model), str(dst), skip_symbolic_shape=True)
    except Exception as e:  # ORT/onnx raise many unrelated types here
        raise ModelFileError(f"quant_pre_process failed on '{model}' ({type(e).__name__}: {e}); "
                             "retry with --no-preprocess") from e
    return dst


def _divisor_at_most(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, max(cap, 1)) + 1) if n % d == 0)


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for p in ("edgebench", "onnx", "onnxruntime"):
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def _manifest(source: _Source, mode: Mode, **fields: Any) -> Manifest:
    """The child's manifest: `Manifest.derive` keeps the network fields (input, arch, params, ...) and records
    the parent; this step adds what it did."""
    path = source.path
    return source.parent.derive(
        precision=PRECISIONS[mode],
        onnx_file=source.out.name,
        quantization_mode=mode,
        parent_file=path.name,
        parent_sha256=source.parent_sha256,
        parent_file_size_mb=path.stat().st_size / 1e6,
        created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
        versions=_versions(),
        **fields,
    )


def _write_pair(out: Path, force: bool, write_model: Any, make_manifest: Any) -> Manifest:
    """Write the model via `write_model(tmp_path)` and its manifest; both appear only if both succeed."""
    with atomic_path(out, force=force) as tmp:
        write_model(tmp)
        manifest = make_manifest(tmp).with_file(tmp).replace(onnx_file=out.name)
        write_json(manifest_path(out), manifest.to_dict(), force=force)
    return manifest


# ---- the three modes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """A float model checked and ready to convert: what every mode needs before it writes anything."""

    path: Path
    proto: Any
    parent: Manifest
    parent_sha256: str
    info: InputInfo
    out: Path
    input_name: str
    dims: list[int | str | None]
    opset: int | None = None


def check_node_names(model: Any, names: tuple[str, ...], option: str = "--exclude-nodes") -> None:
    """Every name in `names` is a node of `model` (a typo would otherwise be silently ignored)."""
    from edgebench.errors import suggest

    known = [n.name for n in model.graph.node if n.name]
    for name in names:
        if name not in set(known):
            shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
            raise UserInputError(f"{option}: the model has no node named '{name}'; its nodes include {shown}."
                                 f"{suggest(name, known)} (`edgebench profile` lists them)")


def check_op_types(model: Any, op_types: tuple[str, ...], option: str = "--exclude-ops") -> None:
    """Every op type in `op_types` occurs in `model` (a typo such as Foo would otherwise be silently ignored)."""
    from edgebench.errors import suggest

    present = sorted({n.op_type for n in model.graph.node})
    for op in op_types:
        if op not in present:
            raise UserInputError(f"{option}: the model has no '{op}' node; its op types are {', '.join(present)}."
                                 f"{suggest(op, present)} (names are case-sensitive, e.g. Conv,Gemm)")


def _prepare(model: Path | ModelArtifact, output: Path | None, mode: Mode, force: bool,
             nodes_to_exclude: tuple[str, ...] = (), op_types_to_exclude: tuple[str, ...] = ()) -> _Source:
    """Load and check the float model (its manifest read once, its sha256 checked against it), resolve the
    output and refuse to overwrite it without --force."""
    artifact = as_artifact(model)
    parent, info = _parent(artifact)
    proto = load_onnx(artifact.path)
    check_float_model(proto, artifact.path, parent.precision)
    check_finite_weights(proto, artifact.path)
    check_node_names(proto, nodes_to_exclude)
    check_op_types(proto, op_types_to_exclude)
    out = check_output(artifact.path, output, mode, force)
    sha = artifact.verify()
    input_name, dims = graph_input(proto)
    opset = next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return _Source(artifact.path, proto, parent, sha, info, out, input_name, dims, opset)


def upgrade_opset(model: Path, opset: int | None, tmp_dir: Path, log: Log | None = None
                  ) -> tuple[Path, dict[str, Any] | None]:
    """`model` made plain for ONNX Runtime and at opset >= MIN_QUANT_OPSET: initializers listed as graph inputs
    are removed from them and an IR version ORT cannot read lowered (`runtimes.onnx_layout.normalize_model`),
    external data read in, and an older graph is converted with `onnx.version_converter`, into `tmp_dir` (each
    said through `log`); returns the path to quantize and the opset record for the manifest (or None)."""
    from edgebench.runtimes.onnx_layout import initializer_inputs, normalize_model, ort_reads_ir

    onnx = _import_onnx()
    proto = onnx.load(str(model), load_external_data=False)
    old = opset is not None and opset < MIN_QUANT_OPSET
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    if not (old or external or initializer_inputs(proto) or not ort_reads_ir(int(proto.ir_version))):
        return model, None
    proto = onnx.load(str(model))
    changes = normalize_model(proto)
    if external:  # quant_pre_process works in a folder of its own, where the data file is not
        changes.append("external data read into the graph")
    if old:
        from onnx import version_converter

        try:
            proto = version_converter.convert_version(proto, MIN_QUANT_OPSET)
            onnx.checker.check_model(proto)
        except Exception as e:  # the converter raises RuntimeError/ValidationError/InferenceError
            raise ModelFileError(
                f"'{model}' is at opset {opset}; quantization needs opset >= {MIN_QUANT_OPSET} and the ONNX version "
                f"converter could not upgrade it ({type(e).__name__}: {' '.join(str(e).split())[:200]}); re-export "
                f"the model at opset {MIN_QUANT_OPSET} or newer"
            ) from None
        changes += normalize_model(proto)  # the converter keeps the IR version (and a zoo layout) it was given
    dst = tmp_dir / (f"opset{MIN_QUANT_OPSET}.onnx" if old else "plain.onnx")
    onnx.save(proto, str(dst))
    if log is not None and changes:
        log(f"{model.name}: {'; '.join(dict.fromkeys(changes))} before quantizing")
    if not old:
        return dst, None
    if log is not None:
        log(f"{model.name} is at opset {opset}: upgraded to opset {MIN_QUANT_OPSET} with onnx.version_converter "
            "before quantizing (per-channel INT8 needs it); the INT8 model is opset "
            f"{MIN_QUANT_OPSET}")
    return dst, {"from": opset, "to": MIN_QUANT_OPSET, "by": "onnx.version_converter"}


def _file_fields(onnx: Any, tmp: Path, upgrade: dict[str, Any] | None) -> dict[str, Any]:
    """`nodes` of the written child, and for an upgraded graph its `opset` and `graph.opset_upgraded`."""
    child = onnx.load(str(tmp))
    fields: dict[str, Any] = {"nodes": count_nodes(child)}
    if upgrade is not None:
        fields["opset"] = next((int(o.version) for o in child.opset_import if o.domain in ("", "ai.onnx")), None)
        fields["graph"] = {"opset_upgraded": upgrade}
    return fields


def quantize_static_model(model: Path | ModelArtifact, dataset: Dataset, choice: PresetChoice, *,
                          output: Path | None = None, batch_size: int = 32, dataset_spec: str | None = None,
                          seed: int | None = None, preprocess_model: bool = True, force: bool = False,
                          log: Log | None = None, extra_fields: dict[str, Any] | None = None,
                          requested_size: int | None = None) -> Manifest:
    """Calibrate on `dataset` and write static INT8 `model.int8.onnx` + manifest; return the manifest.

    `requested_size`: the images asked for (`--calib-size`); fewer used (a smaller data set, a fixed batch that
    takes whole batches) is said through `log` as a `note:` and recorded (`calibration.requested_size`).
    A graph below opset 13 is upgraded first (`upgrade_opset`; said through `log`, recorded in the manifest).
    `extra_fields`: more manifest fields for the child (e.g. `accuracy_aware`)."""
    extra_fields = extra_fields or {}
    onnx = _import_onnx()
    from onnxruntime.quantization import quantize_static

    source = _prepare(model, output, "static", force, choice.recipe.nodes_to_exclude,
                      choice.recipe.op_types_to_exclude)
    check_node_names(source.proto, choice.recipe.int8_nodes, "8-bit fallback (recipe int8_nodes)")
    model, info, out, input_name, dims = source.path, source.info, source.out, source.input_name, source.dims
    fixed_batch = dims[0] if dims and isinstance(dims[0], int) and dims[0] > 0 else None
    if fixed_batch is not None:
        batch_size = fixed_batch
    reader = ImageCalibrationReader(dataset, input_name, info.preprocessing, expected_hw=_spatial(info, dims),
                                    batch_size=batch_size, drop_last=fixed_batch is not None)
    channels = dims[1] if info.preprocessing.layout == "NCHW" and len(dims) == 4 else (dims[-1] if dims else None)
    if isinstance(channels, int) and channels > 0 and dataset.images.shape[-1] != channels:
        raise CalibrationError(f"calibration images have {dataset.images.shape[-1]} channels but the model input "
                               f"'{input_name}' wants {channels}; convert the images")
    for b in range(len(reader)):  # every batch checked (size, channels, NaN/Inf) before any work is done
        reader.batch(b)
    _note_reduced(requested_size, len(dataset), reader.num_images, fixed_batch, dataset_spec or dataset.name, log)
    recipe = choice.recipe
    kwargs = recipe.to_ort_kwargs(output_op_types=output_producers(source.proto))
    chunk = max(1, CHUNK_IMAGES[recipe.method] // batch_size)
    kwargs["extra_options"]["CalibStridedMinMax"] = _divisor_at_most(len(reader), chunk)
    source = replace(source, proto=None)  # the parsed graph is not needed any more; free it
    upgrade: dict[str, Any] | None = None

    def write_model(tmp: Path) -> None:
        nonlocal upgrade
        with _quantizer_input(model, source.opset, preprocess_model, log) as (src, upgrade):
            reader.set_range(0, len(reader))
            args = kwargs
            if recipe.int8_nodes and recipe.weight_bits == 4:  # these nodes' weights at the preset's 8 bits
                from edgebench.calibration.bits import weight_inputs

                weights = weight_inputs(onnx.load(str(src), load_external_data=False), recipe.int8_nodes)
                extra = {**kwargs["extra_options"], "TensorQuantOverrides": recipe.int8_weight_overrides(weights)}
                args = {**kwargs, "extra_options": extra}
            with _quiet():
                _calibrate_with_ort(lambda: quantize_static(str(src), str(tmp), reader, **args), model)
        if recipe.weight_bits not in (8, 4):  # no ONNX type for it: int8 storage, narrowed values
            from edgebench.calibration.bits import narrow_weights

            proto = onnx.load(str(tmp))
            narrow_weights(proto, recipe.weight_bits, skip=recipe.int8_nodes)
            if recipe.int8_nodes and recipe.reduce_range:  # the preset's 8-bit weights are 7-bit (no VNNI)
                narrow_weights(proto, 7, only=recipe.int8_nodes)
            onnx.save(proto, str(tmp))
        reader.set_range(0, len(reader))
        _smoke_run(tmp, input_name, reader.batch(0))

    def make_manifest(tmp: Path) -> Manifest:
        return _manifest(
            source, "static",
            recipe=recipe.to_dict(),
            preset=choice.to_dict(),
            calibration={
                "dataset": dataset_spec or dataset.name,
                "size": reader.num_images,
                **({"requested_size": requested_size} if requested_size is not None else {}),
                "seed": seed,
                "batch_size": batch_size,
                "sha256": dataset.subset(reader.num_images).fingerprint(),
                "method": recipe.method,
                "quant_pre_process": preprocess_model,
            },
            **{**_file_fields(onnx, tmp, upgrade), "nodes": _nodes(tmp, recipe)},
            **extra_fields,
        )

    return _write_pair(out, force, write_model, make_manifest)


def _note_reduced(requested: int | None, available: int, used: int, fixed_batch: int | None, data: str,
                  log: Log | None) -> None:
    """Say, before any work, when fewer calibration images are used than were asked for."""
    if requested is None or used >= requested or log is None:
        return
    why = []
    if available < requested:
        why.append(f"{data} has {available}")
    if used < available:
        why.append(f"the model's fixed batch of {fixed_batch} takes whole batches only")
    log(f"note: calibrating on {used} images, not the {requested} asked for (--calib-size): {'; '.join(why)}")


def _nodes(path: Path, recipe: Any) -> dict[str, Any]:
    """count_nodes of the written graph, plus (for widths other than 8/8) what ORT's CPU really computes with."""
    import onnx
    from edgebench.calibration.bits import activation_types, executed_ops, weight_types

    proto = onnx.load(str(path))
    nodes = count_nodes(proto, recipe)
    nodes["weight_types"] = weight_types(proto)
    nodes["activation_types"] = activation_types(proto)
    if (recipe.weight_bits, recipe.activation_bits) != (8, 8):
        nodes["ort_cpu"] = executed_ops(path)
    return nodes


def quantize_dynamic_model(model: Path | ModelArtifact, choice: PresetChoice, *, output: Path | None = None,
                           preprocess_model: bool = True, force: bool = False, log: Log | None = None) -> Manifest:
    """Dynamic INT8 (weights quantized offline, activations at run time): no calibration data."""
    onnx = _import_onnx()
    from onnxruntime.quantization import quantize_dynamic

    source = _prepare(model, output, "dynamic", force, choice.recipe.nodes_to_exclude,
                      choice.recipe.op_types_to_exclude)
    model, out, input_name, dims = source.path, source.out, source.input_name, source.dims
    source = replace(source, proto=None)
    kwargs = choice.recipe.to_ort_dynamic_kwargs()
    upgrade: dict[str, Any] | None = None

    def write_model(tmp: Path) -> None:
        nonlocal upgrade
        with _quantizer_input(model, source.opset, preprocess_model, log) as (src, upgrade), _quiet():
            quantize_dynamic(str(src), str(tmp), **kwargs)
        _smoke_run(tmp, input_name, _zeros(dims))

    def make_manifest(tmp: Path) -> Manifest:
        return _manifest(source, "dynamic", recipe=choice.recipe.to_dict(), preset=choice.to_dict(),
                         **_file_fields(onnx, tmp, upgrade))

    return _write_pair(out, force, write_model, make_manifest)


def convert_fp16_model(model: Path | ModelArtifact, *, output: Path | None = None, force: bool = False) -> Manifest:
    """FP16 weights and compute, FP32 inputs/outputs kept (`keep_io_types`) so callers feed the same data."""
    onnx = _import_onnx()
    from onnxruntime.transformers.float16 import convert_float_to_float16

    source = _prepare(model, output, "fp16", force)
    proto, out, input_name, dims = source.proto, source.out, source.input_name, source.dims

    def write_model(tmp: Path) -> None:
        from edgebench.runtimes.onnx_layout import normalize_model

        normalize_model(proto)  # a zoo layout or an IR version ORT cannot read: the FP16 child is plain
        with _quiet():
            half = convert_float_to_float16(proto, keep_io_types=True)
        onnx.save(half, str(tmp))
        _smoke_run(tmp, input_name, _zeros(dims))

    def make_manifest(tmp: Path) -> Manifest:
        return _manifest(source, "fp16")

    return _write_pair(out, force, write_model, make_manifest)


def _zeros(dims: list[int | str | None]) -> np.ndarray:
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in dims]
    return np.zeros(shape, np.float32)
