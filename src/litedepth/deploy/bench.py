"""Speed and size of depth networks: parameters, GFLOPs and latency per backend, on this machine.

>>> result = benchmark(["hu2021-student", "fast-student"], backends=("torch", "onnxruntime"))
>>> print(format_table(result))

Backends (one row each):

- ``torch``: PyTorch eager, the module as built, under ``torch.no_grad()``;
- ``torch-optimised``: `litedepth.runtimes.fold_batchnorm.optimize_for_inference` (BN folded,
  channels-last for depthwise networks) under ``torch.inference_mode()``;
- ``onnxruntime``: exported in memory (BN folded, static shape), CPU provider, all
  graph optimisations.

``--backend torch`` runs both torch rows. GFLOPs follow the usual convention
GFLOPs = 2 x GMACs (counted by ``torch.utils.flop_counter.FlopCounterMode``; the paper's
student is 8.04 GFLOPs at 228x304). Latency is the wall time of one forward pass of a
``(batch, 3, H, W)`` input, median and 90th percentile over ``runs`` timed passes after
``warmup`` untimed ones. Each model runs at its own input size (a network's ``input_size``,
a static ONNX export's fixed size) unless one ``size`` is given for all.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import LitedepthError
from .flops import count_gflops, count_parameters

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


def model_size(model) -> tuple[int, int]:
    """The input size a model is timed at by default: a static ONNX export's fixed size, else ``input_size``."""
    return tuple(getattr(model, "static_size", None) or model.input_size)


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
    size: tuple[int, int] | None = None,
    batch: int = 1,
    threads: int | None = None,
    runs: int = 30,
    warmup: int = 5,
    arch: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure every model with every backend; returns a JSON-ready dict (``machine``, ``settings``, ``results``, ``failed``).

    ``models``: anything `litedepth.load` opens: architecture names (fresh weights), ``hu2021:NAME``
    or paths (``.safetensors``, ``.pt``, ``.onnx``).
    ``backends``: any of ``torch`` (plain and optimised eager rows), ``torch-optimised``, ``onnxruntime``.
    ``size``: ``(H, W)`` for every model; None: each model at its own (`model_size`), recorded per row.
    ``threads``: intra-op threads for both libraries (default: each library's own choice).

    A model that fails (cannot be opened, or a backend cannot run it) is logged in one line and
    listed in ``failed`` (``model``, ``backend`` or None, ``error``); the rows that finished are kept.
    """
    if runs < 1 or warmup < 0 or batch < 1:
        raise LitedepthError(f"runs {runs}, warmup {warmup}, batch {batch}: need runs >= 1, warmup >= 0, batch >= 1")
    for b in backends:
        if b not in BACKEND_CHOICES:
            raise LitedepthError(f"backend {b!r}: expected one of {', '.join(BACKEND_CHOICES)}")
    rows = ["torch", "torch-optimised"] if "torch" in backends else []
    rows += [b for b in ("torch-optimised", "onnxruntime") if b in backends and b not in rows]
    bench = _Bench(rows, size, batch, threads, runs, warmup, log or (lambda msg: None))
    with torch_threads(threads):
        for spec in models:
            bench.measure(spec, arch)
    settings = {
        "size": list(size) if size else None,
        "batch": batch,
        "threads": threads,
        "runs": runs,
        "warmup": warmup,
        "backends": rows,
    }
    return {"machine": machine_info(), "settings": settings, "results": bench.results, "failed": bench.failed}


@dataclass
class _Bench:
    """One `benchmark`: its settings, the rows that finished and the failures."""

    rows: list[str]  # backends, in row order
    size: tuple[int, int] | None
    batch: int
    threads: int | None
    runs: int
    warmup: int
    log: Callable[[str], None]
    results: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, spec: str, backend: str | None, exc: Exception) -> None:
        message = _one_line(exc)
        self.failed.append({"model": spec, "backend": backend, "error": message})
        reason = message[len(spec) + 2 :] if message.startswith(f"{spec}: ") else message
        self.log(f"{spec}{' (' + backend + ')' if backend else ''}: failed: {reason}")

    def measure(self, spec: str, arch: str | None) -> None:
        """Open ``spec`` (`litedepth.hub.open_model`, fresh weights without a warning) and time it per backend."""
        from ..hub import open_model

        try:
            model = open_model(spec, arch, quiet=True)
            net, onnx_model = (model, None) if isinstance(model, torch.nn.Module) else (None, model)
            own = tuple(self.size or model_size(model))
            facts = {"size": list(own), "params": count_parameters(model), "gflops": count_gflops(model, own)}
            facts["gflops"] = round(facts["gflops"], 3) if facts["gflops"] is not None else None
        except Exception as exc:  # one model's problem must not lose the others' rows
            self.fail(spec, None, exc)
            return
        x = torch.randn(self.batch, 3, *own, generator=torch.Generator().manual_seed(0))
        for backend in self.rows:
            if net is None and backend != "onnxruntime":
                continue  # an ONNX file has no torch module to time
            self.log(f"{spec}: {backend} at {own[0]}x{own[1]} ...")
            try:
                row = _time_backend(
                    backend, net, onnx_model, spec, x, own, self.batch, self.threads, self.runs, self.warmup, facts
                )
                self.results.append(row)
            except Exception as exc:
                self.fail(spec, backend, exc)


def _one_line(exc: Exception) -> str:
    if isinstance(exc, LitedepthError):
        return str(exc)
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}{': ' + text if text else ''}"


def _time_backend(backend, net, onnx_model, label, x, size, batch, threads, runs, warmup, facts) -> dict[str, Any]:
    """One result row: ``backend`` timed on input ``x``."""
    arch = (net if net is not None else onnx_model).arch
    if backend == "torch":
        with torch.no_grad():
            times = time_callable(lambda: net(x), runs, warmup)
        return _row(label, arch, backend, times, batch, **facts)
    if backend == "torch-optimised":
        from ..runtimes.fold_batchnorm import has_depthwise, optimize_for_inference

        channels_last = has_depthwise(net)
        fast = optimize_for_inference(net, channels_last=channels_last, example=x[:1])
        with torch.inference_mode():
            times = time_callable(lambda: fast(x), runs, warmup)
        return _row(
            label,
            arch,
            backend,
            times,
            batch,
            **facts,
            options="bn_folded+channels_last" if channels_last else "bn_folded",
        )
    return _onnx_row(net, onnx_model, label, arch, x, size, batch, threads, runs, warmup, facts)


def _onnx_row(net, onnx_model, label, net_arch, x, size, batch, threads, runs, warmup, facts) -> dict[str, Any]:
    from ..runtimes.onnx import OnnxDepthModel

    if onnx_model is None:
        from ..runtimes.onnx_convert import onnx_bytes

        onnx_model = OnnxDepthModel(onnx_bytes(net, size=size, dynamic=batch != 1), threads=threads, name=label)
    elif threads:
        onnx_model = OnnxDepthModel(label, threads=threads)
    if onnx_model.static_size is not None and tuple(onnx_model.static_size) != tuple(size):
        h, w = onnx_model.static_size
        raise LitedepthError(
            f"{label}: exported for {h}x{w} inputs only, not {size[0]}x{size[1]} (leave out --size, or re-export)"
        )
    if onnx_model.static_batch is not None and onnx_model.static_batch != batch:
        raise LitedepthError(
            f"{label}: exported for batch {onnx_model.static_batch} only, not {batch} (re-export with --dynamic)"
        )
    feed = {onnx_model.session.get_inputs()[0].name: x.numpy()}
    session = onnx_model.session
    times = time_callable(lambda: session.run(None, feed), runs, warmup)
    return _row(label, net_arch, "onnxruntime", times, batch, **facts)


def format_table(result: dict[str, Any]) -> str:
    """The results as an aligned plain-text table, with the machine and settings above it."""
    m, s = result["machine"], result["settings"]
    size = f"3x{s['size'][0]}x{s['size'][1]}" if s["size"] else "3xHxW (each model's own input size)"
    lines = [
        f"machine: {m['cpu']}, {m['usable_cores']} usable cores; torch {m['torch']}, onnxruntime {m['onnxruntime']}",
        f"input {s['batch']}x{size}, threads {s['threads'] or 'default'}, {s['runs']} runs after {s['warmup']} warm-up",
    ]
    header = ("model", "backend", "size", "params", "GFLOPs", "median ms", "p90 ms", "images/s")
    table = [header]
    for r in result["results"]:
        params = f"{r['params']:,}" if r["params"] is not None else "-"
        gflops = f"{r['gflops']:.2f}" if r["gflops"] is not None else "-"
        table.append(
            (
                r["model"],
                r["backend"],
                f"{r['size'][0]}x{r['size'][1]}",
                params,
                gflops,
                f"{r['latency_ms_median']:.1f}",
                f"{r['latency_ms_p90']:.1f}",
                f"{r['images_per_s']:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for k, row in enumerate(table):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
