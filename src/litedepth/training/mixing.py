"""The training data of a run: its sources opened, mixed into one dataset, transformed and sampled.

>>> trainset = build_training_set(cfg, teacher)      # a TrainingSet of every source in cfg.data.sources

Randomness contract (what makes ``--resume`` exact): the data order of epoch ``e`` is a
permutation drawn from ``(seed, e)``; the augmentation of item ``i`` of source ``k`` uses
``np.random.default_rng([seed, k, e, i])``. So a run that is stopped and resumed sees exactly the
batches an uninterrupted run sees.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Config, SourceConfig
from ..data.transforms import (
    CenterCrop,
    ColorJitter,
    Compose,
    PCALighting,
    RandomHorizontalFlip,
    RandomRotation,
    ResizeShorter,
    ToTensor,
    shorter_side_for,
    test_transform,
)
from ..errors import LitedepthError
from ..preprocess import stats_of
from .distributed import DistEnv, barrier

logger = logging.getLogger(__name__)


def shorter_side(cfg: Config) -> int:
    return int(cfg.augment.shorter_side or shorter_side_for(cfg.model.input_size))


def build_transform(cfg: Config, mean, std) -> Compose:
    """The training transform: the WACV-2019 recipe (`litedepth.data.train_transform`) with the
    strengths from ``cfg.augment``; with ``augment.enabled: false`` the test transform."""
    h, w = cfg.model.input_size
    a = cfg.augment
    if not a.enabled:
        return clean_transform(cfg, mean, std)
    steps: list[Any] = [ResizeShorter(shorter_side(cfg))]
    if a.hflip > 0:
        steps.append(RandomHorizontalFlip(a.hflip))
    if a.rotate > 0:
        steps.append(RandomRotation(a.rotate))
    steps.append(CenterCrop(h, w))
    if a.lighting > 0:
        steps.append(PCALighting(a.lighting))
    if a.jitter > 0:
        steps.append(ColorJitter(a.jitter, a.jitter, a.jitter))
    steps.append(ToTensor(mean, std))
    return Compose(steps)


def clean_transform(cfg: Config, mean, std) -> Compose:
    """The training images as inference sees them: resized (shorter side) and centre-cropped, no augmentation."""
    if cfg.augment.shorter_side is None:
        return test_transform(cfg.model.input_size, mean, std)
    return Compose([ResizeShorter(shorter_side(cfg)), CenterCrop(*cfg.model.input_size), ToTensor(mean, std)])


def open_source(src: SourceConfig, where: str):
    """Open one configured source as a raw (untransformed) dataset.

    ``kind: images``, or ``role: unlabeled`` with ``kind: auto`` on a folder or ``.txt`` list that is
    not a labeled layout (NYU CSVs, a CSV, a ``.mat``), reads images only; anything else opens the
    labeled layout (its depth is dropped later when it is not used). For an unlabeled RGB-D folder
    whose depth files sit beside the images, say ``kind: rgbd``.
    """
    from ..data import NYULabeledMatDataset, NYUSeedDataset, RGBDDataset, UnlabeledImages, open_dataset

    path = Path(src.path)
    if not path.exists():
        raise LitedepthError(f"{path}: no such file or folder ({where})")
    labeled_layout = (
        path.suffix.lower() in (".csv", ".mat")
        or (path / "data" / f"nyu2_{src.split}.csv").is_file()
        or (path / f"nyu2_{src.split}.csv").is_file()
        or (path / "nyu_depth_v2_labeled.mat").is_file()
    )
    if src.kind == "images" or (src.role == "unlabeled" and src.kind == "auto" and not labeled_layout):
        ds = UnlabeledImages(path)
    elif src.kind == "nyu":
        ds = NYUSeedDataset(path, split=src.split)
    elif src.kind == "rgbd":
        ds = RGBDDataset(path, depth_scale=src.depth_scale)
    elif src.kind == "mat":
        ds = NYULabeledMatDataset(path, split=src.split)
    else:
        ds = open_dataset(path, split=src.split, depth_scale=src.depth_scale)
    if src.limit is not None:
        ds = torch.utils.data.Subset(ds, range(min(int(src.limit), len(ds))))
    if len(ds) == 0:
        raise LitedepthError(f"{path}: no items ({where})")
    return ds


@dataclass
class Part:
    """One source in the mix: its raw dataset and what its items are trained on."""

    dataset: Any
    use_labels: bool  # loss to the ground truth
    teach: bool  # loss to the teacher's prediction
    name: str


class TrainingSet(torch.utils.data.Dataset):
    """The training sources as one dataset of transformed samples.

    Item ``(epoch, i)`` (what `EpochSampler` yields; a plain ``i`` means epoch 0) -> ``{"image": (3, H, W), "depth": (1, H, W) metres or zeros, "target": (1, H, W)
    cached teacher prediction or zeros, "target_mask": (1, H, W), "has_depth": 0/1, "teach": 0/1,
    "cached": 0/1, "source": k}``. With a ``cache``, sources that are taught get their cached
    teacher prediction under ``"target"`` before the transform, so crops, flips and rotations
    move it with the image. The epoch travels with the index, so DataLoader workers that persist
    across epochs still draw each epoch's augmentation.
    """

    def __init__(self, parts: list[Part], transform, seed: int, cache=None) -> None:
        self.parts = parts
        self.transform = transform
        self.seed = int(seed)
        self.cache = cache
        self.offsets = np.cumsum([0] + [len(p.dataset) for p in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        k = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return k, index - int(self.offsets[k])

    def raw(self, k: int, j: int) -> dict:
        ds = self.parts[k].dataset
        if isinstance(ds, torch.utils.data.Subset):
            return ds.dataset.load(ds.indices[j])
        return ds.load(j)

    def cache_ref(self, k: int, j: int) -> tuple[Any, int]:
        ds = self.parts[k].dataset
        if isinstance(ds, torch.utils.data.Subset):
            return ds.dataset, int(ds.indices[j])
        return ds, j

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        epoch, index = item if isinstance(item, tuple) else (0, item)
        k, j = self.locate(index)
        part = self.parts[k]
        sample = self.raw(k, j)
        if not part.use_labels:
            sample.pop("depth", None)
        cached = part.teach and self.cache is not None
        if cached:
            target = self.cache.get(*self.cache_ref(k, j))
            sample["target"] = target
            sample["target_mask"] = np.ones_like(target)
        sample["_depth_keys"] = [key for key in ("depth", "target", "target_mask") if key in sample]
        out = self.transform(sample, np.random.default_rng([self.seed, k, epoch, j]))
        zeros = torch.zeros((1,) + tuple(out["image"].shape[-2:]))
        return {
            "image": out["image"],
            "depth": out.get("depth", zeros),
            "target": out.get("target", zeros),
            "target_mask": out.get("target_mask", zeros),
            "has_depth": torch.tensor(float("depth" in out)),
            "teach": torch.tensor(float(part.teach)),
            "cached": torch.tensor(float(cached)),
            "source": k,
        }


class EpochSampler(torch.utils.data.Sampler):
    """``(e, index)`` pairs: the shuffled indices of epoch ``e`` from ``(seed, e)``, split over ``world_size`` processes.

    Splits like `torch.utils.data.DistributedSampler` (pad to a multiple of the world size,
    take every ``world_size``-th index); yields this process's indices from ``start`` (resuming
    mid-epoch) up to ``stop`` (an epoch cut short by a step budget).
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1, shuffle: bool = True) -> None:
        self.n, self.seed, self.rank, self.world_size, self.shuffle = n, int(seed), rank, world_size, shuffle
        self.epoch, self.start, self.stop = 0, 0, None

    def set_epoch(self, epoch: int, start: int = 0, stop: int | None = None) -> None:
        self.epoch, self.start, self.stop = int(epoch), int(start), stop

    def indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        total = math.ceil(self.n / self.world_size) * self.world_size
        order += order[: total - self.n]
        return order[self.rank : total : self.world_size]

    def __iter__(self):
        return ((self.epoch, i) for i in self.indices()[self.start : self.stop])

    def __len__(self) -> int:
        per_rank = math.ceil(self.n / self.world_size)
        return max(0, min(per_rank, per_rank if self.stop is None else self.stop) - self.start)


