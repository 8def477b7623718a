"""INT8 post-training static quantisation of an exported model with ONNX Runtime.

>>> report = quantize_int8("student.onnx", "student.int8.onnx", "calib_images/")
>>> report.max_abs_change, report.mean_abs_change     # metres, INT8 vs float on those images

Weights per output channel (int8), activations per tensor (uint8), QDQ format; the
activation ranges come from a folder of representative images (its subfolders too),
seen as training and validation see them (resized to hold the input size, centre-cropped,
normalised: `litedepth.preprocess.crop_view`). A file whose depth moves more than the INT8
tolerance from the float model's on those images is refused, not written.
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
from ..metadata import precision_entry
from ..runtimes.onnx_convert import INPUT_NAME, require_onnx
from .check import INT8_TOLERANCE, Int8Change, int8_change, refuse_int8

logger = logging.getLogger(__name__)


@dataclass
class QuantizeReport:
    path: str
    calibration_images: int
    compared_images: int
    max_abs_change: float  # metres, over all pixels of the compared images
    mean_abs_change: float
    float_abs_max: float  # largest |float output| on the compared images, for scale
    relative_change: float = float("nan")  # mean |INT8 - float| / mean |float| (what the tolerance bounds)

    @classmethod
    def of(cls, path: str | os.PathLike, calibration_images: int, change: Int8Change) -> QuantizeReport:
        """The report of the INT8 file ``path``, calibrated on ``calibration_images`` photos, its depth ``change``."""
        return cls(
            str(path),
            calibration_images,
            change.images,
            change.max_abs,
            change.mean_abs,
            change.float_max_abs,
            change.relative,
        )


def calibration_files(folder: str | os.PathLike, max_images: int = 64) -> list[Path]:
    """At most ``max_images`` photos of ``folder`` and its subfolders, spread evenly over the sorted list.

    Single-channel images are left out: the depth maps that NYU layouts and the synthetic sets keep
    beside their photos (16-bit, or 8-bit PNGs in the training splits); calibration wants colour photos.
    """
    from ..inference import collect_images

    if max_images < 1:
        raise LitedepthError(f"--calibration-images {max_images}: must be at least 1")
    folder = Path(folder)
    if not folder.exists():
        raise LitedepthError(f"{folder}: calibration folder does not exist")
    if not folder.is_dir():
        raise LitedepthError(f"{folder}: is a file, not a folder; --calibration takes a folder of images")
    notes = logging.getLogger("litedepth.inference")  # its "skipped depth maps ... predicting" note is predict's
    level, notes.level = notes.level, logging.ERROR
    try:
        files = [Path(p) for p, _ in collect_images([str(folder)], check=False)]
    except LitedepthError:
        files = []
    finally:
        notes.setLevel(level)
    colour = [p for p in files if not _single_channel(p)]
    if len(colour) < len(files):
        logger.info("calibration: left out %d single-channel image(s) (depth maps)", len(files) - len(colour))
    if not colour:
        what = f"only {len(files)} single-channel image(s) (depth maps)" if files else "no images"
        raise LitedepthError(
            f"{folder}: holds {what} for calibration ({', '.join(IMAGE_EXTENSIONS)}), in it or its subfolders; "
            "give a folder of colour photos"
        )
    step = max(1, len(colour) // max_images)
    return colour[::step][:max_images]


def check_calibration(folder: str | os.PathLike, max_images: int = 64) -> list[Path]:
    """`calibration_files`, each of them checked to open as an image: run before anything is written."""
    from PIL import Image

    from ..fileio import unreadable_image

    files = calibration_files(folder, max_images)
    for path in files:
        try:
            with Image.open(path):
                pass
        except Exception as exc:  # PIL raises many types for bad files
            raise unreadable_image(path, exc) from None
    return files


def _single_channel(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.mode in ("L", "LA", "1", "I", "F") or img.mode.startswith("I;16")
    except Exception:  # unreadable: `read_rgb` reports it on one line
        return False


def calibration_batches(folder: str | os.PathLike, input_size, mean, std, max_images: int = 64) -> list[np.ndarray]:
    """``(1, 3, H, W)`` float32 arrays of the photos under ``folder`` (`calibration_files`) at ``input_size``.

    Each photo is seen as training and validation see it (`litedepth.preprocess.crop_view`):
    resized to hold the crop, whatever its shape (portrait, small, elongated), and centre-cropped;
    never stretched or padded.
    """
    from ..preprocess import crop_view, prepare_images

    files = calibration_files(folder, max_images)
    return [prepare_images([crop_view(read_rgb(p), input_size)], input_size, mean, std).numpy() for p in files]


def float_batches(float_model, calibration_dir: str | os.PathLike, max_images: int) -> list[np.ndarray]:
    """`calibration_batches` at the input size and normalisation of the exported ``float_model``."""
    from ..preprocess import stats_of

    return calibration_batches(calibration_dir, float_model.input_size, *stats_of(float_model), max_images=max_images)


def quantize_int8(
    onnx_path: str | os.PathLike,
    out_path: str | os.PathLike,
    calibration_dir: str | os.PathLike,
    max_images: int = 64,
    tolerance: float = INT8_TOLERANCE,
    model=None,
) -> QuantizeReport:
    """Quantise ``onnx_path`` (a `litedepth export` file) to ``out_path``; compare INT8 with float, refuse past ``tolerance``.

    ``tolerance``: the largest mean |INT8 - float| as a fraction of the mean |float| depth
    (`litedepth.deploy.check.refuse_int8`); nothing is written past it. ``model`` is not needed
    (the file holds all it needs): every quantiser of `litedepth.deploy.formats.FORMATS` takes it.
    """
    _, ort = require_onnx()
    from ..runtimes.onnx import OnnxDepthModel

    float_model = OnnxDepthModel(onnx_path)
    batches = float_batches(float_model, calibration_dir, max_images)
    out_path = Path(out_path)
    with _quantizer_notes_dropped(ort), atomic_path(out_path) as tmp:
        _quantize_static(onnx_path, tmp, batches)
        _mark_int8(tmp)
        int8_model = OnnxDepthModel(tmp, name=str(out_path))
        compared = batches[: min(len(batches), 8)]
        change = int8_change(float_model._run, int8_model._run, compared)
        refuse_int8(change, out_path, tolerance)
        del int8_model
    return QuantizeReport.of(out_path, len(batches), change)


def _quantize_static(onnx_path, tmp: Path, batches: list[np.ndarray]) -> None:
    """ONNX Runtime's static QDQ quantisation: weights int8 per channel, activations uint8 per tensor."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._iter = iter(batches)

        def get_next(self):
            batch = next(self._iter, None)
            return None if batch is None else {INPUT_NAME: batch}

    quantize_static(
        str(onnx_path),
        str(tmp),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )


def _mark_int8(path: Path) -> None:
    """Record ``litedepth.precision = int8`` in the quantised file (ORT copies the float model's metadata through)."""
    onnx, _ = require_onnx()
    proto, mark = onnx.load(str(path)), precision_entry("int8")
    for entry in list(proto.metadata_props):
        if entry.key in mark:
            proto.metadata_props.remove(entry)
    for key, value in mark.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


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
