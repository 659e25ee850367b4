"""The torch-free latency table: probe graphs written without `onnx`, measured with ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
from edgebench.bench.latency_probe import measure_table, unit_graph
from edgebench.errors import UserInputError
from edgebench.latency_table import structure_hash

UNIT = {"name": "layer1.0.conv1", "block": "layer1.0", "channels": 16, "input": [1, 16, 8, 8], "residual": True,
        "removable": True, "widths": [8, 16],
        "convs": [{"cin": 16, "cout": "w", "k": [3, 3], "stride": [1, 1], "pad": [1, 1, 1, 1], "groups": 1,
                   "relu": True},
                  {"cin": "w", "cout": 16, "k": [3, 3], "stride": [1, 1], "pad": [1, 1, 1, 1], "groups": 1,
                   "relu": False}]}


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_probe_graphs_run_and_int8_fuses_to_qlinear(precision: str, tmp_path) -> None:
    from edgebench.runtimes.ort.options import cpu_session

    for w in (8, 16, None):
        s = cpu_session(unit_graph(UNIT, w, precision), intra_op_threads=1, log_level=None)
        y = s.run(None, {"x": np.ones((1, 16, 8, 8), np.float32)})[0]
        assert y.shape == (1, 16, 8, 8)
    if precision == "int8":
        cpu_session(unit_graph(UNIT, 16, "int8"), graph_optimization="extended",
                    optimized_model_file=tmp_path / "opt.onnx", log_level=None)
        data = (tmp_path / "opt.onnx").read_bytes()
        assert b"QLinearConv" in data and b"QLinearAdd" in data


def test_measure_table_records_machine_and_units(tmp_path) -> None:
    from edgebench.bench.onnx_proto import Graph

    g = Graph("m")
    x = g.input("input", [1, 16, 8, 8])
    g.output(g.node("Relu", [x]), [1, 16, 8, 8])
    (tmp_path / "m.onnx").write_bytes(g.model_bytes())
    probes = {"model": {"arch": "tiny", "hash": structure_hash([UNIT], [1, 16, 8, 8])}, "units": [UNIT],
              "channel_block": 8}
    table = measure_table(probes, tmp_path / "m.onnx", precision="int8", threads=1, rounds=2)
    assert table["fingerprint"]["cpu"]["arch"] and table["fingerprint_id"]
    assert table["precision"] == "int8" and table["runtime"] == "ort-cpu" and table["threads"] == 1
    assert set(table["units"]["layer1.0.conv1"]["widths"]) == {"8", "16"}
    assert table["units"]["layer1.0.conv1"]["remove_ms"] == 0.0
    with pytest.raises(UserInputError, match="openvino"):
        measure_table(probes, tmp_path / "m.onnx", precision="int8", runtime="openvino")
