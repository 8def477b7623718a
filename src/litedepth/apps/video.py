"""Depth videos: a clip in, its colourised depth (beside the input, or alone) out as an mp4.

One colour range is fixed for the whole clip (`clip_depth_range`: depth percentiles over frames
spread through it, or a range the caller gives), so a colour means the same metres in every
frame and nothing flickers. PyAV (``pip install 'litedepth[video]'``) decodes and encodes; it is
imported only when a video is read or written, so the rest of litedepth works without it.

>>> model = litedepth.load("student.safetensors")
>>> result = predict_video(model, "clip.mp4", "out/clip_depth.mp4")   # input | depth, H x 2W, same fps
>>> result.frames, result.vmin, result.vmax, result.frames_per_second
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import LitedepthError, first_line

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")
LAYOUTS = ("side-by-side", "depth")  # input | colourised depth, or the colourised depth alone
FRAME_KINDS = ("png16", "npy")  # per-frame files: OUT/<stem>/000000.png (16-bit mm) / .npy (float32 metres)
RANGE_PERCENTILES = (2.0, 98.0)  # of depth pooled over the sampled frames -> the clip's colour range
RANGE_SAMPLE = 24  # frames, evenly spaced over the clip, predicted to fix the colour range
CODEC = "libx264"  # H.264 in yuv420p: plays everywhere; odd sizes are padded by one edge pixel
CRF = "18"  # x264 quality (lower is better; 18 is visually lossless for colour maps)
INSTALL_HINT = "pip install 'litedepth[video]'"


def require_av():
    """The ``av`` module (PyAV), or a one-line `LitedepthError` saying how to install it."""
    try:
        import av
    except ImportError:
        raise LitedepthError(f"video input needs PyAV, which is not installed: {INSTALL_HINT}") from None
    return av


def is_video(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a video, by its suffix (`VIDEO_EXTENSIONS`, any case)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


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


def read_frames(path: str | os.PathLike) -> Iterator:
    """The frames of the video at ``path`` as RGB PIL images, in order (decoded one at a time)."""
    av = require_av()
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_image()


def parse_depth_range(text: str | None) -> tuple[float, float] | None:
    """``--depth-range MIN,MAX`` in metres: None, or ``(MIN, MAX)`` with 0 <= MIN < MAX, finite; one line otherwise."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        lo, hi = (float(p) for p in parts) if len(parts) == 2 else (float("nan"), float("nan"))
    except ValueError:
        lo = hi = float("nan")
    if not (0 <= lo < hi < float("inf")):
        raise LitedepthError(f"--depth-range {text}: expected MIN,MAX in metres with 0 <= MIN < MAX (e.g. 0.5,6)")
    return lo, hi


def check_smooth(alpha: float | None) -> float | None:
    """``--smooth A``: None (off) or a weight in (0, 1]; one line otherwise."""
    if alpha is not None and not 0 < alpha <= 1:
        raise LitedepthError(f"--smooth {alpha}: expected a weight in (0, 1] for the newest frame (1 = no smoothing)")
    return alpha


def smooth_step(average: np.ndarray | None, depth: np.ndarray, alpha: float | None) -> np.ndarray:
    """One step of an exponential moving average over frames: ``alpha d_t + (1 - alpha) s_{t-1}``.

    The first frame (``average`` None) and ``alpha`` None (no smoothing) give ``depth`` as it is.
    """
    if alpha is None or average is None:
        return depth
    return (alpha * depth + (1 - alpha) * average).astype(np.float32)


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


def predict_video(
    model,
    path: str | os.PathLike,
    target: str | os.PathLike,
    *,
    layout: str = "side-by-side",
    batch_size: int = 4,
    depth_range: tuple[float, float] | None = None,
    smooth: float | None = None,
    cmap: str = "magma_r",
    frames_dir: str | os.PathLike | None = None,
    save: Sequence[str] = (),
    adjust: Callable[[np.ndarray], np.ndarray] | None = None,
    info: VideoInfo | None = None,
    progress: bool = True,
) -> VideoResult:
    """Predict depth for every frame of the video at ``path`` and write the depth video ``target`` (mp4).

    Frames go through `litedepth.inference.predict` in batches of ``batch_size``; ``adjust``
    (optional) maps each depth map, e.g. to the user's camera; ``smooth``: the `smooth_step` weight.
    ``layout``: `LAYOUTS`. Colours span ``depth_range`` metres, or `clip_depth_range` (a first
    pass) when None; the same for every frame. The frame rate is the input's. ``save``: kinds
    of `FRAME_KINDS` written per frame into ``frames_dir`` (``000000.png`` 16-bit millimetres,
    ``000000.npy`` float32 metres), the depth shown in the video (smoothed if asked).
    ``info``: `probe`'s result, if the caller has it already. ``seconds`` of the result times the
    pass that writes the video (decoding, prediction, colouring and encoding).
    """
    check_video_options(layout, batch_size, smooth, cmap, frames_dir, save)
    info = info or probe(path)
    vmin, vmax = (
        depth_range
        if depth_range is not None
        else clip_depth_range(model, path, info.frames, batch_size, adjust=adjust)
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
        layout=layout,
        batch_size=batch_size,
        smooth=smooth,
        cmap=cmap,
        frames_dir=frames_dir,
        save=save,
        adjust=adjust,
        progress=progress,
    )


