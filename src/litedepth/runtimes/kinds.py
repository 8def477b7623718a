"""The exported files litedepth runs, one row each: suffix -> what it is, its runtime, the class that runs it.

`litedepth.load` (`litedepth.hub`) dispatches on this table; `litedepth.deploy.formats` names each
export format's row by its suffix. The classes are imported only when a file is opened, so that
no runtime is imported before it runs a model.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple


class Runtime(NamedTuple):
    what: str  # the file, with its article ("an ONNX")
    name: str  # the runtime that runs it ("ONNX Runtime")
    models: dict[str, str]  # backend -> "MODULE:CLASS" in `litedepth.runtimes` that runs the file; the first is its own


RUNTIMES: dict[str, Runtime] = {  # suffix -> runtime; an NCNN export answers to ".param" (its folder too)
    ".onnx": Runtime(
        "an ONNX",
        "ONNX Runtime",
        {"onnxruntime": "onnx:OnnxDepthModel", "openvino": "openvino:OpenVinoDepthModel"},
    ),
    ".xml": Runtime("an OpenVINO IR", "OpenVINO", {"openvino": "openvino:OpenVinoDepthModel"}),
    ".tflite": Runtime("a LiteRT", "LiteRT", {"tflite": "litert:LiteRTDepthModel"}),
    ".param": Runtime("an NCNN", "ncnn", {"ncnn": "ncnn:NcnnDepthModel"}),
}
DEFAULT_BACKEND = "torch"  # `litedepth.load`'s default: a file runs in its own runtime (the first of its row)


def backends(suffix: str) -> tuple[str, ...]:
    """The backends that run a ``suffix`` file, its own runtime first."""
    return tuple(RUNTIMES[suffix].models)


def model_class(suffix: str, backend: str = DEFAULT_BACKEND) -> type:
    """The class that runs a ``suffix`` file with ``backend`` (one of `backends`, or the default), imported now."""
    models = RUNTIMES[suffix].models
    module, name = models.get(backend, next(iter(models.values()))).split(":")
    if backend != DEFAULT_BACKEND and backend not in models:
        raise KeyError(backend)
    return getattr(importlib.import_module(f".{module}", __package__), name)
