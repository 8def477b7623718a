"""The optimiser and the learning-rate schedule of a run.

The training data (sources, mixing, sampler) is in `litedepth.training.mixing`; checkpoints and the
RNG states that make ``--resume`` exact are in `litedepth.training.checkpoints`.
"""

from __future__ import annotations

import math

import torch

from ..config import Config


def build_optimizer(cfg: Config, params) -> torch.optim.Optimizer:
    """The optimiser of ``cfg.optim``, with its fused step (one kernel for all parameters) on CPU and CUDA."""
    o = cfg.optim
    params = list(params)
    fused = {"fused": True} if params and params[0].device.type in ("cpu", "cuda") else {}
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay, **fused)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay, **fused)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, **fused)


def learning_rate(cfg: Config, step: int, total_steps: int, epoch: int) -> float:
    """The learning rate at optimiser step ``step`` (from 0, over the whole run) of ``total_steps``, in ``epoch``.

    A pure function, so resuming needs no scheduler state. ``step``: lr * gamma ** (epoch //
    step_epochs) (WACV 2019: x0.1 every 5 epochs); ``cosine``: half-cosine from lr to 0 over all
    steps; ``constant``. Optional linear warm-up.
    """
    s = cfg.schedule
    base = cfg.optim.lr
    if s.kind == "step":
        lr = base * s.gamma ** (epoch // s.step_epochs)
    elif s.kind == "cosine":
        total = max(1, total_steps)
        lr = 0.5 * base * (1.0 + math.cos(math.pi * min(step, total) / total))
    else:
        lr = base
    if s.warmup_steps > 0 and step < s.warmup_steps:
        lr *= (step + 1) / s.warmup_steps
    return lr
