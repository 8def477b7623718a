"""The assembled depth network: encoder ``E`` -> ``MFF`` -> ``R`` -> resize to the input size."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..camera import Intrinsics
from ..preprocess import IMAGENET_MEAN, IMAGENET_STD


class DepthNet(nn.Module):
    """Monocular depth network in the layout of Hu et al. (keys ``E.*``, ``MFF.*``, ``R.*``).

    ``forward``: ImageNet-normalised ``(B, 3, H, W)`` -> ``(B, 1, H, W)`` depth in metres;
    the decoder works at ``H/2 x W/2`` (``H/4 x W/4`` in ``fast-student``) and its output
    is resized bilinearly (align_corners=True) to the input's own size (for 228x304 inputs
    this is exactly the authors' fixed resize).

    ``predict`` takes PIL images, ``H x W x 3`` uint8 arrays or paths and returns
    ``H x W`` float32 metres at each image's own resolution (see `litedepth.inference`).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        refine: nn.Module,
        arch: str = "custom",
        input_size: tuple[int, int] = (228, 304),
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.E = encoder
        self.MFF = decoder
        self.R = refine
        self.arch = arch
        self.input_size = tuple(input_size)
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.config: dict[str, Any] = {}  # builder kwargs, recorded in checkpoints
        self.metadata: dict[str, Any] = {}  # provenance read from or written to checkpoints
        self.camera = Intrinsics.nyu()  # the training camera: its metres are right for this lens (`litedepth.camera`)

    @property
    def device(self) -> torch.device:
        """Where the parameters are (CPU for a network without any)."""
        return next((p.device for p in self.parameters()), torch.device("cpu"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        depth = self.R(self.MFF(self.E(x)))
        return F.interpolate(depth, size=x.shape[-2:], mode="bilinear", align_corners=True)

    def predict(
        self, images, batch_size: int = 8, device: str | torch.device | None = None, focal: float | None = None
    ):
        """Depth in metres for one image (-> ``H x W`` float32) or a list (-> list of arrays).

        ``focal``: your camera's focal length in pixels of the image; the depth is rescaled from the
        training camera (``self.camera``) to it (`litedepth.camera.scale_to_camera`).
        """
        from ..camera import in_camera
        from ..inference import predict

        return in_camera(predict(self, images, batch_size=batch_size, device=device), focal, self.camera)
