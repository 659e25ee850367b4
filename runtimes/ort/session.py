"""ONNX Runtime on the CPU (`ort-cpu`): the runtime and its session (options: `runtimes/ort/options.py`)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from edgebench.artifact import check_model_file
from edgebench.errors import ModelFileError
from edgebench.runtimes.base import TensorSpec
from edgebench.runtimes.onnx_layout import normalized_bytes
from edgebench.runtimes.options import RuntimeOptions
from edgebench.runtimes.ort.options import OrtCpuOptions, cpu_session
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
        """`options` (coerced to OrtCpuOptions) as an `onnxruntime.SessionOptions`."""
        return OrtCpuOptions.coerce(options).session_options(profile_prefix)

    def load(self, model: Path, options: RuntimeOptions | None = None,
             profile_prefix: str | None = None) -> OrtSession:
        model = check_model_file(model)
        so = self.session_options(options, profile_prefix)
        plain = normalized_bytes(model)  # a zoo layout (initializers as inputs) or an IR version ORT cannot read
        try:
            sess = cpu_session(plain if plain is not None else model, so)
        except Exception as e:  # ORT raises pybind11 classes (InvalidProtobuf, Fail, ...) with no common base
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelFileError(
                f"'{model}' is not a loadable ONNX model (not ONNX, truncated or invalid): {first[:300]}"
            ) from e
        check_input_types(model, sess.get_inputs())
        return OrtSession(sess)
