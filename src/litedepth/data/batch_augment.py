"""The training augmentation as batched tensor operations on the training device.

>>> recipe = AugmentRecipe(input_size=(228, 304), shorter_side=240)       # the WACV-2019 strengths
>>> params = draw_params(recipe, np.random.default_rng([seed, k, epoch, i]))   # in a worker
>>> item = cut_window(recipe, rgb, {"depth": depth}, params)                  # in a worker: a fixed-size window
>>> batch = BatchAugment(recipe, mean, std)(collated, device)                # on the device: (B, 3, 228, 304)

The same recipe as `litedepth.data.transforms.train_transform` (the PIL path): horizontal flip,
rotation about the image centre, centre crop, PCA lighting, colour jitter in random order,
normalisation. The random draws of an item come from its own generator in the same order as
the PIL transforms draw them, so an item gets the same flip, angle, lighting and jitter on both
paths. What differs is where the work runs: a DataLoader worker only cuts a window around the
crop from the decoded image (`litedepth.data.store`); flip, rotation and crop become one
``grid_sample`` over the batch (bilinear for the image, rounded to 8 bits as PIL's is, nearest
for depth, zeros outside the image), and the colour steps are batched arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..preprocess import center_crop_box
from .transforms import IMAGENET_PCA_EIGVAL, IMAGENET_PCA_EIGVEC

GRAY = (0.299, 0.587, 0.114)
BRIGHTNESS, CONTRAST, SATURATION = 0, 1, 2  # the order of `ColorJitter`'s ops


@dataclass(frozen=True)
class AugmentRecipe:
    """Strengths of the training augmentation (0 turns a step off) and its sizes.

    ``input_size``: the crop ``(H, W)``; ``shorter_side``: the images' shorter side before it
    (what the sample store holds; more where an image needs it to hold the crop).
    """

    input_size: tuple[int, int]
    shorter_side: int
    hflip: float = 0.5
    rotate: float = 5.0
    lighting: float = 0.1
    jitter: float = 0.4

    @property
    def margin(self) -> int:
        """Pixels around the crop that a rotation by at most ``rotate`` degrees can reach."""
        if self.rotate <= 0:
            return 0
        h, w = self.input_size
        return math.ceil(math.hypot(h, w) / 2 * math.radians(min(self.rotate, 90.0))) + 2

    @property
    def window(self) -> tuple[int, int]:
        """``(H, W)`` of the window a worker cuts: the crop, the margin, and one column for a flip's offset."""
        h, w = self.input_size
        return h + 2 * self.margin + 1, w + 2 * self.margin + 1


