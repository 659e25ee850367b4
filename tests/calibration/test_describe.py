"""describe: the manifest of a hand-built third-party graph; presets; contradictions; a described model quantizes
and evaluates like an exported one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgebench.calibration.describe import PREPROCESSING_PRESETS, PreprocessingChoice, describe, describe_manifest
from edgebench.calibration.graph import ShapeInferenceError
from edgebench.errors import NotFoundError, OutputExistsError, UserInputError
from edgebench.manifest import Manifest, read_manifest, sha256_file

from tests.calibration.byo_graphs import IMAGE_NET_MACS, broken_net, image_net, segmentation_net

pytest.importorskip("onnx")

UNIT = PreprocessingChoice(preset="unit")


@pytest.mark.parametrize(("layout", "batch", "opset"), [("NCHW", "N", 17), ("NHWC", "N", 9), ("NCHW", 1, 9),
                                                         ("NHWC", 4, 17)])
def test_describe_writes_the_expected_manifest(tmp_path: Path, layout: str, batch: int | str, opset: int) -> None:
    p = image_net(tmp_path / "net.onnx", layout=layout, batch=batch, opset=opset, input_name="images:0")
    m = describe(p, UNIT, "cifar10")
    assert read_manifest(tmp_path / "net.json") == m
    assert Manifest.from_dict(m.to_dict()) == m
    spatial = (3, 16, 16) if layout == "NCHW" else (16, 16, 3)
    assert m.input is not None and m.input.name == "images:0"
    assert m.input.shape == (batch, *spatial)
    assert m.input.preprocessing.layout == layout
    assert m.input.preprocessing.scale == pytest.approx(1 / 255) and m.input.preprocessing.mean == (0.0, 0.0, 0.0)
    assert m.input.dataset == "cifar10" and len(m.input.class_names) == 10
    assert m.batch == (batch if isinstance(batch, int) else "dynamic")
    assert m.opset == opset and m.precision == "fp32" and m.num_classes == 10
    assert m.macs == IMAGE_NET_MACS and m.macs_counter and "onnx graph" in m.macs_counter
    assert m.onnx_file == "net.onnx" and m.onnx_sha256 == sha256_file(p)
    assert m.output is not None and m.output["kind"] == "logits"
    # described, not exported: no parity, no accuracy, no exporter claimed
    assert m.described and m.source == "described" and m.provenance and m.provenance["source"] == "described"
    assert m.parity is None and m.fp32_accuracy is None and m.exporter is None and m.weights is None
    assert m.graph is not None and m.graph["op_counts"]["Conv"] == 2


def test_exported_manifest_is_not_described() -> None:
    m = Manifest(name="x", exporter="torchscript")
    assert m.source == "exported" and not m.described
    assert Manifest.from_dict({"schema_version": 1, "kind": "edgebench.model", "name": "x"}).provenance is None


def test_softmax_output_is_probabilities(tmp_path: Path) -> None:
    m = describe_manifest(image_net(tmp_path / "s.onnx", softmax=True), UNIT)
    assert m.output is not None and m.output["kind"] == "probabilities" and "Softmax" in m.output["note"]
    assert m.num_classes == 10 and m.input is not None and m.input.class_names == ()


def test_non_logit_output_recorded_as_other(tmp_path: Path) -> None:
    m = describe_manifest(segmentation_net(tmp_path / "seg.onnx"), UNIT)
    assert m.output is not None and m.output["kind"] == "other" and m.num_classes is None
    assert "eval refuses" in m.output["note"]
    with pytest.raises(UserInputError, match="not one score per class"):
        describe_manifest(tmp_path / "seg.onnx", UNIT, "cifar10")


@pytest.mark.parametrize(("preset", "size", "resize", "crop", "order"), [
    ("imagenet", "H", 256, 224, "RGB"),  # dynamic size: the preset's 224, resize 256
    ("imagenet", 32, 37, 32, "RGB"),  # fixed 32x32: resize 32 x 256/224
    ("caffe-bgr", "H", 256, 224, "BGR"),
    ("cifar10", 32, None, None, "RGB"),
    ("symmetric", 16, None, None, "RGB"),
])
def test_presets(tmp_path: Path, preset: str, size: int | str, resize: int | None, crop: int | None,
                 order: str) -> None:
    p = image_net(tmp_path / "n.onnx", size=size)  # type: ignore[arg-type]
    m = describe_manifest(p, PreprocessingChoice(preset=preset))
    assert m.input is not None
    pp = m.input.preprocessing
    assert (pp.resize, pp.crop, pp.channel_order) == (resize, crop, order)
    want = PREPROCESSING_PRESETS.get(preset)
    assert pp.mean == want.mean and pp.std == want.std and pp.scale == want.scale
    assert m.macs is not None and m.provenance is not None and m.provenance["preprocessing"] == f"preset {preset}"


def test_explicit_options_and_input_like(tmp_path: Path) -> None:
    p = image_net(tmp_path / "n.onnx", size="H")  # type: ignore[arg-type]
    m = describe_manifest(p, PreprocessingChoice(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), scale=1 / 255,
                                                 size=(64, 64), resize=72, channel_order="BGR"))
    assert m.input is not None and m.input.shape == ("N", 3, 64, 64)
    pp = m.input.preprocessing
    assert (pp.resize, pp.crop, pp.mean, pp.channel_order) == (72, 64, (0.5, 0.5, 0.5), "BGR")
    assert m.macs == 64 * 64 * 8 * 27 + 32 * 32 * 8 * 9 + 80


def test_unknown_preset_suggests() -> None:
    with pytest.raises(NotFoundError, match="Did you mean 'imagenet'"):
        PreprocessingChoice(preset="imagenat")


def test_existing_manifest_needs_force(tmp_path: Path) -> None:
    p = image_net(tmp_path / "n.onnx")
    describe(p, UNIT)
    before = (tmp_path / "n.json").read_text()
    with pytest.raises(OutputExistsError, match="--force"):
        describe(p, PreprocessingChoice(preset="imagenet"))
    assert (tmp_path / "n.json").read_text() == before
    m = describe(p, PreprocessingChoice(preset="cifar10", resize=16), force=True)
    assert read_manifest(tmp_path / "n.json") == m


@pytest.mark.parametrize(("kwargs", "choice", "labels", "match"), [
    ({"second_image": True}, UNIT, None, "2 image-like inputs .*which one is the image"),
    ({"extra_input": True}, UNIT, None, r"non-image input\(s\) besides the image \(mask \[N, 4\] int64\)"),
    ({}, PreprocessingChoice(), None, "say how images become the input .*nothing is guessed"),
    ({}, PreprocessingChoice(preset="unit", size=(32, 32)), None, "--size 32x32 contradicts input .* 16x16"),
    ({}, PreprocessingChoice(preset="unit", layout="NHWC"), None, "--layout NHWC contradicts input"),
    ({}, PreprocessingChoice(mean=(0.5, 0.5), std=(0.2, 0.2)), None, "2 channel means but input .* 3 channel"),
    ({}, PreprocessingChoice(preset="imagenet", resize=8), None, "--resize 8 is smaller than the 16x16 input"),
    ({"size": 224}, PreprocessingChoice(preset="cifar10"), None, "preset cifar10 feeds 32x32 images"),
    ({"classes": 1000}, UNIT, "cifar10", "names 10 classes but output scores .* has 1000"),
])
def test_bad_input(tmp_path: Path, kwargs: dict, choice: PreprocessingChoice, labels: str | None,
                   match: str) -> None:
    p = image_net(tmp_path / "n.onnx", **kwargs)
    with pytest.raises(UserInputError, match=match):
        describe(p, choice, labels)
    assert not (tmp_path / "n.json").exists()


def test_labels_file(tmp_path: Path) -> None:
    p = image_net(tmp_path / "n.onnx", classes=3)
    f = tmp_path / "labels.txt"
    f.write_text("cat\ndog\n\nbird\n")
    m = describe_manifest(p, UNIT, str(f))
    assert m.input is not None and m.input.class_names == ("cat", "dog", "bird")
    f.write_text("cat\ndog\n")
    with pytest.raises(UserInputError, match="names 2 classes but output"):
        describe_manifest(p, UNIT, str(f))
    with pytest.raises(UserInputError, match="not cifar10, imagenet or an existing file"):
        describe_manifest(p, UNIT, str(tmp_path / "nope.txt"))


def test_non_image_input(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["ids"], ["out"])], "tok",
                          [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 128])],
                          [helper.make_tensor_value_info("out", TensorProto.INT64, ["N", 128])])
    p = tmp_path / "tok.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    with pytest.raises(UserInputError, match=r"no image input \(ids \[N, 128\] int64\)"):
        describe(p, UNIT)


def test_shape_inference_failure(tmp_path: Path) -> None:
    with pytest.raises(ShapeInferenceError, match="at node 'bad_add'"):
        describe(broken_net(tmp_path / "b.onnx"), UNIT)
    assert not (tmp_path / "b.json").exists()


def _labelled(path: Path, n: int = 40, size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 256, (n, size, size, 3)).astype(np.uint8), labels=rng.integers(0, 10, n))
    return path


@pytest.mark.parametrize(("layout", "batch", "opset"), [("NHWC", 4, 9), ("NCHW", "N", 17)])
def test_described_model_quantizes_and_evaluates(tmp_path: Path, layout: str, batch: int | str, opset: int) -> None:
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.evaluate import evaluate
    from edgebench.calibration.quantize import quantize_static_model
    from edgebench.calibration.recipes import resolve_preset

    p = image_net(tmp_path / "net.onnx", layout=layout, batch=batch, opset=opset, softmax=True, input_name="x.1")
    fp32 = describe(p, UNIT, "cifar10")
    data = _labelled(tmp_path / "d.npz")
    ds = load_dataset(str(data), size=32, seed=0)
    said: list[str] = []
    from edgebench.cpu import cpu_info

    m = quantize_static_model(p, ds, resolve_preset("auto", None, cpu_info()), log=said.append)
    assert m.precision == "int8" and m.parent_file == "net.onnx" and m.parent_sha256 == fp32.onnx_sha256
    assert m.described and m.macs == IMAGE_NET_MACS and m.input == fp32.input  # network facts kept
    assert m.parity is None
    assert m.nodes is not None and m.nodes["int8"] >= 3
    if opset < 13:
        assert m.opset == 13 and m.graph == {"opset_upgraded": {"from": 9, "to": 13, "by": "onnx.version_converter"}}
        assert any("opset 9: upgraded to opset 13" in s for s in said)
    else:
        assert m.graph is None and not said
    r32 = evaluate(p, str(data), threads=1)
    r8 = evaluate(tmp_path / "net.int8.onnx", str(data), threads=1)
    assert r32["n"] == r8["n"] == 40 and r32["output_kind"] == "probabilities"
    assert sum(a == b for a, b in zip(r32["predictions"], r8["predictions"], strict=True)) >= 30


def test_eval_refuses_a_non_classification_output(tmp_path: Path) -> None:
    from edgebench.calibration.evaluate import evaluate

    p = segmentation_net(tmp_path / "seg.onnx")
    describe(p, UNIT)
    with pytest.raises(UserInputError, match=r"is 'other', not one score per class.*bench"):
        evaluate(p, str(_labelled(tmp_path / "d.npz")), threads=1)


def test_eval_with_an_in_memory_manifest(tmp_path: Path) -> None:
    from edgebench.calibration.evaluate import evaluate

    p = image_net(tmp_path / "net.onnx")
    data = str(_labelled(tmp_path / "d.npz"))
    with pytest.raises(UserInputError, match="edgebench describe"):
        evaluate(p, data, threads=1)
    r = evaluate(p, data, threads=1, manifest=describe_manifest(p, UNIT))
    assert r["n"] == 40 and not (tmp_path / "net.json").exists()


def test_tf_same_padding_graph_has_macs(tmp_path: Path) -> None:
    """EfficientNet-Lite0 exported by hand: its pads come from a ConstantOfShape/Concat/Slice chain ONNX's
    inference cannot follow; ORT's symbolic inference gives the shapes, the MACs match torch's count."""
    torch = pytest.importorskip("torch")
    from edgebench.calibration.graph import inspect_graph
    from edgebench.exporter.models.efficientnet_lite import EfficientNetLite
    from torch.utils.flop_counter import FlopCounterMode

    model = EfficientNetLite(1.0, 1.0, 128, 0.2).eval()  # Lite0 at 128 px (its 224 counts the same way, slower)
    x = torch.zeros(1, 3, 128, 128)
    p = tmp_path / "lite0.onnx"
    torch.onnx.export(model, x, str(p), input_names=["input"], output_names=["logits"], opset_version=17,
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, dynamo=False)
    with FlopCounterMode(display=False) as counter:
        model(x)
    g = inspect_graph(p)
    assert g.macs_note is None
    assert g.macs == counter.get_total_flops() // 2
    m = describe_manifest(p, PreprocessingChoice(preset="tf-lite"), "imagenet")
    assert m.macs == g.macs and m.num_classes == 1000
