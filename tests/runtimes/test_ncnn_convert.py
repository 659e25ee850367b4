"""ncnn's graph rewrites before pnnx (runtimes/ncnn/convert.py): the same values, no step-2 Slice left."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the rewrites edit ONNX graphs: needs the onnx package (export extra)")


def _strided_model() -> object:
    """x [1, 8, 4, 6] -> x[:, 0::2] + x[:, 1::2] and x[:, :, ::2, ::2], as FastestDet's first export and ResNet-20's
    option-A shortcut wrote them."""
    from onnx import TensorProto, helper, numpy_helper

    def ints(name: str, v: list[int]) -> object:
        return numpy_helper.from_array(np.asarray(v, np.int64), name)

    inits = [ints("s0", [0]), ints("s1", [1]), ints("end", [1 << 30]), ints("ax1", [1]), ints("two", [2]),
             ints("s00", [0, 0]), ints("end2", [1 << 30, 1 << 30]), ints("ax23", [2, 3]), ints("two2", [2, 2])]
    nodes = [helper.make_node("Slice", ["x", "s0", "end", "ax1", "two"], ["even"], name="even"),
             helper.make_node("Slice", ["x", "s1", "end", "ax1", "two"], ["odd"], name="odd"),
             helper.make_node("Add", ["even", "odd"], ["y"]),
             helper.make_node("Slice", ["x", "s00", "end2", "ax23", "two2"], ["z"], name="sub")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 4, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_channel_and_spatial_slices_are_rewritten_to_the_same_values() -> None:
    ort = pytest.importorskip("onnxruntime")
    from edgebench.runtimes.ncnn.convert import (
        rewrite_channel_slices,
        rewrite_strided_slices,
        static_shapes,
        strided_slices,
    )

    model = _strided_model()
    x = np.random.default_rng(0).random((1, 8, 4, 6), dtype=np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert sorted(strided_slices(model)) == ["even", "odd", "sub"]
    assert rewrite_strided_slices(model) == 1
    assert rewrite_channel_slices(model, static_shapes(model, [1, 8, 4, 6])) == 2
    assert strided_slices(model) == []
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
