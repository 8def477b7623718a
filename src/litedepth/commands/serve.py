"""``litedepth serve``: the web demo (needs ``pip install 'litedepth[demo]'``)."""

from __future__ import annotations

import argparse

HELP = "serve a web demo: upload a photo, see its depth, point cloud and latency, download PNG16/NPY/PLY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        help="a model to offer (.safetensors, .pt, .onnx, hu2021:NAME or an architecture name), "
        "optionally as NAME=PATH; repeat for several. Unnamed models are called by architecture and the end "
        "of their path that tells them apart, e.g. 'fast-student (runA)'",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument(
        "--port", type=int, default=7860, help="port to listen on (default 7860); a busy one is refused at once"
    )
    parser.add_argument(
        "--max-side", type=int, default=2048, help="photos larger than this (px, longer side) are scaled down"
    )
    parser.add_argument(
        "--max-file-size", default="20mb", help="upload limit: a number and a unit (b, kb, mb, gb), default 20mb"
    )


def run(args: argparse.Namespace) -> int:
    from ..apps.serve import serve
    from ..errors import LitedepthError

    if not 0 < args.port < 65536 or args.max_side < 32:
        raise LitedepthError(
            f"--port {args.port} / --max-side {args.max_side}: need a port in 1..65535 and a side of at least 32 px"
        )
    serve(
        args.model,
        host=args.host,
        port=args.port,
        max_side=args.max_side,
        max_file_size=args.max_file_size,
        announce=lambda line: print(line, flush=True),  # the address, before the server listens
    )
    return 0
