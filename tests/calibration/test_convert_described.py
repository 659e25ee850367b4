"""`convert -r litert` refuses a described third-party ONNX at once, naming the runtimes that take it (#24 item 7)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from edgebench.cli import app
from typer.testing import CliRunner

from tests.calibration.byo_graphs import image_net

pytest.importorskip("onnx")


def test_litert_refuses_a_described_model_before_any_work(tmp_path: Path) -> None:
    p = image_net(tmp_path / "net.onnx")
    assert CliRunner().invoke(app, ["describe", str(p), "--preprocessing", "unit"]).exit_code == 0
    before = sorted(x.name for x in tmp_path.rglob("*"))
    t0 = time.perf_counter()
    r = CliRunner().invoke(app, ["convert", str(p), "-r", "litert"])
    assert time.perf_counter() - t0 < 5.0  # no calibration, reference or converter import first
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgebench: error: litert conversion starts from the PyTorch")
    for needle in ("'net.onnx' has none", "described third-party ONNX", "no 'arch'", "openvino (int8)",
                   "ncnn (fp32)", "-r openvino --precision int8"):
        assert needle in lines[0], needle
    assert sorted(x.name for x in tmp_path.rglob("*")) == before  # no litert/ folder
