"""Accuracy-aware PTQ on a model built here with one deliberately sensitive layer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.calibration.accuracy_aware import AccuracyBudget, BudgetNotMet, accuracy_aware_quantize
from edgebench.calibration.dataset import Dataset
from edgebench.calibration.preprocess import preprocess
from edgebench.calibration.recipes import resolve_preset
from edgebench.errors import UserInputError
from edgebench.manifest import InputInfo, Preprocessing, load_manifest, new_manifest, sha256_file

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SIZE = 8
PP = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def sensitive_net(path: Path) -> Path:
    """A colour classifier: conv0 (1x1, +2 bias) -> relu -> pool -> conv1 -> relu -> fc (identity), 3 classes.

    conv1 is the sensitive layer: a 3x3 conv on the pooled 1x1 map (pads 1), so only its centre tap sees data,
    a diagonal of 0.15 / 0.25 / 0.35 that weighs the three colours; its corner taps hold 50, which only ever
    multiplies the zero padding. FP32 ignores the corners, but per-channel INT8 takes its scale from them
    (50 / 127 = 0.39) and rounds the diagonal to 0 / 0.39 / 0.39, so class 0 disappears. Every activation keeps
    an ordinary range: keeping conv1 alone in float repairs the model."""
    from onnx import TensorProto, helper, numpy_helper

    c = 3
    w0 = np.eye(c, dtype=np.float32).reshape(c, c, 1, 1)
    b0 = np.full(c, 2.0, np.float32)
    w1 = np.zeros((c, c, 3, 3), np.float32)
    w1[:, :, 1, 1] = np.diag([0.15, 0.25, 0.35])
    w1[:, :, 0, 0] = 50.0
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
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        return sess.run(None, {"input": preprocess(x_images, PP)})[0].argmax(1).tolist()
    return predict


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Dataset, Dataset]:
    model = sensitive_net(tmp_path / "model.fp32.onnx")
    calib = Dataset(images(64, 1), np.zeros(64, np.int64), "calib")
    ev_images = images(1000, 2)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    logits = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"]).run(
        None, {"input": preprocess(ev_images, PP)})[0]
    top2 = np.sort(logits, axis=1)[:, -2:]
    margin = (top2[:, 1] - top2[:, 0]) / np.abs(logits).max(axis=1)
    keep = np.argsort(-margin)[:300]  # images FP32 classifies with a clear margin: INT8 rounding alone keeps them
    # labels: the FP32 predictions, so FP32 is right on every image and the drop is what quantization breaks
    return model, calib, Dataset(ev_images[np.sort(keep)], logits[np.sort(keep)].argmax(1), "eval")


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
