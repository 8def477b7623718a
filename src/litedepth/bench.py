"""Speed and size of depth networks: parameters, GFLOPs and latency per backend, on this machine.

>>> result = benchmark(["hu2021-student", "fast-student"], backends=("torch", "onnxruntime"))
>>> print(format_table(result))

Backends (one row each):

- ``torch``: PyTorch eager, the module as built, under ``torch.no_grad()``;
- ``torch-optimised``: `litedepth.optimize.optimize_for_inference` (BN folded,
  channels-last for depthwise networks) under ``torch.inference_mode()``;
- ``onnxruntime``: exported in memory (BN folded, static shape), CPU provider, all
  graph optimisations.

``--backend torch`` runs both torch rows. GFLOPs follow the usual convention
GFLOPs = 2 x GMACs (counted by ``torch.utils.flop_counter.FlopCounterMode``; the paper's
student is 8.04 GFLOPs at 228x304). Latency is the wall time of one forward pass of a
``(batch, 3, H, W)`` input, median and 90th percentile over ``runs`` timed passes after
``warmup`` untimed ones.
"""

from __future__ import annotations

import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from .errors import LitedepthError
from .profile import count_gflops, count_parameters

BACKEND_CHOICES = ("torch", "torch-optimised", "onnxruntime")


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, OS and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = None
    return info


def time_callable(fn: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    """Seconds per call of ``fn`` for ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Temporarily set PyTorch's intra-op thread count (no change when ``threads`` is None)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resolve_model(spec: str, arch: str | None, size: tuple[int, int]):
    """``spec`` is an architecture name (fresh weights) or a checkpoint / ONNX path.

    Returns ``(torch_model_or_None, onnx_model_or_None, label)``.
    """
    from .models import ARCHITECTURES, create_model

    if not Path(spec).exists() and spec in ARCHITECTURES:
        return create_model(spec, input_size=size).eval(), None, spec
    if spec.lower().endswith(".onnx"):
        from .onnx_model import OnnxDepthModel

        onnx = OnnxDepthModel(spec)
        return None, onnx, spec
    if not Path(spec).exists():
        raise LitedepthError(f"{spec}: neither a file nor an architecture name (known: {', '.join(ARCHITECTURES)})")
    from .checkpoint import load

    return load(spec, arch=arch), None, spec


def _row(model: str, arch: str, backend: str, times: list[float], batch: int, **extra: Any) -> dict[str, Any]:
    ms = np.asarray(times) * 1000.0
    median = float(np.median(ms))
    return {
        "model": model,
        "arch": arch,
        "backend": backend,
        **extra,
        "latency_ms_median": round(median, 3),
        "latency_ms_p90": round(float(np.percentile(ms, 90)), 3),
        "latency_ms_min": round(float(ms.min()), 3),
        "images_per_s": round(batch * 1000.0 / median, 2),
        "runs": len(times),
    }


def benchmark(
    models: Sequence[str],
    backends: Sequence[str] = ("torch", "onnxruntime"),
    size: tuple[int, int] = (228, 304),
    batch: int = 1,
    threads: int | None = None,
    runs: int = 30,
    warmup: int = 5,
    arch: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure every model with every backend; returns a JSON-ready dict (``machine``, ``settings``, ``results``).

    ``models``: architecture names (fresh weights) or paths (``.safetensors``, ``.pt``, ``.onnx``).
    ``backends``: any of ``torch`` (plain and optimised eager rows), ``torch-optimised``, ``onnxruntime``.
    ``threads``: intra-op threads for both libraries (default: each library's own choice).
    """
    if runs < 1 or warmup < 0 or batch < 1:
        raise LitedepthError(f"runs {runs}, warmup {warmup}, batch {batch}: need runs >= 1, warmup >= 0, batch >= 1")
    for b in backends:
        if b not in BACKEND_CHOICES:
            raise LitedepthError(f"backend {b!r}: expected one of {', '.join(BACKEND_CHOICES)}")
    rows = ["torch", "torch-optimised"] if "torch" in backends else []
    rows += [b for b in ("torch-optimised", "onnxruntime") if b in backends and b not in rows]
    log = log or (lambda msg: None)
    x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(0))
    results: list[dict[str, Any]] = []
    with torch_threads(threads):
        for spec in models:
            net, onnx_model, label = resolve_model(spec, arch, size)
            net_arch = (net or onnx_model).arch
            if net is not None:
                facts = {"params": count_parameters(net), "gflops": round(count_gflops(net, size), 3)}
            else:
                facts = {"params": None, "gflops": None}
            for backend in rows:
                if net is None and backend != "onnxruntime":
                    continue  # an ONNX file has no torch module to time
                log(f"{label}: {backend} ...")
                if backend == "torch":
                    with torch.no_grad():
                        times = time_callable(lambda: net(x), runs, warmup)
                    results.append(_row(label, net_arch, backend, times, batch, **facts))
                elif backend == "torch-optimised":
                    from .optimize import has_depthwise, optimize_for_inference

                    channels_last = has_depthwise(net)
                    fast = optimize_for_inference(net, channels_last=channels_last, example=x[:1])
                    with torch.inference_mode():
                        times = time_callable(lambda: fast(x), runs, warmup)
                    results.append(_row(label, net_arch, backend, times, batch, **facts,
                                        options="bn_folded+channels_last" if channels_last else "bn_folded"))
                else:
                    results.append(_onnx_row(net, onnx_model, label, net_arch, x, size, batch, threads, runs, warmup, facts))
    settings = {"size": list(size), "batch": batch, "threads": threads, "runs": runs, "warmup": warmup, "backends": rows}
    return {"machine": machine_info(), "settings": settings, "results": results}


def _onnx_row(net, onnx_model, label, net_arch, x, size, batch, threads, runs, warmup, facts) -> dict[str, Any]:
    from .onnx_model import OnnxDepthModel

    if onnx_model is None:
        from .export import onnx_bytes

        onnx_model = OnnxDepthModel(onnx_bytes(net, size=size, dynamic=batch != 1), threads=threads, name=label)
    elif threads:
        onnx_model = OnnxDepthModel(label, threads=threads)
    feed = {onnx_model.session.get_inputs()[0].name: x.numpy()}
    session = onnx_model.session
    if onnx_model.static_size is not None and tuple(onnx_model.static_size) != tuple(size):
        raise LitedepthError(f"{label}: exported for {onnx_model.static_size}, not the benchmark size {tuple(size)}")
    times = time_callable(lambda: session.run(None, feed), runs, warmup)
    return _row(label, net_arch, "onnxruntime", times, batch, **facts)


def format_table(result: dict[str, Any]) -> str:
    """The results as an aligned plain-text table, with the machine and settings above it."""
    m, s = result["machine"], result["settings"]
    lines = [
        f"machine: {m['cpu']}, {m['usable_cores']} usable cores; torch {m['torch']}, onnxruntime {m['onnxruntime']}",
        f"input {s['batch']}x3x{s['size'][0]}x{s['size'][1]}, threads {s['threads'] or 'default'}, "
        f"{s['runs']} runs after {s['warmup']} warm-up",
    ]
    header = ("model", "backend", "params", "GFLOPs", "median ms", "p90 ms", "images/s")
    table = [header]
    for r in result["results"]:
        params = f"{r['params']:,}" if r["params"] is not None else "-"
        gflops = f"{r['gflops']:.2f}" if r["gflops"] is not None else "-"
        table.append((r["model"], r["backend"], params, gflops, f"{r['latency_ms_median']:.1f}",
                      f"{r['latency_ms_p90']:.1f}", f"{r['images_per_s']:.1f}"))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for k, row in enumerate(table):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
