"""The options of `litedepth.apps.predict_files.predict_files`: what to write, whose camera, how videos look.

Each is checked where ``litedepth predict`` checked it (one line naming the option) and held in a
frozen object: `OutputOptions` (the files per photo), `FocalSource` (``--focal``/``--fov``, one
order for photos and videos) and `VideoOptions` (the video inputs' choices, made into a
`litedepth.apps.video_options.VideoStyle` once the inputs are known to hold videos).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LitedepthError

SAVE_KINDS = ("png16", "npy", "color", "ply")
ENDINGS = {
    "png16": ".png",
    "npy": ".npy",
    "color": "_color.png",
    "ply": ".ply",
}  # output file = OUT/<input's name without suffix> + ending


@dataclass(frozen=True)
class OutputOptions:
    """The files each photo gets (``kinds`` of `SAVE_KINDS`) and how they look; ``frame_kinds``: each video frame's."""

    kinds: tuple[str, ...] = ("png16",)
    frame_kinds: tuple[str, ...] = ()  # `litedepth.apps.video_options.FRAME_KINDS` of an explicit --save
    batch_size: int = 4
    cmap: str = "magma_r"
    colorbar: bool = False
    ply_stride: int = 1
    max_depth: float = 10.0  # metres: farther points are left out of the ply

    @classmethod
    def parse(
        cls,
        save: str | None,
        batch_size: int = 4,
        cmap: str = "magma_r",
        colorbar: bool = False,
        ply_stride: int = 1,
        max_depth: float = 10.0,
    ) -> OutputOptions:
        """``--save`` (a comma list; None: png16 for photos, nothing per video frame) and the rest, or one line."""
        from .video_options import FRAME_KINDS
        from .visualize import check_cmap

        kinds = [k.strip() for k in (save or "png16").split(",") if k.strip()]
        bad = [k for k in kinds if k not in SAVE_KINDS]
        if bad or not kinds:
            raise LitedepthError(f"--save {save!r}: choose from {', '.join(SAVE_KINDS)}")
        if batch_size < 1:
            raise LitedepthError(f"--batch-size {batch_size}: must be at least 1")
        if "color" in kinds:
            check_cmap(cmap)
        if ply_stride < 1 or not max_depth > 0:
            raise LitedepthError(
                f"--ply-stride {ply_stride} / --max-depth {max_depth}: need a stride >= 1 and a positive depth"
            )
        frame_kinds = [k.strip() for k in (save or "").split(",") if k.strip() in FRAME_KINDS]
        return cls(tuple(kinds), tuple(frame_kinds), batch_size, cmap, colorbar, ply_stride, max_depth)


@dataclass(frozen=True)
class FocalSource:
    """Whose camera the depth is in: ``--focal PX``, ``--focal exif``, ``--fov DEG`` or none (the training camera's).

    One order for photos and videos (`focal_px`): ``--fov``, then EXIF, then ``--focal PX``; the
    command line takes one of them only.
    """

    pixels: float | None = None
    exif: bool = False
    fov: float | None = None  # degrees, checked when a width turns it into pixels (`litedepth.camera.focal_from_fov`)

    @classmethod
    def parse(cls, focal: str | None, fov: float | None = None) -> FocalSource:
        """``--focal`` (None, ``"exif"`` or pixels, `parse_focal`) and ``--fov``."""
        value = parse_focal(focal)
        return cls(value if isinstance(value, float) else None, value == "exif", fov)

    def focal_px(self, width: int, exif_px: float | None = None) -> float | None:
        """The focal length in pixels of an image ``width`` wide (``exif_px``: its EXIF one); None: the training camera."""
        from ..camera import focal_from_fov

        if self.fov is not None:
            return focal_from_fov(self.fov, width)
        if self.exif:
            return exif_px
        return self.pixels

    def describe(self, trained) -> str:
        """The one line that says which camera the depth is in (``trained``: the network's `Intrinsics`)."""
        source = (  # in the order of `focal_px`
            f"horizontal field of view {self.fov:g} deg (--fov)"
            if self.fov is not None
            else "each photo's EXIF focal length (--focal exif)"
            if self.exif
            else f"focal {self.pixels:g} px (--focal)"
            if self.pixels is not None
            else None
        )
        base = (
            f"the training camera (fx {trained.fx:.1f} px at {trained.width}x{trained.height}, "
            f"focal {trained.relative_focal:.3f} x the shorter side)"
        )
        if source is None:
            return f"depth in metres for {base}; give --focal or --fov for yours"
        return f"depth rescaled to {source} from {base}"


def parse_focal(text: str | None):
    """``--focal``: None, ``"exif"`` or a positive number of pixels; one line otherwise."""
    if text is None or text == "exif":
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise LitedepthError(f"--focal {text}: expected a focal length in pixels (e.g. 1000) or 'exif'")
    return value


@dataclass(frozen=True)
class VideoOptions:
    """The choices of video and camera inputs, checked (`litedepth.apps.predict_files.check_videos`) only when there are some."""

    layout: str = "side-by-side"  # `litedepth.apps.video_options.LAYOUTS`
    depth_range: str | None = None  # ``MIN,MAX`` metres (`litedepth.apps.video_options.parse_depth_range`)
    smooth: float | None = None
    frames: int | None = None  # camera:N inputs: stop after this many frames (None: at Ctrl-C)
