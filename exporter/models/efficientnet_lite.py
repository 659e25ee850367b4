"""EfficientNet-Lite0..Lite4 (Tan & Le 2019; Google's "Lite" variant for edge CPUs), written from the paper and
Google's EfficientNet-Lite description: no squeeze-excite, ReLU6, stem (32 channels) and head (1280) fixed while
scaling, the first and last stage's repeats not scaled. Module names follow the published PyTorch state_dict
(``_conv_stem``, ``_blocks.N._expand_conv`` ...) so the real weights load strictly.

Strided convolutions pad as TensorFlow's "same" (more on the bottom/right when the total is odd), computed once for
the model's resolution: the published weights come from TensorFlow (with symmetric padding they scored 79.0 % instead
of 80.0 % on the first 200 val1300 images).
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn import functional as F

# (kernel, stride, expand ratio, input channels, output channels, repeats): EfficientNet-B0's stages
BASE_STAGES = ((3, 1, 1, 32, 16, 1), (3, 2, 6, 16, 24, 2), (5, 2, 6, 24, 40, 2), (3, 2, 6, 40, 80, 3),
               (5, 1, 6, 80, 112, 3), (5, 2, 6, 112, 192, 4), (3, 1, 6, 192, 320, 1))
STEM, HEAD = 32, 1280
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TF's batch-norm epsilon (the weights' running stats assume it)


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by `width`, rounded to a multiple of `divisor`, never more than 10 % below the product.

    >>> round_filters(40, 1.1), round_filters(320, 1.4)
    (48, 448)
    """
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * scaled else new


def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "same" padding (before, after) of one spatial side of `size` pixels.

    >>> same_pad(224, 3, 2), same_pad(56, 5, 2), same_pad(112, 3, 1)
    ((0, 1), (1, 2), (1, 1))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A Conv2d padded as TF's "same" for a fixed input size (asymmetric where the total padding is odd)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, size: int, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride, 0, groups=groups, bias=False)
        before, after = same_pad(size, kernel, stride)
        self.pad = (before, after, before, after)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self.pad) if any(self.pad) else x)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand (when ratio > 1) -> depthwise kxk -> 1x1 project, ReLU6, no SE."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, size: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, size, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.act = nn.ReLU6(inplace=True)
        self.expand = expand != 1
        self.skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite scaled by `width`/`depth` for `resolution` pixels (the zoo's `LITE_SCALES`); stem, head
    and the outer stages' repeats fixed."""

    def __init__(self, width: float, depth: float, resolution: int, dropout: float, num_classes: int = 1000) -> None:
        super().__init__()
        size = resolution
        self._conv_stem = SameConv2d(3, STEM, 3, 2, size)
        size = -(-size // 2)
        self._bn0 = _bn(STEM)
        blocks: list[nn.Module] = []
        cin = STEM
        last = len(BASE_STAGES) - 1
        for i, (k, s, e, _, o, r) in enumerate(BASE_STAGES):
            cout = round_filters(o, width)
            repeats = r if i in (0, last) else math.ceil(depth * r)
            for j in range(repeats):
                stride = s if j == 0 else 1
                blocks.append(MBConv(cin, cout, k, stride, e, size))
                cin, size = cout, -(-size // stride)
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = nn.Conv2d(cin, HEAD, 1, bias=False)
        self._bn1 = _bn(HEAD)
        self.act = nn.ReLU6(inplace=True)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        x = self._blocks(x)
        x = self.act(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(self._avg_pooling(x).flatten(1)))
