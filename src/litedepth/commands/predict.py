"""``litedepth predict``: depth maps for images, folders or globs, and depth videos for video files."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

WRITES = True
HELP = "predict depth maps for images (files, folders or globs) and depth videos for videos (.mp4, .mov, .avi, .mkv, .webm)"
SAVE_KINDS = ("png16", "npy", "color", "ply")
ENDINGS = {
    "png16": ".png",
    "npy": ".npy",
    "color": "_color.png",
    "ply": ".ply",
}  # output file = OUT/<input's name without suffix> + ending


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders (searched recursively for images) or glob "
        "patterns; video files (.mp4, .mov, .avi, .mkv, .webm) give OUT/<stem>_depth.mp4; camera:N (camera "
        "number N, e.g. camera:0) gives OUT/cameraN_depth.mp4",
    )
    parser.add_argument(
        "--model",
        help="our .safetensors, an authors' .pt, an exported .onnx, .xml (OpenVINO), .tflite or NCNN folder, "
        "hu2021:NAME (the authors' networks, "
        "downloaded once; litedepth info hu2021: lists them), or an architecture name (fresh weights)",
    )
    parser.add_argument(
        "--arch",
        help="architecture of an authors' .pt; alone: the same as --model NAME (fresh weights, for trying the tool)",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="output folder: new, empty or an earlier predict's (a folder of other files is refused, even with --overwrite)",
    )
    parser.add_argument(
        "--save",
        help="comma list of png16 (16-bit PNG, millimetres), npy (float32 metres), "
        "color (RGB | colourised depth), ply (coloured point cloud, metres, camera frame); default png16. "
        "Videos: png16 and npy, when given, also write OUT/<stem>/000000.png/.npy per frame",
    )
    parser.add_argument("--batch-size", type=int, default=4)
    add_backend_argument(parser)
    parser.add_argument("--device", default="cpu")
    add_output_arguments(parser)
    add_video_arguments(parser)


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """--backend of `predict` and `eval` (`litedepth.hub.BACKENDS`)."""
    parser.add_argument(
        "--backend",
        default="torch",
        choices=("torch", "onnxruntime", "openvino"),
        help="run a network in PyTorch (default), ONNX Runtime or OpenVINO (converted in memory, checked); "
        "an .onnx file runs in ONNX Runtime (default) or OpenVINO, other exported files (.xml, .tflite, NCNN) "
        "in their own runtime",
    )


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The camera (--focal, --fov), point cloud and colour options."""
    camera = parser.add_mutually_exclusive_group()
    camera.add_argument(
        "--focal",
        help="your camera's focal length in pixels of the input image, or 'exif' (from each photo's "
        "35 mm-equivalent focal length): depth is rescaled from the training camera to it",
    )
    camera.add_argument(
        "--fov", type=float, help="your camera's horizontal field of view in degrees (instead of --focal)"
    )
    parser.add_argument(
        "--ply-stride", type=int, default=1, help="ply: keep every N-th pixel in both directions (default 1)"
    )
    parser.add_argument(
        "--max-depth", type=float, default=10.0, help="ply: drop points farther than this many metres (default 10)"
    )
    parser.add_argument("--colorbar", action="store_true", help="add a colour bar in metres to the color output")
    parser.add_argument("--cmap", default="magma_r", help="matplotlib colormap for the color output")


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of video and camera inputs."""
    from ..apps.video import LAYOUTS  # numpy and the standard library only: PyAV is imported when a video is read

    video = parser.add_argument_group("video inputs (need pip install 'litedepth[video]')")
    video.add_argument(
        "--video-layout",
        choices=LAYOUTS,
        default=LAYOUTS[0],
        help="side-by-side: input | colourised depth (default); depth: the colourised depth alone",
    )
    video.add_argument(
        "--depth-range",
        metavar="MIN,MAX",
        help="the colour range in metres, the same for every frame "
        "(default: 2nd-98th percentile of depth over up to 24 frames spread through the clip)",
    )
    video.add_argument(
        "--smooth",
        type=float,
        metavar="A",
        help="exponential moving average of depth over frames, weight A in (0, 1] for the newest frame (default: off)",
    )
    video.add_argument(
        "--frames",
        type=int,
        metavar="N",
        help="camera:N inputs: stop after N frames (default: at Ctrl-C, which keeps the video recorded so far)",
    )


@dataclass
class Plan:
    """What one ``litedepth predict`` reads and writes, all checked before anything is written."""

    out: Path
    images: list  # (path, name) pairs of `litedepth.inference.collect_images`
    targets: list  # {kind: output path} per image (`output_paths`)
    videos: list  # (VideoInfo, OUT/<stem>_depth.mp4, frames folder or None) (`check_videos`)
    cameras: list  # (N, OUT/cameraN_depth.mp4, frames folder or None)
    focal: float | str | None  # `parse_focal`
    exif_focal: dict  # path -> focal in pixels, with --focal exif


def run(args: argparse.Namespace) -> int:
    from ..outputs import held_locks

    with held_locks():  # --out is locked until predict ends, however it is called
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..hub import open_model

    plan = make_plan(args, check_options(args))
    model = open_model(args.model, args.arch, backend=args.backend, device=args.device)
    predict_images(model, plan, args)
    for info, target, frames_dir in plan.videos:
        predict_video_file(model, info, target, frames_dir, plan.focal, args)
    for index, target, frames_dir in plan.cameras:
        predict_video_file(model, index, target, frames_dir, plan.focal, args)
    return 0


def check_options(args: argparse.Namespace) -> list[str]:
    """The ``--save`` kinds, once every option that needs no file is checked (one line otherwise)."""
    from ..apps.visualize import check_cmap
    from ..errors import LitedepthError
    from ..hub import check_device

    kinds = [k.strip() for k in (args.save or "png16").split(",") if k.strip()]
    bad = [k for k in kinds if k not in SAVE_KINDS]
    if bad or not kinds:
        raise LitedepthError(f"--save {args.save!r}: choose from {', '.join(SAVE_KINDS)}")
    if args.batch_size < 1:
        raise LitedepthError(f"--batch-size {args.batch_size}: must be at least 1")
    if "color" in kinds:
        check_cmap(args.cmap)
    if args.ply_stride < 1 or not args.max_depth > 0:
        raise LitedepthError(
            f"--ply-stride {args.ply_stride} / --max-depth {args.max_depth}: need a stride >= 1 and a positive depth"
        )
    parse_focal(args.focal)
    check_device(args.device)
    return kinds


def make_plan(args: argparse.Namespace, kinds: list[str]) -> Plan:
    """Inputs found and fully decoded, outputs claimed (`litedepth.outputs.OutputGuard`), EXIF focal lengths read."""
    from PIL import Image

    from ..apps.video import parse_camera
    from ..camera import focal_from_exif
    from ..fileio import check_output_folder
    from ..inference import check_image, collect_images
    from ..outputs import OutputGuard

    focal = parse_focal(args.focal)
    out = check_output_folder(Path(args.out))
    cameras = [index for index in map(parse_camera, args.inputs) if index is not None]
    videos, image_inputs = split_inputs([i for i in args.inputs if parse_camera(i) is None])
    images = collect_images(image_inputs, check=False) if image_inputs or not (videos or cameras) else []
    guard = OutputGuard(overwrite=args.overwrite)
    for path in [*videos, *(path for path, _ in images), args.model]:
        guard.add_input(path, "--model" if path is args.model else "an input")
    guard.folder(out, "--out", kind="predict", continues=True)  # new, empty or predict's own; locked
    targets = output_paths(images, out, kinds, guard)
    video_plan, camera_plan = check_videos(videos, cameras, out, args, guard) if videos or cameras else ([], [])
    for path, _ in images:  # a full decode: a truncated file stops the command before anything is written
        check_image(path)
    exif_focal = {}  # every photo must have the tag before anything is written
    if focal == "exif":
        for path, _ in images:  # the 35 mm equivalent is relative to the longer side: no decode, no EXIF turn needed
            with Image.open(path) as header:
                exif_focal[path] = focal_from_exif(path, *header.size)
    return Plan(out, images, targets, video_plan, camera_plan, focal, exif_focal)


def predict_images(model, plan: Plan, args: argparse.Namespace) -> None:
    """Predict the plan's images batch by batch and write each one's files."""
    from tqdm import tqdm

    from ..camera import focal_from_fov, for_photo
    from ..inference import predict, to_pil
    from ..outputs import write_marker

    paths = [path for path, _ in plan.images]
    sizes: list[tuple[int, int]] = []  # (H, W) of every photo, for the letterbox note
    for start in tqdm(
        range(0, len(paths), args.batch_size), desc="predict", unit="batch", disable=len(paths) <= args.batch_size
    ):
        batch = paths[start : start + args.batch_size]
        pils = [to_pil(p) for p in batch]
        sizes += [(im.height, im.width) for im in pils]
        depths = predict(model, pils, batch_size=args.batch_size)
        if start == 0:  # marked just before its first file: lets a later predict --overwrite replace them
            write_marker(plan.out, "predict")
        for path, image, depth, files in zip(batch, pils, depths, plan.targets[start : start + args.batch_size]):
            focal_px = plan.exif_focal.get(path, plan.focal if isinstance(plan.focal, float) else None)
            if args.fov is not None:
                focal_px = focal_from_fov(args.fov, image.width)
            depth, camera = for_photo(depth, model.camera, focal_px)
            write_outputs(files, image, depth, camera, plan.out, args)
    if paths:
        print(f"wrote {len(paths)} depth map(s) to {plan.out}; {describe_camera(plan.focal, args.fov, model.camera)}")
        note = letterbox_note(model, sizes, args.model or args.arch)
        if note:
            print(note, file=sys.stderr)


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


def write_outputs(files: dict, image, depth, camera, out: Path, args: argparse.Namespace) -> None:
    """One image's files (``{kind: path}``); a write that fails is one line naming the file."""
    import numpy as np

    from ..apps.visualize import side_by_side
    from ..camera import back_project, write_ply
    from ..errors import LitedepthError
    from ..fileio import atomic_path, save_npy, write_png16_mm

    color = side_by_side(image, depth, colorbar=args.colorbar, cmap=args.cmap) if "color" in files else None
    try:
        if "png16" in files:
            write_png16_mm(files["png16"], depth)
        if "npy" in files:
            save_npy(files["npy"], depth)
        if color is not None:
            with atomic_path(files["color"]) as tmp:
                color.save(tmp, format="PNG")
        if "ply" in files:
            write_ply(files["ply"], *back_project(depth, np.asarray(image), camera, args.ply_stride, args.max_depth))
    except OSError as exc:
        raise LitedepthError(f"--out {out}: cannot write {exc.filename or out} ({exc.strerror or exc})") from None


