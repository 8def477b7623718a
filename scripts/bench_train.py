"""Training throughput (images/s) of a few architectures in a few precisions, data loading included,
and of the input pipeline alone.

Generates synthetic 480x640 rooms once (``--data``), then trains each architecture for two epochs
with `litedepth.training.loop.run` (the real loop: DataLoader workers, augmentation, optimiser) and
reports the second epoch's images/s (the first warms up workers, allocator and kernels). Before
that, the input pipeline alone: the training set's items through a DataLoader with one worker
(images/s per worker), and with the tensor pipeline the batched augmentation on the device
(images/s), at ``--size`` and at ``--pipeline-size``; no network.

    python scripts/bench_train.py --archs hu2021-student,hu2021-teacher --precisions fp32,bf16 \
        --size 228x304 --batch 32 --images 512 --workers 12 --json out.json

Prints the machine (CPU model and flags, GPU name, torch) with the table. Works with the
litedepth found on ``PYTHONPATH`` (older versions without ``train.precision`` run fp32 only;
versions without ``augment.pipeline`` have the PIL pipeline only).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch


def machine() -> str:
    """One line: the CPU, its cores and vector extensions, the GPU and torch (litedepth's own reading where it has one)."""
    try:
        from litedepth.deploy.bench import cpu_isa, cpu_model

        cpu, isa = cpu_model(), " ".join(cpu_isa()) or "no AVX2"
    except ImportError:  # a litedepth from before the runtime bench
        cpu, isa = platform.processor() or platform.machine(), "extensions not listed by this litedepth"
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{cpu} ({os.cpu_count()} cores; {isa}); {gpu}; torch {torch.__version__}"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--archs", default="hu2021-student,hu2021-teacher")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--size", default="228x304", help="network input HxW")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--images", type=int, default=512, help="images per epoch")
    p.add_argument("--workers", type=int, default=min(12, max(0, (os.cpu_count() or 1) - 2)), help="DataLoader workers")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help="set train.channels_last (default: the config's default)",
    )
    p.add_argument("--compile", action="store_true", help="set train.compile (torch.compile the network)")
    p.add_argument("--pipeline", choices=("tensor", "pil"), help="augment.pipeline (default: the config's default)")
    p.add_argument("--pipeline-size", default="228x304", help="also time the input pipeline alone at this HxW")
    p.add_argument("--no-pipeline", action="store_true", help="skip the input pipeline's timing")
    p.add_argument("--data", help="folder of generated images (made if missing; default: a temporary folder)")
    p.add_argument("--json", help="write the rows here")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)  # litedepth's progress messages
    h, w = (int(v) for v in args.size.lower().split("x"))
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    data = make_data(Path(args.data) if args.data else work / "data", args.images)
    print(machine())
    rows = []
    if not args.no_pipeline:
        sizes = dict.fromkeys([(h, w), tuple(int(v) for v in args.pipeline_size.lower().split("x"))])
        for size in sizes:
            rows.append(bench_pipeline(size, args, data, work / "pipeline"))
    for arch in filter(None, args.archs.split(",")):
        for precision in args.precisions.split(","):
            row = bench(arch, precision, (h, w), args, data, work / f"{arch}-{precision}")
            if row is not None:
                rows.append(row)
                print(
                    f"{arch:>16} {precision:>5} {row['layout']}{' compiled' if row['compile'] else ''}"
                    f"  {row['images_per_s']:8.1f} img/s  (first epoch {row['first_epoch_images_per_s']:.1f})",
                    flush=True,
                )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return 0


