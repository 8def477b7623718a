"""NYU Depth v2 in its two common distributions.

* `NYUSeedDataset`: the seed's zip layout, ``data/nyu2_{train,test}.csv`` with rows ``rgb,depth``
  (paths relative to the folder holding ``data/``). Train depth is an 8-bit PNG scaled by 10/255
  to metres; test depth a 16-bit PNG in millimetres.
* `NYULabeledMatDataset`: the official ``nyu_depth_v2_labeled.mat`` (HDF5 / MATLAB v7.3, depths in
  metres) with ``splits.mat`` (1-based ``testNdxs`` = 654 images, ``trainNdxs`` = 795). It reads them
  with h5py and scipy, from the ``mat`` extra (``pip install 'litedepth[mat]'``).

Both give raw samples ``{"image": PIL RGB, "depth": (H, W) float32 metres, 0 = invalid, "name": str}``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import LitedepthError
from ..fileio import read_rgb
from .base import SeededDataset, Transform, check_same_size, read_depth_image

NYU_SPLITS = ("train", "test")
_DEPTH_BITS = {"train": 8, "test": 16}


def _import_mat_reader(name: str, path: str | os.PathLike):
    """The module ``name`` (``h5py`` or ``scipy.io``) of the ``mat`` extra, or a one-line `LitedepthError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise LitedepthError(
            f"{path}: reading NYU-v2 .mat files needs the '{(exc.name or name).split('.')[0]}' package: "
            "pip install 'litedepth[mat]'"
        ) from None


def decode_nyu_depth(raw: np.ndarray, bits: int) -> np.ndarray:
    """Metres from NYU PNG values, with the authors' float32 arithmetic: 8-bit ``v / 255 * 10``, 16-bit ``v / 1000``."""
    if bits == 8:
        return raw.astype(np.float32) / np.float32(255) * np.float32(10)
    return raw.astype(np.float32) / np.float32(1000)


def nyu_csvs(folder: str | os.PathLike) -> list[Path]:
    """The seed layout's CSVs in ``folder`` (``data/nyu2_*.csv``, then ``nyu2_*.csv``); empty when it is not that layout."""
    folder = Path(folder)
    return [p for pattern in ("data/nyu2_*.csv", "nyu2_*.csv") for p in sorted(folder.glob(pattern)) if p.is_file()]


def find_nyu_csv(root_or_csv: str | os.PathLike, split: str) -> Path:
    """The CSV of ``split`` under a seed root (``root/data/nyu2_{split}.csv``), or the CSV itself.

    A root without it is refused naming the CSVs it has, so that another split is never read by mistake.
    """
    path = Path(root_or_csv)
    if path.is_file():
        return path
    if split not in NYU_SPLITS:
        raise LitedepthError(f"{path}: unknown NYU split {split!r}; expected one of {', '.join(NYU_SPLITS)}")
    for candidate in (path / "data" / f"nyu2_{split}.csv", path / f"nyu2_{split}.csv"):
        if candidate.is_file():
            return candidate
    present = nyu_csvs(path)
    if present:
        have = ", ".join(p.relative_to(path).as_posix() for p in present)
        others = " or ".join(dict.fromkeys(p.stem[len("nyu2_") :] for p in present))
        raise LitedepthError(
            f"{path}: no nyu2_{split}.csv for split {split!r} in this NYU-v2 folder (it has {have}); use --split {others}"
        )
    raise LitedepthError(f"{path}: no data/nyu2_{split}.csv found (expected the seed's NYU-v2 layout)")


def read_pair_csv(csv_path: Path) -> list[tuple[str, str]]:
    """Rows ``rgb,depth`` of a header-less CSV (a header row naming rgb/depth columns is skipped)."""
    try:
        with open(csv_path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as exc:
        raise LitedepthError(f"{csv_path}: cannot read CSV ({exc.__class__.__name__})") from None
    if rows and rows[0][0].strip().lower() in ("rgb", "image", "color", "colour"):
        rows = rows[1:]
    pairs = []
    for n, row in enumerate(rows, 1):
        if len(row) < 2:
            raise LitedepthError(f"{csv_path}: row {n} has {len(row)} column(s), expected 'rgb,depth'")
        pairs.append((row[0].strip(), row[1].strip()))
    if not pairs:
        raise LitedepthError(f"{csv_path}: no rows")
    return pairs


class NYUSeedDataset(SeededDataset):
    """NYU-v2 from the seed's CSV layout.

    Args:
        root_or_csv: the folder holding ``data/`` or a CSV file. Relative paths in the CSV are tried
            against the CSV's grandparent (the seed's layout), then against its parent.
        split: ``"test"`` (16-bit mm PNG depth) or ``"train"`` (8-bit PNG depth x 10/255 m). For a
            CSV path, a name containing ``train``/``test`` decides the split.
        transform, seed: see `SeededDataset`.
    """

    def __init__(
        self, root_or_csv: str | os.PathLike, split: str = "test", transform: Transform | None = None, seed: int = 0
    ) -> None:
        super().__init__(transform, seed)
        self.csv_path = find_nyu_csv(root_or_csv, split)
        stem = self.csv_path.stem.lower()
        self.split = "train" if "train" in stem else "test" if "test" in stem else split
        if self.split not in NYU_SPLITS:
            raise LitedepthError(
                f"{self.csv_path}: unknown NYU split {split!r}; expected one of {', '.join(NYU_SPLITS)}"
            )
        self.pairs = read_pair_csv(self.csv_path)
        grand, parent = self.csv_path.parent.parent, self.csv_path.parent
        first = self.pairs[0][0]
        self.base = grand if (grand / first).exists() or not (parent / first).exists() else parent

    def __len__(self) -> int:
        return len(self.pairs)

    def source(self, index: int) -> str:
        return str(self.base / self.pairs[index][1])

    def image_file(self, index: int) -> tuple[str, str]:
        return str(self.base / self.pairs[index][0]), ""

    def load(self, index: int) -> dict:
        rgb_rel, depth_rel = self.pairs[index]
        depth_path = self.base / depth_rel
        image = read_rgb(self.base / rgb_rel, orient=False)  # depth is stored as captured: no EXIF turn
        raw, bits = read_depth_image(depth_path)
        expected = _DEPTH_BITS[self.split]
        if bits != expected:
            what = {8: "8-bit (NYU train format, x10/255 m)", 16: "16-bit (NYU test format, mm)"}
            raise LitedepthError(
                f"{depth_path}: depth image is {what[bits]}, expected {what[expected]} for the {self.split} split"
            )
        depth = decode_nyu_depth(raw, bits)
        check_same_size(image, depth, depth_path)
        return {"image": image, "depth": depth, "name": str(Path(rgb_rel).with_suffix("")).replace(os.sep, "/")}


def read_splits(splits_path: str | os.PathLike, split: str, n_images: int) -> np.ndarray:
    """0-based indices of ``split`` ("train"/"test") from an official ``splits.mat`` (1-based)."""
    scipy_io = _import_mat_reader("scipy.io", splits_path)
    key = {"train": "trainNdxs", "test": "testNdxs"}[split]
    try:
        mat = scipy_io.loadmat(str(splits_path))
    except Exception as exc:
        raise LitedepthError(f"{splits_path}: not a readable splits.mat ({exc.__class__.__name__}: {exc})") from None
    if key not in mat:
        raise LitedepthError(f"{splits_path}: no {key} array (expected the official NYU-v2 splits.mat)")
    idx = np.asarray(mat[key]).astype(np.int64).ravel() - 1
    if idx.size and (idx.min() < 0 or idx.max() >= n_images):
        raise LitedepthError(f"{splits_path}: {key} has indices outside 1..{n_images}")
    return idx


class NYULabeledMatDataset(SeededDataset):
    """The 1449 labeled NYU-v2 images from ``nyu_depth_v2_labeled.mat``, read lazily with h5py.

    MATLAB stores arrays transposed: ``images`` is (N, 3, W, H) uint8, ``depths`` (N, W, H) metres.
    The file is opened once per process (so DataLoader workers each get their own handle) and one
    image is read at a time.

    Args:
        mat_path: ``nyu_depth_v2_labeled.mat``.
        splits_path: ``splits.mat``; default: ``splits.mat`` beside ``mat_path`` (needed unless split="all").
        split: ``"test"`` (654), ``"train"`` (795) or ``"all"`` (1449).
    """

    def __init__(
        self,
        mat_path: str | os.PathLike,
        splits_path: str | os.PathLike | None = None,
        split: str = "test",
        transform: Transform | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(transform, seed)
        self.mat_path = Path(mat_path)
        self._h5 = None
        self._pid = None
        n = self._file()["depths"].shape[0]
        if split == "all":
            self.indices = np.arange(n)
        elif split in NYU_SPLITS:
            splits = Path(splits_path) if splits_path is not None else self.mat_path.parent / "splits.mat"
            if not splits.is_file():
                raise LitedepthError(f"{splits}: no such file (the official splits.mat is needed for split={split!r})")
            self.indices = read_splits(splits, split, n)
        else:
            raise LitedepthError(f"{self.mat_path}: unknown split {split!r}; expected train, test or all")
        self.split = split

    def _file(self):
        if self._h5 is None or self._pid != os.getpid():
            if not self.mat_path.is_file():
                raise LitedepthError(f"{self.mat_path}: no such file")
            h5py = _import_mat_reader("h5py", self.mat_path)
            try:
                self._h5 = h5py.File(self.mat_path, "r")
            except OSError as exc:
                raise LitedepthError(f"{self.mat_path}: not an HDF5 (MATLAB v7.3) file ({exc})") from None
            self._pid = os.getpid()
            for key in ("images", "depths"):
                if key not in self._h5:
                    raise LitedepthError(f"{self.mat_path}: no '{key}' array (expected nyu_depth_v2_labeled.mat)")
        return self._h5

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_h5"] = None  # h5py handles cannot cross process boundaries
        state["_pid"] = None
        return state

    def __len__(self) -> int:
        return len(self.indices)

    def source(self, index: int) -> str:
        return f"{self.mat_path}[image {int(self.indices[index]) + 1}]"

    def image_file(self, index: int) -> tuple[str, str]:
        return str(self.mat_path), str(int(self.indices[index]))

    def load(self, index: int) -> dict:
        k = int(self.indices[index])
        f = self._file()
        try:
            rgb = np.asarray(f["images"][k]).transpose(2, 1, 0)  # (3, W, H) -> (H, W, 3)
            depth = np.asarray(f["depths"][k], dtype=np.float32).T  # (W, H) -> (H, W)
        except Exception as exc:
            raise LitedepthError(f"{self.source(index)}: cannot read ({exc.__class__.__name__}: {exc})") from None
        if rgb.shape[2] != 3 or rgb.shape[:2] != depth.shape:
            raise LitedepthError(f"{self.source(index)}: image {rgb.shape} and depth {depth.shape} do not match")
        depth = np.ascontiguousarray(depth)
        depth[~np.isfinite(depth) | (depth < 0)] = 0.0
        image = Image.fromarray(np.ascontiguousarray(rgb.astype(np.uint8)))
        return {"image": image, "depth": depth, "name": f"{k + 1:04d}"}