def predict_camera(
    model,
    camera: int | CameraStream,
    target: str | os.PathLike,
    *,
    frames: int | None = None,
    layout: str = "side-by-side",
    batch_size: int = 1,
    depth_range: tuple[float, float] | None = None,
    smooth: float | None = None,
    cmap: str = "magma_r",
    frames_dir: str | os.PathLike | None = None,
    save: Sequence[str] = (),
    adjust: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: bool = True,
) -> VideoResult:
    """Depth video ``target`` of ``camera`` (a number for `open_camera`, or an opened stream): ``frames`` frames, or until Ctrl-C.

    As `predict_video`, but live: the colour range (unless ``depth_range`` is given) is fixed from
    the first `RANGE_SAMPLE` frames and kept for the rest, and the frame rate is the camera's.
    Ctrl-C ends the video after the frame at hand (`interrupt_flag`): what was recorded is kept.
    """

    check_video_options(layout, batch_size, smooth, cmap, frames_dir, save)
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
            depth_range = depth_range or depth_percentiles(model, first, batch_size, adjust)
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
                layout=layout,
                batch_size=batch_size,
                smooth=smooth,
                cmap=cmap,
                frames_dir=frames_dir,
                save=save,
                adjust=adjust,
                progress=progress,
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


def check_video_options(
    layout: str, batch_size: int, smooth: float | None, cmap: str, frames_dir, save: Sequence[str]
) -> None:
    """One line for a bad layout, batch size, smoothing weight, colour map or per-frame file kind."""
    from .visualize import check_cmap

    if layout not in LAYOUTS:
        raise LitedepthError(f"layout {layout!r}: choose from {', '.join(LAYOUTS)}")
    bad = [k for k in save if k not in FRAME_KINDS]
    if bad or (save and frames_dir is None):
        raise LitedepthError(
            f"per-frame files {', '.join(save)}: choose from {', '.join(FRAME_KINDS)} and give a folder"
        )
    check_cmap(cmap)
    check_smooth(smooth)
    if batch_size < 1:
        raise LitedepthError(f"batch size {batch_size}: must be at least 1")


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
    layout: str,
    batch_size: int,
    smooth: float | None,
    cmap: str,
    frames_dir,
    save: Sequence[str],
    adjust,
    progress: bool,
) -> VideoResult:
    """The writing pass of `predict_video` and `predict_camera`: ``images`` (RGB PIL, ``width`` x ``height``) -> ``target``."""
    from tqdm import tqdm

    from ..fileio import save_npy, write_png16_mm
    from ..inference import predict

    frames_dir = Path(frames_dir) if frames_dir is not None else None
    start = time.perf_counter()
    count = 0
    with (
        video_writer(target, fps, width * (2 if layout == "side-by-side" else 1), height) as write,
        tqdm(total=total, desc=desc, unit="frame", disable=not progress) as bar,
    ):
        average = None
        while batch := list(itertools.islice(images, batch_size)):
            for image, depth in zip(batch, predict(model, batch, batch_size=batch_size)):
                if adjust is not None:
                    depth = adjust(depth)
                depth = average = smooth_step(average, depth, smooth)
                write(depth_frame(image, depth, vmin, vmax, cmap, layout))
                if "png16" in save:
                    write_png16_mm(frames_dir / f"{count:06d}.png", depth)
                if "npy" in save:
                    save_npy(frames_dir / f"{count:06d}.npy", depth)
                count += 1
                bar.update(1)
    return VideoResult(Path(target), count, fps, vmin, vmax, time.perf_counter() - start)
