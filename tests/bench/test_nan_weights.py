"""A model with NaN weights: quantize refuses it in one line (exit 2); bench and eval warn instead of silence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.cli import app
from edgebench.manifest import InputInfo, Manifest
from typer.testing import CliRunner


@pytest.fixture
def nan_model(tmp_path: Path) -> Path:
    """An exported-looking folder (model.fp32.onnx + manifest) whose first conv weights are NaN."""
    import onnx
    from edgebench.tools.synthetic import conv_net
    from onnx import numpy_helper

    d = tmp_path / "nan"
    d.mkdir()
    path = conv_net(d / "model.fp32.onnx")
    proto = onnx.load(path)
    w = proto.graph.initializer[0]
    arr = numpy_helper.to_array(w).copy()
    arr[0, 0, 0, 0] = np.nan
    w.CopyFrom(numpy_helper.from_array(arr, w.name))
    onnx.save(proto, path)
    m = Manifest(name="nan", input=InputInfo("input", ("batch", 3, 16, 16))).with_file(path)
    (d / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    return d


@pytest.fixture
def images(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "imgs.npz"
    np.savez(path, images=rng.integers(0, 255, (8, 16, 16, 3), dtype=np.uint8), labels=np.arange(8) % 10)
    return path


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.torch  # quantize needs the export extra (onnx, onnxruntime's quantization tools)
@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_quantize_refuses_nan_weights_in_one_line(nan_model: Path, images: Path, mode: str) -> None:
    data = ["--data", images, "-n", "8"] if mode == "static" else []
    r = invoke("quantize", nan_model, "--mode", mode, *data)
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "NaN/Inf weights" in lines[0] and "conv0.w" in lines[0], r.stderr
    assert sorted(p.name for p in nan_model.iterdir()) == ["model.fp32.json", "model.fp32.onnx"]


def test_bench_warns_on_nan_outputs(nan_model: Path, tmp_path: Path) -> None:
    r = invoke("bench", nan_model, "--in-process", "-t", "1", "--json", "-o", tmp_path / "o", "--warmup-iters", "0",
               "--min-iters", "2", "--min-seconds", "0")
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert any("NaN/Inf" in w for w in result["warnings"]), result["warnings"]


def test_eval_warns_on_nan_logits(nan_model: Path, images: Path) -> None:
    r = invoke("eval", nan_model, "--data", images, "-t", "1")
    assert r.exit_code == 0, r.stderr
    assert "NaN/Inf logits" in r.stderr
