"""ncnn on the CPU (`ncnn`), run-only: the `ncnn` wheel.

Loads the `.param`/`.bin` pair that `edgebench convert MODEL --runtime ncnn` writes on the workstation
(`DIR/ncnn/fp32/model.param`, converted by pnnx from the ONNX model). FP32 only: ncnn's INT8 needs
ncnn2table/ncnn2int8, which the wheels do not ship. FP32 parity needs fp16 storage/arithmetic/packing and
bf16 off (fp16 is ncnn's default on ARMv8.2 and x86 with F16C): `fp16=false`, `bf16=false` by default.
ncnn runs one image (CHW) at a time: the artifact's batch is 1.

Example::

    rt = get_runtime("ncnn")
    sess = rt.load(Path("artifacts/resnet20/ncnn/fp32/model.param"), rt.Options(intra_op_threads=1))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from edgebench.errors import ModelFileError, UserInputError
from edgebench.runtimes.base import RunOnlyRuntime, TensorSpec
from edgebench.runtimes.ncnn.options import NcnnOptions
from edgebench.runtimes.options import PrecisionWay, RuntimeOptions
from edgebench.runtimes.registry_runtimes import RUNTIMES
from edgebench.runtimes.static import artifact_info, check_feeds, load_file

if TYPE_CHECKING:
    import numpy as np


class NcnnSession:
    """An ncnn Net; one extractor per run. The numpy input stays referenced while its Mat is used."""

    def __init__(self, net: Any, in_blob: str, out_blob: str, inputs: list[TensorSpec], outputs: list[TensorSpec],
                 info: dict[str, Any]) -> None:
        self.net = net
        self._in_blob, self._out_blob = in_blob, out_blob
        self.inputs, self.outputs = inputs, outputs
        self.info = info
        self.precision: str = info["precision"]

    def bind(self, feeds: Mapping[str, np.ndarray]) -> Callable[[], object]:
        """The input Mat made once; the call runs a fresh extractor on it (an extractor caches its results)."""
        import ncnn
        import numpy as np

        check_feeds(self.inputs, feeds)
        chw = np.ascontiguousarray(feeds[self.inputs[0].name][0], dtype=np.float32)
        mat = ncnn.Mat(chw)  # wraps `chw` without copying: the closure keeps both alive
        create, in_blob, out_blob = self.net.create_extractor, self._in_blob, self._out_blob

        def run(_chw: np.ndarray = chw) -> None:
            ex = create()
            ex.input(in_blob, mat)
            ret, _ = ex.extract(out_blob)
            if ret != 0:
                raise ModelFileError(f"ncnn failed to run the model (extract returned {ret})")

        return run

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import ncnn
        import numpy as np

        check_feeds(self.inputs, feeds)
        # kept in a local for the whole extraction: an ncnn.Mat wraps this buffer without copying it
        chw = np.ascontiguousarray(feeds[self.inputs[0].name][0], dtype=np.float32)
        ex = self.net.create_extractor()
        ex.input(self._in_blob, ncnn.Mat(chw))
        ret, out = ex.extract(self._out_blob)
        if ret != 0:
            raise ModelFileError(f"ncnn failed to run the model (extract returned {ret})")
        y = np.array(out, dtype=np.float32).reshape(self.outputs[0].shape)
        del chw
        return {self.outputs[0].name: y}


@RUNTIMES.register("ncnn")
class NcnnRuntime(RunOnlyRuntime, engine="ncnn", dist="ncnn"):
    """ncnn (Tencent) CPU inference, FP32, `num_threads` = intra-op threads."""

    name: ClassVar[str] = "ncnn"
    Options: ClassVar[type[NcnnOptions]] = NcnnOptions
    converts: ClassVar[tuple[str, ...]] = ("fp32",)
    converter_packages: ClassVar[tuple[str, ...]] = ("pnnx", "onnx")
    # --precision fp16/bf16: the FP32 artifact loaded with ncnn's fp16 (storage+arithmetic+packing) or bf16 storage
    reduced_precisions: ClassVar[dict[str, PrecisionWay]] = {
        "fp16": PrecisionWay("fp32", (("fp16", True),), "use_fp16_storage/arithmetic/packed=true"),
        "bf16": PrecisionWay("fp32", (("bf16", True),), "use_bf16_storage=true"),
    }
    cannot_run: ClassVar[dict[str, str]] = {
        "int8": "ncnn's INT8 needs ncnn2table/ncnn2int8, which the ncnn wheels do not ship"}
    converts_from: ClassVar[str] = "onnx"  # pnnx reads the ONNX file

    def load(self, model: Path, options: RuntimeOptions | None = None) -> NcnnSession:
        import ncnn
        from edgebench.manifest import find_typed_manifest

        opts = NcnnOptions.coerce(options)
        model = load_file(model, (".param",), self.name)
        weights = model.with_suffix(".bin")
        man = find_typed_manifest(model)
        if man is None or man.input is None:
            raise ModelFileError(f"'{model}' has no manifest (model.json) with its input shape; "
                                 "re-run edgebench convert")
        net = ncnn.Net()
        o = ncnn.Option()
        o.num_threads = opts.intra_op_threads
        o.use_fp16_storage = o.use_fp16_arithmetic = o.use_fp16_packed = opts.fp16
        o.use_bf16_storage = opts.bf16
        o.use_winograd_convolution = opts.winograd
        o.use_sgemm_convolution = opts.sgemm
        net.opt = o
        if net.load_param(str(model)) != 0 or not weights.is_file() or net.load_model(str(weights)) != 0:
            raise ModelFileError(f"ncnn cannot load '{model}' + '{weights.name}' (unsupported layer or truncated "
                                 "file); re-run edgebench convert")
        in_names, out_names = list(net.input_names()), list(net.output_names())
        if len(in_names) != 1 or len(out_names) != 1:
            raise ModelFileError(f"'{model}' has inputs {in_names} and outputs {out_names}; edgebench runs "
                                 "one-input, one-output ncnn models")
        shape = tuple(int(d) if isinstance(d, int) else 1 for d in man.input.shape)
        shape = (1, *shape[1:])
        extra = man.extra.get("converter") or {}
        out_shape = tuple(extra.get("output_shape") or (1, man.num_classes or -1))
        inputs = [TensorSpec(man.input.name, shape, "float32")]
        outputs = [TensorSpec((man.output or {}).get("name") or "logits", out_shape, "float32")]
        info = artifact_info(model)
        info["options"] = {"fp16": opts.fp16, "bf16": opts.bf16, "winograd": opts.winograd, "sgemm": opts.sgemm}
        info.update(_execution_precision(net.opt, opts))
        if info["precision"] == "fp32" and (opts.fp16 or opts.bf16):
            info["precision"] = "fp16" if opts.fp16 else "bf16"
            if info["execution_precision"] != info["precision"]:
                raise UserInputError(
                    f"ncnn on this CPU turned {info['precision']} off when loading '{model.name}' (its options read "
                    f"back: {info['ncnn_options']}); it runs fp32 here: use --precision fp32")
        return NcnnSession(net, in_names[0], out_names[0], inputs, outputs, info)


def _execution_precision(opt: Any, asked: NcnnOptions) -> dict[str, Any]:
    """What ncnn runs, from its Option read back after loading and the CPU features ncnn reports.

    The precision is the storage type of weights and activations between layers: fp16 or bf16 when those
    options are on, else fp32. `arithmetic` says how layers compute: fp16 only where the CPU has fp16
    arithmetic (ARMv8.2 asimdhp); elsewhere ncnn converts to fp32 inside each layer (x86 F16C, bf16).
    """
    import ncnn

    got = {k: bool(getattr(opt, k)) for k in ("use_fp16_storage", "use_fp16_arithmetic", "use_fp16_packed",
                                              "use_bf16_storage")}
    main = "fp16" if got["use_fp16_storage"] else "bf16" if got["use_bf16_storage"] else "fp32"
    fp16_math = main == "fp16" and got["use_fp16_arithmetic"] and bool(ncnn.cpu_support_arm_asimdhp())
    return {"execution_precision": main, "arithmetic": "fp16" if fp16_math else "fp32", "ncnn_options": got,
            "execution_precision_source": "ncnn Option read back after load_param (storage precision); "
                                          "arithmetic from ncnn.cpu_support_arm_asimdhp()"}
