"""`edgebench export` as a typed job (issue #25): options and the output folder are refused on construction,
before a model is built or a weight read."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.errors import OutputExistsError, UserInputError
from edgebench.exporter.export_run import ExportJob, ExportOptions, parity_dataset
from edgebench.exporter.loading import WeightsRequest
from edgebench.exporter.zoo import get_spec


@pytest.mark.parametrize(("kwargs", "msg"), [
    ({"exporter": "onnx"}, "--exporter 'onnx' is not one of"),
    ({"opset": 3}, "--opset 3 is outside"),
    ({"batch": "0"}, "0"),
    ({"accuracy_images": -1}, "--accuracy-images -1 must be >= 0"),
    ({"num_classes": -3}, "--num-classes"),
])
def test_bad_options_are_refused(kwargs: dict[str, object], msg: str) -> None:
    with pytest.raises(UserInputError, match=msg):
        ExportOptions(**kwargs)  # type: ignore[arg-type]


def test_default_opset_follows_the_exporter() -> None:
    assert ExportOptions().opset_used == 17 and ExportOptions(exporter="dynamo").opset_used == 18


def test_existing_model_needs_force_and_out_defaults_to_artifacts(tmp_path: Path) -> None:
    (tmp_path / "model.fp32.onnx").write_bytes(b"x")
    job = {"spec": get_spec("resnet20"), "options": ExportOptions(), "weights": WeightsRequest()}
    with pytest.raises(OutputExistsError, match="pass --force"):
        ExportJob(**job, output_dir=tmp_path)  # type: ignore[arg-type]
    assert ExportJob(**job, output_dir=tmp_path, force=True).out == tmp_path  # type: ignore[arg-type]
    assert ExportJob(**job, force=True).out == Path("artifacts/resnet20")  # type: ignore[arg-type]


def test_parity_none_reads_nothing() -> None:
    notes: list[str] = []
    assert parity_dataset(get_spec("resnet20"), "none", None, notes=notes.append) is None and notes == []
