"""Datasets and joint transforms.

Raw samples are dicts ``{"image": PIL RGB, "depth": (H, W) float32 metres (0 = invalid), "name": str}``
(no ``"depth"`` for unlabeled images); transforms are ``t(sample, rng) -> sample``.
`open_dataset` picks the right class from a path.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import LitedepthError
from .base import SeededDataset
from .nyu import NYULabeledMatDataset, NYUSeedDataset
from .rgbd import RGBDDataset
from .transforms import (
    CenterCrop,
    ColorJitter,
    Compose,
    PCALighting,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotation,
    ResizeShorter,
    ToTensor,
    test_transform,
    train_transform,
)
from .unlabeled import UnlabeledImages


def open_dataset(
    spec: str | os.PathLike,
    split: str = "test",
    transform=None,
    seed: int = 0,
    labeled: bool = True,
    depth_scale: float | None = None,
) -> SeededDataset:
    """Open a dataset from a path, choosing the class from what is there.

    * ``*.mat`` -> `NYULabeledMatDataset` (``splits.mat`` beside it; ``split`` = test/train/all);
    * a folder with ``data/nyu2_{split}.csv``, or a CSV named ``nyu2_*.csv`` -> `NYUSeedDataset`;
    * any other CSV or folder -> `RGBDDataset` (``depth_scale`` as there);
    * with ``labeled=False``: a folder or a text list of images -> `UnlabeledImages`.
    """
    path = Path(spec)
    if not path.exists():
        raise LitedepthError(f"{path}: no such file or folder")
    if not labeled:
        return UnlabeledImages(path, transform=transform, seed=seed)
    suffix = path.suffix.lower()
    if path.is_file() and suffix == ".mat":
        return NYULabeledMatDataset(path, split=split, transform=transform, seed=seed)
    if path.is_file() and suffix == ".csv":
        if path.stem.lower().startswith("nyu2_"):
            return NYUSeedDataset(path, split=split, transform=transform, seed=seed)
        return RGBDDataset(path, depth_scale=depth_scale, transform=transform, seed=seed)
    if path.is_dir():
        if (path / "data" / f"nyu2_{split}.csv").is_file() or (path / f"nyu2_{split}.csv").is_file():
            return NYUSeedDataset(path, split=split, transform=transform, seed=seed)
        mats = [p for p in (path / "nyu_depth_v2_labeled.mat",) if p.is_file()]
        if mats:
            return NYULabeledMatDataset(mats[0], split=split, transform=transform, seed=seed)
        return RGBDDataset(path, depth_scale=depth_scale, transform=transform, seed=seed)
    raise LitedepthError(f"{path}: not a dataset (expected a folder, a .csv or a .mat file)")


__all__ = [
    "SeededDataset",
    "NYUSeedDataset",
    "NYULabeledMatDataset",
    "RGBDDataset",
    "UnlabeledImages",
    "open_dataset",
    "Compose",
    "ResizeShorter",
    "CenterCrop",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomRotation",
    "ColorJitter",
    "PCALighting",
    "ToTensor",
    "train_transform",
    "test_transform",
]
