"""`tv:NAME --weights FILE` (issue #26 item 3): any torchvision classifier with the user's weights (a state dict or
a checkpoint dict holding one), keys checked and a mismatch named; MobileNetV2/V3 and ResNet-18 at 224 with
ImageNet preprocessing and the ImageNet label list in their manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.calibration.labels import imagenet_classes
from edgebench.errors import BadCheckpoint
from edgebench.exporter.loading import WeightsRequest, load_model
from edgebench.exporter.zoo import get_spec

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")


@pytest.mark.parametrize(("name", "resize"), [("mobilenet_v2", 232), ("mobilenet_v3_small", 256),
                                              ("mobilenet_v3_large", 232), ("resnet18", 256)])
def test_imagenet_classifiers_at_224_with_imagenet_preprocessing_and_labels(name: str, resize: int) -> None:
    spec = get_spec("tv:" + name)
    pp = spec.input.preprocessing
    assert spec.input.shape == ("batch", 3, 224, 224) and (pp.crop, pp.resize) == (224, resize)
    assert pp.mean == pytest.approx((0.485, 0.456, 0.406)) and pp.std == pytest.approx((0.229, 0.224, 0.225))
    assert spec.input.dataset == "imagenet" and spec.input.class_names == imagenet_classes().names


@pytest.mark.parametrize("wrap", ["state_dict", "model", None, "module."])
def test_weights_as_state_dict_or_checkpoint_dict(tmp_path: Path, wrap: str | None) -> None:
    spec = get_spec("tv:mobilenet_v3_small")
    torch.manual_seed(0)
    src = spec.build()
    sd = src.state_dict()
    obj = ({wrap: sd, "epoch": 90} if wrap in ("state_dict", "model") else
           {"module." + k: v for k, v in sd.items()} if wrap == "module." else sd)
    torch.save(obj, tmp_path / "w.pth")
    loaded = load_model(spec, WeightsRequest(weights=tmp_path / "w.pth"))
    assert loaded.weights.source == "user" and loaded.note is None
    got = loaded.model.state_dict()
    assert all(torch.equal(got[k], sd[k]) for k in sd)


def test_a_mismatch_names_missing_unexpected_and_shapes(tmp_path: Path) -> None:
    sd = get_spec("tv:mobilenet_v2").build().state_dict()
    sd["extra.weight"] = torch.zeros(1)
    del sd["features.0.0.weight"]
    sd["classifier.1.weight"] = torch.zeros(10, 1280)
    torch.save(sd, tmp_path / "w.pth")
    with pytest.raises(BadCheckpoint) as e:
        load_model(get_spec("tv:mobilenet_v2"), WeightsRequest(weights=tmp_path / "w.pth"))
    msg = str(e.value)
    assert "1 missing keys (features.0.0.weight)" in msg and "1 unexpected keys (extra.weight)" in msg
    assert "classifier.1.weight [10, 1280] vs model [1000, 1280]" in msg and "model 'tv:mobilenet_v2'" in msg
    torch.save(get_spec("tv:resnet18").build().state_dict(), tmp_path / "r18.pth")
    with pytest.raises(BadCheckpoint, match=r"does not fit model 'tv:mobilenet_v2': \d+ missing keys"):
        load_model(get_spec("tv:mobilenet_v2"), WeightsRequest(weights=tmp_path / "r18.pth"))


def test_no_weights_tells_how_to_give_them() -> None:
    note = load_model(get_spec("tv:mobilenet_v3_small"), WeightsRequest()).note
    assert note is not None and "--weights FILE" in note and "torchvision" in note


def test_export_tv_with_weights_records_them_and_the_imagenet_labels(tmp_path: Path) -> None:
    from edgebench.cli import app
    from typer.testing import CliRunner

    spec = get_spec("tv:mobilenet_v3_small")
    torch.save({"model": spec.build().state_dict()}, tmp_path / "w.pth")
    r = CliRunner().invoke(app, ["export", "tv:mobilenet_v3_small", "--weights", str(tmp_path / "w.pth"), "-o",
                                 str(tmp_path / "out"), "--parity-data", "none", "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["weights"]["source"] == "user" and m["weights"]["file"] == "w.pth"
    assert m["input"]["class_names"] == list(imagenet_classes().names) and m["num_classes"] == 1000
    assert m["input"]["preprocessing"]["resize"] == 256 and m["input"]["preprocessing"]["crop"] == 224