def split_inputs(inputs) -> tuple[list, list]:
    """Video files (by suffix, `litedepth.apps.video.VIDEO_EXTENSIONS`) and the other inputs, for `collect_images`.

    A glob pattern whose matches include videos is replaced by its matches; folders are searched
    for images only (by `collect_images`).
    """
    import glob

    from ..apps.video import is_video

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


def check_videos(videos, cameras, out, args, guard) -> tuple[list, list]:
    """What the videos and cameras will write, or one line before anything is written.

    ``(VideoInfo, OUT/<stem>_depth.mp4, OUT/<stem> or None)`` per video and ``(N, OUT/cameraN_depth.mp4,
    OUT/cameraN or None)`` per camera. Checks the video options, that PyAV is installed, that every
    video decodes completely (`litedepth.apps.video.probe`), that each camera exists, that no output
    would overwrite an input and that no two inputs share an output.
    """
    from ..apps.video import camera_device, check_smooth, parse_depth_range, probe, require_av
    from ..apps.visualize import check_cmap
    from ..errors import LitedepthError

    parse_depth_range(args.depth_range)
    check_smooth(args.smooth)
    check_cmap(args.cmap)
    if args.focal == "exif":
        raise LitedepthError(
            "--focal exif: videos have no per-frame EXIF; give --focal PX or --fov DEG for video inputs"
        )
    if args.frames is not None and (not cameras or args.frames < 1):
        raise LitedepthError(f"--frames {args.frames}: a number of frames >= 1, for camera:N inputs only")
    require_av()
    frame_kinds = video_frame_kinds(args.save)
    infos = [probe(video) for video in videos]  # a missing or corrupt video is refused first
    for index in cameras:
        camera_device(index)
    plans: tuple[list, list] = ([], [])
    for plan, source, stem, what in [(plans[0], video, video.stem, info) for video, info in zip(videos, infos)] + [
        (plans[1], f"camera:{index}", f"camera{index}", index) for index in dict.fromkeys(cameras)
    ]:
        target = out / f"{stem}_depth.mp4"
        frames_dir = out / stem if frame_kinds else None
        guard.file(target, "--out", source=str(source))
        if frames_dir is not None:
            guard.folder(frames_dir, "--out", kind="video frames", lock=False)  # inside --out, locked
        plan.append((what, target, frames_dir))
    return plans


