"""The PyTorch runtimes' options: `TorchOptions` (torch, eager FP32/bf16) and `TorchInt8Options` (torch-int8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from edgebench.errors import UserInputError
from edgebench.runtimes.options import RuntimeOptions, _check_choice, _check_int

TorchEngine = Literal["x86", "qnnpack", "fbgemm"]
TorchAutocast = Literal["off", "bf16"]


@dataclass(frozen=True)
class TorchOptions(RuntimeOptions):
    """PyTorch eager FP32: `torch.set_num_threads(intra_op_threads)` (+ inter-op threads).

    `autocast`: off (FP32), or bf16 (`torch.autocast("cpu", dtype=torch.bfloat16)`: convolutions and
    linear layers in bf16; what `--precision bf16` sets).
    """

    runtime: ClassVar[str] = "torch"

    autocast: TorchAutocast = "off"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self.runtime, "autocast", self.autocast, ("off", "bf16"))


@dataclass(frozen=True)
class TorchInt8Options(RuntimeOptions):
    """PyTorch post-training static INT8 (FX graph mode).

    `engine`: None picks the host's (x86 on x86_64, qnnpack on ARM). The calibration fields override
    the calibration set that is otherwise the ORT INT8 model's (`model.int8.json`) or the quantize
    defaults (cifar10:train, 1000 images, seed 0).
    """

    runtime: ClassVar[str] = "torch-int8"

    engine: TorchEngine | None = None
    calibration_data: str | None = None
    calibration_size: int | None = None
    calibration_seed: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.engine is not None:
            _check_choice(self.runtime, "engine", self.engine, ("x86", "qnnpack", "fbgemm"))
        if self.calibration_data is not None and (not isinstance(self.calibration_data, str)
                                                  or not self.calibration_data.strip()):
            raise UserInputError(f"{self.runtime} option calibration_data is {self.calibration_data!r}; "
                                 "give a dataset spec such as cifar10:train or a .npz path")
        if self.calibration_size is not None:
            _check_int(self.runtime, "calibration_size", self.calibration_size, 1)
        if self.calibration_seed is not None:
            _check_int(self.runtime, "calibration_seed", self.calibration_seed, 0)
