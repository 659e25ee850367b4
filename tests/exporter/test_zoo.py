"""The model zoo: every entry builds with its input spec; published weights load and classify."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.errors import ModelFileError, NotFoundError, UserInputError

pytestmark = pytest.mark.torch

EXPECTED_PARAMS = {  # counted from the architectures' definitions (papers / torchvision)
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet18_cifar": 11_173_962,
}


def test_registry_names() -> None:
    from edgebench.exporter.zoo import MODELS

    assert set(MODELS.names()) >= {"resnet20", "resnet32", "resnet44", "resnet56", "resnet18_cifar",
                                   "vgg16_cifar", "vgg16_bn_cifar", "mobilenetv2_cifar"}


@pytest.mark.parametrize("name", ["resnet20", "resnet32", "resnet44", "resnet56", "resnet18_cifar",
                                  "vgg16_cifar", "vgg16_bn_cifar", "mobilenetv2_cifar"])
def test_every_entry_builds(name: str) -> None:
    import torch
    from edgebench.exporter.zoo import get_spec

    spec = get_spec(name)
    model = spec.build()
    assert not model.training
    assert spec.input.shape[1:] == (3, 32, 32) and len(spec.input.class_names) == 10
    with torch.no_grad():
        y = model(torch.randn(2, *spec.input.shape[1:]))
    assert tuple(y.shape) == (2, 10)
    if name in EXPECTED_PARAMS:
        assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMS[name]


def test_resnet20_layout_matches_akamaster_keys() -> None:
    from edgebench.exporter.zoo import create_model

    keys = set(create_model("resnet20").state_dict())
    assert {"conv1.weight", "layer1.0.conv1.weight", "layer3.2.bn2.running_var", "linear.weight"} <= keys
    assert not any("shortcut" in k for k in keys)  # option A: parameter-free shortcuts


def test_num_classes_override() -> None:
    import torch
    from edgebench.exporter.zoo import create_model, get_spec

    assert create_model("resnet20", num_classes=100)(torch.zeros(1, 3, 32, 32)).shape == (1, 100)
    assert get_spec("resnet20").for_classes(100).input.class_names == ()


def test_unknown_model_suggests() -> None:
    from edgebench.exporter.zoo import get_spec

    with pytest.raises(NotFoundError, match="Did you mean 'resnet20'"):
        get_spec("resnt20")
    with pytest.raises(NotFoundError, match="tv:resnet18"):
        get_spec("tv:resnet19")


def test_torchvision_spec_is_imagenet() -> None:
    import torchvision.models as tvm
    from edgebench.exporter.zoo import get_spec

    spec = get_spec("tv:mobilenet_v2")
    tr = tvm.MobileNet_V2_Weights.DEFAULT.transforms()  # the input spec of torchvision's default weights
    assert spec.input.shape == ("batch", 3, 224, 224)
    assert (spec.input.preprocessing.resize, spec.input.preprocessing.crop) == (tr.resize_size[0], tr.crop_size[0])
    assert get_spec("tv:inception_v3").input.shape == ("batch", 3, 299, 299)
    assert len(spec.input.class_names) == 1000
    assert sum(p.numel() for p in spec.build().parameters()) == 3_504_872


def test_model_file(tmp_path: Path) -> None:
    from edgebench.exporter.zoo import spec_from_model_file

    f = tmp_path / "net.py"
    f.write_text("import torch\n\ndef build():\n    return torch.nn.Sequential(torch.nn.Flatten(), "
                 "torch.nn.Linear(3 * 32 * 32, 10))\n")
    spec = spec_from_model_file(f"{f}:build", input_like="resnet20")
    assert spec.input.shape[-2:] == (32, 32)
    assert spec.build()(__import__("torch").zeros(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(NotFoundError, match=r"no factory 'buidl'.*Did you mean 'build'"):
        spec_from_model_file(f"{f}:buidl", input_like="resnet20")
    with pytest.raises(UserInputError, match="EDGEBENCH_INPUT"):
        spec_from_model_file(f"{f}:build")
    with pytest.raises(ModelFileError, match="does not exist"):
        spec_from_model_file(f"{tmp_path / 'nope.py'}:build", input_like="resnet20")
