"""Registry-driven conformance: every available runtime gives the same top-1 on the same images.

Reference: ONNX Runtime on the FP32 ResNet-20 (published weights) over the first 500 CIFAR-10 test
images. Stated tolerance, per runtime and model precision:

- FP32 (ort-cpu on model.fp32.onnx, torch): the top-1 prediction equals the reference on >= 99.4 % of
  the images (at most 3 of 500 flips, from float summation order) and top-1 accuracy is within 0.6 points;
- INT8 (ort-cpu on model.int8.onnx, torch-int8): agreement >= 97 % and top-1 accuracy within 2.0 points.

Both INT8 models are calibrated on the same 256 CIFAR-10 training images (seed 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.runtimes import RUNTIMES, get_runtime, runtime_names
from edgebench.runtimes.options import RuntimeOptions

N_IMAGES = 500
TOLERANCE = {"fp32": {"agreement": 0.994, "top1_points": 0.6}, "int8": {"agreement": 0.97, "top1_points": 2.0}}


def test_every_registered_runtime_follows_the_protocol() -> None:
    names = runtime_names()
    assert {"ort-cpu", "torch", "torch-int8"} <= set(names)
    for name in names:
        cls = RUNTIMES.get(name)
        rt = cls()
        assert cls.name == name
        assert "pip install" in cls.install_hint
        assert isinstance(rt.available(), bool)
        assert issubclass(cls.Options, RuntimeOptions) and cls.Options.runtime == name
        if rt.available():
            assert rt.version()


@pytest.fixture(scope="module")
def resnet20_folder(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    pytest.importorskip("torch")
    from edgebench.bench.fingerprint import cpu_info
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.quantize import quantize_static_model
    from edgebench.calibration.recipes import resolve_preset
    from edgebench.exporter.checkpoint import find_weights, load_weights
    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec

    folder = tmp_path_factory.mktemp("conf") / "resnet20"
    spec = get_spec("resnet20")
    model = spec.build()
    weights = find_weights(spec.weights, shared_data, download=False)  # type: ignore[arg-type]
    sha = load_weights(model, weights, "resnet20")
    export_model(model, spec, folder, parity_images=16, weights={"sha256": sha, "file": str(weights),
                                                                  "source": "published"})
    calib = load_dataset("cifar10:train", shared_data, size=256, seed=0)
    quantize_static_model(folder / "model.fp32.onnx", calib, resolve_preset("auto", None, cpu_info()),
                          dataset_spec="cifar10:train", seed=0)
    return folder


@pytest.fixture(scope="module")
def images(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.preprocess import preprocess
    from edgebench.exporter.zoo import get_spec

    ds = load_dataset("cifar10:test", shared_data, size=N_IMAGES)
    return preprocess(ds.images, get_spec("resnet20").input.preprocessing, (32, 32)), ds.labels


def _predict(runtime: str, model: Path, x: np.ndarray) -> Any:
    rt = get_runtime(runtime)
    sess = rt.load(model, rt.Options(intra_op_threads=2))
    name = sess.inputs[0].name
    out = [next(iter(sess.run({name: x[i:i + 100]}).values())) for i in range(0, len(x), 100)]
    return np.concatenate(out).argmax(1), sess


def _cases() -> list[Any]:
    cases = []
    for name in runtime_names():
        cls = RUNTIMES.get(name)
        fixed = getattr(cls, "precision", None)
        files = ["model.fp32.onnx"] + ([] if fixed else ["model.int8.onnx"])
        for f in files:
            marks = [] if cls().available() else [pytest.mark.skip(reason=f"{name} not installed: {cls.install_hint}")]
            cases.append(pytest.param(name, f, id=f"{name}:{f}", marks=marks))
    return cases


@pytest.mark.data
@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize(("runtime", "model_file"), _cases())
def test_same_top1_as_reference(runtime: str, model_file: str, resnet20_folder: Path,
                                images: tuple[np.ndarray, np.ndarray]) -> None:
    x, labels = images
    ref, _ = _predict("ort-cpu", resnet20_folder / "model.fp32.onnx", x)
    pred, sess = _predict(runtime, resnet20_folder / model_file, x)
    precision = getattr(sess, "precision", None) or ("int8" if "int8" in model_file else "fp32")
    tol = TOLERANCE[precision]
    agreement = float((pred == ref).mean())
    ref_top1, top1 = 100 * float((ref == labels).mean()), 100 * float((pred == labels).mean())
    assert ref_top1 > 88.0  # the published ResNet-20 scores 91.5 % on these images
    assert agreement >= tol["agreement"], f"{runtime} on {model_file}: agreement {agreement:.3f}"
    assert abs(top1 - ref_top1) <= tol["top1_points"], f"{runtime} on {model_file}: {top1:.1f} vs {ref_top1:.1f}"
