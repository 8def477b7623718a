"""Baselines without learning, which a trained network has to beat by far: a constant and a row ramp.

>>> rows = baseline_rows(STUDY_PRESETS["quick"], {"X": "runs/quick/data/X"})   # one result row each
"""

from __future__ import annotations

from typing import Any

import torch

from ..preprocess import IMAGENET
from .presets import StudyPreset


class ConstantDepth(torch.nn.Module):
    """A baseline: the same depth everywhere. ``(B, 3, H, W) -> (B, 1, H, W)`` metres."""

    def __init__(self, value: float, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.value, self.input_size = float(value), tuple(input_size)
        self.mean, self.std = IMAGENET  # the input is ignored; the statistics of every shipped network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_full((x.shape[0], 1, *x.shape[-2:]), self.value)


class RowRamp(ConstantDepth):
    """A baseline: each image row gets the training set's mean depth of that row (a vertical ramp)."""

    def __init__(self, rows: torch.Tensor, input_size: tuple[int, int]) -> None:
        super().__init__(0.0, input_size)
        self.rows = rows  # (H,) metres

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rows.view(1, 1, -1, 1).expand(x.shape[0], 1, -1, x.shape[-1]).to(x.dtype)


def baseline_rows(
    preset: StudyPreset, sets: dict[str, str], test_data: str | None = None, align: str = "none"
) -> list[dict[str, Any]]:
    """Scores of a constant (X's median training depth) and of a row-wise ramp on X's test set (or ``test_data``).

    A trained network has to beat both by far for the data to be a meaningful benchmark. ``align``
    is `litedepth.evaluation.loop.evaluate`'s (``"median"``: each prediction scaled to the ground
    truth's median first, which leaves the ramp its shape and the constant nothing).
    """
    from ..evaluation.loop import evaluate

    result = []
    for name, what, model in baseline_models(preset, sets["X"]):
        metrics = evaluate(
            model, test_data or sets["X"], protocol="hu2021", batch_size=16, progress=False, align=align
        ).metrics
        result.append(
            {
                "name": name,
                "description": f"baseline, no learning: {what}",
                "seed": 0,
                "arch": "baseline",
                "params": 0,
                "gflops": 0.0,
                "train_seconds": 0.0,
                **{k: float(v) for k, v in metrics.items()},
            }
        )
    return result


def baseline_models(preset, train_data: str) -> list[tuple[str, str, torch.nn.Module]]:
    """``(name, what it predicts, network)`` of each baseline, fitted on ``train_data``'s training split
    at ``preset.input_size``: a constant (the median training depth) and a row ramp."""
    from ..data import open_dataset, test_transform

    train = open_dataset(train_data, split="train", transform=test_transform(preset.input_size))
    depths = torch.stack([train[i]["depth"][0] for i in range(len(train))])  # (N, H, W)
    valid = depths > 0
    rows = (depths * valid).sum(dim=(0, 2)) / valid.sum(dim=(0, 2)).clamp(min=1)
    return [
        ("constant", "median training depth", ConstantDepth(depths[valid].median().item(), preset.input_size)),
        ("row_ramp", "mean training depth of each row", RowRamp(rows, preset.input_size)),
    ]
