"""How an image becomes a network's input: normalisation statistics, resize rules and views.

Every place that feeds a network (prediction, evaluation, the teacher cache, Hugging Face
teachers, INT8 calibration, training) takes its pieces from here:

* `normalise`, `denormalise`, `renormalise`: pure tensor functions on ``(B, 3, H, W)`` or
  ``(3, H, W)`` float tensors, RGB in 0..1 units before normalisation;
* `IMAGENET_MEAN`, `IMAGENET_STD` (together `IMAGENET`): the statistics every shipped network
  is normalised with; `stats_of`: the ``(mean, std)`` a model or teacher expects (its
  ``mean``/``std`` attributes), ImageNet's for an object without them;
* the resize rules of the paper's protocol: `shorter_side_for` (resize before the crop),
  `resize_for_crop` (that resize, raised where a portrait, small or elongated photo needs it to
  hold the crop: the one rule of every training and calibration path), `center_crop_box` (the
  centre crop), `crop_view` (the three together), and `network_view` (the whole image, as
  `predict` runs it);
* `parse_size`: an ``HxW`` input size as the options write it (``--size 228x304``).

>>> rgb = torch.rand(2, 3, 228, 304)                    # RGB in 0..1
>>> x = normalise(rgb, *stats_of(model))                 # what the network takes
>>> torch.allclose(denormalise(x, *stats_of(model)), rgb, atol=1e-6)
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import LitedepthError

Stats = tuple[tuple[float, ...], tuple[float, ...]]  # (mean, std), one value per RGB channel

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # ImageNet's per-channel RGB mean, 0..1 units
IMAGENET_STD = (0.229, 0.224, 0.225)  # ImageNet's per-channel RGB std, 0..1 units
IMAGENET: Stats = (IMAGENET_MEAN, IMAGENET_STD)  # the default: every shipped network's statistics

REFERENCE_INPUT_SIZE = (228, 304)  # (H, W) the paper's networks see
REFERENCE_SHORTER_SIDE = 240  # images are resized so the shorter side is 240 before the 228x304 crop

STRIDE = 32  # the encoders' total downsampling: whole-image inputs are padded to a multiple of it
FITS = ("auto", "whole", "letterbox")


def parse_size(text: str, minimum: int = 1, name: str = "--size") -> tuple[int, int]:
    """``"228x304"`` -> ``(228, 304)`` (height, width), or a one-line `LitedepthError`."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m or min(int(m.group(1)), int(m.group(2))) < minimum:
        raise LitedepthError(f"{name} {text!r}: expected HEIGHTxWIDTH with both at least {minimum}, e.g. 228x304")
    return int(m.group(1)), int(m.group(2))


def stats_of(obj, default: Stats = IMAGENET) -> Stats:
    """``(mean, std)`` of a model or teacher: its ``mean`` and ``std`` attributes, else ``default``.

    Its own statistics are checked (`litedepth.metadata.check_stats`): 3 finite numbers each, std
    positive, else a one-line `LitedepthError` naming the model (a std of 0 would make every
    normalised input, and so every depth, NaN).
    """
    from .metadata import check_stats

    mean, std = getattr(obj, "mean", None), getattr(obj, "std", None)
    if mean is None or std is None:
        return tuple(default[0]), tuple(default[1])
    check_stats(mean, std, describe(obj))
    return tuple(mean), tuple(std)


def describe(obj) -> str:
    """How messages name a model or teacher: the file it came from, else its name, architecture or type."""
    metadata = getattr(obj, "metadata", None)
    source = metadata.get("source") if isinstance(metadata, dict) else None
    return str(source or getattr(obj, "name", None) or getattr(obj, "arch", None) or type(obj).__name__)


def _channel_view(values: Sequence[float] | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``values`` (3 numbers) as a float32 tensor on ``x``'s device, shaped to broadcast over ``x``."""
    if x.ndim not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"expected a (B, 3, H, W) or (3, H, W) tensor, got shape {tuple(x.shape)}")
    shape = (3, 1, 1) if x.ndim == 3 else (1, 3, 1, 1)
    return torch.as_tensor(values, dtype=torch.float32).to(x.device).view(shape)


def normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(x - mean) / std`` per channel: RGB in 0..1 -> the network's input. Shape kept."""
    return (x - _channel_view(mean, x)) / _channel_view(std, x)


def denormalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``x * std + mean`` per channel: the inverse of `normalise` (back to RGB in 0..1). Shape kept."""
    return x * _channel_view(std, x) + _channel_view(mean, x)


def renormalise(x: torch.Tensor, from_stats: Stats, to_stats: Stats) -> torch.Tensor:
    """An input normalised with ``from_stats = (mean, std)`` as if normalised with ``to_stats``."""
    return normalise(denormalise(x, *from_stats), *to_stats)


def shorter_side_for(input_size: tuple[int, int]) -> int:
    """Shorter side to resize to before centre-cropping ``input_size`` (H, W).

    240 for the reference 228x304; scaled proportionally otherwise: ``round(240 * H / 228)``.
    """
    h = int(input_size[0])
    return int(round(REFERENCE_SHORTER_SIDE * h / REFERENCE_INPUT_SIZE[0]))


def resize_for_crop(w: int, h: int, shorter_side: int, crop: Sequence[int] | None = None) -> tuple[int, int]:
    """``(W, H)`` to resize a ``w`` x ``h`` image to before centre- or random-cropping ``crop = (H, W)``.

    The one resize rule of training (both pipelines), precise BatchNorm, the teacher cache,
    validation and INT8 calibration. The shorter side becomes ``shorter_side`` (the longer one
    ``int(shorter_side * long / short)``, truncated as the reference code); where that leaves a side
    smaller than the crop (a portrait photo, a small or a very elongated one) the scale is raised
    to what the crop needs, ``max(shorter_side / short, crop_h / h, crop_w / w)``, so the crop
    always lies on real pixels (never padding). ``crop`` None: the shorter-side rule alone.

    >>> resize_for_crop(640, 480, 240, (228, 304))   # landscape: the paper's rule
    (320, 240)
    >>> resize_for_crop(202, 359, 240, (228, 304))   # portrait: as wide as the crop
    (304, 540)
    """
    if w < h:
        out = int(shorter_side), int(shorter_side * h / w)
    else:
        out = int(shorter_side * w / h), int(shorter_side)
    if crop is None or (out[0] >= crop[1] and out[1] >= crop[0]):
        return out
    crop_h, crop_w = int(crop[0]), int(crop[1])
    scale = max(shorter_side / min(w, h), crop_h / h, crop_w / w)
    return max(crop_w, round(w * scale)), max(crop_h, round(h * scale))


def crop_view(image: Image.Image, input_size: tuple[int, int], shorter_side: int | None = None) -> Image.Image:
    """``image`` resized by `resize_for_crop` (PIL bilinear) and centre-cropped to ``input_size = (H, W)``.

    ``shorter_side`` None: `shorter_side_for` ``input_size``. What the network sees of a photo in
    validation and INT8 calibration, whatever the photo's shape.
    """
    h, w = int(input_size[0]), int(input_size[1])
    size = resize_for_crop(*image.size, shorter_side or shorter_side_for(input_size), (h, w))
    resized = image.resize(size, Image.BILINEAR) if size != image.size else image
    return resized.crop(center_crop_box(*size, h, w))


def center_crop_box(w: int, h: int, crop_h: int, crop_w: int) -> tuple[int, int, int, int]:
    """PIL box (left, top, right, bottom) of the authors' centre crop: offsets round((W-w)/2), round((H-h)/2)."""
    x1 = int(round((w - crop_w) / 2.0))
    y1 = int(round((h - crop_h) / 2.0))
    return x1, y1, x1 + crop_w, y1 + crop_h


def prepare_images(images: Sequence[Image.Image], input_size: tuple[int, int], mean, std) -> torch.Tensor:
    """RGB PIL images -> ``(B, 3, H, W)`` tensor at ``input_size = (H, W)`` (PIL bilinear), normalised."""
    h, w = input_size
    arrays = [np.asarray(img.resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0 for img in images]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    return normalise(x, mean, std)


def network_view(
    image: Image.Image, input_size: tuple[int, int], mean, std, fit: str
) -> tuple[torch.Tensor, tuple[int, int]]:
    """One RGB image as the network sees it in `predict`: ``((1, 3, h, w) normalised, (content h, content w))``.

    Both fits keep the aspect ratio. ``whole``: resized so its shorter side is the one training and
    evaluation resize to (240 for a 228x304 network; `shorter_side_for`), then padded (edge pixels
    repeated) at the bottom and right to a multiple of `STRIDE`. ``letterbox``: resized to fit
    inside ``input_size`` (for networks that only take that size, e.g. a static ONNX export), then
    padded to it. The network's output is cropped to the content before resizing back.
    """
    width, height = image.size
    if fit == "whole":
        scale = shorter_side_for(input_size) / min(height, width)
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        padded = (-(-h // STRIDE) * STRIDE, -(-w // STRIDE) * STRIDE)
    else:
        scale = min(input_size[0] / height, input_size[1] / width)
        h, w = min(input_size[0], max(1, round(height * scale))), min(input_size[1], max(1, round(width * scale)))
        padded = tuple(input_size)
    x = prepare_images(
        [image.resize((w, h), Image.BILINEAR) if (w, h) != (width, height) else image], (h, w), mean, std
    )
    x = F.pad(x, (0, padded[1] - w, 0, padded[0] - h), mode="replicate") if padded != (h, w) else x
    return x, (h, w)
