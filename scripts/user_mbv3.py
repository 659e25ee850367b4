"""A MobileNetV3-style user model for CIFAR (`--model-file scripts/user_mbv3.py:build --input-like resnet20`):
inverted residual blocks with depthwise 3x3/5x5 convs, hardswish, squeeze-excite with a hard sigmoid gate, no
residual BN tricks; the architecture family PTQ is known to hurt (per-tensor activations after depthwise convs).
`scripts/bench_budget.py --user-model scripts/user_mbv3.py:build` (trained briefly on 4000 images, `auto` PTQ
changed 3-4 % of its predictions but did not lower its top-1: INT8 +0.0 and +0.4 points on two trainings)."""

from __future__ import annotations

import torch
from torch import nn


class SE(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, max(8, c // 4), 1)
        self.fc2 = nn.Conv2d(max(8, c // 4), c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))
        return x * nn.functional.hardsigmoid(self.fc2(s))


class Bneck(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int, k: int, stride: int, se: bool) -> None:
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False),
                                nn.BatchNorm2d(hidden), nn.Hardswish())
        self.se = SE(hidden) if se else nn.Identity()
        self.project = nn.Sequential(nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.residual else y


class MobileNetV3Cifar(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.blocks = nn.Sequential(
            Bneck(16, 48, 24, 3, 2, False), Bneck(24, 72, 24, 3, 1, False),
            Bneck(24, 96, 40, 5, 2, True), Bneck(40, 120, 40, 5, 1, True),
            Bneck(40, 160, 64, 3, 2, True), Bneck(64, 192, 64, 3, 1, True))
        self.head = nn.Sequential(nn.Conv2d(64, 256, 1, bias=False), nn.BatchNorm2d(256), nn.Hardswish())
        self.fc = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def build() -> nn.Module:
    return MobileNetV3Cifar()
