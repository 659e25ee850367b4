"""Hand-built "third-party" ONNX graphs (onnx.helper) for the describe tests: NCHW or NHWC input, fixed or dynamic
batch, any opset from 9, an odd input name, an optional final Softmax, a non-image input.

`image_net` MACs at 16x16 input (by hand): conv 3->8 3x3 pad 1: 16*16*8 * 3*9 = 55,296; depthwise 8 groups 3x3
stride 2 pad 1: 8*8*8 * 1*9 = 4,608; Gemm 8 -> 10: 80. Total 59,984 per image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_NET_MACS = 16 * 16 * 8 * 3 * 9 + 8 * 8 * 8 * 9 + 8 * 10


def image_net(path: Path, *, layout: str = "NCHW", batch: int | str = "N", opset: int = 17, size: int = 16,
              input_name: str = "input", classes: int = 10, softmax: bool = False, seed: int = 0,
              extra_input: bool = False, second_image: bool = False, zoo: bool = False, ir_version: int | None = None,
              external_data: bool = False) -> Path:
    """Conv + ReLU, depthwise Conv (stride 2) + ReLU, GlobalAveragePool, Flatten, Gemm [, Softmax].

    `zoo`: the classic model-zoo layout: every initializer also a graph input, and the Flatten two Reshapes whose
    shapes are two of them with equal values (`fc__SHAPE`, `fc2__SHAPE`: ORT's ConstantSharing merges them and drops
    one initializer, and its graph input is then a required input nobody feeds). `ir_version`: saved with it
    (default 7 from opset 12, else 6; `zoo`: 3). `external_data`: the weights in `NAME.data` beside the file."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def init(name: str, shape: tuple[int, ...], scale: float = 0.3) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [init("w0", (8, 3, 3, 3)), init("b0", (8,), 0.01), init("w1", (8, 1, 3, 3)), init("b1", (8,), 0.01),
             init("fc_w", (classes, 8)), init("fc_b", (classes,), 0.01)]
    nodes = []
    x = input_name
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [x], ["nchw"], perm=[0, 3, 1, 2], name="to_nchw"))
        x = "nchw"
    nodes += [
        helper.make_node("Conv", [x, "w0", "b0"], ["c0"], pads=[1, 1, 1, 1], kernel_shape=[3, 3], name="conv0"),
        helper.make_node("Relu", ["c0"], ["r0"], name="relu0"),
        helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2], group=8,
                         kernel_shape=[3, 3], name="dw1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("GlobalAveragePool", ["r1"], ["gap"], name="gap"),
        *([helper.make_node("Reshape", ["gap", "fc__SHAPE"], ["flat0"], name="flatten"),
           helper.make_node("Reshape", ["flat0", "fc2__SHAPE"], ["flat"], name="flatten2")] if zoo else
          [helper.make_node("Flatten", ["gap"], ["flat"], axis=1, name="flatten")]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["fc" if softmax else "scores"], transB=1, name="fc"),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["fc"], ["scores"], axis=1, name="softmax"))
    shape = [batch, 3, size, size] if layout == "NCHW" else [batch, size, size, 3]
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)]
    if zoo:
        inits += [numpy_helper.from_array(np.array([0, -1], np.int64), name) for name in ("fc__SHAPE", "fc2__SHAPE")]
        inputs += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in inits]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.INT64, [batch, 4]))
    if second_image:
        inputs.append(helper.make_tensor_value_info("other_image", TensorProto.FLOAT, shape))
    graph = helper.make_graph(nodes, "third_party", inputs,
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, classes])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="someexporter",
                              producer_version="0.9")
    model.ir_version = 7 if opset >= 12 else 6
    if zoo:
        model.ir_version = 3
    if not (extra_input or second_image):
        onnx.checker.check_model(model)
    if ir_version is not None:
        model.ir_version = ir_version
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path, save_as_external_data=external_data, location=f"{path.name}.data", size_threshold=0)
    return path


def broken_net(path: Path) -> Path:
    """An Add of a [1,8,14,14] conv output and a [7] bias, which do not broadcast: shape inference fails at node
    'bad_add'."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    b = numpy_helper.from_array(np.zeros((7,), np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["c"], kernel_shape=[3, 3], name="conv"),
         helper.make_node("Add", ["c", "b"], ["y"], name="bad_add")], "broken",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def segmentation_net(path: Path) -> Path:
    """A 1x1 Conv to 5 channels kept spatial: output [N, 5, 16, 16], not one score per class."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((5, 3, 1, 1), 0.1, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["mask"], kernel_shape=[1, 1], name="head")], "seg",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 5, 16, 16])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def conv_transpose_matmul_net(path: Path) -> Path:
    """ConvTranspose 3->4 (k 2, stride 2) on 8x8, then MatMul over the last axis (16 -> 6).

    MACs by hand: ConvTranspose 8*8 (input spatial) * 3*4*2*2 = 3,072; MatMul out [1,4,16,6] * K 16 = 6,144.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((3, 4, 2, 2), 0.1, np.float32), "w")
    m = numpy_helper.from_array(np.full((16, 6), 0.1, np.float32), "m")
    graph = helper.make_graph(
        [helper.make_node("ConvTranspose", ["input", "w"], ["up"], kernel_shape=[2, 2], strides=[2, 2], name="up"),
         helper.make_node("MatMul", ["up", "m"], ["y"], name="mm")], "ctmm",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 6])], initializer=[w, m])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
