"""The doctor's known-bad suite: small models built in code, each quantized the way users report trouble with,
and the cause the doctor must name (tests/bench/test_doctor.py, scripts/bench_doctor.py). Needs `onnx`.

Each case writes `model.fp32.onnx` + manifest, the planted INT8 model + manifest, and a labelled data set whose
labels are the FP32 model's own predictions (so the paired drop is the INT8 model's disagreement). Cases that
depend on the CPU carry a fake fingerprint (`cpu`), as the arm-check tests do for Zen3-only behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

SIZE = 16
ZEN3 = {"arch": "x86_64", "model": "fake Zen3 (AVX2, no VNNI)", "isa": {"avx2": True, "fma": True}}
ZEN4 = {"arch": "x86_64", "model": "fake Zen4 (AVX-512 VNNI)",
        "isa": {"avx2": True, "fma": True, "avx512f": True, "avx512_vnni": True}}


@dataclass(frozen=True)
class Case:
    """A known-bad case: how to build it, the CPU it is diagnosed for, the threads, and the cause to name."""

    name: str
    cause: str
    build: Callable[[Path], tuple[Path, Path]]
    cpu: dict[str, Any]
    threads: int = 1
    note: str = ""


def _manifest(path: Path, name: str) -> None:
    from edgebench.atomic import write_json
    from edgebench.manifest import InputInfo, Preprocessing, new_manifest, sha256_file

    pp = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    write_json(path.with_suffix(".json"), new_manifest(
        name=name, arch=name, precision="fp32", onnx_file=path.name, onnx_sha256=sha256_file(path),
        input=InputInfo("input", ("batch", 3, SIZE, SIZE), pp).to_dict()))


def _save(nodes: list[Any], inits: list[Any], path: Path, classes: int) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, path.parent.name, [helper.make_tensor_value_info(
        "input", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])], [helper.make_tensor_value_info(
            "logits", TensorProto.FLOAT, ["batch", classes])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgebench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def block_net(path: Path, middle: tuple[str, ...] = (), *, channels: int = 16, n_convs: int = 3, classes: int = 10,
              se: bool = False, outlier: float = 0.0, act_outlier: float = 0.0, seed: int = 0) -> Path:
    """Conv stack + pool + Gemm; after every conv but the last, the ops `middle` (Relu, Pad, HardSwish, Resize).

    `se`: a squeeze-excitation gate (pool -> 1x1 conv -> Relu -> 1x1 conv -> HardSigmoid -> Mul) after the
    second conv, MobileNetV3 style. `outlier`: channel 0 of conv1's weights scaled by it, a dead channel (a
    bias of -1e6 before the Relu): FP32 ignores it, a per-tensor weight scale sized for it crushes the others.
    `act_outlier`: conv1's channel 0 scaled by it and conv2's weights on that channel divided by it (the FP32
    function is unchanged), so one activation channel spans `act_outlier` times the others' range and a
    per-tensor activation scale crushes the rest."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    mk = helper.make_node
    nodes, inits = [], []
    prev, cin = "input", 3

    def const(name: str, a: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(a), name))
        return name

    for i in range(n_convs):
        w = (rng.standard_normal((channels, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)
        b = (rng.standard_normal(channels) * 0.05).astype(np.float32)
        if outlier and i == 1:  # a dead channel (its bias keeps it below 0, so the Relu after it outputs 0)
            w[0], b[0] = w[0] * outlier, -1e6
        if act_outlier and i == 1:
            w[0], b[0] = w[0] * act_outlier, b[0] * act_outlier
        if act_outlier and i == 2:
            w[:, 0] /= act_outlier
        const(f"conv{i}.w", w)
        const(f"conv{i}.b", b)
        nodes.append(mk("Conv", [prev, f"conv{i}.w", f"conv{i}.b"], [f"c{i}"], pads=[1, 1, 1, 1], name=f"conv{i}"))
        prev, cin = f"c{i}", channels
        for op in (("Relu",) if i == n_convs - 1 else middle or ("Relu",)):
            out = f"{op.lower()}{i}"
            if op == "Pad":
                nodes.append(mk("Pad", [prev, const(f"pads{i}", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))],
                                [out], mode="reflect", name=out))
                nodes.append(mk("MaxPool", [out], [out + "p"], kernel_shape=[3, 3], strides=[1, 1], name=out + "p"))
                out += "p"
            elif op == "Resize":
                nodes.append(mk("Resize", [prev, "", const(f"scales{i}", np.array([1, 1, 1, 1], np.float32))],
                                [out], mode="linear", name=out))
            else:
                nodes.append(mk(op, [prev], [out], name=out))
            prev = out
        if se and i == 1:
            r = max(channels // 4, 1)
            const("se1.w", (rng.standard_normal((r, channels, 1, 1)) * 0.5).astype(np.float32))
            const("se2.w", (rng.standard_normal((channels, r, 1, 1)) * 0.5).astype(np.float32))
            nodes += [mk("GlobalAveragePool", [prev], ["se.pool"], name="se.pool"),
                      mk("Conv", ["se.pool", "se1.w"], ["se.c1"], name="se.conv1"),
                      mk("Relu", ["se.c1"], ["se.r"], name="se.relu"),
                      mk("Conv", ["se.r", "se2.w"], ["se.c2"], name="se.conv2"),
                      mk("HardSigmoid", ["se.c2"], ["se.gate"], alpha=1.0 / 6, beta=0.5, name="se.gate"),
                      mk("Mul", [prev, "se.gate"], ["se.out"], name="se.mul")]
            prev = "se.out"
    nodes.append(mk("GlobalAveragePool", [prev], ["pool"], name="pool"))
    nodes.append(mk("Flatten", ["pool"], ["flat"], axis=1, name="flatten"))
    const("fc.w", (rng.standard_normal((classes, channels)) * 0.5).astype(np.float32))
    const("fc.b", np.zeros(classes, np.float32))
    nodes.append(mk("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1, name="fc"))
    _save(nodes, inits, Path(path), classes)
    _manifest(Path(path), Path(path).parent.name)
    return Path(path)


def dataset(fp32: Path, n: int = 400, seed: int = 1) -> Any:
    """`n` random-texture images labelled with the FP32 model's own top-1 (FP32 scores 100 %): the half of 2n
    images with the widest top-1/top-2 margin, as a trained classifier's confident predictions (a random net's
    near-ties would flip under any rounding and hide the planted cause)."""
    from edgebench.calibration.dataset import Dataset
    from edgebench.calibration.preprocess import preprocess
    from edgebench.manifest import InputInfo
    from edgebench.runtimes.ort.options import cpu_session

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (2 * n, 1, 1, 3))
    images = np.clip(base + rng.normal(0, 50, (2 * n, SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    pp = InputInfo("input", ("batch", 3, SIZE, SIZE)).preprocessing
    from edgebench.manifest import find_typed_manifest

    man = find_typed_manifest(fp32)
    if man is not None and man.input is not None:
        pp = man.input.preprocessing
    sess = cpu_session(fp32, log_level=None)
    logits = sess.run(None, {"input": preprocess(images, pp)})[0]
    top2 = np.sort(logits, axis=1)[:, -2:]
    keep = np.sort(np.argsort(top2[:, 0] - top2[:, 1])[:n])  # widest margins (most negative top2 - top1) first
    return Dataset(images[keep], logits[keep].argmax(1).astype(np.int64), f"doctor-synthetic-{seed}")


def _static(recipe_of: Callable[[], Any], **fp32_kw: Any) -> Callable[[Path], tuple[Path, Path]]:
    def build(folder: Path) -> tuple[Path, Path]:
        from edgebench.calibration.quantize import quantize_static_model
        from edgebench.calibration.recipes import PresetChoice

        fp32 = block_net(Path(folder) / "model.fp32.onnx", **fp32_kw)
        recipe = recipe_of()
        man = quantize_static_model(fp32, dataset(fp32, 64, seed=7), PresetChoice(recipe, recipe.name, "planted",
                                                                                   "known-bad case"))
        return fp32, Path(folder) / str(man.onnx_file)
    return build


def _dynamic(folder: Path) -> tuple[Path, Path]:
    from edgebench.calibration.quantize import quantize_dynamic_model
    from edgebench.calibration.recipes import PresetChoice, get_preset

    fp32 = block_net(Path(folder) / "model.fp32.onnx")
    man = quantize_dynamic_model(fp32, PresetChoice(get_preset("x86-vnni"), "x86-vnni", "planted", "known-bad case"))
    return fp32, Path(folder) / str(man.onnx_file)


def _preset(name: str, **changes: Any) -> Callable[[], Any]:
    def make() -> Any:
        from edgebench.calibration.recipes import get_preset

        r = get_preset(name)
        return replace(r, **changes, name=r.name + ("+" if changes else "")) if changes else r
    return make


def cases() -> list[Case]:
    """The known-bad suite (10 cases), in the order of issue #28's list."""
    return [
        Case("per-tensor S8S8 on AVX2", "s8s8-no-vnni", _static(_preset("qdq-s8s8-tensor")), ZEN3,
             note="fake Zen3 fingerprint; the fix is measured on this host"),
        Case("int4 weights on x86", "narrow-weights", _static(_preset("x86-vnni", weight_bits=4)), ZEN4),
        Case("16-bit activations", "wide-activations", _static(_preset("x86-vnni", activation_bits=16)), ZEN4),
        Case("dynamic INT8 conv net", "dynamic-conv", _dynamic, ZEN4),
        Case("Pad/HardSwish between convs", "float-islands",
             _static(_preset("x86-vnni"), middle=("Relu", "Pad", "HardSwish")), ZEN4),
        Case("ARM preset on x86", "arm-preset-on-x86", _static(_preset("arm64-dotprod")), ZEN4),
        Case("tiny batch-1 model", "qdq-overhead", _static(_preset("x86-vnni"), channels=2, n_convs=1, classes=2),
             ZEN4),
        Case("one outlier channel per tensor", "outlier-channel",
             _static(_preset("x86-vnni", per_channel=False), outlier=1000.0), ZEN4),
        Case("SE/HardSwish MobileNetV3 block", "sensitive-nodes",
             _static(_preset("x86-vnni"), middle=("HardSwish",), se=True, act_outlier=300.0), ZEN4),
        Case("oversubscribed threads", "oversubscribed-threads", _static(_preset("x86-vnni")), ZEN4, threads=8,
             note="8 threads; the machine's usable cores are fewer"),
    ]
