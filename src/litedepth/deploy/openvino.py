"""Export to an OpenVINO IR (``NAME.xml`` + ``NAME.bin``), and INT8 by NNCF post-training quantisation.

>>> report = export_openvino(model, "student.xml")                      # float32 weights, checked in OpenVINO
>>> report = quantize_openvino("student.xml", "student.int8.xml", "calib/")  # NNCF, checked against the float IR

The IR holds the ``litedepth.*`` metadata in its ``rt_info`` (`litedepth.runtimes.openvino`).
Weights are saved in float32 (``compress_to_fp16=False``): OpenVINO's default fp16 weights would
move the depth. NNCF quantises weights (per channel, symmetric) and activations (per tensor,
asymmetric, min-max ranges: `nncf_options`) to INT8 from the calibration images (a folder of
photos, at the IR's input size); the file is refused when its depth moves more than the INT8 tolerance
(`litedepth.deploy.check.INT8_TOLERANCE`) from the float IR's.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import LitedepthError, first_line
from ..metadata import precision_entry
from ..runtimes.onnx_convert import DEFAULT_ATOL, DEFAULT_RTOL, output_held
from ..runtimes.openvino import (
    OpenVinoDepthModel,
    convert_network,
    ir_metadata,
    require_openvino,
    set_metadata,
    signal_stack_kept,
)
from .check import INT8_TOLERANCE, compare, int8_change, refuse_int8
from .files import atomic_files, c_writes
from .quantize import QuantizeReport, float_batches

logger = logging.getLogger(__name__)


def ir_files(path: str | os.PathLike) -> list[Path]:
    """``[NAME.xml, NAME.bin]``: the files of an IR named by its ``.xml``."""
    path = Path(path)
    return [path, path.with_suffix(".bin")]


def export_openvino(model, path: str | os.PathLike, size=None, dynamic: bool = False):
    """Convert ``model`` (BN folded), check it in OpenVINO against PyTorch, then write ``path`` and its ``.bin``."""
    from .export import ExportReport

    ov = require_openvino()
    size = tuple(size or model.input_size)
    ov_model = convert_network(model, size, dynamic)
    runner = OpenVinoDepthModel(ov_model, name=str(path), metadata=ir_metadata(ov_model, str(path)))
    shapes = [(1, *size)] + ([(2, *size), (1, size[0] + 32, size[1] + 64)] if dynamic else [])
    worst, tolerance = compare(runner, model, shapes, DEFAULT_ATOL, DEFAULT_RTOL)
    if worst > tolerance:
        raise LitedepthError(
            f"{path}: OpenVINO output differs from PyTorch by {worst:.3g} (tolerance {tolerance:.3g}); not written"
        )
    with atomic_files(ir_files(path)) as (xml, _):
        with c_writes(xml):
            ov.save_model(ov_model, str(xml), compress_to_fp16=False)
    checked = [f"{b}x3x{h}x{w}" for b, h, w in shapes]
    return ExportReport(str(path), size, dynamic, None, worst, tolerance, checked, "openvino.convert_model", "openvino")


def nncf_options(nncf, images: int, subset_size: int = 300) -> dict:
    """The ``nncf.quantize`` settings: asymmetric activations (``MIXED``) with min-max ranges.

    Chosen by measurement (docs/deploy.md): NNCF's defaults (symmetric activations, quantile
    ranges) cost ``lite0-student`` 0.04 delta1 on synthetic rooms; min-max ranges of asymmetric
    activations, as ONNX Runtime's calibration takes them, cost 0.004 at the same speed.
    """
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    minmax = AdvancedQuantizationParameters(activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)
    return {
        "subset_size": min(subset_size, images),
        "preset": nncf.QuantizationPreset.MIXED,
        "advanced_parameters": minmax,
    }


def quantize_openvino(
    float_path: str | os.PathLike,
    out_path: str | os.PathLike,
    calibration_dir: str | os.PathLike,
    max_images: int = 64,
    tolerance: float = INT8_TOLERANCE,
    model=None,
    subset_size: int = 300,
) -> QuantizeReport:
    """NNCF INT8 of the IR ``float_path`` calibrated on the photos of ``calibration_dir``, checked, then written.

    ``model`` is not needed (the IR holds all it needs).
    """
    float_model = OpenVinoDepthModel(float_path)
    batches = float_batches(float_model, calibration_dir, max_images)
    ov = require_openvino()
    try:
        import nncf
    except ImportError:
        raise LitedepthError("OpenVINO INT8 needs the 'nncf' package: pip install 'litedepth[openvino]'") from None
    ov_model = ov.Core().read_model(str(float_path))
    meta = ir_metadata(ov_model, str(float_path))
    try:
        with output_held({}), signal_stack_kept():  # NNCF's progress bars; NNCF compiles models
            quantised = nncf.quantize(ov_model, nncf.Dataset(batches), **nncf_options(nncf, len(batches), subset_size))
    except Exception as exc:
        raise LitedepthError(f"{out_path}: NNCF could not quantise {float_path} ({first_line(exc, 200)})") from None
    set_metadata(quantised, precision_entry("int8"))
    meta["precision"] = "int8"
    int8_model = OpenVinoDepthModel(quantised, name=str(out_path), metadata=meta)
    change = int8_change(lambda b: float_model._run(b), lambda b: int8_model._run(b), batches[:8])
    refuse_int8(change, out_path, tolerance)
    with atomic_files(ir_files(out_path)) as (xml, _):
        with c_writes(xml):
            ov.save_model(quantised, str(xml), compress_to_fp16=False)
    return QuantizeReport.of(out_path, len(batches), change)
