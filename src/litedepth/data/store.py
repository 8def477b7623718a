"""A decode-once sample store: a dataset's images and depth decoded once, at the training scale.

>>> store = open_store(NYUSeedDataset("nyu/", split="train"), shorter_side=240, root=cache / "samples")
>>> rgb, depth = store.item(0)      # (240, 320, 3) uint8, (240, 320) float32 metres (0 = invalid)

Training decodes every JPEG and PNG of its sources and resizes it, every epoch; at 480x640 that
is about 25 images/s per CPU core, less than a GPU trains on. The store does it once: item ``i``
is the dataset's ``load(i)`` after `litedepth.data.transforms.ResizeShorter` with the training
crop (PIL bilinear for the image, nearest for depth, exactly what the training transform starts
with: a portrait or small image is scaled up to hold the crop, `litedepth.preprocess.resize_for_crop`),
kept as

    rgb.u8         every image's uint8 RGB pixels, one after another
    depth.bin      every depth map (when the source has depth) in one exact encoding (`DEPTH_CODECS`)
    index.npz      each item's height, width and offset
    manifest.json  format, key, item count, depth encoding: written last

in a folder named by the key: the source's content (every file's path, size and modification
time), its class and settings, the scale and the crop. A changed source has another key, so it
is built again; the same source at the same scale and crop is shared by every run and seed. The files are memory
mapped, so DataLoader workers read them without copies. A store is built in a temporary folder
and renamed into place when complete: a build cut short leaves nothing that is ever opened.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LitedepthError
from .base import unwrap_subset
from .transforms import ResizeShorter

logger = logging.getLogger(__name__)

FORMAT = "litedepth-sample-store/1"


@dataclass(frozen=True)
class DepthCodec:
    """An exact depth encoding: ``decode(encode(d)) == d`` bit for bit, checked for every item.

    Integer codes are uint16 ``v`` read as ``v / divide * multiply`` in float32, the arithmetic of
    the readers (`litedepth.data.nyu.decode_nyu_depth`, `litedepth.data.base.read_depth_file`);
    ``divide`` None keeps float32 as it is.
    """

    name: str
    divide: float | None = None
    multiply: float = 1.0

    @property
    def dtype(self) -> str:
        return "float32" if self.divide is None else "uint16"

    def encode(self, depth: np.ndarray) -> np.ndarray:
        if self.divide is None:
            return np.asarray(depth, np.float32)
        return np.round(depth * np.float64(self.divide / self.multiply)).clip(0, 65535).astype(np.uint16)

    def decode(self, raw: np.ndarray) -> np.ndarray:
        if self.divide is None:
            return np.asarray(raw, np.float32)
        out = raw.astype(np.float32) / np.float32(self.divide)
        return out * np.float32(self.multiply) if self.multiply != 1.0 else out


# NYU's 8-bit train PNGs (v / 255 * 10), millimetre PNGs (v / 1000), TUM's (v / 5000); float32 otherwise.
DEPTH_CODECS = (
    DepthCodec("nyu8", 255.0, 10.0),
    DepthCodec("mm", 1000.0),
    DepthCodec("tum", 5000.0),
    DepthCodec("float32"),
)
CODECS = {c.name: c for c in DEPTH_CODECS}


class SampleStore:
    """An opened store (read-only, memory mapped lazily: safe to pass to DataLoader workers)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        manifest = json.loads((self.folder / "manifest.json").read_text())
        self.key, self.codec = manifest["key"], CODECS.get(manifest["depth"]) if manifest["depth"] else None
        index = np.load(self.folder / "index.npz")
        self.shapes, self.offsets = index["shapes"], index["offsets"]
        self._rgb = self._depth = None

    def __len__(self) -> int:
        return len(self.shapes)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_rgb": None, "_depth": None}  # each process maps the files itself

    @property
    def has_depth(self) -> bool:
        return self.codec is not None

    def item(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``(rgb (H, W, 3) uint8, depth (H, W) float32 metres or None)`` of item ``i``: views of the files."""
        if self._rgb is None:
            self._rgb = np.memmap(self.folder / "rgb.u8", np.uint8, mode="r")
            if self.codec is not None:
                self._depth = np.memmap(self.folder / "depth.bin", self.codec.dtype, mode="r")
        h, w = (int(v) for v in self.shapes[i])
        start = int(self.offsets[i])
        rgb = self._rgb[3 * start : 3 * (start + h * w)].reshape(h, w, 3)
        if self._depth is None:
            return rgb, None
        return rgb, self.codec.decode(self._depth[start : start + h * w].reshape(h, w))


def store_key(dataset, shorter_side: int, crop: tuple[int, int] | None = None) -> str:
    """The store's name for ``dataset`` at ``shorter_side`` and ``crop``: a hash of what its items are made from."""
    inner, indices = unwrap_subset(dataset)
    digest = hashlib.sha256()
    settings = {
        "format": FORMAT,
        "class": type(inner).__name__,
        "shorter_side": int(shorter_side),
        "crop": [int(v) for v in crop] if crop is not None else None,
        "split": getattr(inner, "split", None),
        "depth_scale": getattr(inner, "depth_scale", None),
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    seen: dict[str, str] = {}
    for i in indices:
        image, part = inner.image_file(i)
        for path in (image, inner.source(i)):
            if path not in seen:
                seen[path] = _stamp(path)
        digest.update(f"{image}|{part}|{seen[image]}|{inner.source(i)}|{seen[inner.source(i)]}\n".encode())
    return digest.hexdigest()[:24]


def _stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "-"  # not a file of its own (an item inside a container names the container as its image)
    return f"{st.st_size}:{st.st_mtime_ns}"


def open_store(
    dataset, shorter_side: int, root: str | os.PathLike, progress: bool = True, crop: tuple[int, int] | None = None
) -> SampleStore:
    """The store of ``dataset`` (a `SeededDataset`, or a ``Subset`` of one) at ``shorter_side`` under
    ``root``: the existing one, or built now (with a progress bar). ``crop = (H, W)``: every item is
    resized to hold it (`ResizeShorter`'s ``crop``); None: the shorter-side rule alone."""
    key = store_key(dataset, shorter_side, crop)
    folder = Path(root) / key
    if (folder / "manifest.json").is_file():
        return SampleStore(folder)
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LitedepthError(f"{root}: cannot create the sample store folder ({exc.strerror})") from None
    for codec in DEPTH_CODECS:
        try:
            return _build(dataset, ResizeShorter(shorter_side, crop=crop), folder, key, codec, progress)
        except _Inexact:
            continue
    raise AssertionError("the float32 depth codec is always exact")  # pragma: no cover


class _Inexact(Exception):
    """A depth map that this codec cannot hold exactly: build again with the next one."""


def _build(dataset, resize: ResizeShorter, folder: Path, key: str, codec: DepthCodec, progress: bool) -> SampleStore:
    from tqdm import tqdm

    inner, indices = unwrap_subset(dataset)
    work = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
    shapes, offsets, has_depth = np.zeros((len(indices), 2), np.int64), np.zeros(len(indices), np.int64), False
    try:
        with open(work / "rgb.u8", "wb") as rgb_file, open(work / "depth.bin", "wb") as depth_file:
            total = 0
            bar = tqdm(indices, desc=f"sample store {key[:8]}", unit="img", disable=not progress, file=sys.stderr)
            for n, i in enumerate(bar):
                sample = resize(inner.load(i), None)
                rgb = np.asarray(sample["image"].convert("RGB"), np.uint8)
                shapes[n], offsets[n] = rgb.shape[:2], total
                rgb_file.write(rgb.tobytes())
                if "depth" in sample:
                    has_depth = True
                    depth_file.write(_encode(sample["depth"], codec).tobytes())
                total += rgb.shape[0] * rgb.shape[1]
        np.savez(work / "index.npz", shapes=shapes, offsets=offsets)
        manifest = {"format": FORMAT, "key": key, "items": len(indices), "depth": codec.name if has_depth else None}
        (work / "manifest.json").write_text(json.dumps(manifest))
        try:
            os.replace(work, folder)
        except OSError:  # another process finished the same store first: theirs is as good
            if not (folder / "manifest.json").is_file():
                raise
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    logger.info("sample store: %d items, %r, in %s", len(indices), resize, folder)
    return SampleStore(folder)


def _encode(depth: np.ndarray, codec: DepthCodec) -> np.ndarray:
    raw = codec.encode(depth)
    if not np.array_equal(codec.decode(raw).view(np.uint32), np.asarray(depth, np.float32).view(np.uint32)):
        raise _Inexact(codec.name)
    return raw
