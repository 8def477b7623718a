"""The metadata a model file carries: written by every writer and read by every loader, here.

Our ``.safetensors`` checkpoints (`litedepth.checkpoint`) and every export (ONNX, OpenVINO IR,
LiteRT, NCNN's sidecar JSON, Core ML; keys prefixed `META_PREFIX` where they share the file's
own map) store string metadata: the format and its version, the architecture, its builder
config, the input size, the normalisation (mean, std), the training camera
(`litedepth.camera.Intrinsics`) and provenance. `encode_metadata` writes the keys every file
carries, `export_metadata` those of an exported file. A file with a broken value would otherwise
fail far from its cause (a traceback inside a network) or, worse, run: a std of 0 divides by
zero and every depth is NaN. `read_metadata` refuses such a file on one line that names the
file, the key and the bad value::

    student.safetensors: metadata 'std' [0,0,0]: must be 3 positive numbers (normalisation would divide by zero)

`check_stats` applies the same rule to the ``mean``/``std`` of a network object.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import LitedepthError

JSON_KEYS = ("config", "input_size", "mean", "std", "training", "camera", "dynamic")  # stored as JSON text
CAMERA_KEYS = ("fx", "fy", "cx", "cy", "width", "height")
CUSTOM_ARCH = "custom"  # what an export of a network outside `litedepth.ARCHITECTURES` records
META_PREFIX = "litedepth."  # the keys' prefix in an exported file's metadata (ONNX, LiteRT, NCNN, Core ML)
FORMAT_NAME = "litedepth"
FORMAT_VERSION = "1"

Problem = tuple[str, Any, str]  # (key, its bad value, what it must be)


def encode_metadata(
    model: Any, input_size: Sequence[int] | None = None, training: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The string metadata every model file carries (a checkpoint's whole metadata), keys unprefixed.

    ``model``: a network with ``arch``, ``config``, ``input_size``, ``mean``, ``std``, ``camera``
    and ``metadata`` (what it lacks of ``arch``, ``config`` and ``camera``: ``"custom"``, ``{}``,
    JSON null). ``input_size``: the stored size (default: the model's); ``training``: the
    provenance (default: ``model.metadata["training"]``).
    """
    camera = getattr(model, "camera", None)
    if training is None:
        training = (getattr(model, "metadata", None) or {}).get("training", {})
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "arch": str(getattr(model, "arch", CUSTOM_ARCH)),
        "config": json.dumps(getattr(model, "config", {})),
        "input_size": json.dumps(list(input_size or model.input_size)),
        "mean": json.dumps(list(model.mean)),
        "std": json.dumps(list(model.std)),
        "training": json.dumps(dict(training)),
        "camera": json.dumps(None if camera is None else camera.to_dict()),
    }


def export_metadata(model: Any, size: Sequence[int], dynamic: bool) -> dict[str, str]:
    """The ``litedepth.*`` strings of an exported file: `encode_metadata`, then where the file came from
    (``source``), whether it takes any size (``dynamic``), ``bn_folded`` and the litedepth ``version``."""
    from . import __version__

    meta = encode_metadata(model, size)
    meta.update(
        {
            "source": str((getattr(model, "metadata", None) or {}).get("source", "")),
            "dynamic": json.dumps(bool(dynamic)),
            "bn_folded": "true",
            "version": __version__,
        }
    )
    return prefixed(meta)


def prefixed(meta: Mapping[str, str]) -> dict[str, str]:
    """``meta`` with `META_PREFIX` before each key (how an exported file stores it)."""
    return {META_PREFIX + key: value for key, value in meta.items()}


def unprefixed(raw: Mapping[str, str]) -> dict[str, str]:
    """The `META_PREFIX` entries of ``raw`` with the prefix removed (other entries dropped)."""
    return {key[len(META_PREFIX) :]: value for key, value in raw.items() if key.startswith(META_PREFIX)}


def precision_entry(precision: str) -> dict[str, str]:
    """The ``litedepth.precision`` entry a quantised export adds (``"int8"``)."""
    return {META_PREFIX + "precision": precision}


def read_metadata(
    raw: Mapping[str, str], source: str, architectures: Sequence[str], prefix: str = "", custom_arch: bool = False
) -> dict[str, Any]:
    """``raw`` string metadata -> decoded values, every known key checked (`validate_metadata`).

    ``raw`` holds the keys without ``prefix``; ``prefix`` (``"litedepth."`` for ONNX) is only
    shown in messages, so that they name the key as it is stored.
    """
    meta = decode_metadata(raw, source, prefix)
    validate_metadata(meta, source, architectures, prefix, custom_arch)
    return meta


def decode_metadata(raw: Mapping[str, str], source: str, prefix: str = "") -> dict[str, Any]:
    """The values of `JSON_KEYS` parsed as JSON, others kept as strings; `LitedepthError` for bad JSON."""
    meta: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in JSON_KEYS:
            meta[key] = value
            continue
        try:
            meta[key] = json.loads(value)
        except (json.JSONDecodeError, TypeError):
            raise LitedepthError(f"{source}: metadata {prefix + key!r} {str(value)[:60]!r}: not valid JSON") from None
    return meta


