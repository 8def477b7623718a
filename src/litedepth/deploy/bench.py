"""Speed and size of depth networks: parameters, GFLOPs and latency per backend, on this machine.

>>> result = benchmark(["hu2021-student", "fast-student"], backends=("torch", "onnxruntime"))
>>> print(format_table(result))

Backends (one row each):

- ``torch``: PyTorch eager, the module as built, under ``torch.no_grad()``;
- ``torch-optimised``: `litedepth.runtimes.fold_batchnorm.optimize_for_inference` (BN folded,
  channels-last for depthwise networks) under ``torch.inference_mode()``;
- ``onnxruntime``: exported in memory (BN folded, static shape), CPU provider, all
  graph optimisations;
- ``openvino``, ``tflite`` (LiteRT's interpreter, XNNPACK), ``ncnn``: converted for that runtime
  (`litedepth.deploy.runners`); exported files (``.onnx``, ``.xml``, ``.tflite``, NCNN folders,
  fp32 and INT8) run in each runtime that can run them, each row with its ``precision``.

``--backend torch`` runs both torch rows. GFLOPs follow the usual convention
GFLOPs = 2 x GMACs (counted by ``torch.utils.flop_counter.FlopCounterMode``; the paper's
student is 8.04 GFLOPs at 228x304). Latency is the wall time of one forward pass of a
``(batch, 3, H, W)`` input, median and 90th percentile over ``runs`` timed passes after
``warmup`` untimed ones, at each thread count asked for (the header names the CPU's AVX2,
AVX-512 VNNI and AMX extensions, which decide what INT8 gains). Each model runs at its own input size (a network's ``input_size``,
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

BACKEND_CHOICES = ("torch", "torch-optimised", "onnxruntime", "openvino", "tflite", "ncnn")


ISA_FLAGS = {  # /proc/cpuinfo flag -> name: what INT8 and bf16 kernels use on x86
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "amx_bf16": "AMX-BF16",
    "amx_int8": "AMX-INT8",
}
RUNTIME_MODULES = {"onnxruntime": "onnxruntime", "openvino": "openvino", "litert": "ai_edge_litert", "ncnn": "ncnn"}


def cpu_isa(cpuinfo: str | None = None) -> list[str]:
    """The vector and matrix extensions of `ISA_FLAGS` this CPU has (from ``/proc/cpuinfo``; [] elsewhere)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return [name for flag, name in ISA_FLAGS.items() if flag in flags]


