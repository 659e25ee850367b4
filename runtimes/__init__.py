"""Runtimes: the bottom layer. A `Runtime` protocol, a registry, ONNX Runtime on the CPU.

Example::

    from runtimes import get_runtime, RuntimeOptions
    sess = get_runtime("ort-cpu").load(Path("model.onnx"), RuntimeOptions(intra_op_threads=2))
    out = sess.run({"input": x})
"""

from __future__ import annotations

from runtimes import ort_cpu as _ort_cpu  # noqa: F401  (registers ort-cpu)
from runtimes.base import Runtime, RuntimeOptions, Session, TensorSpec
from runtimes.errors import EdgebenchError, RuntimeUnavailable, UserInputError
from runtimes.registry_runtimes import RUNTIMES

_PLUGINS_LOADED = False


def _load_plugin_runtimes() -> None:
    """Register runtimes declared by installed packages under the `edgebench.runtimes` entry point.

    The PyTorch runtimes live in `exporter` (the only package that may import torch); they are
    found this way so that `runtimes` never imports upward. Their modules import torch lazily.
    """
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    from importlib.metadata import entry_points

    for ep in entry_points(group="edgebench.runtimes"):
        if ep.name not in RUNTIMES:
            ep.load()
    _PLUGINS_LOADED = True


def get_runtime(name: str) -> Runtime:
    """Instantiate the runtime `name`; unknown names get a suggestion, missing packages a hint."""
    _load_plugin_runtimes()
    cls = RUNTIMES.get(name)
    rt = cls()
    if not rt.available():
        raise RuntimeUnavailable(f"runtime '{name}' is not installed here; {cls.install_hint}")
    return rt


def runtime_names() -> list[str]:
    _load_plugin_runtimes()
    return RUNTIMES.names()


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
    "runtime_names",
]
