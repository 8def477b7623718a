"""The export formats: what each writes, which extra converts it, how it is checked and whether it has INT8.

>>> report = export_model(model, "openvino", "student.xml")
>>> report = export_int8("openvino", "student.xml", "calib/")    # writes student.int8.xml

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
another aspect ratio are then letterboxed by `litedepth.inference.predict`). `FORMATS` holds the
table; the files each runs as are rows of `litedepth.runtimes.kinds.RUNTIMES`, named by suffix.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import LitedepthError


@dataclass(frozen=True)
class Format:
    """One export format. Its functions are named ``"MODULE:FUNCTION"`` under `litedepth` and imported when used."""

    name: str
    suffix: str  # what the output path ends with ("" for the NCNN folder)
    extra: str  # pip install 'litedepth[EXTRA]'
    folder: bool  # the output is a folder (renamed into place as a whole)
    options: tuple[str, ...]  # what the exporter takes beside ``size``: "dynamic" (--dynamic), "opset"
    requires: tuple[str, ...]  # what imports the converter, or raises one line naming the extra
    exporter: str  # (model, out, size=..., *options) -> ExportReport, checked as the table above says
    quantiser: str | None  # (float_path, out, calibration, max_images, tolerance, model) -> QuantizeReport
    runtime: str | None  # its row of `litedepth.runtimes.kinds.RUNTIMES` (None: not run here)

    @property
    def dynamic(self) -> bool:
        """Takes ``--dynamic``."""
        return "dynamic" in self.options

    @property
    def int8(self) -> bool:
        """`export_int8` writes ``NAME.int8.EXT``."""
        return self.quantiser is not None


FORMATS: dict[str, Format] = {
    "onnx": Format(
        "onnx", ".onnx", "onnx", False, ("dynamic", "opset"), ("runtimes.onnx_convert:require_onnx",),
        "deploy.export:export_onnx", "deploy.quantize:quantize_int8", ".onnx",
    ),
    "openvino": Format(
        "openvino", ".xml", "openvino", False, ("dynamic",), ("runtimes.openvino:require_openvino",),
        "deploy.openvino:export_openvino", "deploy.openvino:quantize_openvino", ".xml",
    ),
    "tflite": Format(
        "tflite", ".tflite", "litert-export", False, (),
        ("deploy.litert:require_litert_torch", "runtimes.litert:require_litert"),
        "deploy.litert:export_tflite", "deploy.litert:quantize_tflite", ".tflite",
    ),
    "coreml": Format(
        "coreml", ".mlpackage", "coreml", True, (), ("deploy.coreml:require_coremltools",),
        "deploy.coreml:export_coreml", "deploy.coreml:quantize_coreml", None,
    ),
    "ncnn": Format(
        "ncnn", "", "ncnn", True, (), ("deploy.ncnn:require_pnnx", "runtimes.ncnn:require_ncnn"),
        "deploy.ncnn:export_ncnn", None, ".param",
    ),
}  # fmt: skip
FORMAT_NAMES = tuple(FORMATS)
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


def function(name: str):
    """``"MODULE:FUNCTION"`` under `litedepth` (a field of `Format`) -> the function, its module imported now."""
    module, attr = name.split(":")
    return getattr(importlib.import_module(f"litedepth.{module}"), attr)


def require_converter(name: str) -> None:
    """Import what a format's export needs, or one line naming the extra (before any model is opened)."""
    for require in get_format(name).requires:
        function(require)()


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
    fmt = get_format(name)
    options = {key: value for key, value in (("dynamic", dynamic), ("opset", opset)) if key in fmt.options}
    return function(fmt.exporter)(model, out, size=size, **options)


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

    fmt, tolerance = get_format(name), INT8_TOLERANCE if tolerance is None else tolerance
    if fmt.quantiser is None:
        *others, last = [f.name for f in FORMATS.values() if f.int8]
        available = f"{', '.join(others)} and {last}"
        raise LitedepthError(f"--int8: not available for {fmt.name} exports ({available} have it)")
    quantise = function(fmt.quantiser)
    return quantise(float_path, int8_path(float_path), calibration, max_images, tolerance, model=model)
