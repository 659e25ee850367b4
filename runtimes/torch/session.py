"""PyTorch runtimes: `torch` (eager FP32) and `torch-int8` (PyTorch's own post-training static INT8).

Both rebuild the model from the model folder: the manifest beside `model.fp32.onnx` names the zoo
architecture (`arch`), the input spec and the weights (`weights_file`, else the published weights of
`arch` whose sha256 equals `weights_sha256`). The ONNX file itself is not run.

torch-int8 path (torch 2.14.1): FX graph mode, `torch.ao.quantization.quantize_fx.prepare_fx` /
`convert_fx` with `get_default_qconfig_mapping(engine)`, engine `x86` (fbgemm + oneDNN kernels) on
x86_64 and `qnnpack` on ARM. It runs real int8 kernels (`quantized::conv2d`, `quantized::add_relu`)
in eager execution. `torch.ao.quantization` prints a deprecation notice in 2.14.1 but works; the PT2E
flow (`quantize_pt2e`) is no longer in torch 2.14.1 (it moved to the separate `torchao` package) and
its converted graphs only run int8 kernels under `torch.compile`, so it is not used. Eager mode
(`torch.ao.quantization.prepare/convert`) would need QuantStub/FloatFunctional edits to every model.

Calibration uses the same images as the ONNX Runtime INT8 model: the `calibration` block (dataset,
size, seed) of the sibling `model.int8.json` when there is one, else `cifar10:train`, 1000 images,
seed 0 (the `edgebench quantize` defaults). `TorchInt8Options` overrides it (`calibration_data`,
`calibration_size`, `calibration_seed`) and picks the `engine` (CLI: `--runtime-option engine=qnnpack`).

The PyTorch module is rebuilt by a function the caller passes in (`provide`: the command line and the sweep
give the exporter's `rebuild.build_module` and `rebuild.calibration_images`; a measurement process gets them
from its parent, `provided_env`): this layer never imports the exporter, nor looks it up.

Example::

    rt = get_runtime("torch-int8")
    sess = rt.load(Path("artifacts/resnet20/model.fp32.onnx"), rt.Options(intra_op_threads=1, engine="x86"))
    logits = sess.run({"input": x})["logits"]
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import json
import platform
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from edgebench.artifact import ModelArtifact
from edgebench.errors import ModelFileError, RuntimeUnavailable, UserInputError
from edgebench.manifest import Manifest, find_typed_manifest
from edgebench.runtimes.base import TensorSpec
from edgebench.runtimes.options import PrecisionWay, RuntimeOptions
from edgebench.runtimes.registry_runtimes import RUNTIMES
from edgebench.runtimes.torch.options import TorchInt8Options, TorchOptions
from edgebench.units import to_mb

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

INSTALL_HINT = "install the export extra: pip install 'edgebench[export]' (torch is not part of the device install)"
DEFAULT_CALIBRATION = {"dataset": "cifar10:train", "size": 1000, "seed": 0}
CALIB_BATCH = 32
PROVIDED_ENV = "EDGEBENCH_TORCH_PROVIDED"  # what the parent provided, for a measurement process it starts
NEEDS = ("build_module", "calibration_images")
_provided_targets: dict[str, str] = {}  # name -> "module:function", as given to `provide`


def default_engine(machine: str | None = None) -> str:
    """`x86` (fbgemm/oneDNN) on x86_64, `qnnpack` on ARM."""
    machine = machine or platform.machine()
    return "qnnpack" if machine.lower() in ("aarch64", "arm64") or machine.startswith("arm") else "x86"


def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def fp32_manifest(model: Path) -> tuple[Path, Manifest, Manifest | None]:
    """The FP32 manifest a torch runtime rebuilds from, and the INT8 manifest when `model` is the INT8 file
    (for an FP32 `model`: the `model.int8.json` beside it, if any).

    `model` is the `.onnx` that `edgebench bench` resolved (a folder gives `model.fp32.onnx`).
    """
    artifact = ModelArtifact.resolve(model)
    model, manifest = artifact.path, artifact.manifest
    if manifest is None:
        raise ModelFileError(
            f"'{model}' has no manifest ({artifact.manifest_path.name}); the torch runtimes rebuild the PyTorch "
            "model from the model folder that `edgebench export` writes; give that folder"
        )
    if manifest.precision == "fp32":
        return model, manifest, find_typed_manifest(model.parent / "model.int8.onnx")
    parent = artifact.parent()  # inside the model folder and verified by parent_sha256
    if parent is None:
        raise ModelFileError(
            f"'{model}' is a {manifest.precision} model whose FP32 parent is not beside it; the torch runtimes "
            "rebuild from the FP32 model: give its folder or model.fp32.onnx"
        )
    if parent.manifest is None or parent.manifest.precision != "fp32":
        what = "has no manifest" if parent.manifest is None else f"is {parent.manifest.precision}, not fp32"
        raise ModelFileError(f"the parent '{parent.path}' of '{model}' {what}; the torch runtimes rebuild from the "
                             "FP32 model: give its folder or model.fp32.onnx")
    return parent.path, parent.manifest, manifest


def provide(**targets: str | Callable[..., Any]) -> None:
    """Give the torch runtimes what they need from a higher layer, by name (`NEEDS`): each a function or its
    "module:function" name (imported when first used, so providing costs nothing).

    `build_module(manifest, folder) -> (nn.Module, weights file)` rebuilds the PyTorch model;
    `calibration_images(manifest, settings) -> np.ndarray` gives the preprocessed calibration batch. The command
    line and the sweep provide the exporter's (`edgebench.exporter.rebuild`)::

        provide(build_module="edgebench.exporter.rebuild:build_module", calibration_images=...)
    """
    for name, target in targets.items():
        if name not in NEEDS:
            raise TypeError(f"the torch runtimes need {', '.join(NEEDS)}, not {name!r}")
        _provided_targets[name] = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


def provided_env() -> dict[str, str]:
    """The environment that passes what was provided here on to a measurement process (`provide_from_env`)."""
    return {PROVIDED_ENV: json.dumps(_provided_targets)} if _provided_targets else {}


def provide_from_env(environ: Mapping[str, str]) -> None:
    """In a measurement process: what its parent provided (`provided_env`)."""
    given = environ.get(PROVIDED_ENV)
    if given:
        provide(**json.loads(given))


def _provided(name: str) -> Callable[..., Any]:
    """The function provided as `name`, imported."""
    target = _provided_targets.get(name)
    if target is None:
        raise RuntimeUnavailable(
            f"the torch runtimes need '{name}' from the exporter and this process was not given it; run them "
            "through the edgebench command line, or call edgebench.runtimes.torch.session.provide(...) first "
            f"(docs/architecture.md); {INSTALL_HINT}"
        )
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def build_module(manifest: Manifest, folder: Path) -> tuple[nn.Module, Path]:
    """The FP32 nn.Module of a manifest with its weights loaded (eval mode), and the weights file."""
    return _provided("build_module")(manifest, folder)  # type: ignore[no-any-return]


def _set_threads(options: RuntimeOptions) -> None:
    import torch

    torch.set_num_threads(options.intra_op_threads)
    if torch.get_num_interop_threads() != options.inter_op_threads:
        try:
            torch.set_num_interop_threads(options.inter_op_threads)
        except RuntimeError:  # only settable before the first parallel work in this process
            warnings.warn(f"torch inter-op threads stay {torch.get_num_interop_threads()} (already in use)",
                          stacklevel=2)


def _specs(manifest: Manifest) -> tuple[list[TensorSpec], list[TensorSpec]]:
    info = manifest.input
    if info is None:
        raise ModelFileError(f"the manifest of '{manifest.onnx_file}' has no 'input'; re-export the model")
    shape = tuple(d if isinstance(d, int) else str(d) for d in info.shape)
    n_out = manifest.num_classes or len(info.class_names) or "classes"
    out_name = (manifest.output or {}).get("name") or "logits"
    return [TensorSpec(info.name, shape, "float32")], [TensorSpec(out_name, (shape[0], n_out), "float32")]


class TorchSession:
    """A PyTorch module behind the Session protocol: numpy in, numpy out, under `torch.inference_mode`."""

    def __init__(self, module: Any, inputs: list[TensorSpec], outputs: list[TensorSpec],
                 info: dict[str, Any], autocast: bool = False) -> None:
        self.module = module
        self.inputs = inputs
        self.outputs = outputs
        self.info = info
        self.autocast = autocast
        if autocast:
            info["precision"] = "bf16"
        self.precision: str = info["precision"]

    def _forward(self, x: Any) -> Any:
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
            return self.module(x)

    def probe_precision(self) -> None:
        """Record what ran: the dtype of the module's output on one zero input (bf16 under autocast)."""
        import torch

        shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in self.inputs[0].shape)
        dtype = self._forward(torch.zeros(shape, dtype=torch.float32)).dtype
        got = {torch.bfloat16: "bf16", torch.float32: "fp32", torch.float16: "fp16"}.get(dtype, str(dtype))
        self.info.update({"execution_precision": got,
                          "execution_precision_source": "dtype of the module's output on a probe input"})
        if got != self.precision:
            raise UserInputError(f"torch ran {got}, not {self.precision}, under bf16 autocast on this CPU; use "
                                 "--precision fp32")

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import numpy as np
        import torch

        name = self.inputs[0].name
        if name not in feeds:
            raise UserInputError(f"input '{name}' is missing; feeds hold {', '.join(feeds) or 'nothing'}")
        y = self._forward(torch.from_numpy(np.ascontiguousarray(feeds[name], dtype=np.float32)))
        return {self.outputs[0].name: y.float().numpy()}


