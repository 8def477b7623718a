"""Export a depth network to an ONNX file, checked against PyTorch before it counts as done.

>>> report = export_onnx(model, "student.onnx", dynamic=True)
>>> report.max_abs_diff          # ONNX Runtime vs PyTorch on a random input, metres
2.1e-07

The conversion itself (BatchNorm folded, the TorchScript exporter, ``litedepth.*`` metadata)
is `litedepth.runtimes.onnx_convert`; this module checks it at the shapes the file will
be used at and writes the file atomically, only if the check passes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import LitedepthError, first_line
from ..fileio import atomic_path
from ..preprocess import parse_size as _parse_size
from ..runtimes.onnx_convert import DEFAULT_ATOL, DEFAULT_OPSET, DEFAULT_RTOL, onnx_bytes, verify_onnx


@dataclass
class ExportReport:
    """What an export wrote (`export_onnx`, `litedepth.deploy.formats.export_model`) and how well its runtime reproduced PyTorch."""

    path: str
    size: tuple[int, int]
    dynamic: bool
    opset: int | None  # ONNX only
    max_abs_diff: float  # metres, the exported model vs PyTorch (NaN where it cannot run here: Core ML on Linux)
    tolerance: float
    checked: list[str] = field(default_factory=list)  # shapes that were compared
    exporter: str = "torchscript"
    format: str = "onnx"
    note: str = ""  # how it was checked, where not by running it


def parse_size(text: str) -> tuple[int, int]:
    """An export size: at least 32x32, the encoder's total stride."""
    return _parse_size(text, minimum=32)


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
        raise LitedepthError(
            f"{path}: ONNX output differs from PyTorch by {worst:.3g} (tolerance {tolerance:.3g}); not written"
        )
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return ExportReport(str(path), size, dynamic, opset, worst, tolerance, [f"{b}x3x{h}x{w}" for b, h, w in shapes])
