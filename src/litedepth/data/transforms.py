"""Joint image/depth transforms with an explicit random generator.

A transform is a small object called as ``t(sample, rng) -> sample`` where ``sample`` is a dict
``{"image": PIL RGB image, "depth": (H, W) float32 metres (0 = invalid), "name": str, ...}`` and
``rng`` is a ``numpy.random.Generator``. Geometric transforms apply the same operation to the image
and to every depth-like key listed in ``sample.get("_depth_keys", ["depth"])`` (nearest-neighbour
for depth, so no invalid zero leaks into a valid neighbour); photometric ones touch only the image.

Photometric transforms turn the image into an ``(H, W, 3)`` float32 array in [0, 1] (not clipped,
as the authors' tensors were not), which later geometric transforms and `ToTensor` also accept.

The recipes of the reference code (Hu et al., WACV 2019 / Boosting 2021) are `train_transform`
and `test_transform`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    REFERENCE_INPUT_SIZE,
    center_crop_box,
    normalise,
    resize_for_crop,
    shorter_side_for,
)

# AlexNet PCA of ImageNet RGB pixels, as used by the WACV-2019 code (values in [0, 1] units).
IMAGENET_PCA_EIGVAL = np.array([0.2175, 0.0188, 0.0045], dtype=np.float32)
IMAGENET_PCA_EIGVEC = np.array(
    [
        [-0.5675, 0.7192, 0.4009],
        [-0.5808, -0.0045, -0.8140],
        [-0.5836, -0.6948, 0.4203],
    ],
    dtype=np.float32,
)

Sample = dict
Transform = Callable[[Sample, np.random.Generator], Sample]

_RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def depth_keys(sample: Sample) -> list[str]:
    """The depth-like keys of ``sample`` that geometric transforms must move with the image."""
    return [k for k in sample.get("_depth_keys", ["depth"]) if k in sample]


def image_size(img) -> tuple[int, int]:
    """(W, H) of a PIL image or an (H, W[, C]) array."""
    if isinstance(img, Image.Image):
        return img.size
    return int(img.shape[1]), int(img.shape[0])


def _map_image(img, fn: Callable[[Image.Image, int], Image.Image], resample: int):
    """Apply a PIL geometric op to a PIL image or to each channel of a float array."""
    if isinstance(img, Image.Image):
        return fn(img, resample)
    arr = np.asarray(img, dtype=np.float32)
    channels = [
        np.asarray(fn(Image.fromarray(np.ascontiguousarray(arr[..., c])), resample)) for c in range(arr.shape[2])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def _map_depth(depth: np.ndarray, fn: Callable[[Image.Image, int], Image.Image]) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(depth, dtype=np.float32))
    return np.asarray(fn(img, Image.NEAREST), dtype=np.float32).copy()


def apply_geometric(sample: Sample, fn: Callable[[Image.Image, int], Image.Image], resample: int) -> Sample:
    """Apply ``fn(pil_image, resample)`` to the image (with ``resample``) and to depth keys (nearest)."""
    out = dict(sample)
    out["image"] = _map_image(sample["image"], fn, resample)
    for key in depth_keys(sample):
        out[key] = _map_depth(sample[key], fn)
    return out


def _to_float_image(img) -> np.ndarray:
    if isinstance(img, Image.Image):
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return np.asarray(img, dtype=np.float32)


class Compose:
    """Apply transforms in order, passing the same generator to each."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for t in self.transforms:
            sample = t(sample, rng)
        return sample

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


