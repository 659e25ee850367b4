"""Checkpoint loading: weights_only, prefixes, clear mismatch errors; the published weights."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.errors import BadCheckpoint

pytestmark = pytest.mark.torch


def test_raw_and_wrapped_state_dicts_load(tmp_path: Path) -> None:
    import torch
    from edgebench.exporter.checkpoint import load_weights
    from edgebench.exporter.zoo import create_model

    src = create_model("resnet20")
    sd = src.state_dict()
    for i, obj in enumerate([sd, {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "best_prec1": 1.0},
                             {"model_state_dict": sd, "epoch": 3}]):
        p = tmp_path / f"w{i}.pt"
        torch.save(obj, p)
        dst = create_model("resnet20")
        sha = load_weights(dst, p)
        assert len(sha) == 64
        assert torch.equal(dst.linear.weight, src.linear.weight)


def test_other_architecture_lists_keys(tmp_path: Path) -> None:
    import torch
    from edgebench.exporter.checkpoint import load_weights
    from edgebench.exporter.zoo import create_model

    p = tmp_path / "r20.pt"
    torch.save(create_model("resnet20").state_dict(), p)
    with pytest.raises(BadCheckpoint, match=r"does not fit model 'resnet32': 60 missing keys \(layer1\.3"):
        load_weights(create_model("resnet32"), p, "resnet32")
    torch.save(create_model("resnet20", num_classes=100).state_dict(), p)
    with pytest.raises(BadCheckpoint, match=r"shape differences \(linear\.weight \[100, 64\] vs model \[10, 64\]"):
        load_weights(create_model("resnet20"), p)


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    import torch
    from edgebench.exporter.checkpoint import load_weights
    from edgebench.exporter.zoo import create_model

    p = tmp_path / "whole_model.pt"
    torch.save(create_model("resnet20"), p)  # a whole module: needs the class to unpickle
    msg = (r"needs pickled code.*GLOBAL edgebench\.exporter\.models\.cifar_resnet\.CifarResNet"
           r".*torch.save\(model.state_dict\(\)")
    with pytest.raises(BadCheckpoint, match=msg):
        load_weights(create_model("resnet20"), p)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    from edgebench.exporter.checkpoint import load_weights
    from edgebench.exporter.zoo import create_model

    p = tmp_path / "junk.pt"
    p.write_bytes(b"not a checkpoint at all")
    with pytest.raises(BadCheckpoint, match="not a readable PyTorch checkpoint"):
        load_weights(create_model("resnet20"), p)
    with pytest.raises(BadCheckpoint, match="does not exist"):
        load_weights(create_model("resnet20"), tmp_path / "missing.pt")


@pytest.mark.data
@pytest.mark.parametrize(("name", "min_top1"), [("resnet20", 90.2), ("resnet56", 91.9)])
def test_published_weights_load_and_classify(name: str, min_top1: float, shared_data: Path) -> None:
    """Published weights in torch on the first 200 test images (the ONNX test uses all 1000)."""
    import numpy as np
    import torch
    from edgebench.calibration.datasets import load_npz
    from edgebench.calibration.preprocess import preprocess
    from edgebench.exporter.checkpoint import find_weights, load_weights
    from edgebench.exporter.zoo import get_spec

    spec = get_spec(name)
    assert spec.weights is not None
    path = find_weights(spec.weights, shared_data, download=False)
    model = spec.build()
    assert load_weights(model, path, name) == spec.weights.sha256
    ds = load_npz(shared_data / "cifar10" / "test_first1000.npz").subset(200)
    x = torch.from_numpy(preprocess(ds.images, spec.input.preprocessing, spec.input_hw))
    with torch.no_grad():
        top1 = float(np.mean(model(x).argmax(1).numpy() == ds.labels) * 100)
    assert top1 >= min_top1 - 5.0  # 200 images: +-2 points sampling error; a wrong layout gives ~10 %


def test_local_copy_with_wrong_sha_is_refused(tmp_path: Path) -> None:
    from edgebench.exporter.checkpoint import find_weights
    from edgebench.exporter.zoo import RESNET20_WEIGHTS

    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / RESNET20_WEIGHTS.file_name).write_bytes(b"tampered")
    with pytest.raises(BadCheckpoint, match="not the published"):
        find_weights(RESNET20_WEIGHTS, tmp_path, download=False)


def test_download_verifies_sha256(tmp_path: Path) -> None:
    """The download path, served from a file:// URL (no network needed): checksum kept or refused."""
    import hashlib

    from edgebench.exporter.checkpoint import download_weights
    from edgebench.exporter.zoo import WeightsSource

    src_file = tmp_path / "served.th"
    src_file.write_bytes(b"published bytes")
    good = WeightsSource("w.th", src_file.as_uri(), hashlib.sha256(b"published bytes").hexdigest())
    got = download_weights(good, tmp_path / "cache")
    assert got == tmp_path / "cache" / "weights" / "w.th" and got.read_bytes() == b"published bytes"
    bad = WeightsSource("x.th", src_file.as_uri(), "0" * 64)
    with pytest.raises(BadCheckpoint, match="not the published"):
        download_weights(bad, tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache" / "weights").iterdir()) == ["w.th"]  # nothing half-written
    gone = WeightsSource("y.th", (tmp_path / "missing.th").as_uri(), "0" * 64)
    with pytest.raises(BadCheckpoint, match="cannot download"):
        download_weights(gone, tmp_path / "cache")


@pytest.mark.data
def test_load_model_records_published_weights_with_url_and_licence(shared_data: Path) -> None:
    """export and prune used to record different things for the same published file; now one record."""
    from edgebench.exporter.loading import WeightsRequest, load_model
    from edgebench.exporter.zoo import get_spec

    spec = get_spec("resnet20")
    loaded = load_model(spec, WeightsRequest(data_dir=shared_data, download=False))
    assert spec.weights is not None
    assert loaded.weights.to_dict() == {"source": "published", "file": spec.weights.file_name,
                                        "sha256": spec.weights.sha256, "url": spec.weights.url,
                                        "license": spec.weights.license}
    assert loaded.note is None and loaded.structure is None


def test_load_model_user_pruned_random_and_refusals(tmp_path: Path) -> None:
    import torch
    from edgebench.errors import UserInputError
    from edgebench.exporter.loading import WeightsRequest, load_model
    from edgebench.exporter.prune.config import RatioConfig
    from edgebench.exporter.prune.saved import save_pruned
    from edgebench.exporter.prune.structured import prune_once
    from edgebench.exporter.zoo import MODELS, create_model, get_spec

    model = create_model("resnet20")
    torch.save(model.state_dict(), tmp_path / "w.pt")
    user = load_model(get_spec("resnet20"), WeightsRequest(weights=tmp_path / "w.pt"))
    assert user.weights.source == "user" and user.weights.file == "w.pt" and len(user.weights.sha256 or "") == 64
    prune_once(model, torch.zeros(1, 3, 32, 32), RatioConfig.uniform(0.5))
    save_pruned(model, tmp_path / "round1", arch="resnet20", num_classes=10, stem="round1", round=1)
    pruned = load_model(get_spec("resnet20"), WeightsRequest(weights=tmp_path / "round1"))
    assert pruned.weights.source == "pruned" and pruned.weights.extra["round"] == 1
    assert pruned.structure is not None and pruned.num_classes == 10
    assert pruned.model.layer1[0].conv1.out_channels == 8
    with pytest.raises(UserInputError, match="exclude each other"):
        WeightsRequest(weights=tmp_path / "w.pt", random_init=True)
    rnd = load_model(get_spec("resnet20"), WeightsRequest(random_init=True))
    assert rnd.weights.is_random and rnd.note is None
    # a zoo model without published weights: a note by default, an error where training is required
    no_pub = next(n for n in MODELS.names() if get_spec(n).weights is None)
    assert "random weights" in (load_model(get_spec(no_pub), WeightsRequest()).note or "")
    with pytest.raises(UserInputError, match="no published weights; train it first"):
        load_model(get_spec(no_pub), WeightsRequest(require_trained=True))
