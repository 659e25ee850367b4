"""`edgebench eval --baseline`: paired metrics of two models on the same images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.calibration.metrics import paired_metrics
from edgebench.cli import app
from edgebench.errors import UserInputError
from edgebench.manifest import InputInfo, Manifest, new_manifest
from edgebench.tools.synthetic import conv_net
from typer.testing import CliRunner


def test_paired_metrics_counts_each_direction() -> None:
    labels = np.array([0, 1, 2, 3, 4, 5])
    base = np.array([0, 1, 2, 9, 9, 9])  # 3 right
    new = np.array([0, 7, 2, 3, 8, 9])  # 3 right: lost image 1, gained image 3, image 4 changed but wrong
    m = paired_metrics(new, base, labels)
    assert m == {"n": 6, "agree": 3, "agreement_pct": 50.0, "flipped_to_correct": 1, "flipped_to_wrong": 1,
                 "changed_both_wrong": 1, "top1_delta_pts": 0.0, "top1_delta_ci95_pts": [-49.0, 49.0]}
    same = paired_metrics(base, base, labels)
    assert same["agreement_pct"] == 100.0 and same["flipped_to_wrong"] == same["flipped_to_correct"] == 0
    with pytest.raises(UserInputError, match="one prediction per image"):
        paired_metrics([0, 1], [0], [0, 1])


@pytest.fixture()
def pair(tmp_path: Path) -> tuple[Path, Path, Path]:
    pytest.importorskip("onnx")
    from edgebench.calibration.datasets import Dataset
    from edgebench.calibration.quantize import quantize_static_model
    from edgebench.calibration.recipes import resolve_preset

    d = tmp_path / "m"
    conv_net(d / "model.fp32.onnx", size=16, channels=16)
    write_json(d / "model.fp32.json",
               new_manifest(name="tiny", precision="fp32", input=InputInfo("input", ("batch", 3, 16, 16)).to_dict()))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (200, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 200)
    np.savez(tmp_path / "data.npz", images=images, labels=labels)
    quantize_static_model(d / "model.fp32.onnx", Dataset(images[:64], labels[:64], "c"), resolve_preset("x86-avx2"))
    return d / "model.int8.onnx", d / "model.fp32.onnx", tmp_path / "data.npz"


def test_eval_baseline_cli_agrees_with_single_evals(pair: tuple[Path, Path, Path]) -> None:
    int8, fp32, data = pair
    r = CliRunner().invoke(app, ["eval", str(int8), "--baseline", str(fp32), "--data", str(data), "--json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    single = {}
    for p in (int8, fp32):
        s = CliRunner().invoke(app, ["eval", str(p), "--data", str(data), "--json"])
        single[p] = json.loads(s.stdout)["top1_pct"]
    assert out["model"]["top1_pct"] == single[int8] and out["baseline"]["top1_pct"] == single[fp32]
    p = out["paired"]
    assert p["n"] == 200 and p["top1_delta_pts"] == pytest.approx(single[int8] - single[fp32])
    assert p["agree"] + p["flipped_to_correct"] + p["flipped_to_wrong"] + p["changed_both_wrong"] == 200
    assert p["agreement_pct"] > 50.0  # INT8 of the same network mostly agrees with its parent
    text = CliRunner().invoke(app, ["eval", str(int8), "-b", str(fp32), "--data", str(data), "--limit", "50"])
    assert text.exit_code == 0 and "agreement" in text.stdout and "on 50 images" in text.stdout
    assert "95 % CI" in text.stdout
    lo, hi = p["top1_delta_ci95_pts"]
    assert lo <= p["top1_delta_pts"] <= hi and lo < hi  # the paired difference with its CI


def test_eval_baseline_bad_inputs(pair: tuple[Path, Path, Path], tmp_path: Path) -> None:
    int8, _, data = pair
    r = CliRunner().invoke(app, ["eval", str(int8), "--baseline", str(int8), "--data", str(data)])
    assert r.exit_code == 2 and "is the model itself" in r.stderr
    r = CliRunner().invoke(app, ["eval", str(int8), "--baseline", str(tmp_path / "nope.onnx"), "--data", str(data)])
    assert r.exit_code == 2 and "does not exist" in r.stderr


# ---- which INT8 arithmetic an evaluation measures (docs/int8-arithmetic.md) ------------------------------

ZEN3 = {"arch": "x86_64", "model": "AMD Ryzen 7 5800X", "isa": {"avx2": True, "avx512_vnni": False}}
ZEN4 = {"arch": "x86_64", "model": "AMD EPYC 9654", "isa": {"avx2": True, "avx512_vnni": True}}
PI4 = {"arch": "aarch64", "model": "Cortex-A72", "isa": {"asimd": True, "asimddp": False}}
PI5 = {"arch": "aarch64", "model": "Cortex-A76", "isa": {"asimd": True, "asimddp": True}}


def _int8_manifest(preset: str, **extra: Any) -> Manifest:
    from edgebench.calibration.recipes import get_preset

    return Manifest(**{"precision": "int8", "quantization_mode": "static", "recipe": get_preset(preset).to_dict(),
                       **extra})


@pytest.mark.parametrize(("cpu", "preset", "mode", "expected", "warns"), [
    (ZEN3, "arm64-neon", "auto", "qdq-reference", True),  # the issue: Zen3 saturates the pi4 model
    (ZEN3, "arm64-neon", "host", "host-kernels", True),
    (ZEN3, "arm64-neon", "qdq", "qdq-reference", True),
    (ZEN3, "arm64-dotprod", "auto", "qdq-reference", True),
    (ZEN3, "x86-avx2", "auto", "host-kernels", False),  # reduce_range: 7-bit weights fit int16
    (ZEN3, "x86-avx2", "qdq", "qdq-reference", False),
    (ZEN4, "arm64-neon", "auto", "host-kernels", False),
    (ZEN4, "arm64-dotprod", "auto", "host-kernels", False),
    (ZEN4, "arm64-neon", "qdq", "qdq-reference", False),
    (PI4, "arm64-neon", "auto", "host-kernels", False),
    (PI5, "arm64-dotprod", "auto", "host-kernels", False),
    (PI5, "arm64-neon", "host", "host-kernels", False),
])
def test_plan_arithmetic_for_each_cpu_kind(cpu: dict, preset: str, mode: str, expected: str, warns: bool) -> None:
    from edgebench.calibration.evaluate import plan_arithmetic

    plan = plan_arithmetic(_int8_manifest(preset), "ort-cpu", mode, cpu)
    assert plan.arithmetic == expected and plan.qdq == (expected == "qdq-reference")
    assert bool(plan.warnings) is warns and len(plan.warnings) <= 1
    if warns:
        assert "VPMADDUBSW" in plan.warnings[0] and plan.reason
        assert ("--arithmetic qdq" in plan.warnings[0]) is (expected == "host-kernels")  # the fix, when not applied
    d = plan.to_dict()
    assert set(d) == {"arithmetic", "arithmetic_reason", "warnings"} and d["arithmetic"] == expected


def test_plan_arithmetic_float_models_other_runtimes_and_bad_values() -> None:
    from edgebench.calibration.evaluate import plan_arithmetic

    for mode in ("auto", "host", "qdq"):  # a float model (e.g. the FP32 baseline of `eval --as-target -b`)
        plan = plan_arithmetic(Manifest(precision="fp32"), "ort-cpu", mode, ZEN3)
        assert plan.arithmetic == "host-kernels" and not plan.qdq and not plan.warnings
    plan = plan_arithmetic(_int8_manifest("arm64-neon"), "torch-int8", "auto", ZEN3)
    assert plan.arithmetic == "host-kernels" and "torch-int8" in plan.reason
    with pytest.raises(UserInputError, match="needs --runtime ort-cpu"):
        plan_arithmetic(_int8_manifest("arm64-neon"), "torch", "qdq", ZEN3)
    with pytest.raises(UserInputError, match="'exact' is not one of auto, host, qdq"):
        plan_arithmetic(_int8_manifest("arm64-neon"), "ort-cpu", "exact", ZEN3)
    from edgebench.calibration.recipes import get_preset

    qop = _int8_manifest("arm64-neon", recipe={**get_preset("arm64-neon").to_dict(), "quant_format": "qoperator"})
    plan = plan_arithmetic(qop, "ort-cpu", "auto", ZEN3)  # QLinearConv stays integer when unfused: warn only
    assert plan.arithmetic == "host-kernels" and "no float reference" in plan.warnings[0]
    with pytest.raises(UserInputError, match="needs a QDQ model"):
        plan_arithmetic(qop, "ort-cpu", "qdq", ZEN3)
    dyn = _int8_manifest("arm64-neon", quantization_mode="dynamic")  # u8 weights: exact everywhere
    assert plan_arithmetic(dyn, "ort-cpu", "auto", ZEN3).warnings == ()


# A QDQ model built to saturate VPMADDUBSW: pixels >= 150 (u8, scale 1/255) times s8 weights 127 make every pair
# of products 2 * 150 * 127 = 38100 > 32767. On bright images class 0 (all 48 weights 127) wins in exact arithmetic
# (>= 48 * 150 / 255 = 28.2, in units of 255 * 127); class 1 (no weights, bias 26) wins where pair sums saturate
# (class 0 then <= 24 pairs * 32767 / (255 * 127) = 24.3). On dark images (< 90) class 1 wins either way.
K_SIDE, BIAS1 = 4, 26.0
X_SCALE, W_SCALE, Y_SCALE = 1 / 255, 1 / 127, 64 / 255


def _saturating_qdq(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((3, 3, K_SIDE, K_SIDE), np.int8)
    w[0] = 127  # class 0: every weight at the top of the s8 range
    w[2, :, :, ::2] = 60  # class 2: half the weights, moderate (never saturates)
    bias = np.array([0, round(BIAS1 / (X_SCALE * W_SCALE)), 0], np.int32)
    inits = [numpy_helper.from_array(w, "w_q"), numpy_helper.from_array(bias, "b_q"),
             numpy_helper.from_array(np.array(X_SCALE, np.float32), "x_s"),
             numpy_helper.from_array(np.array(0, np.uint8), "x_z"),
             numpy_helper.from_array(np.array(W_SCALE, np.float32), "w_s"),
             numpy_helper.from_array(np.array(0, np.int8), "w_z"),
             numpy_helper.from_array(np.array(X_SCALE * W_SCALE, np.float32), "b_s"),
             numpy_helper.from_array(np.array(0, np.int32), "b_z"),
             numpy_helper.from_array(np.array(Y_SCALE, np.float32), "y_s"),
             numpy_helper.from_array(np.array(0, np.uint8), "y_z")]
    nodes = [helper.make_node("QuantizeLinear", ["input", "x_s", "x_z"], ["x_q"]),
             helper.make_node("DequantizeLinear", ["x_q", "x_s", "x_z"], ["x_dq"]),
             helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w_dq"]),
             helper.make_node("DequantizeLinear", ["b_q", "b_s", "b_z"], ["b_dq"]),
             helper.make_node("Conv", ["x_dq", "w_dq", "b_dq"], ["y"], name="conv"),
             helper.make_node("QuantizeLinear", ["y", "y_s", "y_z"], ["y_q"]),
             helper.make_node("DequantizeLinear", ["y_q", "y_s", "y_z"], ["y_dq"]),
             helper.make_node("Flatten", ["y_dq"], ["logits"], axis=1)]
    graph = helper.make_graph(nodes, "saturating_qdq",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, K_SIDE, K_SIDE])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _qdq_numpy(x: np.ndarray) -> np.ndarray:
    """The arithmetic the ONNX graph above specifies, in float64 (QuantizeLinear rounds half to even)."""
    w = np.zeros((3, 3, K_SIDE, K_SIDE))
    w[0] = 127
    w[2, :, :, ::2] = 60
    xq = np.clip(np.rint(x.astype(np.float64) / X_SCALE), 0, 255)
    acc = np.einsum("nchw,kchw->nk", xq, w)
    y = acc * X_SCALE * W_SCALE + np.array([0, BIAS1, 0])
    return np.clip(np.rint(y / Y_SCALE), 0, 255) * Y_SCALE


@pytest.fixture()
def saturating(tmp_path: Path) -> tuple[Path, Path]:
    """The saturating model with an arm64-neon (U8S8, 8-bit weights) manifest, and bright images for it."""
    pytest.importorskip("onnx")
    from edgebench.calibration.recipes import get_preset
    from edgebench.manifest import Preprocessing

    model = _saturating_qdq(tmp_path / "model.int8.onnx")
    pp = Preprocessing(scale=1 / 255, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    write_json(tmp_path / "model.int8.json", new_manifest(
        name="saturating", precision="int8", quantization_mode="static", recipe=get_preset("arm64-neon").to_dict(),
        input=InputInfo("input", ("batch", 3, K_SIDE, K_SIDE), pp).to_dict()))
    rng = np.random.default_rng(0)
    images = rng.integers(150, 256, (60, K_SIDE, K_SIDE, 3), dtype=np.uint8)
    images[40:] = rng.integers(0, 90, (20, K_SIDE, K_SIDE, 3), dtype=np.uint8)  # dark: class 2 or 1 wins
    np.savez(tmp_path / "data.npz", images=images, labels=rng.integers(0, 3, 60))
    return model, tmp_path / "data.npz"


def test_qdq_arithmetic_is_the_unoptimized_session_and_matches_numpy(saturating: tuple[Path, Path]) -> None:
    import onnxruntime as ort
    from edgebench.calibration.evaluate import evaluate, evaluation_session, plan_arithmetic
    from edgebench.calibration.preprocess import preprocess
    from edgebench.manifest import Preprocessing

    model, data = saturating
    images = np.load(data)["images"]
    x = preprocess(images, Preprocessing(scale=1 / 255, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)))
    ref = _qdq_numpy(x)
    assert (ref[:40].argmax(1) == 0).all() and (ref[40:].argmax(1) != 0).all()  # the test can tell them apart

    plan = plan_arithmetic(Manifest(precision="int8", recipe={"weight_type": "int8"}), "ort-cpu", "qdq", ZEN4)
    sess = evaluation_session(model, "ort-cpu", 1, plan)
    level = sess.ort_session.get_session_options().graph_optimization_level
    assert level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # no QDQ fusion: DQ -> float Conv -> Q
    np.testing.assert_allclose(sess.run({"input": x})["logits"], ref, atol=Y_SCALE + 1e-6)

    for cpu in (ZEN3, ZEN4):  # Zen3: auto picks the QDQ reference; explicit qdq everywhere
        for mode in (("auto", "qdq") if cpu is ZEN3 else ("qdq",)):
            r = evaluate(model, str(data), arithmetic=mode, cpu=cpu, threads=1)  # type: ignore[arg-type]
            assert r["arithmetic"] == "qdq-reference" and r["predictions"] == ref.argmax(1).tolist()
    r = evaluate(model, str(data), arithmetic="auto", cpu=ZEN4, threads=1)
    assert r["arithmetic"] == "host-kernels" and r["warnings"] == []


def test_host_kernels_on_this_cpu_match_or_saturate_as_host_arithmetic_says(saturating: tuple[Path, Path]) -> None:
    """The real host: where `host_arithmetic` says exact (VNNI, ARM), the fused integer kernels give the numpy
    reference; where it says not (x86 without VNNI, e.g. Zen3), class 0's pair sums saturate and the bright images
    flip to class 1."""
    from edgebench.calibration.evaluate import evaluate
    from edgebench.calibration.recipes import get_preset, host_arithmetic
    from edgebench.cpu import cpu_info

    model, data = saturating
    images = np.load(data)["images"]
    ref = _qdq_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 255).argmax(1)
    cpu = cpu_info()
    r = evaluate(model, str(data), arithmetic="host", threads=1)
    assert r["arithmetic"] == "host-kernels"
    if host_arithmetic(get_preset("arm64-neon"), cpu).exact:
        assert r["predictions"] == ref.tolist() and r["warnings"] == []
    else:
        assert r["predictions"][:40] != ref[:40].tolist() and "saturate" in r["warnings"][0]
        assert evaluate(model, str(data), threads=1)["predictions"] == ref.tolist()  # auto: the QDQ reference


def test_eval_cli_arithmetic_options(saturating: tuple[Path, Path]) -> None:
    model, data = saturating
    r = CliRunner().invoke(app, ["eval", str(model), "--data", str(data), "--as-target", "--json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["arithmetic"] == "qdq-reference" and out["arithmetic_reason"].startswith("requested")
    r = CliRunner().invoke(app, ["eval", str(model), "--data", str(data), "--arithmetic", "host"])
    assert r.exit_code == 0 and "host-kernels" in r.stdout
    r = CliRunner().invoke(app, ["eval", str(model), "--data", str(data), "--arithmetic", "host", "--as-target"])
    assert r.exit_code == 2 and "--as-target means --arithmetic qdq" in r.stderr
    r = CliRunner().invoke(app, ["eval", str(model), "--data", str(data), "--arithmetic", "exact"])
    assert r.exit_code == 2 and "not one of auto, host, qdq" in r.stderr


def _fake_zen3(monkeypatch: pytest.MonkeyPatch) -> None:
    """This host's fingerprint with a Zen3's arch, model and ISA flags (AVX2, no VNNI)."""
    import edgebench.cpu as cpumod

    real = cpumod.cpu_info
    monkeypatch.setattr(cpumod, "cpu_info", lambda root=Path("/"), machine=None: {**real(root, machine), **ZEN3})


def test_eval_cli_prints_the_saturation_warning(saturating: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """On a (fake) Zen3 host `eval` warns on stderr and reports the QDQ reference."""
    model, data = saturating
    _fake_zen3(monkeypatch)
    r = CliRunner().invoke(app, ["eval", str(model), "--data", str(data), "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["arithmetic"] == "qdq-reference"
    assert "warning: model.int8.onnx: this CPU's ONNX Runtime integer kernels" in r.stderr
    r = CliRunner().invoke(app, ["eval", str(model), "--data", str(data), "--arithmetic", "host"])
    assert r.exit_code == 0 and "saturate" in r.stderr and "--arithmetic qdq" in r.stderr


def test_bench_eval_records_the_arithmetic(saturating: tuple[Path, Path], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from edgebench.bench.schema import load_result

    model, data = saturating
    _fake_zen3(monkeypatch)
    out = tmp_path / "res"
    r = CliRunner().invoke(app, ["bench", str(model), "--in-process", "--min-iters", "2", "--min-seconds", "0",
                                 "--warmup-iters", "1", "--threads", "1", "--eval", str(data), "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    res = load_result(next(out.glob("*.json"))).to_dict()  # still a valid result
    assert res["accuracy"]["arithmetic"] == "qdq-reference" and "VPMADDUBSW" in res["accuracy"]["arithmetic_reason"]
    assert "warnings" not in res["accuracy"] and any("QDQ arithmetic" in w for w in res["warnings"])
    r = CliRunner().invoke(app, ["bench", str(model), "--in-process", "--min-iters", "2", "--min-seconds", "0",
                                 "--threads", "1", "--eval", str(data), "--eval-arithmetic", "host", "-o", str(out),
                                 "--json"])
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["accuracy"]["arithmetic"] == "host-kernels" and any("saturate" in w for w in res["warnings"])
