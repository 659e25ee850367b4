"""QAT: fake quantization placed and computed like ORT's QDQ recipe; the exported QDQ ONNX runs as INT8 in ORT
and matches the fake-quant PyTorch model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from edgebench.calibration.bits import executed_ops  # noqa: E402
from edgebench.calibration.datasets import Dataset  # noqa: E402
from edgebench.calibration.recipes import get_preset  # noqa: E402
from edgebench.errors import UserInputError  # noqa: E402
from edgebench.exporter.distill import DistillConfig, distill_loss  # noqa: E402
from edgebench.exporter.qat import (  # noqa: E402
    ActQuant,
    QATConfig,
    calibrate,
    export_qdq,
    prepare_qat,
    qat_train,
    qdq_parity,
)
from edgebench.manifest import Preprocessing  # noqa: E402

from tests.exporter.tiny_nets import conv_resnet, pad_resnet  # noqa: E402

pytestmark = pytest.mark.torch


def _x(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, 16, 16)).astype(np.float32)


@pytest.mark.parametrize(("make", "preset"), [(conv_resnet, "x86-vnni"), (pad_resnet, "x86-avx2"),
                                              (conv_resnet, "arm64-dotprod")])
def test_qdq_export_runs_int8_and_matches_fake_quant(tmp_path: Path, make: object, preset: str) -> None:
    torch.set_num_threads(1)
    recipe = get_preset(preset)
    gm = prepare_qat(make(), recipe)  # type: ignore[operator]
    acts = [m for m in gm.modules() if isinstance(m, ActQuant)]
    assert acts and all(a.int_type == recipe.activation_type for a in acts)
    calibrate(gm, [torch.from_numpy(_x(32, s)) for s in range(2)])
    path = tmp_path / "qat.onnx"
    export_qdq(gm, torch.from_numpy(_x(2)), path)
    graph = onnx.load(str(path)).graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    for conv in convs:  # int8 weights (folded), int32 bias, per-channel as the preset says
        wdq = producer[conv.input[1]]
        assert wdq.op_type == "DequantizeLinear" and inits[wdq.input[0]].data_type == onnx.TensorProto.INT8
        scale = onnx.numpy_helper.to_array(inits[wdq.input[1]])
        assert scale.size == inits[wdq.input[0]].dims[0]
        q = onnx.numpy_helper.to_array(inits[wdq.input[0]])
        assert np.abs(q.astype(int)).max() <= (64 if recipe.reduce_range else 127)
    act_type = {"uint8": onnx.TensorProto.UINT8, "int8": onnx.TensorProto.INT8}[recipe.activation_type]
    qs = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    assert qs and all(inits[q.input[2]].data_type == act_type for q in qs)
    ops = executed_ops(path)  # what ORT's CPU provider runs after its fusions
    if recipe.activation_type == "uint8":
        assert ops["integer_compute"].get("QLinearConv") == len(convs) and ops["all_integer"], ops
    else:  # S8S8 on an x86 host: ORT fuses only some convs (its own PTQ graph of this recipe does the same)
        assert ops["integer_compute"].get("QLinearConv", 0) >= 1, ops
    par = qdq_parity(gm, path, _x(200, 5))
    assert par["top1_agreement"] >= 0.97, par
    assert par["max_abs_diff"] <= 0.1 * par["logit_range"], par


def test_fake_quant_uses_ort_weight_scale() -> None:
    gm = prepare_qat(conv_resnet(), get_preset("x86-avx2"))  # reduce_range: max|w| / 64
    calibrate(gm, [torch.from_numpy(_x(8))])
    qw = next(m for m in gm.modules() if m.__class__.__name__ == "QuantWeight")
    w = qw.qweight().detach()
    step = qw.mod.weight.detach().abs().flatten(1).amax(1) / 64
    levels = (w / step[:, None, None, None]).numpy()
    assert np.allclose(levels, np.round(levels), atol=1e-3) and np.abs(levels).max() <= 64 + 1e-3


def test_qat_training_runs_with_distillation() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    data = Dataset(rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8), rng.integers(0, 10, 64), "toy")
    teacher = conv_resnet()
    gm = prepare_qat(teacher, get_preset("x86-vnni"))
    calibrate(gm, [torch.from_numpy(_x(16))])
    hist = qat_train(gm, data, Preprocessing(), QATConfig(epochs=1, batch_size=16), teacher=teacher,
                     distill=DistillConfig())
    assert len(hist) == 1 and np.isfinite(hist[0]["loss"])
    s = torch.randn(4, 10)
    assert float(distill_loss(s, s, s.argmax(1), DistillConfig(alpha=1.0))) == pytest.approx(0.0, abs=1e-6)


def test_bad_qat_input() -> None:
    frozen = conv_resnet()
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(UserInputError, match="trainable weights"):
        prepare_qat(frozen, get_preset("x86-vnni"))
    with pytest.raises(UserInputError, match="8-bit QDQ"):
        prepare_qat(conv_resnet(), get_preset("x86-vnni").with_overrides(weight_bits=4))
    with pytest.raises(UserInputError, match="epochs"):
        QATConfig(epochs=-1)
    with pytest.raises(UserInputError, match="distill-alpha"):
        DistillConfig(alpha=2.0)


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_qat_cli_on_resnet20_writes_a_derived_int8_model(shared_data: Path, tmp_path: Path) -> None:
    """`edgebench qat resnet20 --epochs 0`: FP32 parent + QDQ INT8 that ORT fuses fully, manifest derived."""
    from edgebench.cli import app
    from edgebench.manifest import load_manifest, sha256_file
    from typer.testing import CliRunner

    out = tmp_path / "qat"
    r = CliRunner().invoke(app, ["qat", "resnet20", "--epochs", "0", "--data-dir", str(shared_data), "--no-download",
                                 "--preset", "x86-vnni", "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    m = load_manifest(out / "model.int8.json")
    assert m["quantization_mode"] == "qat" and m["parent_sha256"] == sha256_file(out / "model.fp32.onnx")
    assert m["nodes"]["ort_cpu"]["integer_compute"]["QLinearConv"] == 19 and m["nodes"]["ort_cpu"]["all_integer"]
    assert m["qat"]["parity_vs_fake_quant"]["top1_agreement"] >= 0.98
    assert m["qat"]["top1_pct_torch_before"] > 89.0  # fake-quant ResNet-20 keeps its ~91.5 % (1000 test images)
    assert r.exit_code == 0 and "QLinearConv x19" in r.stdout