def video_frame_kinds(save: str | None) -> list:
    """The per-frame files a video gets: the png16 and npy of an explicit ``--save`` (none by default)."""
    from ..apps.video import FRAME_KINDS

    return [k.strip() for k in (save or "").split(",") if k.strip() in FRAME_KINDS]


def predict_video_file(model, source, target, frames_dir, focal, args) -> None:
    """Write one depth video and print what was written and how fast.

    ``source``: a video's `VideoInfo` (`litedepth.apps.video.predict_video`) or a camera number
    (`litedepth.apps.video.predict_camera`, for ``--frames`` frames or until Ctrl-C).
    """
    from ..apps.video import open_camera, parse_depth_range, predict_camera, predict_video
    from ..camera import focal_from_fov, scale_to_camera
    from ..errors import LitedepthError
    from ..outputs import write_marker

    camera = open_camera(source) if isinstance(source, int) else None
    write_marker(target.parent, "predict")  # the --out folder, as for images
    if frames_dir is not None:
        write_marker(frames_dir, "video frames")
    width = camera.width if camera is not None else source.width
    focal_px = focal if isinstance(focal, float) else focal_from_fov(args.fov, width) if args.fov is not None else None
    options = dict(
        layout=args.video_layout,
        depth_range=parse_depth_range(args.depth_range),
        smooth=args.smooth,
        cmap=args.cmap,
        frames_dir=frames_dir,
        save=video_frame_kinds(args.save),
        adjust=(lambda depth: scale_to_camera(depth, focal_px, model.camera)) if focal_px is not None else None,
    )
    try:
        if camera is not None:
            print(
                f"reading camera:{source} ({camera.device}, {camera.width}x{camera.height})"
                + (f" for {args.frames} frames" if args.frames else "; Ctrl-C ends the video"),
                file=sys.stderr,
            )
            result = predict_camera(model, camera, target, frames=args.frames, batch_size=1, **options)
        else:
            result = predict_video(model, source.path, target, batch_size=args.batch_size, info=source, **options)
    except OSError as exc:
        raise LitedepthError(
            f"--out {args.out}: cannot write {exc.filename or target} ({exc.strerror or exc})"
        ) from None
    per_frame = f", per-frame {' and '.join(options['save'])} in {frames_dir}" if options["save"] else ""
    print(
        f"wrote {target} ({result.frames} frames at {float(result.fps):g} fps, colours {result.vmin:.2f} to {result.vmax:.2f} m"
        f"{per_frame}); {result.frames_per_second:.1f} frames/s; {describe_camera(focal, args.fov, model.camera)}"
    )


def parse_focal(text: str | None):
    """``--focal``: None, ``"exif"`` or a positive number of pixels; one line otherwise."""
    from ..errors import LitedepthError

    if text is None or text == "exif":
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise LitedepthError(f"--focal {text}: expected a focal length in pixels (e.g. 1000) or 'exif'")
    return value


def describe_camera(focal, fov, trained) -> str:
    """The one line that says which camera the depth is in."""
    source = (
        f"focal {focal:g} px (--focal)"
        if isinstance(focal, float)
        else "each photo's EXIF focal length (--focal exif)"
        if focal == "exif"
        else f"horizontal field of view {fov:g} deg (--fov)"
        if fov is not None
        else None
    )
    base = (
        f"the training camera (fx {trained.fx:.1f} px at {trained.width}x{trained.height}, "
        f"focal {trained.relative_focal:.3f} x the shorter side)"
    )
    if source is None:
        return f"depth in metres for {base}; give --focal or --fov for yours"
    return f"depth rescaled to {source} from {base}"


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
