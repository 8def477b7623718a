"""Images without depth: the auxiliary set a teacher labels for distillation."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import LitedepthError
from ..fileio import IMAGE_EXTENSIONS, looks_like_depth_map, read_rgb
from .base import SeededDataset, Transform, read_path_list
from .video_frames import FRAME_INTERVAL, SampledVideo, is_video, sample_video

logger = logging.getLogger(__name__)


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted), leaving out depth maps.

    A depth map is a ``*_depth.*`` file or a single-channel 16-bit or float image
    (`fileio.looks_like_depth_map`, from the header), such as the ``0.png`` beside an RGB-D
    ``0.jpg``; read as a photo it would be nearly all white.
    """
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix.lower() in IMAGE_EXTENSIONS
        and not p.stem.lower().endswith("_depth")
        and not looks_like_depth_map(p)
    ]


def list_media(folder: Path) -> list[Path]:
    """Photos (`list_images`) and videos (`litedepth.data.video_frames.VIDEO_EXTENSIONS`) under ``folder``, sorted."""
    videos = [p for p in folder.rglob("*") if p.is_file() and is_video(p)]
    return sorted(list_images(folder) + videos)


class UnlabeledImages(SeededDataset):
    """RGB images with no ground truth: raw samples are ``{"image": PIL RGB, "name": str}``.

    Photos are decoded by `fileio.read_rgb`: EXIF orientation applied, transparency composited
    onto white; a depth map or an unsupported mode named in a list is refused with one line
    when it is loaded. Videos are decoded once, here, into their sampled frames
    (`litedepth.data.video_frames.sample_video`: one every ``frame_interval`` seconds,
    near-duplicates of the last kept frame skipped, held in memory as JPEG bytes), each frame one
    item named ``<video>@<seconds>s``. The counts are logged and kept in `summary`.

    Args:
        source: a folder (searched recursively for photos and videos; depth maps left out, see
            `list_images`), a video file, or a text file listing one photo or video per line
            (relative paths against the list's folder; blank lines and ``#`` comments ignored).
        transform, seed: see `SeededDataset`.
        frame_interval: seconds between the frames sampled from videos.
        progress: show a progress bar while frames are extracted.
    """

    def __init__(
        self,
        source: str | os.PathLike,
        transform: Transform | None = None,
        seed: int = 0,
        frame_interval: float = FRAME_INTERVAL,
        progress: bool = True,
    ) -> None:
        super().__init__(transform, seed)
        self.root = Path(source)
        self.frame_interval = check_frame_interval(frame_interval)
        if self.root.is_dir():
            files, base = list_media(self.root), self.root
        elif self.root.is_file() and is_video(self.root):
            files, base = [self.root], self.root.parent
        elif self.root.is_file():
            files, base = read_path_list(self.root), self.root.parent
        else:
            raise LitedepthError(f"{self.root}: no such file or folder")
        self.videos: list[SampledVideo] = []
        self.items: list[tuple[Path, int | None, int]] = []  # (file, video number or None for a photo, frame)
        self.names: list[str] = []
        for p in files:
            self._add(p, _relative_name(p, base), progress)
        if not self.items:
            raise LitedepthError(f"{self.root}: no images found")
        logger.info(self.summary())

    def _add(self, path: Path, name: str, progress: bool) -> None:
        if not is_video(path):
            self.items.append((path, None, 0))
            self.names.append(name)
            return
        video = sample_video(path, self.frame_interval, progress=progress)
        for k, t in enumerate(video.times):
            self.items.append((path, len(self.videos), k))
            self.names.append(f"{name}@{t:g}s")
        self.videos.append(video)

    def summary(self) -> str:
        """``unlabeled source X: N photos, M video frames from K videos (D near-duplicates skipped)``."""
        frames = sum(len(v.times) for v in self.videos)
        skipped = sum(v.skipped for v in self.videos)
        return (
            f"unlabeled source {self.root}: {len(self.items) - frames} photos, {frames} video frames from "
            f"{len(self.videos)} videos ({skipped} near-duplicates skipped)"
        )

    def __len__(self) -> int:
        return len(self.items)

    @property
    def paths(self) -> list[Path]:
        """The file of each item (a video's path for each of its frames)."""
        return [path for path, _, _ in self.items]

    def source(self, index: int) -> str:
        return str(self.items[index][0])

    def image_file(self, index: int) -> tuple[str, str]:
        """``(file, "")`` for a photo, ``(video, "t=<seconds>")`` for a video frame: stable and distinct per frame."""
        path, video, k = self.items[index]
        return str(path), "" if video is None else f"t={self.videos[video].times[k]:.6f}"

    def load(self, index: int) -> dict:
        path, video, k = self.items[index]
        image = read_rgb(path) if video is None else self.videos[video].image(k)
        return {"image": image, "name": self.names[index]}


def check_frame_interval(value) -> float:
    """``value`` as a positive number of seconds, or a one-line `LitedepthError`."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not seconds > 0 or seconds == float("inf"):
        raise LitedepthError(f"frame interval {value!r}: expected a positive number of seconds between video frames")
    return seconds


def _relative_name(path: Path, base: Path) -> str:
    try:
        rel = path.relative_to(base)
    except ValueError:
        rel = Path(path.name)
    return str(rel.with_suffix("")).replace(os.sep, "/")
