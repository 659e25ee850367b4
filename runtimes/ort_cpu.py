"""ONNX Runtime on the CPU (`ort-cpu`)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from edgebench.artifact import check_model_file
from edgebench.errors import ModelFileError
from edgebench.runtimes.base import TensorSpec
from edgebench.runtimes.onnx_layout import normalized_bytes
from edgebench.runtimes.options import OrtCpuOptions, RuntimeOptions
from edgebench.runtimes.registry_runtimes import RUNTIMES

if TYPE_CHECKING:
    import numpy as np

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}

_OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else (d or None) for d in arg.shape)
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type))


def check_input_types(model: Path, inputs: Any) -> None:
    """Refuse a model with an input edgebench cannot feed (a string, a sequence, a map, int16...)."""
    for a in inputs:
        if not a.shape:
            raise ModelFileError(f"'{model}': input '{a.name}' is a scalar (rank 0); edgebench feeds batched "
                                 "tensors [N, ...]")
        if a.type not in _ORT_TYPES:
            raise ModelFileError(
                f"'{model}': input '{a.name}' is {a.type}; edgebench feeds tensors of "
                f"{', '.join(sorted(_ORT_TYPES.values()))} only (image models take float or uint8 pixels)"
            )


class OrtSession:
    """A loaded ONNX Runtime InferenceSession."""

    def __init__(self, sess: Any) -> None:
        self.ort_session = sess
        self.inputs = [_spec(a) for a in sess.get_inputs()]
        self.outputs = [_spec(a) for a in sess.get_outputs()]
        self._output_names = [o.name for o in self.outputs]

    def effective_options(self) -> dict[str, object]:
        """What ORT actually uses (it runs sequentially when parallel mode has one inter-op thread)."""
        so = self.ort_session.get_session_options()
        return {
            "intra_op_threads": so.intra_op_num_threads,
            "inter_op_threads": so.inter_op_num_threads,
            "execution_mode": "parallel" if so.execution_mode.name == "ORT_PARALLEL" else "sequential",
            "memory_arena": so.enable_cpu_mem_arena,
        }

    def bind(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], object]:
        """IOBinding: the inputs bound once (read in place), outputs left in ORT; the call runs the model."""
        import numpy as np

        io = self.ort_session.io_binding()
        kept = {s.name: np.ascontiguousarray(feeds[s.name]) for s in self.inputs}  # bound by address: kept alive
        for name, x in kept.items():
            io.bind_cpu_input(name, x)
        for name in self._output_names:
            io.bind_output(name, "cpu")
        run_with = self.ort_session.run_with_iobinding

        def run(_inputs: dict[str, np.ndarray] = kept) -> None:
            run_with(io)

        return run

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = self.ort_session.run(self._output_names, dict(feeds))
        return dict(zip(self._output_names, values, strict=True))


@RUNTIMES.register("ort-cpu")
class OrtCpuRuntime:
    """ONNX Runtime, CPUExecutionProvider, with every session option set explicitly."""

    name: ClassVar[str] = "ort-cpu"
    install_hint: ClassVar[str] = "pip install onnxruntime"
    Options: ClassVar[type[OrtCpuOptions]] = OrtCpuOptions
    # --precision fp16 is the model.fp16.onnx of `edgebench quantize --mode fp16` (a file, no option)
    cannot_run: ClassVar[dict[str, str]] = {
        "bf16": "ONNX Runtime's CPU provider has no bfloat16 Conv/Gemm kernels (-r openvino --precision bf16 has)"}

    def available(self) -> bool:
        return importlib.util.find_spec("onnxruntime") is not None

    def version(self) -> str:
        import onnxruntime as ort

        return str(ort.__version__)

    def session_options(self, options: RuntimeOptions | None = None, profile_prefix: str | None = None) -> Any:
        import onnxruntime as ort

        options = OrtCpuOptions.coerce(options)
        so = ort.SessionOptions()
        so.intra_op_num_threads = options.intra_op_threads
        so.inter_op_num_threads = options.inter_op_threads
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _OPT_LEVELS[options.graph_optimization])
        so.execution_mode = (
            ort.ExecutionMode.ORT_PARALLEL if options.execution_mode == "parallel"
            else ort.ExecutionMode.ORT_SEQUENTIAL
        )
        so.enable_cpu_mem_arena = options.memory_arena
        so.log_severity_level = 3
        if not options.spin_wait:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if options.enable_profiling:
            so.enable_profiling = True
            if profile_prefix:
                so.profile_file_prefix = profile_prefix
        for key, value in options.config_entries:
            so.add_session_config_entry(key, value)
        return so

    def load(self, model: Path, options: RuntimeOptions | None = None,
             profile_prefix: str | None = None) -> OrtSession:
        import onnxruntime as ort

        model = check_model_file(model)
        so = self.session_options(options, profile_prefix)
        plain = normalized_bytes(model)  # a zoo layout (initializers as inputs) or an IR version ORT cannot read
        try:
            sess = ort.InferenceSession(plain if plain is not None else str(model), sess_options=so,
                                        providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises pybind11 classes (InvalidProtobuf, Fail, ...) with no common base
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelFileError(
                f"'{model}' is not a loadable ONNX model (not ONNX, truncated or invalid): {first[:300]}"
            ) from e
        check_input_types(model, sess.get_inputs())
        return OrtSession(sess)
