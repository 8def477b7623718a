"""``litedepth train``: supervised training of any named architecture from a YAML config."""

from __future__ import annotations

import argparse

WRITES = True
HELP = "train a depth network on labeled data (config file or shipped name, --set overrides)"


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``train`` and ``distill``."""
    parser.add_argument(
        "--config", required=True, help="YAML config file, or a shipped name (synth-teacher, nyu-teacher, ...)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=5 --set data.sources.0.path=data/nyu (repeatable)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from OUT_DIR/last.pt when it exists")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def resolve(args: argparse.Namespace):
    from ..config import dump_config, load_config

    cfg = load_config(args.config, args.overrides)
    if args.print_config:
        print(dump_config(cfg), end="")
    return cfg


def run(args: argparse.Namespace) -> int:
    import os

    from ..training.loop import run as train_run

    cfg = resolve(args)
    if args.print_config:
        return 0
    if cfg.distill.teacher is not None:
        from ..errors import LitedepthError

        raise LitedepthError(f"{args.config}: sets distill.teacher; use litedepth distill for distillation")
    path = train_run(cfg, teacher=None, resume=args.resume, overwrite=args.overwrite)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, only rank 0 reports
        print(path)
    return 0
