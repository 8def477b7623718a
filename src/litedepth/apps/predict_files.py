"""Depth for a batch of inputs: photos (files, folders, globs) to depth files, videos and cameras to depth videos.

The work of ``litedepth predict``: `predict_files` finds and fully decodes every input, claims
every output from an `litedepth.outputs.OutputGuard` and reads the EXIF focal lengths it needs
(`make_plan`) before the model is opened or anything is written; then it writes each photo's files
(``OUT/<name>`` + `litedepth.apps.predict_options.ENDINGS`) and each video's
``OUT/<stem>_depth.mp4`` (cameras: ``OUT/cameraN_depth.mp4``).

>>> predict_files(["photos/"], "depth/", "student.safetensors", output=OutputOptions(kinds=("png16", "ply")))
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import LitedepthError
from ..outputs import held_locks
from .predict_options import ENDINGS, FocalSource, OutputOptions, VideoOptions
from .video_options import VideoStyle

logger = logging.getLogger(__name__)


@dataclass
class Plan:
    """What one `predict_files` reads and writes, all checked before anything is written."""

    out: Path
    images: list  # (path, name) pairs of `litedepth.inference.collect_images`
    targets: list  # {kind: output path} per image (`output_paths`)
    videos: list  # (VideoInfo, OUT/<stem>_depth.mp4, frames folder or None) (`check_videos`)
    cameras: list  # (N, OUT/cameraN_depth.mp4, frames folder or None)
    focal: FocalSource
    exif_focal: dict  # path -> focal in pixels, with --focal exif
    style: VideoStyle | None = None  # the videos' and cameras' (`check_videos`), None without any


@held_locks()  # --out is locked until it returns (`litedepth.outputs.lock_folder`)
def predict_files(
    inputs: Sequence[str],
    out: str | os.PathLike,
    model: str | None = None,
    *,
    arch: str | None = None,
    backend: str = "torch",
    device: str = "cpu",
    overwrite: bool = False,
    output: OutputOptions = OutputOptions(),
    focal: FocalSource = FocalSource(),
    video: VideoOptions = VideoOptions(),
    report: Callable[[str], None] | None = None,
) -> Plan:
    """Depth maps for the photos in ``inputs`` and depth videos for their videos and ``camera:N`` entries, into ``out``.

    ``model``/``arch``/``backend``/``device``: as `litedepth.hub.open_model`. ``out``: a new or
    empty folder, or an earlier predict's (``overwrite``: its files may be replaced). ``report``
    gets a line per batch of photos and per video saying what was written and in whose camera
    (None: logged at INFO). Bad input is one `LitedepthError` before anything is written.
    """
    from ..hub import open_model

    report = report or logger.info
    plan = make_plan(inputs, out, model, output, focal, video, overwrite)
    net = open_model(model, arch, backend=backend, device=device)
    predict_images(net, plan, output, report, model or arch)
    for info, target, frames_dir in plan.videos:
        predict_video_file(net, info, target, frames_dir, plan, video.frames, str(out), report)
    for index, target, frames_dir in plan.cameras:
        predict_video_file(net, index, target, frames_dir, plan, video.frames, str(out), report)
    return plan


def make_plan(inputs, out, model, output: OutputOptions, focal: FocalSource, video: VideoOptions, overwrite) -> Plan:
    """Inputs found and fully decoded, outputs claimed (`litedepth.outputs.OutputGuard`), EXIF focal lengths read."""
    from PIL import Image

    from ..camera import focal_from_exif
    from ..fileio import check_output_folder
    from ..inference import check_image, collect_images
    from ..outputs import OutputGuard
    from .video import parse_camera

    out = check_output_folder(Path(out))
    cameras = [index for index in map(parse_camera, inputs) if index is not None]
    videos, image_inputs = split_inputs([i for i in inputs if parse_camera(i) is None])
    images = collect_images(image_inputs, check=False) if image_inputs or not (videos or cameras) else []
    guard = OutputGuard(overwrite=overwrite)
    for path in [*videos, *(path for path, _ in images), model]:
        guard.add_input(path, "--model" if path is model else "an input")
    guard.folder(out, "--out", kind="predict", continues=True)  # new, empty or predict's own; locked
    targets = output_paths(images, out, output.kinds, guard)
    plan = Plan(out, images, targets, [], [], focal, {})
    if videos or cameras:
        plan.videos, plan.cameras, plan.style = check_videos(videos, cameras, out, output, focal, video, guard)
    for path, _ in images:  # a full decode: a truncated file stops the command before anything is written
        check_image(path)
    if focal.exif:  # every photo must have the tag before anything is written
        for path, _ in images:  # the 35 mm equivalent is relative to the longer side: no decode, no EXIF turn needed
            with Image.open(path) as header:
                plan.exif_focal[path] = focal_from_exif(path, *header.size)
    return plan


def predict_images(model, plan: Plan, output: OutputOptions, report: Callable[[str], None], spec) -> None:
    """Predict the plan's images batch by batch and write each one's files."""
    from tqdm import tqdm

    from ..camera import for_photo
    from ..inference import predict, to_pil
    from ..outputs import write_marker

    paths = [path for path, _ in plan.images]
    size = output.batch_size
    sizes: list[tuple[int, int]] = []  # (H, W) of every photo, for the letterbox note
    for start in tqdm(range(0, len(paths), size), desc="predict", unit="batch", disable=len(paths) <= size):
        batch = paths[start : start + size]
        pils = [to_pil(p) for p in batch]
        sizes += [(im.height, im.width) for im in pils]
        depths = predict(model, pils, batch_size=size)
        if start == 0:  # marked just before its first file: lets a later predict --overwrite replace them
            write_marker(plan.out, "predict")
        for path, image, depth, files in zip(batch, pils, depths, plan.targets[start : start + size]):
            focal_px = plan.focal.focal_px(image.width, plan.exif_focal.get(path))
            depth, camera = for_photo(depth, model.camera, focal_px)
            write_outputs(files, image, depth, camera, plan.out, output)
    if paths:
        report(f"wrote {len(paths)} depth map(s) to {plan.out}; {plan.focal.describe(model.camera)}")
        note = letterbox_note(model, sizes, spec)
        if note:
            logger.warning(note)


def letterbox_note(model, sizes: list[tuple[int, int]], spec) -> str | None:
    """A ``note:`` line when a fixed-size export letterboxed photos of another aspect ratio (``sizes``: (H, W) each)."""
    import torch

    if isinstance(model, torch.nn.Module) or getattr(model, "dynamic", False):
        return None
    h, w = model.input_size
    boxed = [s for s in sizes if _content_size(s, (h, w)) != (h, w)]
    if not boxed:
        return None
    return (
        f"note: {spec} is a fixed-size {h}x{w} export: {len(boxed)} of {len(sizes)} photo(s) of another aspect ratio "
        "were letterboxed into it (padded), which changes their depth; export with --dynamic (onnx, openvino) "
        "to run photos whole"
    )


def _content_size(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The size a ``size`` photo takes inside ``box`` when letterboxed (`litedepth.preprocess.network_view`)."""
    scale = min(box[0] / size[0], box[1] / size[1])
    return min(box[0], max(1, round(size[0] * scale))), min(box[1], max(1, round(size[1] * scale)))


