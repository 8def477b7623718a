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
    cfg = resolve(args)
    if args.print_config:
        return 0
    if cfg.distill.teacher is None:
        raise LitedepthError(f"{args.config}: no teacher; pass --teacher PATH or set distill.teacher")
    path = train_run(cfg, teacher=None, resume=args.resume, overwrite=args.overwrite)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, only rank 0 reports
        print(path)
    return 0
