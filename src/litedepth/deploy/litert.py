"""Export to LiteRT (TensorFlow Lite): one ``.tflite`` file, converted by litert-torch and checked in LiteRT's interpreter.

>>> report = export_tflite(model, "student.tflite")

litert-torch converts the network (BN folded) through ``torch.export`` at one fixed input size,
batch 1, NCHW input as in PyTorch. The ``litedepth.*`` metadata is added as the flatbuffer's
``litedepth`` metadata entry (`litedepth.runtimes.litert.write_metadata`). litert-torch is its own
extra (``litedepth[litert-export]``, about 1 GB with JAX); running a ``.tflite`` needs only
``litedepth[litert]``.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch

from ..errors import LitedepthError, first_line
from ..fileio import atomic_path
from ..runtimes.fold_batchnorm import fold_batchnorm
from ..runtimes.litert import LiteRTDepthModel, require_litert, write_metadata
from ..runtimes.onnx_convert import model_metadata, output_held
from .check import compare

ATOL, RTOL = 1e-4, 1e-3  # XNNPACK's float32 kernels round differently from PyTorch's


def require_litert_torch():
    """Import ``litert_torch`` or raise a one-line error naming the extra."""
    try:
        import litert_torch
    except ImportError:
        raise LitedepthError(
            "LiteRT export needs the 'litert-torch' package: pip install 'litedepth[litert-export]'"
        ) from None
    return litert_torch


def export_tflite(model, path: str | os.PathLike, size=None):
    """Convert ``model`` at ``size`` (default: its input size), check it in LiteRT's interpreter, write ``path``."""
    from .export import ExportReport

    litert_torch, _ = require_litert_torch(), require_litert()
    size = tuple(size or model.input_size)
    net = fold_batchnorm(copy.deepcopy(model).cpu().float().eval(), inplace=True)
    example = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory(prefix="litedepth-litert-") as work:
        plain = Path(work) / "plain.tflite"
        try:
            with warnings.catch_warnings(), _quiet("litert_torch", "absl", "jax"), output_held({}):
                warnings.simplefilter("ignore")
                litert_torch.convert(net, (example,)).export(str(plain))
        except Exception as exc:
            raise LitedepthError(
                f"{path}: litert-torch could not convert the network ({first_line(exc, 200)})"
            ) from None
        with atomic_path(path) as tmp:
            write_metadata(plain, tmp, model_metadata(model, size, False))
            worst, tolerance = compare(LiteRTDepthModel(tmp, name=str(path)), model, [(1, *size)], ATOL, RTOL)
            if worst > tolerance:
                raise LitedepthError(
                    f"{path}: LiteRT output differs from PyTorch by {worst:.3g} (tolerance {tolerance:.3g}); not written"
                )
    return ExportReport(
        str(path), size, False, None, worst, tolerance, [f"1x3x{size[0]}x{size[1]}"], "litert-torch", "tflite"
    )


class _quiet:
    """Raise the named loggers to ERROR while converting (litert-torch and JAX log their steps)."""

    def __init__(self, *names: str) -> None:
        self.loggers = [logging.getLogger(n) for n in names]

    def __enter__(self):
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        for lg, level in zip(self.loggers, self.levels):
            lg.setLevel(level)
