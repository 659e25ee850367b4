"""Per-layer refusal reasons: every conv the pruner leaves alone is reported with why (torch-pruning's graph)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from edgebench.errors import NotFoundError, UserInputError  # noqa: E402
from edgebench.exporter.prune.config import RatioConfig, SkippedLayer, describe_skipped  # noqa: E402
from edgebench.exporter.prune.structured import StructuredPruner, prune_once, scan_layers  # noqa: E402
from edgebench.exporter.zoo import create_model  # noqa: E402
from torch import nn  # noqa: E402

from tests.exporter.tiny_nets import conv_resnet  # noqa: E402

pytestmark = pytest.mark.torch
X32 = torch.zeros(1, 3, 32, 32)
X16 = torch.zeros(1, 3, 16, 16)


class ConvSE(nn.Module):
    """Squeeze-excite with 1x1 convs (torchvision's SqueezeExcitation): x * sigmoid(fc2(relu(fc1(pool(x)))))."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, 4, 1)
        self.fc2 = nn.Conv2d(4, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))


class LinearSE(nn.Module):
    """Squeeze-excite with linear layers: the gate's channels are a linear layer's outputs."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(c, 4)
        self.fc2 = nn.Linear(4, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1).flatten(1)))))
        return x * s[:, :, None, None]


class GatedNet(nn.Module):
    """stem -> expand -> depthwise -> conv SE -> project -> (a | b) concat -> grouped conv -> c2 -> linear SE
    -> a fully convolutional classifier (its filters are the 10 class scores)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.expand = nn.Conv2d(8, 16, 1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.se = ConvSE(16)
        self.project = nn.Conv2d(16, 12, 1)
        self.a = nn.Conv2d(12, 6, 1)
        self.b = nn.Conv2d(12, 6, 1)
        self.g = nn.Conv2d(12, 12, 3, padding=1, groups=2)
        self.c2 = nn.Conv2d(12, 8, 1)
        self.se2 = LinearSE(8)
        self.classifier = nn.Sequential(nn.Conv2d(8, 10, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        x = self.project(self.se(F.relu(self.dw(F.relu(self.expand(x))))))
        x = torch.cat([self.a(x), self.b(x)], 1)
        x = self.se2(F.relu(self.c2(F.relu(self.g(x)))))
        return F.adaptive_avg_pool2d(self.classifier(x), 1).flatten(1)


def gated_net() -> nn.Module:
    torch.manual_seed(0)
    return GatedNet().eval()


def _convs(model: nn.Module) -> set[str]:
    return {n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def test_resnet20_internal_reports_each_block_conv2_with_a_residual_reason() -> None:
    model = create_model("resnet20")
    scan = scan_layers(model, X32, "internal")
    skipped = {s.name: s for s in scan.skipped}
    for name in ("layer1.0.conv2", "layer2.1.conv2", "layer3.2.conv2", "conv1"):
        assert skipped[name].kind == "residual", skipped[name]
        assert "output feeds a residual add" in skipped[name].reason
    # option-A shortcuts join stages of 16/32/64 channels: the reason says coupled scope refuses it too
    assert "zero-padding shortcut" in skipped["layer1.0.conv2"].reason
    assert "(16, 32, 64)" in skipped["layer1.0.conv2"].reason
    assert "'conv1'" in skipped["layer1.0.conv2"].reason  # it names the convs it is coupled with
    # every conv is accounted for: prunable or left alone with a reason, never silently dropped
    assert {la.name for la in scan.layers} | set(skipped) == _convs(model)
    assert not {la.name for la in scan.layers} & set(skipped)
    assert len(scan.skipped) == 10 and len(scan.layers) == 9


def test_conv_shortcut_resnet_says_coupled_scope_prunes_it() -> None:
    model = conv_resnet()
    skipped = {s.name: s for s in scan_layers(model, X16, "internal").skipped}
    assert skipped["layer1.0.conv2"].kind == "residual"
    assert skipped["layer1.0.conv2"].reason.endswith("prunable only with --scope coupled (the group is pruned "
                                                     "together)")
    assert "layer2.0.downsample.0" in skipped
    coupled = scan_layers(model, X16, "coupled")
    assert "layer1.0.conv2" not in {s.name for s in coupled.skipped}  # a member of the stem's group now
    assert any("layer1.0.conv2" in la.members for la in coupled.layers)


def test_se_gate_depthwise_grouped_linear_gate_and_output_reasons() -> None:
    model = gated_net()
    scan = scan_layers(model, X16, "internal")
    skipped = {s.name: s for s in scan.skipped}
    assert [la.name for la in scan.layers] == ["stem", "se.fc1", "project"]
    assert {la.name for la in scan.layers} | set(skipped) == _convs(model)
    kinds = {n: s.kind for n, s in skipped.items()}
    assert kinds == {"expand": "gate", "dw": "depthwise", "se.fc2": "gate", "a": "grouped", "b": "grouped",
                     "g": "grouped", "c2": "linear", "classifier.0": "output"}
    assert skipped["expand"].reason == ("output (through depthwise 'dw') multiplied by an SE gate ('se.fc2'): "
                                        "prunable only with --scope coupled (the group is pruned together)")
    assert skipped["se.fc2"].reason.startswith("SE gate: its filters multiply the channels of 'expand' (through "
                                               "depthwise 'dw'): prunable only with --scope coupled")
    assert skipped["dw"].reason == "depthwise conv: its channels follow those of 'expand'"
    assert skipped["g"].reason.startswith("grouped conv (groups=2)")
    assert skipped["a"].reason.startswith("output feeds grouped conv 'g' (groups=2)")
    assert "linear layer 'se2.fc2'" in skipped["c2"].reason and "multiplied by a gate" in skipped["c2"].reason
    assert skipped["classifier.0"].reason.startswith("its 10 filters are the model's output")
    # coupled scope prunes the SE group (expand with the gate), not the others
    coupled = scan_layers(model, X16, "coupled")
    by_name = {la.name: la for la in coupled.layers}
    assert set(by_name["expand"].members) == {"expand", "se.fc2"}
    assert {s.name for s in coupled.skipped} == {"dw", "a", "b", "g", "c2", "classifier.0"}


@pytest.mark.parametrize("scope", ["internal", "coupled"])
def test_pruning_the_gated_net_keeps_it_valid_and_its_classes(scope: str) -> None:
    model = gated_net()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    prune_once(model, X16, RatioConfig.uniform(0.5), scope=scope)
    assert model(x).shape == (2, 10)  # the classifier conv kept its 10 filters
    assert model.g.in_channels == 12 and model.g.out_channels == 12  # the grouped conv and its inputs untouched
    assert model.project.out_channels == 6
    assert model.expand.out_channels == (8 if scope == "coupled" else 16)


def test_asking_for_a_skipped_layer_fails_with_its_reason() -> None:
    with pytest.raises(UserInputError, match=r"layer 'layer1\.0\.conv2' exists but is not prunable: output feeds a "
                                             r"residual add, coupled with 'conv1'.*prunable layers: layer1\.0\.conv1"):
        StructuredPruner(create_model("resnet20"), X32, RatioConfig.by_name({"layer1.0.conv2": 0.3}))
    with pytest.raises(UserInputError, match=r"'dw' exists but is not prunable: depthwise conv: its channels follow "
                                             r"those of 'expand'"):
        StructuredPruner(gated_net(), X16, RatioConfig.by_name({"dw": 0.5}))
    with pytest.raises(UserInputError, match=r"'se\.fc2' exists but is not prunable: SE gate"):
        StructuredPruner(gated_net(), X16, RatioConfig.by_name({"se.fc2": 0.5}))
    with pytest.raises(UserInputError, match=r"no conv under 'classifier' is prunable \('classifier\.0': its 10 "
                                             r"filters are the model's output"):
        StructuredPruner(gated_net(), X16, RatioConfig.by_name({"classifier": 0.5}))
    # a typo still gets the closest prunable name
    with pytest.raises(NotFoundError, match=r"Did you mean 'project'"):
        StructuredPruner(gated_net(), X16, RatioConfig.by_name({"projct": 0.5}))
    # in coupled scope the same name is a member of a prunable group
    pruner = StructuredPruner(conv_resnet(), X16, RatioConfig.by_name({"layer1.0.conv2": 0.5}), scope="coupled")
    assert pruner.layer_ratios == {**dict.fromkeys(pruner.layer_ratios, 0.0), "conv1": 0.5}


def test_no_prunable_layer_names_what_was_left_alone() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(UserInputError, match=r"no prunable conv layer in scope 'internal' \(2 convs left alone, e\.g\. "
                                             r"'0': its 8 filters are the model's output"):
        scan_layers(model, X16, "internal")


def test_skipped_layers_are_logged_one_per_line_or_grouped_by_kind() -> None:
    few = [SkippedLayer("dw", "depthwise", "depthwise conv: its channels follow those of 'pw'"),
           SkippedLayer("head", "output", "its 10 filters are the model's output: ...")]
    assert describe_skipped(few) == ["skipped 'dw': depthwise conv: its channels follow those of 'pw'",
                                     "skipped 'head': its 10 filters are the model's output: ..."]
    many = scan_layers(create_model("resnet20"), X32, "internal").skipped
    lines = describe_skipped(many)
    assert lines[0].startswith("skipped 10 conv layers") and "'skipped_layers'" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("  10 x residual: conv1, layer1.0.conv2, layer1.1.conv2, "
                                                   "layer1.2.conv2, ... (10 in all); e.g. conv1: output feeds")
    assert describe_skipped([]) == []
    with pytest.raises(ValueError, match="skip kind 'other'"):
        SkippedLayer("x", "other", "?")