def open_parts(cfg: Config, teacher=None) -> list[Part]:
    """The configured sources, opened (and so checked), with the targets each is trained on."""
    parts = []
    for i, src in enumerate(cfg.data.sources):
        use_labels = src.role == "labeled" and src.use_labels
        teach = teacher is not None and (not use_labels or cfg.distill.teach_labeled)
        if not use_labels and teacher is None:
            raise LitedepthError(
                f"data.sources.{i} ({src.path}): used without labels, so it needs a teacher (litedepth distill --teacher ...)"
            )
        parts.append(Part(open_source(src, f"data.sources.{i}"), use_labels, teach, src.path))
    if cfg.data.val:
        from ..data import open_dataset

        try:
            open_dataset(cfg.data.val, split=cfg.data.val_split)
        except LitedepthError as exc:
            reason = str(exc).split("; use --split")[0]
            raise LitedepthError(
                f"data.val: {reason}; write that split (e.g. litedepth synth --split {cfg.data.val_split}) "
                "or --set data.val=null"
            ) from None
    return parts


def build_training_set(
    cfg: Config,
    teacher=None,
    env: DistEnv | None = None,
    out: Path | None = None,
    student=None,
    parts: list[Part] | None = None,
) -> TrainingSet:
    """The configured sources as one `TrainingSet`, with the teacher's cache filled when distilling.

    Images are normalised with the student's statistics (``student.mean``/``student.std``; without
    a ``student``, ImageNet's, those of every shipped architecture), the teacher's cached inputs
    with the teacher's own (`TeacherCache`). Each process of a distributed run fills its share of
    the cache, then all wait for each other.
    """
    env = env or DistEnv()
    out = out or cfg.run_dir()
    parts = parts if parts is not None else open_parts(cfg, teacher)
    cache = None
    if teacher is not None and cfg.distill.cache:
        from .teacher_cache import TeacherCache

        cache = TeacherCache(
            cfg.distill.cache_dir or out / "teacher-cache", teacher, shorter_side(cfg), flip=cfg.distill.cache_flip
        )
        for k, part in enumerate(parts):
            if part.teach:
                _fill_cache(cache, part, k, cfg, env)
        barrier(env)
    return TrainingSet(parts, build_transform(cfg, *stats_of(student)), cfg.train.seed, cache)


def _fill_cache(cache, part: Part, k: int, cfg: Config, env: DistEnv) -> None:
    """This process's share of the teacher's predictions for source ``k``."""
    ds, idx = part.dataset, range(len(part.dataset))
    if isinstance(ds, torch.utils.data.Subset):
        ds, idx = ds.dataset, ds.indices
    n = cache.fill(
        ds,
        list(idx)[env.rank :: env.world_size],
        progress=cfg.train.progress and env.is_main,
        desc=f"teacher cache {k}",
    )
    if n and env.is_main:
        logger.info("teacher cache: %d predictions for %s", n, part.name)
