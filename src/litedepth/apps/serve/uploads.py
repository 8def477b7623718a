"""Reading an upload: an RGB photo, or one readable line that names no server path."""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import LitedepthError

NO_PHOTO = "no photo: upload, drop or paste one first"
NOT_AN_IMAGE = "not a readable image: upload a photo (JPEG, PNG, WebP, BMP or TIFF)"
_DEPTH_BITS = {"F": "32-bit float", "I": "16- or 32-bit integer"}  # other depth-like modes are 16-bit
_UPLOAD = "the uploaded file"  # what a message calls the upload, instead of its path on the server


def _header_mode(path: Path) -> str | None:
    """The PIL mode the file's header announces, or None when PIL cannot open it (not an image)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.mode
    except Image.DecompressionBombError:
        raise LitedepthError(
            "too many pixels: this image is larger than a photo can be here; upload a smaller one"
        ) from None
    except Exception:  # PIL raises many types for files that are not images
        return None


def without_path(message: str, path) -> str:
    """``message`` with the server's path of the upload replaced by "the uploaded file"."""
    for spelling in {str(path), os.path.realpath(path)}:
        message = message.replace(spelling, _UPLOAD)
    return message


def read_upload(photo):
    """The uploaded photo as an RGB PIL image, or a one-line `LitedepthError` that names no server path.

    ``photo``: a file path (what the demo's photo input hands over, undecoded) or a PIL image.
    A depth map (one 16-bit or float channel: `litedepth.fileio.DEPTH_LIKE_MODES`) and a file that
    is no image are refused with a message a visitor can act on; the path of the upload on the
    server means nothing to them and is not theirs to see.
    """
    from PIL import Image

    from ...fileio import DEPTH_LIKE_MODES, read_rgb, to_rgb

    if photo is None:
        raise LitedepthError(NO_PHOTO)
    if isinstance(photo, Image.Image):
        return to_rgb(photo, "the uploaded photo")
    mode = _header_mode(Path(photo))
    if mode is None:
        raise LitedepthError(NOT_AN_IMAGE)
    if mode in DEPTH_LIKE_MODES:
        raise LitedepthError(
            f"not a photo: looks like a {_DEPTH_BITS.get(mode, '16-bit')} depth map "
            f"(one channel, PIL mode {mode}); upload an RGB or grayscale photo"
        )
    try:
        return read_rgb(photo)
    except LitedepthError as exc:  # a damaged file or an unusual mode: read_rgb's words, without the path
        raise LitedepthError(without_path(str(exc), photo)) from None
