"""Iterative rounds end to end (resnet20 architecture, random weights, toy data) and ONNX of a pruned model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from edgebench.calibration.datasets import Dataset  # noqa: E402
from edgebench.errors import OutputExistsError, UserInputError  # noqa: E402
from edgebench.exporter.export import export_model  # noqa: E402
from edgebench.exporter.prune.config import RatioConfig  # noqa: E402
from edgebench.exporter.prune.run import PruneRunConfig, run_rounds  # noqa: E402
from edgebench.exporter.prune.saved import load_pruned  # noqa: E402
from edgebench.exporter.prune.structured import conv_filters, prune_once  # noqa: E402
from edgebench.exporter.train.loop import TrainConfig  # noqa: E402
from edgebench.exporter.zoo import ModelSpec, get_spec  # noqa: E402
from edgebench.manifest import InputInfo  # noqa: E402

from tests.exporter.tiny_nets import conv_resnet  # noqa: E402

pytestmark = pytest.mark.torch


def toy(n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(rng.integers(0, 255, (n, 32, 32, 3)).astype(np.uint8), rng.integers(0, 10, n).astype(np.int64),
                   f"toy{seed}")


def _ort(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def test_pruned_forward_matches_its_onnx(tmp_path: Path) -> None:
    model = conv_resnet()
    prune_once(model, torch.zeros(1, 3, 16, 16), RatioConfig.uniform(0.5), scope="coupled")
    spec = ModelSpec("tiny", lambda num_classes=10: conv_resnet(), InputInfo("input", ("batch", 3, 16, 16)), "test",
                     "tiny conv-shortcut resnet")
    export_model(model, spec, tmp_path, parity_dataset=None, force=True)
    graph = onnx.load(str(tmp_path / "model.fp32.onnx")).graph
    shapes = sorted(tuple(init.dims) for init in graph.initializer if len(init.dims) == 4)
    assert max(s[0] for s in shapes) == 8  # the widest conv had 16 filters
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    assert np.isfinite(y).all()
    np.testing.assert_allclose(_ort(tmp_path / "model.fp32.onnx", x), y, atol=1e-4, rtol=1e-4)


def test_run_config_validation() -> None:
    with pytest.raises(UserInputError, match="--rounds"):
        PruneRunConfig(rounds=0)
    with pytest.raises(UserInputError, match="Did you mean 'coupled'"):
        PruneRunConfig(scope="couple")
    with pytest.raises(UserInputError, match="Did you mean 'l1'"):
        PruneRunConfig(importance="L1")


@pytest.mark.slow
def test_rounds_write_metrics_models_and_resume(tmp_path: Path) -> None:
    spec = get_spec("resnet20")
    torch.manual_seed(0)
    model = spec.build()
    out = tmp_path / "run"
    kw = {"arch": "resnet20", "num_classes": 10}
    run = PruneRunConfig(rounds=2, importance="l1")
    ft = TrainConfig(epochs=1, lr=0.01, batch_size=32)
    summary = run_rounds(model, spec, RatioConfig.uniform(0.5), run, ft, toy(64, 0), toy(32, 1), out, **kw)
    rounds = summary["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert {s["name"] for s in summary["skipped_layers"]} == {"conv1", *(f"layer{i}.{j}.conv2" for i in (1, 2, 3)
                                                                       for j in range(3))}
    assert rounds[0]["macs_reduction_pct"] == 0
    assert rounds[0]["macs"] > rounds[1]["macs"] > rounds[2]["macs"]
    assert rounds[0]["onnx_size_mb"] > rounds[1]["onnx_size_mb"] > rounds[2]["onnx_size_mb"]
    assert [r["filters"]["layer3.2.conv1"] for r in rounds] == [64, 48, 32]
    assert rounds[2]["finetune_epochs"] == 1 and len(rounds[2]["finetune_history"]) == 1
    for key in ("best_top1_pct", "mean_top1_pct", "final_top1_pct", "best_top5_pct", "top1_before_finetune_pct"):
        assert 0 <= rounds[2][key] <= 100
    assert any(a["layer"] == "layer3.2.conv1" and a["out"] == 32 for a in rounds[2]["architecture"])
    for name in ("summary.json", "rounds.csv", "filters.csv", "accuracy.png", "filters.png"):
        assert (out / name).is_file(), name
    assert len(list(csv.DictReader((out / "rounds.csv").open()))) == 3
    filt = list(csv.reader((out / "filters.csv").open()))
    assert filt[0] == ["layer", "round0", "round1", "round2"] and len(filt) == 1 + 19  # 19 convs in resnet20

    loaded, structure = load_pruned(out / "round2")
    assert conv_filters(loaded) == rounds[2]["filters"] and structure["round"] == 2
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        y = loaded(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_ort(out / "round2" / "model.fp32.onnx", x), y, atol=1e-4, rtol=1e-4)
    manifest = json.loads((out / "round2" / "model.fp32.json").read_text())
    assert manifest["pruned"]["round"] == 2 and manifest["macs"] == rounds[2]["macs"]

    with pytest.raises(OutputExistsError, match="--resume"):
        run_rounds(spec.build(), spec, RatioConfig.uniform(0.5), run, ft, toy(64, 0), toy(32, 1), out, **kw)
    (out / "round2" / "metrics.json").unlink()
    lines: list[str] = []
    again = run_rounds(spec.build(), spec, RatioConfig.uniform(0.5), run, ft, toy(64, 0), toy(32, 1), out, **kw,
                       resume=True, log=lines.append)
    assert any("round 1: already complete" in m for m in lines)
    assert any(m.startswith("round 2: pruned") for m in lines)
    assert again["rounds"][2]["filters"] == rounds[2]["filters"]
