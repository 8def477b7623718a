"""What every litedepth dataset shares: seeded per-item randomness, depth-file readers and
`unwrap_subset`, which finds a dataset and its indices inside ``torch.utils.data.Subset`` wrappers."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import LitedepthError

Transform = Callable[[dict, np.random.Generator], dict]


class SeededDataset(torch.utils.data.Dataset):
    """Base class: ``__getitem__(i)`` = ``transform(load(i), rng)`` with a per-item generator.

    ``rng = np.random.default_rng([seed, 0, i])``, so augmentation depends only on the seed and the
    index, never on worker processes or iteration order. (Training draws a new augmentation every
    epoch from the raw samples itself: `litedepth.training.mixing`.) Subclasses implement
    ``__len__``, ``load(i) -> raw sample`` and ``source(i) -> str`` (the file to name in error
    messages).
    """

    def __init__(self, transform: Transform | None = None, seed: int = 0) -> None:
        self.transform = transform
        self.seed = int(seed)

    def load(self, index: int) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def source(self, index: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def image_file(self, index: int) -> tuple[str, str]:  # pragma: no cover - abstract
        """``(file, sub-key)`` of item ``index``'s RGB image, e.g. for caches keyed by file;
        the sub-key tells apart images kept in one container file (``""`` otherwise)."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        sample = self.load(index)
        if self.transform is not None:
            rng = np.random.default_rng([self.seed, 0, index])
            sample = self.transform(sample, rng)
        return sample


def unwrap_subset(dataset: Any) -> tuple[Any, Sequence[int]]:
    """``(inner dataset, indices)``: the dataset inside ``torch.utils.data.Subset`` wrappers (nested
    ones too) and, for each item ``i`` of ``dataset``, its index ``indices[i]`` in the inner one.

    A dataset that is not a ``Subset`` comes back as it is, with ``range(len(dataset))``.

    >>> inner, indices = unwrap_subset(Subset(nyu, [3, 5]))     # (nyu, [3, 5])
    >>> inner.load(indices[1])                                   # nyu's raw item 5
    """
    indices: Sequence[int] | None = None
    while isinstance(dataset, torch.utils.data.Subset):
        indices = dataset.indices if indices is None else [dataset.indices[i] for i in indices]
        dataset = dataset.dataset
    return dataset, (range(len(dataset)) if indices is None else indices)


def read_depth_image(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a single-channel depth PNG (or PGM/TIFF) as its raw integer values.

    Returns ``(values, bits)`` with ``values`` an (H, W) array (uint8 or uint16 range) and
    ``bits`` 8 or 16. Raises `LitedepthError` naming the file for anything else.
    """
    path = Path(path)
    if not path.is_file():
        raise LitedepthError(f"{path}: no such file")
    try:
        with Image.open(path) as img:
            mode = img.mode
            arr = np.array(img)
    except Exception as exc:
        raise LitedepthError(f"{path}: not a readable depth image ({exc.__class__.__name__}: {exc})") from None
    if arr.ndim != 2:
        raise LitedepthError(f"{path}: depth image has mode {mode} with {arr.shape[-1]} channels, expected one channel")
    if arr.dtype == np.uint8:
        return arr, 8
    if mode.startswith("I;16") or arr.dtype == np.uint16:
        return arr.astype(np.uint16), 16
    if mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        return arr.astype(np.uint16), 16
    raise LitedepthError(f"{path}: depth image has mode {mode} ({arr.dtype}), expected an 8- or 16-bit PNG")


def read_depth_file(path: str | os.PathLike, scale: float | None) -> np.ndarray:
    """Read a depth file as float32 metres: ``value / scale``; non-finite and negative -> 0 (invalid).

    ``.npy``: a 2-D array (``scale`` None means 1 for float arrays, 1000 for integer ones).
    Images: 8/16-bit single channel (``scale`` None means 1000, i.e. millimetres).
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise LitedepthError(f"{path}: no such file")
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise LitedepthError(f"{path}: not a readable .npy file ({exc.__class__.__name__}: {exc})") from None
        arr = np.squeeze(arr)
        if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise LitedepthError(
                f"{path}: depth array has shape {arr.shape} and dtype {arr.dtype}, expected a 2-D numeric array"
            )
        if scale is None:
            scale = 1.0 if np.issubdtype(arr.dtype, np.floating) else 1000.0
        depth = arr.astype(np.float32) / np.float32(scale)
    else:
        arr, _ = read_depth_image(path)
        depth = arr.astype(np.float32) / np.float32(1000.0 if scale is None else scale)
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    return depth


def check_same_size(image: Image.Image, depth: np.ndarray, depth_path: str | os.PathLike) -> None:
    """Raise `LitedepthError` naming ``depth_path`` when the depth map and the image differ in size."""
    w, h = image.size
    if depth.shape != (h, w):
        raise LitedepthError(f"{depth_path}: depth is {depth.shape[1]}x{depth.shape[0]} (WxH), its image is {w}x{h}")


def read_path_list(path: Path) -> list[Path]:
    """Lines of a text file as paths (relative ones against the file's folder); '#' comments, blanks skipped."""
    out = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise LitedepthError(f"{path}: cannot read list of paths ({exc.__class__.__name__})") from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line)
        out.append(p if p.is_absolute() else path.parent / p)
    return out
