"""ncnn's options (`NcnnOptions`): the `ncnn.Option` fields edgebench sets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgebench.runtimes.options import RuntimeOptions, _check_bool


@dataclass(frozen=True)
class NcnnOptions(RuntimeOptions):
    """ncnn `Option` fields: `fp16` (storage, arithmetic, packing), `bf16` storage, `winograd`, `sgemm`."""

    runtime: ClassVar[str] = "ncnn"

    fp16: bool = False
    bf16: bool = False
    winograd: bool = True
    sgemm: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("fp16", "bf16", "winograd", "sgemm"):
            _check_bool(self.runtime, name, getattr(self, name))