class ResizeShorter:
    """Resize so the shorter side is ``size`` pixels (the authors' ``Scale``), or more where ``crop`` needs it.

    The longer side is ``int(size * long / short)`` (truncated, as the reference code). With
    ``crop = (H, W)``, the crop that follows always fits: a portrait, small or elongated image is
    scaled up to hold it (`litedepth.preprocess.resize_for_crop`, the rule every training and
    calibration path shares). RGB uses ``interpolation`` (PIL bilinear by default), depth keys nearest.
    """

    def __init__(self, size: int, interpolation: str = "bilinear", crop: Sequence[int] | None = None) -> None:
        self.size = int(size)
        self.resample = _RESAMPLE[interpolation]
        self.crop = (int(crop[0]), int(crop[1])) if crop is not None else None

    def output_size(self, w: int, h: int) -> tuple[int, int]:
        """(W, H) after resizing a W x H image."""
        return resize_for_crop(w, h, self.size, self.crop)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        w, h = image_size(sample["image"])
        ow, oh = self.output_size(w, h)
        if (ow, oh) == (w, h):
            return dict(sample)
        return apply_geometric(sample, lambda im, rs: im.resize((ow, oh), rs), self.resample)

    def __repr__(self) -> str:
        return f"ResizeShorter({self.size}" + (f", crop={self.crop})" if self.crop else ")")


def _check_crop(w: int, h: int, crop_h: int, crop_w: int, name: str) -> None:
    if crop_w > w or crop_h > h:
        raise ValueError(
            f"{name}: cannot crop {crop_h}x{crop_w} (HxW) from a {h}x{w} image; resize first (ResizeShorter(..., crop=))"
        )


class CenterCrop:
    """Crop ``h`` x ``w`` pixels from the centre, the same box for image and depth keys."""

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = int(h), int(w)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        w, h = image_size(sample["image"])
        _check_crop(w, h, self.h, self.w, "CenterCrop")
        box = center_crop_box(w, h, self.h, self.w)
        return _crop(sample, box)

    def __repr__(self) -> str:
        return f"CenterCrop({self.h}, {self.w})"


def _crop(sample: Sample, box: tuple[int, int, int, int]) -> Sample:
    x1, y1, x2, y2 = box
    out = dict(sample)
    img = sample["image"]
    out["image"] = img.crop(box) if isinstance(img, Image.Image) else np.ascontiguousarray(img[y1:y2, x1:x2])
    for key in depth_keys(sample):
        out[key] = np.ascontiguousarray(sample[key][y1:y2, x1:x2])
    return out


class RandomCrop:
    """Crop ``h`` x ``w`` pixels at a uniformly random offset, the same box for image and depth keys."""

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = int(h), int(w)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        w, h = image_size(sample["image"])
        _check_crop(w, h, self.h, self.w, "RandomCrop")
        x1 = int(rng.integers(0, w - self.w + 1))
        y1 = int(rng.integers(0, h - self.h + 1))
        return _crop(sample, (x1, y1, x1 + self.w, y1 + self.h))

    def __repr__(self) -> str:
        return f"RandomCrop({self.h}, {self.w})"


