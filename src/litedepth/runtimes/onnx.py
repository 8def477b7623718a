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

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..camera import Intrinsics
from ..errors import LitedepthError, first_line
from ..metadata import read_metadata
from ..models import ARCHITECTURES
from ..preprocess import IMAGENET_MEAN, IMAGENET_STD
from .onnx_convert import INPUT_NAME, META_PREFIX, OUTPUT_NAME, onnx_bytes, require_onnx, verify_onnx


class OnnxDepthModel:
    """ONNX Runtime session with a `DepthNet`'s inference interface.

    ``model(x)``: normalised ``(B, 3, H, W)`` float tensor -> ``(B, 1, H, W)`` tensor, metres (CPU).
    Carries ``arch``, ``input_size``, ``mean``, ``std`` and ``metadata`` from the file's
    ``litedepth.*`` metadata, and ``device`` (always CPU): the `litedepth.hub.DepthModel`
    protocol. ``static_size`` is the one ``(H, W)`` a static export takes (None: dynamic axes).

    ``source`` is a path or the serialised model; ``threads`` sets ONNX Runtime's intra-op
    threads (default: its own choice, one per physical core).
    """

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
        meta = session_metadata(self.session, label)
        if "input_size" not in meta:
            raise LitedepthError(
                f"{label}: ONNX model has no litedepth metadata (input size, normalisation); export it with litedepth export"
            )
        self.name = label
        self.source = source  # a path (str) or the serialised model (bytes), for `proto`
        self.arch: str = meta.get("arch", "custom")
        self.config: dict[str, Any] = meta.get("config", {})
        self.input_size: tuple[int, int] = tuple(meta["input_size"])
        self.mean: tuple[float, ...] = tuple(meta.get("mean", IMAGENET_MEAN))
        self.std: tuple[float, ...] = tuple(meta.get("std", IMAGENET_STD))
        self.metadata: dict[str, Any] = {
            "source": meta.get("source", ""),
            "format": "onnx",
            "training": meta.get("training", {}),
        }
        self.dynamic: bool = bool(meta.get("dynamic", False))
        self.camera = (
            Intrinsics.from_dict(meta["camera"]) if meta.get("camera") else Intrinsics.nyu()
        )  # the training camera
        shape = self.session.get_inputs()[0].shape  # ints for static axes, strings for symbolic ones
        self.static_batch = shape[0] if isinstance(shape[0], int) else None
        self.static_size = tuple(shape[2:]) if all(isinstance(s, int) for s in shape[2:]) else None
        self.training = False
        self.device = torch.device("cpu")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, 3, H, W)`` -> ``(B, 1, H, W)`` metres; a static export's batch is split into runs."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise LitedepthError(f"{self.name}: expected a (B, 3, H, W) input, got {tuple(x.shape)}")
        if self.static_size is not None and tuple(x.shape[2:]) != self.static_size:
            raise LitedepthError(
                f"{self.name}: exported for {self.static_size[0]}x{self.static_size[1]} inputs, got "
                f"{x.shape[2]}x{x.shape[3]} (re-export with --dynamic or --size)"
            )
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        step = self.static_batch or len(array)
        outs = [
            self.session.run([OUTPUT_NAME], {INPUT_NAME: array[i : i + step]})[0] for i in range(0, len(array), step)
        ]
        return torch.from_numpy(np.concatenate(outs) if len(outs) > 1 else outs[0])

    forward = __call__

    def eval(self) -> OnnxDepthModel:
        self.training = False
        return self

    def train(self, mode: bool = True) -> OnnxDepthModel:
        """Recorded only: an ONNX Runtime session always runs in inference mode."""
        self.training = bool(mode)
        return self

    def to(self, device: Any) -> OnnxDepthModel:
        if torch.device(device).type != "cpu":
            raise LitedepthError(f"{self.name}: the ONNX Runtime backend runs on CPU only, not {device}")
        return self

    def proto(self):
        """The ``onnx.ModelProto`` this session runs, read again from its file or bytes (weights included)."""
        onnx, _ = require_onnx()
        if isinstance(self.source, bytes):
            return onnx.load_from_string(self.source)
        return onnx.load(self.source)

    def predict(self, images, batch_size: int = 8, device: Any = None, focal: float | None = None):
        """Depth in metres for one image (-> ``H x W`` float32) or a list, as `DepthNet.predict` (``focal`` too)."""
        from ..camera import in_camera
        from ..inference import predict

        return in_camera(predict(self, images, batch_size=batch_size, device="cpu"), focal, self.camera)

    def __repr__(self) -> str:
        return f"OnnxDepthModel(arch={self.arch!r}, input_size={self.input_size}, source={self.name!r})"


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
    raw = session.get_modelmeta().custom_metadata_map
    ours = {k[len(META_PREFIX) :]: v for k, v in raw.items() if k.startswith(META_PREFIX)}
    return read_metadata(ours, label, ARCHITECTURES, prefix=META_PREFIX, custom_arch=True)


def from_network(model: torch.nn.Module, threads: int | None = None, name: str | None = None) -> OnnxDepthModel:
    """A network run by ONNX Runtime: exported in memory (dynamic axes, BN folded) and checked against PyTorch."""
    data = onnx_bytes(model, dynamic=True)
    worst, tolerance = verify_onnx(data, model, [(1, *tuple(model.input_size))])
    label = name or str(getattr(model, "arch", "model"))
    if worst > tolerance:
        raise LitedepthError(f"{label}: ONNX export differs from PyTorch by {worst:.3g} (tolerance {tolerance:.3g})")
    return OnnxDepthModel(data, threads=threads, name=label)
