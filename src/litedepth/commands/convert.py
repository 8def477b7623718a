"""``litedepth convert``: an authors' ``.pt`` checkpoint (or ``hu2021:NAME``) to our ``.safetensors`` format."""

from __future__ import annotations

import argparse

WRITES = True
HELP = "convert an authors' .pt checkpoint into a litedepth .safetensors file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input",
        metavar="IN.pt",
        help="the authors' checkpoint (plain state dict, optional module. prefix), or hu2021:NAME (their "
        "released networks, downloaded once)",
    )
    parser.add_argument("--arch", help="architecture name (guessed from the keys when left out)")
    parser.add_argument("--out", required=True, help="output .safetensors path")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..checkpoint import save_model
    from ..errors import LitedepthError
    from ..hub import load
    from ..outputs import OutputGuard
    from ..pretrained import HU2021_PREFIX

    if not args.out.endswith(".safetensors"):
        raise LitedepthError(f"{args.out}: output must end in .safetensors")
    named = args.input.startswith(HU2021_PREFIX)
    if not named and not Path(args.input).is_file():
        raise LitedepthError(f"{args.input}: no such checkpoint file (convert reads the authors' .pt files)")
    guard = OutputGuard(overwrite=args.overwrite)
    guard.add_input(args.input, "IN.pt")
    guard.file(args.out, "--out")
    model = load(args.input, arch=args.arch)
    save_model(
        model,
        args.out,
        training={
            "converted_from": args.input if named else Path(args.input).name,
            "origin": "Hu et al. 2021 released checkpoint",
        },
    )
    print(f"{args.input} ({model.arch}) -> {args.out}")
    return 0
