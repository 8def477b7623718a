"""``litedepth info``: what a checkpoint holds."""

from __future__ import annotations

import argparse

HELP = "show a model's architecture, parameters, GFLOPs at its input size and provenance"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint (.safetensors or authors' .pt)")
    parser.add_argument("--arch", help="architecture name (needed for some .pt files; alone: a fresh network)")
    parser.add_argument("--size", help="input size HxW for the GFLOPs count (default: the model's own)")


def run(args: argparse.Namespace) -> int:
    import json

    from ..commands.predict import load_for_inference
    from ..profile import count_gflops, count_parameters, parse_size

    model = load_for_inference(args.model, args.arch)
    size = parse_size(args.size) if args.size else model.input_size
    print(f"architecture : {model.arch}")
    print(f"parameters   : {count_parameters(model):,}")
    print(f"input size   : {model.input_size[0]}x{model.input_size[1]} (H x W)")
    print(f"GFLOPs       : {count_gflops(model, size):.2f} at {size[0]}x{size[1]} (2 FLOPs per multiply-add)")
    print(f"normalisation: mean {list(model.mean)}, std {list(model.std)}")
    if model.metadata:
        print("provenance   : " + json.dumps(model.metadata, indent=2, sort_keys=True).replace("\n", "\n               "))
    return 0
