"""Export a depth network to ONNX, checked against PyTorch before it counts as done.

>>> report = export_onnx(model, "student.onnx", dynamic=True)
>>> report.max_abs_diff          # ONNX Runtime vs PyTorch on a random input, metres
2.1e-07

Uses PyTorch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``):
it needs nothing beyond ``onnx`` at export time, runs offline, and handles the
shape-dependent resizes of these networks with dynamic batch and spatial axes. (The
newer ``torch.export``-based exporter needs the ``onnxscript`` package.) BatchNorm is
folded into the convolutions first (`litedepth.optimize.fold_batchnorm`).

The model's architecture, input size, normalisation and provenance are stored in the
ONNX ``metadata_props`` (keys ``litedepth.*``), from which `litedepth.onnx_model`
rebuilds the preprocessing. Files are written atomically and only if the check passes.
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import LitedepthError, first_line
from .fileio import atomic_path
from .profile import parse_size as _parse_size

INPUT_NAME = "image"
OUTPUT_NAME = "depth"
DEFAULT_OPSET = 17
META_PREFIX = "litedepth."
# ORT and PyTorch differ by float32 rounding only: ~1e-6 of the output's scale for these nets.
DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-4


@dataclass
class ExportReport:
    """What `export_onnx` wrote and how well ONNX Runtime reproduced PyTorch."""

    path: str
    size: tuple[int, int]
    dynamic: bool
    opset: int
    max_abs_diff: float
    tolerance: float
    checked: list[str] = field(default_factory=list)  # shapes that were compared
    exporter: str = "torchscript"


def require_onnx():
    """Import ``onnx`` and ``onnxruntime`` or raise a one-line error naming the extra."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise LitedepthError(f"ONNX support needs the '{exc.name}' package: pip install 'litedepth[onnx]'") from None
    return onnx, onnxruntime


def parse_size(text: str) -> tuple[int, int]:
    """An export size: at least 32x32, the encoder's total stride."""
    return _parse_size(text, minimum=32)


def model_metadata(model: torch.nn.Module, size: tuple[int, int], dynamic: bool) -> dict[str, str]:
    """The ``litedepth.*`` metadata strings stored in an exported file."""
    from . import __version__

    meta = getattr(model, "metadata", {}) or {}
    return {
        META_PREFIX + "arch": str(getattr(model, "arch", "custom")),
        META_PREFIX + "config": json.dumps(getattr(model, "config", {})),
        META_PREFIX + "input_size": json.dumps(list(size)),
        META_PREFIX + "mean": json.dumps(list(model.mean)),
        META_PREFIX + "std": json.dumps(list(model.std)),
        META_PREFIX + "training": json.dumps(meta.get("training", {})),
        META_PREFIX + "source": str(meta.get("source", "")),
        META_PREFIX + "dynamic": json.dumps(bool(dynamic)),
        META_PREFIX + "camera": json.dumps(model.camera.to_dict()) if hasattr(model, "camera") else "null",
        META_PREFIX + "bn_folded": "true",
        META_PREFIX + "version": __version__,
    }


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
    from .optimize import fold_batchnorm

    size = tuple(size or model.input_size)
    net = copy.deepcopy(model).cpu().float().eval()
    if fold_bn:
        net = fold_batchnorm(net, example=_example(size, 1), inplace=True)
    axes = None
    if dynamic:
        axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, OUTPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and tracer notices of the TorchScript exporter
        torch.onnx.export(
            net, (_example(size, 1),), buffer, dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_axes=axes, do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in model_metadata(model, size, dynamic).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"litedepth {getattr(model, 'arch', 'custom')}: normalised (B,3,H,W) RGB -> (B,1,H,W) depth in metres"
    return proto.SerializeToString()


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
            raise LitedepthError(f"ONNX output shape {out.shape} differs from PyTorch's {reference.shape} for input {(b, 3, h, w)}")
        worst = max(worst, float(abs(out - reference).max()))
        tolerance = max(tolerance, atol + rtol * float(abs(reference).max()))
    return worst, tolerance


def export_onnx(
    model: torch.nn.Module,
    path: str | os.PathLike,
    size: tuple[int, int] | None = None,
    dynamic: bool = False,
    opset: int = DEFAULT_OPSET,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
) -> ExportReport:
    """Export ``model`` to ``path`` (BN folded), verify it with ONNX Runtime, then write it atomically.

    ``size`` ``(H, W)`` defaults to ``model.input_size``. With ``dynamic`` the batch and
    spatial axes are symbolic and the check also runs at batch 2 and at a second size.
    Raises `LitedepthError` (one line, max difference and tolerance) if ONNX Runtime and
    PyTorch disagree; nothing is written then.
    """
    size = tuple(size or model.input_size)
    data = onnx_bytes(model, size=size, dynamic=dynamic, opset=opset)
    shapes = [(1, *size)]
    if dynamic:
        shapes += [(2, *size), (1, size[0] + 32, size[1] + 64)]
    try:
        worst, tolerance = verify_onnx(data, model, shapes, atol=atol, rtol=rtol)
    except LitedepthError:
        raise
    except Exception as exc:  # ORT refusing a shape means the architecture is not shape-agnostic
        first = first_line(exc, 200)
        hint = " (try without --dynamic)" if dynamic else ""
        raise LitedepthError(f"{path}: ONNX Runtime could not run the exported model{hint}: {first}") from None
    if worst > tolerance:
        raise LitedepthError(f"{path}: ONNX output differs from PyTorch by {worst:.3g} (tolerance {tolerance:.3g}); not written")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return ExportReport(str(path), size, dynamic, opset, worst, tolerance, [f"{b}x3x{h}x{w}" for b, h, w in shapes])


def read_metadata(proto_or_path: Any) -> dict[str, Any]:
    """The ``litedepth.*`` metadata of an ONNX model (path or ``onnx.ModelProto``), values decoded."""
    onnx, _ = require_onnx()
    proto = onnx.load(str(proto_or_path), load_external_data=False) if isinstance(proto_or_path, (str, os.PathLike)) else proto_or_path
    meta: dict[str, Any] = {}
    for entry in proto.metadata_props:
        if entry.key.startswith(META_PREFIX):
            key = entry.key[len(META_PREFIX):]
            meta[key] = decode_metadata_value(key, entry.value)
    return meta


def decode_metadata_value(key: str, value: str) -> Any:
    if key in ("config", "input_size", "mean", "std", "training", "dynamic", "camera"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise LitedepthError(f"ONNX metadata field litedepth.{key} is not valid JSON: {value[:60]!r}") from None
    return value
