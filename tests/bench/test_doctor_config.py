"""`DoctorConfig` refuses doctor's bad option combinations on construction, before any model is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.bench.doctor import DoctorConfig
from edgebench.errors import OutputExistsError, UserInputError


@pytest.mark.parametrize(("kwargs", "msg"), [
    ({"runtime": "openvino"}, "-r openvino: the doctor reads ONNX Runtime's profiler"),
    ({"threads": 0}, "--threads 0 must be >= 1"),
    ({"limit": 0}, "--limit 0 must be >= 1"),
    ({"apply": True, "data": "cifar10"}, "--apply writes the best model to a folder: give -o DIR"),
    ({"output": Path("x")}, "-o x is where --apply writes"),
    ({"try_fixes": True}, "give --data"),
])
def test_bad_options(kwargs: dict[str, object], msg: str) -> None:
    with pytest.raises(UserInputError, match=msg):
        DoctorConfig(**kwargs)  # type: ignore[arg-type]


def test_apply_refuses_an_output_folder_holding_a_model(tmp_path: Path) -> None:
    (tmp_path / "doctor.json").write_text("{}", encoding="utf-8")
    with pytest.raises(OutputExistsError, match=r"doctor\.json' already exists"):
        DoctorConfig(data="cifar10", apply=True, output=tmp_path)
    assert DoctorConfig(data="cifar10", apply=True, output=tmp_path / "new").output == tmp_path / "new"
    assert not (tmp_path / "new").exists()


def test_apply_on_devices_writes_a_folder_per_device(tmp_path: Path) -> None:
    """`doctor --on pi4,pi5 --apply -o DIR`: each device's decision goes to DIR/<device>/, each checked before any
    model is read."""
    (tmp_path / "pi5").mkdir()
    (tmp_path / "pi5" / "model.int8.onnx").write_bytes(b"x")
    with pytest.raises(OutputExistsError, match=r"pi5/model\.int8\.onnx' already exists"):
        DoctorConfig(data="cifar10", apply=True, output=tmp_path, on=("pi4", "pi5"))
    cfg = DoctorConfig(data="cifar10", apply=True, output=tmp_path, on=("pi4",))
    assert cfg.output_for("pi4") == tmp_path / "pi4" and DoctorConfig(data="cifar10").output_for("pi4") is None
