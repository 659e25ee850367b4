"""Fewer calibration images than --calib-size asked for is said and recorded (issue #24 item 10)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.calibration.quantize import _note_reduced
from edgebench.cli import app
from edgebench.manifest import InputInfo, new_manifest
from edgebench.tools.synthetic import conv_net
from typer.testing import CliRunner

pytest.importorskip("onnx")


@pytest.fixture()
def model_and_data(tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "m"
    conv_net(d / "model.fp32.onnx", size=8)
    write_json(d / "model.fp32.json",
               new_manifest(name="m", precision="fp32", input=InputInfo("input", ("batch", 3, 8, 8)).to_dict()))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "c.npz", images=rng.integers(0, 256, (12, 8, 8, 3)).astype(np.uint8), labels=np.zeros(12))
    return d, tmp_path / "c.npz"


def test_smaller_data_set_is_said_and_recorded(model_and_data: tuple[Path, Path]) -> None:
    d, data = model_and_data
    r = CliRunner().invoke(app, ["quantize", str(d), "--data", str(data), "--calib-size", "1000"])
    assert r.exit_code == 0, r.stderr
    assert "note: calibrating on 12 images, not the 1000 asked for (--calib-size): " in r.stderr
    assert "c.npz has 12" in r.stderr
    assert "12 images (of 1000 asked for)" in r.stdout
    cal = json.loads((d / "model.int8.json").read_text())["calibration"]
    assert (cal["size"], cal["requested_size"]) == (12, 1000)


def test_no_note_when_all_asked_for_are_used(model_and_data: tuple[Path, Path]) -> None:
    d, data = model_and_data
    r = CliRunner().invoke(app, ["quantize", str(d), "--data", str(data), "--calib-size", "10"])
    assert r.exit_code == 0, r.stderr
    assert "note: calibrating" not in r.stderr
    cal = json.loads((d / "model.int8.json").read_text())["calibration"]
    assert (cal["size"], cal["requested_size"]) == (10, 10)


def test_fixed_batch_reason() -> None:
    said: list[str] = []
    _note_reduced(24, 24, 20, 5, "x.npz", said.append)
    assert said == ["note: calibrating on 20 images, not the 24 asked for (--calib-size): the model's fixed batch "
                    "of 5 takes whole batches only"]
    _note_reduced(None, 24, 20, 5, "x.npz", said.append)
    assert len(said) == 1
