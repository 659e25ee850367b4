"""The export's ONNX accuracy counts top-1/top-5 with the one top-k of `calibration.metrics` (was a copy)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from edgebench.calibration.dataset import Dataset
from edgebench.calibration.metrics import topk_hits
from edgebench.calibration.preprocess import preprocess
from edgebench.manifest import InputInfo
from edgebench.tools.synthetic import conv_net

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("torch")


def test_measure_accuracy_is_topk_hits(tmp_path: Path) -> None:
    from edgebench.exporter.export import measure_accuracy

    path = conv_net(tmp_path / "m.onnx", size=16, classes=10)
    info = InputInfo("input", ("batch", 3, 16, 16))
    spec = SimpleNamespace(input=info, input_hw=(16, 16))
    rng = np.random.default_rng(1)
    ds = Dataset(rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8), rng.integers(0, 10, 40), "rand")
    r = measure_accuracy(path, spec, ds, None, 1, None)  # type: ignore[arg-type]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    logits = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(
        None, {"input": preprocess(ds.images, info.preprocessing, (16, 16))})[0]
    assert r is not None and r["n"] == 40
    assert r["top1_pct"] == 100.0 * int(topk_hits(logits, ds.labels, 1).sum()) / 40
    assert r["top5_pct"] == 100.0 * int(topk_hits(logits, ds.labels, 5).sum()) / 40
    assert 0 < r["top5_pct"] < 100  # a real top-5, neither none nor every image
