"""``litedepth distill``: train a student to mimic a teacher (knowledge distillation)."""

from __future__ import annotations

import argparse

from .train import add_config_arguments, resolve

WRITES = True
HELP = "distil a teacher into a student (config file or shipped name, --teacher, --set overrides)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument(
        "--teacher",
        nargs="+",
        help="teacher: litedepth .safetensors, authors' .pt, .onnx, or a Hugging Face model folder; "
        "several: the mean of their predictions (default: distill.teacher of the config)",
    )
    parser.add_argument(
        "--teacher-arch", help="architecture of an authors' .pt teacher (default: guessed from its keys)"
    )
    add_teacher_conventions(parser)


# the options of `add_teacher_conventions`, as distill.* config keys
TEACHER_CONVENTIONS = ("teacher_input", "teacher_output", "teacher_shorter_side", "teacher_multiple")


def add_teacher_conventions(parser: argparse.ArgumentParser) -> None:
    """The options that declare what a teacher file without metadata takes and gives (``distill.teacher_*``)."""
    parser.add_argument(
        "--teacher-input",
        metavar="rgb255|rgb01|imagenet",
        help="what a teacher file without litedepth metadata takes: RGB 0..255, RGB / 255 or ImageNet-normalised "
        "(default: read from the file where it says, e.g. a TFLite's uint8 input = RGB bytes; else imagenet)",
    )
    parser.add_argument(
        "--teacher-output",
        metavar="metric|relative|disparity",
        help="what it predicts: metres, or depth or disparity up to scale and shift (default: from the file, else metric)",
    )
    parser.add_argument(
        "--teacher-shorter-side",
        type=int,
        metavar="PX",
        help="the shorter side the teacher sees whole images at (default: its own: a litedepth network's training "
        "scale, a fixed input size)",
    )
    parser.add_argument(
        "--teacher-multiple",
        type=int,
        metavar="N",
        help="its input sides are multiples of N (default: 32 with a shorter side)",
    )


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from ..errors import LitedepthError
    from ..training.loop import run as train_run

    # JSON strings are valid YAML scalars: paths with ':' or '#' survive the override parser.
    if args.teacher:
        teacher = args.teacher[0] if len(args.teacher) == 1 else args.teacher
        args.overrides = [*args.overrides, f"distill.teacher={json.dumps(teacher)}"]
    if args.teacher_arch:
        args.overrides = [*args.overrides, f"distill.teacher_arch={json.dumps(args.teacher_arch)}"]
    for key in TEACHER_CONVENTIONS:
        if getattr(args, key) is not None:
            args.overrides = [*args.overrides, f"distill.{key}={json.dumps(getattr(args, key))}"]
    cfg = resolve(args)
    if args.print_config:
        return 0
    if cfg.distill.teacher is None:
        raise LitedepthError(f"{args.config}: no teacher; pass --teacher PATH or set distill.teacher")
    path = train_run(cfg, teacher=None, resume=args.resume, overwrite=args.overwrite)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, only rank 0 reports
        print(path)
    return 0
