"""Teachers from files made anywhere: ONNX, TFLite (LiteRT) and Hugging Face depth models.

Each reads its conventions from the file where the file has them (litedepth metadata; a TFLite's
input quantisation: a ``uint8`` input takes the photo's bytes, ``rgb255``; a Hugging Face
``preprocessor_config.json``), else takes them as declared (``input``: `INPUTS` name; ``output``:
`OUTPUTS` name; ``shorter_side``/``multiple``: the scale of a teacher of any input size). A
declaration that contradicts the file is refused on one line. Undeclared and unread: ImageNet's
normalisation, metric output, and the images at the scale they are given (a fixed-size file:
squeezed to its size).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import LitedepthError, did_you_mean
from ..fileio import file_identity
from ..preprocess import shorter_side_for
from .teacher_base import INPUTS, OUTPUTS, InputRule, Teacher, content_identity, declared_rule, input_name

logger = logging.getLogger(__name__)

DEFAULT_MULTIPLE = 32  # a declared shorter side without a multiple: sides rounded to 32 (five stride-2 stages)


def check_name(value: str | None, known, option: str) -> None:
    """A one-line error for a name not in ``known`` (the nearest one suggested)."""
    if value is not None and value not in known:
        hint = did_you_mean(value, known, cutoff=0.4)
        raise LitedepthError(f"{option} {value!r} unknown{hint}; known: {', '.join(known)}")


Stats = tuple[tuple[float, ...], tuple[float, ...]]


def resolve_conventions(
    teacher: Teacher, read_input: tuple[Stats, str] | None, read_output: tuple[str, str] | None, declared: dict
) -> None:
    """Set ``teacher``'s normalisation and output kind: read from its file (``(value, why)``), else declared.

    ``declared``: ``input``, ``output`` (names or None). A declared name that contradicts what the
    file says is a one-line `LitedepthError`.
    """
    label = teacher.source
    check_name(declared.get("input"), INPUTS, "--teacher-input")
    check_name(declared.get("output"), OUTPUTS, "--teacher-output")
    read_name = (input_name(*read_input[0]), read_input[1]) if read_input else None
    for option, read, wanted in (
        ("--teacher-input", read_name, declared.get("input")),
        ("--teacher-output", read_output, declared.get("output")),
    ):
        if read is not None and wanted is not None and read[0] != wanted:
            raise LitedepthError(f"{label}: {option} {wanted} contradicts {read[1]}, which says {read[0]}")
    if read_input is None and declared.get("input") is None:
        logger.warning("%s: no input convention in the file; assuming imagenet (declare --teacher-input)", label)
    stats = read_input[0] if read_input else INPUTS[declared.get("input") or "imagenet"]
    teacher.mean, teacher.std = tuple(stats[0]), tuple(stats[1])
    kind = read_output[0] if read_output else (declared.get("output") or "metric")
    teacher.relative, teacher.output = OUTPUTS[kind]


def metadata_conventions(meta: dict, label: str) -> tuple[tuple[Stats, str] | None, tuple[str, str] | None]:
    """What a file's litedepth metadata says of input and output (a litedepth network: metric)."""
    if "input_size" not in meta:
        return None, None
    why = "its litedepth metadata"
    stats = (meta.get("mean", INPUTS["imagenet"][0]), meta.get("std", INPUTS["imagenet"][1]))
    return (stats, why), ("metric", why)


def metadata_rule(meta: dict, fixed: tuple[int, int] | None) -> InputRule:
    """A litedepth export's rule: crops of its input size at its training scale; any size: multiples of 32."""
    size = tuple(meta["input_size"])
    return InputRule(fixed, shorter_side_for(size), 1 if fixed else 32)


def file_rule(fixed: tuple[int, int] | None, declared: dict) -> InputRule:
    """A file without metadata: a fixed size (squeezed to; tiled at a declared shorter side), or declared."""
    shorter, multiple = declared.get("shorter_side"), declared.get("multiple")
    if fixed is None and shorter is not None and multiple is None:
        multiple = DEFAULT_MULTIPLE
    return declared_rule(InputRule(size=fixed), shorter, multiple)


def _to_nchw(out: np.ndarray, nhwc: bool) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(out, dtype=np.float32))
    if nhwc and t.ndim == 4 and t.shape[-1] == 1:
        t = t.permute(0, 3, 1, 2)
    return t