def make_data(data: Path, images: int) -> Path:
    """``images`` synthetic 480x640 training images in ``data``, generated unless they are there already."""
    from litedepth.synth.dataset import write_dataset

    csv = data / "data" / "nyu2_train.csv"
    held = sum(1 for _ in csv.open()) if csv.is_file() else 0
    if held and held != images:
        raise SystemExit(f"--data {data}: holds {held} generated images, not --images {images}; give another --data")
    if not held:
        t0 = time.perf_counter()
        write_dataset(data, images, split="train", size=(480, 640), workers=max(1, os.cpu_count() or 1), progress=False)
        print(f"generated {images} images at 480x640 in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return data


def config(arch: str, size: tuple[int, int], args: argparse.Namespace, data: Path, train: dict):
    """The benchmark's training config; ``augment.pipeline`` and ``data.store_dir`` where this litedepth has them."""
    from litedepth.config import AugmentConfig, Config, DataConfig

    data_section = {"sources": [{"path": str(data), "kind": "nyu"}], "workers": args.workers}
    if "store_dir" in {f.name for f in dataclasses.fields(DataConfig)}:
        data_section["store_dir"] = str(data.parent / "sample-stores")  # built once, kept with the images
    augment = {"pipeline": args.pipeline} if args.pipeline else {}
    if augment and "pipeline" not in {f.name for f in dataclasses.fields(AugmentConfig)}:
        raise SystemExit(f"--pipeline {args.pipeline}: this litedepth has the PIL pipeline only")
    return Config.from_dict(
        {
            "name": "bench",
            "model": {"arch": arch, "input_size": list(size)},
            "data": data_section,
            "augment": augment,
            "train": train,
        }
    )


def bench_pipeline(size: tuple[int, int], args: argparse.Namespace, data: Path, out: Path) -> dict:
    """The input pipeline alone at ``size``: items/s of one DataLoader worker, and of the device augmentation."""
    from litedepth.training import mixing

    cfg = config("lite0-student", size, args, data, {"device": args.device, "progress": False, "out_dir": str(out)})
    t0 = time.perf_counter()
    trainset = mixing.build_training_set(cfg)
    prepared = time.perf_counter() - t0
    sampler = mixing.EpochSampler(len(trainset), seed=0)
    loader = torch.utils.data.DataLoader(
        trainset, batch_size=args.batch, sampler=sampler, num_workers=1, persistent_workers=True, prefetch_factor=4
    )
    batches, seconds = [], float("inf")
    for epoch in range(3):  # the first warms the worker up; the best of the other two
        sampler.set_epoch(epoch)
        t0 = time.perf_counter()
        batches = list(loader)
        seconds = time.perf_counter() - t0 if epoch == 1 else min(seconds, time.perf_counter() - t0)
    recipe = getattr(trainset, "recipe", None)
    row = {"pipeline": "pil" if recipe is None else "tensor", "size": f"{size[0]}x{size[1]}", "images": len(trainset)}
    row.update(worker_images_per_s=round(len(trainset) / seconds, 1), prepare_s=round(prepared, 1))
    if recipe is not None:
        from litedepth.data.batch_augment import BatchAugment

        augment, device = BatchAugment(recipe, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), _device(args.device)
        with torch_threads(args.threads):
            mixing.prepare_batch(batches[0], augment, device)
            t0 = time.perf_counter()
            for batch in batches:
                mixing.prepare_batch(batch, augment, device)["image"].sum().item()
            row["device_augment_images_per_s"] = round(len(trainset) / (time.perf_counter() - t0), 1)
    extra = f", device augmentation {row['device_augment_images_per_s']:.0f} img/s" if recipe is not None else ""
    print(
        f"input pipeline ({row['pipeline']}, {row['size']}): {row['worker_images_per_s']:.1f} img/s per worker{extra}"
        f" (set-up {prepared:.1f} s)",
        flush=True,
    )
    return row


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class torch_threads:
    """``torch.set_num_threads(n)`` inside the block (n None: unchanged)."""

    def __init__(self, n: int | None) -> None:
        self.n, self.saved = n, torch.get_num_threads()

    def __enter__(self) -> None:
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self.saved)


def bench(arch: str, precision: str, size: tuple[int, int], args: argparse.Namespace, data: Path, out: Path):
    """Two epochs of ``arch`` in ``precision``: the row of its images/s, or None (not supported, or failed)."""
    from litedepth.config import TrainConfig
    from litedepth.training.loop import run

    has_precision = "precision" in {f.name for f in dataclasses.fields(TrainConfig)}
    if precision != "fp32" and not has_precision:
        return None
    train = {
        "epochs": 2,
        "batch_size": args.batch,
        "device": args.device,
        "progress": False,
        "threads": args.threads,
        "out_dir": str(out),
    }
    if has_precision:
        train.update(precision=precision)
    if args.channels_last is not None:
        train.update(channels_last=args.channels_last)
    if args.compile:
        train.update(compile=True)
    cfg = config(arch, size, args, data, train)
    try:
        run(cfg)
    except Exception as exc:  # keep the rows that finished
        print(
            f"{arch} {precision}: failed ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
            file=sys.stderr,
        )
        return None
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {
        "arch": arch,
        "precision": precision,
        "size": f"{size[0]}x{size[1]}",
        "batch": args.batch,
        "workers": args.workers,
        "layout": "NHWC" if getattr(cfg.train, "channels_last", False) else "NCHW",
        "compile": bool(getattr(cfg.train, "compile", False)),
        "images_per_s": round(epochs[-1]["images_per_s"], 1),
        "first_epoch_images_per_s": round(epochs[0]["images_per_s"], 1),
    }


if __name__ == "__main__":
    sys.exit(main())