def draw_params(recipe: AugmentRecipe, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One item's random draws, in the order of the PIL transforms (flip, angle, lighting, jitter)."""
    flip = bool(rng.random() < recipe.hflip) if recipe.hflip > 0 else False
    angle = float(rng.uniform(-recipe.rotate, recipe.rotate)) if recipe.rotate > 0 else 0.0
    lighting = (
        rng.normal(0.0, recipe.lighting, size=3).astype(np.float32) if recipe.lighting > 0 else np.zeros(3, np.float32)
    )
    order, alphas = np.arange(3), np.zeros(3, np.float32)
    if recipe.jitter > 0:
        order = rng.permutation(3)
        alphas = np.array([rng.uniform(-recipe.jitter, recipe.jitter) for _ in range(3)], np.float32)
    return {
        "flip": np.array(flip),
        "angle": np.array(angle, np.float32),
        "lighting": lighting,
        "jitter_order": order.astype(np.int64),
        "jitter_alpha": alphas,
    }


def no_params() -> dict[str, np.ndarray]:
    """The draws of an un-augmented item: no flip, no rotation, no colour change."""
    return {
        "flip": np.array(False),
        "angle": np.array(0.0, np.float32),
        "lighting": np.zeros(3, np.float32),
        "jitter_order": np.arange(3),
        "jitter_alpha": np.zeros(3, np.float32),
    }


def cut_window(
    recipe: AugmentRecipe, rgb: np.ndarray, maps: Sequence[np.ndarray], params: dict[str, np.ndarray]
) -> dict[str, torch.Tensor]:
    """The fixed-size window around the centre crop of one decoded image, and where it lies.

    ``rgb``: ``(H, W, 3)`` uint8 resized as the store resizes (`litedepth.preprocess.resize_for_crop`:
    it holds the crop); ``maps``: depth-like ``(H, W)`` float32 arrays moved with it (depth, a cached
    teacher target). Where a rotation's margin reaches outside the image the window is 0 (black;
    invalid depth), as PIL's rotation fills it. Returns tensors: ``window`` ``(Hw, Ww, 3)`` uint8,
    ``maps`` ``(M, Hw, Ww)``, ``frame`` (image W, H, window left, top), and the draws.
    """
    height, width = rgb.shape[:2]
    h, w = recipe.input_size
    if height < h or width < w:  # the crop would read padding, not pixels (`transforms.CenterCrop` refuses it too)
        raise ValueError(
            f"cut_window: cannot crop {h}x{w} (HxW) from a {height}x{width} image; resize it to hold the crop"
        )
    x0, y0, _, _ = center_crop_box(width, height, h, w)
    box = (y0 - recipe.margin, min(x0, width - x0 - w) - recipe.margin)  # covers the flipped image's crop too
    window = np.zeros((*recipe.window, 3), np.uint8)
    _paste(window, rgb, *box)
    stacked = np.zeros((len(maps), *recipe.window), np.float32)
    for plane, array in zip(stacked, maps):
        _paste(plane, array, *box)
    out = {
        "window": torch.from_numpy(window),
        "maps": torch.from_numpy(stacked),
        "frame": torch.tensor([width, height, box[1], box[0]], dtype=torch.float32),
    }
    out.update({k: torch.from_numpy(np.asarray(v)) for k, v in params.items()})
    return out


def _paste(out: np.ndarray, array: np.ndarray, top: int, left: int) -> None:
    """``out[:] = array[top:, left:]`` over ``out``'s size, where ``array`` reaches (``out`` holds zeros)."""
    y1, x1 = max(top, 0), max(left, 0)
    y2, x2 = min(top + out.shape[0], array.shape[0]), min(left + out.shape[1], array.shape[1])
    if y2 > y1 and x2 > x1:
        out[y1 - top : y2 - top, x1 - left : x2 - left] = array[y1:y2, x1:x2]


class BatchAugment:
    """Collated windows -> the augmented, normalised batch, on ``device``.

    ``__call__(batch, device)`` takes what the DataLoader collated from `cut_window` and returns
    ``(image, maps, inside)`` at the recipe's ``input_size``: ``image`` ``(B, 3, H, W)`` normalised
    float32; ``maps`` ``(B, M, H, W)`` resampled nearest, so every value is a measured one or 0;
    ``inside`` ``(B, 1, H, W)``, 1 where a pixel comes from inside the image (nearest, as a map of
    ones would be moved).

    The colour steps and the normalisation are affine in RGB (contrast's target, the mean grey,
    follows from the image's mean colour), so they are composed per image into one 3x3 matrix and
    offset and applied in one pass.
    """

    def __init__(self, recipe: AugmentRecipe, mean: Sequence[float], std: Sequence[float]) -> None:
        self.recipe = recipe
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)

    def __call__(self, batch: dict, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        device = torch.device(device)
        window = batch["window"].to(device, non_blocking=True).permute(0, 3, 1, 2).float()  # (B, 3, Hw, Ww), 0..255
        grid = self.sampling_grid(batch, device)
        image = F.grid_sample(window, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        image = image.round_().mul_(1 / 255.0)  # PIL rotates and crops in 8 bits
        maps = batch["maps"].to(device, non_blocking=True)
        if maps.shape[1]:
            maps = F.grid_sample(maps, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        else:
            maps = image.new_zeros((image.shape[0], 0, *image.shape[-2:]))
        matrix, offset = self.colour(image.mean(dim=(2, 3)), batch, device)
        image = torch.einsum("bij,bjhw->bihw", matrix, image).add_(offset[:, :, None, None])
        return image, maps, self._inside(grid, batch, device)

    def _inside(self, grid: torch.Tensor, batch: dict, device: torch.device) -> torch.Tensor:
        """``(B, 1, H, W)``: 1 where nearest sampling at ``grid`` reads a pixel of the image itself."""
        wh, ww = self.recipe.window
        width, height, left, top = (f[:, None, None] for f in batch["frame"].to(device).unbind(1))
        col = torch.round((grid[..., 0] + 1) * (ww / 2) - 0.5) + left  # grid_sample's nearest pixel, in the image
        row = torch.round((grid[..., 1] + 1) * (wh / 2) - 0.5) + top
        return ((col >= 0) & (col < width) & (row >= 0) & (row < height)).float()[:, None]

    def sampling_grid(self, batch: dict, device: torch.device) -> torch.Tensor:
        """``(B, H, W, 2)`` window coordinates (``grid_sample``'s, in [-1, 1]) that each crop pixel reads.

        Crop pixel ``(u, v)`` sits at ``(x0 + u + 0.5, y0 + v + 0.5)`` of the flipped image; rotating
        the image counter-clockwise by ``angle`` about its centre means reading there the point
        turned back about the centre; a flip then reads the mirrored column of the image.
        """
        h, w = self.recipe.input_size
        width, height, left, top = (f[:, None, None] for f in batch["frame"].to(device).unbind(1))
        x0 = torch.round((width - w) / 2.0)  # `center_crop_box` (round half to even, as Python's round)
        y0 = torch.round((height - h) / 2.0)
        px = x0 + torch.arange(w, device=device)[None, None, :] + (0.5 - width / 2)
        py = y0 + torch.arange(h, device=device)[None, :, None] + (0.5 - height / 2)
        theta = torch.deg2rad(batch["angle"].to(device))[:, None, None]
        cos, sin = torch.cos(theta), torch.sin(theta)
        sx = cos * px - sin * py + width / 2
        sy = sin * px + cos * py + height / 2
        sx = torch.where(batch["flip"].to(device)[:, None, None], width - sx, sx)
        wh, ww = self.recipe.window
        return torch.stack(((sx - left) * (2 / ww) - 1, (sy - top) * (2 / wh) - 1), dim=-1)

    def colour(self, mean_rgb: torch.Tensor, batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Per image ``(matrix (B, 3, 3), offset (B, 3))``: PCA lighting, then brightness, contrast and
        saturation in the item's drawn order, then the normalisation, as one affine map of [0, 1] RGB."""
        b = mean_rgb.shape[0]
        eigvec = torch.from_numpy(IMAGENET_PCA_EIGVEC).to(device)
        eigval = torch.from_numpy(IMAGENET_PCA_EIGVAL).to(device)
        offset = (eigvec[None] * (batch["lighting"].to(device) * eigval[None])[:, None, :]).sum(-1)
        matrix = torch.eye(3, device=device).expand(b, 3, 3)
        gray = torch.tensor(GRAY, device=device)
        to_gray = torch.ones(3, 1, device=device) * gray[None, :]  # every channel <- the grey level
        order, alpha = batch["jitter_order"].to(device), batch["jitter_alpha"].to(device)
        for r in range(order.shape[1]):
            a, op = alpha[:, r, None], order[:, r, None]
            mean_gray = ((matrix @ mean_rgb[:, :, None])[..., 0] + offset) @ gray  # (B,)
            keep = torch.eye(3, device=device) * (1 - a[:, :, None])
            step = torch.where((op == SATURATION)[:, :, None], keep + a[:, :, None] * to_gray, keep)
            matrix, offset = step @ matrix, (step @ offset[:, :, None])[..., 0]
            offset = offset + torch.where(op == CONTRAST, a * mean_gray[:, None], torch.zeros_like(offset))
        mean = torch.tensor(self.mean, device=device)
        std = torch.tensor(self.std, device=device)
        return matrix / std[None, :, None], (offset - mean) / std
