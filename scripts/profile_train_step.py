"""Where a training step's time goes: the network alone (forward, the depth loss, backward, the
optimiser step) under PyTorch's profiler, in each memory layout, on random inputs.

    python scripts/profile_train_step.py --arch lite0-student --size 96x128 --batch 16 --threads 1

Prints the machine, each layout's images/s and its operators' share of the time, grouped into
convolutions (forward, backward), BatchNorm, activations, the loss and the optimiser.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_train import machine  # noqa: E402

GROUPS = {
    "convolution forward": ("mkldnn_convolution", "convolution_overrideable", "_convolution", "conv2d"),
    "convolution backward": ("convolution_backward",),
    "BatchNorm": ("batch_norm",),
    "activations": ("hardtanh", "relu", "threshold", "clamp", "silu", "sigmoid"),
    "optimiser": ("adam", "lerp", "addcmul", "addcdiv", "sqrt", "_foreach", "_fused"),
    "copies and layout": ("copy_", "contiguous", "clone", "to_copy", "empty"),
}


def group_of(name: str) -> str:
    low = name.lower()
    return next((group for group, keys in GROUPS.items() if any(k in low for k in keys)), "other (loss, resizes, ...)")


def profile(arch: str, size: tuple[int, int], batch: int, channels_last: bool, steps: int) -> tuple[float, dict]:
    from litedepth.config import Config
    from litedepth.models import create_model
    from litedepth.training.losses import DepthLoss
    from litedepth.training.optim import build_optimizer

    layout = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    model = create_model(arch, input_size=size).to(memory_format=layout).train()
    optimizer = build_optimizer(Config(), model.parameters())
    x = torch.randn(batch, 3, *size).contiguous(memory_format=layout)
    depth = torch.rand(batch, 1, *size) * 5 + 0.5
    loss_fn = DepthLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), depth, depth > 0).backward()
        optimizer.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    rate = batch * steps / (time.perf_counter() - t0)
    with torch.profiler.profile() as prof:
        for _ in range(steps):
            step()
    shares: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        shares[group_of(event.key)] += event.self_cpu_time_total
    total = sum(shares.values())
    return rate, {k: v / total for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="lite0-student")
    p.add_argument("--size", default="96x128", help="network input HxW")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    print(machine())
    for channels_last in (False, True):
        rate, shares = profile(args.arch, size, args.batch, channels_last, args.steps)
        layout = "NHWC (channels_last)" if channels_last else "NCHW"
        print(f"{args.arch} {layout}: {rate:.1f} img/s (network alone, batch {args.batch}, {args.threads} thread(s))")
        for group, share in shares.items():
            print(f"  {group:<28} {100 * share:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
