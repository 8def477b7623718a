"""Generic RGB-D pairs: a CSV of ``rgb,depth`` rows or a folder of matched files.

Folder layouts understood (stems are matched, extensions free):
* ``rgb/`` + ``depth/`` subfolders holding files with the same stems (``rgb/0001.jpg``, ``depth/0001.png``);
* one folder (searched recursively) where an image ``X.jpg`` / ``X_colors.png`` / ``X_rgb.png`` /
  ``X_color.png`` / ``X_image.png`` pairs with ``X_depth.png`` / ``X_depth.npy`` / ``X.npy``, or
  ``X.jpg`` with ``X.png`` when the PNG is the only other file of that stem.

Depth values are divided by ``depth_scale`` to give metres (1000: mm PNG, 5000: TUM, 1: float
``.npy`` in metres); ``None`` means 1000 for integer files and 1 for float ``.npy``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from ..errors import LitedepthError
from ..fileio import IMAGE_EXTENSIONS, read_rgb
from .base import SeededDataset, Transform, check_same_size, read_depth_file
from .nyu import read_pair_csv

_RGB_TAGS = ("_colors", "_color", "_rgb", "_image", "_img")
_DEPTH_TAGS = ("_depth",)
_DEPTH_EXTENSIONS = (".png", ".npy", ".tif", ".tiff", ".pgm")


def _strip_tag(stem: str, tags: tuple[str, ...]) -> tuple[str, bool]:
    low = stem.lower()
    for tag in tags:
        if low.endswith(tag):
            return stem[: -len(tag)], True
    return stem, False


def pair_folder(folder: Path) -> list[tuple[Path, Path]]:
    """Find (rgb, depth) pairs in ``folder`` (see the module docstring for the layouts)."""
    rgb_dir, depth_dir = folder / "rgb", folder / "depth"
    if rgb_dir.is_dir() and depth_dir.is_dir():
        depths = {
            p.relative_to(depth_dir).with_suffix(""): p
            for p in sorted(depth_dir.rglob("*"))
            if p.suffix.lower() in _DEPTH_EXTENSIONS
        }
        pairs = []
        for p in sorted(rgb_dir.rglob("*")):
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                d = depths.get(p.relative_to(rgb_dir).with_suffix(""))
                if d is not None:
                    pairs.append((p, d))
        return pairs

    groups: dict[Path, dict[str, list[Path]]] = defaultdict(lambda: {"rgb": [], "depth": [], "plain": []})
    for p in sorted(folder.rglob("*")):
        ext = p.suffix.lower()
        if not p.is_file() or (ext not in IMAGE_EXTENSIONS and ext != ".npy"):
            continue
        key, is_depth = _strip_tag(p.stem, _DEPTH_TAGS)
        if is_depth or ext == ".npy":
            groups[p.parent / key]["depth"].append(p)
            continue
        key, is_rgb = _strip_tag(p.stem, _RGB_TAGS)
        groups[p.parent / key]["rgb" if is_rgb else "plain"].append(p)
    pairs = []
    for key in sorted(groups):
        g = groups[key]
        rgb = g["rgb"] + g["plain"]
        if len(g["depth"]) == 1 and len(rgb) == 1:
            pairs.append((rgb[0], g["depth"][0]))
        elif not g["depth"] and not g["rgb"] and len(g["plain"]) == 2:
            pngs = [p for p in g["plain"] if p.suffix.lower() == ".png"]
            others = [p for p in g["plain"] if p.suffix.lower() != ".png"]
            if len(pngs) == 1 and len(others) == 1:
                pairs.append((others[0], pngs[0]))
    return pairs


class RGBDDataset(SeededDataset):
    """RGB images with metric depth maps.

    Args:
        source: a CSV file (``rgb,depth`` per row, relative paths against the CSV's folder) or a folder.
        depth_scale: stored value / depth_scale = metres; None: 1000 for integer data, 1 for float .npy.
        transform, seed: see `SeededDataset`.
    """

    def __init__(
        self,
        source: str | os.PathLike,
        depth_scale: float | None = None,
        transform: Transform | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(transform, seed)
        self.root = Path(source)
        self.depth_scale = depth_scale
        if self.root.is_file():
            base = self.root.parent
            rows = read_pair_csv(self.root)
            self.pairs = [(base / r, base / d) for r, d in rows]
            self.names = [str(Path(r).with_suffix("")).replace(os.sep, "/") for r, _ in rows]
        elif self.root.is_dir():
            self.pairs = pair_folder(self.root)
            if not self.pairs:
                raise LitedepthError(
                    f"{self.root}: no RGB-D pairs found (expected rgb/ + depth/, X.jpg + X.png, or X_colors.png + X_depth.png)"
                )
            self.names = [str(r.relative_to(self.root).with_suffix("")).replace(os.sep, "/") for r, _ in self.pairs]
        else:
            raise LitedepthError(f"{self.root}: no such file or folder")

    def __len__(self) -> int:
        return len(self.pairs)

    def source(self, index: int) -> str:
        return str(self.pairs[index][1])

    def image_file(self, index: int) -> tuple[str, str]:
        return str(self.pairs[index][0]), ""

    def load(self, index: int) -> dict:
        rgb_path, depth_path = self.pairs[index]
        image = read_rgb(rgb_path, orient=False)  # depth is stored as captured: no EXIF turn
        depth = read_depth_file(depth_path, self.depth_scale)
        check_same_size(image, depth, depth_path)
        return {"image": image, "depth": depth, "name": self.names[index]}
