"""Runtimes: the bottom layer. A `Runtime` protocol, a registry, ONNX Runtime on the CPU.

Example::

    from edgebench.runtimes import get_runtime, RuntimeOptions
    sess = get_runtime("ort-cpu").load(Path("model.onnx"), RuntimeOptions(intra_op_threads=2))
    out = sess.run({"input": x})

Importing the package is cheap (no numpy): `bench.cli` imports `runtimes.errors` at start-up,
so the names that need numpy are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgebench.errors import EdgebenchError, RuntimeUnavailable, UserInputError
from edgebench.runtimes.registry_runtimes import RUNTIMES

if TYPE_CHECKING:
    from edgebench.runtimes.base import Runtime, RuntimeOptions, Session, TensorSpec

_BUILTIN_LOADED = False


def _load_runtimes() -> None:
    """Register the built-in runtimes and those declared under the `edgebench.runtimes` entry point.

    The PyTorch runtimes live in `exporter` (the only package that may import torch); they are
    found this way so that `runtimes` never imports upward. Their modules import torch lazily.
    """
    global _BUILTIN_LOADED
    if _BUILTIN_LOADED:
        return
    from importlib.metadata import entry_points

    from edgebench.runtimes import ort_cpu  # noqa: F401  (registers ort-cpu)

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


def __getattr__(name: str) -> Any:
    if name in ("Runtime", "RuntimeOptions", "Session", "TensorSpec"):
        from edgebench.runtimes import base

        return getattr(base, name)
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
    "runtime_names",
]
