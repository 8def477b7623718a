"""Atomic writes of outputs made of several files: a folder, or files written together.

>>> with atomic_folder("student_ncnn") as tmp:        # a temporary folder beside the target
...     (tmp / "model.ncnn.param").write_text(...)
>>> with atomic_files(["s.xml", "s.bin"]) as tmps:     # temporary paths, renamed when all are written
...     save(tmps[0], tmps[1])

An exception inside leaves the old output (or nothing) in place. A folder replaces an existing one
(the command's `litedepth.outputs.OutputGuard` decided that it may); files are renamed last-first, so
that the file a loader opens (``.xml``) appears only when its companions (``.bin``) are in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it becomes ``path`` (an old one is removed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "replaced")
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_files(paths: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Yield temporary paths (same names, in a temporary folder beside the first path); on success each is renamed
    onto its path, the first last."""
    paths = [Path(p) for p in paths]
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{paths[0].name}.", suffix=".tmp", dir=paths[0].parent))
    try:
        tmps = [tmp / p.name for p in paths]
        yield tmps
        for source, target in reversed(list(zip(tmps, paths))):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
