"""File helpers shared by every command: atomic writes, image reading and a file's content identity."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
    except OSError as exc:  # a full disk while writing: the system's error, naming the file the user asked for
        if exc.errno is None or exc.filename not in (None, str(tmp)):
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


class _KeepWriteError:
    """A binary file's ``write`` and ``flush`` that remember what a failed write raised (an `OSError`, Ctrl-C)."""

    def __init__(self, file) -> None:
        self.file, self.error = file, None

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except BaseException as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.file.flush()


def torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save(obj)`` onto ``path`` atomically; a failed write is the system's `OSError` naming ``path``.

    torch turns a write that fails (a full disk) into a ``RuntimeError`` that names neither the
    file nor the cause; writing through a Python file object keeps the system's error (and a
    Ctrl-C during the write stays a `KeyboardInterrupt`).
    """
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        writer = _KeepWriteError(file)
        try:
            torch.save(obj, writer)
        except RuntimeError:
            if writer.error is None:
                raise
            raise writer.error from None


def file_identity(path: Path) -> str:
    """A short id of a file's content: SHA-1 of its bytes (teacher files change rarely, so hashing is cheap)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


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


BACKGROUND = (255, 255, 255)  # what transparent pixels become: white, the page behind a picture
DEPTH_LIKE_MODES = (
    "I;16",
    "I;16L",
    "I;16B",
    "I;16N",
    "I",
    "F",
)  # one channel, more than 8 bits: depth maps, not photos
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "PA")
_RGB_MODES = ("RGB", "RGBX", "L", "P", "CMYK", "YCbCr", "1")  # converted by PIL with their plain meaning
_MAYBE_DEPTH_SUFFIXES = (".png", ".tif", ".tiff", ".ppm")  # JPEG, BMP and WebP cannot hold a 16-bit channel


def read_rgb(path: str | os.PathLike, *, orient: bool = True) -> Image.Image:
    """Open an image file as an RGB PIL image, or raise a one-line `LitedepthError` naming it.

    ``orient``: apply the EXIF Orientation tag (`PIL.ImageOps.exif_transpose`), so that the image
    has the orientation a viewer shows (a portrait phone photo stored sideways comes out portrait,
    and depth predicted on it has its size). A malformed EXIF block is ignored, as viewers do.
    The pixels are made RGB by `to_rgb` (transparency onto white; 16-bit or float single-channel
    images, which are depth maps, refused).
    """
    path = Path(path)
    if not path.is_file():
        raise LitedepthError(f"{path}: no such file")
    try:
        with Image.open(path) as img:
            check_photo_mode(img.mode, path)  # from the header: a depth map is refused before decoding
            img.load()
            if orient:
                img = _upright(img)
            return to_rgb(img, path)
    except LitedepthError:
        raise
    except Exception as exc:  # PIL raises many types for bad files
        raise unreadable_image(path, exc) from None


def unreadable_image(path: str | os.PathLike, exc: Exception) -> LitedepthError:
    """The one-line error for a file PIL cannot decode: ``PATH: not a readable image (Type: detail)``."""
    detail = " ".join(str(exc).split())
    return LitedepthError(f"{path}: not a readable image ({exc.__class__.__name__}{': ' + detail if detail else ''})")


def _upright(img: Image.Image) -> Image.Image:
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # a malformed EXIF block: keep the pixels as stored
        return img


def check_photo_mode(mode: str, source: str | os.PathLike) -> None:
    """Refuse, with one line naming ``source`` and ``mode``, a PIL mode that `to_rgb` does not turn into a photo."""
    if mode in DEPTH_LIKE_MODES:
        bits = {"F": "32-bit float", "I": "16- or 32-bit integer"}.get(mode, "16-bit")
        raise LitedepthError(
            f"{source}: looks like a depth map or a 16-bit image, not a photo "
            f"(one {bits} channel, PIL mode {mode}); give RGB or 8-bit grayscale photos"
        )
    if mode not in _ALPHA_MODES + _RGB_MODES:
        raise LitedepthError(
            f"{source}: PIL mode {mode} is not supported for photos; "
            "give an RGB, RGBA, grayscale (8-bit), palette or CMYK image"
        )


def to_rgb(img: Image.Image, source: str | os.PathLike = "image") -> Image.Image:
    """``img`` as a new RGB image; ``source`` names it in errors.

    * RGB, RGBX, L (8-bit grayscale, replicated), P (palette), CMYK, YCbCr and 1 (bilevel: black
      and white) are converted by PIL: each has one plain RGB meaning.
    * Transparency (RGBA, LA, PA, RGBa, or a palette/grayscale/RGB image with a transparent
      colour) is composited onto white (`BACKGROUND`): a transparent pixel becomes
      ``(255, 255, 255)``, a half-transparent one is blended with white.
    * Single-channel 16-bit, 32-bit integer and float images (modes I;16, I, F), which are depth
      maps, not photos, and any other mode (La, LAB, HSV, ...) are refused with one line.
    """
    check_photo_mode(img.mode, source)
    if img.mode in _ALPHA_MODES or img.has_transparency_data:
        background = Image.new("RGBA", img.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")


def looks_like_depth_map(path: str | os.PathLike) -> bool:
    """Whether the file's header says one channel of more than 8 bits (`DEPTH_LIKE_MODES`): a depth map.

    Reads the header only. Files that cannot hold such a channel (JPEG, BMP, WebP, by suffix) and
    files PIL cannot open are not depth maps here (decoding reports the latter).
    """
    if Path(path).suffix.lower() not in _MAYBE_DEPTH_SUFFIXES:
        return False
    try:
        with Image.open(path) as img:
            return img.mode in DEPTH_LIKE_MODES
    except Exception:  # PIL raises many types for bad files
        return False


def write_png16_mm(path: str | os.PathLike, depth_m: np.ndarray) -> None:
    """Write an ``H x W`` depth map in metres as a 16-bit PNG in millimetres (NYU convention)."""
    mm = np.clip(np.round(np.asarray(depth_m, dtype=np.float64) * 1000.0), 0, 65535).astype(np.uint16)
    with atomic_path(path) as tmp:
        Image.fromarray(mm).save(tmp, format="PNG")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)
