"""Sizes: parsing ``HxW`` input sizes, counting a network's parameters and compute."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .errors import LitedepthError

if TYPE_CHECKING:  # torch is imported where it is used, so that parsing sizes stays light
    import torch


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: torch.nn.Module, size: tuple[int, int], batch: int = 1) -> float:
    """GFLOPs of one forward pass on a ``(batch, 3, H, W)`` input, by ``torch.utils.flop_counter``.

    The counter reports 2 FLOPs per multiply-add (the paper's 8.04 GFLOPs = 4.02 GMACs).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    x = torch.zeros(batch, 3, *size, device=device)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 1e9


def parse_size(text: str, minimum: int = 1, name: str = "--size") -> tuple[int, int]:
    """``"228x304"`` -> ``(228, 304)`` (height, width), or a one-line `LitedepthError`."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m or min(int(m.group(1)), int(m.group(2))) < minimum:
        raise LitedepthError(f"{name} {text!r}: expected HEIGHTxWIDTH with both at least {minimum}, e.g. 228x304")
    return int(m.group(1)), int(m.group(2))
