"""The Runtime and Session protocols, the description of a model's inputs (numpy-free at import), and
`RunOnlyRuntime`, the shared shape of the engines that run a converted artifact (openvino, litert, ncnn).

The common options base is `edgebench.runtimes.options.RuntimeOptions`; each runtime declares its own
frozen `Options` dataclass in its sub-package (`runtimes/<name>/options.py`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from edgebench.errors import UserInputError
from edgebench.runtimes.options import PrecisionWay, RuntimeOptions

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output. A dimension is an int, or a str/None when dynamic."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str  # numpy dtype name, e.g. "float32"

    @property
    def dynamic_dims(self) -> list[int]:
        return [i for i, d in enumerate(self.shape) if not isinstance(d, int) or d < 0]

    def resolve(self, batch: int | None = None, shape: Sequence[int] | None = None) -> tuple[int, ...]:
        """Concrete shape: `shape` overrides everything; else dynamic dims from `batch` (dim 0).

        >>> TensorSpec("x", ("N", 3, 32, 32), "float32").resolve(batch=8)
        (8, 3, 32, 32)
        """
        if shape is not None:
            shape = tuple(int(d) for d in shape)
            if len(shape) != len(self.shape):
                raise UserInputError(
                    f"--shape {','.join(map(str, shape))} has rank {len(shape)} but input "
                    f"'{self.name}' has rank {len(self.shape)} {self.pretty_shape()}; "
                    f"give {len(self.shape)} comma-separated sizes"
                )
            for i, (want, got) in enumerate(zip(self.shape, shape, strict=True)):
                if got <= 0:
                    raise UserInputError(f"--shape dimension {i} is {got}; sizes must be >= 1")
                if isinstance(want, int) and want > 0 and want != got:
                    raise UserInputError(
                        f"--shape dimension {i} is {got} but input '{self.name}' fixes it to "
                        f"{want} {self.pretty_shape()}; use {want} there"
                    )
            return shape
        out: list[int] = []
        for i, d in enumerate(self.shape):
            if isinstance(d, int) and d > 0:
                if i == 0 and batch is not None and batch != d:
                    raise UserInputError(
                        f"--batch {batch} but input '{self.name}' has a fixed batch of {d} "
                        f"{self.pretty_shape()}; export with a dynamic batch or use --batch {d}"
                    )
                out.append(d)
            elif i == 0:
                out.append(1 if batch is None else batch)
            else:
                raise UserInputError(
                    f"input '{self.name}' has a dynamic dimension {i} ('{d}') {self.pretty_shape()}; "
                    "give the full shape with --shape"
                )
        return tuple(out)

    def pretty_shape(self) -> str:
        return "[" + ", ".join(str(d) if d is not None else "?" for d in self.shape) + "]"

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@runtime_checkable
class Session(Protocol):
    """A loaded model, ready to run.

    A session may also offer `bind(feeds) -> Callable[[], object]`: the inputs set once, the call runs the model
    on them (outputs stay inside the runtime). The timing loop uses it where it exists (`bench.harness`).
    """

    inputs: Sequence[TensorSpec]
    outputs: Sequence[TensorSpec]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@runtime_checkable
class Runtime(Protocol):
    """An inference engine edgebench can measure. Registered by name in `RUNTIMES`."""

    name: ClassVar[str]
    install_hint: ClassVar[str]
    Options: ClassVar[type[RuntimeOptions]]  # its own frozen options dataclass (exact JSON round trip)

    def available(self) -> bool: ...

    def version(self) -> str: ...

    def load(self, model: Path, options: RuntimeOptions) -> Session: ...


def dist_version(dist: str, module: str) -> str:
    """The installed distribution's version from its metadata (no import of the engine)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:  # importable but not installed as a distribution
        import importlib

        return str(getattr(importlib.import_module(module), "__version__", "unknown"))


class RunOnlyRuntime:
    """What openvino, litert and ncnn share: an optional engine package (`engine`, distribution `dist`),
    found without importing it, its version from the package metadata, the device-install hint, and the
    precisions `edgebench convert` makes for it (`converts`, by `runtimes/<name>/convert.py`, which needs
    `converter_packages` on the workstation)."""

    name: ClassVar[str]
    engine: ClassVar[str]  # import name of the engine package
    dist: ClassVar[str]  # its distribution name
    install_hint: ClassVar[str]
    Options: ClassVar[type[RuntimeOptions]]
    converts: ClassVar[tuple[str, ...]] = ()
    converts_from: ClassVar[str] = "onnx"  # what the converter reads: the ONNX file, or the PyTorch module
    converter_packages: ClassVar[tuple[str, ...]] = ()
    reads_onnx: ClassVar[bool] = False
    reduced_precisions: ClassVar[dict[str, PrecisionWay]] = {}
    cannot_run: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, *, engine: str, dist: str, **kwargs: Any) -> None:
        """`class NcnnRuntime(RunOnlyRuntime, engine="ncnn", dist="ncnn")`: the engine and the install hint."""
        super().__init_subclass__(**kwargs)
        cls.engine, cls.dist = engine, dist
        cls.install_hint = f"pip install 'edgebench[runtimes]' ({dist}; run-only, no torch)"

    def available(self) -> bool:
        return importlib.util.find_spec(self.engine) is not None

    def version(self) -> str:
        return dist_version(self.dist, self.engine)


__all__ = ["RunOnlyRuntime", "Runtime", "Session", "TensorSpec"]
