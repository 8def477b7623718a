"""``litedepth eval``: metrics of a depth network on a labeled dataset under a named protocol."""

from __future__ import annotations

import argparse

from .predict import add_backend_argument

WRITES = True
HELP = "evaluate a model on a labeled RGB-D dataset (NYU-v2 CSV/.mat, or generic pairs) under hu2021 or eigen"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help="our .safetensors, an authors' .pt, an exported .onnx, .xml (OpenVINO), .tflite or NCNN folder, "
        "hu2021:NAME (the authors' networks), "
        "or an architecture name (fresh weights)",
    )
    parser.add_argument("--arch", help="architecture name (needed for some .pt files; alone: the same as --model NAME)")
    parser.add_argument(
        "--data",
        required=True,
        help="NYU root (holding data/), a CSV of rgb,depth pairs, nyu_depth_v2_labeled.mat, or a folder of pairs",
    )
    parser.add_argument("--split", default="test", help="dataset split for NYU roots and .mat files (default: test)")
    parser.add_argument(
        "--depth-scale",
        metavar="UNITS_PER_M",
        help="raw depth units per metre for generic RGB-D folders and CSVs: 1000 for mm PNG, 5000 for TUM, "
        "1 for float .npy metres (default: 1000 for integer files, 1 for float .npy); "
        "refused for NYU layouts and .mat files, whose scale is fixed",
    )
    parser.add_argument(
        "--protocol",
        default="hu2021",
        choices=["hu2021", "eigen"],
        help="evaluation protocol (default: hu2021, the paper's)",
    )
    parser.add_argument("--json", metavar="OUT.json", help="write metrics and provenance as JSON")
    parser.add_argument("--per-image", metavar="OUT.csv", help="write per-image metrics as CSV")
    parser.add_argument("--save-predictions", metavar="DIR", help="write predictions as 16-bit PNGs in millimetres")
    add_align_arguments(parser)
    parser.add_argument(
        "--batch-size", type=int, default=1, help="images per forward pass (default: 1; results do not change)"
    )
    parser.add_argument("--workers", type=int, default=0, help="data-loading worker processes (default: 0)")
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip unreadable or invalid items instead of stopping; they are listed and counted",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    add_backend_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_align_arguments(parser: argparse.ArgumentParser) -> None:
    """--align and --align-space (`litedepth.evaluation.align`)."""
    parser.add_argument(
        "--align",
        default="none",
        choices=("none", "median", "lstsq"),
        help="per-image alignment before the metrics: none (default: the protocol's metric depth), median "
        "(scale by median(gt)/median(pred)), lstsq (least-squares scale and shift, see --align-space)",
    )
    parser.add_argument(
        "--align-space",
        choices=("depth", "disparity"),
        help="space of the --align median or lstsq fit: depth (metres, the default) or disparity "
        "(1/depth, as MiDaS and Depth Anything); refused with --align none",
    )


def align_space_of(args: argparse.Namespace) -> str:
    """The space of the alignment fit (default depth); one line for --align-space with --align none, which fits nothing."""
    from ..errors import LitedepthError

    if args.align_space is not None and args.align == "none":
        raise LitedepthError(
            f"--align-space {args.align_space}: only with --align median or lstsq (--align none fits nothing)"
        )
    return args.align_space or "depth"


def run(args: argparse.Namespace) -> int:
    import sys

    from ..data import check_depth_scale
    from ..data.listed import listed_files
    from ..errors import LitedepthError
    from ..evaluation.loop import evaluate
    from ..hub import open_model
    from ..outputs import OutputGuard, write_marker

    if args.batch_size < 1:
        raise LitedepthError(f"--batch-size {args.batch_size}: must be at least 1")
    align_space = align_space_of(args)
    depth_scale = check_depth_scale(args.depth_scale, name="--depth-scale")
    guard = OutputGuard(overwrite=args.overwrite)
    guard.add_input(args.data, "--data")
    guard.add_listed(listed_files(args.data), "--data")  # the photos and depth maps its CSV names
    guard.add_input(args.model, "--model")
    if args.save_predictions:
        guard.folder(args.save_predictions, "--save-predictions", kind="predictions")
    for path, option in ((args.json, "--json"), (args.per_image, "--per-image")):
        if path:
            guard.file(path, option)
    model = open_model(args.model, args.arch, backend=args.backend, device=args.device)
    if args.save_predictions:
        write_marker(args.save_predictions, "predictions")
    result = evaluate(
        model,
        args.data,
        protocol=args.protocol,
        batch_size=args.batch_size,
        device=args.device,
        skip_bad=args.skip_bad,
        progress=not args.no_progress,
        split=args.split,
        depth_scale=depth_scale,
        num_workers=args.workers,
        save_predictions=args.save_predictions,
        align=args.align,
        align_space=align_space,
    )
    result.extras["model"] = args.model or args.arch
    print(result.format_table())
    for line in result.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if result.nonpositive_pixels:
        print(
            f"warning: {result.nonpositive_pixels} valid pixel(s) have a prediction <= 0 (see note above)",
            file=sys.stderr,
        )
    if args.json:
        result.write_json(args.json)
    if args.per_image:
        result.write_per_image_csv(args.per_image)
    return 0
