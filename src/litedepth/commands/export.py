"""``litedepth export``: a checkpoint to an ONNX file, verified against PyTorch before it is written."""

from __future__ import annotations

import argparse

WRITES = True
HELP = "export a model to ONNX (BN folded, optional dynamic axes, optional INT8), checked against PyTorch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="checkpoint (.safetensors or authors' .pt), hu2021:NAME (the authors' networks), "
        "or an architecture name for fresh weights",
    )
    parser.add_argument("--arch", help="architecture name (needed for some .pt files)")
    parser.add_argument(
        "--onnx",
        required=True,
        metavar="OUT.onnx",
        help="output ONNX path (written atomically, only if the check passes)",
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: 17)")
    parser.add_argument(
        "--dynamic", action="store_true", help="symbolic batch, height and width (default: fixed 1x3xHxW)"
    )
    parser.add_argument(
        "--size", metavar="HxW", help="input size to export and check at (default: the model's input size)"
    )
    parser.add_argument(
        "--int8", action="store_true", help="also quantise to INT8 (static, QDQ), written beside as OUT.int8.onnx"
    )
    parser.add_argument("--calibration", metavar="DIR", help="folder of images for --int8 calibration")
    parser.add_argument(
        "--calibration-images", type=int, default=64, help="at most this many calibration images (default: 64)"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..deploy.export import export_onnx, parse_size
    from ..errors import LitedepthError
    from ..hub import open_model
    from ..outputs import OutputGuard
    from ..runtimes.onnx_convert import require_onnx

    require_onnx()
    if not args.onnx.endswith(".onnx"):
        raise LitedepthError(f"{args.onnx}: output must end in .onnx")
    if args.int8 and not args.calibration:
        raise LitedepthError("--int8 needs --calibration DIR (a folder of representative images)")
    size = parse_size(args.size) if args.size else None
    if Path(args.model).suffix.lower() == ".onnx":
        raise LitedepthError(
            f"{args.model}: already an ONNX model; export takes a .safetensors or .pt checkpoint, or an architecture name"
        )
    guard = OutputGuard(overwrite=args.overwrite)
    guard.add_input(args.model, "--model")
    guard.add_input(args.calibration, "--calibration")
    guard.file(args.onnx, "--onnx")
    int8_path = str(Path(args.onnx).with_suffix("")) + ".int8.onnx"
    if args.int8:
        guard.file(int8_path, "--onnx (its INT8 file)")
    model = open_model(args.model, args.arch)
    report = export_onnx(model, args.onnx, size=size, dynamic=args.dynamic, opset=args.opset)
    h, w = report.size
    axes = "dynamic batch/height/width" if report.dynamic else f"fixed 1x3x{h}x{w}"
    print(f"{args.model} ({model.arch}) -> {report.path}: opset {report.opset}, {axes}, BN folded")
    print(
        f"check vs PyTorch on {', '.join(report.checked)}: max abs diff {report.max_abs_diff:.3g} m (tolerance {report.tolerance:.3g})"
    )
    if args.int8:
        from ..deploy.quantize import quantize_int8

        q = quantize_int8(args.onnx, int8_path, args.calibration, max_images=args.calibration_images)
        print(
            f"INT8 -> {q.path}: {q.calibration_images} calibration images; vs float on {q.compared_images} images: "
            f"max abs change {q.max_abs_change:.3g} m, mean {q.mean_abs_change:.3g} m "
            f"(float output up to {q.float_abs_max:.3g} m)"
        )
    return 0
