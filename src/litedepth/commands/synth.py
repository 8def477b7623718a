"""``litedepth synth``: write procedural indoor RGB-D images in the NYU-v2 download layout."""

from __future__ import annotations

import argparse

WRITES = True
HELP = "write synthetic indoor RGB-D images (NYU-v2 layout: data/nyu2_{train,test}.csv)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="ROOT", help="folder that will hold data/ (created if missing)")
    parser.add_argument("--n", required=True, type=int, help="number of images to write")
    parser.add_argument(
        "--split",
        default="test",
        metavar="{train,test}",
        help="test: PNG + 16-bit mm depth; train: JPEG + 8-bit depth (10/255 m) (default: test)",
    )
    parser.add_argument(
        "--preset",
        default="nyu",
        metavar="NAME",
        help="scene scale: nyu, scannet (closer) or hall (far, mismatched) (default: nyu)",
    )
    parser.add_argument(
        "--style",
        default="plain",
        metavar="NAME",
        help="realism effects: plain, real (clutter and room shapes: those that did not lower δ1 on real photos), "
        "or effects joined by + "
        "(depth, materials, lights, clutter, shapes, camera) (default: plain)",
    )
    parser.add_argument("--seed", type=int, default=0, help="image i of a seed is always the same (default: 0)")
    parser.add_argument("--size", default="480x640", metavar="HxW", help="image size (default: 480x640)")
    parser.add_argument("--workers", type=int, default=1, help="processes rendering in parallel (default: 1)")
    parser.add_argument(
        "--views-per-scene", type=int, default=4, help="train split: images per room folder (default: 4)"
    )
    parser.add_argument(
        "--holes",
        type=float,
        default=0.0,
        help="fraction of depth pixels zeroed like a depth sensor's holes (default: 0)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..synth.dataset import parse_size, write_dataset

    csv_path = write_dataset(
        args.out,
        args.n,
        split=args.split,
        preset=args.preset,
        seed=args.seed,
        size=parse_size(args.size),
        workers=args.workers,
        views_per_scene=args.views_per_scene,
        holes=args.holes,
        progress=not args.quiet,
        overwrite=args.overwrite,
        style=args.style,
    )
    style = "" if args.style == "plain" else f", style {args.style}"
    print(f"{csv_path}: {args.n} {args.split} images ({args.preset}, {args.size}{style})")
    return 0
