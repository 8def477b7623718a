"""An ONNX Runtime depth model that stands in for a `DepthNet` at inference time.

>>> model = OnnxDepthModel("student.onnx")
>>> model(torch.randn(1, 3, 228, 304)).shape      # normalised input -> metres
torch.Size([1, 1, 228, 304])
>>> depth = model.predict("room.jpg")              # H x W float32, as DepthNet.predict

`litedepth.load` (`litedepth.hub`) opens ``.onnx`` files as this class, and with
``backend="onnxruntime"`` runs a network by it (`from_network`: exported in memory, checked
against PyTorch). `open_session` and `session_metadata` are the one place an ONNX Runtime
session is made and its ``litedepth.*`` metadata read (ONNX teachers use them too).

An `OnnxDepthModel` follows `litedepth.hub.DepthModel` (``arch``, ``input_size``, ``mean``,
``std``, ``device``, ``metadata``, ``model(x)``, ``eval()``) and fakes nothing else: it has no
``parameters()``. `litedepth.deploy.flops` counts its parameters and GFLOPs from the graph (`proto`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import LitedepthError, first_line
from .base import ExportedDepthModel, file_metadata
from .onnx_convert import INPUT_NAME, OUTPUT_NAME, onnx_bytes, require_onnx, verify_onnx


class OnnxDepthModel(ExportedDepthModel):
    """ONNX Runtime session with a `DepthNet`'s inference interface (`litedepth.runtimes.base.ExportedDepthModel`).

    ``model(x)``: normalised ``(B, 3, H, W)`` float tensor -> ``(B, 1, H, W)`` tensor, metres (CPU).
    Carries ``arch``, ``input_size``, ``mean``, ``std`` and ``metadata`` from the file's
    ``litedepth.*`` metadata, and ``device`` (always CPU): the `litedepth.hub.DepthModel`
    protocol. ``static_size`` is the one ``(H, W)`` a static export takes (None: dynamic axes).

    ``source`` is a path or the serialised model; ``threads`` sets ONNX Runtime's intra-op
    threads (default: its own choice, one per physical core).
    """

    runtime = "onnxruntime"

    def __init__(self, source: str | os.PathLike | bytes, threads: int | None = None, name: str | None = None) -> None:
        label = name or ("<in-memory ONNX model>" if isinstance(source, bytes) else str(source))
        if not isinstance(source, bytes):
            source = str(source)
        self.session = open_session(source, label, threads=threads)
        names = [i.name for i in self.session.get_inputs()]
        if INPUT_NAME not in names:
            raise LitedepthError(
                f"{label}: ONNX model has inputs {names}, expected one named {INPUT_NAME!r} (export it with litedepth export)"
            )
        self.source = source  # a path (str) or the serialised model (bytes), for `proto`
        shape = self.session.get_inputs()[0].shape  # ints for static axes, strings for symbolic ones
        self.init_metadata(session_metadata(self.session, label), label, "onnx", shape)

    def _run(self, array: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: array})[0]

    def proto(self):
        """The ``onnx.ModelProto`` this session runs, read again from its file or bytes (weights included)."""
        onnx, _ = require_onnx()
        if isinstance(self.source, bytes):
            return onnx.load_from_string(self.source)
        return onnx.load(self.source)


def open_session(
    source: str | os.PathLike | bytes,
    label: str | None = None,
    threads: int | None = None,
    providers: Sequence[str] | None = None,
):
    """An ONNX Runtime ``InferenceSession`` over a file or a serialised model, or a one-line `LitedepthError`.

    ``threads`` sets ONNX Runtime's intra-op threads (default: its own choice); ``providers``
    defaults to the CPU provider.
    """
    _, ort = require_onnx()
    label = label or ("<in-memory ONNX model>" if isinstance(source, bytes) else str(source))
    if not isinstance(source, bytes):
        if not Path(source).is_file():
            raise LitedepthError(f"{source}: no such ONNX file")
        source = str(source)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: quantised graphs log one warning per folded constant
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(source, options, providers=list(providers or ["CPUExecutionProvider"]))
    except Exception as exc:
        raise LitedepthError(f"{label}: not a loadable ONNX model ({first_line(exc, 200)})") from None


def session_metadata(session, label: str) -> dict[str, Any]:
    """The session's ``litedepth.*`` metadata, decoded and checked (`litedepth.metadata.read_metadata`).

    Empty for an ONNX file that ``litedepth export`` did not write (a foreign teacher, say).
    """
    return file_metadata(session.get_modelmeta().custom_metadata_map, label)


def from_network(model: torch.nn.Module, threads: int | None = None, name: str | None = None) -> OnnxDepthModel:
    """A network run by ONNX Runtime: exported in memory (dynamic axes, BN folded) and checked against PyTorch."""
    data = onnx_bytes(model, dynamic=True)
    worst, tolerance = verify_onnx(data, model, [(1, *tuple(model.input_size))])
    label = name or str(getattr(model, "arch", "model"))
    if worst > tolerance:
        raise LitedepthError(f"{label}: ONNX export differs from PyTorch by {worst:.3g} (tolerance {tolerance:.3g})")
    return OnnxDepthModel(data, threads=threads, name=label)


def onnx_parameter_count(proto: Any) -> int:
    """Sum of the element counts of an ``onnx.ModelProto``'s initializers."""
    return sum(math.prod(init.dims) for init in proto.graph.initializer)
