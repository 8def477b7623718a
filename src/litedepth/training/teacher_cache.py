"""Run a teacher once per training image and keep its prediction on disk.

The teacher sees the image augmentation-free, resized as the training transform's first step
does (`ResizeShorter`, before any flip, rotation or crop). The stored map has exactly that
size, so it can ride along with the image through the geometric augmentation as one more
depth-like key (``sample["target"]``, listed in ``sample["_depth_keys"]``).

A teacher with a fixed input size (a litedepth network) sees the resized image as crops of
that size, tiling the image and averaged where they overlap: the crops it was trained on give
better targets than the whole image at a size it never saw. ``flip=True`` also averages each
crop's prediction with that of its mirror image.

Layout: ``ROOT/<teacher key>/<item key>.npy``, one float16 ``(H, W)`` array per image, where
the teacher key hashes the teacher's identity and the resize, and the item key hashes the
image file's path, modification time and size. An edited image or another teacher never
reads a stale entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..data.transforms import ResizeShorter, ToTensor
from ..errors import LitedepthError
from ..fileio import atomic_path, save_npy
from ..preprocess import stats_of
from .teachers import Teacher

CACHE_VERSION = "2"


def item_key(dataset, index: int) -> str:
    path, extra = dataset.image_file(index)
    p = Path(path)
    st = p.stat() if p.is_file() else None
    stamp = f"{st.st_mtime_ns}:{st.st_size}" if st else "missing"
    return hashlib.sha1(f"{p.resolve() if st else p}|{extra}|{stamp}".encode()).hexdigest()


class TeacherCache:
    """Teacher predictions for the images of datasets, stored as float16 ``.npy`` files.

    Args:
        root: cache folder (shared by runs; entries are keyed, never overwritten with other content).
        teacher: the `Teacher` whose predictions are stored.
        shorter_side: the training transform's resize (`ResizeShorter`) applied before the teacher.
        mean, std: the normalisation of the teacher's input; default: the teacher's own
            (``teacher.mean``/``teacher.std``; ImageNet's for a teacher without them).
        crop_size: ``(H, W)`` of the crops the teacher sees; default: the teacher's ``input_size``
            where it has one, else the whole image.
        flip: average with the prediction on the horizontally mirrored crop.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        teacher: Teacher,
        shorter_side: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        crop_size: Sequence[int] | None = None,
        flip: bool = False,
    ) -> None:
        self.teacher = teacher
        own_mean, own_std = stats_of(teacher)
        mean = own_mean if mean is None else tuple(mean)
        std = own_std if std is None else tuple(std)
        self.resize = ResizeShorter(shorter_side)
        self.to_tensor = ToTensor(mean, std)
        crop = crop_size or getattr(teacher, "input_size", None)
        self.crop_size = tuple(int(v) for v in crop) if crop else None
        self.flip = bool(flip)
        spec = {
            "version": CACHE_VERSION,
            "teacher": teacher.identity,
            "shorter_side": int(shorter_side),
            "mean": list(mean),
            "std": list(std),
            "crop_size": list(self.crop_size) if self.crop_size else None,
            "flip": self.flip,
        }
        self.dir = Path(root) / hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        self.spec = {**spec, "teacher_info": teacher.describe()}

    def __getstate__(self) -> dict:
        # DataLoader workers (spawned on some systems) only read entries: leave the teacher behind
        # (an ONNX Runtime session cannot be pickled)
        return {**self.__dict__, "teacher": None}

    def path(self, dataset, index: int) -> Path:
        return self.dir / f"{item_key(dataset, index)}.npy"

    def get(self, dataset, index: int) -> np.ndarray:
        """The cached ``(H, W)`` float32 target of item ``index`` (computing it if missing)."""
        path = self.path(dataset, index)
        if not path.is_file():
            if self.teacher is None:
                raise LitedepthError(f"{dataset.image_file(index)[0]}: no cached teacher prediction in {self.dir}")
            self.fill(dataset, [index], progress=False)
        return np.load(path).astype(np.float32)

    def teacher_input(self, sample: dict) -> torch.Tensor:
        """The teacher's ``(3, H, W)`` input for a raw sample: resized, normalised, not augmented."""
        s = self.resize({"image": sample["image"], "_depth_keys": []}, None)
        return self.to_tensor(s)["image"]

    def fill(
        self,
        dataset,
        indices: Iterable[int] | None = None,
        batch_size: int = 8,
        progress: bool = True,
        desc: str = "teacher cache",
    ) -> int:
        """Compute and store the missing entries among ``indices`` (all items by default); return how many."""
        from tqdm import tqdm

        indices = range(len(dataset)) if indices is None else indices
        todo = [i for i in indices if not self.path(dataset, i).is_file()]
        if not todo:
            return 0
        self.dir.mkdir(parents=True, exist_ok=True)
        spec_path = self.dir / "teacher.json"
        if not spec_path.is_file():
            with atomic_path(spec_path) as tmp:
                tmp.write_text(json.dumps(self.spec, indent=1))
        pending: list[tuple[int, torch.Tensor]] = []

        def flush() -> None:
            x = torch.stack([t for _, t in pending])
            with torch.no_grad():
                y = self.predict(x).numpy()[:, 0]
            for (i, _), pred in zip(pending, y):
                save_npy(self.path(dataset, i), pred.astype(np.float16))
            pending.clear()

        for i in tqdm(todo, desc=desc, unit="img", disable=not progress, leave=False):
            x = self.teacher_input(dataset.load(i) if hasattr(dataset, "load") else dataset[i])
            if pending and (len(pending) >= batch_size or pending[0][1].shape != x.shape):
                flush()
            pending.append((i, x))
        if pending:
            flush()
        return len(todo)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's ``(B, 1, H, W)`` prediction for ``(B, 3, H, W)``: crops tiled and averaged, optionally flipped."""
        height, width = x.shape[-2:]
        crop_h, crop_w = self.crop_size or (height, width)
        total = torch.zeros(x.shape[0], 1, height, width)
        count = torch.zeros(1, 1, height, width)
        for top in tile_starts(height, crop_h):
            for left in tile_starts(width, crop_w):
                window = (..., slice(top, top + crop_h), slice(left, left + crop_w))
                crop = x[window]
                pred = self.teacher.predict_tensor(crop).float().cpu()
                if self.flip:
                    pred = (pred + self.teacher.predict_tensor(crop.flip(-1)).float().cpu().flip(-1)) / 2
                total[window] += pred
                count[window] += 1
        return total / count


def tile_starts(length: int, window: int) -> list[int]:
    """Start offsets of the fewest windows of ``window`` pixels that cover ``length``, spread evenly.

    ``tile_starts(101, 96) == [0, 5]``; a window at least as long as ``length`` gives ``[0]`` (the whole axis).
    """
    if window >= length:
        return [0]
    n = -(-length // window)  # at least 2, as window < length
    return [round(i * (length - window) / (n - 1)) for i in range(n)]
