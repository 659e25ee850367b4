"""FastestDet in the zoo: architecture, the authors' weights, export with parity, and its COCO mAP.

The real-weights tests read ../shared/data (marked `data`: they skip with the reason when it is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgebench.exporter.zoo import get_spec

pytestmark = pytest.mark.torch

COCO = Path("coco") / "val2017_first128"


def test_zoo_entry() -> None:
    spec = get_spec("fastestdet")
    assert spec.task == "detection" and spec.num_classes == 80 and spec.input_hw == (352, 352)
    pp = spec.input.preprocessing
    assert (pp.channel_order, pp.resize_mode, pp.resize, pp.mean, pp.std) == ("BGR", "stretch", 352, (0.0,) * 3,
                                                                               (1.0,) * 3)
    assert pp.scale == pytest.approx(1 / 255)
    assert spec.weights is not None and spec.weights.sha256.startswith("7f688d47")
    assert spec.weights.url.startswith("https://github.com/dog-qiuqiu/FastestDet/raw/")
    assert "BSD-3-Clause" in spec.weights.license


def test_architecture_shapes(one_torch_thread: None) -> None:
    import torch

    model = get_spec("fastestdet").build()
    assert sum(p.numel() for p in model.parameters()) == 244_490  # the published 0.24 M
    with torch.inference_mode():
        y = model(torch.rand(2, 3, 352, 352))
    assert tuple(y.shape) == (2, 85, 22, 22)
    obj, cls = y[:, 0], y[:, 5:]
    assert bool(((obj >= 0) & (obj <= 1)).all())  # sigmoid
    torch.testing.assert_close(cls.sum(1), torch.ones(2, 22, 22))  # softmax over the classes


def test_channel_split_is_the_even_and_odd_channels_without_a_strided_slice(tmp_path: Path) -> None:
    """The shuffle's split gives x[:, 0::2] and x[:, 1::2], and its ONNX has no step-2 Slice (slow in ONNX Runtime's
    INT8 NHWC layout: docs/detection.md, "INT8 speed")."""
    import onnx
    import torch
    from edgebench.exporter.models.fastestdet import channel_split
    from onnx import numpy_helper

    x = torch.rand(2, 8, 3, 5)
    even, odd = channel_split(x)
    assert torch.equal(even, x[:, 0::2]) and torch.equal(odd, x[:, 1::2])

    class Split(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return channel_split(x)

    torch.onnx.export(Split(), (x,), str(tmp_path / "split.onnx"), dynamo=False)
    g = onnx.load(str(tmp_path / "split.onnx")).graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consts |= {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node if n.op_type == "Constant"}
    steps = [consts[n.input[4]].tolist() for n in g.node if n.op_type == "Slice" and len(n.input) == 5]
    assert all(s == [1] for s in steps), steps


def _real_batch(shared: Path, n: int) -> np.ndarray:
    from edgebench.calibration.detection_data import fitted_images, load_detection_data
    from edgebench.calibration.preprocess import preprocess

    info = get_spec("fastestdet").input
    ds = load_detection_data(shared / COCO).subset(n)
    return preprocess(fitted_images(ds, info), info.preprocessing, info.image_hw())


@pytest.mark.data
def test_published_weights_match_the_authors_onnx(shared_data: Path, one_torch_thread: None) -> None:
    import onnxruntime as ort
    import torch
    from edgebench.exporter.loading import WeightsRequest, load_model

    loaded = load_model(get_spec("fastestdet"), WeightsRequest(data_dir=shared_data, download=False))
    assert loaded.weights.source == "published" and loaded.weights.sha256.startswith("7f688d47")
    x = _real_batch(shared_data, 2)
    with torch.inference_mode():
        ours = loaded.model(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(shared_data / "weights" / "fastestdet" / "FastestDet.onnx"),
                                providers=["CPUExecutionProvider"])
    theirs = np.concatenate([sess.run(None, {"input.1": x[i:i + 1]})[0] for i in range(len(x))])
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


@pytest.mark.data
@pytest.mark.slow
def test_export_parity_and_map_on_the_coco_sample(shared_data: Path, fastestdet_export: Path,
                                                  one_torch_thread: None) -> None:
    """Export (the session's `fastestdet_export`) with parity on the 128 real images; the exported ONNX and PyTorch
    both reproduce the measured 19.1 mAP@0.5:0.95 / 35.7 mAP@0.5 within 0.3."""
    import torch
    from edgebench.calibration.detection import postprocess_fastestdet
    from edgebench.calibration.detection_data import load_detection_data, parity_images_for
    from edgebench.calibration.evaluate_detection import evaluate_detection
    from edgebench.calibration.tasks import task_of
    from edgebench.exporter.loading import WeightsRequest, load_model
    from edgebench.manifest import find_typed_manifest

    spec = get_spec("fastestdet")
    loaded = load_model(spec, WeightsRequest(data_dir=shared_data, download=False))
    parity = parity_images_for(spec.input, None, shared_data)
    assert parity is not None and len(parity) == 128
    m = find_typed_manifest(fastestdet_export / "model.fp32.onnx")
    assert m is not None and m.parity is not None and m.parity["passed"] and m.parity["real"]["n"] == 128
    assert "top1_agreement" not in m.parity["real"]  # a grid output is held to max|diff| alone
    assert m.task == "detection" and m.num_classes == 80 and m.fp32_accuracy is None
    assert m.to_dict()["output"] == {"name": "logits", "shape": ["batch", 85, 22, 22], "kind": "detection-grid",
                                     "decoder": "fastestdet"}
    assert task_of(m).name == "detection"

    r = evaluate_detection(fastestdet_export / "model.fp32.onnx", shared_data / COCO, threads=1)
    assert r["map_pct"] == pytest.approx(19.1, abs=0.3) and r["map50_pct"] == pytest.approx(35.7, abs=0.3)

    ds = load_detection_data(shared_data / COCO)
    x = _real_batch(shared_data, 128)
    with torch.inference_mode():
        raw = np.concatenate([loaded.model(torch.from_numpy(x[i:i + 32])).numpy() for i in range(0, 128, 32)])
    preds = [postprocess_fastestdet(raw[i], im.width, im.height) for i, im in enumerate(ds.images)]
    t = task_of(m).score(preds, ds)
    assert t["map_pct"] == pytest.approx(r["map_pct"], abs=0.05)
    assert t["map50_pct"] == pytest.approx(r["map50_pct"], abs=0.05)


@pytest.mark.data
@pytest.mark.slow
def test_authors_onnx_described_as_a_detector_scores_as_ours(shared_data: Path, tmp_path: Path) -> None:
    """The authors' FastestDet.onnx, a third-party file: `describe --task detection` finds its grid layout, and
    `eval` gives the same mAP as the ONNX edgebench exports (19.05 / 35.62 on the 128 images)."""
    import json
    import shutil

    from edgebench.cli import app
    from typer.testing import CliRunner

    model = tmp_path / "FastestDet.onnx"
    shutil.copy(shared_data / "weights" / "fastestdet" / "FastestDet.onnx", model)
    r = CliRunner().invoke(app, ["describe", str(model), "--task", "detection", "--preprocessing", "unit",
                                 "--channel-order", "BGR", "--labels", "coco", "--json"])
    assert r.exit_code == 0, r.stderr
    m = json.loads(r.stdout)
    assert (m["output"]["decoder"], m["num_classes"], m["input"]["shape"]) == ("fastestdet", 80, [1, 3, 352, 352])
    e = CliRunner().invoke(app, ["eval", str(model), "--data", str(shared_data / "coco" / "val2017_first128"),
                                 "-t", "1", "--json"])
    assert e.exit_code == 0, e.stderr
    out = json.loads(e.stdout)
    assert (round(out["map_pct"], 2), round(out["map50_pct"], 2)) == (19.05, 35.62)
