"""Frames of a video as training photos: one every ``interval`` seconds, near-duplicates skipped.

>>> video = sample_video("walk.mp4", interval=1.0)
>>> video.times, video.skipped          # [0.0, 1.0, 3.0, ...] seconds of the kept frames, 2
>>> video.image(0)                      # the frame at 0 s as an RGB PIL image, upright

The video is decoded once, in order (PyAV, ``pip install 'litedepth[video]'``, imported only when a
video is read). Frame ``k`` is the first frame at or after ``k * interval`` seconds from the start;
it is kept unless it is a near-duplicate of the last kept frame: the median absolute difference of
their 16x16 grey thumbnails (box-averaged, 0..1) below `DUPLICATE_THRESHOLD`. The median, not the
mean, so that people moving in front of a still camera do not make a new view: only a change of
most of the picture (the camera moved, the light changed) does. Measured on real frames encoded as
H.264, every frame sampled: a slowly panning camera watching children jump (SAM 2's bedroom, 50
frames 1/6 s apart) keeps 8 (6 of the 9 taken one a second), close views of one wall (instant-ngp's
fox, 50) keep 43, SfM views of a kitchen (25) all 25; the mean difference, at the threshold that
keeps 44 fox views, would keep 29 of the bedroom's 50.

Kept frames are held as JPEG bytes (quality 95: about 230 kB for a 1080p frame, 1/27 of its
pixels, so a 3-minute phone video at one frame a second holds about 40 MB), so a dataset of them
pickles to DataLoader workers without an open container and loads a frame as fast as a photo
(re-decoding by timestamp would seek and decode up to a keyframe interval for each); the frame's rotation
(the display matrix of phone videos) is applied, as EXIF orientation is for photos.
"""

from __future__ import annotations

import io
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import LitedepthError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")
INSTALL_HINT = "pip install 'litedepth[video]'"
FRAME_INTERVAL = 1.0  # seconds between sampled frames, unless a source says otherwise
THUMBNAIL = 16  # side of the grey thumbnail compared for near-duplicates
DUPLICATE_THRESHOLD = 0.02  # median |thumbnail difference| (0..1) under which a frame repeats the last kept one
JPEG_QUALITY = 95
TURNS = {
    1: Image.Transpose.ROTATE_90,
    2: Image.Transpose.ROTATE_180,
    3: Image.Transpose.ROTATE_270,
}  # counter-clockwise


def is_video(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a video, by its suffix (`VIDEO_EXTENSIONS`, any case)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def require_av():
    """The ``av`` module (PyAV), or a one-line `LitedepthError` saying how to install it."""
    try:
        import av
    except ImportError:
        raise LitedepthError(f"video input needs PyAV, which is not installed: {INSTALL_HINT}") from None
    return av


def thumbnail(image: Image.Image) -> np.ndarray:
    """``(16, 16)`` float32 grey thumbnail in 0..1, box-averaged: what near-duplicates are judged on."""
    grey = image.convert("L").resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BOX)
    return np.asarray(grey, np.float32) / 255.0


def near_duplicate(a: np.ndarray, b: np.ndarray, threshold: float = DUPLICATE_THRESHOLD) -> bool:
    """Whether thumbnails ``a`` and ``b`` show the same view: median absolute difference under ``threshold``."""
    return float(np.median(np.abs(a - b))) < threshold


@dataclass
class SampledVideo:
    """The kept frames of one video: their times (seconds from the first frame) and JPEG bytes."""

    path: Path
    times: list[float] = field(default_factory=list)
    jpegs: list[bytes] = field(default_factory=list)
    skipped: int = 0  # sampled frames left out as near-duplicates

    def image(self, k: int) -> Image.Image:
        """Kept frame ``k`` as an RGB PIL image."""
        with Image.open(io.BytesIO(self.jpegs[k])) as img:
            return img.convert("RGB")


def upright(frame) -> Image.Image:
    """A decoded PyAV frame as an RGB PIL image turned as a player shows it (its display rotation)."""
    image = frame.to_image()
    # FFmpeg's rotation: degrees counter-clockwise to turn the picture by for display (-90 for a portrait phone video)
    turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4
    return image.transpose(TURNS[turns]) if turns else image


def sample_video(
    path: str | os.PathLike,
    interval: float = FRAME_INTERVAL,
    threshold: float = DUPLICATE_THRESHOLD,
    progress: bool = True,
) -> SampledVideo:
    """Decode the video at ``path`` once and keep a frame every ``interval`` seconds (see the module).

    Raises a one-line `LitedepthError` naming the file when PyAV is missing, the file is not a
    readable video (corrupt, truncated before its first frame, no video stream) or has no frames.
    """
    path = Path(path)
    try:
        av = require_av()
    except LitedepthError as exc:
        raise LitedepthError(f"{path}: {exc}") from None
    from tqdm import tqdm

    out = SampledVideo(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise LitedepthError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or stream.guessed_rate or 30)
            with tqdm(
                total=stream.frames or None,
                desc=f"frames of {path.name}",
                unit="frame",
                disable=not progress,
                file=sys.stderr,
            ) as bar:
                _keep_frames(container.decode(stream), rate, interval, threshold, out, bar)
    except LitedepthError:
        raise
    except Exception as exc:  # PyAV's FFmpegError (its text repeats the path: strerror), others for odd files
        detail = " ".join(str(getattr(exc, "strerror", None) or exc).split())
        raise LitedepthError(
            f"{path}: not a readable video ({exc.__class__.__name__}{': ' + detail if detail else ''})"
        ) from None
    if not out.times:
        raise LitedepthError(f"{path}: not a readable video (no frames decoded)")
    return out


def _keep_frames(frames, rate: float, interval: float, threshold: float, out: SampledVideo, bar) -> None:
    """Fill ``out`` from the decoded ``frames``: the first at or after each multiple of ``interval``, unless a near-duplicate."""
    start, due, last = None, 0.0, None
    for n, frame in enumerate(frames):
        bar.update()
        t = frame.time if frame.time is not None else n / rate
        start = t if start is None else start
        t -= start
        if t < due - 1e-6:
            continue
        due = (math.floor(t / interval + 1e-6) + 1) * interval
        image = upright(frame)
        thumb = thumbnail(image)
        if last is not None and near_duplicate(thumb, last, threshold):
            out.skipped += 1
            continue
        last = thumb
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
        out.times.append(round(t, 6))
        out.jpegs.append(buffer.getvalue())