def _state_dict_mb(module: Any) -> float:
    import torch

    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return to_mb(buf.tell())


class _TorchBase:
    """What the PyTorch runtimes share: availability, version and the install hint."""

    install_hint: ClassVar[str] = INSTALL_HINT
    # bench/scenarios.py check_supported: multi and server --streams N are refused with it, offline runs one stream
    serial_sessions: ClassVar[str] = (
        "eager PyTorch runs each layer's Python code holding the GIL, so its sessions in one process take turns "
        "(ResNet-20, 2 cores: 2 one-thread streams serve no more than one does)")

    def available(self) -> bool:
        return _torch_available()

    def check_model(self, model: Path) -> None:
        """Before any slow work: the FP32 model this runtime rebuilds from is there, in the model folder and
        verified by the `parent_sha256` of an INT8 manifest (`fp32_manifest`)."""
        fp32_manifest(model)

    def version(self) -> str:
        """From the package metadata: `edgebench runtimes` lists it without importing torch (~1 s)."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("torch").split("+")[0]
        except PackageNotFoundError:  # torch importable but not installed as a distribution (a source tree)
            import torch

            return str(torch.__version__).split("+")[0]


@RUNTIMES.register("torch")
class TorchRuntime(_TorchBase):
    """PyTorch eager FP32 on the CPU, `torch.set_num_threads(intra_op_threads)`."""

    name: ClassVar[str] = "torch"
    precision: ClassVar[str | None] = "fp32"
    Options: ClassVar[type[TorchOptions]] = TorchOptions
    reduced_precisions: ClassVar[dict[str, PrecisionWay]] = {
        "bf16": PrecisionWay("fp32", (("autocast", "bf16"),), 'torch.autocast("cpu", dtype=torch.bfloat16)')}
    cannot_run: ClassVar[dict[str, str]] = {
        "fp16": "edgebench's torch runtime autocasts to bf16 only (PyTorch's CPU fp16 kernels are slow references)",
        "int8": "the torch runtime runs float; -r torch-int8 quantizes with PyTorch"}

    def load(self, model: Path, options: RuntimeOptions | None = None) -> TorchSession:
        options = TorchOptions.coerce(options)
        onnx_path, manifest, _ = fp32_manifest(model)
        if onnx_path != Path(model):
            raise ModelFileError(
                f"'{model}' is not an FP32 model; the torch runtime runs the FP32 PyTorch model: give the model "
                f"folder or {onnx_path.name} (torch-int8 quantizes it with PyTorch)"
            )
        _set_threads(options)
        module, weights = build_module(manifest, onnx_path.parent)
        inputs, outputs = _specs(manifest)
        info = {"precision": "fp32", "weights_file": str(weights), "file_size_mb": to_mb(weights.stat().st_size),
                "built_from": onnx_path.name, "threads_note": "graph optimization options do not apply to torch"}
        sess = TorchSession(module, inputs, outputs, info, autocast=options.autocast == "bf16")
        sess.probe_precision()
        return sess


def calibration_settings(int8_manifest: Manifest | None, options: TorchInt8Options) -> dict[str, Any]:
    """The calibration set: the options' fields, else the ORT INT8 model's, else the quantize defaults."""
    base = dict(DEFAULT_CALIBRATION)
    source = "default (edgebench quantize's defaults)"
    cal = int8_manifest.calibration if int8_manifest is not None else None
    if cal is not None and cal.dataset:
        base = {"dataset": cal.dataset, "size": cal.size, "seed": cal.seed}
        source = "model.int8.json (same images as the ONNX Runtime INT8 model)"
    if options.calibration_data is not None:
        base["dataset"] = options.calibration_data
        source = "runtime option"
    if options.calibration_size is not None:
        base["size"] = options.calibration_size
    if options.calibration_seed is not None:
        base["seed"] = options.calibration_seed
    return {**base, "source": source}


@RUNTIMES.register("torch-int8")
class TorchInt8Runtime(_TorchBase):
    """PyTorch post-training static INT8 (FX graph mode), x86/fbgemm engine on x86, qnnpack on ARM."""

    name: ClassVar[str] = "torch-int8"
    precision: ClassVar[str | None] = "int8"
    Options: ClassVar[type[TorchInt8Options]] = TorchInt8Options
    cannot_run: ClassVar[dict[str, str]] = {p: "torch-int8 quantizes the FP32 model to INT8; -r torch --precision bf16 "
                                               "runs PyTorch in bf16" for p in ("bf16", "fp16")}

    def load(self, model: Path, options: RuntimeOptions | None = None) -> TorchSession:
        import torch

        options = TorchInt8Options.coerce(options)
        onnx_path, manifest, int8_manifest = fp32_manifest(model)
        _set_threads(options)
        engine = options.engine or default_engine()
        if engine not in torch.backends.quantized.supported_engines:
            raise UserInputError(
                f"quantized engine '{engine}' is not supported by this torch; supported: "
                f"{', '.join(torch.backends.quantized.supported_engines)}"
            )
        torch.backends.quantized.engine = engine
        module, weights = build_module(manifest, onnx_path.parent)
        cal = calibration_settings(int8_manifest, options)
        images = _provided("calibration_images")(manifest, cal)
        t0 = time.perf_counter()
        qmodule = quantize_fx(module, images, engine)
        inputs, outputs = _specs(manifest)
        info = {
            "precision": "int8", "engine": engine, "api": "torch.ao.quantization.quantize_fx (FX graph mode)",
            "qconfig": f"get_default_qconfig_mapping('{engine}')", "calibration": {**cal, "images": len(images)},
            "quantize_s": time.perf_counter() - t0, "weights_file": str(weights),
            "file_size_mb": _state_dict_mb(qmodule), "built_from": onnx_path.name,
        }
        return TorchSession(qmodule, inputs, outputs, info)


def quantize_fx(module: nn.Module, images: np.ndarray, engine: str) -> Any:
    """Post-training static INT8 with PyTorch's default qconfig for `engine`, calibrated on `images` (NCHW)."""
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    example = (torch.from_numpy(images[:1]),)
    with warnings.catch_warnings():
        # torch 2.14.1 announces the removal of torch.ao.quantization and of observers' reduce_range
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        prepared = prepare_fx(module, get_default_qconfig_mapping(engine), example)
        with torch.no_grad():
            for i in range(0, len(images), CALIB_BATCH):
                prepared(torch.from_numpy(images[i:i + CALIB_BATCH]))
        converted = convert_fx(prepared).eval()
        with torch.inference_mode():
            converted(example[0])  # the deprecation notices of quantized tensors fire once, here
    return converted
