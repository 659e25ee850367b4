"""Third-party ONNX in the layouts users have (issue #26 item 4): the classic model-zoo layout (IR 3, every
initializer also a graph input, a Reshape shaped by one of them), opset 7 to 21, external data, NHWC, a fixed batch
and onnx's default IR version 14 each describe, quantize, evaluate and bench, with no ONNX Runtime warning on the
terminal (the MACs of TF "same" padding graphs: test_describe.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.calibration.describe import PreprocessingChoice, describe
from typer.testing import CliRunner

from tests.calibration.byo_graphs import IMAGE_NET_MACS, image_net

onnx = pytest.importorskip("onnx")

UNIT = PreprocessingChoice(preset="unit")
LAYOUTS: dict[str, dict[str, Any]] = {
    "zoo-ir3-opset8": {"zoo": True, "opset": 8},
    "zoo-ir3-opset7-fixed-batch": {"zoo": True, "opset": 7, "batch": 1},
    "zoo-opset9-ir6": {"zoo": True, "opset": 9, "ir_version": 6},
    "zoo-opset13-ir7": {"zoo": True, "opset": 13, "ir_version": 7},
    "opset21": {"opset": 21, "ir_version": 10},
    "onnx-default-ir14": {"opset": 17, "ir_version": 14},
    "external-data": {"external_data": True},
    "nhwc-fixed-batch-4": {"layout": "NHWC", "batch": 4, "opset": 11},
}


def _labelled(path: Path, n: int = 16, size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 256, (n, size, size, 3)).astype(np.uint8), labels=rng.integers(0, 10, n))
    return path


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_layout_quantizes_evaluates_and_benches(tmp_path: Path, capfd: pytest.CaptureFixture[str], name: str
                                                ) -> None:
    from edgebench.calibration.evaluate import evaluate
    from edgebench.cli import app
    from edgebench.runtimes.ort.session import OrtCpuRuntime

    p = image_net(tmp_path / "net.onnx", softmax=True, **LAYOUTS[name])
    assert describe(p, UNIT, "cifar10").macs == IMAGE_NET_MACS
    data = _labelled(tmp_path / "d.npz")
    capfd.readouterr()
    r = CliRunner().invoke(app, ["quantize", str(p), "--data", str(data), "--calib-size", "16"])
    err = capfd.readouterr().err
    assert r.exit_code == 0, r.output
    assert "\x1b[" not in err and "onnxruntime" not in err, err  # ORT's own warnings stay off the terminal
    int8 = onnx.load(str(tmp_path / "net.int8.onnx"))
    inits = {i.name for i in int8.graph.initializer}
    assert [i.name for i in int8.graph.input if i.name not in inits] == [i.name for i in int8.graph.input]
    assert int8.ir_version <= 10
    if LAYOUTS[name].get("zoo") or LAYOUTS[name].get("ir_version") == 14:
        assert "before quantizing" in r.output
    r32 = evaluate(p, str(data), threads=1)
    r8 = evaluate(tmp_path / "net.int8.onnx", str(data), threads=1)
    assert r32["n"] == r8["n"] == 16
    assert sum(a == b for a, b in zip(r32["predictions"], r8["predictions"], strict=True)) >= 12
    for model in (p, tmp_path / "net.int8.onnx"):  # bench's loader: the one real input, weights constant
        sess = OrtCpuRuntime().load(model)
        assert [i.name for i in sess.inputs] == ["input"]
    assert "\x1b[" not in capfd.readouterr().err


def test_zoo_layout_is_plain_before_ort_sees_it(tmp_path: Path) -> None:
    """The FP32 baseline bench loads: initializers constant (no overridable inputs), IR >= 4."""
    from edgebench.runtimes.onnx_layout import normalize_model, normalized_bytes

    p = image_net(tmp_path / "zoo.onnx", zoo=True, opset=8)
    model = onnx.load(str(p))
    assert len(model.graph.input) == 9 and model.ir_version == 3
    changes = normalize_model(model)
    assert [i.name for i in model.graph.input] == ["input"] and model.ir_version == 4
    assert changes == ["8 initializer(s) removed from the graph inputs (IR >= 4 layout)", "IR version 3 -> 4"]
    assert normalize_model(model) == []
    plain = normalized_bytes(p)
    assert plain is not None and onnx.load_from_string(plain) == model
    assert normalized_bytes(image_net(tmp_path / "plain.onnx")) is None


def test_ir14_lowered_only_when_ort_cannot_read_it(tmp_path: Path) -> None:
    from edgebench.runtimes.onnx_layout import normalize_model, ort_reads_ir

    model = onnx.load(str(image_net(tmp_path / "n.onnx", opset=17, ir_version=14)))
    assert normalize_model(model) == ([] if ort_reads_ir(14) else ["IR version 14 -> 8"])
    model.ir_version = 9  # newer than opset 17 needs, but readable: kept
    assert normalize_model(model) == []

