"""The export formats: what each writes, which extra converts it, how it is checked and whether it has INT8.

>>> report = export_model(model, "openvino", "student.xml")
>>> report, change = export_int8("openvino", "student.xml", "calib/")    # writes student.int8.xml

========  =====================  ==================  ==================  =============================================
format    output                 extra               INT8                checked by
========  =====================  ==================  ==================  =============================================
onnx      NAME.onnx              onnx                ORT static QDQ      ONNX Runtime vs PyTorch
openvino  NAME.xml + NAME.bin    openvino            NNCF                OpenVINO (CPU, f32 hint) vs PyTorch
tflite    NAME.tflite            litert-export       ai-edge-quantizer   LiteRT's interpreter (XNNPACK) vs PyTorch
coreml    NAME.mlpackage/        coreml              weights only        its specification (Core ML runs on macOS only)
ncnn      NAME/ (model.ncnn.*)   ncnn                -                   ncnn's Python module vs PyTorch
========  =====================  ==================  ==================  =============================================

Only ONNX and OpenVINO take ``--dynamic``; the others are exported at one fixed size (photos of
another aspect ratio are then letterboxed by `litedepth.inference.predict`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import LitedepthError

FORMAT_NAMES = ("onnx", "openvino", "tflite", "coreml", "ncnn")


@dataclass(frozen=True)
class Format:
    """One export format."""

    name: str
    suffix: str  # what the output path ends with ("" for the NCNN folder)
    extra: str  # pip install 'litedepth[EXTRA]'
    folder: bool  # the output is a folder (renamed into place as a whole)
    dynamic: bool  # takes --dynamic
    int8: bool  # `export_int8` writes NAME.int8.EXT


FORMATS: dict[str, Format] = {
    "onnx": Format("onnx", ".onnx", "onnx", False, True, True),
    "openvino": Format("openvino", ".xml", "openvino", False, True, True),
    "tflite": Format("tflite", ".tflite", "litert-export", False, False, True),
    "coreml": Format("coreml", ".mlpackage", "coreml", True, False, True),
    "ncnn": Format("ncnn", "", "ncnn", True, False, False),
}
KNOWN_SUFFIXES = (".onnx", ".xml", ".bin", ".tflite", ".mlpackage", ".param", ".safetensors", ".pt", ".pth")


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise LitedepthError(f"--format {name!r}: expected one of {', '.join(FORMAT_NAMES)}")
    return FORMATS[name]


def check_output(fmt: Format, out: str | os.PathLike) -> Path:
    """``out`` if it suits ``fmt`` (its suffix; an NCNN folder has none of a model file), else one line."""
    out = Path(out)
    if fmt.suffix and out.suffix.lower() != fmt.suffix:
        raise LitedepthError(f"{out}: a {fmt.name} output must end in {fmt.suffix}")
    if not fmt.suffix and out.suffix.lower() in KNOWN_SUFFIXES:
        raise LitedepthError(f"{out}: an NCNN export is a folder (e.g. student_ncnn), not a {out.suffix} file")
    return out


def output_files(fmt: Format, out: str | os.PathLike) -> list[Path]:
    """Every path an export to ``out`` writes (an OpenVINO IR: the ``.xml`` and its ``.bin``)."""
    out = Path(out)
    return [out, out.with_suffix(".bin")] if fmt.name == "openvino" else [out]


def int8_path(out: str | os.PathLike) -> Path:
    """``NAME.int8.EXT`` beside ``NAME.EXT``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.int8{out.suffix}")


def require_converter(name: str) -> None:
    """Import what a format's export needs, or one line naming the extra (before any model is opened)."""
    if name == "onnx":
        from ..runtimes.onnx_convert import require_onnx

        require_onnx()
    elif name == "openvino":
        from ..runtimes.openvino import require_openvino

        require_openvino()
    elif name == "tflite":
        from ..runtimes.litert import require_litert
        from .litert import require_litert_torch

        require_litert_torch(), require_litert()
    elif name == "coreml":
        from .coreml import require_coremltools

        require_coremltools()
    else:
        from ..runtimes.ncnn import require_ncnn
        from .ncnn import require_pnnx

        require_pnnx(), require_ncnn()


