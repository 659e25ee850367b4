"""Accuracy-aware PTQ on a model built here with one deliberately sensitive layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.calibration.accuracy_aware import AccuracyBudget, BudgetNotMet, accuracy_aware_quantize
from edgebench.calibration.bits import node_weight_types
from edgebench.calibration.dataset import Dataset
from edgebench.calibration.preprocess import preprocess
from edgebench.calibration.quantize import quantize_static_model
from edgebench.calibration.recipes import PresetChoice, resolve_preset
from edgebench.errors import UserInputError
from edgebench.manifest import InputInfo, Preprocessing, load_manifest, new_manifest, sha256_file
from edgebench.runtimes.ort.options import cpu_session

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SIZE = 8
PP = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def sensitive_net(path: Path, corner: float = 50.0) -> Path:
    """A colour classifier: conv0 (1x1, +2 bias) -> relu -> pool -> conv1 -> relu -> fc (identity), 3 classes.

    conv1 is the sensitive layer: a 3x3 conv on the pooled 1x1 map (pads 1), so only its centre tap sees data,
    a diagonal of 0.15 / 0.25 / 0.35 that weighs the three colours; its corner taps hold 50, which only ever
    multiplies the zero padding. FP32 ignores the corners, but per-channel INT8 takes its scale from them
    (50 / 127 = 0.39) and rounds the diagonal to 0 / 0.39 / 0.39, so class 0 disappears. Every activation keeps
    an ordinary range: keeping conv1 alone in float repairs the model.

    `corner` 2.0 makes conv1 sensitive to 4-bit weights only: int4's scale 2 / 7.5 = 0.27 rounds the whole
    diagonal to 0.27 (the colours weigh the same), int8's 2 / 127 keeps it (0.157 / 0.252 / 0.346)."""
    from onnx import TensorProto, helper, numpy_helper

    c = 3
    w0 = np.eye(c, dtype=np.float32).reshape(c, c, 1, 1)
    b0 = np.full(c, 2.0, np.float32)
    w1 = np.zeros((c, c, 3, 3), np.float32)
    w1[:, :, 1, 1] = np.diag([0.15, 0.25, 0.35])
    w1[:, :, 0, 0] = corner
    fc = np.eye(c, dtype=np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w0, "w0"), (b0, "b0"), (w1, "w1"), (fc, "fc.w"),
                                                         (np.zeros(c, np.float32), "fc.b"))]
    mk = helper.make_node
    nodes = [mk("Conv", ["input", "w0", "b0"], ["c0"], name="conv0"), mk("Relu", ["c0"], ["r0"], name="relu0"),
             mk("GlobalAveragePool", ["r0"], ["pool"], name="pool"),
             mk("Conv", ["pool", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             mk("Relu", ["c1"], ["r1"], name="relu1"), mk("Flatten", ["r1"], ["flat"], axis=1, name="flatten"),
             mk("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1, name="fc")]
    graph = helper.make_graph(nodes, "sensitive", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                 ["batch", 3, SIZE, SIZE])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", c])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    write_json(path.with_suffix(".json"), new_manifest(
        name="sensitive", arch="sensitive", precision="fp32", onnx_file=path.name, onnx_sha256=sha256_file(path),
        input=InputInfo("input", ("batch", 3, SIZE, SIZE), PP).to_dict()))
    return path


def images(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, 1, 1, 3))
    return np.clip(base + rng.normal(0, 40, (n, SIZE, SIZE, 3)), 0, 255).astype(np.uint8)


def predictor(x_images: np.ndarray) -> Callable[[Path], list[int]]:
    def predict(path: Path) -> list[int]:
        sess = cpu_session(path, intra_op_threads=1, log_level=None)
        return sess.run(None, {"input": preprocess(x_images, PP)})[0].argmax(1).tolist()
    return predict


def _setup(tmp_path: Path, corner: float = 50.0) -> tuple[Path, Dataset, Dataset]:
    model = sensitive_net(tmp_path / "model.fp32.onnx", corner)
    calib = Dataset(images(64, 1), np.zeros(64, np.int64), "calib")
    ev_images = images(1000, 2)
    logits = cpu_session(model, intra_op_threads=1, log_level=None).run(
        None, {"input": preprocess(ev_images, PP)})[0]
    top2 = np.sort(logits, axis=1)[:, -2:]
    margin = (top2[:, 1] - top2[:, 0]) / np.abs(logits).max(axis=1)
    keep = np.argsort(-margin)[:300]  # images FP32 classifies with a clear margin: INT8 rounding alone keeps them
    # labels: the FP32 predictions, so FP32 is right on every image and the drop is what quantization breaks
    return model, calib, Dataset(ev_images[np.sort(keep)], logits[np.sort(keep)].argmax(1), "eval")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Dataset, Dataset]:
    return _setup(tmp_path)


