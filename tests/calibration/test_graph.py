"""inspect_graph: inputs/outputs, opset, op counts, parameters and exact MACs of hand-built graphs."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.calibration.graph import ShapeInferenceError, inspect_graph, parse_size
from edgebench.errors import ModelFileError, UserInputError
from edgebench.manifest import sha256_file

from tests.calibration.byo_graphs import (
    IMAGE_NET_MACS,
    broken_net,
    conv_transpose_matmul_net,
    image_net,
)

pytest.importorskip("onnx")


def test_macs_of_a_known_graph_are_exact(tmp_path: Path) -> None:
    g = inspect_graph(image_net(tmp_path / "m.onnx"))
    assert IMAGE_NET_MACS == 59_984
    assert g.macs == IMAGE_NET_MACS
    assert g.macs_by_op == {"Conv": 55_296 + 4_608, "Gemm": 80}  # grouped (depthwise) conv counted per group
    assert g.macs_note is None


def test_conv_transpose_and_matmul_macs(tmp_path: Path) -> None:
    g = inspect_graph(conv_transpose_matmul_net(tmp_path / "ct.onnx"))
    assert g.macs_by_op == {"ConvTranspose": 8 * 8 * 3 * 4 * 2 * 2, "MatMul": 4 * 16 * 6 * 16}
    assert g.macs == 3_072 + 6_144


def test_fixed_batch_nhwc_opset9_counts_per_image(tmp_path: Path) -> None:
    p = image_net(tmp_path / "m.onnx", layout="NHWC", batch=4, opset=9, input_name="data:0")
    g = inspect_graph(p)
    assert g.macs == IMAGE_NET_MACS
    assert "fixed batch 4" in (g.macs_note or "")
    assert g.opset == 9
    assert g.inputs[0].name == "data:0" and g.inputs[0].shape == (4, 16, 16, 3) and g.inputs[0].dtype == "float32"
    assert g.op_counts["Transpose"] == 1 and g.op_counts["Conv"] == 2


def test_inputs_outputs_params_and_sha(tmp_path: Path) -> None:
    p = image_net(tmp_path / "m.onnx", softmax=True)
    g = inspect_graph(p)
    assert g.opset == 17 and g.producer == "someexporter 0.9"
    assert [t.shape for t in g.inputs] == [("N", 3, 16, 16)]
    assert g.outputs[0].name == "scores" and g.outputs[0].shape == ("N", 10)
    assert g.params == 8 * 3 * 9 + 8 + 8 * 9 + 8 + 10 * 8 + 10
    assert g.sha256 == sha256_file(p)
    assert g.output_ops == {"scores": "Softmax"}
    assert g.to_dict()["nodes"] == 8


def test_dynamic_spatial_size_needs_an_input_shape(tmp_path: Path) -> None:
    p = image_net(tmp_path / "m.onnx", size="H")  # type: ignore[arg-type]
    g = inspect_graph(p)
    assert g.macs is None and "dynamic input dims" in (g.macs_note or "")
    g = inspect_graph(p, input_shapes={"input": (1, 3, 16, 16)})
    assert g.macs == IMAGE_NET_MACS


def test_shape_inference_failure_names_the_node(tmp_path: Path) -> None:
    with pytest.raises(ShapeInferenceError, match=r"at node 'bad_add' \(Add\)"):
        inspect_graph(broken_net(tmp_path / "b.onnx"))


def test_not_onnx(tmp_path: Path) -> None:
    p = tmp_path / "x.onnx"
    p.write_bytes(b"not a protobuf at all \xff\xfe")
    with pytest.raises(ModelFileError, match="not a readable ONNX model"):
        inspect_graph(p)


def test_parse_size() -> None:
    assert parse_size("224x224") == (224, 224) and parse_size("32") == (32, 32) and parse_size("240x320") == (240, 320)
    with pytest.raises(UserInputError, match="--size"):
        parse_size("big")
