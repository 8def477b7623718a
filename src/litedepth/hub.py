"""The one way to open a depth model: any spec the CLI's ``--model`` takes -> a model in eval mode.

>>> model = load("student.safetensors")           # ours: architecture and input size from its metadata
>>> model = load("N_s_X_U_unlabel.pt")            # an authors' file (architecture guessed from its keys)
>>> model = load("hu2021:N_s_X_U_unlabel")        # the authors' network by name, downloaded once into the cache
>>> model = load("fastdepth:nyu")                 # FastDepth's published NYU weights, downloaded and converted once
>>> model = load("student.onnx")                  # ONNX Runtime, CPU
>>> model = load("fast-student")                  # fresh weights, for trying the tools (UntrainedWeightsWarning)
>>> depth = model.predict("room.jpg")             # H x W float32, metres

``hu2021:NAME`` names one of the eight networks the authors of Hu et al. 2021 released and
``fastdepth:nyu`` FastDepth's published weights: `litedepth.pretrained` finds them in the cache
folder (`litedepth.cache`) or downloads them once (`litedepth.downloads`: checked, unpacked,
nothing left behind on failure). Exported files are run by the runtime their suffix names
(`litedepth.runtimes.kinds`).

`load` never imports the deployment code above it. ONNX Runtime (`litedepth.runtimes.onnx`)
is imported lazily, when it runs a model (an ``.onnx`` file, or ``backend="onnxruntime"``).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, Protocol

import torch

from .cache import cache_dir
from .checkpoint import load_network
from .devices import check_device, torch_device
from .downloads import STALE_AFTER_S, is_stale_download
from .errors import LitedepthError, did_you_mean
from .models import ARCHITECTURES, DepthNet, create_model
from .pretrained import (
    FASTDEPTH,
    FASTDEPTH_PREFIX,
    HU2021,
    HU2021_PREFIX,
    HU2021_URL,
    fastdepth_file,
    hu2021_file,
    hu2021_folder,
    hu2021_networks,
    hu2021_url,
    load_fastdepth,
    load_hu2021,
)
from .runtimes.kinds import DEFAULT_BACKEND, RUNTIMES, backends, model_class

__all__ = [  # the resolver's own names, and those of the modules it gathers that callers import from here
    "BACKENDS",
    "FASTDEPTH",
    "FASTDEPTH_PREFIX",
    "HU2021",
    "HU2021_PREFIX",
    "HU2021_URL",
    "MODEL_SUFFIXES",
    "STALE_AFTER_S",
    "DepthModel",
    "UntrainedWeightsWarning",
    "cache_dir",
    "check_device",
    "fastdepth_file",
    "hu2021_file",
    "hu2021_folder",
    "hu2021_networks",
    "hu2021_url",
    "is_stale_download",
    "load",
    "open_model",
]

logger = logging.getLogger(__name__)

MODEL_SUFFIXES = (".safetensors", ".onnx", ".pt", ".pth", ".tar", ".ckpt", ".xml", ".tflite", ".param", ".mlpackage")
BACKENDS = ("torch", "onnxruntime", "openvino")  # a network or an .onnx file may run in any; other files in their own


class DepthModel(Protocol):
    """What inference code (`litedepth.inference.predict`, `litedepth.evaluation.loop.evaluate`, the CLI)
    may rely on in a model from `load`: a `DepthNet` or an `litedepth.runtimes.onnx.OnnxDepthModel`.

    Nothing else is shared: ``parameters()`` and ``state_dict()`` are torch's, and an ONNX model
    does not fake them (`litedepth.deploy.flops` counts its parameters and GFLOPs from its graph).
    """

    arch: str  # architecture name (a key of `litedepth.ARCHITECTURES`, or "custom")
    input_size: tuple[int, int]  # (H, W) the network was built or exported for
    mean: tuple[float, ...]  # per-channel RGB normalisation of the input (0-1 pixels)
    std: tuple[float, ...]
    metadata: dict[str, Any]  # provenance: "source", "format", "training"

    @property
    def device(self) -> torch.device:
        """Where the model runs (an ONNX model: CPU)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, 3, H, W)`` float -> ``(B, 1, H, W)`` depth in metres."""

    def eval(self) -> DepthModel:
        """Inference mode; returns the model."""


class UntrainedWeightsWarning(UserWarning):
    """`load` was given an architecture name: the network has fresh weights and its depth is meaningless."""


def load(
    spec: str | os.PathLike,
    arch: str | None = None,
    device: str | torch.device | None = None,
    *,
    backend: str = "torch",
    threads: int | None = None,
) -> DepthModel:
    """Open a depth model in eval mode from any spec the CLI's ``--model`` takes.

    - our ``.safetensors`` (architecture and input size from its metadata) -> `DepthNet`;
    - an authors' ``.pt`` (``arch`` guessed from its keys when left out) -> `DepthNet`;
    - ``hu2021:NAME``, one of the authors' released networks (`HU2021`), from the cache or
      downloaded once -> `DepthNet`;
    - ``fastdepth:NAME``, FastDepth's published weights (`FASTDEPTH`): its int8 ``.tflite`` downloaded
      once, checked by its sha256 and cached as our ``.safetensors`` (`fetch_fastdepth`) -> `DepthNet`;
    - an exported ``.onnx`` file -> `litedepth.runtimes.onnx.OnnxDepthModel` (CPU only; ``backend="openvino"``:
      `litedepth.runtimes.openvino.OpenVinoDepthModel`);
    - an OpenVINO IR ``.xml`` -> `OpenVinoDepthModel`; a ``.tflite`` -> `litedepth.runtimes.litert.LiteRTDepthModel`;
      an NCNN model (its folder, or ``X.ncnn.param`` with ``X.ncnn.bin`` and ``X.ncnn.json``) ->
      `litedepth.runtimes.ncnn.NcnnDepthModel` (CPU only);
    - an architecture name of `litedepth.ARCHITECTURES` -> a fresh `DepthNet`, with an
      `UntrainedWeightsWarning` (random weights: the depth is meaningless).

    A file wins over an architecture name of the same spelling. ``arch``, if given, must agree
    with what the spec holds. ``device`` moves a network there; default CPU. ``backend="onnxruntime"``
    runs a network by ONNX Runtime (exported in memory, checked against PyTorch); ``threads``
    sets ONNX Runtime's intra-op threads. Anything else is a one-line `LitedepthError`.

    >>> model = load("hu2021:N_s_X_U_unlabel")
    >>> model = load("student.safetensors", backend="onnxruntime", threads=2)
    """
    if backend not in BACKENDS:
        raise LitedepthError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend != "torch" and device is not None and torch.device(device).type != "cpu":
        raise LitedepthError(f"{spec}: the {backend} backend runs on CPU only, not {device}")
    model = _open(spec, arch, device, threads, backend)
    if backend == "torch" or not isinstance(model, torch.nn.Module):
        return model
    if backend == "openvino":
        from .runtimes.openvino import from_network as openvino_network

        return openvino_network(model, threads=threads, name=os.fspath(spec))
    from .runtimes.onnx import from_network

    return from_network(model, threads=threads, name=os.fspath(spec))


def _open(
    spec: str | os.PathLike, arch: str | None, device: str | torch.device | None, threads: int | None, backend: str
):
    """`load` before the backend: the spec resolved into a network on ``device`` or an exported model."""
    if not isinstance(spec, (str, os.PathLike)):
        raise LitedepthError(
            f"load: expected a model file or an architecture name, got a {type(spec).__name__} "
            "(a network object needs no loading)"
        )
    if isinstance(spec, str) and spec.startswith(HU2021_PREFIX):
        return load_hu2021(spec, arch).to(torch_device(device)).eval()
    if isinstance(spec, str) and spec.startswith(FASTDEPTH_PREFIX):
        return load_fastdepth(spec, arch).to(torch_device(device)).eval()
    path = Path(spec)
    if _exported_kind(path) is not None:
        return _load_exported(path, arch, device, threads, backend)
    if path.is_file():
        return load_network(path, arch).to(torch_device(device)).eval()
    name = os.fspath(spec)
    if isinstance(spec, str) and name in ARCHITECTURES:
        return _fresh(name, arch).to(torch_device(device)).eval()
    raise _not_found(spec, path)


def _exported_kind(path: Path) -> str | None:
    """The suffix of `litedepth.runtimes.kinds.RUNTIMES` an existing exported model answers to (an NCNN folder: ``.param``), else None."""
    from .runtimes.ncnn import is_ncnn

    if path.is_dir():
        if path.suffix.lower() == ".mlpackage":
            return ".mlpackage"
        return ".param" if is_ncnn(path) else None
    if not path.is_file():
        return None
    if is_ncnn(path):
        return ".param"
    suffix = path.suffix.lower()
    return suffix if suffix in RUNTIMES else None


def _fresh(name: str, arch: str | None) -> DepthNet:
    if arch is not None and arch != name:
        raise LitedepthError(f"{name}: an architecture name, but arch={arch!r} names another")
    warnings.warn(
        f"{name}: an architecture name, not a file; using fresh (untrained) weights, so the depth is meaningless",
        UntrainedWeightsWarning,
        stacklevel=4,
    )
    model = create_model(name)
    model.metadata = {"source": name, "format": "untrained", "training": {}}
    return model


def _not_found(spec: str | os.PathLike, path: Path) -> LitedepthError:
    """The one line for a spec that is neither a file nor a name."""
    name = os.fspath(spec)
    if path.exists():
        return LitedepthError(
            f"{path}: a folder, not a model file (.safetensors, .pt, .onnx, .xml, .tflite, or an NCNN export folder)"
        )
    if path.suffix.lower() in MODEL_SUFFIXES or not isinstance(spec, str) or os.sep in name or "/" in name:
        kind = RUNTIMES[suffix].what.split(" ", 1)[1] if (suffix := path.suffix.lower()) in RUNTIMES else "checkpoint"
        return LitedepthError(f"{path}: no such {kind} file")
    hint = did_you_mean(name, ARCHITECTURES)
    return LitedepthError(
        f"{name}: neither a model file nor an architecture name{hint}; architectures: {', '.join(ARCHITECTURES)}"
        f"; the authors' networks: {HU2021_PREFIX}NAME; FastDepth's: {', '.join(FASTDEPTH_PREFIX + n for n in FASTDEPTH)}"
    )


def _load_exported(path: Path, arch: str | None, device, threads: int | None, backend: str):
    """An exported file -> the runtime's model (CPU only); ``backend`` picks OpenVINO or ONNX Runtime for ``.onnx``."""
    kind = _exported_kind(path)
    if kind == ".mlpackage":
        raise LitedepthError(f"{path}: a Core ML package; Core ML runs on Apple platforms only, not here")
    what, runtime = RUNTIMES[kind].what, RUNTIMES[kind].name
    if device is not None and torch.device(device).type != "cpu":
        raise LitedepthError(f"{path}: {what} model runs on CPU only ({runtime}), not {device}")
    if backend != DEFAULT_BACKEND and backend not in backends(kind):
        raise LitedepthError(f"{path}: {what} model runs in {runtime}, not with backend {backend!r}")
    model = model_class(kind, backend)(path, threads=threads)
    if arch is not None and model.arch != arch:
        raise LitedepthError(f"{path}: holds architecture {model.arch!r}, not {arch!r}")
    return model


