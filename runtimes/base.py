"""The Runtime and Session protocols and the description of a model's inputs (numpy-free at import).

Options live in `edgebench.runtimes.options` (re-exported here): each runtime declares its own
frozen `Options` dataclass, a subclass of `RuntimeOptions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from edgebench.errors import UserInputError
from edgebench.runtimes.options import (
    ExecutionMode,
    GraphOptLevel,
    OrtCpuOptions,
    RuntimeOptions,
    TorchInt8Options,
    TorchOptions,
)

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


__all__ = ["ExecutionMode", "GraphOptLevel", "OrtCpuOptions", "Runtime", "RuntimeOptions", "Session",
           "TensorSpec", "TorchInt8Options", "TorchOptions"]
