"""Quantization of small models built in code: the output graph is inspected, not just loaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.calibration.datasets import Dataset
from edgebench.calibration.quantize import (
    convert_fp16_model,
    count_nodes,
    quantize_dynamic_model,
    quantize_static_model,
)
from edgebench.calibration.recipes import PresetChoice, QuantRecipe, get_preset, resolve_preset
from edgebench.errors import CalibrationError, OutputExistsError, UserInputError
from edgebench.manifest import InputInfo, load_manifest, new_manifest, sha256_file
from edgebench.tools.synthetic import conv_net

onnx = pytest.importorskip("onnx")


def exported(tmp_path: Path, size: int = 16, dynamic_batch: bool = True) -> Path:
    """A tiny conv net plus the manifest `edgebench export` would write."""
    model = conv_net(tmp_path / "model.fp32.onnx", size=size, dynamic_batch=dynamic_batch)
    write_json(tmp_path / "model.fp32.json",
               new_manifest(name="tiny", arch="conv_net", precision="fp32", params=1234,
                            input=InputInfo("input", ("batch" if dynamic_batch else 1, 3, size, size)).to_dict()))
    return model


def images(n: int = 40, size: int = 16, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.zeros(n, np.int64), "rand")


def choice(name: str) -> PresetChoice:
    return resolve_preset(name)


def ops(path: Path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def test_static_qdq_graph_and_manifest(tmp_path: Path) -> None:
    model = exported(tmp_path)
    ds = images()
    m = quantize_static_model(model, ds, choice("x86-avx2"), batch_size=8, dataset_spec="rand.npz", seed=0).to_dict()
    out = tmp_path / "model.int8.onnx"
    assert out.is_file() and m["onnx_file"] == "model.int8.onnx"
    graph = onnx.load(str(out)).graph
    kinds = [n.op_type for n in graph.node]
    assert "QuantizeLinear" in kinds and "DequantizeLinear" in kinds
    # every Conv and the Gemm read their weights through DequantizeLinear of an int8 initializer
    producer = {o: n for n in graph.node for o in n.output}
    inits = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type in ("Conv", "Gemm"):
            dq = producer[node.input[1]]
            assert dq.op_type == "DequantizeLinear"
            assert inits[dq.input[0]].data_type == onnx.TensorProto.INT8
            assert all(producer[i].op_type == "DequantizeLinear" for i in node.input if i)
    assert producer["logits"].op_type == "Gemm"  # float logits: quantized ones tie between classes
    assert m["nodes"]["int8"] == 5 and m["nodes"]["float"] == 0
    assert m["nodes"]["int8_op_types"]["Conv"] == 2
    saved = load_manifest(tmp_path / "model.int8.json")
    assert saved == m
    assert m["precision"] == "int8" and m["parent_sha256"] == sha256_file(model)
    assert m["onnx_sha256"] == sha256_file(out)
    assert m["recipe"]["reduce_range"] is True and m["preset"]["preset"] == "x86-avx2"
    assert m["calibration"] == {"dataset": "rand.npz", "size": 40, "seed": 0, "batch_size": 8,
                                "sha256": ds.fingerprint(), "method": "minmax", "quant_pre_process": True}
    assert m["input"]["shape"] == ["batch", 3, 16, 16] and m["params"] == 1234
    # it runs and stays close to FP32 on calibration-like data
    from edgebench.calibration.preprocess import preprocess
    from edgebench.manifest import Preprocessing

    x = preprocess(ds.images[:8], Preprocessing())
    ref, got = run(model, x), run(out, x)
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max() + 1e-3


def test_excluded_nodes_and_op_types_stay_float(tmp_path: Path) -> None:
    model = exported(tmp_path)
    recipe = QuantRecipe(nodes_to_exclude=("conv1",), op_types_to_exclude=("Gemm",), name="t")
    m = quantize_static_model(model, images(), PresetChoice(recipe, "custom", "test", "test")).to_dict()
    graph = onnx.load(str(tmp_path / "model.int8.onnx")).graph
    inits = {i.name: i for i in graph.initializer}
    by_name = {n.name: n for n in graph.node}
    producer = {o: n for n in graph.node for o in n.output}
    assert producer[by_name["conv0"].input[1]].op_type == "DequantizeLinear"
    for excluded in ("conv1", "fc"):
        w = by_name[excluded].input[1]
        assert w in inits and inits[w].data_type == onnx.TensorProto.FLOAT, excluded
    assert m["nodes"]["float_op_types"] == {"Conv": 1, "Gemm": 1, "Relu": 1}  # conv1's Relu follows it
    assert m["recipe"]["nodes_to_exclude"] == ["conv1"]


def test_same_inputs_give_a_byte_identical_file(tmp_path: Path) -> None:
    model = exported(tmp_path)
    a = quantize_static_model(model, images(), choice("x86-vnni"), output=tmp_path / "a").to_dict()
    b = quantize_static_model(model, images(), choice("x86-vnni"), output=tmp_path / "b").to_dict()
    assert a["onnx_sha256"] == b["onnx_sha256"]
    assert (tmp_path / "a/model.int8.onnx").read_bytes() == (tmp_path / "b/model.int8.onnx").read_bytes()
    c = quantize_static_model(model, images(seed=1), choice("x86-vnni"), output=tmp_path / "c").to_dict()
    assert c["onnx_sha256"] != a["onnx_sha256"]  # the calibration data does matter


def test_qoperator_and_entropy(tmp_path: Path) -> None:
    model = exported(tmp_path)
    recipe = QuantRecipe(quant_format="qoperator", method="entropy", name="t")
    m = quantize_static_model(model, images(), PresetChoice(recipe, "custom", "test", "test")).to_dict()
    kinds = ops(tmp_path / "model.int8.onnx")
    assert kinds.count("QLinearConv") == 2 and "Conv" not in kinds
    assert m["nodes"]["int8_op_types"]["QLinearConv"] == 2 and m["calibration"]["method"] == "entropy"


def test_fixed_batch_model_calibrates_one_image_at_a_time(tmp_path: Path) -> None:
    model = exported(tmp_path, dynamic_batch=False)
    m = quantize_static_model(model, images(5), choice("x86-vnni"), batch_size=32).to_dict()
    assert m["calibration"]["batch_size"] == 1 and m["calibration"]["size"] == 5


def test_dynamic_and_fp16(tmp_path: Path) -> None:
    model = exported(tmp_path)
    d = quantize_dynamic_model(model, get_preset_choice()).to_dict()
    kinds = ops(tmp_path / "model.int8-dynamic.onnx")
    assert "ConvInteger" in kinds and "DynamicQuantizeLinear" in kinds and "Conv" not in kinds
    assert d["quantization_mode"] == "dynamic" and d["nodes"]["int8_op_types"]["ConvInteger"] == 2
    h = convert_fp16_model(model).to_dict()
    half = onnx.load(str(tmp_path / "model.fp16.onnx"))
    assert {i.data_type for i in half.graph.initializer if i.name.startswith("conv")} == {onnx.TensorProto.FLOAT16}
    assert half.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # same feeds as FP32
    assert h["precision"] == "fp16"
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(run(tmp_path / "model.fp16.onnx", x), run(model, x), atol=2e-2, rtol=2e-2)


def get_preset_choice() -> PresetChoice:
    return PresetChoice(get_preset("x86-vnni"), "x86-vnni", "test", "test")


def test_bad_inputs_leave_nothing_behind(tmp_path: Path) -> None:
    model = exported(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CalibrationError, match="model wants 16x16"):
        quantize_static_model(model, images(size=32), choice("x86-vnni"))
    gray = Dataset(np.zeros((4, 16, 16, 1), np.uint8), np.zeros(4, np.int64), "gray")
    with pytest.raises(CalibrationError, match="channels"):
        quantize_static_model(model, gray, choice("x86-vnni"))
    empty = Dataset(np.zeros((0, 16, 16, 3), np.uint8), np.zeros(0, np.int64), "none")
    with pytest.raises(CalibrationError, match="empty"):
        quantize_static_model(model, empty, choice("x86-vnni"))
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no half-written model, manifest or temp file
    quantize_static_model(model, images(), choice("x86-vnni"))
    with pytest.raises(OutputExistsError, match="--force"):
        quantize_static_model(model, images(), choice("x86-vnni"))
    with pytest.raises(UserInputError, match="already quantized"):
        quantize_static_model(tmp_path / "model.int8.onnx", images(), choice("x86-vnni"), output=tmp_path / "x")


def test_model_without_manifest_is_refused(tmp_path: Path) -> None:
    model = conv_net(tmp_path / "bare.onnx")
    with pytest.raises(UserInputError, match="no manifest"):
        quantize_static_model(model, images(), choice("x86-vnni"))


def test_count_nodes_on_a_float_graph(tmp_path: Path) -> None:
    c = count_nodes(onnx.load(str(conv_net(tmp_path / "f.onnx"))))
    assert c["int8"] == 0 and c["float"] == 7 and c["quantize_dequantize"] == 0


def test_manifest_json_is_plain_numbers(tmp_path: Path) -> None:
    m = quantize_static_model(exported(tmp_path), images(), choice("x86-vnni")).to_dict()
    text = (tmp_path / "model.int8.json").read_text()
    assert json.loads(text) == m
    assert isinstance(m["file_size_mb"], float) and isinstance(m["nodes"]["int8"], int)
    assert hashlib.sha256((tmp_path / "model.int8.onnx").read_bytes()).hexdigest() == m["onnx_sha256"]


def test_imagenet_style_preprocessing_resizes_and_crops(tmp_path: Path) -> None:
    """Calibration images of another size go through the manifest's resize + centre crop, as in eval."""
    from edgebench.manifest import Preprocessing

    model = conv_net(tmp_path / "model.fp32.onnx", size=16)
    pp = Preprocessing(resize=20, crop=16)
    write_json(tmp_path / "model.fp32.json",
               new_manifest(name="tiny", precision="fp32",
                            input=InputInfo("input", ("batch", 3, 16, 16), preprocessing=pp).to_dict()))
    m = quantize_static_model(model, images(12, size=24), choice("x86-vnni")).to_dict()
    assert m["calibration"]["size"] == 12 and m["input"]["preprocessing"]["crop"] == 16


