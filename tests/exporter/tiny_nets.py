"""Small models for the pruning tests: option-A ResNet, conv-shortcut ResNet, VGG-like (built in code)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from edgebench.exporter.models.cifar_resnet import CifarResNet
from torch import nn


def pad_resnet(seed: int = 0) -> nn.Module:
    """CIFAR ResNet with option-A (zero-padding) shortcuts, one block per stage, widths 8/16/32."""
    torch.manual_seed(seed)
    return _randomize_bn(CifarResNet((1, 1, 1), num_classes=10, widths=(8, 16, 32))).eval()


class ConvShortcutBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.downsample(x))


class ConvShortcutResNet(nn.Module):
    """Stem + 3 blocks (8, 8, 16 channels) with 1x1 conv shortcuts, like torchvision's ResNet-18."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(ConvShortcutBlock(8, 8, 1), ConvShortcutBlock(8, 8, 1))
        self.layer2 = nn.Sequential(ConvShortcutBlock(8, 16, 2))
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def conv_resnet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return _randomize_bn(ConvShortcutResNet()).eval()


def vgg_tiny(seed: int = 0, batch_norm: bool = True, num_classes: int = 10) -> nn.Module:
    """conv(3->8) [bn] relu conv(8->16) [bn] relu pool conv(16->16) relu, avg pool, linear."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    c = 3
    for i, w in enumerate((8, 16, 16)):
        layers.append(nn.Conv2d(c, w, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(w))
        layers.append(nn.ReLU())
        if i == 1:
            layers.append(nn.MaxPool2d(2))
        c = w
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))
    return _randomize_bn(model).eval()


def _randomize_bn(model: nn.Module) -> nn.Module:
    """Non-trivial BN statistics and scales, so pruning mistakes change the outputs."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=g) + 0.5
            m.bias.data = torch.randn(n, generator=g) * 0.1
            m.running_mean = torch.randn(n, generator=g) * 0.1
            m.running_var = torch.rand(n, generator=g) + 0.5
    return model
