"""An epoch's row of ``metrics.jsonl`` (loss terms per image, learning rate, speed, validation metrics) and its log line."""

from __future__ import annotations

from typing import Any

import torch

from ..config import Config
from .distributed import DistEnv, all_sum
from .step import LossTerms


def epoch_row(cfg: Config, env: DistEnv, state, optimizer, model) -> dict[str, Any]:
    """The epoch's row of ``metrics.jsonl`` from its `TrainState` ``state``: mean loss terms per image over every
    process, learning rate, time, speed and (rank 0, with ``data.val``) the validation metrics."""
    *sums, images = all_sum(env, [*state.loss_sums, float(state.images)])
    mean = LossTerms(*(s / max(images, 1) for s in sums))  # per image
    row: dict[str, Any] = {
        "epoch": state.epoch + 1,
        "step": state.step,
        "loss": mean.total,
        "loss_gt": mean.gt,
        "loss_teacher": mean.teacher,
        "lr": optimizer.param_groups[0]["lr"],
        "images": int(images),
        "time_s": round(state.seconds, 3),
        "images_per_s": images / max(state.seconds, 1e-9),
    }
    if cfg.data.val and env.is_main:
        row["val"] = validate(model, cfg, env.device)
    return row


def epoch_message(row: dict[str, Any]) -> str:
    """One line per epoch: loss, speed and the headline validation metrics."""
    shown = ("rmse", "abs_rel", "delta1")
    return "epoch {epoch}: loss {loss:.4f}, {images_per_s:.1f} img/s".format(**row) + "".join(
        f", {k} {v:.4f}" for k, v in row.get("val", {}).items() if k in shown
    )


def validate(model, cfg: Config, device) -> dict[str, float]:
    """Metrics of ``model`` on ``cfg.data.val`` under the paper's protocol (`litedepth.evaluation.loop`)."""
    from ..data import open_dataset
    from ..evaluation.loop import evaluate

    data = open_dataset(cfg.data.val, split=cfg.data.val_split)
    if cfg.data.val_limit is not None:
        data = torch.utils.data.Subset(data, range(min(cfg.data.val_limit, len(data))))
    was_training = model.training
    result = evaluate(model, data, protocol="hu2021", device=device, progress=False)
    model.train(was_training)
    return {k: float(v) for k, v in result.metrics.items()}