def test_child_manifest_is_derived_from_the_parent(tmp_path: Path) -> None:
    """The INT8 manifest keeps the network fields, not the parent's file fields, and names its parent."""
    from edgebench.artifact import ModelArtifact
    from edgebench.manifest import read_manifest

    model = exported(tmp_path)
    parent = load_manifest(tmp_path / "model.fp32.json")
    parent.update(opset=17, exporter="torchscript", parity={"passed": True}, custom_note="kept")
    write_json(tmp_path / "model.fp32.json", parent, force=True)
    m = quantize_static_model(ModelArtifact.resolve(tmp_path), images(), choice("x86-vnni"))
    assert m == read_manifest(tmp_path / "model.int8.json")
    assert (m.arch, m.params, m.precision, m.parent_file) == ("conv_net", 1234, "int8", "model.fp32.onnx")
    assert m.parent_sha256 == sha256_file(model) and m.parent_precision == "fp32"
    assert m.opset is None and m.exporter is None and m.parity is None  # described the parent's file
    assert m.extra["custom_note"] == "kept" and m.created_utc is not None


def test_a_parent_changed_after_export_is_refused(tmp_path: Path) -> None:
    from edgebench.errors import ModelFileError

    model = exported(tmp_path)
    parent = load_manifest(tmp_path / "model.fp32.json")
    write_json(tmp_path / "model.fp32.json", {**parent, "onnx_sha256": "0" * 64}, force=True)
    with pytest.raises(ModelFileError, match="changed after export"):
        quantize_static_model(model, images(), choice("x86-vnni"))
    assert not (tmp_path / "model.int8.onnx").exists()
