"""Runtimes: the bottom layer. A `Runtime` protocol, a registry, and one sub-package per engine.

    runtimes/ort/       ort-cpu: session, OrtCpuOptions, the one onnxruntime SessionOptions builder
    runtimes/torch/     torch, torch-int8: session, TorchOptions/TorchInt8Options
    runtimes/openvino/  openvino: session, options, converter (NNCF INT8)
    runtimes/litert/    litert: session, options, converter (litert-torch)
    runtimes/ncnn/      ncnn: session, options, converter (pnnx)

Shared at the top level: the registry, `base` (protocols, `RunOnlyRuntime`), `options` (`RuntimeOptions`),
`converters` (the converter contract), `static`, `precisions`, `timing`, `onnx_layout`.

Example::

    from edgebench.runtimes import get_runtime
    rt = get_runtime("ort-cpu")
    sess = rt.load(Path("model.onnx"), rt.Options(intra_op_threads=2))   # runtimes/ort/options.py OrtCpuOptions
    out = sess.run({"input": x})

Every runtime declares `Options`, a frozen dataclass subclassing `RuntimeOptions` (the common thread
counts) with an exact JSON round trip (`to_dict` / `from_dict`). Importing the package is cheap
(no numpy); the runtime modules import numpy and their engines lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgebench.errors import EdgebenchError, RuntimeUnavailable, UserInputError
from edgebench.runtimes.registry_runtimes import RUNTIMES

if TYPE_CHECKING:
    from edgebench.runtimes.base import Runtime, Session, TensorSpec
    from edgebench.runtimes.options import RuntimeOptions

_BUILTIN_LOADED = False


def _load_runtimes() -> None:
    """Register the built-in runtimes and those declared under the `edgebench.runtimes` entry point.

    Every built-in runtime imports its engine lazily, so a device install without one (torch, openvino...)
    lists it as "not installed".
    """
    global _BUILTIN_LOADED
    if _BUILTIN_LOADED:
        return
    from importlib.metadata import entry_points

    # optional engines, imported lazily inside their modules: listed as "not installed" when missing
    import edgebench.runtimes.litert.session
    import edgebench.runtimes.ncnn.session
    import edgebench.runtimes.openvino.session
    import edgebench.runtimes.ort.session
    import edgebench.runtimes.torch.session  # noqa: F401

    for ep in entry_points(group="edgebench.runtimes"):
        if ep.name not in RUNTIMES:
            ep.load()
    _BUILTIN_LOADED = True


def get_runtime(name: str) -> Runtime:
    """Instantiate the runtime `name`; unknown names get a suggestion, missing packages a hint."""
    _load_runtimes()
    cls = RUNTIMES.get(name)
    rt = cls()
    if not rt.available():
        raise RuntimeUnavailable(f"runtime '{name}' is not installed here; {cls.install_hint}")
    return rt


def runtime_names() -> list[str]:
    _load_runtimes()
    return RUNTIMES.names()


def options_class(name: str) -> type[RuntimeOptions]:
    """The Options dataclass of runtime `name` (no need for the runtime to be installed here)."""
    _load_runtimes()
    return RUNTIMES.get(name).Options


def options_from_dict(data: dict[str, Any]) -> RuntimeOptions:
    """`{"runtime": name, "options": {...}}` (what crosses to the measurement process) -> typed Options."""
    if not isinstance(data, dict) or "runtime" not in data:
        raise UserInputError(f"runtime options must be {{'runtime': name, 'options': {{...}}}}, got {data!r}")
    return options_class(str(data["runtime"])).from_dict(data.get("options") or {})


def __getattr__(name: str) -> Any:
    if name in ("Runtime", "Session", "TensorSpec"):
        from edgebench.runtimes import base

        return getattr(base, name)
    if name == "RuntimeOptions":
        from edgebench.runtimes.options import RuntimeOptions

        return RuntimeOptions
    raise AttributeError(f"module 'runtimes' has no attribute '{name}'")


__all__ = [
    "RUNTIMES",
    "EdgebenchError",
    "Runtime",
    "RuntimeOptions",
    "RuntimeUnavailable",
    "Session",
    "TensorSpec",
    "UserInputError",
    "get_runtime",
    "options_class",
    "options_from_dict",
    "runtime_names",
]
