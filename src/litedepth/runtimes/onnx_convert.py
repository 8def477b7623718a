"""A network converted to ONNX in memory, and checked against PyTorch in ONNX Runtime.

>>> data = onnx_bytes(model, dynamic=True)                     # serialised ModelProto
>>> worst, tolerance = verify_onnx(data, model, [(1, 228, 304)])

Uses PyTorch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``):
it needs nothing beyond ``onnx`` at export time, runs offline, and handles the
shape-dependent resizes of these networks with dynamic batch and spatial axes. (The
newer ``torch.export``-based exporter needs the ``onnxscript`` package.) BatchNorm is
folded into the convolutions first (`litedepth.runtimes.fold_batchnorm.fold_batchnorm`).

The model's architecture, input size, normalisation and provenance are stored in the
ONNX ``metadata_props`` (keys ``litedepth.*``: `litedepth.metadata.export_metadata`), from which
`litedepth.runtimes.onnx` rebuilds the preprocessing. `litedepth.deploy.export` writes these bytes to files.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import sys
import tempfile
import warnings
from typing import Any

import torch

from ..errors import LitedepthError, first_line
from ..metadata import export_metadata

INPUT_NAME = "image"
OUTPUT_NAME = "depth"
DEFAULT_OPSET = 17
# Every network here upsamples bilinearly with align_corners=True: ONNX Resize expresses that from opset 11.
MIN_NETWORK_OPSET = 11

# ORT and PyTorch differ by float32 rounding only: ~1e-6 of the output's scale for these nets.
DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-4


def require_onnx():
    """Import ``onnx`` and ``onnxruntime`` or raise a one-line error naming the extra."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise LitedepthError(f"ONNX support needs the '{exc.name}' package: pip install 'litedepth[onnx]'") from None
    return onnx, onnxruntime


def onnx_bytes(
    model: torch.nn.Module,
    size: tuple[int, int] | None = None,
    dynamic: bool = False,
    opset: int = DEFAULT_OPSET,
    fold_bn: bool = True,
) -> bytes:
    """Serialised ONNX model of ``model`` (not written anywhere, not verified).

    Input ``image`` ``(B, 3, H, W)`` float32, output ``depth`` ``(B, 1, H, W)``. Static shape
    ``(1, 3, *size)`` unless ``dynamic`` (batch, height and width then symbolic).
    """
    onnx, _ = require_onnx()
    from .fold_batchnorm import fold_batchnorm

    check_opset(opset)
    size = tuple(size or model.input_size)
    net = copy.deepcopy(model).cpu().float().eval()
    if fold_bn:
        net = fold_batchnorm(net, example=_example(size, 1), inplace=True)
    axes = None
    if dynamic:
        axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, OUTPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
    proto = onnx.load_from_string(_run_exporter(net, size, axes, opset, getattr(model, "arch", "custom")))
    for key, value in export_metadata(model, size, dynamic).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = (
        f"litedepth {getattr(model, 'arch', 'custom')}: normalised (B,3,H,W) RGB -> (B,1,H,W) depth in metres"
    )
    return proto.SerializeToString()


def exporter_opsets() -> tuple[int, int] | None:
    """``(lowest, highest)`` opset this torch's TorchScript exporter accepts, or None when torch does not
    say (the range lives in its private ``torch.onnx._constants``)."""
    try:
        from torch.onnx import _constants
    except ImportError:
        return None
    low, high = getattr(_constants, "ONNX_MIN_OPSET", None), getattr(_constants, "ONNX_MAX_OPSET", None)
    return (low, high) if isinstance(low, int) and isinstance(high, int) else None


def opset_range() -> tuple[int, int] | None:
    """``(lowest, highest)`` opset these networks export at with this torch (`MIN_NETWORK_OPSET` or later)."""
    span = exporter_opsets()
    return None if span is None else (max(span[0], MIN_NETWORK_OPSET), span[1])


def _opset_hint() -> str:
    span = opset_range()
    return f"use {DEFAULT_OPSET}" + (f" or between {span[0]} and {span[1]}" if span else "")


