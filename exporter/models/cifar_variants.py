"""CIFAR-10 variants of the study's ImageNet models (32x32 inputs).

- `resnet18_cifar`: torchvision's ResNet-18 with a 3x3 stride-1 stem and no max-pool (11.2 M params),
  the usual CIFAR adaptation; keys are torchvision's (`layer1.0.conv1.weight`, `fc.weight`).
- `vgg16_cifar` / `vgg16_bn_cifar`: the 13 conv layers of VGG-16 (configuration D), 5 max-pools
  bring 32x32 to 1x1, then one linear 512 -> classes.
- `mobilenetv2_cifar`: torchvision's MobileNetV2 with stride 1 in the stem and in the second stage,
  so a 32x32 image ends at 4x4 instead of 1x1.
"""

from __future__ import annotations

import torch
from torch import nn

VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                     512, 512, 512, "M", 512, 512, 512, "M")

# torchvision's setting (t, c, n, s) with the second stage at stride 1 for 32x32 inputs.
MOBILENETV2_CIFAR_SETTING = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2],
                             [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]


def resnet18_cifar(num_classes: int = 10) -> nn.Module:
    """ResNet-18 for 32x32 inputs: 3x3 stride-1 stem, no max-pool."""
    from torchvision.models import resnet18

    model = resnet18(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model


class VGGCifar(nn.Module):
    """VGG for CIFAR: conv3x3 (+BN) + ReLU stacks and max-pools, then one linear layer."""

    def __init__(self, cfg: tuple[int | str, ...] = VGG16_CFG, num_classes: int = 10, batch_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            width = int(v)
            layers.append(nn.Conv2d(c, width, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            c = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(x)


def vgg16_cifar(num_classes: int = 10) -> nn.Module:
    return VGGCifar(VGG16_CFG, num_classes, batch_norm=False)


def vgg16_bn_cifar(num_classes: int = 10) -> nn.Module:
    return VGGCifar(VGG16_CFG, num_classes, batch_norm=True)


def mobilenetv2_cifar(num_classes: int = 10) -> nn.Module:
    """MobileNetV2 for 32x32 inputs (stem and second stage at stride 1)."""
    from torchvision.models import MobileNetV2

    model = MobileNetV2(num_classes=num_classes, inverted_residual_setting=MOBILENETV2_CIFAR_SETTING)
    stem = model.features[0][0]
    if not isinstance(stem, nn.Conv2d):
        raise TypeError(f"torchvision's MobileNetV2 stem is {type(stem).__name__}, not Conv2d")
    stem.stride = (1, 1)
    return model
