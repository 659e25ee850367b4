"""LiteRT (TensorFlow Lite's successor, XNNPACK kernels) on the CPU (`litert`), run-only: `ai-edge-litert`.

Loads the `.tflite` that `edgebench convert MODEL --runtime litert [--precision int8]` writes on the
workstation (`DIR/litert/<precision>/model.tflite`). An INT8 model takes int8 input and gives int8 output:
the session quantizes the float input and dequantizes the output with the tensors' own scale and zero
point, so callers feed and read float32 as with every runtime. Static shapes only (batch 1).

Example::

    rt = get_runtime("litert")
    sess = rt.load(Path("artifacts/resnet20/litert/int8/model.tflite"), rt.Options(intra_op_threads=1))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from edgebench.errors import ModelFileError
from edgebench.runtimes.base import RunOnlyRuntime, TensorSpec
from edgebench.runtimes.litert.options import LiteRtOptions
from edgebench.runtimes.options import RuntimeOptions
from edgebench.runtimes.registry_runtimes import RUNTIMES
from edgebench.runtimes.static import artifact_info, check_feeds, load_file

if TYPE_CHECKING:
    import numpy as np


def _np_name(dtype: Any) -> str:
    import numpy as np

    return np.dtype(dtype).name


class LiteRtSession:
    """A LiteRT Interpreter; float32 in and out whatever the model's own input/output types."""

    def __init__(self, interpreter: Any, info: dict[str, Any]) -> None:
        self.interpreter = interpreter
        self._in = interpreter.get_input_details()
        self._out = interpreter.get_output_details()
        self.inputs = [TensorSpec(_name(d, "input", i, len(self._in)), tuple(int(x) for x in d["shape"]), "float32")
                       for i, d in enumerate(self._in)]
        self.outputs = [TensorSpec(_name(d, "output", i, len(self._out)), tuple(int(x) for x in d["shape"]),
                                   "float32") for i, d in enumerate(self._out)]
        self.info = {**info, "io_dtypes": {"input": [_np_name(d["dtype"]) for d in self._in],
                                           "output": [_np_name(d["dtype"]) for d in self._out]}}
        self.precision: str = info["precision"]

    def bind(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], object]:
        """The input buffers set once (quantized once for an INT8 model); the call is `invoke()`."""
        self._set_inputs(feeds)
        return self.interpreter.invoke

    def _set_inputs(self, feeds: Mapping[str, np.ndarray]) -> None:
        import numpy as np

        check_feeds(self.inputs, feeds)
        for spec, d in zip(self.inputs, self._in, strict=True):
            x = np.asarray(feeds[spec.name], dtype=np.float32)
            if np.dtype(d["dtype"]) != np.float32:
                scale, zero = d["quantization"]
                info = np.iinfo(d["dtype"])
                x = np.clip(np.round(x / scale) + zero, info.min, info.max)
            self.interpreter.set_tensor(d["index"], np.ascontiguousarray(x, dtype=d["dtype"]))

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import numpy as np

        self._set_inputs(feeds)
        self.interpreter.invoke()
        out: dict[str, np.ndarray] = {}
        for spec, d in zip(self.outputs, self._out, strict=True):
            y = self.interpreter.get_tensor(d["index"])
            if np.dtype(d["dtype"]) != np.float32:
                scale, zero = d["quantization"]
                y = (y.astype(np.float32) - zero) * np.float32(scale)
            out[spec.name] = np.array(y, dtype=np.float32)
        return out


def _name(d: dict[str, Any], kind: str, i: int, n: int) -> str:
    """The manifest's input/output names are what callers use; LiteRT's are serving_default_args_0 etc."""
    return str(d.get("name") or f"{kind}{i}") if n > 1 else ""


@RUNTIMES.register("litert")
class LiteRtRuntime(RunOnlyRuntime, engine="ai_edge_litert", dist="ai-edge-litert"):
    """LiteRT Interpreter (ai-edge-litert), XNNPACK delegate, `num_threads` = intra-op threads."""

    name: ClassVar[str] = "litert"
    Options: ClassVar[type[LiteRtOptions]] = LiteRtOptions
    converts: ClassVar[tuple[str, ...]] = ("fp32", "int8")
    converter_packages: ClassVar[tuple[str, ...]] = ("litert_torch", "torch")
    cannot_run: ClassVar[dict[str, str]] = {
        "bf16": "LiteRT's XNNPACK CPU kernels have no bf16 models",
        "fp16": "edgebench convert makes no fp16 LiteRT model (litert-torch's fp16 weights are dequantized to "
                "fp32 by XNNPACK on x86; -r ncnn or -r openvino --precision fp16 run fp16 on ARM)"}
    # litert-torch converts the PyTorch module rebuilt from the manifest's `arch`, not the ONNX file
    converts_from: ClassVar[str] = "pytorch"

    def load(self, model: Path, options: RuntimeOptions | None = None) -> LiteRtSession:
        from ai_edge_litert import interpreter as lt

        opts = LiteRtOptions.coerce(options)
        model = load_file(model, (".tflite",), self.name)
        kwargs: dict[str, Any] = {"model_path": str(model), "num_threads": opts.intra_op_threads}
        if not opts.xnnpack:
            kwargs["experimental_op_resolver_type"] = lt.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            interp = lt.Interpreter(**kwargs)
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ModelFileError(f"LiteRT cannot load '{model}': {first[:300]}") from e
        info = artifact_info(model)
        info["xnnpack"] = opts.xnnpack
        sess = LiteRtSession(interp, info)
        _use_manifest_names(sess, model)
        return sess


def _use_manifest_names(sess: Any, model: Path) -> None:
    """One-input/one-output models take the names of the ONNX parent (its manifest), like every runtime."""
    from edgebench.manifest import find_typed_manifest

    man = find_typed_manifest(model)
    in_name = (man.input.name if man is not None and man.input is not None else None) or "input"
    out_name = ((man.output if man is not None else None) or {}).get("name") or "logits"
    if len(sess.inputs) == 1 and not sess.inputs[0].name:
        sess.inputs = [TensorSpec(in_name, sess.inputs[0].shape, "float32")]
    if len(sess.outputs) == 1 and not sess.outputs[0].name:
        sess.outputs = [TensorSpec(out_name, sess.outputs[0].shape, "float32")]
