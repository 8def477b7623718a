"""``litedepth predict``: depth maps for images, folders or globs."""

from __future__ import annotations

import argparse

HELP = "predict depth maps for images (files, folders or globs)"
SAVE_KINDS = ("png16", "npy", "color")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (searched recursively) or glob patterns")
    parser.add_argument("--model", help="checkpoint: our .safetensors, an authors' .pt, or an exported .onnx")
    parser.add_argument("--arch", help="architecture name; with no --model, a freshly initialised network (for trying the tool)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--save", default="png16", help="comma list of png16 (16-bit PNG, millimetres), npy (float32 metres), color (RGB | colourised depth)")
    parser.add_argument("--colorbar", action="store_true", help="add a colour bar in metres to the color output")
    parser.add_argument("--cmap", default="magma_r", help="matplotlib colormap for the color output")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"))
    parser.add_argument("--device", default="cpu")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from ..errors import LitedepthError
    from ..fileio import atomic_path, save_npy, write_png16_mm
    from ..inference import collect_images, predict, to_pil
    from ..visualize import side_by_side

    kinds = [k.strip() for k in args.save.split(",") if k.strip()]
    bad = [k for k in kinds if k not in SAVE_KINDS]
    if bad or not kinds:
        raise LitedepthError(f"--save {args.save!r}: choose from {', '.join(SAVE_KINDS)}")
    if args.batch_size < 1:
        raise LitedepthError(f"--batch-size {args.batch_size}: must be at least 1")
    paths = collect_images(args.inputs)
    model = load_for_inference(args.model, args.arch, args.backend, args.device)
    out = Path(args.out)
    for start in tqdm(range(0, len(paths), args.batch_size), desc="predict", unit="batch", disable=len(paths) <= args.batch_size):
        batch = paths[start:start + args.batch_size]
        images = [to_pil(p) for p in batch]
        depths = predict(model, images, batch_size=args.batch_size)
        for path, image, depth in zip(batch, images, depths):
            if "png16" in kinds:
                write_png16_mm(out / f"{path.stem}.png", depth)
            if "npy" in kinds:
                save_npy(out / f"{path.stem}.npy", depth)
            if "color" in kinds:
                with atomic_path(out / f"{path.stem}_color.png") as tmp:
                    side_by_side(image, depth, colorbar=args.colorbar, cmap=args.cmap).save(tmp, format="PNG")
    print(f"wrote {len(paths)} depth map(s) to {out}")
    return 0


def load_for_inference(model_path: str | None, arch: str | None, backend: str = "torch", device: str = "cpu"):
    """The network a command runs: a checkpoint, an ONNX file, or (no path) a fresh ``arch``."""
    import sys

    from ..checkpoint import load
    from ..errors import LitedepthError
    from ..models import ARCHITECTURES, create_model

    if model_path is None:
        if arch is None:
            raise LitedepthError("no model: give --model PATH (or --arch NAME for a freshly initialised network)")
        if arch not in ARCHITECTURES:
            raise LitedepthError(f"--arch {arch!r}: unknown architecture; known: {', '.join(ARCHITECTURES)}")
        print(f"warning: no --model given; using a freshly initialised {arch} (random weights, meaningless depth)", file=sys.stderr)
        model = create_model(arch).eval()
        if backend == "onnxruntime":
            from ..onnx_model import OnnxDepthModel
            from ..export import onnx_bytes

            return OnnxDepthModel(onnx_bytes(model, dynamic=True), name=arch)
        return model
    if backend == "onnxruntime" or model_path.endswith(".onnx"):
        if backend == "torch" and model_path.endswith(".onnx"):
            print(f"note: {model_path} is an ONNX file; running it with ONNX Runtime", file=sys.stderr)
        from ..onnx_model import load_any

        return load_any(model_path, arch=arch, backend="onnxruntime")
    return load(model_path, arch=arch, map_location=device)