def open_model(
    spec: str | os.PathLike | None,
    arch: str | None = None,
    *,
    backend: str = "torch",
    device: str = "cpu",
    threads: int | None = None,
    quiet: bool = False,
) -> DepthModel:
    """The model a command runs: `load` of ``--model`` (``--arch`` alone: that architecture).

    The fresh-weights warning of an architecture name becomes one ``warning:`` line on stderr,
    and an ``.onnx`` file asked to run by torch gets a ``note:`` line (ONNX Runtime runs it);
    ``quiet`` shows neither (a timing needs no trained weights).
    """
    check_device(device)
    if spec is None and arch is None:
        raise LitedepthError(
            "no model: give --model (a .safetensors, .pt or .onnx file, hu2021:NAME, or an architecture name)"
        )
    spec, arch = (spec, arch) if spec is not None else (arch, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UntrainedWeightsWarning)
        model = load(spec, arch=arch, device=device, backend=backend, threads=threads)
    for w in caught:
        if not issubclass(w.category, UntrainedWeightsWarning):  # not ours: shown as Python would have shown it
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        elif not quiet:
            logger.warning("warning: %s", w.message)
    if backend == "torch" and not isinstance(model, torch.nn.Module) and not quiet:
        kind = RUNTIMES.get(_exported_kind(Path(spec)))
        what, runtime = (kind.what, kind.name) if kind else ("an exported", "its runtime")
        logger.warning("note: %s is %s file; running it with %s", spec, what, runtime)
    return model
