"""Depth-estimation metrics as pure tensor functions, per image.

Every function takes ``pred`` o and ``target`` t, both (B, 1, H, W) or (B, H, W) in metres, and a
boolean ``mask`` of the same shape (the valid pixels V_b of image b), and returns a float64 (B,)
tensor with one value per image. A dataset's value is the mean over images of the per-image values
(`mean_over_images`), RMSE included, as in the authors' ``test.py``.

Arithmetic follows the authors' ``util.evaluateError`` (element-wise in the input dtype; sums here
in float64). Their code does not guard non-positive predictions, and neither does this module:
* o = 0 gives ``log10 o = -inf`` so LOG10 = inf; o < 0 gives NaN so LOG10 = NaN;
* for o < 0 both ratios o/t and t/o are negative, so their maximum is <= 1.25 and the pixel
  *counts as accurate* in every DELTA; o = +0 gives t/o = inf and does not count.
Callers should count such pixels with `nonpositive_count` and report them (``litedepth eval`` warns).
An image with no valid pixel gives NaN here (the authors silently scored it 0); the evaluation loop
rejects such images as bad data instead.
"""

from __future__ import annotations

import math

import torch

METRIC_NAMES = ("rmse", "abs_rel", "log10", "mae", "mse", "delta1", "delta2", "delta3")


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum over V_b of values / |V_b|, per image, in float64; values outside the mask are ignored."""
    v, m = _flat(values), _flat(mask)
    total = torch.where(m, v.double(), torch.zeros((), dtype=torch.float64, device=v.device)).sum(dim=1)
    return total / m.sum(dim=1).double()


def valid_count(mask: torch.Tensor) -> torch.Tensor:
    """|V_b|: number of valid pixels per image, int64 (B,)."""
    return _flat(mask).sum(dim=1)


def nonpositive_count(pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Number of valid pixels with o <= 0 per image, int64 (B,) (where LOG10/DELTA misbehave)."""
    return _flat((pred <= 0) & mask).sum(dim=1)


def mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE_b = (1/|V_b|) sum_{V_b} (o - t)^2, metres^2."""
    return _masked_mean((pred - target) ** 2, mask)


def rmse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """RMSE_b = sqrt(MSE_b), metres (per image; the dataset RMSE is the mean of these)."""
    return torch.sqrt(mse(pred, target, mask))


def mae(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MAE_b = (1/|V_b|) sum_{V_b} |o - t|, metres."""
    return _masked_mean((pred - target).abs(), mask)


def abs_rel(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ABS_REL_b = (1/|V_b|) sum_{V_b} |o - t| / t."""
    return _masked_mean((pred - target).abs() / target, mask)


def log10(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """LOG10_b = (1/|V_b|) sum_{V_b} |log10 o - log10 t| (inf if some o = 0, NaN if some o < 0)."""
    return _masked_mean((torch.log(pred) / math.log(10) - torch.log(target) / math.log(10)).abs(), mask)


def max_ratio(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """max(o/t, t/o) as the authors' ``maxOfTwo``: t/o where o/t < t/o, else o/t."""
    x, y = pred / target, target / pred
    return torch.where(x < y, y, x)


def delta(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, k: int = 1) -> torch.Tensor:
    """DELTA_k_b = (1/|V_b|) #{p in V_b : max(o/t, t/o) <= 1.25^k} (note ``<=``)."""
    return _masked_mean((max_ratio(pred, target) <= math.pow(1.25, k)).to(pred.dtype), mask)


def delta1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fraction of valid pixels with max(o/t, t/o) <= 1.25."""
    return delta(pred, target, mask, 1)


def delta2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fraction of valid pixels with max(o/t, t/o) <= 1.25^2."""
    return delta(pred, target, mask, 2)


def delta3(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fraction of valid pixels with max(o/t, t/o) <= 1.25^3."""
    return delta(pred, target, mask, 3)


METRICS = {
    "rmse": rmse,
    "abs_rel": abs_rel,
    "log10": log10,
    "mae": mae,
    "mse": mse,
    "delta1": delta1,
    "delta2": delta2,
    "delta3": delta3,
}


def compute_metrics(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """All of `METRIC_NAMES` per image, as float64 (B,) tensors. ``mask`` defaults to ``target > 0``."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} differs from target shape {tuple(target.shape)}")
    if mask is None:
        mask = target > 0
    with torch.no_grad():
        return {name: fn(pred, target, mask) for name, fn in METRICS.items()}


def mean_over_images(per_image: list[dict[str, float]]) -> dict[str, float]:
    """Dataset metrics: for each of `METRIC_NAMES`, the plain mean of the per-image values."""
    n = len(per_image)
    if n == 0:
        return {name: float("nan") for name in METRIC_NAMES}
    return {name: math.fsum(float(r[name]) for r in per_image) / n for name in METRIC_NAMES}