def cpu_model() -> str:
    """The CPU's model name (from ``/proc/cpuinfo``; the platform's processor or machine name elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model, its ISA extensions, core counts, OS and library versions (None: a runtime not installed)."""
    import importlib

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "isa": cpu_isa(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    for name, module in RUNTIME_MODULES.items():
        try:
            info[name] = getattr(importlib.import_module(module), "__version__", "installed")
        except ImportError:
            info[name] = None
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


def thread_counts(threads) -> list[int | None]:
    """``threads`` as a list: None (each library's own choice), an int, or a sequence of ints / None."""
    if threads is None or isinstance(threads, int):
        return [threads]
    return list(threads) or [None]


def benchmark(
    models: Sequence[str],
    backends: Sequence[str] = ("torch", "onnxruntime"),
    size: tuple[int, int] | None = None,
    batch: int = 1,
    threads: int | Sequence[int | None] | None = None,
    runs: int = 30,
    warmup: int = 5,
    arch: str | None = None,
    log: Callable[[str], None] | None = None,
    skip_missing: bool = False,
) -> dict[str, Any]:
    """Measure every model with every backend; returns a JSON-ready dict (``machine``, ``settings``, ``results``, ``failed``).

    ``models``: anything `litedepth.load` opens: architecture names (fresh weights), ``hu2021:NAME``
    or paths (``.safetensors``, ``.pt``, ``.onnx``, ``.xml``, ``.tflite``, NCNN folders; fp32 and INT8
    files side by side, each row says its ``precision``).
    ``backends``: any of `BACKEND_CHOICES`; ``torch`` gives the plain and the optimised eager rows.
    An exported file is timed in those of them that run it (`litedepth.deploy.runners.backends_for`).
    ``size``: ``(H, W)`` for every model; None: each model at its own (`model_size`), recorded per row.
    ``threads``: intra-op threads, one value or several (e.g. ``[1, 2]``: every row at 1 and at 2 threads);
    None: each library's own choice.

    A model that fails (cannot be opened, or a backend cannot run it) is logged in one line and
    listed in ``failed`` (``model``, ``backend`` or None, ``error``); the rows that finished are kept.
    ``skip_missing``: a row whose runtime or converter is not installed is logged and left out instead.
    """
    if runs < 1 or warmup < 0 or batch < 1:
        raise LitedepthError(f"runs {runs}, warmup {warmup}, batch {batch}: need runs >= 1, warmup >= 0, batch >= 1")
    for b in backends:
        if b not in BACKEND_CHOICES:
            raise LitedepthError(f"backend {b!r}: expected one of {', '.join(BACKEND_CHOICES)}")
    rows = ["torch", "torch-optimised"] if "torch" in backends else []
    rows += [b for b in BACKEND_CHOICES[1:] if b in backends and b not in rows]
    counts = thread_counts(threads)
    bench = _Bench(rows, size, batch, counts, runs, warmup, log or (lambda msg: None), skip_missing=skip_missing)
    for spec in models:
        bench.measure(spec, arch)
    settings = {
        "size": list(size) if size else None,
        "batch": batch,
        "threads": counts if len(counts) > 1 else counts[0],
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
    threads: list[int | None]
    runs: int
    warmup: int
    log: Callable[[str], None]
    results: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    skip_missing: bool = False

    def fail(self, spec: str, backend: str | None, exc: Exception) -> None:
        message = _one_line(exc)
        if self.skip_missing and backend is not None and "pip install 'litedepth[" in message:
            self.log(f"{spec} ({backend}): skipped: {message}")  # --backend all: what is not installed is left out
            return
        self.failed.append({"model": spec, "backend": backend, "error": message})
        reason = message[len(spec) + 2 :] if message.startswith(f"{spec}: ") else message
        self.log(f"{spec}{' (' + backend + ')' if backend else ''}: failed: {reason}")

    def measure(self, spec: str, arch: str | None) -> None:
        """Open ``spec`` (`litedepth.hub.open_model`, fresh weights without a warning) and time it per backend."""
        from ..hub import open_model
        from .runners import backends_for

        try:
            model = open_model(spec, arch, quiet=True)
            net, exported = (model, None) if isinstance(model, torch.nn.Module) else (None, model)
            own = tuple(self.size or model_size(model))
            facts = {"size": list(own), "params": count_parameters(model), "gflops": count_gflops(model, own)}
            facts["gflops"] = round(facts["gflops"], 3) if facts["gflops"] is not None else None
        except Exception as exc:  # one model's problem must not lose the others' rows
            self.fail(spec, None, exc)
            return
        x = torch.randn(self.batch, 3, *own, generator=torch.Generator().manual_seed(0))
        for backend in [b for b in self.rows if b in backends_for(exported)]:
            for threads in self.threads:
                self.log(f"{spec}: {backend} at {own[0]}x{own[1]}, threads {threads or 'default'} ...")
                try:
                    self.results.append(self.time_one(backend, net, exported, spec, x, own, threads, facts))
                except Exception as exc:
                    self.fail(spec, backend, exc)

    def time_one(self, backend, net, exported, spec, x, size, threads, facts) -> dict[str, Any]:
        """One result row: ``backend`` built for ``threads`` and timed on ``x``."""
        from .runners import make_runner

        arch = (net if net is not None else exported).arch
        with torch_threads(threads):
            run, info = make_runner(backend, net, exported, spec, size, self.batch, threads)
            times = time_callable(lambda: run(x), self.runs, self.warmup)
        extra = {"precision": info["precision"], "threads": threads}
        if info["options"]:
            extra["options"] = info["options"]
        return _row(spec, arch, backend, times, self.batch, **facts, **extra)


def failure_summary(result: dict[str, Any], models: Sequence[str]) -> str:
    """What failed in a `benchmark` result, in one line: the models that could not be opened at all, then for
    each other model how many of the backends it was timed in failed, and which (e.g. ``m: 1 of 3 backend(s)
    failed: ncnn``); empty when nothing failed."""
    failed, parts = result["failed"], []
    whole = list(dict.fromkeys(f["model"] for f in failed if f["backend"] is None))
    if whole:
        parts.append(f"{len(whole)} of {len(models)} model(s) failed: {', '.join(whole)}")
    for model in dict.fromkeys(f["model"] for f in failed if f["backend"] is not None):
        bad = list(dict.fromkeys(f["backend"] for f in failed if f["model"] == model and f["backend"]))
        tried = set(bad) | {r["backend"] for r in result["results"] if r["model"] == model}
        parts.append(f"{model}: {len(bad)} of {len(tried)} backend(s) failed: {', '.join(bad)}")
    return "; ".join(parts)


def _one_line(exc: Exception) -> str:
    if isinstance(exc, LitedepthError):
        return str(exc)
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}{': ' + text if text else ''}"


def format_table(result: dict[str, Any]) -> str:
    """The results as an aligned plain-text table, with the machine (CPU, ISA, runtimes) and settings above it."""
    m, s = result["machine"], result["settings"]
    size = f"3x{s['size'][0]}x{s['size'][1]}" if s["size"] else "3xHxW (each model's own input size)"
    runtimes = ", ".join(f"{k} {m[k]}" for k in RUNTIME_MODULES if m.get(k))
    lines = [
        f"machine: {m['cpu']} ({', '.join(m.get('isa') or []) or 'ISA unknown'}), {m['usable_cores']} usable cores",
        f"torch {m['torch']}" + (f", {runtimes}" if runtimes else ""),
        f"input {s['batch']}x{size}, {s['runs']} runs after {s['warmup']} warm-up",
    ]
    header = ("model", "backend", "prec", "threads", "size", "params", "GFLOPs", "median ms", "p90 ms", "images/s")
    table = [header] + [_table_row(r) for r in result["results"]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for k, row in enumerate(table):
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _table_row(r: dict[str, Any]) -> tuple[str, ...]:
    return (
        r["model"],
        r["backend"],
        r.get("precision", "fp32"),
        str(r.get("threads") or "default"),
        f"{r['size'][0]}x{r['size'][1]}",
        f"{r['params']:,}" if r["params"] is not None else "-",
        f"{r['gflops']:.2f}" if r["gflops"] is not None else "-",
        f"{r['latency_ms_median']:.1f}",
        f"{r['latency_ms_p90']:.1f}",
        f"{r['images_per_s']:.1f}",
    )
