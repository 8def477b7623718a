"""The optimiser, the learning-rate schedule and training checkpoints of a run.

The training data (sources, mixing, sampler) is in `litedepth.training.mixing`; the network is
initialised from ``train.seed``; the RNG states saved here make ``--resume`` exact.
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Config
from ..errors import LitedepthError, first_line
from ..fileio import torch_save

CHECKPOINT_FORMAT = "litedepth-train-2"


# ----------------------------------------------------------------------------- optimisation


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


# ----------------------------------------------------------------------------- checkpoints


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch global RNG states in types ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a training checkpoint atomically (a kill leaves the previous one intact; a full disk: an `OSError`)."""
    torch_save({"format": CHECKPOINT_FORMAT, **state}, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise LitedepthError(f"{path}: no checkpoint to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = first_line(exc)
        raise LitedepthError(f"{path}: not a readable training checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise LitedepthError(
            f"{path}: not a litedepth training checkpoint (format {state.get('format') if isinstance(state, dict) else None!r})"
        )
    return state


# Keys that may change between a run and its resumption without changing its training (train.precise_bn_images acts after the last step).
RUN_CONTROL_KEYS = {
    "train.epochs",
    "train.out_dir",
    "train.progress",
    "train.device",
    "train.threads",
    "train.checkpoint_every",
    "train.checkpoint_seconds",
    "train.log_every",
    "train.compile",
    "train.precise_bn_images",
    "data.workers",
    "data.val",
    "data.val_limit",
    "data.val_split",
    "distill.cache_dir",
}


def config_differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts, ignoring `RUN_CONTROL_KEYS`."""
    diffs = []
    for key in sorted(set(saved) | set(current)):
        name = f"{prefix}{key}"
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, name + ".")
        elif name not in RUN_CONTROL_KEYS and a != b:
            diffs.append(f"{name}: {a!r} -> {b!r}")
    return diffs
