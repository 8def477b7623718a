"""An OpenVINO depth model: an IR (``.xml`` + ``.bin``) or an ONNX file compiled for the CPU.

>>> model = OpenVinoDepthModel("student.xml", threads=1)
>>> model(torch.randn(1, 3, 228, 304)).shape      # normalised input -> metres
torch.Size([1, 1, 228, 304])

The ``litedepth.*`` metadata of an IR lives in its ``rt_info`` under the ``litedepth`` section
(`set_metadata` writes it, `ir_metadata` reads it); an ONNX file run by OpenVINO keeps it in its
``metadata_props``. Models are compiled with ``INFERENCE_PRECISION_HINT=f32``: on CPUs with
AMX or AVX-512 BF16, OpenVINO would otherwise run float layers in bfloat16 (about 1e-2 relative
error); INT8 layers of an NNCF-quantised IR still run in INT8.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LitedepthError, first_line, reason_of
from ..metadata import META_PREFIX
from .base import ExportedDepthModel, file_metadata
from .onnx_convert import INPUT_NAME, OUTPUT_NAME

SECTION = "litedepth"  # the rt_info section that holds the metadata
COMPILE_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


def require_openvino():
    """Import ``openvino`` or raise a one-line error naming the extra."""
    try:
        import openvino
    except ImportError:
        raise LitedepthError(
            "OpenVINO support needs the 'openvino' package: pip install 'litedepth[openvino]'"
        ) from None
    return openvino


class _SignalStack(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


@contextlib.contextmanager
def signal_stack_kept():
    """Run OpenVINO code, then give the calling thread back its alternate signal stack (Linux).

    OpenVINO's CPU plugin installs an alternate signal stack on the thread that first compiles a
    model, and frees that memory later. Python runs its signal handlers on the alternate stack, so
    a later signal (a child process exiting, with the SIGCHLD handler PyTorch's DataLoader
    installs) would then crash the whole process.
    """
    if not sys.platform.startswith("linux"):
        yield
        return
    libc, before = ctypes.CDLL(None), _SignalStack()
    libc.sigaltstack(None, ctypes.byref(before))
    try:
        yield
    finally:
        libc.sigaltstack(ctypes.byref(before), None)


def set_metadata(ov_model, metadata: dict[str, str]) -> None:
    """Store ``litedepth.*`` strings (`litedepth.metadata.export_metadata`) in the model's rt_info."""
    for key, value in metadata.items():
        ov_model.set_rt_info(str(value), [SECTION, key.removeprefix(META_PREFIX)])


def ir_metadata(ov_model, label: str) -> dict[str, Any]:
    """The decoded ``litedepth`` rt_info section of an OpenVINO model ({} when it has none)."""
    if not ov_model.has_rt_info([SECTION]):
        return {}
    keys = list(ov_model.get_rt_info([SECTION]).astype(dict))
    raw = {key: ov_model.get_rt_info([SECTION, key]).astype(str) for key in keys}
    return file_metadata(raw, label, prefixed=False)


def _onnx_file_metadata(path: str, label: str) -> dict[str, Any]:
    try:
        import onnx
    except ImportError:
        raise LitedepthError(f"{label}: reading ONNX metadata needs onnx: pip install 'litedepth[onnx]'") from None
    proto = onnx.load(path, load_external_data=False)
    return file_metadata({p.key: p.value for p in proto.metadata_props}, label)


def unreadable_model(path: Path, label: str, exc: Exception) -> LitedepthError:
    """The one line for a file OpenVINO cannot read: which file (the ``.xml`` or its ``.bin``) and OpenVINO's reason."""
    reason = reason_of(exc, 120)
    if path.suffix.lower() == ".onnx":
        return LitedepthError(f"{label}: truncated or not a valid ONNX file ({reason})")
    # "Incorrect weights in bin file!", "Empty weights data in bin file or bin file cannot be found!"
    if "bin file" in reason:
        weights = path.with_suffix(".bin")
        what = "missing" if not weights.is_file() else "truncated or not a valid OpenVINO IR weights file"
        return LitedepthError(f"{weights}: {what}, the .bin of {label} ({reason.rstrip('!')})")
    return LitedepthError(f"{label}: truncated or not a valid OpenVINO IR file ({reason})")


