"""Depth videos: a clip in, its colourised depth (beside the input, or alone) out as an mp4.

One colour range is fixed for the whole clip (`clip_depth_range`: depth percentiles over frames
spread through it, or a range the caller gives), so a colour means the same metres in every
frame and nothing flickers. PyAV (``pip install 'litedepth[video]'``) decodes and encodes; it is
imported only when a video is read or written, so the rest of litedepth works without it.

>>> model = litedepth.load("student.safetensors")
>>> result = predict_video(model, "clip.mp4", "out/clip_depth.mp4")   # input | depth, H x 2W, same fps
>>> result.frames, result.vmin, result.vmax, result.frames_per_second

Cameras are in `litedepth.apps.camera_stream`, the writing pass both share in
`litedepth.apps.depth_video`, the option checks in `litedepth.apps.video_options`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..data.video_frames import VIDEO_EXTENSIONS, is_video
from ..errors import LitedepthError
from .camera_stream import camera_device, open_camera, parse_camera, predict_camera
from .depth_video import (
    RANGE_PERCENTILES,
    RANGE_SAMPLE,
    VideoResult,
    depth_percentiles,
    require_av,
    write_depth_video,
)
from .video_options import FRAME_KINDS, LAYOUTS, VideoStyle, check_smooth, check_video_style, parse_depth_range

# the camera and option names that callers of this module import from it
__all__ = [
    "FRAME_KINDS",
    "LAYOUTS",
    "VIDEO_EXTENSIONS",
    "VideoInfo",
    "VideoResult",
    "VideoStyle",
    "camera_device",
    "check_smooth",
    "clip_depth_range",
    "is_video",
    "open_camera",
    "parse_camera",
    "parse_depth_range",
    "predict_camera",
    "predict_video",
    "probe",
    "read_frames",
    "require_av",
]


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` found: the number of decodable frames, the frame rate and the frame size in pixels."""

    path: Path
    frames: int
    fps: Fraction
    width: int
    height: int


def probe(path: str | os.PathLike) -> VideoInfo:
    """Decode every frame of the video at ``path``, or raise a one-line `LitedepthError` naming it.

    A full decode, as `litedepth.inference.check_image` does for photos, so that a corrupt file
    stops a command before anything is written. Refused: no such file, not a video PyAV can
    read, no video stream, no frames, no frame rate, frames changing size.
    """
    av = require_av()
    path = Path(path)
    if not path.is_file():
        raise LitedepthError(f"{path}: no such file")
    frames, sizes = 0, set()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise LitedepthError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = stream.average_rate or stream.guessed_rate or stream.base_rate
            for frame in container.decode(stream):
                frames += 1
                sizes.add((frame.width, frame.height))
    except LitedepthError:
        raise
    except Exception as exc:  # PyAV raises FFmpegError subclasses, and others for odd files
        detail = " ".join(str(exc).split())
        raise LitedepthError(
            f"{path}: not a readable video ({exc.__class__.__name__}{': ' + detail if detail else ''})"
        ) from None
    if frames == 0:
        raise LitedepthError(f"{path}: not a readable video (no frames decoded)")
    if not fps:
        raise LitedepthError(f"{path}: the video has no frame rate")
    if len(sizes) > 1:
        raise LitedepthError(
            f"{path}: frames change size ({', '.join(f'{w}x{h}' for w, h in sorted(sizes))}); not supported"
        )
    ((width, height),) = sizes
    return VideoInfo(path, frames, Fraction(fps), width, height)


def read_frames(path: str | os.PathLike) -> Iterator:
    """The frames of the video at ``path`` as RGB PIL images, in order (decoded one at a time)."""
    av = require_av()
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_image()


def clip_depth_range(
    model,
    path: str | os.PathLike,
    frames: int,
    batch_size: int = 4,
    sample: int = RANGE_SAMPLE,
    percentiles: Sequence[float] = RANGE_PERCENTILES,
    adjust: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[float, float]:
    """One colour range ``(vmin, vmax)`` in metres for the whole clip of ``frames`` frames.

    Predicts ``sample`` frames spread evenly through the clip (all of them if it is shorter) and
    returns the ``percentiles`` of their depths pooled together (``adjust``: applied to each depth
    map first, e.g. rescaling to the user's camera).
    """
    picks = set(np.linspace(0, frames - 1, min(sample, frames)).round().astype(int).tolist())
    chosen = [image for i, image in enumerate(read_frames(path)) if i in picks]
    return depth_percentiles(model, chosen, batch_size, adjust, percentiles)


def predict_video(
    model,
    path: str | os.PathLike,
    target: str | os.PathLike,
    style: VideoStyle | None = None,
    *,
    info: VideoInfo | None = None,
    **options,
) -> VideoResult:
    """Predict depth for every frame of the video at ``path`` and write the depth video ``target`` (mp4).

    ``style`` (`VideoStyle`, default: side-by-side, batches of 4, magma_r); ``options``: any of its
    fields, replacing the style's (``layout="depth"``, ``smooth=0.5``, ...). Colours span the style's
    ``depth_range`` metres, or `clip_depth_range` (a first pass) when None; the same for every
    frame. The frame rate is the input's. Per-frame files (``save`` into ``frames_dir``):
    ``000000.png`` 16-bit millimetres, ``000000.npy`` float32 metres, the depth shown in the video
    (smoothed if asked). ``info``: `probe`'s result, if the caller has it already. ``seconds`` of
    the result times the pass that writes the video (decoding, prediction, colouring and encoding).
    """
    style = check_video_style(replace(style or VideoStyle(), **options))
    info = info or probe(path)
    vmin, vmax = (
        style.depth_range
        if style.depth_range is not None
        else clip_depth_range(model, path, info.frames, style.batch_size, adjust=style.adjust)
    )
    return write_depth_video(
        model,
        read_frames(path),
        target,
        info.fps,
        info.width,
        info.height,
        vmin,
        vmax,
        total=info.frames,
        desc=Path(path).name,
        style=style,
    )
