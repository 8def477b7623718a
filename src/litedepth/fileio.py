"""File helpers shared by every command: atomic writes and image reading."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from .errors import LitedepthError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A crash, an exception or a kill leaves either the old file or nothing, never half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():  # mkstemp creates 0600; give the file the mode a plain open() would
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_output_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """Refuse, before anything is written, a folder that cannot be made or written to.

    One-line `LitedepthError` for an existing file, a path under a file (``some.jpg/x``) and a
    location without write permission. Returns ``path`` (nothing is created).
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise LitedepthError(f"{option} {path}: is a file, not a folder")
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise LitedepthError(f"{option} {path}: {existing} is a file, so no folder can be made under it")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise LitedepthError(f"{option} {path}: {existing} is not writable (permission denied or read-only)")
    except OSError as exc:  # e.g. a parent that cannot be searched
        raise LitedepthError(f"{option} {path}: {exc.strerror or exc}") from None
    return path


def read_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image file as an RGB PIL image, or raise a one-line `LitedepthError`."""
    path = Path(path)
    if not path.is_file():
        raise LitedepthError(f"{path}: no such file")
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except Exception as exc:  # PIL raises many types for bad files
        raise LitedepthError(f"{path}: not a readable image ({exc.__class__.__name__}: {exc})") from None


def write_png16_mm(path: str | os.PathLike, depth_m: np.ndarray) -> None:
    """Write an ``H x W`` depth map in metres as a 16-bit PNG in millimetres (NYU convention)."""
    mm = np.clip(np.round(np.asarray(depth_m, dtype=np.float64) * 1000.0), 0, 65535).astype(np.uint16)
    with atomic_path(path) as tmp:
        Image.fromarray(mm).save(tmp, format="PNG")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)