def check_opset(opset: Any) -> int:
    """``opset`` if this torch's exporter can write these networks at it, else a one-line `LitedepthError`."""
    if not isinstance(opset, int) or isinstance(opset, bool):
        raise LitedepthError(f"--opset {opset!r}: expected a whole number ({_opset_hint()})")
    span, exporter = opset_range(), exporter_opsets()
    if span is None or span[0] <= opset <= span[1]:
        return opset
    if exporter is not None and exporter[0] <= opset < MIN_NETWORK_OPSET:
        raise LitedepthError(
            f"--opset {opset}: too old for these networks, whose bilinear upsampling (align_corners) "
            f"needs opset {MIN_NETWORK_OPSET} or later ({_opset_hint()})"
        )
    raise LitedepthError(f"--opset {opset}: not supported by this torch's ONNX exporter ({_opset_hint()})")


@contextlib.contextmanager
def _output_held(keep: dict[int, str]):
    """Hold what is written to file descriptors 1 and 2 (torch's C++ exporter logs the whole traced graph
    to one of them on a failure); ``keep`` maps each descriptor to its text afterwards. Descriptors
    that cannot be redirected are left alone."""
    with contextlib.ExitStack() as stack:
        for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
            stack.enter_context(_fd_held(fd, stream, keep))
        yield


output_held = _output_held  # public name: other converters (LiteRT, Core ML) hold their C++ logs the same way


@contextlib.contextmanager
def converter_quiet(*loggers: str):
    """A converter's chatter held: file descriptors 1 and 2, Python's own streams (which a caller or a test
    may have replaced; progress bars write there), warnings, and the named loggers below ERROR."""
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    with contextlib.ExitStack() as stack:
        stack.enter_context(_output_held({}))
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        for logger, _ in saved:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in saved:
                logger.setLevel(level)


@contextlib.contextmanager
def _fd_held(fd: int, stream, keep: dict[int, str]):
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as held:
        stream.flush()
        os.dup2(held.fileno(), fd)
        try:
            yield
        finally:
            stream.flush()
            os.dup2(saved, fd)
            os.close(saved)
            held.seek(0)
            keep[fd] = held.read().decode(errors="replace")


def _run_exporter(net: torch.nn.Module, size: tuple[int, int], axes: dict | None, opset: int, arch: str) -> bytes:
    """``torch.onnx.export`` of ``net`` to bytes; its failure is one line naming the opset.

    What the exporter prints is passed on when it succeeds and dropped when it fails (a failure
    dumps the whole traced graph, tens of kilobytes).
    """
    buffer, printed = io.BytesIO(), {}
    try:
        with _output_held(printed), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation and tracer notices of the TorchScript exporter
            torch.onnx.export(
                net,
                (_example(size, 1),),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                do_constant_folding=True,
            )
    except Exception as exc:  # the exporter raises RuntimeError subclasses, some with the graph in the message
        hint = "" if opset == DEFAULT_OPSET else f"; {_opset_hint()}"
        raise LitedepthError(
            f"--opset {opset}: this torch's ONNX exporter cannot export {arch} ({first_line(exc, 160)}){hint}"
        ) from None
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        if printed.get(fd):
            stream.write(printed[fd])
    return buffer.getvalue()


def _example(size: tuple[int, int], batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(seed))


def verify_onnx(
    onnx_model: bytes | str | os.PathLike,
    model: torch.nn.Module,
    shapes: list[tuple[int, int, int]],
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
) -> tuple[float, float]:
    """Largest |ONNX Runtime - PyTorch| over random inputs of ``shapes`` ``(B, H, W)``, and its tolerance.

    The tolerance is ``atol + rtol * max|PyTorch output|``; the caller decides what to do
    when the difference exceeds it.
    """
    _, ort = require_onnx()
    source = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    net = copy.deepcopy(model).cpu().float().eval()
    worst, tolerance = 0.0, atol
    for i, (b, h, w) in enumerate(shapes):
        x = _example((h, w), b, seed=i + 1)
        with torch.inference_mode():
            reference = net(x).numpy()
        out = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
        if out.shape != reference.shape:
            raise LitedepthError(
                f"ONNX output shape {out.shape} differs from PyTorch's {reference.shape} for input {(b, 3, h, w)}"
            )
        worst = max(worst, float(abs(out - reference).max()))
        tolerance = max(tolerance, atol + rtol * float(abs(reference).max()))
    return worst, tolerance