class OnnxTeacher(Teacher):
    """An ONNX model with one ``(B, 3, H, W)`` (or ``(B, H, W, 3)``) float input, run by ONNX Runtime."""

    kind = "onnx"

    def __init__(self, path: str | os.PathLike, providers: list[str] | None = None, **declared) -> None:
        from ..runtimes.onnx import open_session, session_metadata

        self.path = Path(path)
        self.source = label = str(self.path)
        self.session = open_session(self.path, label, providers=providers)  # one line without onnxruntime
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or 3 not in inputs[0].shape[1::2]:
            raise LitedepthError(
                f"{self.path}: expected one (B, 3, H, W) input, found {[(i.name, i.shape) for i in inputs]}"
            )
        self.input_name, shape = inputs[0].name, list(inputs[0].shape)
        self.nhwc = shape[3] == 3 and shape[1] != 3
        spatial = shape[1:3] if self.nhwc else shape[2:4]
        fixed = tuple(spatial) if all(isinstance(s, int) and s > 0 for s in spatial) else None
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        meta = session_metadata(self.session, label)
        resolve_conventions(self, *metadata_conventions(meta, label), declared)
        rule = metadata_rule(meta, fixed) if "input_size" in meta else InputRule(size=fixed)
        self.rule = (
            file_rule(fixed, declared)
            if "input_size" not in meta
            else declared_rule(rule, declared.get("shorter_side"), declared.get("multiple"))
        )
        self.identity = "onnx-" + content_identity(
            file_identity(self.path), self.output_kind, input_name(self.mean, self.std)
        )

    def parameter_count(self) -> int | None:
        """The values of the graph's initializers (its weights), read with ``onnx`` where installed."""
        try:
            import onnx
        except ImportError:
            return None
        from ..runtimes.onnx import onnx_parameter_count

        return onnx_parameter_count(onnx.load(str(self.path), load_external_data=False))

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        inp = x.detach().float().cpu()
        inp = inp.permute(0, 2, 3, 1).contiguous() if self.nhwc else inp
        chunks = [inp] if self.fixed_batch is None else list(inp.split(self.fixed_batch))
        outs = [_to_nchw(self.session.run(None, {self.input_name: c.numpy()})[0], self.nhwc) for c in chunks]
        return torch.cat(outs)


class TFLiteTeacher(Teacher):
    """A ``.tflite`` depth model with one fixed-size image input, run by LiteRT (``litedepth[litert]``).

    A ``uint8`` input takes the photo's RGB bytes (``rgb255``: the file's input quantisation);
    an ``int8`` one the values its scale and zero point give; a quantised output is read through
    its scale and zero point (metres, for a metric model). NHWC and NCHW layouts both run.
    """

    kind = "tflite"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, **declared) -> None:
        from ..runtimes.litert import open_interpreter

        self.path = Path(path)
        self.source = label = str(self.path)
        self.interpreter, meta = open_interpreter(self.path, threads, label)
        self.inp, self.out = self.interpreter.get_input_details()[0], self.interpreter.get_output_details()[0]
        shape = [int(v) for v in self.inp["shape"]]
        if len(shape) != 4 or 3 not in (shape[1], shape[3]):
            raise LitedepthError(
                f"{label}: expected one (1, H, W, 3) or (1, 3, H, W) image input, the file takes {shape}"
            )
        self.nhwc = shape[3] == 3 and shape[1] != 3
        fixed = tuple(shape[1:3] if self.nhwc else shape[2:4])
        read_input, read_output = metadata_conventions(meta, label)
        self.bytes_input = read_input is None and self.inp["dtype"] == np.uint8
        read_input = read_input or self._quantised_input()
        resolve_conventions(self, read_input, read_output, declared)
        rule = metadata_rule(meta, fixed) if meta.get("input_size") else InputRule(size=fixed)
        self.rule = declared_rule(rule, declared.get("shorter_side"), declared.get("multiple"))
        self.identity = "tflite-" + content_identity(file_identity(self.path), self.output_kind)

    def _quantised_input(self) -> tuple[Stats, str] | None:
        """What the input quantisation says: uint8 -> RGB bytes; int8 spanning 0..1 or 0..255 -> rgb01 / rgb255."""
        dtype = self.inp["dtype"]
        if dtype not in (np.uint8, np.int8):
            return None
        scale, zero = self.inp["quantization"]
        why = f"its input quantisation ({np.dtype(dtype).name}, scale {scale:.4g}, zero point {zero})"
        if dtype == np.uint8:
            return INPUTS["rgb255"], why
        info = np.iinfo(dtype)
        low, high = (info.min - zero) * scale, (info.max - zero) * scale
        for name, top in (("rgb01", 1.0), ("rgb255", 255.0)):
            if abs(low) < 0.01 * top and abs(high - top) < 0.01 * top:
                return INPUTS[name], why
        return None

    def parameter_count(self) -> int:
        """The values of the tensors the file holds (`runtimes.litert.tflite_parameter_count`): FastDepth's int8
        file has 1,352,251, its float network with BatchNorm folded 1,352,225; the rest are shape constants."""
        from ..runtimes.litert import tflite_parameter_count

        return tflite_parameter_count(self.path.read_bytes())

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for one in x.detach().float().cpu().numpy():
            arr = one.transpose(1, 2, 0)[None] if self.nhwc else one[None]
            dtype = self.inp["dtype"]
            if self.bytes_input:  # the photo's bytes (rgb255: x = RGB 0..255)
                arr = np.clip(np.round(arr), 0, 255).astype(np.uint8)
            elif dtype != np.float32:
                scale, zero = self.inp["quantization"]
                info = np.iinfo(dtype)
                arr = np.clip(np.round(arr / scale + zero), info.min, info.max).astype(dtype)
            self.interpreter.set_tensor(self.inp["index"], np.ascontiguousarray(arr, dtype=dtype))
            self.interpreter.invoke()
            out = self.interpreter.get_tensor(self.out["index"])
            if self.out["dtype"] != np.float32:
                scale, zero = self.out["quantization"]
                out = (out.astype(np.float32) - zero) * scale
            outs.append(_to_nchw(out, out.ndim == 4 and out.shape[-1] == 1 and out.shape[1] != 1))
        return torch.cat(outs)


