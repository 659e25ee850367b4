"""OpenVINO on the CPU (`openvino`): reads ONNX files directly (FP32, edgebench's QDQ INT8) and its own IR.

`edgebench convert MODEL --runtime openvino --precision int8` writes an NNCF-quantized IR
(`DIR/openvino/int8/model.xml`); FP32 needs no conversion (the ONNX file is read as it is).
Threads: `INFERENCE_NUM_THREADS`, `NUM_STREAMS=1`, `PERFORMANCE_HINT=LATENCY`, and
`INFERENCE_PRECISION_HINT=f32` so float layers stay FP32 (the ARM plugin defaults to f16, x86 with
avx512_bf16/AMX to bf16). `--precision bf16|fp16` sets the hint to bf16/f16 on the FP32 model; the session
records what the compiled model really runs (`execution_precision`, from its runtime model) and refuses
a hint the CPU replaces (f16 on x86 without fp16 arithmetic runs as bf16).

Example::

    rt = get_runtime("openvino")
    sess = rt.load(Path("artifacts/resnet20/model.fp32.onnx"), rt.Options(intra_op_threads=1))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from edgebench.errors import ModelFileError, UserInputError
from edgebench.runtimes.base import RunOnlyRuntime, TensorSpec
from edgebench.runtimes.openvino.options import OpenVinoOptions
from edgebench.runtimes.options import PrecisionWay, RuntimeOptions
from edgebench.runtimes.registry_runtimes import RUNTIMES
from edgebench.runtimes.static import artifact_info, check_feeds, load_file

if TYPE_CHECKING:
    import numpy as np

# OpenVINO element types -> edgebench precisions; the compute layers whose runtime precision is read back
_PRECISION = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "i8": "int8", "u8": "int8"}
_COMPUTE = ("Convolution", "GroupConvolution", "Deconvolution", "FullyConnected", "MatMul")
_HINT = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_NP = {"f32": "float32", "f16": "float16", "i8": "int8", "u8": "uint8", "i32": "int32", "i64": "int64"}


class OpenVinoSession:
    """A compiled OpenVINO model and one infer request."""

    def __init__(self, compiled: Any, info: dict[str, Any]) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.inputs = [_spec(p) for p in compiled.inputs]
        self.outputs = [_spec(p) for p in compiled.outputs]
        self.info = info
        self.precision: str = info["precision"]

    def bind(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], object]:
        """`set_input_tensor` once (sharing the arrays' memory); the call is `infer()` with outputs not copied."""
        import numpy as np
        import openvino as ov

        check_feeds(self.inputs, feeds)
        kept = [np.ascontiguousarray(feeds[s.name]) for s in self.inputs]  # the tensors share this memory
        for i, x in enumerate(kept):
            self.request.set_input_tensor(i, ov.Tensor(x, shared_memory=True))
        infer = self.request.infer

        def run(_inputs: list[np.ndarray] = kept) -> None:
            infer(None, False, True)  # no inputs to set, share_outputs: no copy of the outputs

        return run

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import numpy as np

        check_feeds(self.inputs, feeds)
        res = self.request.infer({s.name: np.ascontiguousarray(feeds[s.name]) for s in self.inputs})
        return {s.name: np.array(res[p]) for s, p in zip(self.outputs, self.compiled.outputs, strict=True)}


def _spec(port: Any) -> TensorSpec:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    et = port.get_element_type().get_type_name()
    return TensorSpec(port.get_any_name(), shape, _NP.get(et, et))


def core_config(options: OpenVinoOptions) -> dict[str, Any]:
    cfg: dict[str, Any] = {"INFERENCE_NUM_THREADS": options.intra_op_threads, "NUM_STREAMS": options.num_streams,
                           "PERFORMANCE_HINT": options.performance_hint.upper()}
    if not options.cpu_pinning:  # on: the plugin's default where it pins at all (Linux), so left to it
        cfg["ENABLE_CPU_PINNING"] = False
    if options.inference_precision != "default":
        cfg["INFERENCE_PRECISION_HINT"] = options.inference_precision
    return cfg


@RUNTIMES.register("openvino")
class OpenVinoRuntime(RunOnlyRuntime, engine="openvino", dist="openvino"):
    """OpenVINO CPU plugin: an .onnx (FP32 or QDQ INT8) or an OpenVINO IR .xml (NNCF INT8)."""

    name: ClassVar[str] = "openvino"
    Options: ClassVar[type[OpenVinoOptions]] = OpenVinoOptions
    # --precision bf16/fp16: the FP32 model (ONNX or IR) compiled with INFERENCE_PRECISION_HINT
    reduced_precisions: ClassVar[dict[str, PrecisionWay]] = {
        p: PrecisionWay("fp32", (("inference_precision", _HINT[p]),), f"INFERENCE_PRECISION_HINT={_HINT[p]}")
        for p in ("bf16", "fp16")}
    # precisions `edgebench convert --runtime openvino` makes, and its converter
    converts: ClassVar[tuple[str, ...]] = ("int8",)
    converter_packages: ClassVar[tuple[str, ...]] = ("openvino", "nncf")
    converts_from: ClassVar[str] = "onnx"  # OpenVINO + NNCF read the ONNX file
    reads_onnx: ClassVar[bool] = True
    # the options of each stream's session in the multi/offline/server scenarios (bench/runner.py): with its own
    # pinning on, the plugin runs every session of a process on the same core (2 one-thread streams on 2 cores
    # served half of what they serve unpinned) and resets the affinity --pin-streams gave the stream's thread
    stream_options: ClassVar[dict[str, Any]] = {"cpu_pinning": False}

    def load(self, model: Path, options: RuntimeOptions | None = None) -> OpenVinoSession:
        import openvino as ov

        opts = OpenVinoOptions.coerce(options)
        model = load_file(model, (".onnx", ".xml"), self.name)
        core = ov.Core()
        try:
            m = core.read_model(str(model))
        except RuntimeError as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ModelFileError(f"OpenVINO cannot read '{model}': {first[:300]}") from e
        try:
            compiled = core.compile_model(m, "CPU", core_config(opts))
        except RuntimeError as e:
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            raise UserInputError(f"OpenVINO cannot compile '{model}' for the CPU: {' '.join(lines[-2:])[:300]}") from e
        info = artifact_info(model)
        effective = {k: str(compiled.get_property(k)) for k in
                     ("INFERENCE_NUM_THREADS", "NUM_STREAMS", "INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT",
                      "ENABLE_CPU_PINNING")}
        info.update({"device": "CPU", "properties": effective})
        info.update(execution_precision(compiled))
        if info["precision"] == "fp32" and opts.inference_precision in ("bf16", "f16"):
            info["precision"] = {"bf16": "bf16", "f16": "fp16"}[opts.inference_precision]
            # refused only when no compute layer runs it (some may stay FP32: 'mixed', with the counts recorded)
            if info["precision"] not in info["execution_precisions"]:
                caps = ", ".join(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
                raise UserInputError(
                    f"OpenVINO on this CPU runs INFERENCE_PRECISION_HINT={opts.inference_precision} as "
                    f"{info['execution_precision']} (compute layers: {info['execution_precisions']}; CPU "
                    f"capabilities: {caps}): no {info['precision']} arithmetic here; use --precision "
                    f"{info['execution_precision']}")
        return OpenVinoSession(compiled, info)


def execution_precision(compiled: Any) -> dict[str, Any]:
    """What the compiled model really runs: the runtime precision of its compute layers (Convolution,
    FullyConnected, MatMul), read from the runtime model's `runtimePrecision`; `mixed` when they differ.

    Also returns the counts per precision, so `{'fp32': 2, 'bf16': 19}` shows the layers left in FP32.
    """
    counts: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        if "layerType" not in rt or rt["layerType"].astype(str) not in _COMPUTE or "runtimePrecision" not in rt:
            continue
        p = rt["runtimePrecision"].astype(str)
        p = _PRECISION.get(p, p)
        counts[p] = counts.get(p, 0) + 1
    main = next(iter(counts)) if len(counts) == 1 else ("mixed" if counts else "unknown")
    if main == "mixed" and set(counts) - {"int8"} == {"fp32"}:
        main = "int8"  # an INT8 model: float layers are reported per precision in the counts
    return {"execution_precision": main, "execution_precisions": counts,
            "execution_precision_source": "OpenVINO runtime model: runtimePrecision of the compute layers"}
