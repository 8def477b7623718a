"""Export to LiteRT (TensorFlow Lite): one ``.tflite`` file, converted by litert-torch and checked in LiteRT's interpreter.

>>> report = export_tflite(model, "student.tflite")

litert-torch converts the network (BN folded) through ``torch.export`` at one fixed input size,
batch 1, NCHW input as in PyTorch. The ``litedepth.*`` metadata is added as the flatbuffer's
``litedepth`` metadata entry (`litedepth.runtimes.litert.write_metadata`). litert-torch is its own
extra (``litedepth[litert-export]``, about 1 GB with JAX); running a ``.tflite`` needs only
``litedepth[litert]``.

`quantize_tflite` writes the INT8 file from the float one with ai-edge-quantizer (static: int8
weights per channel, int8 activations calibrated on photos; the `litert` extra).
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path

import torch

from ..errors import LitedepthError, first_line, is_disk_full
from ..fileio import atomic_path
from ..metadata import export_metadata, precision_entry
from ..runtimes.fold_batchnorm import fold_batchnorm
from ..runtimes.litert import LiteRTDepthModel, raw_metadata_entry, require_litert, write_metadata
from ..runtimes.onnx_convert import converter_quiet
from .check import INT8_TOLERANCE, compare, int8_change, refuse_int8
from .quantize import QuantizeReport, float_batches

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
            with converter_quiet("litert_torch", "absl", "jax"):
                litert_torch.convert(net, (example,)).export(str(plain))
        except Exception as exc:
            if is_disk_full(exc):  # `litedepth.deploy.files.export_written` names the output
                raise
            raise LitedepthError(
                f"{path}: litert-torch could not convert the network ({first_line(exc, 200)})"
            ) from None
        with atomic_path(path) as tmp:
            write_metadata(plain, tmp, export_metadata(model, size, False))
            worst, tolerance = compare(LiteRTDepthModel(tmp, name=str(path)), model, [(1, *size)], ATOL, RTOL)
            if worst > tolerance:
                raise LitedepthError(
                    f"{path}: LiteRT output differs from PyTorch by {worst:.3g} (tolerance {tolerance:.3g}); not written"
                )
    return ExportReport(
        str(path), size, False, None, worst, tolerance, [f"1x3x{size[0]}x{size[1]}"], "litert-torch", "tflite"
    )


def quantize_tflite(
    float_path: str | os.PathLike,
    out_path: str | os.PathLike,
    calibration_dir: str | os.PathLike,
    max_images: int = 64,
    tolerance: float = INT8_TOLERANCE,
    model=None,
) -> QuantizeReport:
    """Static INT8 of the ``.tflite`` ``float_path`` calibrated on the photos of ``calibration_dir``, checked, then written.

    ``model`` is not needed (the file holds all it needs).
    """
    float_model = LiteRTDepthModel(float_path)
    batches = float_batches(float_model, calibration_dir, max_images)
    try:
        from ai_edge_quantizer import quantizer, recipe
    except ImportError:
        raise LitedepthError(
            "LiteRT INT8 needs the 'ai-edge-quantizer' package: pip install 'litedepth[litert]'"
        ) from None
    signature = float_model.interpreter.get_signature_list()
    key = next(iter(signature))
    samples = {key: [{signature[key]["inputs"][0]: batch} for batch in batches]}
    with tempfile.TemporaryDirectory(prefix="litedepth-litert-") as work:
        plain = Path(work) / "int8.tflite"
        try:
            with converter_quiet("absl"):  # its progress bars and summary
                tool = quantizer.Quantizer(str(float_path))
                tool.load_quantization_recipe(recipe.static_wi8_ai8())
                tool.quantize(tool.calibrate(samples)).export_model(str(plain))
        except Exception as exc:
            if is_disk_full(exc):
                raise
            raise LitedepthError(
                f"{out_path}: ai-edge-quantizer could not quantise {float_path} ({first_line(exc, 200)})"
            ) from None
        metadata = raw_metadata_entry(float_model._data, str(float_path))
        write_metadata(plain, Path(work) / "int8-meta.tflite", {**metadata, **precision_entry("int8")})
        # a fallback to reference kernels is said when the file is loaded, not here
        with converter_quiet("litedepth.runtimes.litert"):
            int8_model = LiteRTDepthModel(Path(work) / "int8-meta.tflite", name=str(out_path))
        change = int8_change(float_model._run, int8_model._run, batches[:8])
        refuse_int8(change, out_path, tolerance)
        with atomic_path(out_path) as tmp:
            Path(tmp).write_bytes((Path(work) / "int8-meta.tflite").read_bytes())
    return QuantizeReport.of(out_path, len(batches), change)
