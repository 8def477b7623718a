"""The paper's decoder: multi-scale feature fusion with channel attention (MFF) and refinement (R).

Module and attribute names follow the authors' checkpoints (``MFF.att1``,
``MFF.up1.conv1``, ``MFF.conv``, ``R.conv0`` ...), so their files load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ChannelAttention(nn.Sequential):
    """Squeeze-and-excitation weights: ``(B, C, H, W) -> (B, C, 1, 1)`` in (0, 1).

    AvgPool(1) -> Conv1x1(C, C//16) -> ReLU -> Conv1x1(C//16, C) -> Sigmoid, no biases
    (keys ``1.weight`` and ``3.weight``).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        hidden = max(channels // reduction, 1)
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
            nn.Sigmoid(),
        )


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (align_corners=True) of ``(B, C, h, w)`` to ``(B, C, *size)``; no-op at the same size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class UpBranch(nn.Module):
    """Conv(k x k, no bias) -> BN -> ReLU, then bilinear resize (align_corners=True).

    ``(B, C, h, w), size -> (B, out_channels, *size)``.
    """

    def __init__(self, in_channels: int, out_channels: int = 16, kernel_size: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return resize_to(self.relu(self.bn1(self.conv1(x))), size)


class MFF(nn.Module):
    """Fuse four encoder maps at ``fuse_scale`` times the resolution of the first one.

    ``[(B, C_i, H/2^(i+1), W/2^(i+1))] -> (B, 4 * branch_channels, s*H/4, s*W/4)`` for taps at
    strides 4, 8, 16, 32 of an ``(H, W)`` input, ``s`` = ``fuse_scale`` (2 in the paper: H/2).
    Each tap is reweighted by its channel attention, projected to ``branch_channels`` by a
    ``kernel_size`` conv and resized; the concatenation goes through
    Conv(``fuse_kernel``, default ``kernel_size``) -> BN -> ReLU.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        branch_channels: int = 16,
        kernel_size: int = 5,
        fuse_scale: int = 2,
        fuse_kernel: int | None = None,
    ) -> None:
        super().__init__()
        if len(in_channels) != 4:
            raise ValueError(f"MFF expects 4 encoder taps, got {len(in_channels)}")
        if fuse_scale not in (1, 2):
            raise ValueError(f"fuse_scale should be 1 or 2 instead of {fuse_scale}")
        for i, c in enumerate(in_channels, start=1):
            self.add_module(f"att{i}", ChannelAttention(c))
        for i, c in enumerate(in_channels, start=1):
            self.add_module(f"up{i}", UpBranch(c, branch_channels, kernel_size))
        out = 4 * branch_channels
        fuse_kernel = fuse_kernel or kernel_size
        self.conv = nn.Conv2d(out, out, fuse_kernel, padding=fuse_kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = out
        self.fuse_scale = fuse_scale

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        h, w = features[0].shape[-2:]
        x = attend_and_resize(self, features, (self.fuse_scale * h, self.fuse_scale * w))
        return self.relu(self.bn(self.conv(x)))


def attend_and_resize(mff: nn.Module, features: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """Reweight tap ``i`` by ``mff.att{i}``, project and resize it with ``mff.up{i}``, concatenate.

    ``[(B, C_i, h_i, w_i)] -> (B, sum of the branches' channels, *size)``.
    """
    branches = []
    for i, x in enumerate(features, start=1):
        att = getattr(mff, f"att{i}")(x)
        branches.append(getattr(mff, f"up{i}")(x * att, size))
    return torch.cat(branches, dim=1)


class Refine(nn.Module):
    """R: Conv(k x k, no bias) -> BN -> ReLU -> Conv(``out_kernel``, 1 channel, bias).

    ``(B, C, h, w) -> (B, 1, h, w)`` depth in metres, no output activation (values may be <= 0).
    ``out_kernel`` defaults to ``kernel_size`` (5 and 5 in the paper).
    """

    def __init__(self, in_channels: int = 64, kernel_size: int = 5, out_kernel: int | None = None) -> None:
        super().__init__()
        out_kernel = out_kernel or kernel_size
        self.conv0 = nn.Conv2d(in_channels, in_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn0 = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(in_channels, 1, out_kernel, padding=out_kernel // 2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.bn0(self.conv0(x))))