class HFTeacher(Teacher):
    """A Hugging Face ``transformers`` depth model (``AutoModelForDepthEstimation``) from a local folder.

    Its normalisation (``image_mean``/``image_std``) and scale (``size``, ``ensure_multiple_of``)
    come from ``preprocessor_config.json`` (without one: ImageNet's, the images as given, sides
    multiples of 14). Metric when the config says ``depth_estimation_type: metric``, else relative
    disparity (e.g. Depth Anything "relative" checkpoints). Never downloads.
    """

    kind = "hf"

    def __init__(self, folder: str | os.PathLike, device: str | torch.device = "cpu", **declared) -> None:
        try:
            from transformers import AutoModelForDepthEstimation
        except ImportError:
            raise LitedepthError(
                f"{folder}: Hugging Face teachers need transformers (pip install 'litedepth[hf]')"
            ) from None
        self.folder = Path(folder)
        self.source = str(self.folder)
        try:
            self.model = AutoModelForDepthEstimation.from_pretrained(str(self.folder), local_files_only=True)
        except Exception as exc:
            raise LitedepthError(
                f"{self.folder}: not a loadable transformers depth model ({str(exc).splitlines()[0]})"
            ) from None
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        spec = self._preprocessor()
        why = f"{self.folder / 'preprocessor_config.json'}"
        read_input = ((spec["image_mean"], spec["image_std"]), why) if "image_mean" in spec else None
        metric = getattr(self.model.config, "depth_estimation_type", "relative") == "metric"
        read_output = ("metric" if metric else "disparity", f"{self.folder / 'config.json'}")
        resolve_conventions(self, read_input, read_output, declared)
        size = spec.get("size") or {}
        shorter = min(size["height"], size["width"]) if {"height", "width"} <= set(size) else None
        rule = InputRule(shorter_side=shorter, multiple=int(spec.get("ensure_multiple_of", 14)))
        self.rule = declared_rule(rule, declared.get("shorter_side"), declared.get("multiple"))
        weights = sorted(self.folder.glob("*.safetensors")) + sorted(self.folder.glob("*.bin"))
        ident = hashlib.sha1((self.folder / "config.json").read_bytes())
        for w in weights:
            ident.update(file_identity(w).encode())
        self.identity = f"hf-{ident.hexdigest()[:16]}"

    def _preprocessor(self) -> dict:
        pre = self.folder / "preprocessor_config.json"
        if not pre.is_file():
            return {}
        try:
            return json.loads(pre.read_text())
        except (json.JSONDecodeError, OSError):
            raise LitedepthError(f"{pre}: not a readable preprocessor config") from None

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x.to(self.device)).predicted_depth
