"""Fast students: the paper's student with a cheaper decoder (same ``E`` -> ``MFF`` -> ``R`` layout).

Why: the paper's student is light in parameters, not in compute; most of its FLOPs are two dense
5x5 64->64 decoder convolutions at half the input resolution.

``fast-student`` keeps the paper's decoder, modules, channels and keys, and moves it to a
quarter of the input resolution: the four branches are fused at stride 4 (57x76 for
228x304) instead of 2, and the fusion (``MFF.conv``) and refinement (``R.conv0``)
convolutions are dense 3x3 instead of 5x5, so that each still sees about the same patch of
the input (3 x 4 = 12 pixels against 5 x 2 = 10). Branch convolutions (5x5, at each tap's
own resolution) and the 5x5 output convolution are the paper's: 4 times fewer pixels and 25/9
times fewer weights per kernel in the two big convolutions.

``fast-student-separable`` and ``fast-student-lite`` (its whole decoder at stride 4) use
depthwise-separable convolutions: cheaper still, but slower to learn; they are for the fastest
inference where accuracy matters less. Parameters, GFLOPs and accuracy of each are in the
documentation (Architectures).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .decoder import MFF, ChannelAttention, Refine, attend_and_resize, resize_to
from .depthnet import DepthNet
from .mobilenetv2 import MobileNetV2Encoder


class SeparableConv(nn.Sequential):
    """Depthwise k x k -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU.

    ``(B, in_channels, h, w) -> (B, out_channels, h, w)``; keys ``0`` .. ``5``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class FastUpBranch(nn.Module):
    """Separable conv to ``out_channels``, then bilinear resize (align_corners=True).

    ``(B, C, h, w), size -> (B, out_channels, *size)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = SeparableConv(in_channels, out_channels, kernel_size)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return resize_to(self.conv(x), size)


class FastMFF(nn.Module):
    """Multi-scale fusion with channel attention and separable convolutions.

    ``[(B, C_i, H/2^(i+1), W/2^(i+1))] -> (B, out_channels, s*H/4, s*W/4)`` where ``s`` is
    ``fuse_scale`` (1: fuse at the first tap's resolution, 2: at twice it, as the paper).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        branch_channels: int = 32,
        out_channels: int = 64,
        branch_kernel: int = 3,
        kernel_size: int = 5,
        fuse_scale: int = 1,
    ) -> None:
        super().__init__()
        if len(in_channels) != 4:
            raise ValueError(f"FastMFF expects 4 encoder taps, got {len(in_channels)}")
        if fuse_scale not in (1, 2):
            raise ValueError(f"fuse_scale should be 1 or 2 instead of {fuse_scale}")
        for i, c in enumerate(in_channels, start=1):
            self.add_module(f"att{i}", ChannelAttention(c))
        for i, c in enumerate(in_channels, start=1):
            self.add_module(f"up{i}", FastUpBranch(c, branch_channels, branch_kernel))
        self.conv = SeparableConv(4 * branch_channels, out_channels, kernel_size)
        self.fuse_scale = fuse_scale
        self.out_channels = out_channels

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        h, w = features[0].shape[-2:]
        return self.conv(attend_and_resize(self, features, (self.fuse_scale * h, self.fuse_scale * w)))


class FastRefine(nn.Module):
    """R: separable refinement, optional x2 upsampling stage, k x k conv to one channel (with bias).

    ``(B, C, h, w) -> (B, 1, h * up, w * up)`` metres, ``up`` = 2 when ``up_channels`` > 0, else 1.
    No output activation, as in the paper's R; the output bias starts at ``initial_depth`` metres.
    """

    def __init__(
        self, in_channels: int = 64, up_channels: int = 32, kernel_size: int = 5, initial_depth: float = 2.5
    ) -> None:
        super().__init__()
        self.conv0 = SeparableConv(in_channels, in_channels, kernel_size)
        self.conv1 = SeparableConv(in_channels, up_channels, kernel_size) if up_channels > 0 else None
        last = up_channels if up_channels > 0 else in_channels
        self.conv2 = nn.Conv2d(last, 1, kernel_size, padding=kernel_size // 2, bias=True)
        # Start at a typical indoor depth: from a zero output, the narrow separable decoder takes
        # several times as many steps as the paper's dense R to grow its output to the data's scale.
        nn.init.constant_(self.conv2.bias, initial_depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv0(x)
        if self.conv1 is not None:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
            x = self.conv1(x)
        return self.conv2(x)


def fast_student(input_size: tuple[int, int] = (228, 304)) -> DepthNet:
    """Fast student: the paper's student with its decoder at stride 4 and 3x3 fusion and refinement.

    Same modules and keys as ``hu2021-student`` (``MFF.up1.conv1``, ``MFF.conv``, ``R.conv0``, ...);
    only ``MFF.conv`` and ``R.conv0`` are 3x3 instead of 5x5, and they run at ``H/4 x W/4``.
    """
    encoder = MobileNetV2Encoder()
    return DepthNet(encoder, *fast_decoder(encoder.channels), arch="fast-student", input_size=input_size)


def fast_decoder(channels: Sequence[int]) -> tuple[MFF, Refine]:
    """The fast student's MFF (fused at stride 4, 3x3 fusion) and R (3x3, 5x5 output) for taps of ``channels``."""
    mff = MFF(channels, fuse_scale=1, fuse_kernel=3)
    return mff, Refine(mff.out_channels, kernel_size=3, out_kernel=5)


def separable_depthnet(
    arch: str,
    input_size: tuple[int, int] = (228, 304),
    branch_channels: int = 32,
    fuse_channels: int = 64,
    up_channels: int = 32,
    kernel_size: int = 5,
    fuse_scale: int = 1,
) -> DepthNet:
    """MobileNetV2 ``features[:17]`` + `FastMFF` + `FastRefine` as a `DepthNet` named ``arch``."""
    encoder = MobileNetV2Encoder()
    mff = FastMFF(encoder.channels, branch_channels, fuse_channels, 3, kernel_size, fuse_scale)
    refine = FastRefine(mff.out_channels, up_channels, kernel_size)
    return DepthNet(encoder, mff, refine, arch=arch, input_size=input_size)


def fast_student_separable(input_size: tuple[int, int] = (228, 304)) -> DepthNet:
    """Separable fast student: fuse at stride 4, separable 5x5 decoder, one stride-2 refinement layer."""
    return separable_depthnet("fast-student-separable", input_size)


def fast_student_lite(input_size: tuple[int, int] = (228, 304)) -> DepthNet:
    """Lightest fast student: the whole separable decoder at stride 4, bilinear x4 to the input size."""
    return separable_depthnet("fast-student-lite", input_size, up_channels=0)
