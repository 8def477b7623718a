"""Counting a network's size and compute."""

from __future__ import annotations

import torch

from .errors import LitedepthError


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: torch.nn.Module, size: tuple[int, int], batch: int = 1) -> float:
    """GFLOPs of one forward pass on a ``(batch, 3, H, W)`` input, by ``torch.utils.flop_counter``.

    The counter reports 2 FLOPs per multiply-add (the paper's 8.04 GFLOPs = 4.02 GMACs).
    """
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    x = torch.zeros(batch, 3, *size, device=device)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 1e9


def parse_size(text: str) -> tuple[int, int]:
    """``"228x304"`` -> ``(228, 304)`` (height x width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise LitedepthError(f"size {text!r}: expected HxW, e.g. 228x304") from None
    if h < 1 or w < 1:
        raise LitedepthError(f"size {text!r}: height and width must be positive")
    return h, w
