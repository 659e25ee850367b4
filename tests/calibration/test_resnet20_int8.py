"""Real model, real data: published ResNet-20 quantized with the CLI keeps its accuracy, reproducibly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytestmark = [pytest.mark.torch, pytest.mark.data, pytest.mark.slow]


@pytest.fixture(scope="module")
def resnet20(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgebench.exporter.checkpoint import find_weights, load_weights
    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec

    spec = get_spec("resnet20")
    model = spec.build()
    sha = load_weights(model, find_weights(spec.weights, shared_data, download=False), "resnet20")
    out = tmp_path_factory.mktemp("resnet20")
    export_model(model, spec, out, parity_images=0, weights={"sha256": sha, "source": "published"})
    return out / "model.fp32.onnx"


def quantize(model: Path, out: Path, shared_data: Path) -> dict:
    from edgebench.cli import app

    train = shared_data / "cifar10" / "train_first4000.npz"
    r = CliRunner().invoke(app, ["quantize", str(model), "--data", str(train), "--calib-size", "500", "--seed", "0",
                                 "-o", str(out), "--json"])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_int8_top1_within_half_a_point_of_fp32(resnet20: Path, shared_data: Path, tmp_path: Path) -> None:
    from edgebench.calibration.evaluate import evaluate_pair

    m = quantize(resnet20, tmp_path, shared_data)
    assert m["nodes"]["int8"] >= 20  # every conv, add, pool and the fc
    # the two option-A shortcut Pads run in float between DQ/Q pairs (no INT8 Pad kernel in ORT's CPU provider):
    # quantize says so, as profile does (calibration.graph.classify_nodes)
    assert m["nodes"]["float_op_types"] == {"Pad": 2}, m["nodes"]
    assert all("no INT8 kernel for Pad" in why for why in m["nodes"]["float_nodes"].values())
    r = evaluate_pair(tmp_path / "model.int8.onnx", resnet20, str(shared_data / "cifar10" / "test_first1000.npz"))
    fp32, int8, paired = r["baseline"]["top1_pct"], r["model"]["top1_pct"], r["paired"]
    assert paired["n"] == 1000
    assert fp32 > 90.0  # the published weights really were loaded
    assert abs(int8 - fp32) <= 0.5, f"INT8 {int8:.2f} % vs FP32 {fp32:.2f} % ({m['preset']['preset']})"
    assert paired["agreement_pct"] >= 98.0


def test_same_inputs_give_a_byte_identical_int8_file(resnet20: Path, shared_data: Path, tmp_path: Path) -> None:
    a = quantize(resnet20, tmp_path / "a", shared_data)
    b = quantize(resnet20, tmp_path / "b", shared_data)
    assert a["onnx_sha256"] == b["onnx_sha256"]
    assert (tmp_path / "a" / "model.int8.onnx").read_bytes() == (tmp_path / "b" / "model.int8.onnx").read_bytes()
    assert a["calibration"]["sha256"] == b["calibration"]["sha256"]