def export_model(model, name: str, out: str | os.PathLike, size=None, dynamic: bool = False, opset: int = 17):
    """Export ``model`` to ``out`` in format ``name``, checked as the table above says; returns an `ExportReport`.

    A write that does not fit (a full disk, a quota, a file size limit) is one line naming ``out``.
    """
    fmt = get_format(name)
    if dynamic and not fmt.dynamic:
        raise LitedepthError(f"--dynamic: {fmt.name} exports have one fixed input size; leave --dynamic out")
    from .files import export_written

    with export_written(out):
        return _export(model, name, out, size, dynamic, opset)


def _export(model, name: str, out, size, dynamic: bool, opset: int):
    if name == "onnx":
        from .export import export_onnx

        return export_onnx(model, out, size=size, dynamic=dynamic, opset=opset)
    if name == "openvino":
        from .openvino import export_openvino

        return export_openvino(model, out, size=size, dynamic=dynamic)
    if name == "tflite":
        from .litert import export_tflite

        return export_tflite(model, out, size=size)
    if name == "coreml":
        from .coreml import export_coreml

        return export_coreml(model, out, size=size)
    from .ncnn import export_ncnn

    return export_ncnn(model, out, size=size)


def export_int8(name: str, float_path, calibration, max_images: int = 64, tolerance: float | None = None, model=None):
    """INT8 of the exported ``float_path`` beside it (`int8_path`), as a `QuantizeReport`; refused past ``tolerance``.

    ``model``: the network ``float_path`` was exported from (Core ML, whose files cannot run here, needs it).
    A write that does not fit is one line naming the INT8 path.
    """
    from .files import export_written

    with export_written(int8_path(float_path)):
        return _export_int8(name, float_path, calibration, max_images, tolerance, model)


def _export_int8(name: str, float_path, calibration, max_images: int, tolerance: float | None, model):
    from .check import INT8_TOLERANCE
    from .quantize import QuantizeReport, calibration_batches, quantize_int8

    fmt, tolerance = get_format(name), INT8_TOLERANCE if tolerance is None else tolerance
    if not fmt.int8:
        raise LitedepthError(
            f"--int8: not available for {fmt.name} exports (onnx, openvino, tflite and coreml have it)"
        )
    out = int8_path(float_path)
    if name == "onnx":
        return quantize_int8(float_path, out, calibration, max_images=max_images, tolerance=tolerance)
    from ..preprocess import stats_of

    if name == "coreml":
        return _coreml_int8(model, float_path, out, calibration, max_images, tolerance)
    if name == "tflite":
        from ..runtimes.litert import LiteRTDepthModel
        from .litert import quantize_tflite as quantize

        float_model = LiteRTDepthModel(float_path)
    else:
        from ..runtimes.openvino import OpenVinoDepthModel
        from .openvino import quantize_openvino as quantize

        float_model = OpenVinoDepthModel(float_path)
    batches = calibration_batches(calibration, float_model.input_size, *stats_of(float_model), max_images)
    change = quantize(float_path, out, batches, tolerance=tolerance)
    return QuantizeReport(
        str(out), len(batches), change.images, change.max_abs, change.mean_abs, change.float_max_abs, change.relative
    )


def _coreml_int8(model, float_path, out, calibration, max_images: int, tolerance: float):
    """Weight-only INT8 of a Core ML package, its depth change measured on ``model`` (`quantize_coreml`)."""
    from ..preprocess import stats_of
    from .coreml import package_input_size, quantize_coreml
    from .quantize import QuantizeReport, calibration_batches

    if model is None:
        raise LitedepthError(f"{float_path}: Core ML INT8 needs the network it was exported from")
    batches = calibration_batches(calibration, package_input_size(float_path), *stats_of(model), max_images)
    change = quantize_coreml(model, float_path, out, batches, tolerance=tolerance)
    return QuantizeReport(
        str(out), len(batches), change.images, change.max_abs, change.mean_abs, change.float_max_abs, change.relative
    )