def test_sensitive_layer_is_the_one_kept_float(setup: tuple[Path, Dataset, Dataset]) -> None:
    model, calib, ev = setup
    choice = resolve_preset("x86-vnni")
    m = accuracy_aware_quantize(model, calib, choice, ev, predictor(ev.images), AccuracyBudget(1.0),
                                batch_size=16).to_dict()
    aa = m["accuracy_aware"]
    assert aa["drop_before_pts"] > 3.0, aa["steps"]  # plain PTQ breaks the model...
    assert aa["met"] and aa["drop_after_pts"] <= 1.0  # ...keeping conv1 float repairs it
    assert aa["float_nodes"] == ["conv1"], [(s["float_nodes"], s["drop_pts"]) for s in aa["steps"]]
    assert aa["kept_float"][0]["kind"] == "weights" and "conv1" in aa["kept_float"][0]["why"]
    assert m["recipe"]["nodes_to_exclude"] == ["conv1"]
    assert load_manifest(model.parent / "model.int8.json") == m
    # the written graph really runs conv1 in float (its weight is a plain initializer)
    g = onnx.load(str(model.parent / "model.int8.onnx")).graph
    conv1 = next(n for n in g.node if n.name == "conv1")
    assert conv1.input[1] in {i.name for i in g.initializer}


def test_budget_not_met_writes_nothing(setup: tuple[Path, Dataset, Dataset]) -> None:
    model, calib, ev = setup
    with pytest.raises(BudgetNotMet, match="best drop"):
        accuracy_aware_quantize(model, calib, resolve_preset("x86-vnni"), ev, predictor(ev.images),
                                AccuracyBudget(0.0, max_steps=0), batch_size=16)
    assert not (model.parent / "model.int8.onnx").exists() and not (model.parent / "model.int8.json").exists()
    m = accuracy_aware_quantize(model, calib, resolve_preset("x86-vnni"), ev, predictor(ev.images),
                                AccuracyBudget(0.0, max_steps=0, best_effort=True), batch_size=16).to_dict()
    assert m["accuracy_aware"]["met"] is False and m["accuracy_aware"]["float_nodes"] == []


@pytest.mark.parametrize("bad", [-0.1, float("nan"), 50.0])
def test_bad_budget(bad: float) -> None:
    with pytest.raises(UserInputError, match="accuracy-budget"):
        AccuracyBudget(bad)


def _w4(preset: str = "x86-vnni") -> PresetChoice:
    choice = resolve_preset(preset)
    return replace(choice, recipe=choice.recipe.with_overrides(weight_bits=4))


def _conv1_weight_type(path: Path) -> str:
    return node_weight_types(onnx.load(str(path)))["conv1"]


def test_low_bit_falls_back_to_int8_first(tmp_path: Path) -> None:
    """Under 4-bit weights the sensitive layer ends at 8 bits (its weight's DequantizeLinear reads int8), not
    float; the other weights stay int4."""
    model, calib, ev = _setup(tmp_path, corner=2.0)
    m = accuracy_aware_quantize(model, calib, _w4(), ev, predictor(ev.images), AccuracyBudget(0.5),
                                batch_size=16).to_dict()
    aa = m["accuracy_aware"]
    assert aa["fallback"] == "int8"
    assert aa["drop_before_pts"] > 2.0, aa["steps"]  # int4 rounds conv1's diagonal flat...
    assert aa["met"] and aa["drop_after_pts"] <= 0.5  # ...its 8-bit weights repair it
    assert aa["int8_nodes"] == ["conv1"] and aa["float_nodes"] == [], aa["steps"]
    assert aa["fell_back"] == [{"node": "conv1", "to": "int8", "why": aa["fell_back"][0]["why"]}]
    assert "8-bit weights" in aa["fell_back"][0]["why"] and "4-bit" in aa["fell_back"][0]["why"]
    assert m["recipe"]["int8_nodes"] == ["conv1"] and m["recipe"]["nodes_to_exclude"] == []
    types = node_weight_types(onnx.load(str(model.parent / "model.int8.onnx")))
    assert types == {"conv0": "int4", "conv1": "int8", "fc": "int4"}
    assert m["nodes"]["weight_types"] == {"int4": 2, "int8": 1}


