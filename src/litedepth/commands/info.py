"""``litedepth info``: what a model holds; ``litedepth info hu2021:``: the authors' networks and their cache."""

from __future__ import annotations

import argparse

HELP = "show a model's architecture, parameters, GFLOPs at its input size and provenance (hu2021: lists the authors' networks)"
MODEL_HELP = (
    "our .safetensors, an authors' .pt, an exported .onnx, .xml, .tflite or NCNN folder, hu2021:NAME (the authors' networks; "
    "hu2021: alone lists them and what is cached), or an architecture name (fresh weights)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", metavar="MODEL", help=f"the same as --model: {MODEL_HELP}")
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--arch", help="architecture name (needed for some .pt files; alone: the same as --model NAME)")
    parser.add_argument("--size", help="input size HxW for the GFLOPs count (default: the model's own)")


def run(args: argparse.Namespace) -> int:
    from ..errors import LitedepthError
    from ..pretrained import HU2021_PREFIX

    if args.spec is not None and args.model is not None and args.spec != args.model:
        raise LitedepthError(f"MODEL {args.spec} and --model {args.model}: give one model")
    spec = args.spec if args.spec is not None else args.model
    if spec == HU2021_PREFIX:
        print_hu2021()
        return 0
    print_model(spec, args.arch, args.size)
    return 0


def print_hu2021() -> None:
    """The eight released networks: name, architecture, cached or not, what each was trained on."""
    from ..pretrained import HU2021_PREFIX, hu2021_folder, hu2021_networks, hu2021_url

    rows = hu2021_networks()
    print(f"the authors' released networks (Hu et al. 2021): --model {HU2021_PREFIX}NAME")
    print(f"cache folder : {hu2021_folder()} (LITEDEPTH_CACHE moves it)")
    print(f"downloaded   : on first use, all eight in one archive, from {hu2021_url()}")
    print("settings     : X = NYU-v2 labeled, U = ScanNet unlabeled (teacher's predictions), U' = ScanNet labeled")
    table = [("name", "architecture", "cached", "trained on")]
    table += [(r["name"], r["arch"], "yes" if r["cached"] else "no", r["trained_on"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    print(f"{sum(r['cached'] for r in rows)} of {len(rows)} cached")


def print_model(spec: str | None, arch: str | None, size_text: str | None) -> None:
    import json

    from ..deploy.flops import count_gflops, count_parameters
    from ..hub import open_model
    from ..preprocess import parse_size

    model = open_model(spec, arch)
    exported = hasattr(model, "proto") or hasattr(model, "parameter_count")  # an exported file: counted from it
    size = parse_size(size_text) if size_text else (getattr(model, "static_size", None) or model.input_size)
    gflops = count_gflops(model, size)
    print(f"architecture : {model.arch}")
    parameters = count_parameters(model)
    if parameters is None:
        print("parameters   : not readable from this file")
    else:
        where = " (ONNX graph initializers" if hasattr(model, "proto") else " (weights in the file"
        print(
            f"parameters   : {parameters:,}" + (f"{where}; BatchNorm folded into the convolutions)" if exported else "")
        )
    print(f"input size   : {model.input_size[0]}x{model.input_size[1]} (H x W)")
    runtime = getattr(model, "runtime", None)
    if gflops is None and runtime not in (None, "onnxruntime"):
        print(f"GFLOPs       : not counted for a {runtime} file (count the ONNX or .safetensors export)")
    elif gflops is None:
        print(f"GFLOPs       : not known for this ONNX graph at {size[0]}x{size[1]} (a shape or an op it cannot count)")
    else:
        source = ", from the ONNX graph's Conv/Gemm/MatMul nodes" if exported else ""
        print(f"GFLOPs       : {gflops:.2f} at {size[0]}x{size[1]} (2 FLOPs per multiply-add{source})")
    print(f"normalisation: mean {list(model.mean)}, std {list(model.std)}")
    if model.metadata:
        print(
            "provenance   : " + json.dumps(model.metadata, indent=2, sort_keys=True).replace("\n", "\n               ")
        )
