"""A LiteRT (TensorFlow Lite) depth model: a ``.tflite`` file run by LiteRT's interpreter (XNNPACK on CPU).

>>> model = LiteRTDepthModel("student.tflite", threads=1)
>>> model(torch.randn(1, 3, 228, 304)).shape      # normalised NCHW input -> metres
torch.Size([1, 1, 228, 304])

Files written by ``litedepth export --format tflite`` (litert-torch) take the NCHW input of the
PyTorch network, at one fixed size and batch 1. The ``litedepth.*`` metadata is a JSON object of
strings in the flatbuffer's metadata entry named ``litedepth`` (`write_metadata`, `read_metadata_entry`).
An INT8 file with quantised input or output is fed and read through its scale and zero point.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LitedepthError, reason_of
from .base import ExportedDepthModel, file_metadata
from .onnx_convert import output_held

logger = logging.getLogger(__name__)

ENTRY = "litedepth"  # the flatbuffer metadata entry that holds the litedepth.* JSON
IDENTIFIER = b"TFL3"  # the flatbuffer file identifier of every .tflite file, bytes 4 to 8


def require_litert():
    """Import LiteRT's interpreter or raise a one-line error naming the extra."""
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        raise LitedepthError(
            "LiteRT support needs the 'ai-edge-litert' package: pip install 'litedepth[litert]'"
        ) from None
    return interpreter


def raw_metadata_entry(data: bytes, label: str) -> dict[str, str]:
    """The ``litedepth`` metadata entry of a ``.tflite`` flatbuffer as stored (litedepth.* strings; {} when none)."""
    from ai_edge_litert import schema_py_generated as schema

    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise not_a_tflite(label, data, f"no {IDENTIFIER.decode()} identifier at its start")
    try:
        model = schema.Model.GetRootAsModel(data, 0)
        entries = [model.Metadata(i) for i in range(model.MetadataLength())]
        found = [e for e in entries if e.Name() == ENTRY.encode()]
        if not found:
            return {}
        raw = bytes(model.Buffers(found[0].Buffer()).DataAsNumpy())
    except Exception:  # offsets that point past the end (struct.error, IndexError) or into garbage
        raise not_a_tflite(label, data, "its tables point past its end or into garbage") from None
    try:
        return json.loads(raw.decode())
    except ValueError as exc:
        raise LitedepthError(
            f"{label}: unreadable litedepth metadata in the .tflite file ({reason_of(exc, 120)})"
        ) from None


def not_a_tflite(label: str, data: bytes, why: str) -> LitedepthError:
    """The one line for bytes that are no whole ``.tflite`` flatbuffer (a cut download or copy, another file)."""
    return LitedepthError(f"{label}: truncated or not a valid LiteRT (.tflite) file ({len(data):,} bytes; {why})")


def unloadable(label: str, data: bytes, exc: Exception) -> LitedepthError:
    """The one line for a file LiteRT's interpreter refuses: cut or damaged bytes, or a graph it cannot run."""
    reason = reason_of(exc, 120)
    if "flatbuffer" in reason.lower() or "identifier" in reason.lower():  # LiteRT's verifier refused the bytes
        return not_a_tflite(label, data, reason)
    return LitedepthError(f"{label}: not a loadable .tflite model ({reason})")


def read_metadata_entry(data: bytes, label: str) -> dict[str, Any]:
    """The decoded ``litedepth`` metadata entry of a ``.tflite`` flatbuffer ({} when it has none)."""
    return file_metadata(raw_metadata_entry(data, label), label)


