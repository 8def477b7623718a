"""Depth videos written frame by frame: the colour range, smoothing over frames, the frames and the mp4.

Shared by video files (`litedepth.apps.video`) and cameras (`litedepth.apps.camera_stream`):
`write_depth_video` predicts, colours and encodes frames as they come, with one colour range for
the whole video (`depth_percentiles`) so that a colour means the same metres in every frame.
PyAV (``pip install 'litedepth[video]'``) encodes; it is imported only when a video is written.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..data.video_frames import INSTALL_HINT, require_av  # noqa: F401 (re-exported to the camera and video modules)
from .video_options import VideoStyle

RANGE_PERCENTILES = (2.0, 98.0)  # of depth pooled over the sampled frames -> the clip's colour range
RANGE_SAMPLE = 24  # frames, evenly spaced over the clip, predicted to fix the colour range
CODEC = "libx264"  # H.264 in yuv420p: plays everywhere; odd sizes are padded by one edge pixel
CRF = "18"  # x264 quality (lower is better; 18 is visually lossless for colour maps)


def smooth_step(average: np.ndarray | None, depth: np.ndarray, alpha: float | None) -> np.ndarray:
    """One step of an exponential moving average over frames: ``alpha d_t + (1 - alpha) s_{t-1}``.

    The first frame (``average`` None) and ``alpha`` None (no smoothing) give ``depth`` as it is.
    """
    if alpha is None or average is None:
        return depth
    return (alpha * depth + (1 - alpha) * average).astype(np.float32)


def depth_percentiles(
    model,
    images: list,
    batch_size: int = 4,
    adjust: Callable[[np.ndarray], np.ndarray] | None = None,
    percentiles: Sequence[float] = RANGE_PERCENTILES,
) -> tuple[float, float]:
    """The ``percentiles`` of the depths predicted for ``images``, pooled (after ``adjust``): a colour range in metres."""
    from ..inference import predict

    depths = predict(model, images, batch_size=batch_size)
    if adjust is not None:
        depths = [adjust(d) for d in depths]
    values = np.concatenate([d.ravel() for d in depths]) if depths else np.zeros(0)
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = np.percentile(values, percentiles)
    return float(lo), float(hi)


def depth_frame(
    image, depth: np.ndarray, vmin: float, vmax: float, cmap: str = "magma_r", layout: str = "side-by-side"
) -> np.ndarray:
    """One output frame, ``H x W x 3`` uint8: the colourised depth (fixed ``vmin``..``vmax`` metres), after the input for side-by-side."""
    from .visualize import colorize

    color = colorize(depth, vmin, vmax, cmap)
    if layout == "depth":
        return color
    return np.concatenate([np.asarray(image.convert("RGB")), color], axis=1)


@contextlib.contextmanager
def video_writer(
    path: str | os.PathLike, fps: Fraction, width: int, height: int
) -> Iterator[Callable[[np.ndarray], None]]:
    """Yield ``write(rgb)`` for ``height x width x 3`` uint8 frames of an H.264 mp4 at ``fps``.

    Written to a temporary file renamed onto ``path`` when the block ends without an error
    (`litedepth.fileio.atomic_path`): a failure leaves no half-written video. Odd sizes are
    padded to even ones (yuv420p needs them) by repeating the last row or column.
    """
    from ..fileio import atomic_path

    av = require_av()
    even_w, even_h = width + width % 2, height + height % 2
    with atomic_path(path) as tmp:
        container = av.open(str(tmp), mode="w", format="mp4")
        try:
            stream = container.add_stream(CODEC, rate=fps, options={"crf": CRF})
            stream.width, stream.height, stream.pix_fmt = even_w, even_h, "yuv420p"

            def write(rgb: np.ndarray) -> None:
                if rgb.shape != (height, width, 3):
                    raise ValueError(f"frame of shape {rgb.shape}, expected {(height, width, 3)}")
                if (even_w, even_h) != (width, height):
                    rgb = np.pad(rgb, ((0, even_h - height), (0, even_w - width), (0, 0)), mode="edge")
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                    container.mux(packet)

            yield write
            for packet in stream.encode():  # flush the encoder
                container.mux(packet)
        finally:
            container.close()


@dataclass(frozen=True)
class VideoResult:
    """What `predict_video` wrote: the video, its frame count and rate, the colour range and the speed."""

    path: Path
    frames: int
    fps: Fraction
    vmin: float
    vmax: float
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def write_depth_video(
    model,
    images: Iterator,
    target: str | os.PathLike,
    fps: Fraction,
    width: int,
    height: int,
    vmin: float,
    vmax: float,
    *,
    total: int | None,
    desc: str,
    style: VideoStyle,
) -> VideoResult:
    """The writing pass of `predict_video` and `predict_camera`: ``images`` (RGB PIL, ``width`` x ``height``) -> ``target``."""
    from tqdm import tqdm

    from ..fileio import save_npy, write_png16_mm
    from ..inference import predict

    frames_dir, save = style.frames_dir, style.save
    start = time.perf_counter()
    count = 0
    with (
        video_writer(target, fps, width * (2 if style.layout == "side-by-side" else 1), height) as write,
        tqdm(total=total, desc=desc, unit="frame", disable=not style.progress) as bar,
    ):
        average = None
        while batch := list(itertools.islice(images, style.batch_size)):
            for image, depth in zip(batch, predict(model, batch, batch_size=style.batch_size)):
                if style.adjust is not None:
                    depth = style.adjust(depth)
                depth = average = smooth_step(average, depth, style.smooth)
                write(depth_frame(image, depth, vmin, vmax, style.cmap, style.layout))
                if "png16" in save:
                    write_png16_mm(frames_dir / f"{count:06d}.png", depth)
                if "npy" in save:
                    save_npy(frames_dir / f"{count:06d}.npy", depth)
                count += 1
                bar.update(1)
    return VideoResult(Path(target), count, fps, vmin, vmax, time.perf_counter() - start)
