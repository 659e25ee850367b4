"""FastestDet (dog-qiuqiu, BSD-3-Clause): a 0.24 M-parameter anchor-free detector for ARM CPUs, written from
its published description so its released weights load (state-dict keys follow the authors' module names).

Architecture: a ShuffleNetV2 backbone (stem 3x3/2 conv 24 + 3x3/2 max-pool; stages of 4, 8, 4 blocks with 48,
96, 192 channels, each opened by a stride-2 block) gives three maps at strides 8, 16, 32; the stride-8 map is
average-pooled and the stride-32 map upsampled (nearest) to stride 16, the three are concatenated (336 channels)
and go through an SPP-like block (1x1 conv to 96, three branches of 1, 2 and 3 depthwise 5x5 convs, concat, 1x1,
residual add, ReLU), then one head: a 1x1 conv and three branches (depthwise 5x5 + 1x1) for objectness
(sigmoid), the 4 box values (raw) and the class scores (softmax). The output is [N, 1+4+C, H/16, W/16]: 22x22
cells for the 352x352 input. Decoding and NMS are numpy (`edgebench.calibration.detection`), not part of the graph.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, *, groups: int = 1, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return [*layers, nn.ReLU(inplace=True)] if relu else layers


class ShuffleBlock(nn.Module):
    """A ShuffleNetV2 unit. Stride 1: half the channels pass, the other half go through 1x1-dw3x3-1x1; stride 2:
    both a projection (dw3x3-1x1) and the main branch see the whole input. Outputs are concatenated."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        mid = cout // 2
        branch_in = cin if stride == 2 else cin // 2
        self.branch_main = nn.Sequential(
            *_conv_bn(branch_in, mid, 1),
            *_conv_bn(mid, mid, 3, stride, groups=mid, relu=False),
            *_conv_bn(mid, cout - branch_in, 1),
        )
        self.branch_proj = nn.Sequential(
            *_conv_bn(cin, cin, 3, stride, groups=cin, relu=False), *_conv_bn(cin, cin, 1),
        ) if stride == 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch_proj is not None:
            return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)
        # channel shuffle of the previous concat: even channels pass through, odd ones enter the main branch
        even, odd = channel_split(x)
        return torch.cat((even, self.branch_main(odd)), 1)


def channel_split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The even and the odd channels of `x` [N, C, H, W], as the authors' channel shuffle computes them: a reshape to
    [N, C/2, 2, H*W] and a unit-step slice of each row, not `x[:, 0::2]`. The two are the same values; in ONNX a
    stride-2 Slice over the channels becomes a strided copy along the innermost axis of ONNX Runtime's INT8 NHWC
    layout (FastestDet's 26 of them: 1.33 ms INT8 against 0.19 ms FP32 on an AVX-512 Xeon), the reshaped form a
    contiguous one (docs/detection.md, "INT8 speed")."""
    _, c, h, w = x.shape
    pairs = x.reshape(-1, c // 2, 2, h * w)
    return pairs[:, :, 0:1].reshape(-1, c // 2, h, w), pairs[:, :, 1:2].reshape(-1, c // 2, h, w)


class Backbone(nn.Module):
    """ShuffleNetV2 1.0x-style trunk returning the stride-8, 16 and 32 maps."""

    def __init__(self, repeats: tuple[int, ...] = (4, 8, 4), channels: tuple[int, ...] = (24, 48, 96, 192)) -> None:
        super().__init__()
        self.first_conv = nn.Sequential(*_conv_bn(3, channels[0], 3, 2))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = channels[0]
        for name, n, cout in zip(("stage2", "stage3", "stage4"), repeats, channels[1:], strict=True):
            blocks = [ShuffleBlock(cin if i == 0 else cout, cout, 2 if i == 0 else 1) for i in range(n)]
            setattr(self, name, nn.Sequential(*blocks))
            cin = cout

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p1 = self.stage2(self.maxpool(self.first_conv(x)))
        p2 = self.stage3(p1)
        return p1, p2, self.stage4(p2)


class _Named(nn.Module):
    """`layers` in one nn.Sequential under the attribute `key` the authors' weights name (conv1x1, conv5x5)."""

    def __init__(self, key: str, *layers: nn.Module) -> None:
        super().__init__()
        self.key = key
        setattr(self, key, nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.key)(x)


def _conv1x1(cin: int, cout: int) -> _Named:
    return _Named("conv1x1", *_conv_bn(cin, cout, 1))


def _branch(c: int, cout: int) -> _Named:
    """Depthwise 5x5, then a 1x1 to `cout` outputs (no ReLU)."""
    return _Named("conv5x5", *_conv_bn(c, c, 5, groups=c), *_conv_bn(c, cout, 1, relu=False))


class SPP(nn.Module):
    """1x1 reduction, then 1, 2 and 3 stacked depthwise 5x5 convs in parallel, fused by a 1x1 and a residual."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.Conv1x1 = _conv1x1(cin, c)
        for i in (1, 2, 3):
            setattr(self, f"S{i}", nn.Sequential(*[m for _ in range(i) for m in _conv_bn(c, c, 5, groups=c)]))
        self.output = nn.Sequential(*_conv_bn(3 * c, c, 1, relu=False))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv1x1(x)
        y = torch.cat((self.S1(x), self.S2(x), self.S3(x)), 1)
        return self.relu(x + self.output(y))


class DetectHead(nn.Module):
    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.conv1x1 = _conv1x1(c, c)
        self.obj_layers = _branch(c, 1)
        self.reg_layers = _branch(c, 4)
        self.cls_layers = _branch(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1x1(x)
        obj = torch.sigmoid(self.obj_layers(x))
        cls = torch.softmax(self.cls_layers(x), dim=1)
        return torch.cat((obj, self.reg_layers(x), cls), 1)


class FastestDet(nn.Module):
    """[N, 3, H, W] BGR/255 -> [N, 1+4+num_classes, H/16, W/16] (objectness, box, class probabilities)."""

    def __init__(self, num_classes: int = 80) -> None:
        super().__init__()
        self.backbone = Backbone()
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.avg_pool = nn.AvgPool2d(3, 2, 1)
        self.SPP = SPP(48 + 96 + 192, 96)
        self.detect_head = DetectHead(96, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p1, p2, p3 = self.backbone(x)
        return self.detect_head(self.SPP(torch.cat((self.avg_pool(p1), p2, self.upsample(p3)), 1)))


def fastestdet(num_classes: int = 80) -> nn.Module:
    return FastestDet(num_classes)
