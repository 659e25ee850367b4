"""`edgebench profile`: ORT profiler events -> per-op-type / per-node / INT8-vs-FP32 figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.bench.op_profile import node_precision, summarize_trace
from edgebench.bench.schema import validate_result
from edgebench.cli import app
from typer.testing import CliRunner


def _node(name: str, op: str, ts: int, dur: int, types: list[str]) -> dict[str, Any]:
    return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur, "ph": "X",
            "args": {"op_name": op, "provider": "CPUExecutionProvider",
                     "input_type_shape": [{t: [1]} for t in types]}}


def _run(ts: int, dur: int) -> dict[str, Any]:
    return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur, "ph": "X", "args": {}}


def test_summarize_trace_skips_warmup_and_aggregates() -> None:
    events = [
        _run(0, 100), _node("q", "QuantizeLinear", 1, 50, ["float"]),  # warm-up run: left out
        _run(200, 100), _node("q", "QuantizeLinear", 201, 10, ["float", "float", "uint8"]),
        _node("c1", "QLinearConv", 211, 40, ["uint8", "float"]), _node("c2", "Conv", 251, 30, ["float"]),
        _node("c3", "Conv", 281, 20, ["float"]),
        _run(400, 120), _node("q", "QuantizeLinear", 401, 10, ["float"]),
        _node("c1", "QLinearConv", 411, 60, ["uint8"]), _node("c2", "Conv", 471, 30, ["float"]),
        _node("c3", "Conv", 501, 10, ["float"]),
    ]
    s = summarize_trace(events, warmup_runs=1)
    assert s["runs"] == 2 and s["n_nodes"] == 4
    assert s["run_ms_p50"] == pytest.approx(0.110)
    assert s["node_ms_per_run"] == pytest.approx((10 + 40 + 30 + 20 + 10 + 60 + 30 + 10) / 1000 / 2)
    ops = {o["op_type"]: o for o in s["op_types"]}
    assert ops["Conv"]["ms_per_run"] == pytest.approx(0.045) and ops["Conv"]["nodes"] == 2
    assert ops["QLinearConv"]["int8_nodes"] == 1 and ops["Conv"]["int8_nodes"] == 0
    assert [o["op_type"] for o in s["op_types"]] == ["QLinearConv", "Conv", "QuantizeLinear"]  # slowest first
    assert s["int8_nodes"] == ["c1"] and sorted(s["fp32_nodes"]) == ["c2", "c3"]
    assert s["precision"]["convert"]["nodes"] == 1
    assert sum(p["pct"] for p in s["precision"].values()) == pytest.approx(100.0)
    assert s["nodes"][0]["node"] == "c1"


def test_summarize_trace_needs_timed_runs() -> None:
    from edgebench.errors import EdgebenchError

    with pytest.raises(EdgebenchError, match="none after 3 warm-up runs"):
        summarize_trace([_run(0, 10)], warmup_runs=3)


@pytest.mark.parametrize(("op", "types", "want"), [
    ("QLinearConv", ["uint8", "float"], "int8"), ("MaxPool", ["uint8"], "int8"), ("Conv", ["float"], "fp32"),
    ("Conv", ["float16"], "fp16"), ("DequantizeLinear", ["uint8"], "convert"), ("ConvInteger", ["uint8"], "int8"),
])
def test_node_precision(op: str, types: list[str], want: str) -> None:
    assert node_precision(op, types) == want


@pytest.fixture(scope="module")
def tiny_int8(tiny_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    q = pytest.importorskip("onnxruntime.quantization")

    class Reader(q.CalibrationDataReader):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.it = iter([{"input": rng.standard_normal((1, 3, 16, 16), dtype=np.float32)} for _ in range(4)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    out = tmp_path_factory.mktemp("tinyq") / "tiny_int8.onnx"
    q.quantize_static(str(tiny_onnx), str(out), Reader(), quant_format=q.QuantFormat.QDQ)
    return out


def _profile(model: Path, out: Path, *extra: str) -> Any:
    return CliRunner().invoke(app, ["profile", str(model), "-t", "1", "--runs", "20", "--warmup", "3",
                                    "--min-seconds", "0.1", "-o", str(out), *extra])


def test_profile_cli_fp32_and_int8(tiny_onnx: Path, tiny_int8: Path, tmp_path: Path) -> None:
    r = _profile(tiny_onnx, tmp_path / "res", "--trace", str(tmp_path / "trace.json"))
    assert r.exit_code == 0, r.output
    r = _profile(tiny_int8, tmp_path / "res")
    assert r.exit_code == 0, r.output
    files = sorted((tmp_path / "res").glob("*.profile.json"))
    assert len(files) == 2
    by_name = {}
    for f in files:
        data = json.loads(f.read_text())
        validate_result(data, str(f))
        assert data["kind"] == "profile" and data["profile"]["runs"] == 20
        by_name[data["model"]["name"]] = data["profile"]
    fp32, int8 = by_name["tiny"], by_name["tiny_int8"]
    assert fp32["int8_nodes"] == [] and set(fp32["precision"]) == {"fp32"}
    assert {o["op_type"] for o in int8["op_types"]} >= {"QLinearConv", "QuantizeLinear"}
    assert len(int8["int8_nodes"]) >= 2 and int8["precision"]["int8"]["pct"] > 50
    assert isinstance(json.loads((tmp_path / "trace.json").read_text()), list)
    # compare accepts profile results and shows their op tables
    rep = CliRunner().invoke(app, ["compare", str(tmp_path / "res"), "-o", str(tmp_path / "rep"), "--no-plots"])
    assert rep.exit_code == 0, rep.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Per-operator profiles" in md and "| QLinearConv |" in md


def test_profile_bad_input(tiny_onnx: Path, tmp_path: Path) -> None:
    r = _profile(tiny_onnx, tmp_path / "res", "--runs", "0")
    assert r.exit_code == 2 and "--runs 0" in r.stderr
    r = _profile(tmp_path / "missing.onnx", tmp_path / "res")
    assert r.exit_code == 2 and "does not exist" in r.stderr
    assert not list((tmp_path / "res").glob("*.json")) if (tmp_path / "res").exists() else True


def test_profile_config_checks_its_options_on_construction(tmp_path: Path) -> None:
    from edgebench.bench.op_profile import ProfileConfig
    from edgebench.errors import UserInputError

    out = tmp_path / "res"
    for kwargs, msg in (({"batch": 0}, "--batch 0 must be >= 1"), ({"warmup": -1}, "--warmup -1 >= 0"),
                        ({"top": -1}, "--top -1 must be >= 0"), ({"graph_opt": "most"}, "most"),
                        ({"threads": 0}, "0")):
        with pytest.raises(UserInputError, match=msg):
            ProfileConfig(**{"threads": 1, "output_dir": out, **kwargs})  # type: ignore[arg-type]
    assert ProfileConfig(threads=2, output_dir=out).options.intra_op_threads == 2
    assert not out.exists()  # checked, not made
