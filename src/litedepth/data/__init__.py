"""Datasets and joint transforms.

Raw samples are dicts ``{"image": PIL RGB, "depth": (H, W) float32 metres (0 = invalid), "name": str}``
(no ``"depth"`` for unlabeled images); transforms are ``t(sample, rng) -> sample``.
`open_dataset` picks the right class from a path.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import LitedepthError
from .base import SeededDataset, unwrap_subset
from .nyu import NYULabeledMatDataset, NYUSeedDataset, nyu_csvs
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

NYU_SEED_LAYOUT = "the NYU-v2 seed layout (train 8-bit x10/255 m, test 16-bit mm)"


def check_depth_scale(depth_scale: float | str | None, name: str | None = None) -> float | None:
    """``depth_scale`` (a number or its text) as a float, or None; `LitedepthError` unless it is a finite positive number.

    ``name`` (e.g. ``--depth-scale``) is how the error names the value.
    """
    if depth_scale is None:
        return None
    try:
        value = float(depth_scale)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(depth_scale, bool) or not math.isfinite(value) or value <= 0:
        label = f"{name} {depth_scale}" if name else f"depth scale {depth_scale!r}"
        raise LitedepthError(f"{label}: expected a positive number (raw depth units per metre, e.g. 1000 for mm)")
    return value


def _fixed_scale(path: Path, what: str, depth_scale: float | None) -> None:
    if depth_scale is not None:
        raise LitedepthError(
            f"{path}: depth scale {depth_scale:g} does not apply to {what}, whose depth scale is fixed; leave out --depth-scale (depth_scale)"
        )


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
    * a CSV named ``nyu2_*.csv``, or a folder holding ``data/nyu2_*.csv`` or ``nyu2_*.csv`` (the
      seed's NYU layout) -> `NYUSeedDataset`; without the CSV of ``split`` it is refused, naming
      the CSVs there (never read as generic RGB-D, whose depth scale differs), unless
    * the folder holds ``nyu_depth_v2_labeled.mat`` -> `NYULabeledMatDataset`;
    * any other CSV or folder -> `RGBDDataset` (``depth_scale`` as there);
    * with ``labeled=False``: a folder (photos and videos), a video or a text list -> `UnlabeledImages`.

    ``depth_scale`` (raw depth units per metre) applies to `RGBDDataset` only: given for an NYU
    layout or a ``.mat`` file, whose scales are fixed, or not a positive number, it is refused.
    """
    path = Path(spec)
    if not path.exists():
        raise LitedepthError(f"{path}: no such file or folder")
    if not labeled:
        return UnlabeledImages(path, transform=transform, seed=seed)
    depth_scale = check_depth_scale(depth_scale)
    suffix = path.suffix.lower()
    if path.is_file() and suffix == ".mat":
        _fixed_scale(path, "the NYU-v2 labeled .mat file (metres)", depth_scale)
        return NYULabeledMatDataset(path, split=split, transform=transform, seed=seed)
    if path.is_file() and suffix == ".csv":
        if path.stem.lower().startswith("nyu2_"):
            _fixed_scale(path, NYU_SEED_LAYOUT, depth_scale)
            return NYUSeedDataset(path, split=split, transform=transform, seed=seed)
        return RGBDDataset(path, depth_scale=depth_scale, transform=transform, seed=seed)
    if path.is_dir():
        mat = path / "nyu_depth_v2_labeled.mat"
        seed_csvs = nyu_csvs(path)
        if any(p.name == f"nyu2_{split}.csv" for p in seed_csvs) or (seed_csvs and not mat.is_file()):
            # the seed's layout goes to its reader, which refuses a split that is not there: read as
            # generic RGB-D it would get another depth scale (8-bit train depth as millimetres)
            _fixed_scale(path, NYU_SEED_LAYOUT, depth_scale)
            return NYUSeedDataset(path, split=split, transform=transform, seed=seed)
        if mat.is_file():
            _fixed_scale(mat, "the NYU-v2 labeled .mat file (metres)", depth_scale)
            return NYULabeledMatDataset(mat, split=split, transform=transform, seed=seed)
        return RGBDDataset(path, depth_scale=depth_scale, transform=transform, seed=seed)
    raise LitedepthError(f"{path}: not a dataset (expected a folder, a .csv or a .mat file)")


__all__ = [
    "SeededDataset",
    "unwrap_subset",
    "NYUSeedDataset",
    "NYULabeledMatDataset",
    "RGBDDataset",
    "UnlabeledImages",
    "open_dataset",
    "check_depth_scale",
    "nyu_csvs",
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