class RandomHorizontalFlip:
    """Mirror image and depth keys left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = float(p)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return dict(sample)
        out = dict(sample)
        img = sample["image"]
        out["image"] = (
            img.transpose(Image.FLIP_LEFT_RIGHT) if isinstance(img, Image.Image) else np.ascontiguousarray(img[:, ::-1])
        )
        for key in depth_keys(sample):
            out[key] = np.ascontiguousarray(sample[key][:, ::-1])
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomRotation:
    """Rotate by an angle drawn uniformly from [-degrees, degrees] about the centre, same size.

    Image bilinear, uncovered corners black; depth keys nearest, uncovered corners 0 (= invalid).
    (The reference code rotated depth with scipy order-1 (bilinear) interpolation, which blends invalid zeros into
    valid pixels; nearest keeps every depth value a measured one.)
    """

    def __init__(self, degrees: float) -> None:
        self.degrees = float(degrees)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        angle = float(rng.uniform(-self.degrees, self.degrees))
        return apply_geometric(
            sample, lambda im, rs: im.rotate(angle, resample=rs, expand=False, fillcolor=0), Image.BILINEAR
        )

    def __repr__(self) -> str:
        return f"RandomRotation({self.degrees})"


def _gray(img: np.ndarray) -> np.ndarray:
    return 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]


class ColorJitter:
    """Brightness, contrast and saturation jitter in random order (the fb.resnet / WACV-2019 recipe).

    Each op draws ``alpha ~ U(-v, v)`` and blends ``img + alpha * (g - img)`` with ``g`` = black
    (brightness), the mean grey level (contrast) or the per-pixel grey ``0.299R + 0.587G + 0.114B``
    (saturation). Image only; output is a float32 (H, W, 3) array in [0, 1] units, not clipped.
    """

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4) -> None:
        self.brightness, self.contrast, self.saturation = float(brightness), float(contrast), float(saturation)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        img = _to_float_image(sample["image"])
        ops = [
            (name, v) for name, v in (("b", self.brightness), ("c", self.contrast), ("s", self.saturation)) if v != 0
        ]
        for k in rng.permutation(len(ops)):
            name, var = ops[int(k)]
            alpha = np.float32(rng.uniform(-var, var))
            if name == "b":
                target = np.zeros_like(img)
            elif name == "c":
                target = np.full_like(img, _gray(img).mean())
            else:
                target = np.repeat(_gray(img)[..., None], 3, axis=-1)
            img = (img + alpha * (target - img)).astype(np.float32)
        out = dict(sample)
        out["image"] = img
        return out

    def __repr__(self) -> str:
        return f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation})"


class PCALighting:
    """AlexNet-style PCA lighting noise: ``img += eigvec @ (alpha * eigval)``, ``alpha ~ N(0, alphastd)``.

    Uses the ImageNet eigenvalues/eigenvectors of the WACV-2019 code, in [0, 1] RGB units. Image only.
    """

    def __init__(self, alphastd: float = 0.1) -> None:
        self.alphastd = float(alphastd)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if self.alphastd == 0:
            return dict(sample)
        img = _to_float_image(sample["image"])
        alpha = rng.normal(0.0, self.alphastd, size=3).astype(np.float32)
        rgb = (IMAGENET_PCA_EIGVEC * (alpha * IMAGENET_PCA_EIGVAL)[None, :]).sum(axis=1)
        out = dict(sample)
        out["image"] = (img + rgb[None, None, :]).astype(np.float32)
        return out

    def __repr__(self) -> str:
        return f"PCALighting({self.alphastd})"


class ToTensor:
    """Image -> normalised float32 tensor (3, H, W); depth keys -> float32 tensor (1, H, W), metres.

    A PIL image is scaled by 1/255 first; a float array is taken as already in [0, 1] units.
    ``_depth_keys`` is dropped from the output so the default collate sees only tensors and strings.
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        out = dict(sample)
        keys = depth_keys(sample)
        out.pop("_depth_keys", None)
        img = torch.from_numpy(np.ascontiguousarray(_to_float_image(sample["image"]).transpose(2, 0, 1)))
        out["image"] = normalise(img, self.mean, self.std)
        for key in keys:
            out[key] = torch.from_numpy(np.ascontiguousarray(sample[key], dtype=np.float32))[None]
        return out

    def __repr__(self) -> str:
        return f"ToTensor(mean={self.mean}, std={self.std})"


def train_transform(
    input_size: tuple[int, int] = REFERENCE_INPUT_SIZE,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Compose:
    """The WACV-2019 training recipe, scaled to ``input_size`` (H, W).

    Shorter side 240 (scaled, or more where the crop needs it), horizontal flip (p=0.5), rotation within +-5 degrees, centre crop
    ``input_size``, PCA lighting (0.1), colour jitter (brightness, contrast, saturation 0.4),
    ImageNet normalisation. Depth keys stay at ``input_size`` (the authors halved the target size;
    a loss that wants that resizes the prediction or the target itself).
    """
    h, w = input_size
    return Compose(
        [
            ResizeShorter(shorter_side_for(input_size), crop=input_size),
            RandomHorizontalFlip(0.5),
            RandomRotation(5.0),
            CenterCrop(h, w),
            PCALighting(0.1),
            ColorJitter(0.4, 0.4, 0.4),
            ToTensor(mean, std),
        ]
    )


def test_transform(
    input_size: tuple[int, int] = REFERENCE_INPUT_SIZE,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Compose:
    """The authors' test recipe: shorter side 240 (scaled, or more where the crop needs it), centre crop
    ``input_size``, normalise."""
    h, w = input_size
    return Compose(
        [ResizeShorter(shorter_side_for(input_size), crop=input_size), CenterCrop(h, w), ToTensor(mean, std)]
    )
