"""Third-party models in one folder get their own quantized files (issue #24 item 9)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgebench.calibration.quantize import output_name, resolve_output
from edgebench.cli import app
from edgebench.manifest import read_manifest
from typer.testing import CliRunner

from tests.calibration.byo_graphs import image_net

pytest.importorskip("onnx")


def test_output_name_rule(tmp_path: Path) -> None:
    assert output_name(Path("a/model.fp32.onnx"), "static") == "model.int8.onnx"
    assert output_name(Path("a/mnv2.onnx"), "static") == "mnv2.int8.onnx"
    assert output_name(Path("a/mnv2.onnx"), "fp16") == "mnv2.fp16.onnx"
    assert resolve_output(Path("t/mnv2.onnx"), tmp_path / "out", "dynamic") == tmp_path / "out/mnv2.int8-dynamic.onnx"
    assert resolve_output(Path("t/mnv2.onnx"), tmp_path / "x.onnx", "static") == tmp_path / "x.onnx"


def test_two_third_party_models_in_one_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (8, 16, 16, 3)).astype(np.uint8), labels=np.zeros(8))
    run = CliRunner().invoke
    folder = tmp_path / "thirdparty"
    for name in ("mnv2", "other"):
        p = image_net(folder / f"{name}.onnx")
        assert run(app, ["describe", str(p), "--preprocessing", "unit"]).exit_code == 0
        r = run(app, ["quantize", str(p), "-d", str(tmp_path / "d.npz"), "--calib-size", "8"])
        assert r.exit_code == 0, r.stderr
        assert f"wrote    {folder / f'{name}.int8.onnx'}" in r.stdout
    assert sorted(f.name for f in folder.iterdir()) == ["mnv2.int8.json", "mnv2.int8.onnx", "mnv2.json", "mnv2.onnx",
                                                         "other.int8.json", "other.int8.onnx", "other.json",
                                                         "other.onnx"]
    assert read_manifest(folder / "mnv2.int8.json").parent_file == "mnv2.onnx"
    assert read_manifest(folder / "other.int8.json").parent_file == "other.onnx"
