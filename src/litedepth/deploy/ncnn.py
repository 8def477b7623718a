"""Export to NCNN: a folder ``NAME/`` holding ``model.ncnn.param``, ``model.ncnn.bin`` and ``model.ncnn.json``.

>>> report = export_ncnn(model, "student_ncnn")     # traced, converted by pnnx, checked in ncnn, then renamed into place

The network (BN folded) is traced to TorchScript and converted by the ``pnnx`` executable at a
fixed input size (``inputshape=[1,3,H,W]``, ``fp16=0``: float32 weights) in a temporary folder;
ncnn's Python module then runs the result against PyTorch. NCNN files hold no metadata, so the
``litedepth.*`` strings go to ``model.ncnn.json`` beside them (`litedepth.runtimes.ncnn`).
"""

from __future__ import annotations

import copy
import errno
import io
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

from ..errors import DISK_FULL_WORDS, LitedepthError
from ..metadata import export_metadata
from ..outputs import write_marker
from ..runtimes.base import write_sidecar
from ..runtimes.fold_batchnorm import fold_batchnorm
from ..runtimes.ncnn import BIN_SUFFIX, FOLDER_MODEL, PARAM_SUFFIX, NcnnDepthModel, require_ncnn
from .files import atomic_folder

ATOL, RTOL = 1e-4, 1e-3  # ncnn's float32 kernels (Winograd, packed layouts) round differently from PyTorch's
MARKER_KIND = "ncnn-model"


def require_pnnx() -> str:
    """The path of the ``pnnx`` converter executable, or a one-line error naming the extra."""
    try:
        import pnnx
    except ImportError:
        raise LitedepthError("NCNN export needs the 'pnnx' package: pip install 'litedepth[ncnn]'") from None
    return pnnx.EXEC_PATH


def run_pnnx(net: torch.nn.Module, size: tuple[int, int], work: Path, label: str) -> tuple[Path, Path]:
    """Trace ``net`` at ``(1, 3, *size)`` into ``work/model.pt`` and convert it there; ``(param, bin)``."""
    example = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on shape-dependent branches
        traced = io.BytesIO()
        torch.jit.save(torch.jit.trace(net, example), traced)
    # written by Python: a full disk is an OSError here (torch's own writer aborts the process on it)
    (work / f"{FOLDER_MODEL}.pt").write_bytes(traced.getvalue())
    shape = f"inputshape=[1,3,{size[0]},{size[1]}]"
    done = subprocess.run(
        [require_pnnx(), f"{FOLDER_MODEL}.pt", shape, "fp16=0"], cwd=work, capture_output=True, text=True
    )
    param, weights = work / (FOLDER_MODEL + PARAM_SUFFIX), work / (FOLDER_MODEL + BIN_SUFFIX)
    if done.returncode != 0 or not param.is_file() or not weights.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        if any(words in (done.stderr + done.stdout).lower() for words in DISK_FULL_WORDS):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(work))  # `export_written` names the output
        raise LitedepthError(f"{label}: pnnx could not convert the network (exit {done.returncode}: {tail[0][:160]})")
    return param, weights


def export_ncnn(model, folder: str | os.PathLike, size=None):
    """Convert ``model`` for NCNN at ``size`` (default: its input size), check it in ncnn, write ``folder``."""
    from .export import ExportReport

    require_ncnn()
    size = tuple(size or model.input_size)
    net = fold_batchnorm(copy.deepcopy(model).cpu().float().eval(), inplace=True)
    with tempfile.TemporaryDirectory(prefix="litedepth-pnnx-") as work:
        param, weights = run_pnnx(net, size, Path(work), str(folder))
        with atomic_folder(folder) as tmp:
            for file in (param, weights):
                shutil.move(str(file), tmp / file.name)
            write_sidecar(tmp / (FOLDER_MODEL + PARAM_SUFFIX), export_metadata(model, size, False))
            write_marker(tmp, MARKER_KIND)
            worst, tolerance = _check(tmp, model, size, str(folder))
    return ExportReport(str(folder), size, False, None, worst, tolerance, [f"1x3x{size[0]}x{size[1]}"], "pnnx", "ncnn")


def _check(tmp: Path, model, size, label: str) -> tuple[float, float]:
    from .check import compare

    worst, tolerance = compare(NcnnDepthModel(tmp, name=label), model, [(1, *size)], ATOL, RTOL)
    if worst > tolerance:
        raise LitedepthError(
            f"{label}: ncnn output differs from PyTorch by {worst:.3g} (tolerance {tolerance:.3g}); not written"
        )
    return worst, tolerance
