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
    models: dict[str, str]  # backend -> "MODULE:CLASS" in `litedepth.runtimes` that runs the file with it


RUNTIMES: dict[str, Runtime] = {  # suffix -> runtime; an NCNN export answers to ".param" (its folder too)
    ".onnx": Runtime(
        "an ONNX",
        "ONNX Runtime",
        {
            "torch": "onnx:OnnxDepthModel",
            "onnxruntime": "onnx:OnnxDepthModel",
            "openvino": "openvino:OpenVinoDepthModel",
        },
    ),
    ".xml": Runtime(
        "an OpenVINO IR",
        "OpenVINO",
        {"torch": "openvino:OpenVinoDepthModel", "openvino": "openvino:OpenVinoDepthModel"},
    ),
    ".tflite": Runtime("a LiteRT", "LiteRT", {"torch": "litert:LiteRTDepthModel"}),
    ".param": Runtime("an NCNN", "ncnn", {"torch": "ncnn:NcnnDepthModel"}),
}


def model_class(suffix: str, backend: str) -> type:
    """The class that runs a ``suffix`` file with ``backend`` (a key of its row's ``models``), imported now."""
    module, name = RUNTIMES[suffix].models[backend].split(":")
    return getattr(importlib.import_module(f".{module}", __package__), name)