def validate_metadata(
    meta: Mapping[str, Any], source: str, architectures: Sequence[str], prefix: str = "", custom_arch: bool = False
) -> None:
    """Raise a one-line `LitedepthError` naming ``source`` and the key for the first bad value in ``meta``.

    Absent keys are not checked (loaders fall back to defaults). ``architectures``: the known
    names (`litedepth.ARCHITECTURES`, passed in: this module sits below the models); with
    ``custom_arch``, ``arch`` may also be ``"custom"`` (an ONNX export of another network).
    """
    problem = find_problem(meta, architectures, custom_arch)
    if problem is not None:
        key, value, why = problem
        raise LitedepthError(f"{source}: metadata {prefix + key!r} {show(value)}: {why}")


def find_problem(meta: Mapping[str, Any], architectures: Sequence[str], custom_arch: bool = False) -> Problem | None:
    """The first bad ``(key, value, why)`` in ``meta``, or None when every known key is sound."""
    checks: dict[str, Callable[[Any], Problem | None]] = {
        "arch": lambda v: _check_arch(v, architectures, custom_arch),
        "config": _check_config,
        "input_size": lambda v: _keyed("input_size", v, input_size_problem(v)),
        "mean": lambda v: _keyed("mean", v, mean_problem(v)),
        "std": lambda v: _keyed("std", v, std_problem(v)),
        "camera": _check_camera,
        "training": lambda v: _keyed("training", v, None if isinstance(v, dict) else "must be a JSON object"),
        "dynamic": lambda v: _keyed("dynamic", v, None if isinstance(v, bool) else "must be true or false"),
    }
    for key, check in checks.items():
        if key in meta:
            problem = check(meta[key])
            if problem is not None:
                return problem
    return None


def show(value: Any, limit: int = 60) -> str:
    """``value`` as compact JSON (``[0,0,0]``), at most ``limit`` characters."""
    try:
        text = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _keyed(key: str, value: Any, why: str | None) -> Problem | None:
    return None if why is None else (key, value, why)


def _is_number(value: Any) -> bool:
    """A finite int or float (a bool is not a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _three_numbers(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 3 and all(_is_number(v) for v in value)


def input_size_problem(value: Any) -> str | None:
    """Why ``value`` is not an input size ``[height, width]`` of two positive integers, or None."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_positive_int(v) for v in value):
        return None
    return "must be 2 positive integers (height, width)"


def mean_problem(value: Any) -> str | None:
    """Why ``value`` is not a per-channel mean (3 finite numbers, R G B), or None."""
    return None if _three_numbers(value) else "must be 3 finite numbers (R, G, B)"


def std_problem(value: Any) -> str | None:
    """Why ``value`` is not a per-channel std (3 finite positive numbers), or None."""
    if _three_numbers(value) and all(v > 0 for v in value):
        return None
    if isinstance(value, (list, tuple)) and any(_is_number(v) and v == 0 for v in value):
        return "must be 3 positive numbers (normalisation would divide by zero)"
    return "must be 3 positive numbers (R, G, B)"


def _check_arch(value: Any, architectures: Sequence[str], custom_arch: bool) -> Problem | None:
    known = list(architectures) + ([CUSTOM_ARCH] if custom_arch else [])
    if isinstance(value, str) and value in known:
        return None
    return "arch", value, f"unknown architecture; known: {', '.join(known)}"


def _check_config(value: Any) -> Problem | None:
    """The builder config: a JSON object whose ``input_size``, ``mean`` and ``std``, if any, are sound."""
    if not isinstance(value, dict):
        return "config", value, "must be a JSON object (the architecture's builder arguments)"
    for key, why in (("input_size", input_size_problem), ("mean", mean_problem), ("std", std_problem)):
        if key in value and why(value[key]) is not None:
            return f"config.{key}", value[key], why(value[key])
    return None


def camera_problem(value: Any) -> Problem | None:
    """The first bad ``(key, value, why)`` of a camera dict (`litedepth.camera.Intrinsics.to_dict`), or None."""
    if not isinstance(value, dict) or any(k not in value for k in CAMERA_KEYS):
        return "camera", value, f"must be a JSON object with {', '.join(CAMERA_KEYS)}"
    rules = (
        (("fx", "fy"), lambda v: _is_number(v) and v > 0, "must be a positive finite focal length in pixels"),
        (("cx", "cy"), _is_number, "must be a finite principal point coordinate in pixels"),
        (("width", "height"), _is_positive_int, "must be a positive whole number of pixels"),
    )
    for keys, ok, why in rules:
        for key in keys:
            if not ok(value[key]):
                return f"camera.{key}", value[key], why
    return None


def _check_camera(value: Any) -> Problem | None:
    return None if value is None else camera_problem(value)  # null: an export without a camera (NYU's is used)


def check_stats(mean: Any, std: Any, what: str) -> None:
    """Refuse a network object's normalisation on one line (``what`` names it), as files are refused.

    Values are taken as floats first, so that numpy and 0-d tensor entries pass when sound.
    """
    for key, value, why in (("mean", mean, mean_problem), ("std", std, std_problem)):
        numbers = _as_floats(value)
        problem = why(numbers if numbers is not None else value)
        if problem is not None:
            raise LitedepthError(f"{what}: {key} {show(numbers if numbers is not None else repr(value))}: {problem}")


def _as_floats(value: Any) -> list[float] | None:
    """``value`` as a list of floats, or None when it is not a sequence of numbers."""
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        return None
