"""The options of a depth video, checked before any work: layout, colour range, smoothing, per-frame files.

Each check returns the value or raises a one-line `LitedepthError` that names the option.
"""

from __future__ import annotations

from collections.abc import Sequence

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
