"""What every exported-model runtime shares: the ``litedepth.*`` metadata, the input checks, batching, predict.

>>> class MyRuntime(ExportedDepthModel):
...     def _run(self, array):            # (b, 3, H, W) float32 -> (b, 1, H, W) float32, metres
...         return engine.infer(array)
>>> model = MyRuntime(); model.init_metadata(raw, "model.xyz", "xyz", input_shape=(1, 3, 228, 304))

The metadata is the string map that `litedepth.metadata.export_metadata` writes (keys
``litedepth.arch``, ``litedepth.input_size``, ``litedepth.mean`` ...): inside each format that can
hold it (ONNX ``metadata_props``, OpenVINO ``rt_info``, a LiteRT metadata buffer), else in a sidecar
JSON next to the model file (`sidecar_path`, NCNN). It is decoded and checked once, here, by
`litedepth.metadata.read_metadata`, so that a broken value is refused on one line naming the file.

A subclass sets ``runtime`` (the engine's name) and implements ``_run`` for one chunk of at most
``static_batch`` images; `ExportedDepthModel.__call__` checks the input, splits a batch for a
static export and concatenates.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..camera import Intrinsics
from ..errors import LitedepthError
from ..metadata import META_PREFIX, read_metadata, unprefixed
from ..models import ARCHITECTURES
from ..preprocess import IMAGENET_MEAN, IMAGENET_STD

SIDECAR_SUFFIX = ".json"  # NCNN: model.ncnn.param + model.ncnn.bin + model.ncnn.json


def file_metadata(raw: Mapping[str, str], label: str, prefixed: bool = True) -> dict[str, Any]:
    """The ``litedepth.*`` entries of ``raw`` (string map) decoded and checked; {} when it holds none.

    ``prefixed``: the keys carry ``litedepth.`` (ONNX, sidecar JSON); OpenVINO's ``rt_info`` section
    holds them without it.
    """
    if prefixed:
        raw = unprefixed(raw)
    return read_metadata(raw, label, ARCHITECTURES, prefix=META_PREFIX, custom_arch=True)


def sidecar_path(model_path: str | os.PathLike) -> Path:
    """The metadata JSON that sits beside a model file of a format without metadata: ``X.ncnn.param`` -> ``X.ncnn.json``."""
    path = Path(model_path)
    return path.with_suffix(SIDECAR_SUFFIX)


def read_sidecar(model_path: str | os.PathLike, label: str | None = None) -> dict[str, Any]:
    """The decoded metadata of the sidecar JSON of ``model_path``, or a one-line `LitedepthError`."""
    side = sidecar_path(model_path)
    label = label or str(model_path)
    if not side.is_file():
        raise LitedepthError(f"{label}: no metadata file {side.name} beside it (export it with litedepth export)")
    try:
        raw = json.loads(side.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LitedepthError(f"{side}: not a JSON metadata file ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise LitedepthError(f"{side}: expected a JSON object of litedepth.* strings")
    return file_metadata(raw, str(side))


def write_sidecar(model_path: str | os.PathLike, metadata: Mapping[str, str]) -> Path:
    """Write ``metadata`` (`litedepth.metadata.export_metadata`) as the sidecar JSON of ``model_path``; its path."""
    side = sidecar_path(model_path)
    side.write_text(json.dumps(dict(metadata), indent=1))
    return side


def static_dims(shape: Sequence[Any]) -> tuple[int | None, tuple[int, int] | None]:
    """``(batch, (H, W))`` of an input shape whose entries are ints for fixed axes; None where an axis is free."""
    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    spatial = tuple(shape[2:4])
    size = spatial if all(isinstance(s, int) and s > 0 for s in spatial) else None
    return batch, size


class ExportedDepthModel:
    """An exported depth network run by some engine, with a `DepthNet`'s inference interface.

    ``model(x)``: normalised ``(B, 3, H, W)`` float tensor -> ``(B, 1, H, W)`` tensor, metres (CPU).
    Carries ``arch``, ``input_size``, ``mean``, ``std``, ``camera``, ``metadata`` and ``device``
    (the `litedepth.hub.DepthModel` protocol), ``dynamic`` (any input size) and ``static_size``
    / ``static_batch`` (the one ``(H, W)`` and batch a static export takes; None: free).
    ``precision`` is ``"fp32"`` or ``"int8"``.
    """

    runtime = "runtime"

    def init_metadata(self, meta: Mapping[str, Any], label: str, fmt: str, input_shape: Sequence[Any]) -> None:
        """Set the protocol's attributes from decoded metadata (`file_metadata`) and the engine's input shape."""
        if "input_size" not in meta:
            raise LitedepthError(
                f"{label}: has no litedepth metadata (input size, normalisation); export it with litedepth export"
            )
        self.name = label
        self.arch: str = meta.get("arch", "custom")
        self.config: dict[str, Any] = meta.get("config", {})
        self.input_size: tuple[int, int] = tuple(meta["input_size"])
        self.mean: tuple[float, ...] = tuple(meta.get("mean", IMAGENET_MEAN))
        self.std: tuple[float, ...] = tuple(meta.get("std", IMAGENET_STD))
        self.precision: str = str(meta.get("precision", "fp32"))
        self.metadata: dict[str, Any] = {
            "source": meta.get("source", ""),
            "format": fmt,
            "runtime": self.runtime,
            "precision": self.precision,
            "training": meta.get("training", {}),
        }
        self.camera = Intrinsics.from_dict(meta["camera"]) if meta.get("camera") else Intrinsics.nyu()
        self.static_batch, self.static_size = static_dims(input_shape)
        self.dynamic: bool = bool(meta.get("dynamic", False)) and self.static_size is None
        self.training = False
        self.device = torch.device("cpu")

    def parameter_count(self) -> int | None:
        """Weights and biases stored in the file (BatchNorm folded), or None when this runtime cannot say."""
        return None

    def _run(self, array: np.ndarray) -> np.ndarray:
        """One chunk: ``(b, 3, H, W)`` float32 -> ``(b, 1, H, W)`` float32 metres."""
        raise NotImplementedError

    def check_input(self, x: torch.Tensor) -> None:
        """A one-line `LitedepthError` for an input this model cannot take."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise LitedepthError(f"{self.name}: expected a (B, 3, H, W) input, got {tuple(x.shape)}")
        if self.static_size is not None and tuple(x.shape[2:]) != tuple(self.static_size):
            raise LitedepthError(
                f"{self.name}: exported for {self.static_size[0]}x{self.static_size[1]} inputs, got "
                f"{x.shape[2]}x{x.shape[3]} (re-export with --dynamic or --size)"
            )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, 3, H, W)`` -> ``(B, 1, H, W)`` metres; a static export's batch is split into runs."""
        self.check_input(x)
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        step = self.static_batch or len(array)
        outs = [np.asarray(self._run(array[i : i + step]), dtype=np.float32) for i in range(0, len(array), step)]
        out = np.concatenate(outs) if len(outs) > 1 else outs[0]
        return torch.from_numpy(np.ascontiguousarray(out.reshape(len(array), 1, *array.shape[2:])))

    forward = __call__

    def eval(self):
        self.training = False
        return self

    def train(self, mode: bool = True):
        """Recorded only: an exported model always runs in inference mode."""
        self.training = bool(mode)
        return self

    def to(self, device: Any):
        if torch.device(device).type != "cpu":
            raise LitedepthError(f"{self.name}: the {self.runtime} backend runs on CPU only, not {device}")
        return self

    def predict(self, images, batch_size: int = 8, device: Any = None, focal: float | None = None):
        """Depth in metres for one image (-> ``H x W`` float32) or a list, as `DepthNet.predict` (``focal`` too)."""
        from ..camera import in_camera
        from ..inference import predict

        return in_camera(predict(self, images, batch_size=batch_size, device="cpu"), focal, self.camera)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(arch={self.arch!r}, input_size={self.input_size}, source={self.name!r})"
