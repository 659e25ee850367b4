"""Pruned checkpoints: structure.json + weights_only state dict round-trip; clear errors when parts are missing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from edgebench.errors import BadCheckpoint  # noqa: E402
from edgebench.exporter.prune.config import RatioConfig  # noqa: E402
from edgebench.exporter.prune.saved import (  # noqa: E402
    STRUCTURE_FILE,
    describe_structure,
    is_pruned_checkpoint,
    load_pruned,
    save_pruned,
)
from edgebench.exporter.prune.structured import conv_filters, prune_once  # noqa: E402

from tests.exporter.tiny_nets import conv_resnet, pad_resnet  # noqa: E402

pytestmark = pytest.mark.torch
X = torch.zeros(1, 3, 16, 16)
FACTORIES = {"pad": pad_resnet, "conv": conv_resnet}


def _factory(arch: str, num_classes: int | None) -> torch.nn.Module:
    return FACTORIES[arch](seed=123)  # different init: the loaded weights must overwrite it


@pytest.fixture
def saved(tmp_path: Path) -> tuple[torch.nn.Module, Path]:
    model = conv_resnet()
    prune_once(model, X, RatioConfig.uniform(0.5), scope="coupled")
    save_pruned(model, tmp_path / "round1", arch="conv", num_classes=10, stem="round1", round=1)
    return model, tmp_path / "round1"


def test_round_trip_folder_and_file(saved: tuple[torch.nn.Module, Path]) -> None:
    model, folder = saved
    x = torch.randn(3, 3, 16, 16)
    for path in (folder, folder / "round1.pt"):
        loaded, structure = load_pruned(path, factory=_factory)
        assert structure["round"] == 1 and structure["filters"] == conv_filters(model)
        assert conv_filters(loaded) == conv_filters(model)
        assert loaded.fc.in_features == model.fc.in_features == 8
        with torch.no_grad():
            assert torch.equal(loaded(x), model(x))
    assert is_pruned_checkpoint(folder) and is_pruned_checkpoint(folder / "round1.pt")


def test_weights_file_is_plain_tensors(saved: tuple[torch.nn.Module, Path]) -> None:
    _, folder = saved
    obj = torch.load(folder / "round1.pt", weights_only=True)  # no pickled code needed
    assert set(obj) == {"state_dict", "edgebench_pruned"}
    assert obj["edgebench_pruned"]["arch"] == "conv"


def test_missing_structure_is_a_clear_error(saved: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    _, folder = saved
    lone = tmp_path / "elsewhere"
    lone.mkdir()
    shutil.copy(folder / "round1.pt", lone / "round1.pt")
    assert is_pruned_checkpoint(lone / "round1.pt")  # says so itself
    with pytest.raises(BadCheckpoint, match=r"is a pruned checkpoint and has no structure.json beside it"):
        load_pruned(lone / "round1.pt", factory=_factory)


def test_structure_from_another_round_is_refused(tmp_path: Path) -> None:
    a, b = pad_resnet(), pad_resnet()
    prune_once(a, X, RatioConfig.uniform(0.25))
    prune_once(b, X, RatioConfig.uniform(0.5))
    save_pruned(a, tmp_path / "a", arch="pad", num_classes=10, stem="a")
    save_pruned(b, tmp_path / "b", arch="pad", num_classes=10, stem="b")
    shutil.copy(tmp_path / "b" / STRUCTURE_FILE, tmp_path / "a" / STRUCTURE_FILE)
    with pytest.raises(BadCheckpoint, match=r"not the structure 'a.pt' was saved with"):
        load_pruned(tmp_path / "a", factory=_factory)


def test_wrong_architecture_and_malformed_structure(tmp_path: Path) -> None:
    m = pad_resnet()
    prune_once(m, X, RatioConfig.uniform(0.5))
    save_pruned(m, tmp_path / "r", arch="conv", num_classes=10, stem="r")  # lies about its arch
    with pytest.raises(BadCheckpoint, match=r"does not have|is a Conv2d there but"):
        load_pruned(tmp_path / "r", factory=_factory)
    (tmp_path / "r" / STRUCTURE_FILE).write_text(json.dumps({"kind": "something"}))
    with pytest.raises(BadCheckpoint, match="not an edgebench pruned structure"):
        load_pruned(tmp_path / "r", factory=_factory)


def test_folder_with_two_checkpoints_asks_which(saved: tuple[torch.nn.Module, Path]) -> None:
    _, folder = saved
    shutil.copy(folder / "round1.pt", folder / "other.pt")
    with pytest.raises(BadCheckpoint, match=r"holds 2 .pt files"):
        load_pruned(folder, factory=_factory)


def test_describe_structure_records_every_layer_shape() -> None:
    m = pad_resnet()
    prune_once(m, X, RatioConfig.uniform(0.5))
    st = describe_structure(m, "pad", 10)
    assert st["layers"]["layer1.0.conv1"] == {"type": "Conv2d", "in_channels": 8, "out_channels": 4, "groups": 1}
    assert st["layers"]["layer1.0.bn1"] == {"type": "BatchNorm", "num_features": 4}
    assert st["layers"]["linear"] == {"type": "Linear", "in_features": 32, "out_features": 10}
