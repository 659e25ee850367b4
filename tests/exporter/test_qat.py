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
from edgebench.exporter.train.distill import DistillConfig, distill_loss  # noqa: E402
from edgebench.exporter.train.qat import (  # noqa: E402
    ActQuant,
    QATConfig,
    calibrate,
    export_qdq,
    holdout_split,
    predict,
    prepare_qat,
    qat_train,
    qdq_parity,
    split_for_validation,
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
                     distill=DistillConfig()).history
    assert len(hist) == 1 and np.isfinite(hist[0]["loss"])
    s = torch.randn(4, 10)
    assert float(distill_loss(s, s, s.argmax(1), DistillConfig(alpha=1.0))) == pytest.approx(0.0, abs=1e-6)


def test_validation_split_is_disjoint_from_the_fine_tuning_images() -> None:
    rng = np.random.default_rng(0)
    n = 200
    images = np.zeros((n, 4, 4, 3), np.uint8)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = np.arange(n) % 256, np.arange(n) // 256  # every image unique
    data = Dataset(images, rng.integers(0, 10, n), "toy")
    fit, val = split_for_validation(data, 0.1, seed=3)
    assert val is not None and len(val) == 20 and len(fit) == 180
    ids = {name: set((d.images[:, 0, 0, 0].astype(int) + 256 * d.images[:, 0, 0, 1].astype(int)).tolist())
           for name, d in (("fit", fit), ("val", val))}
    assert not ids["fit"] & ids["val"] and ids["fit"] | ids["val"] == set(range(n))
    a, b = holdout_split(n, 0.1, 3), holdout_split(n, 0.1, 3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))  # deterministic by seed
    assert not np.array_equal(holdout_split(n, 0.1, 4)[1], a[1])  # another seed, another split
    assert split_for_validation(data, 0.0, seed=3) == (data, None)
    with pytest.raises(UserInputError, match="val-fraction"):
        QATConfig(val_fraction=0.9)


def _teacher_labelled(n: int, seed: int) -> tuple[Dataset, Dataset]:
    """Images labelled by conv_resnet(0)'s own float predictions: the starting point scores high on them."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    labels = predict(conv_resnet(), Dataset(images, np.zeros(n, np.int64), "toy"), Preprocessing())[0]
    return split_for_validation(Dataset(images, labels.astype(np.int64), "toy"), 0.25, seed=0)  # type: ignore[return-value]


def test_qat_keeps_the_calibrated_start_when_training_only_hurts() -> None:
    """An absurd learning rate wrecks the weights: the epoch-0 state (PTQ's model) must be the one kept."""
    torch.set_num_threads(1)
    fit, val = _teacher_labelled(128, 1)
    gm = prepare_qat(conv_resnet(), get_preset("x86-vnni"))
    calibrate(gm, [torch.from_numpy(_x(16))])
    start = {k: v.clone() for k, v in gm.state_dict().items()}
    run = qat_train(gm, fit, Preprocessing(), QATConfig(epochs=2, batch_size=16, lr=5.0, momentum=0.0),
                    val_data=val, fp32=conv_resnet())
    curve = [r["val_correct"] for r in run.val_curve]
    assert [r["epoch"] for r in run.val_curve] == [0, 1, 2]
    assert curve[0] > max(curve[1:]), curve  # the premise: fine-tuning made validation worse
    assert run.selected_epoch == 0 and run.last_state is not None
    state = gm.state_dict()
    assert all(torch.equal(state[k], v) for k, v in start.items())  # weights and activation ranges restored
    assert run.val_curve[0]["val_agree_fp32_pct"] > 90.0
    assert "val_top1_pct" in run.history[0]  # the curve is also in the per-epoch rows


def test_qat_selects_the_best_validation_epoch() -> None:
    """Labels from another network: fine-tuning helps, and the kept epoch is the first best one of the curve."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (160, 16, 16, 3), dtype=np.uint8)
    labels = predict(conv_resnet(seed=1), Dataset(images, np.zeros(160, np.int64), "toy"), Preprocessing())[0]
    fit, val = split_for_validation(Dataset(images, labels.astype(np.int64), "toy"), 0.25, seed=0)
    assert val is not None
    gm = prepare_qat(conv_resnet(), get_preset("x86-vnni"))
    calibrate(gm, [torch.from_numpy(_x(16))])
    run = qat_train(gm, fit, Preprocessing(), QATConfig(epochs=4, batch_size=16, lr=0.05), val_data=val)
    curve = [r["val_correct"] for r in run.val_curve]
    assert max(curve) > curve[0], curve  # the premise: training improved validation
    assert run.selected_epoch == int(np.argmax(curve)), curve  # np.argmax: the first (earliest) best
    p, _ = predict(gm, val, Preprocessing())
    assert int((p == val.labels).sum()) == max(curve)  # the model holds that epoch's state


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


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_qat_cli_keeps_ptq_when_fine_tuning_loses_on_validation(shared_data: Path, tmp_path: Path) -> None:
    """A 20x lr loses on the held-out images (120 -> 69 of 120 right): epoch 0 is kept, ORT's PTQ model written.
    On the first 1,200 training images (1,080 to fine-tune, 120 held out): a third of the time all 4,000 take."""
    from edgebench.cli import app
    from edgebench.manifest import load_manifest
    from typer.testing import CliRunner

    with np.load(shared_data / "cifar10" / "train_first4000.npz") as z:
        subset = tmp_path / "train_first1200.npz"
        np.savez(subset, images=z["images"][:1200], labels=z["labels"][:1200])
    out = tmp_path / "qat"
    r = CliRunner().invoke(app, ["qat", "resnet20", "--epochs", "1", "--lr", "0.01", "--no-distill", "--eval-data",
                                 "none", "--data", str(subset), "--data-dir", str(shared_data), "--no-download",
                                 "--preset", "x86-vnni", "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    q = load_manifest(out / "model.int8.json")["qat"]
    curve = q["validation"]["curve"]
    assert [c["epoch"] for c in curve] == [0, 1] and curve[1]["val_correct"] < curve[0]["val_correct"], curve
    assert q["selected_epoch"] == 0 and q["exported"].startswith("ptq")
    assert q["validation"]["images"] == 120 and q["train_images"] == 1080
    assert q["parity_vs_fake_quant"]["top1_agreement"] >= 0.98
    m = load_manifest(out / "model.int8.json")
    assert m["quantization_mode"] == "static" and m["nodes"]["ort_cpu"]["all_integer"]
