"""Live depth from a camera: ``camera:N`` opened through FFmpeg, its frames made into a depth video.

>>> result = predict_camera(model, 0, "camera0_depth.mp4", frames=300)   # or until Ctrl-C

Frames come from the FFmpeg of ``imageio-ffmpeg`` (the ``[video]`` extra), whose builds read
cameras (PyAV's wheels do not); the video is written as for files (`litedepth.apps.depth_video`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from ..errors import LitedepthError, first_line
from .depth_video import INSTALL_HINT, RANGE_SAMPLE, VideoResult, depth_percentiles, write_depth_video
from .video_options import VideoStyle, check_video_style

CAMERA_PREFIX = "camera:"  # camera:N on the command line: camera number N
# sys.platform -> (FFmpeg input format, device); FFmpeg from imageio-ffmpeg, whose builds read cameras (PyAV's wheels do not)
CAMERA_INPUTS = {"linux": ("v4l2", "/dev/video{index}"), "darwin": ("avfoundation", "{index}:none")}


def parse_camera(spec: str) -> int | None:
    """The camera number of ``camera:N``; None for anything else (a file, a folder, a glob); one line for ``camera:`` without a number."""
    if not str(spec).startswith(CAMERA_PREFIX):
        return None
    number = str(spec)[len(CAMERA_PREFIX) :]
    if not number.isdigit():
        raise LitedepthError(f"{spec}: expected camera:N with N the camera's number (camera:0 is the first camera)")
    return int(number)


@dataclass
class CameraStream:
    """A camera opened by `open_camera`: its frame size and rate, and its frames as RGB PIL images (endless)."""

    index: int
    device: str
    fps: Fraction
    width: int
    height: int
    frames: Iterator

    @property
    def name(self) -> str:
        return f"camera{self.index}"

    def close(self) -> None:
        self.frames.close()  # stops FFmpeg


def camera_device(index: int) -> tuple[str, str]:
    """FFmpeg's input format and device for camera number ``index``, or one line: no imageio-ffmpeg, no camera support here, no such camera."""
    import importlib.util

    if importlib.util.find_spec("imageio_ffmpeg") is None:
        raise LitedepthError(
            f"camera:{index}: reading a camera needs imageio-ffmpeg, which is not installed: {INSTALL_HINT}"
        )
    if sys.platform not in CAMERA_INPUTS:
        raise LitedepthError(
            f"camera:{index}: cameras are read on Linux and macOS only; record a video and predict the file"
        )
    fmt, device = CAMERA_INPUTS[sys.platform]
    device = device.format(index=index)
    if fmt == "v4l2" and not Path(device).exists():
        raise LitedepthError(f"camera:{index}: no such camera ({device} does not exist)")
    return fmt, device


def open_camera(index: int) -> CameraStream:
    """Camera number ``index`` (``/dev/videoN`` on Linux, AVFoundation's N on macOS), or one line saying why not.

    Frames come from FFmpeg (the ``imageio-ffmpeg`` package of the ``[video]`` extra) as RGB
    images, one at a time, for as long as they are read; `CameraStream.close` stops it.
    """
    import imageio_ffmpeg
    from PIL import Image

    fmt, device = camera_device(index)
    reader = imageio_ffmpeg.read_frames(device, input_params=["-f", fmt], pix_fmt="rgb24")
    try:
        meta = next(reader)
    except Exception as exc:  # FFmpeg could not open the device: the last line of its log says why
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[-1] if "=== stderr ===" in str(exc) else first_line(exc)
        raise LitedepthError(f"camera:{index}: cannot be read from {device} ({reason})") from None
    width, height = meta["size"]
    fps = Fraction(meta.get("fps") or 30).limit_denominator(1001)

    def frames():
        try:
            for raw in reader:
                yield Image.frombytes("RGB", (width, height), raw)
        finally:
            reader.close()

    return CameraStream(index, device, fps, width, height, frames())


def predict_camera(
    model,
    camera: int | CameraStream,
    target: str | os.PathLike,
    style: VideoStyle | None = None,
    *,
    frames: int | None = None,
    **options,
) -> VideoResult:
    """Depth video ``target`` of ``camera`` (a number for `open_camera`, or an opened stream): ``frames`` frames, or until Ctrl-C.

    As `predict_video` (``style`` default: batches of 1; ``options`` replace its fields), but live:
    the colour range (unless the style's ``depth_range`` is given) is fixed from the first
    `RANGE_SAMPLE` frames and kept for the rest, and the frame rate is the camera's. Ctrl-C ends
    the video after the frame at hand (`interrupt_flag`): what was recorded is kept.
    """

    style = check_video_style(replace(style or VideoStyle(batch_size=1), **options))
    if frames is not None and frames < 1:
        raise LitedepthError(f"--frames {frames}: must be at least 1")
    camera = open_camera(camera) if isinstance(camera, int) else camera
    try:
        with interrupt_flag() as stop:
            images = itertools.takewhile(lambda _: not stop.is_set(), camera.frames)
            images = images if frames is None else itertools.islice(images, frames)
            first = list(itertools.islice(images, RANGE_SAMPLE))
            if not first:
                raise LitedepthError(f"{camera.name}: stopped before a frame was read")
            depth_range = style.depth_range or depth_percentiles(model, first, style.batch_size, style.adjust)
            return write_depth_video(
                model,
                itertools.chain(first, images),
                target,
                camera.fps,
                camera.width,
                camera.height,
                *depth_range,
                total=frames,
                desc=camera.name,
                style=style,
            )
    finally:
        camera.close()


@contextlib.contextmanager
def interrupt_flag() -> Iterator[threading.Event]:
    """Within the block, Ctrl-C (SIGINT) sets the event instead of raising `KeyboardInterrupt`.

    Only the main thread can take signals; elsewhere the event is never set and Ctrl-C acts as usual.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
