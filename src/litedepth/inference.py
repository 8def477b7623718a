"""Image in, metres out: preprocessing, batched prediction and resizing back.

Follows the pipeline shape of Hugging Face's depth-estimation pipeline:
preprocess (resize to the model's input size, normalise) -> forward -> postprocess
(resize the depth back to each image's own resolution).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import LitedepthError
from .fileio import IMAGE_EXTENSIONS, looks_like_depth_map, read_rgb, to_rgb, unreadable_image
from .preprocess import FITS, network_view, prepare_images, stats_of

logger = logging.getLogger(__name__)

preprocess = prepare_images  # the pipeline's first step: RGB PIL images -> (B, 3, H, W) at an input size, normalised

ImageLike = str | os.PathLike | Image.Image | np.ndarray


def to_pil(image: ImageLike) -> Image.Image:
    """A path, a PIL image or a uint8 array as a new RGB PIL image, or a one-line `LitedepthError`.

    * a path: decoded by `fileio.read_rgb`, in the orientation a viewer shows (EXIF applied);
    * a PIL image: taken as it is in memory, EXIF Orientation tag not applied (it may have been
      rotated already; use `PIL.ImageOps.exif_transpose` on an ``Image.open`` result, or pass the
      path);
    * an array: ``H x W`` (grayscale), ``H x W x 3`` (RGB) or ``H x W x 4`` (RGBA) uint8.

    Pixels become RGB as `fileio.to_rgb` says: transparency composited onto white, 16-bit and
    float single-channel images (depth maps) refused.
    """
    if isinstance(image, Image.Image):
        return to_rgb(image, f"PIL image input ({image.width}x{image.height})")
    if isinstance(image, np.ndarray):
        if (
            image.dtype != np.uint8
            or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4)))
            or 0 in image.shape
        ):
            raise LitedepthError(
                f"array input: expected uint8 H x W (grayscale), H x W x 3 (RGB) or H x W x 4 (RGBA), "
                f"got shape {image.shape} {image.dtype}"
            )
        return to_rgb(Image.fromarray(image), "array input")
    if isinstance(image, (str, os.PathLike)):
        if os.path.isdir(image):
            raise LitedepthError(
                f"{image}: a folder, not an image; predict takes an image or a list of images "
                f"(for a folder's photos: litedepth predict {image} --model MODEL --out OUT)"
            )
        return read_rgb(image)
    raise LitedepthError(f"unsupported image input of type {type(image).__name__}")


def postprocess(depth: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """``(1, H', W')`` metres -> ``size = (H, W)`` float32 array, bilinear (align_corners=True)."""
    out = F.interpolate(depth[None].float(), size=size, mode="bilinear", align_corners=True)
    return out[0, 0].cpu().numpy().astype(np.float32)


@torch.inference_mode()
def predict(
    model: torch.nn.Module, images, batch_size: int = 8, device: str | torch.device | None = None, fit: str = "auto"
):
    """Depth in metres for one image (returns ``H x W`` float32) or a list of images (returns a list).

    ``model`` maps normalised ``(B, 3, h, w)`` to ``(B, 1, h, w)`` metres and carries
    ``input_size``, ``mean`` and ``std`` (a `DepthNet` does). ``device``: where to run (a network
    is moved there); None keeps the model where it is. The aspect ratio is kept (`network_view`):
    ``fit="auto"`` runs the whole image at the scale the network was trained at when the model
    takes any input size (torch networks, dynamic ONNX exports), else letterboxes it into
    ``input_size``. Images whose views have the same size run in one batch.
    """
    if fit not in FITS:
        raise LitedepthError(f"fit {fit!r}: choose from {', '.join(FITS)}")
    if fit == "auto":
        fit = "whole" if isinstance(model, torch.nn.Module) or getattr(model, "dynamic", False) else "letterbox"
    single = not isinstance(images, (list, tuple))
    items = [images] if single else list(images)
    if device is not None and isinstance(model, torch.nn.Module):
        model.to(device)
    if device is None:
        device = model.device  # the DepthModel protocol (litedepth.checkpoint.DepthModel)
    mean, std = stats_of(model)  # checked: a std of 0 would make every depth NaN
    was_training = model.training
    model.eval()
    results: list[np.ndarray] = []
    for start in range(0, len(items), batch_size):
        pils = [to_pil(im) for im in items[start : start + batch_size]]
        views = [network_view(img, model.input_size, mean, std, fit) for img in pils]
        depths: list[torch.Tensor | None] = [None] * len(views)
        for shape in dict.fromkeys(tuple(x.shape) for x, _ in views):  # one forward pass per view size
            group = [i for i, (x, _) in enumerate(views) if tuple(x.shape) == shape]
            out = model(torch.cat([views[i][0] for i in group]).to(device))
            for i, d in zip(group, out):
                h, w = views[i][1]
                depths[i] = d[:, :h, :w]
        results += [postprocess(d, (img.height, img.width)) for d, img in zip(depths, pils)]
    model.train(was_training)
    return results[0] if single else results


def collect_images(inputs: Sequence[str], check: bool = True) -> list:
    """Expand files, folders (recursive) and glob patterns into ``(path, name)`` pairs, in input order.

    ``name`` is the image's place relative to its input, so that outputs can keep the inputs'
    folder structure (NYU has a ``0.jpg`` in every room folder): for a folder, the path relative
    to that folder (``room1/0.jpg``); for files and glob matches, the path relative to the folder
    that holds them all (their common parent). A file reached twice is listed once, under its
    first name.

    Depth maps found in folders (single-channel 16-bit or float images,
    `fileio.looks_like_depth_map`) are left out, with one warning (``note: skipped ...``) on this
    module's logger giving their number and an example; a depth map named as a file or matched by
    a glob is kept, and decoding refuses it with one line.

    ``check``: decode every image completely now (`check_image`), so that a bad or truncated file
    stops the command before any output is written.
    """
    found: dict[Path, tuple[Path, Path | None]] = {}  # resolved -> (path, name; None: a loose file)
    depth_maps: dict[Path, Path] = {}  # resolved -> path: depth maps left out of folders
    for item in inputs:
        for p, name in _expand(item, depth_maps):
            found.setdefault(p.resolve(), (p, name))
    skipped = [p for resolved, p in depth_maps.items() if resolved not in found]
    skip_note = (
        f"{len(skipped)} depth map(s) (single-channel 16-bit or float images) in the folders, e.g. {skipped[0]}"
        if skipped
        else ""
    )
    if not found:
        raise LitedepthError(f"{', '.join(inputs)}: no images found" + (f"; skipped {skip_note}" if skipped else ""))
    if skipped:
        logger.warning("note: skipped %s; predicting photos only", skip_note)
    loose = [os.path.abspath(p) for p, name in found.values() if name is None]
    common = os.path.commonpath([os.path.dirname(p) for p in loose]) if loose else None
    images = [
        (p, name if name is not None else Path(os.path.relpath(os.path.abspath(p), common)))
        for p, name in found.values()
    ]
    if check:
        for path, _ in images:
            check_image(path)
    return images


def _expand(item: str, depth_maps: dict[Path, Path]) -> list[tuple[Path, Path | None]]:
    """``(path, name)`` of the images one input names: a folder's images with their names in it, or
    a file or glob's matches with name None; depth maps found in a folder go to ``depth_maps``."""
    path = Path(item)
    if path.is_dir():
        entries = []
        for p in sorted(path.rglob("*")):
            if p.suffix.lower() not in IMAGE_EXTENSIONS or not p.is_file():
                continue
            if looks_like_depth_map(p):
                depth_maps.setdefault(p.resolve(), p)
            else:
                entries.append((p, p.relative_to(path)))
        return entries
    if path.is_file():
        return [(path, None)]
    if any(ch in item for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
        if not matches:
            raise LitedepthError(f"{item}: pattern matches no file")
        return [(p, None) for p in matches]
    raise LitedepthError(f"{item}: no such file or folder")


def check_image(path: str | os.PathLike) -> None:
    """Decode the image at ``path`` completely, as `to_pil` does, or raise a one-line `LitedepthError` naming it.

    A header check (``Image.verify``) passes a truncated JPEG; only a full decode finds it. What
    `fileio.read_rgb` refuses (a depth map, an unsupported mode) is refused here too.
    """
    try:
        with Image.open(path) as img:
            img.verify()
    except Exception as exc:  # PIL raises many types for bad files
        raise unreadable_image(path, exc) from None
    read_rgb(path)
