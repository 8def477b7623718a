"""``litedepth bench``: parameters, GFLOPs and latency of models per backend on this machine."""

from __future__ import annotations

import argparse

WRITES = True
HELP = "benchmark models (checkpoints, hu2021:NAME or architecture names): params, GFLOPs, latency per backend"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="comma-separated checkpoints (.safetensors, .pt) or exports (.onnx, .xml, .tflite, NCNN folder), hu2021:NAME (the authors' networks) "
        "or architecture names (fresh weights)",
    )
    parser.add_argument("--arch", help="architecture name (needed for some .pt files)")
    parser.add_argument(
        "--backend",
        default="torch,onnxruntime",
        help="comma-separated: torch (plain and optimised eager), torch-optimised, onnxruntime, openvino, tflite, ncnn; "
        "or all (those installed) (default: torch,onnxruntime). Exported files run in the runtimes that can run them",
    )
    parser.add_argument(
        "--size",
        metavar="HxW",
        help="one input size for every model (default: each model's own: a network's input size, a static ONNX file's fixed size)",
    )
    parser.add_argument("--batch", type=int, default=1, help="batch size (default: 1)")
    parser.add_argument(
        "--threads",
        help="threads for every runtime; a comma list times each row at each (e.g. 1,all; all: the usable cores) "
        "(default: each library's own)",
    )
    parser.add_argument("--runs", type=int, default=30, help="timed runs per model and backend (default: 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed warm-up runs (default: 5)")
    parser.add_argument("--json", metavar="OUT.json", help="write machine, settings and results as JSON")


def parse_threads(text: str | None) -> list[int | None] | None:
    """``--threads``: None, or a list of positive ints ("all": the usable cores), or one line."""
    import os

    from ..errors import LitedepthError

    if text is None:
        return None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    counts = []
    for item in (t.strip() for t in str(text).split(",")):
        value = usable if item == "all" else int(item) if item.lstrip("-").isdigit() else None
        if value is None or value < 1:
            raise LitedepthError(
                f"--threads {text}: must be at least 1, or all (leave it out for each library's own default)"
            )
        counts.append(value)
    return list(dict.fromkeys(counts))


def installed_backends(note) -> list[str]:
    """``--backend all``: torch and every runtime whose packages import; ``note`` gets one line for those left out."""
    import importlib

    needs = {"onnxruntime": ("onnx", "onnxruntime"), "openvino": ("openvino",), "tflite": ("ai_edge_litert",)}
    needs["ncnn"] = ("ncnn", "pnnx")
    found, missing = ["torch"], []
    for backend, modules in needs.items():
        try:
            for module in modules:
                importlib.import_module(module)
            found.append(backend)
        except ImportError:
            missing.append(backend)
    if missing:
        note(f"note: --backend all: {', '.join(missing)} not installed, left out")
    return found


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..deploy.bench import benchmark, failure_summary, format_table
    from ..deploy.export import parse_size
    from ..errors import LitedepthError
    from ..fileio import atomic_path
    from ..output_kinds import WRITTEN_BY
    from ..outputs import OutputGuard
    from ..runtimes.onnx_convert import require_onnx

    threads = parse_threads(args.threads)
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    every = backends == ["all"]
    if every:
        backends = installed_backends(lambda msg: print(msg, file=sys.stderr))
    if "onnxruntime" in backends:
        require_onnx()
    models = [m.strip() for m in args.model.split(",") if m.strip()]
    if args.json:  # refused before the benchmark runs, not after
        guard = OutputGuard(overwrite=args.overwrite)
        for model in models:
            guard.add_input(model, "--model")
        guard.file(args.json, "--json")
    result = benchmark(
        models,
        backends=backends,
        size=parse_size(args.size) if args.size else None,
        batch=args.batch,
        threads=threads,
        runs=args.runs,
        warmup=args.warmup,
        arch=args.arch,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
        skip_missing=every,
    )
    if result["results"]:  # what finished is kept, even when another model failed
        print(format_table(result))
        if args.json:
            with atomic_path(args.json) as tmp:
                tmp.write_text(json.dumps({"written_by": WRITTEN_BY, **result}, indent=2) + "\n")
            print(f"wrote {args.json}")
    if result["failed"]:
        raise LitedepthError(f"{failure_summary(result, models)} (see the lines above)")
    return 0
