"""LiteRT's options (`LiteRtOptions`): the XNNPACK delegate on or off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgebench.runtimes.options import RuntimeOptions, _check_bool


@dataclass(frozen=True)
class LiteRtOptions(RuntimeOptions):
    """`xnnpack`: the default XNNPACK delegate (on; off runs LiteRT's builtin reference-style kernels)."""

    runtime: ClassVar[str] = "litert"

    xnnpack: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_bool(self.runtime, "xnnpack", self.xnnpack)
