"""The training data of a run: its sources opened, mixed into one dataset, transformed and sampled.

>>> trainset = build_training_set(cfg, teacher)      # a TrainingSet of every source in cfg.data.sources

Randomness contract (what makes ``--resume`` exact): the data order of epoch ``e`` is a
permutation drawn from ``(seed, e)``; the augmentation of item ``i`` of source ``k`` uses
``np.random.default_rng([seed, k, e, i])``. So a run that is stopped and resumed sees exactly the
batches an uninterrupted run sees.

Two pipelines (``augment.pipeline``): ``tensor`` (the default) reads each source from its
decode-once sample store (`litedepth.data.store`) and leaves the augmentation to the training
device (`litedepth.data.batch_augment`: items are windows around the crop with their random
draws, `prepare_batch` turns a collated batch into the training batch); ``pil`` decodes and
augments every item with PIL in the loader (`build_transform`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..config import Config, SourceConfig
from ..data.base import unwrap_subset
from ..data.batch_augment import AugmentRecipe, BatchAugment, cut_window, draw_params, no_params
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
from .sample_stores import open_stores

logger = logging.getLogger(__name__)


def shorter_side(cfg: Config) -> int:
    return int(cfg.augment.shorter_side or shorter_side_for(cfg.model.input_size))


def resize(cfg: Config) -> ResizeShorter:
    """The run's first step, on both pipelines, in precise BatchNorm and the teacher cache: the shorter
    side to `shorter_side`, or more where a portrait, small or elongated image needs it to hold the
    crop (`litedepth.preprocess.resize_for_crop`)."""
    return ResizeShorter(shorter_side(cfg), crop=cfg.model.input_size)


def teacher_declared(cfg: Config) -> dict:
    """The teacher's conventions as the config declares them (`load_teacher`'s keyword arguments)."""
    d = cfg.distill
    return {
        "input": d.teacher_input,
        "output": d.teacher_output,
        "shorter_side": d.teacher_shorter_side,
        "multiple": d.teacher_multiple,
    }


def build_transform(cfg: Config, mean, std) -> Compose:
    """The training transform: the WACV-2019 recipe (`litedepth.data.train_transform`) with the
    strengths from ``cfg.augment``; with ``augment.enabled: false`` the test transform."""
    h, w = cfg.model.input_size
    a = cfg.augment
    if not a.enabled:
        return clean_transform(cfg, mean, std)
    steps: list[Any] = [resize(cfg)]
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


def augment_recipe(cfg: Config) -> AugmentRecipe:
    """The tensor pipeline's recipe: ``cfg.augment``'s strengths (all 0 with ``augment.enabled: false``)."""
    a, size = cfg.augment, tuple(cfg.model.input_size)
    if not a.enabled:
        return AugmentRecipe(size, shorter_side(cfg), hflip=0.0, rotate=0.0, lighting=0.0, jitter=0.0)
    return AugmentRecipe(size, shorter_side(cfg), hflip=a.hflip, rotate=a.rotate, lighting=a.lighting, jitter=a.jitter)


def clean_transform(cfg: Config, mean, std) -> Compose:
    """The training images as inference sees them: resized (`resize`) and centre-cropped, no augmentation."""
    if cfg.augment.shorter_side is None:
        return test_transform(cfg.model.input_size, mean, std)
    return Compose([resize(cfg), CenterCrop(*cfg.model.input_size), ToTensor(mean, std)])


def open_source(src: SourceConfig, where: str, progress: bool = True):
    """Open one configured source as a raw (untransformed) dataset.

    ``kind: images``, or ``role: unlabeled`` with ``kind: auto`` on a folder or ``.txt`` list that is
    not a labeled layout (NYU CSVs, a CSV, a ``.mat``), reads images only (photos, and the frames of
    videos: one every ``frame_interval`` seconds, `litedepth.data.video_frames`); anything else opens the
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
        ds = UnlabeledImages(path, frame_interval=src.frame_interval, progress=progress)
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
    """The training sources as one dataset.

    Item ``(epoch, i)`` (what `EpochSampler` yields; a plain ``i`` means epoch 0). With the PIL
    pipeline (no ``stores``): the transformed sample ``{"image": (3, H, W), "depth": (1, H, W)
    metres or zeros, "target": (1, H, W) cached teacher prediction or zeros, "target_mask": (1, H, W),
    "has_depth": 0/1, "teach": 0/1, "cached": 0/1, "source": k}``. With the tensor pipeline
    (``stores``, one `SampleStore` per part, and a ``recipe``): the same flags, and in place of the
    images the window around the crop with the item's random draws (`cut_window`; its ``maps`` are
    depth, target and target mask), which `prepare_batch` augments on the device. With a ``cache``,
    sources that are taught get their cached teacher prediction as a target before any geometric
    step, so crops, flips and rotations move it with the image. The epoch travels with the index,
    so DataLoader workers that persist across epochs still draw each epoch's augmentation.
    """

    def __init__(self, parts: list[Part], transform, seed: int, cache=None, stores=None, augment=None) -> None:
        self.parts = parts
        self.transform = transform
        self.seed = int(seed)
        self.cache = cache
        self.stores, self.augment = stores, augment
        self.recipe = augment.recipe if augment is not None else None
        self.offsets = np.cumsum([0] + [len(p.dataset) for p in parts])

    def prepare(self, batch: dict, device) -> dict:
        """A collated batch of this set's items -> the training batch on ``device`` (`prepare_batch`)."""
        return prepare_batch(batch, self.augment, device) if self.augment is not None else batch

    def batch(self, items, device="cpu") -> dict:
        """``items`` (indices or ``(epoch, index)`` pairs) collated and prepared: what a training step takes."""
        return self.prepare(torch.utils.data.default_collate([self[i] for i in items]), device)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        k = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return k, index - int(self.offsets[k])

    def raw(self, k: int, j: int) -> dict:
        """Item ``j`` of part ``k`` as its dataset loads it (from the sample store when there is one:
        already resized, `resize`)."""
        if self.stores is not None:
            rgb, depth = self.stores[k].item(j)
            return {"image": Image.fromarray(np.array(rgb))} | ({} if depth is None else {"depth": np.array(depth)})
        ds, indices = unwrap_subset(self.parts[k].dataset)
        return ds.load(indices[j])

    def cache_ref(self, k: int, j: int) -> tuple[Any, int]:
        ds, indices = unwrap_subset(self.parts[k].dataset)
        return ds, int(indices[j])

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        epoch, index = item if isinstance(item, tuple) else (0, item)
        k, j = self.locate(index)
        part = self.parts[k]
        rng = np.random.default_rng([self.seed, k, epoch, j])
        cached = part.teach and self.cache is not None
        flags = {
            "teach": torch.tensor(float(part.teach)),
            "cached": torch.tensor(float(cached)),
            "source": k,
        }
        if self.stores is not None:
            return self._window(k, j, rng, cached) | flags
        sample = self.raw(k, j)
        if not part.use_labels:
            sample.pop("depth", None)
        if cached:
            sample["target"] = self.cache.get(*self.cache_ref(k, j))
            sample["target_mask"] = np.ones_like(sample["target"])
        sample["_depth_keys"] = [key for key in ("depth", "target", "target_mask") if key in sample]
        out = self.transform(sample, rng)
        zeros = torch.zeros((1,) + tuple(out["image"].shape[-2:]))
        return {
            "image": out["image"],
            "depth": out.get("depth", zeros),
            "target": out.get("target", zeros),
            "target_mask": out.get("target_mask", zeros),
            "has_depth": torch.tensor(float("depth" in out)),
        } | flags

    def _window(self, k: int, j: int, rng: np.random.Generator, cached: bool) -> dict:
        """The tensor pipeline's item: the window around the crop, its depth (and cached target), the draws."""
        rgb, depth = self.stores[k].item(j)
        has_depth = self.parts[k].use_labels and depth is not None
        maps = [depth if has_depth else np.zeros(rgb.shape[:2], np.float32)]
        if self.cache is not None and any(p.teach for p in self.parts):  # every item has the same maps
            maps.append(self.cache.get(*self.cache_ref(k, j)) if cached else np.zeros(rgb.shape[:2], np.float32))
        recipe = self.recipe
        augmented = recipe.hflip or recipe.rotate or recipe.lighting or recipe.jitter
        return cut_window(recipe, rgb, maps, draw_params(recipe, rng) if augmented else no_params()) | {
            "has_depth": torch.tensor(float(has_depth))
        }


