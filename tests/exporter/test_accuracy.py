"""Published ResNet-20/56 weights exported to ONNX keep their accuracy (ONNX Runtime, 1000 test images)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.torch, pytest.mark.data, pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.mark.parametrize(("name", "published"), [("resnet20", 91.73), ("resnet56", 93.39)])
def test_exported_published_weights_reach_published_top1(name: str, published: float, shared_data: Path,
                                                          tmp_path: Path) -> None:
    from edgebench.calibration.datasets import load_npz
    from edgebench.calibration.evaluate import evaluate
    from edgebench.exporter.checkpoint import find_weights, load_weights
    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec

    spec = get_spec(name)
    assert spec.weights is not None and spec.weights.top1_pct == published
    model = spec.build()
    sha = load_weights(model, find_weights(spec.weights, shared_data, download=False), name)
    test = load_npz(shared_data / "cifar10" / "test_first1000.npz", "cifar10-test-first1000", spec.input.class_names)
    manifest = export_model(model, spec, tmp_path, parity_dataset=test, parity_images=100,
                            weights={"sha256": sha, "source": "published"}).to_dict()
    assert manifest["parity"]["real"]["top1_agreement"] == 1.0
    assert manifest["published_top1_pct"] == published
    assert manifest["fp32_accuracy"]["n"] == 1000 and manifest["fp32_accuracy"]["runtime"] == "ort-cpu"
    r = evaluate(tmp_path / "model.fp32.onnx", test)
    assert r["n"] == 1000 and len(r["predictions"]) == 1000
    # 1000 images carry about +-0.8 points of sampling error; the issue asks for 1.5
    assert abs(r["top1_pct"] - published) <= 1.5, f"{name}: {r['top1_pct']:.2f} % vs published {published} %"
    assert r["top1_pct"] == manifest["fp32_accuracy"]["top1_pct"]  # export's own ONNX top-1 agrees with eval
