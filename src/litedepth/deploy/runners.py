"""What `litedepth.deploy.bench` times: one callable per backend, built from a network or an exported file.

>>> run, info = make_runner("openvino", net, None, "fast-student", (228, 304), batch=1, threads=1)
>>> run(x)                                   # one forward pass of the (B, 3, H, W) tensor x

Backends (`RUNTIME_BACKENDS`): ``torch`` (eager, ``torch.no_grad``), ``torch-optimised`` (BN folded,
channels-last for depthwise networks, ``torch.inference_mode``), ``onnxruntime``, ``openvino``,
``tflite`` (LiteRT's interpreter) and ``ncnn``. A network is converted for a runtime at the timed
size (in memory for ONNX Runtime and OpenVINO, through a temporary file for LiteRT and NCNN, whose
converters write files); an exported file runs as it is, in each runtime that can run it
(`backends_for`): ``.onnx`` in ONNX Runtime and OpenVINO, ``.xml`` in OpenVINO, ``.tflite`` in
LiteRT, an NCNN folder in ncnn. Exported models are timed on their engine call alone (numpy in,
numpy out), as an application would call them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import LitedepthError
from ..runtimes.kinds import backends, model_class

RUNTIME_BACKENDS = ("torch", "torch-optimised", "onnxruntime", "openvino", "tflite", "ncnn")


def backends_for(exported) -> tuple[str, ...]:
    """The backends that can time an exported model (by its format); every backend for a network (None)."""
    if exported is None:
        return RUNTIME_BACKENDS
    return backends(_suffix(exported))


def _suffix(exported) -> str:
    """The `litedepth.runtimes.kinds.RUNTIMES` row of an exported model, by its format."""
    from .formats import FORMATS

    return FORMATS[exported.metadata["format"]].runtime


def make_runner(backend: str, net, exported, spec: str, size, batch: int, threads: int | None):
    """``(callable of one (B, 3, H, W) tensor, {"precision", "options"})`` for ``backend``."""
    if backend in ("torch", "torch-optimised"):
        return _torch_runner(backend, net, size)
    model = _runtime_model(backend, net, exported, spec, size, batch, threads)
    if model.static_size is not None and tuple(model.static_size) != tuple(size):
        h, w = model.static_size
        raise LitedepthError(f"{spec}: exported for {h}x{w} inputs only, not {size[0]}x{size[1]} (leave out --size)")
    if model.static_batch is not None and model.static_batch != batch:
        raise LitedepthError(f"{spec}: exported for batch {model.static_batch} only, not {batch}")
    if backend == "ncnn" and batch != 1:
        raise LitedepthError(f"{spec}: ncnn runs batch 1 only")
    return (lambda x: model._run(x.numpy())), {"precision": getattr(model, "precision", "fp32"), "options": ""}


def _torch_runner(backend: str, net, size) -> tuple[Callable, dict[str, Any]]:
    if net is None:
        raise LitedepthError("an exported file has no torch module to time")
    if backend == "torch":

        def run(x):
            with torch.no_grad():
                return net(x)

        return run, {"precision": "fp32", "options": ""}
    from ..runtimes.fold_batchnorm import has_depthwise, optimize_for_inference

    channels_last = has_depthwise(net)
    example = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    fast = optimize_for_inference(net, channels_last=channels_last, example=example)

    def run_fast(x):
        with torch.inference_mode():
            return fast(x)

    return run_fast, {"precision": "fp32", "options": "bn_folded+channels_last" if channels_last else "bn_folded"}


def _runtime_model(backend: str, net, exported, spec: str, size, batch: int, threads: int | None):
    """The `litedepth.runtimes.base.ExportedDepthModel` that ``backend`` runs, opened with ``threads``."""
    if net is None:
        return _file_model(backend, exported, threads)
    if backend == "onnxruntime":
        from ..runtimes.onnx import OnnxDepthModel
        from ..runtimes.onnx_convert import onnx_bytes

        return OnnxDepthModel(onnx_bytes(net, size=size, dynamic=batch != 1), threads=threads, name=spec)
    if backend == "openvino":
        from ..runtimes.openvino import OpenVinoDepthModel, convert_network, ir_metadata

        ov_model = convert_network(net, size, dynamic=batch != 1)
        return OpenVinoDepthModel(ov_model, threads=threads, name=spec, metadata=ir_metadata(ov_model, spec))
    return _converted_through_file(backend, net, spec, size, threads)


def _converted_through_file(backend: str, net, spec: str, size, threads: int | None):
    """LiteRT and NCNN models of a network: exported (and checked) into a temporary folder, opened from there."""
    with tempfile.TemporaryDirectory(prefix="litedepth-bench-") as work:
        if backend == "tflite":
            from ..runtimes.litert import LiteRTDepthModel
            from .litert import export_tflite

            path = Path(work) / "model.tflite"
            export_tflite(net, path, size=size)
            return LiteRTDepthModel(path, threads=threads, name=spec)  # the interpreter holds the bytes
        from ..runtimes.ncnn import NcnnDepthModel
        from .ncnn import export_ncnn

        export_ncnn(net, Path(work) / "ncnn", size=size)
        return NcnnDepthModel(Path(work) / "ncnn", threads=threads, name=spec)  # ncnn holds the weights


def _file_model(backend: str, exported, threads: int | None):
    """``exported`` opened again in ``backend`` with ``threads``."""
    return model_class(_suffix(exported), backend)(os.fspath(exported.name), threads=threads)
