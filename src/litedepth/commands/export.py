"""``litedepth export``: a checkpoint to ONNX, OpenVINO, LiteRT, Core ML or NCNN, checked before it is written."""

from __future__ import annotations

import argparse

WRITES = True
HELP = "export a model to onnx, openvino, tflite, coreml or ncnn (BN folded, optional INT8), checked against PyTorch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="checkpoint (.safetensors or authors' .pt), hu2021:NAME (the authors' networks), "
        "or an architecture name for fresh weights",
    )
    parser.add_argument("--arch", help="architecture name (needed for some .pt files)")
    parser.add_argument(
        "--format",
        default="onnx",
        choices=("onnx", "openvino", "tflite", "coreml", "ncnn"),
        help="onnx (default): NAME.onnx; openvino: NAME.xml + NAME.bin; tflite: NAME.tflite; "
        "coreml: NAME.mlpackage; ncnn: a folder with model.ncnn.param, model.ncnn.bin, model.ncnn.json",
    )
    parser.add_argument("--out", metavar="PATH", help="output path (written atomically, only if the check passes)")
    parser.add_argument("--onnx", metavar="OUT.onnx", help="the same as --format onnx --out OUT.onnx")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: 17)")
    parser.add_argument(
        "--dynamic",
        action="store_true",
        help="onnx, openvino: free batch, height and width (default: fixed 1x3xHxW; other formats are always fixed)",
    )
    parser.add_argument(
        "--size", metavar="HxW", help="input size to export and check at (default: the model's input size)"
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also quantise to INT8 (onnx: ONNX Runtime static QDQ; openvino: NNCF; tflite: ai-edge-quantizer; "
        "coreml: weights only), "
        "written beside as NAME.int8.EXT",
    )
    parser.add_argument("--calibration", metavar="DIR", help="folder of images for --int8 calibration (subfolders too)")
    parser.add_argument(
        "--calibration-images", type=int, default=64, help="at most this many calibration images (default: 64)"
    )
    parser.add_argument(
        "--int8-tolerance",
        type=float,
        default=0.05,
        metavar="FRACTION",
        help="refuse an INT8 file whose mean |INT8 - float| exceeds this fraction of the mean depth (default: 0.05)",
    )


def _target(args: argparse.Namespace) -> tuple[str, str]:
    """``(format, output path)`` from --format/--out or the --onnx alias, or one line."""
    from ..errors import LitedepthError

    if args.onnx and args.out:
        raise LitedepthError("--onnx and --out: give one (--onnx OUT.onnx is --format onnx --out OUT.onnx)")
    if args.onnx:
        if args.format != "onnx":
            raise LitedepthError(f"--onnx with --format {args.format}: use --out for other formats")
        return "onnx", args.onnx
    if not args.out:
        raise LitedepthError("no output: give --out PATH (or --onnx OUT.onnx)")
    return args.format, args.out


def _claim(args: argparse.Namespace, fmt, out: str):
    """The output guard with the input and every output file claimed; the INT8 path or None."""
    from ..data.listed import listed_files
    from ..deploy.formats import int8_path, output_files
    from ..outputs import OutputGuard

    guard = OutputGuard(overwrite=args.overwrite)
    guard.add_input(args.model, "--model")
    guard.add_input(args.calibration, "--calibration")
    guard.add_listed(listed_files(args.calibration), "--calibration")
    outputs = output_files(fmt, out) + (output_files(fmt, int8_path(out)) if args.int8 else [])
    for path in outputs:
        if fmt.folder:
            guard.folder(path, "--out", kind=f"{fmt.name}-model", lock=False)  # replaced whole, by a rename
        else:
            guard.file(path, "--out")
    return int8_path(out) if args.int8 else None


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..deploy.export import parse_size
    from ..deploy.formats import check_output, export_int8, export_model, get_format, require_converter
    from ..deploy.quantize import check_calibration
    from ..errors import LitedepthError
    from ..hub import open_model

    name, out = _target(args)
    fmt = get_format(name)
    check_output(fmt, out)
    require_converter(name)
    if args.int8 and not fmt.int8:
        raise LitedepthError(f"--int8: not available for {name} exports (onnx, openvino and tflite have it)")
    if args.int8 and not args.calibration:
        raise LitedepthError("--int8 needs --calibration DIR (a folder of representative images)")
    if args.calibration and not args.int8:
        raise LitedepthError(f"--calibration {args.calibration}: only used with --int8 (add --int8, or leave it out)")
    size = parse_size(args.size) if args.size else None
    exported = {".onnx": "ONNX", ".xml": "OpenVINO", ".tflite": "LiteRT", ".mlpackage": "Core ML", ".param": "NCNN"}
    if Path(args.model).suffix.lower() in exported:
        raise LitedepthError(
            f"{args.model}: already an {exported[Path(args.model).suffix.lower()]} model; "
            "export takes a .safetensors or .pt checkpoint, or an architecture name"
        )
    if args.int8:  # the calibration photos are checked before anything is written, the float model included
        check_calibration(args.calibration, args.calibration_images)
    _claim(args, fmt, out)
    model = open_model(args.model, args.arch)
    report = export_model(model, name, out, size=size, dynamic=args.dynamic, opset=args.opset)
    _print_report(args.model, model.arch, report)
    if args.int8:
        q = export_int8(name, out, args.calibration, args.calibration_images, args.int8_tolerance, model=model)
        print(
            f"INT8 -> {q.path}: {q.calibration_images} calibration images; vs float on {q.compared_images} images: "
            f"mean abs change {q.mean_abs_change:.3g} m ({q.relative_change:.1%} of the mean depth, "
            f"tolerance {args.int8_tolerance:.1%}), max {q.max_abs_change:.3g} m (float output up to {q.float_abs_max:.3g} m)"
        )
    return 0


def _print_report(spec: str, arch: str, report) -> None:
    h, w = report.size
    if report.dynamic:
        axes = "dynamic batch/height/width"
    else:
        axes = f"fixed 1x3x{h}x{w} (photos of another aspect ratio are letterboxed into it; --dynamic runs them whole)"
        if report.format not in ("onnx", "openvino"):
            axes = f"fixed 1x3x{h}x{w} (photos of another aspect ratio are letterboxed into it)"
    opset = f"opset {report.opset}, " if report.opset else ""
    print(f"{spec} ({arch}) -> {report.path} [{report.format}]: {opset}{axes}, BN folded")
    if report.note:
        print(f"check: {report.note}")
    else:
        print(
            f"check vs PyTorch on {', '.join(report.checked)}: max abs diff {report.max_abs_diff:.3g} m "
            f"(tolerance {report.tolerance:.3g})"
        )
