"""ResNet-20/32/44/56/110 for CIFAR-10 (He et al. 2016, section 4.2), in akamaster's layout.

3x3 conv 16 -> BN -> ReLU, three stages of n BasicBlocks (16, 32, 64 channels, strides 1/2/2),
option-A shortcuts (every second pixel, channels zero-padded: no parameters), global average
pool, linear 64 -> classes. Depth = 6n + 2. The state-dict keys (`conv1.weight`,
`layer1.0.conv1.weight`, `layer1.0.bn1.running_mean`, `linear.weight`) match the published
checkpoints of akamaster/pytorch_resnet_cifar10, so they load without renaming.

Example::

    model = resnet_cifar(20)            # 0.27 M parameters
    model(torch.zeros(1, 3, 32, 32))    # -> [1, 10]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from edgebench.errors import UserInputError
from torch import nn


class ShortcutA(nn.Module):
    """Option-A shortcut: subsample by `stride` and zero-pad channels from `in_planes` to `planes`.

    The padding is split evenly (akamaster pads planes // 4 on each side for 16->32 and 32->64).
    """

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        if planes < in_planes:
            raise UserInputError(f"option-A shortcut cannot shrink channels ({in_planes} -> {planes})")
        self.stride = stride
        self.pad_before = (planes - in_planes) // 2
        self.pad_after = planes - in_planes - self.pad_before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_before, self.pad_after))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad=({self.pad_before}, {self.pad_after})"


class BasicBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut, then ReLU."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = (
            ShortcutA(in_planes, planes, stride) if stride != 1 or in_planes != planes else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """The CIFAR ResNet: `num_blocks` BasicBlocks per stage, `widths` channels per stage."""

    def __init__(
        self,
        num_blocks: Sequence[int] = (3, 3, 3),
        num_classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if len(num_blocks) != 3 or len(widths) != 3:
            raise UserInputError(f"CIFAR ResNet has 3 stages; got num_blocks={num_blocks}, widths={widths}")
        if num_classes < 1:
            raise UserInputError(f"num_classes={num_classes} must be >= 1")
        self.in_planes = widths[0]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layer1 = self._make_layer(widths[0], num_blocks[0], stride=1)
        self.layer2 = self._make_layer(widths[1], num_blocks[1], stride=2)
        self.layer3 = self._make_layer(widths[2], num_blocks[2], stride=2)
        self.linear = nn.Linear(widths[2], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)
        return self.linear(out)


def resnet_cifar(depth: int, num_classes: int = 10) -> CifarResNet:
    """ResNet-`depth` for CIFAR (depth = 6n + 2: 20, 32, 44, 56, 110)."""
    if depth < 8 or (depth - 2) % 6:
        raise UserInputError(f"CIFAR ResNet depth {depth} is not 6n+2 (e.g. 20, 32, 44, 56, 110)")
    n = (depth - 2) // 6
    return CifarResNet((n, n, n), num_classes)
