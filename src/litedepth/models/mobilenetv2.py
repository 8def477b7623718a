"""MobileNetV2 encoder with torchvision's module layout (Sandler et al., 2018).

Blocks are named exactly as in ``torchvision.models.mobilenetv2`` so that the
authors' ``E.mv2.*`` checkpoints and torchvision ImageNet files both load.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvBNReLU(nn.Sequential):
    """Conv -> BatchNorm -> ReLU6, keys ``0`` (conv) and ``1`` (bn) as torchvision's ``Conv2dNormActivation``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, groups: int = 1) -> None:
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> project (1x1), with a residual when shapes allow."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride should be 1 or 2 instead of {stride}")
        hidden = int(round(in_ch * expand_ratio))
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(in_ch, hidden, kernel_size=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_ch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


# t (expansion), c (channels), n (repeats), s (first stride): torchvision's table.
INVERTED_RESIDUAL_SETTING = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def mobilenet_v2_features() -> nn.Sequential:
    """The 19 blocks of torchvision's ``mobilenet_v2().features`` (width 1.0)."""
    blocks: list[nn.Module] = [ConvBNReLU(3, 32, stride=2)]
    in_ch = 32
    for t, c, n, s in INVERTED_RESIDUAL_SETTING:
        for i in range(n):
            blocks.append(InvertedResidual(in_ch, c, s if i == 0 else 1, t))
            in_ch = c
    blocks.append(ConvBNReLU(in_ch, 1280, kernel_size=1))
    return nn.Sequential(*blocks)


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2 ``features[:17]`` as ``mv2``, returning four feature maps.

    ``(B, 3, H, W) -> [(B, 24, H/4, W/4), (B, 32, H/8, W/8), (B, 96, H/16, W/16), (B, 160, H/32, W/32)]``
    (sizes rounded up by the stride-2 convolutions).
    """

    channels = (24, 32, 96, 160)
    reductions = (4, 8, 16, 32)
    # slice bounds: tap i is what mv2[block_bounds[i]:block_bounds[i + 1]] makes of tap i - 1 (of the input for i = 0)
    block_bounds = (0, 4, 7, 14, 17)

    def __init__(self) -> None:
        super().__init__()
        self.mv2 = mobilenet_v2_features()[:17]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for start, stop in zip(self.block_bounds[:-1], self.block_bounds[1:]):
            for block in self.mv2[start:stop]:
                x = block(x)
            features.append(x)
        return features

    @staticmethod
    def from_torchvision_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a torchvision ``mobilenet_v2`` state dict onto this encoder's keys.

        ``features.i.*`` -> ``mv2.i.*`` for the 17 kept blocks; the dropped blocks
        (``features.17``, ``features.18``) and the ``classifier`` are left out.
        """
        mapped = {}
        for key, value in state_dict.items():
            parts = key.split(".")
            if parts[0] == "features" and int(parts[1]) < 17:
                mapped["mv2." + ".".join(parts[1:])] = value
            elif parts[0] not in ("features", "classifier"):
                mapped[key] = value  # unknown: let the strict load report it
        return mapped
