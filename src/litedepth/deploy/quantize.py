"""INT8 post-training static quantisation of an exported model with ONNX Runtime.

>>> report = quantize_int8("student.onnx", "student.int8.onnx", "calib_images/")
>>> report.max_abs_change, report.mean_abs_change     # metres, INT8 vs float on those images

Weights per output channel (int8), activations per tensor (uint8), QDQ format; the
activation ranges come from a folder of representative images, preprocessed exactly
as `litedepth.inference` does (resize to the model's input size, normalise).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LitedepthError
from ..fileio import IMAGE_EXTENSIONS, atomic_path, read_rgb
from ..runtimes.onnx_convert import INPUT_NAME, require_onnx


@dataclass
class QuantizeReport:
    path: str
    calibration_images: int
    compared_images: int
    max_abs_change: float  # metres, over all pixels of the compared images
    mean_abs_change: float
    float_abs_max: float  # largest |float output| on the compared images, for scale


def calibration_batches(folder: str | os.PathLike, input_size, mean, std, max_images: int = 64) -> list[np.ndarray]:
    """``(1, 3, H, W)`` float32 arrays of the images in ``folder`` (sorted, at most ``max_images``)."""
    from ..preprocess import prepare_images

    folder = Path(folder)
    if not folder.is_dir():
        raise LitedepthError(f"{folder}: calibration folder does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)[:max_images]
    if not files:
        raise LitedepthError(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) for calibration")
    return [prepare_images([read_rgb(p)], input_size, mean, std).numpy() for p in files]


def quantize_int8(
    onnx_path: str | os.PathLike, out_path: str | os.PathLike, calibration_dir: str | os.PathLike, max_images: int = 64
) -> QuantizeReport:
    """Quantise ``onnx_path`` (a `litedepth export` file) to ``out_path``; compare INT8 with float."""
    _, ort = require_onnx()
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from ..preprocess import stats_of
    from ..runtimes.onnx import OnnxDepthModel

    float_model = OnnxDepthModel(onnx_path)
    batches = calibration_batches(
        calibration_dir, float_model.input_size, *stats_of(float_model), max_images=max_images
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._iter = iter(batches)

        def get_next(self):
            batch = next(self._iter, None)
            return None if batch is None else {INPUT_NAME: batch}

    out_path = Path(out_path)
    with _quantizer_notes_dropped(ort), atomic_path(out_path) as tmp:
        quantize_static(
            str(onnx_path),
            str(tmp),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        # ORT writes the metadata of the float model through; check, then compare outputs.
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: the session logs one line per constant it drops
        session = ort.InferenceSession(str(tmp), options, providers=["CPUExecutionProvider"])
        compared = batches[: min(len(batches), 8)]
        diffs, scale = [], 0.0
        for batch in compared:
            ref = float_model.session.run(None, {INPUT_NAME: batch})[0]
            out = session.run(None, {INPUT_NAME: batch})[0]
            diffs.append(np.abs(out - ref).ravel())
            scale = max(scale, float(np.abs(ref).max()))
        del session
    change = np.concatenate(diffs)
    return QuantizeReport(str(out_path), len(batches), len(compared), float(change.max()), float(change.mean()), scale)


class _DropBelowError(logging.Filter):
    """Drops records under ERROR that the code in ``folder`` logs on the root logger."""

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = os.path.join(folder, "")  # with the separator: not a sibling folder of the same prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not record.pathname.startswith(self.folder)


@contextlib.contextmanager
def _quantizer_notes_dropped(ort) -> Iterator[None]:
    """While ``quantize_static`` runs, drop the notes its quantiser logs (one line per unused constant,
    advice on pre-processing); errors pass. Nothing global is changed for longer than that.

    The quantiser logs with ``logging.warning``/``logging.info`` on the root logger, so a filter is
    added there for those records only, and removed afterwards; a root logger without handlers gets
    a `logging.NullHandler` meanwhile, so that those calls do not install a default one for good
    (``logging.basicConfig``).
    """
    root = logging.getLogger()
    notes = _DropBelowError(os.path.dirname(ort.__file__))
    placeholder = logging.NullHandler() if not root.handlers else None
    root.addFilter(notes)
    if placeholder is not None:
        root.addHandler(placeholder)
    try:
        yield
    finally:
        root.removeFilter(notes)
        if placeholder is not None:
            root.removeHandler(placeholder)