def prepare_batch(batch: dict, augment: BatchAugment, device) -> dict:
    """A collated tensor-pipeline batch -> the training batch (`TrainingSet`'s PIL-pipeline keys) on ``device``.

    Image, depth, target and target mask are augmented on ``device``; the flags stay where they
    are (on the CPU: `litedepth.training.step` reads them without waiting for the device).
    """
    if "window" not in batch:
        return batch
    image, maps, inside = augment(batch, device)
    cached = batch["cached"].to(device, non_blocking=True).view(-1, 1, 1, 1)
    target = maps[:, 1:2] if maps.shape[1] > 1 else torch.zeros_like(inside)
    keys = ("has_depth", "teach", "cached", "source")
    return {"image": image, "depth": maps[:, :1], "target": target, "target_mask": inside * cached} | {
        k: batch[k] for k in keys
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
        parts.append(Part(open_source(src, f"data.sources.{i}", cfg.train.progress), use_labels, teach, src.path))
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
    a ``student``, ImageNet's, those of every shipped architecture); the teacher sees whole images at
    its own scale and normalises them itself (`TeacherCache`, `Teacher.depth`). Each process of a
    distributed run fills its share of the cache, then all wait for each other.
    """
    env = env or DistEnv()
    out = out or cfg.run_dir()
    parts = parts if parts is not None else open_parts(cfg, teacher)
    cache = None
    if teacher is not None and cfg.distill.cache:
        from .teacher_cache import TeacherCache

        cache = TeacherCache(
            cfg.distill.cache_dir or out / "teacher-cache",
            teacher,
            shorter_side(cfg),
            flip=cfg.distill.cache_flip,
            scales=cfg.distill.teacher_scales,
            fit_crop=cfg.model.input_size,
        )
        for k, part in enumerate(parts):
            if part.teach:
                _fill_cache(cache, part, k, cfg, env)
        barrier(env)
    mean, std = stats_of(student)
    if cfg.augment.pipeline == "pil":
        return TrainingSet(parts, build_transform(cfg, mean, std), cfg.train.seed, cache)
    stores = open_stores(cfg, [p.dataset for p in parts], shorter_side(cfg), env)
    augment = BatchAugment(augment_recipe(cfg), mean, std)
    return TrainingSet(parts, None, cfg.train.seed, cache, stores=stores, augment=augment)


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
