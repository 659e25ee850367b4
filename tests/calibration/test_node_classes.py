"""One node classification for quantize's summary and profile's float nodes (issue #24 item 13)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.cli import app
from edgebench.manifest import InputInfo, new_manifest
from typer.testing import CliRunner

pytest.importorskip("onnx")
PAD_WHY = "no INT8 kernel for Pad in ORT's CPU provider: it runs on dequantized floats"


def resnet20_like(path: Path) -> Path:
    """Conv-ReLU stem, a stride-2 block whose option-A shortcut is a strided Slice + channel Pad (as ResNet-20's),
    Add, ReLU, global pool, Gemm."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def w(name: str, shape: tuple[int, ...]) -> str:
        std = np.sqrt(2.0 / np.prod(shape[1:]))
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * std).astype(np.float32), name))
        return name

    def ints(name: str, v: list[int]) -> str:
        inits.append(numpy_helper.from_array(np.array(v, np.int64), name))
        return name

    mk = helper.make_node
    nodes += [mk("Conv", ["input", w("c0", (8, 3, 3, 3))], ["c0o"], pads=[1, 1, 1, 1], name="conv0"),
              mk("Relu", ["c0o"], ["r0"], name="relu0"),
              mk("Conv", ["r0", w("c1", (16, 8, 3, 3))], ["c1o"], pads=[1, 1, 1, 1], strides=[2, 2], name="conv1"),
              mk("Relu", ["c1o"], ["r1"], name="relu1"),
              mk("Conv", ["r1", w("c2", (16, 16, 3, 3))], ["c2o"], pads=[1, 1, 1, 1], name="conv2"),
              mk("Slice", ["r0", ints("s0", [0, 0]), ints("s1", [2**31 - 1] * 2), ints("s2", [2, 3]),
                           ints("s3", [2, 2])], ["sl"], name="slice0"),
              mk("Pad", ["sl", ints("p", [0, 4, 0, 0, 0, 4, 0, 0])], ["pd"], name="pad0"),
              mk("Add", ["c2o", "pd"], ["a"], name="add0"),
              mk("Relu", ["a"], ["r2"], name="relu2"),
              mk("GlobalAveragePool", ["r2"], ["gp"], name="pool"),
              mk("Flatten", ["gp"], ["fl"], axis=1, name="flatten"),
              mk("Gemm", ["fl", w("fc", (10, 16))], ["logits"], transB=1, name="fc")]
    graph = helper.make_graph(nodes, "resnet20_like",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), str(path))
    write_json(path.with_suffix(".json"), new_manifest(name="rn", precision="fp32",
                                                       input=InputInfo("input", ("batch", 3, 16, 16)).to_dict()))
    return path


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    tmp = tmp_path_factory.mktemp("rn")
    fp32 = resnet20_like(tmp / "m/model.fp32.onnx")
    rng = np.random.default_rng(0)
    np.savez(tmp / "c.npz", images=rng.integers(0, 256, (16, 16, 16, 3)).astype(np.uint8), labels=np.zeros(16))
    r = CliRunner().invoke(app, ["quantize", str(fp32.parent), "-d", str(tmp / "c.npz"), "--preset", "x86-avx2"])
    assert r.exit_code == 0, r.stderr
    nodes = json.loads((fp32.parent / "model.int8.json").read_text())["nodes"]
    return fp32.parent / "model.int8.onnx", nodes, r.stdout


def test_quantize_says_pad_stays_float_and_why(quantized: tuple[Path, dict, str]) -> None:
    _, nodes, out = quantized
    assert (nodes["int8"], nodes["float"]) == (8, 1)  # was "9 INT8, 0 float": the Pad counted as INT8
    assert nodes["float_nodes"] == {"pad0": PAD_WHY}
    assert "nodes    8 INT8, 1 float (Pad x1)" in out and f"float    pad0: {PAD_WHY}" in out


def test_profile_agrees_with_quantize(quantized: tuple[Path, dict, str]) -> None:
    from edgebench.bench.op_profile import profile_model
    from edgebench.runtimes.ort.options import OrtCpuOptions

    int8, nodes, _ = quantized
    prof = profile_model(int8, OrtCpuOptions(intra_op_threads=1), batch=1, runs=3, warmup=1)
    assert prof["fp32_nodes"] == list(nodes["float_nodes"])  # what ORT ran in float is what quantize said
    assert prof["float_nodes"] == nodes["float_nodes"]


def test_recipe_exclusion_is_the_reason(tmp_path: Path) -> None:
    import onnx
    from edgebench.calibration.graph import classify_nodes
    from edgebench.calibration.recipes import resolve_preset

    fp32 = resnet20_like(tmp_path / "m/model.fp32.onnx")
    recipe = resolve_preset("x86-avx2").recipe.with_overrides(nodes_to_exclude=("conv2",))
    classes = {c.name: c for c in classify_nodes(onnx.load(str(fp32)), recipe)}
    assert classes["conv2"].runs == "float" and classes["conv2"].reason.startswith("excluded by the recipe")
    assert classes["conv0"].reason.startswith("not quantized")  # a float graph: nothing quantized
