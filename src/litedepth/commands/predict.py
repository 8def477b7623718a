"""``litedepth predict``: depth maps for images, folders or globs, and depth videos for video files."""

from __future__ import annotations

import argparse

WRITES = True
HELP = "predict depth maps for images (files, folders or globs) and depth videos for videos (.mp4, .mov, .avi, .mkv, .webm)"


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


def run(args: argparse.Namespace) -> int:
    from ..apps.predict_files import predict_files
    from ..apps.predict_options import FocalSource, OutputOptions, VideoOptions
    from ..devices import check_device

    output = OutputOptions.parse(args.save, args.batch_size, args.cmap, args.colorbar, args.ply_stride, args.max_depth)
    focal = FocalSource.parse(args.focal, args.fov)
    check_device(args.device)
    predict_files(
        args.inputs,
        args.out,
        args.model,
        arch=args.arch,
        backend=args.backend,
        device=args.device,
        overwrite=args.overwrite,
        output=output,
        focal=focal,
        video=VideoOptions(args.video_layout, args.depth_range, args.smooth, args.frames),
        report=print,
    )
    return 0
