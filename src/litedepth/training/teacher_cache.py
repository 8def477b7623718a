"""Run a teacher once per training image and keep its prediction on disk.

The teacher sees the whole image, augmentation-free, at its own scale (`Teacher.depth`: its
input rule, its normalisation, optionally flip- and multi-scale-averaged); its prediction is
stored at the size the training transform's first step resizes the image to (`ResizeShorter`
with the training crop, before any flip, rotation or crop: a portrait or small image is scaled
up to hold the crop, as both training pipelines do). So it rides along with the image through
the geometric augmentation as one more depth-like key (``sample["target"]``, listed in
``sample["_depth_keys"]``). A teacher without a scale of its own (a file of any input size with
none declared) sees the image at that training size.

Layout: ``ROOT/<teacher key>/<item key>.npy``, one float16 ``(H, W)`` array per image, where
the teacher key hashes the teacher's identity, its input rule and conventions, the training
resize, flip and scales, and the item key hashes the image file's path, modification time and
size. An edited image or another teacher never reads a stale entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.transforms import ResizeShorter
from ..errors import LitedepthError
from ..fileio import atomic_path, save_npy
from .teacher_base import Teacher, resize

CACHE_VERSION = "3"


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
        teacher: the `Teacher` whose predictions are stored (`Teacher.depth` on the whole image).
        shorter_side: the training transform's resize (`ResizeShorter`): the size each target is stored at.
        flip: average with the prediction on the horizontally mirrored image.
        scales: average the predictions at these multiples of the teacher's own scale.
        fit_crop: the training crop ``(H, W)`` that resize makes room for (`ResizeShorter`'s ``crop``,
            `litedepth.preprocess.resize_for_crop`); None: the shorter-side rule alone.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        teacher: Teacher,
        shorter_side: int,
        flip: bool = False,
        scales: Sequence[float] = (1.0,),
        fit_crop: Sequence[int] | None = None,
    ) -> None:
        self.teacher = teacher
        self.resize = ResizeShorter(shorter_side, crop=fit_crop)
        self.flip = bool(flip)
        self.scales = tuple(float(v) for v in scales)
        spec = {
            "version": CACHE_VERSION,
            "teacher": teacher.identity,
            "conventions": _without_sources(teacher.describe()),  # input rule, normalisation, output
            "shorter_side": int(shorter_side),
            "flip": self.flip,
            "scales": list(self.scales),
        }
        if self.resize.crop is not None:  # keyed only when given: caches made without one keep their name
            spec["fit_crop"] = list(self.resize.crop)
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

    def teacher_input(self, sample: dict) -> tuple[torch.Tensor, tuple[int, int]]:
        """``((3, H, W) RGB in 0..1, (h, w))``: what the teacher sees of a raw sample (the whole image, not
        augmented; at the training size for a teacher without a scale of its own) and the target's size."""
        image = sample["image"].convert("RGB")
        w, h = self.resize.output_size(*image.size)
        if not self.teacher.has_scale and image.size != (w, h):
            image = image.resize((w, h), Image.BILINEAR)
        rgb = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return rgb, (h, w)

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
        pending: list[tuple[int, torch.Tensor, tuple[int, int]]] = []

        def flush() -> None:
            x = torch.stack([t for _, t, _ in pending])
            # the teacher's prediction at the image's own size, then resized to the training scale
            y = resize(self.teacher.depth(x, flip=self.flip, scales=self.scales), pending[0][2])
            for (i, _, _), pred in zip(pending, y.cpu().numpy()[:, 0]):
                save_npy(self.path(dataset, i), pred.astype(np.float16))
            pending.clear()

        for i in tqdm(todo, desc=desc, unit="img", disable=not progress, leave=False):
            x, size = self.teacher_input(dataset.load(i) if hasattr(dataset, "load") else dataset[i])
            if pending and (len(pending) >= batch_size or (pending[0][1].shape, pending[0][2]) != (x.shape, size)):
                flush()
            pending.append((i, x, size))
        if pending:
            flush()
        return len(todo)


def _without_sources(description: dict) -> dict:
    """A teacher's `Teacher.describe` without where its files lie (the content is in its identity)."""
    out = {k: v for k, v in description.items() if k != "source"}
    if "members" in out:
        out["members"] = [_without_sources(m) for m in out["members"]]
    return out
