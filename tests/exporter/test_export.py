"""torch -> ONNX export: every zoo entry at batch 1 and dynamic batch passes parity; failures leave nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.errors import OutputExistsError, ParityError, UserInputError

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

ZOO = ["resnet20", "resnet32", "resnet44", "resnet56", "resnet18_cifar", "vgg16_cifar", "vgg16_bn_cifar",
       "mobilenetv2_cifar"]


def trained_like(name: str, seed: int = 0) -> Any:
    """A zoo model with random weights but BN statistics of real activations, so logits are O(1..10)
    (pure random init gives near-constant or exploding logits, which makes parity vacuous)."""
    import torch
    from edgebench.exporter.zoo import create_model

    torch.manual_seed(seed)
    model = create_model(name)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, std=1.0 / m.in_features ** 0.5)
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 3, 32, 32))
    return model.eval()


def _ort_logits(path: Path, x: np.ndarray) -> np.ndarray:
    from edgebench.runtimes.ort.options import cpu_session

    sess = cpu_session(path, intra_op_threads=1, log_level=None)
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "batch"), [(name, "dynamic") for name in ZOO]
                         # a fixed batch is the same export path for every model: the two smallest show it
                         + [("resnet20", 1), ("mobilenetv2_cifar", 1)])
def test_every_zoo_entry_exports_with_parity(name: str, batch: str | int, tmp_path: Path) -> None:
    import torch
    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec

    spec = get_spec(name)
    model = trained_like(name)
    manifest = export_model(model, spec, tmp_path, batch=batch).to_dict()
    onnx_path = tmp_path / "model.fp32.onnx"
    assert onnx_path.is_file()
    on_disk = json.loads((tmp_path / "model.fp32.json").read_text())
    assert on_disk == manifest
    assert manifest["parity"]["passed"] and manifest["parity"]["random"]["max_abs_ref"] > 0.1
    assert manifest["input"]["shape"] == ["batch" if batch == "dynamic" else 1, 3, 32, 32]
    assert manifest["params"] == sum(p.numel() for p in model.parameters())
    assert manifest["macs"] > 0 and manifest["opset"] == 17 and manifest["exporter"] == "torchscript"
    # independent re-check of the written file with onnxruntime directly
    n = 3 if batch == "dynamic" else 1
    x = np.random.default_rng(1).standard_normal((n, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_ort_logits(onnx_path, x), ref, atol=1e-4 + 1e-4 * np.abs(ref).max(), rtol=0)


def test_manifest_fields(tmp_path: Path) -> None:
    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec
    from edgebench.manifest import InputInfo, load_manifest, sha256_file

    spec = get_spec("resnet20")
    export_model(trained_like("resnet20"), spec, tmp_path, weights={"sha256": "ab" * 32, "source": "user"},
                 extra_manifest={"structure": {"note": "from pruning"}})
    m = load_manifest(tmp_path / "model.fp32.json")
    assert m["precision"] == "fp32" and m["arch"] == "resnet20" and m["onnx_file"] == "model.fp32.onnx"
    assert m["onnx_sha256"] == sha256_file(tmp_path / "model.fp32.onnx")
    assert m["weights_sha256"] == "ab" * 32 and m["structure"] == {"note": "from pruning"}
    assert InputInfo.from_dict(m["input"]).preprocessing == spec.input.preprocessing
    assert m["input"]["class_names"][3] == "cat"
    assert m["macs"] == 40_551_040  # conv + linear multiply-accumulates of ResNet-20 at 32x32
    assert set(m["versions"]) >= {"torch", "onnx", "onnxruntime", "edgebench"}
    assert m.get("published_top1_pct") is None  # not the published weights file (None fields are left out)


class Branchy:
    """A model whose Python control flow depends on the input: tracing freezes one branch."""

    @staticmethod
    def build() -> Any:
        import torch

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.fc = torch.nn.Linear(3 * 32 * 32, 10)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                y = self.fc(torch.flatten(x, 1))
                if x.shape[0] == 2:  # tracing at batch 2 freezes this branch; parity runs batches 1 and 7
                    return y
                return -y

        return Net().eval()


def test_parity_failure_leaves_nothing(tmp_path: Path) -> None:
    from dataclasses import replace

    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec

    spec = replace(get_spec("resnet20"), name="branchy")
    out = tmp_path / "out"
    with pytest.raises(ParityError, match="does not match PyTorch"):
        export_model(Branchy.build(), spec, out, simplify=False)
    assert list(out.iterdir()) == []  # no ONNX, no manifest, no temporary folder


def test_bad_opsets(tmp_path: Path) -> None:
    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec

    spec = get_spec("resnet20")
    model = trained_like("resnet20")
    with pytest.raises(UserInputError, match=r"cannot express this model at opset 9: step!=1"):
        export_model(model, spec, tmp_path, opset=9)
    with pytest.raises(UserInputError, match=r"--opset 30 is outside .*9\.\.20"):
        export_model(model, spec, tmp_path, opset=30)
    with pytest.raises(UserInputError, match=r"--opset 17 is outside what the dynamo exporter writes"):
        export_model(model, spec, tmp_path, opset=17, exporter="dynamo")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force(tmp_path: Path) -> None:
    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec

    (tmp_path / "model.fp32.onnx").write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="--force"):
        export_model(trained_like("resnet20"), get_spec("resnet20"), tmp_path)
    assert (tmp_path / "model.fp32.onnx").read_bytes() == b"old"
    export_model(trained_like("resnet20"), get_spec("resnet20"), tmp_path, force=True)
    assert (tmp_path / "model.fp32.onnx").stat().st_size > 1000


@pytest.mark.slow
def test_dynamo_exporter_resnet20(tmp_path: Path) -> None:
    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec

    m = export_model(trained_like("resnet20"), get_spec("resnet20"), tmp_path, exporter="dynamo", opset=18).to_dict()
    assert m["exporter"] == "dynamo" and m["opset"] == 18 and m["parity"]["passed"]


@pytest.mark.slow
def test_tv_model_exports(tmp_path: Path) -> None:
    """A torchvision model by name, with its ImageNet input spec (a small one keeps the test fast)."""
    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec

    spec = get_spec("tv:squeezenet1_1")
    m = export_model(spec.build(), spec, tmp_path).to_dict()
    assert m["input"]["shape"] == ["batch", 3, 224, 224] and m["num_classes"] == 1000
    assert m["input"]["preprocessing"]["crop"] == 224 and m["parity"]["passed"]
