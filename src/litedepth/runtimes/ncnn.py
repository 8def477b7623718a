"""An NCNN depth model: the pair ``model.ncnn.param`` + ``model.ncnn.bin`` run by ncnn's Python module.

>>> model = NcnnDepthModel("student_ncnn")          # the folder export writes, or its model.ncnn.param
>>> model(torch.randn(1, 3, 228, 304)).shape        # normalised input -> metres
torch.Size([1, 1, 228, 304])

Layout (what ``litedepth export --format ncnn`` writes, as one folder renamed into place):
``NAME/model.ncnn.param`` (the graph), ``NAME/model.ncnn.bin`` (the weights) and
``NAME/model.ncnn.json`` (the ``litedepth.*`` metadata, which NCNN files cannot hold). Any
``X.ncnn.param`` with ``X.ncnn.bin`` and ``X.ncnn.json`` beside it opens too. The graph
converted by pnnx has its resize sizes fixed, so the model takes the one input size it was
exported at. It runs in float32 (ncnn's fp16/bf16 storage switched off: they move depth by
about 1e-2 relative).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import LitedepthError
from .base import ExportedDepthModel, read_sidecar

PARAM_SUFFIX = ".ncnn.param"
BIN_SUFFIX = ".ncnn.bin"
FOLDER_MODEL = "model"  # NAME/model.ncnn.param inside an exported folder
_LOW_PRECISION = ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage", "use_bf16_packed")


def require_ncnn():
    """Import ``ncnn`` or raise a one-line error naming the extra."""
    try:
        import ncnn
    except ImportError:
        raise LitedepthError("NCNN support needs the 'ncnn' package: pip install 'litedepth[ncnn]'") from None
    return ncnn


def is_ncnn(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an NCNN model: an ``X.ncnn.param``/``X.ncnn.bin`` file or a folder holding ``model.ncnn.param``."""
    path = Path(path)
    if path.is_dir():
        return (path / (FOLDER_MODEL + PARAM_SUFFIX)).is_file()
    return path.name.endswith((PARAM_SUFFIX, BIN_SUFFIX))


def ncnn_files(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(param, bin)`` of an NCNN model named by its folder, its ``.ncnn.param`` or its ``.ncnn.bin``."""
    path = Path(path)
    if path.is_dir():
        path = path / (FOLDER_MODEL + PARAM_SUFFIX)
    stem = str(path)[: -len(BIN_SUFFIX)] if path.name.endswith(BIN_SUFFIX) else str(path)[: -len(PARAM_SUFFIX)]
    param, weights = Path(stem + PARAM_SUFFIX), Path(stem + BIN_SUFFIX)
    for file in (param, weights):
        if not file.is_file():
            raise LitedepthError(f"{file}: no such file (an NCNN model is a .ncnn.param and a .ncnn.bin)")
    return param, weights


class NcnnDepthModel(ExportedDepthModel):
    """An NCNN network with a `DepthNet`'s inference interface (`ExportedDepthModel`); batch 1 per run.

    ``threads``: ncnn's threads (default: ncnn's own choice).
    """

    runtime = "ncnn"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, name: str | None = None) -> None:
        ncnn = require_ncnn()
        label = name or str(path)
        param, weights = ncnn_files(path)
        meta = read_sidecar(param, label)  # X.ncnn.param -> X.ncnn.json
        size = tuple(meta.get("input_size", ()))
        self.init_metadata(meta, label, "ncnn", [1, 3, *size])
        self.net = ncnn.Net()
        for option in _LOW_PRECISION:
            setattr(self.net.opt, option, False)
        if threads:
            self.net.opt.num_threads = int(threads)
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(weights)) != 0:
            raise LitedepthError(f"{label}: ncnn could not load {param.name} and {weights.name}")
        self.input_name, self.output_name = self.net.input_names()[0], self.net.output_names()[0]
        self._ncnn = ncnn

    def parameter_count(self) -> int:
        """Weights and biases of the graph's convolutions and fully connected layers, read from the ``.ncnn.param``."""
        return param_file_count(ncnn_files(self.name)[0])

    def _run(self, array: np.ndarray) -> np.ndarray:
        chw = np.ascontiguousarray(array[0])
        mat = self._ncnn.Mat(chw)  # wraps chw's memory: chw stays referenced until extract returns
        extractor = self.net.create_extractor()
        extractor.input(self.input_name, mat)
        code, out = extractor.extract(self.output_name)
        if code != 0:
            raise LitedepthError(f"{self.name}: ncnn failed to run (code {code})")
        return np.array(out)[None]


_WEIGHTED = {"Convolution": ("6", "5"), "ConvolutionDepthWise": ("6", "5"), "InnerProduct": ("2", "1")}


def param_file_count(param: Path) -> int:
    """Parameters named by an ``.ncnn.param``: each weighted layer's weight_data_size plus its biases."""
    total = 0
    for line in param.read_text().splitlines()[2:]:
        fields = line.split()
        if not fields or fields[0] not in _WEIGHTED:
            continue
        values = dict(f.split("=", 1) for f in fields[6:] if "=" in f and not f.startswith("-"))
        weights, bias = _WEIGHTED[fields[0]]
        total += int(values.get(weights, 0)) + (int(values.get("0", 0)) if values.get(bias) == "1" else 0)
    return total
