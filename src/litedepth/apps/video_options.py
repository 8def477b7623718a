"""The options of a depth video, checked before any work: layout, colour range, smoothing, per-frame files.

`VideoStyle` holds them all, built once and handed whole to `litedepth.apps.video.predict_video`,
`litedepth.apps.camera_stream.predict_camera` and the writing pass they share. Each check returns
the value or raises a one-line `LitedepthError` that names the option.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LitedepthError

LAYOUTS = ("side-by-side", "depth")  # input | colourised depth, or the colourised depth alone
FRAME_KINDS = ("png16", "npy")  # per-frame files: OUT/<stem>/000000.png (16-bit mm) / .npy (float32 metres)


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


@dataclass(frozen=True)
class VideoStyle:
    """How a depth video looks and what it writes besides: one object from the options to the writing pass.

    ``layout``: `LAYOUTS`; frames go through `litedepth.inference.predict` ``batch_size`` at a
    time; colours span ``depth_range`` metres (None: from the clip, or the first camera frames)
    in matplotlib's ``cmap``; ``smooth``: the `litedepth.apps.depth_video.smooth_step` weight
    (None: off); ``save``: kinds of `FRAME_KINDS` written per frame into ``frames_dir``;
    ``adjust`` (optional) maps each depth map, e.g. to the user's camera; ``progress``: a tqdm bar.
    """

    layout: str = "side-by-side"
    batch_size: int = 4
    depth_range: tuple[float, float] | None = None
    smooth: float | None = None
    cmap: str = "magma_r"
    frames_dir: str | os.PathLike | None = None
    save: tuple[str, ...] = ()
    adjust: Callable[[np.ndarray], np.ndarray] | None = None
    progress: bool = True

    def __post_init__(self) -> None:  # a frozen object normalises its own fields
        object.__setattr__(self, "save", tuple(self.save))
        if self.frames_dir is not None:
            object.__setattr__(self, "frames_dir", Path(self.frames_dir))


def check_video_style(style: VideoStyle) -> VideoStyle:
    """``style``, or one line for a bad layout, per-frame file kind, colour map, smoothing weight or batch size."""
    from .visualize import check_cmap

    if style.layout not in LAYOUTS:
        raise LitedepthError(f"layout {style.layout!r}: choose from {', '.join(LAYOUTS)}")
    bad = [k for k in style.save if k not in FRAME_KINDS]
    if bad or (style.save and style.frames_dir is None):
        raise LitedepthError(
            f"per-frame files {', '.join(style.save)}: choose from {', '.join(FRAME_KINDS)} and give a folder"
        )
    check_cmap(style.cmap)
    check_smooth(style.smooth)
    if style.batch_size < 1:
        raise LitedepthError(f"batch size {style.batch_size}: must be at least 1")
    return style
