"""Training checkpoints (``last.pt``): written atomically, read back, checked against the config, restored.

A checkpoint holds the weights, the optimiser, the gradient scaler, the Python, NumPy and torch
RNG states (which make ``--resume`` exact), the config and the run's `litedepth.training.loop.TrainState`.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Config
from ..errors import LitedepthError, first_line
from ..fileio import torch_save
from .distributed import DistEnv

CHECKPOINT_FORMAT = "litedepth-train-2"


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


def restore(path: Path, cfg: Config, env: DistEnv, model, optimizer, scaler) -> dict[str, Any]:
    """Load ``path`` into model, optimiser, scaler and RNGs; the saved `litedepth.training.loop.TrainState` as a dict.

    Refused (one line) when ``cfg`` differs from the checkpoint's config beyond `RUN_CONTROL_KEYS`, or when a
    checkpoint written mid-epoch is resumed by another number of processes.
    """
    ck = load_checkpoint(path)
    diffs = config_differences(ck["config"], cfg.to_dict())
    if diffs:
        raise LitedepthError(
            f"{path}: was written by a different config ({'; '.join(diffs[:3])}); resume with the same config"
        )
    state = ck["state"]
    if state["batch"] and ck.get("world_size", 1) != env.world_size:
        raise LitedepthError(
            f"{path}: written mid-epoch by {ck.get('world_size', 1)} processes; resume it with as many "
            f"(not {env.world_size})"
        )
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    scaler.load_state_dict(ck["scaler"])
    set_rng_state(ck["rng"])
    return state