def write_outputs(files: dict, image, depth, camera, out: Path, output: OutputOptions) -> None:
    """One image's files (``{kind: path}``); a write that fails is one line naming the file."""
    import numpy as np

    from ..camera import back_project, write_ply
    from ..fileio import atomic_path, save_npy, write_png16_mm
    from .visualize import side_by_side

    color = side_by_side(image, depth, colorbar=output.colorbar, cmap=output.cmap) if "color" in files else None
    try:
        if "png16" in files:
            write_png16_mm(files["png16"], depth)
        if "npy" in files:
            save_npy(files["npy"], depth)
        if color is not None:
            with atomic_path(files["color"]) as tmp:
                color.save(tmp, format="PNG")
        if "ply" in files:
            points = back_project(depth, np.asarray(image), camera, output.ply_stride, output.max_depth)
            write_ply(files["ply"], *points)
    except OSError as exc:
        raise LitedepthError(f"--out {out}: cannot write {exc.filename or out} ({exc.strerror or exc})") from None


def split_inputs(inputs) -> tuple[list, list]:
    """Video files (by suffix, `litedepth.apps.video.VIDEO_EXTENSIONS`) and the other inputs, for `collect_images`.

    A glob pattern whose matches include videos is replaced by its matches; folders are searched
    for images only (by `collect_images`).
    """
    import glob

    from .video import is_video

    videos: dict = {}  # resolved -> path
    rest = []
    for item in inputs:
        path = Path(item)
        if not path.exists() and any(ch in item for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if any(is_video(p) for p in matches):
                for p in matches:
                    if is_video(p):
                        videos.setdefault(p.resolve(), p)
                    else:
                        rest.append(str(p))
                continue
        elif is_video(path) and not path.is_dir():
            videos.setdefault(path.resolve(), path)
            continue
        rest.append(item)
    return list(videos.values()), rest


def check_videos(videos, cameras, out, output: OutputOptions, focal: FocalSource, video: VideoOptions, guard):
    """What the videos and cameras will write, and their style, or one line before anything is written.

    ``(VideoInfo, OUT/<stem>_depth.mp4, OUT/<stem> or None)`` per video, ``(N, OUT/cameraN_depth.mp4,
    OUT/cameraN or None)`` per camera, and the `VideoStyle` of them all. Checks the video options,
    that PyAV is installed, that every video decodes completely (`litedepth.apps.video.probe`), that
    each camera exists, that no output would overwrite an input and that no two inputs share an output.
    """
    from .video import camera_device, check_smooth, parse_depth_range, probe, require_av
    from .visualize import check_cmap

    style = VideoStyle(  # checked in this order
        layout=video.layout,
        batch_size=output.batch_size,
        depth_range=parse_depth_range(video.depth_range),
        smooth=check_smooth(video.smooth),
        cmap=check_cmap(output.cmap),
        save=output.frame_kinds,
    )
    if focal.exif:
        raise LitedepthError(
            "--focal exif: videos have no per-frame EXIF; give --focal PX or --fov DEG for video inputs"
        )
    if video.frames is not None and (not cameras or video.frames < 1):
        raise LitedepthError(f"--frames {video.frames}: a number of frames >= 1, for camera:N inputs only")
    require_av()
    infos = [probe(path) for path in videos]  # a missing or corrupt video is refused first
    for index in cameras:
        camera_device(index)
    plans: tuple[list, list] = ([], [])
    for plan, source, stem, what in [(plans[0], path, path.stem, info) for path, info in zip(videos, infos)] + [
        (plans[1], f"camera:{index}", f"camera{index}", index) for index in dict.fromkeys(cameras)
    ]:
        target = out / f"{stem}_depth.mp4"
        frames_dir = out / stem if style.save else None
        guard.file(target, "--out", source=str(source))
        if frames_dir is not None:
            guard.folder(frames_dir, "--out", kind="video frames", lock=False)  # inside --out, locked
        plan.append((what, target, frames_dir))
    return plans[0], plans[1], style


def predict_video_file(model, source, target, frames_dir, plan: Plan, frames, out_text, report) -> None:
    """Write one depth video and report what was written and how fast.

    ``source``: a video's `VideoInfo` (`litedepth.apps.video.predict_video`) or a camera number
    (`litedepth.apps.video.predict_camera`, for ``frames`` frames or until Ctrl-C).
    """
    from ..camera import scale_to_camera
    from ..outputs import write_marker
    from .video import open_camera, predict_camera, predict_video

    camera = open_camera(source) if isinstance(source, int) else None
    write_marker(target.parent, "predict")  # the --out folder, as for images
    if frames_dir is not None:
        write_marker(frames_dir, "video frames")
    focal_px = plan.focal.focal_px(camera.width if camera is not None else source.width)
    adjust = (lambda depth: scale_to_camera(depth, focal_px, model.camera)) if focal_px is not None else None
    style = replace(plan.style, frames_dir=frames_dir, adjust=adjust)
    try:
        if camera is not None:
            logger.info(
                f"reading camera:{source} ({camera.device}, {camera.width}x{camera.height})"
                + (f" for {frames} frames" if frames else "; Ctrl-C ends the video")
            )
            result = predict_camera(model, camera, target, replace(style, batch_size=1), frames=frames)
        else:
            result = predict_video(model, source.path, target, style, info=source)
    except OSError as exc:
        raise LitedepthError(
            f"--out {out_text}: cannot write {exc.filename or target} ({exc.strerror or exc})"
        ) from None
    per_frame = f", per-frame {' and '.join(style.save)} in {frames_dir}" if style.save else ""
    report(
        f"wrote {target} ({result.frames} frames at {float(result.fps):g} fps, colours {result.vmin:.2f} to {result.vmax:.2f} m"
        f"{per_frame}); {result.frames_per_second:.1f} frames/s; {plan.focal.describe(model.camera)}"
    )


def output_paths(images, out, kinds, guard) -> list:
    """The files each ``(path, name)`` of `collect_images` is written to, as ``{kind: path}`` per image.

    ``OUT/<name without its suffix>`` + ``.png`` (png16), ``.npy`` or ``_color.png``, each claimed
    from ``guard`` (`litedepth.outputs.OutputGuard`) before anything is written.
    """
    plan = []
    for path, name in images:
        files = {kind: out / name.parent / f"{name.stem}{ENDINGS[kind]}" for kind in kinds}
        for target in files.values():
            guard.file(target, "--out", source=str(path))
        plan.append(files)
    return plan
