"""OpenVINO's options: the CPU plugin properties edgebench sets (`OpenVinoOptions`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from edgebench.runtimes.options import RuntimeOptions, _check_bool, _check_choice, _check_int

InferencePrecision = Literal["f32", "f16", "bf16", "default"]
PerformanceHint = Literal["latency", "throughput"]


@dataclass(frozen=True)
class OpenVinoOptions(RuntimeOptions):
    """OpenVINO CPU plugin properties, each set explicitly and recorded.

    `inference_precision`: f32 (default: exact FP32 float layers), f16/bf16 (faster where the CPU has them,
    not FP32-exact), or default (the plugin's own choice). `num_streams`: 1 for latency. `cpu_pinning`:
    ENABLE_CPU_PINNING, the plugin pinning its inference threads to cores of its choosing (off in the sessions
    of the multi/offline/server scenarios: it puts every session of a process on the same cores).
    """

    runtime: ClassVar[str] = "openvino"

    num_streams: int = 1
    performance_hint: PerformanceHint = "latency"
    inference_precision: InferencePrecision = "f32"
    cpu_pinning: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int(self.runtime, "num_streams", self.num_streams, 1)
        _check_choice(self.runtime, "performance_hint", self.performance_hint, ("latency", "throughput"))
        _check_choice(self.runtime, "inference_precision", self.inference_precision, ("f32", "f16", "bf16", "default"))
        _check_bool(self.runtime, "cpu_pinning", self.cpu_pinning)