def test_low_bit_goes_float_when_int8_is_not_enough(tmp_path: Path) -> None:
    """conv1 with corners of 50 is broken at 8 bits too: the search tries 8 bits first, then keeps it float."""
    model, calib, ev = _setup(tmp_path, corner=50.0)
    m = accuracy_aware_quantize(model, calib, _w4(), ev, predictor(ev.images), AccuracyBudget(1.0),
                                batch_size=16).to_dict()
    aa = m["accuracy_aware"]
    assert aa["met"] and aa["float_nodes"] == ["conv1"], aa["steps"]
    assert [s["int8_nodes"] for s in aa["steps"]][:2] == [0, 1]  # 8 bits tried first...
    assert aa["steps"][1]["drop_pts"] > 1.0  # ...and not enough
    assert aa["fell_back"][0]["node"] == "conv1" and aa["fell_back"][0]["to"] == "float"
    assert "8-bit was not enough" in aa["fell_back"][0]["why"]
    assert _conv1_weight_type(model.parent / "model.int8.onnx") == "float"


def test_fallback_float_skips_int8(tmp_path: Path) -> None:
    model, calib, ev = _setup(tmp_path, corner=2.0)
    m = accuracy_aware_quantize(model, calib, _w4(), ev, predictor(ev.images),
                                AccuracyBudget(1.0, fallback="float"), batch_size=16).to_dict()
    aa = m["accuracy_aware"]
    assert aa["fallback"] == "float" and aa["int8_nodes"] == [] and "conv1" in aa["float_nodes"]
    assert all(s["int8_nodes"] == 0 for s in aa["steps"])


def test_six_bit_fallback_node_keeps_8_bit_values(tmp_path: Path) -> None:
    """6-bit weights are int8 tensors in [-31, 31]; a fallback node keeps the preset's range (7 bits with
    reduce_range, here x86-avx2)."""
    from onnx import numpy_helper

    model, _calib, _ev = _setup(tmp_path, corner=2.0)
    calib = Dataset(images(64, 1), np.zeros(64, np.int64), "calib")
    choice = resolve_preset("x86-avx2")
    choice = replace(choice, recipe=choice.recipe.with_overrides(weight_bits=6, int8_nodes=("conv1",)))
    quantize_static_model(model, calib, choice, batch_size=16, force=True)
    g = onnx.load(str(model.parent / "model.int8.onnx")).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    peak = {n.name: int(np.abs(inits[producer[n.input[1]].input[0]]).max()) for n in g.node
            if n.op_type in ("Conv", "Gemm")}
    assert peak == {"conv0": 31, "conv1": 63, "fc": 31}


def test_bad_fallback(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="--fallback 'int4'"):
        AccuracyBudget(0.3, fallback="int4")
    model, calib, ev = _setup(tmp_path, corner=2.0)
    with pytest.raises(UserInputError, match="already 8-bit"):  # nothing between INT8 and float
        accuracy_aware_quantize(model, calib, resolve_preset("x86-vnni"), ev, predictor(ev.images),
                                AccuracyBudget(1.0, fallback="int8"), batch_size=16)
    with pytest.raises(UserInputError, match="int8_nodes"):
        resolve_preset("x86-vnni").recipe.with_overrides(int8_nodes=("conv1",))


def test_methods_are_tried_preset_first() -> None:
    from edgebench.calibration.accuracy_aware import _methods_in_order

    assert _methods_in_order(None, "minmax") == ("minmax",)
    assert _methods_in_order(("percentile", "minmax", "entropy"), "minmax") == ("minmax", "percentile", "entropy")
    assert _methods_in_order(("percentile", "entropy"), "minmax") == ("percentile", "entropy")
