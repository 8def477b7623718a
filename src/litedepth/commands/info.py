"""``litedepth info``: what a model holds."""

from __future__ import annotations

import argparse

HELP = "show a model's architecture, parameters, GFLOPs at its input size and provenance"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", help="our .safetensors, an authors' .pt, an exported .onnx, or an architecture name (fresh weights)"
    )
    parser.add_argument("--arch", help="architecture name (needed for some .pt files; alone: the same as --model NAME)")
    parser.add_argument("--size", help="input size HxW for the GFLOPs count (default: the model's own)")


def run(args: argparse.Namespace) -> int:
    import json

    from ..deploy.flops import count_gflops, count_parameters, parse_size
    from .predict import load_for_inference

    model = load_for_inference(args.model, args.arch)
    onnx = hasattr(model, "proto")  # an OnnxDepthModel: counted from its graph
    size = parse_size(args.size) if args.size else (getattr(model, "static_size", None) or model.input_size)
    gflops = count_gflops(model, size)
    print(f"architecture : {model.arch}")
    print(
        f"parameters   : {count_parameters(model):,}"
        + (" (ONNX graph initializers; BatchNorm folded into the convolutions)" if onnx else "")
    )
    print(f"input size   : {model.input_size[0]}x{model.input_size[1]} (H x W)")
    if gflops is None:
        print(f"GFLOPs       : not known for this ONNX graph at {size[0]}x{size[1]} (a shape or an op it cannot count)")
    else:
        source = ", from the ONNX graph's Conv/Gemm/MatMul nodes" if onnx else ""
        print(f"GFLOPs       : {gflops:.2f} at {size[0]}x{size[1]} (2 FLOPs per multiply-add{source})")
    print(f"normalisation: mean {list(model.mean)}, std {list(model.std)}")
    if model.metadata:
        print(
            "provenance   : " + json.dumps(model.metadata, indent=2, sort_keys=True).replace("\n", "\n               ")
        )
    return 0