def write_metadata(source: str | os.PathLike, target: str | os.PathLike, metadata: dict[str, str]) -> None:
    """Copy the ``.tflite`` file ``source`` to ``target`` with ``metadata`` (litedepth.* strings) as its ``litedepth`` entry."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = ENTRY, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (ENTRY, ENTRY.encode())] + [entry]
    flatbuffer_utils.write_model(model, str(target))


def _interpreter(interpreter, data: bytes, threads: int | None, label: str):
    """LiteRT's interpreter on ``data`` with XNNPACK, or with the reference kernels where XNNPACK refuses the graph."""
    with output_held({}):  # LiteRT's C++ notes ("Created TensorFlow Lite XNNPACK delegate")
        try:
            runner = interpreter.Interpreter(model_content=data, num_threads=threads or None)
            runner.allocate_tensors()
            return runner
        except RuntimeError as exc:
            if "XNNPACK" not in str(exc):
                raise
        # e.g. INT8 graphs whose quantisation scales are outside XNNPACK's range
        runner = interpreter.Interpreter(
            model_content=data,
            num_threads=threads or None,
            experimental_op_resolver_type=interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        runner.allocate_tensors()
    logger.warning("%s: XNNPACK cannot run this graph; running LiteRT's reference kernels (slower)", label)
    return runner


def open_interpreter(path: str | os.PathLike, threads: int | None = None, label: str | None = None):
    """``(interpreter, metadata)`` of any ``.tflite`` file (its ``litedepth`` entry decoded; {} without one).

    For files from anywhere (a teacher without litedepth metadata); `LiteRTDepthModel` wraps our own exports.
    """
    interpreter = require_litert()
    path = Path(path)
    label = label or str(path)
    if not path.is_file():
        raise LitedepthError(f"{path}: no such .tflite file")
    data = path.read_bytes()
    meta = read_metadata_entry(data, label)
    try:
        return _interpreter(interpreter, data, threads, label), meta
    except Exception as exc:
        raise unloadable(label, data, exc) from None


class LiteRTDepthModel(ExportedDepthModel):
    """A ``.tflite`` file run by LiteRT's interpreter with a `DepthNet`'s inference interface (`ExportedDepthModel`).

    ``threads``: the interpreter's threads (default: LiteRT's own choice).
    """

    runtime = "litert"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, name: str | None = None) -> None:
        interpreter = require_litert()
        label = name or str(path)
        path = Path(path)
        if not path.is_file():
            raise LitedepthError(f"{path}: no such .tflite file")
        data = self._data = path.read_bytes()
        meta = read_metadata_entry(data, label)
        try:
            self.interpreter = _interpreter(interpreter, data, threads, label)
        except Exception as exc:
            raise unloadable(label, data, exc) from None
        self.input_detail = self.interpreter.get_input_details()[0]
        self.output_detail = self.interpreter.get_output_details()[0]
        shape = [int(v) for v in self.input_detail["shape"]]
        if len(shape) != 4 or shape[1] != 3:
            raise LitedepthError(f"{label}: expected one (1, 3, H, W) input, the file takes {shape}")
        self.init_metadata(meta, label, "tflite", shape)
        self.precision = meta.get("precision", "int8" if self.input_detail["dtype"] == np.int8 else "fp32")

    def parameter_count(self) -> int:
        """Elements of the tensors whose data the file holds (`tflite_parameter_count`)."""
        return tflite_parameter_count(self._data)

    def _run(self, array: np.ndarray) -> np.ndarray:
        i, o = self.input_detail, self.output_detail
        if i["dtype"] != np.float32:
            scale, zero = i["quantization"]
            info = np.iinfo(i["dtype"])
            array = np.clip(np.round(array / scale + zero), info.min, info.max).astype(i["dtype"])
        self.interpreter.set_tensor(i["index"], array)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(o["index"])
        if o["dtype"] != np.float32:
            scale, zero = o["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        return out


def tflite_parameter_count(data: bytes) -> int:
    """Elements of the tensors whose data a ``.tflite`` file holds: weights, biases and the graph's shape
    constants (quantisation parameters of INT8 files aside)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(data, 0)
    total = 0
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            buffer = model.Buffers(tensor.Buffer())
            if buffer is not None and (buffer.DataLength() > 0 or buffer.Size() > 0):
                total += int(np.prod(tensor.ShapeAsNumpy())) if tensor.ShapeLength() else 1
    return total