class OpenVinoDepthModel(ExportedDepthModel):
    """An OpenVINO compiled model with a `DepthNet`'s inference interface (`ExportedDepthModel`).

    ``source``: an ``.xml`` IR or an ``.onnx`` file path, or an ``openvino.Model`` in memory
    (``metadata`` then given as the `file_metadata` dict). ``threads``: OpenVINO's inference
    threads (default: its own choice).
    """

    runtime = "openvino"

    def __init__(
        self, source, threads: int | None = None, name: str | None = None, metadata: dict | None = None
    ) -> None:
        ov = require_openvino()
        core = ov.Core()
        if isinstance(source, (str, os.PathLike)):
            label = name or str(source)
            path = Path(source)
            if not path.is_file():
                raise LitedepthError(f"{path}: no such OpenVINO model file")
            try:
                ov_model = core.read_model(str(path))
            except Exception as exc:
                raise unreadable_model(path, label, exc) from None
            is_onnx = path.suffix.lower() == ".onnx"
            meta = _onnx_file_metadata(str(path), label) if is_onnx else ir_metadata(ov_model, label)
            fmt = "onnx" if is_onnx else "openvino"
        else:
            label, ov_model, meta, fmt = name or "<in-memory OpenVINO model>", source, metadata or {}, "openvino"
        names = {n for port in ov_model.inputs for n in port.get_names()}
        if INPUT_NAME not in names:
            raise LitedepthError(f"{label}: OpenVINO model has inputs {sorted(names)}, expected {INPUT_NAME!r}")
        shape = [d.get_length() if d.is_static else None for d in ov_model.input(INPUT_NAME).get_partial_shape()]
        self.init_metadata(meta, label, fmt, shape)
        self._ov_model = ov_model
        config = {**COMPILE_CONFIG, **({"INFERENCE_NUM_THREADS": int(threads)} if threads else {})}
        with signal_stack_kept():
            self.compiled = core.compile_model(ov_model, "CPU", config)
        self.request = self.compiled.create_infer_request()

    def parameter_count(self) -> int:
        """Elements of the floating-point and 8-bit constants of the graph (weights, biases, quantisation scales)."""
        kinds = {"f32", "f16", "bf16", "i8", "u8"}
        return sum(
            int(np.prod(list(op.get_output_shape(0)) or [1]))
            for op in self._ov_model.get_ops()
            if op.get_type_name() == "Constant" and op.get_output_element_type(0).get_type_name() in kinds
        )

    def _run(self, array: np.ndarray) -> np.ndarray:
        result = self.request.infer({INPUT_NAME: array})
        return np.array(result[self.compiled.output(OUTPUT_NAME)])


def convert_network(model, size: tuple[int, int] | None = None, dynamic: bool = False):
    """``model`` as an ``openvino.Model`` (BN folded, traced by ``openvino.convert_model``), metadata in its rt_info.

    Input ``image`` ``(1, 3, H, W)`` float32 (``dynamic``: batch, height and width free), output
    ``depth`` ``(B, 1, H, W)`` metres.
    """
    import copy
    import warnings

    import torch

    from ..metadata import export_metadata
    from .fold_batchnorm import fold_batchnorm

    ov = require_openvino()
    size = tuple(size or model.input_size)
    example = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    net = fold_batchnorm(copy.deepcopy(model).cpu().float().eval(), example=example, inplace=True)
    shape = [-1, 3, -1, -1] if dynamic else [1, 3, *size]
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on shape-dependent branches
            ov_model = ov.convert_model(net, example_input=example, input=[shape])
    except Exception as exc:
        arch = getattr(model, "arch", "custom")
        raise LitedepthError(f"openvino.convert_model cannot convert {arch} ({first_line(exc, 200)})") from None
    ov_model.inputs[0].get_tensor().set_names({INPUT_NAME})
    ov_model.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    set_metadata(ov_model, export_metadata(model, size, dynamic))
    return ov_model


def from_network(model, threads: int | None = None, name: str | None = None) -> OpenVinoDepthModel:
    """A network run by OpenVINO: converted in memory (dynamic shapes, BN folded) and checked against PyTorch."""
    import torch

    ov_model = convert_network(model, dynamic=True)
    label = name or str(getattr(model, "arch", "model"))
    out = OpenVinoDepthModel(ov_model, threads=threads, name=label, metadata=ir_metadata(ov_model, label))
    x = torch.randn(1, 3, *model.input_size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        reference = model(x.to(next(model.parameters()).device)).cpu()
    worst = float((out(x) - reference).abs().max())
    tolerance = 1e-4 + 1e-4 * float(reference.abs().max())
    if worst > tolerance:
        raise LitedepthError(
            f"{label}: OpenVINO conversion differs from PyTorch by {worst:.3g} (tolerance {tolerance:.3g})"
        )
    return out
