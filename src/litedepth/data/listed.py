"""The files a dataset's CSV or image list names: inputs of a run, wherever they lie.

A CSV of ``rgb,depth`` pairs or a text list of images may name files outside the folder that
holds it (absolute paths, ``../``). The output guard (`litedepth.outputs.OutputGuard.add_listed`)
is given them so that no output is ever written over one of them.

>>> listed_files("data/nyu")  # {Path("data/nyu/data/nyu2_test.csv"): (["data/nyu2_test/00000_colors.png", ...], bases)}
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import LitedepthError
from .base import read_path_list
from .nyu import nyu_csvs, read_pair_csv

_NOT_LISTS = (".mat", ".h5", ".hdf5", ".npy", ".npz", ".safetensors", ".pt", ".pth", ".onnx", ".zip", ".tar")
_LIST_BYTES = 64 << 20  # a text list larger than this is no list of images


def listed_files(spec: str | os.PathLike | None) -> dict[Path, tuple[list[str], tuple[Path, ...]]]:
    """``{list file: (the names it holds, the folders that relative names are read against)}`` for ``spec``.

    A CSV names its rows' files, relative ones against both the CSV's folder and its parent (the
    two places the readers look, `NYUSeedDataset` and `RGBDDataset`); a folder names the files of
    its NYU seed CSVs (``data/nyu2_*.csv``); another text file is read as a list of images
    (`UnlabeledImages`). Files it cannot read as a list (a ``.mat``, a binary file) name nothing:
    their reader reports what is wrong with them. The names are kept as written, not turned into
    paths: a CSV of NYU-v2's 50,000 rows costs a fraction of a second.
    """
    if spec is None:
        return {}
    path = Path(spec)
    try:
        if path.is_dir():
            return {csv: _csv_names(csv) for csv in nyu_csvs(path)}
        if not path.is_file() or path.suffix.lower() in _NOT_LISTS:
            return {}
        if path.suffix.lower() == ".csv":
            return {path: _csv_names(path)}
        if path.stat().st_size <= _LIST_BYTES and _is_text(path):
            return {path: ([str(p) for p in read_path_list(path)], (path.parent,))}
    except (LitedepthError, OSError):
        pass
    return {}


def _csv_names(csv_path: Path) -> tuple[list[str], tuple[Path, ...]]:
    return [name for row in read_pair_csv(csv_path) for name in row], (csv_path.parent, csv_path.parent.parent)


def _is_text(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(8192)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a character cut at the end of the sample
    return b"\0" not in head
