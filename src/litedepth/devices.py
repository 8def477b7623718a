"""Torch devices named by the user (``--device``, ``train.device``), checked into one-line errors."""

from __future__ import annotations

import torch

from .errors import LitedepthError


def check_device(device: str | torch.device, option: str = "--device") -> torch.device:
    """``torch.device(device)``, or a one-line `LitedepthError` for a bad name or a device this torch cannot use."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise LitedepthError(f"{option} {device!r}: not a torch device (e.g. cpu, cuda, cuda:1)") from None
    backend = getattr(torch, dev.type, None)
    if callable(getattr(backend, "is_available", None)) and not backend.is_available():
        raise LitedepthError(
            f"{option} {device}: {dev.type} is not available to this torch ({torch.__version__}); use cpu"
        )
    if (
        dev.index is not None
        and callable(getattr(backend, "device_count", None))
        and dev.index >= backend.device_count()
    ):
        raise LitedepthError(
            f"{option} {device}: no such device; this machine has {backend.device_count()} {dev.type} device(s)"
        )
    return dev


def torch_device(device: str | torch.device | None) -> torch.device:
    """A checked ``device`` (the option named ``device``), or the CPU when None."""
    return check_device(device, "device") if device is not None else torch.device("cpu")
