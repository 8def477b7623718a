"""How an exported file is checked against the PyTorch network it came from, before it is written.

>>> worst, tolerance = compare(exported, model, [(1, 228, 304)], atol=1e-4, rtol=1e-4)
>>> change = int8_change(float_model, int8_model, batches)     # INT8 vs float on calibration images

Inputs are photo-like (`photo_like`): smooth random colour fields with a little noise, in 0..1,
normalised with the model's statistics, so that activations have the ranges of real images
(white noise overstates what quantisation and low-precision kernels change).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import LitedepthError, first_line
from ..preprocess import normalise, stats_of

INT8_TOLERANCE = 0.05  # INT8 files: mean |INT8 - float| at most 5% of the mean |float| depth


def photo_like(model, batch: int, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """``(batch, 3, H, W)`` normalised inputs of smooth colour fields (8x8 random grid upsampled) plus 2% noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, 8, 8, generator=g)
    rgb = F.interpolate(coarse, size=size, mode="bicubic", align_corners=True)
    rgb = (rgb + 0.02 * torch.randn(batch, 3, *size, generator=g)).clamp(0, 1)
    return normalise(rgb, *stats_of(model))


def compare(exported, model, shapes: list[tuple[int, int, int]], atol: float, rtol: float) -> tuple[float, float]:
    """Largest |exported - PyTorch| (metres) over photo-like inputs of ``shapes`` ``(B, H, W)``, and its tolerance.

    The tolerance is ``atol + rtol * max|PyTorch output|``. A runtime that refuses a shape is one line.
    """
    worst, tolerance = 0.0, atol
    for i, (b, h, w) in enumerate(shapes):
        x = photo_like(model, b, (h, w), seed=i + 1)
        with torch.inference_mode():
            reference = model(x).float()
        try:
            out = exported(x)
        except LitedepthError:
            raise
        except Exception as exc:
            raise LitedepthError(
                f"{exported.name}: could not run the exported model ({first_line(exc, 200)})"
            ) from None
        if tuple(out.shape) != tuple(reference.shape):
            raise LitedepthError(
                f"{exported.name}: output shape {tuple(out.shape)} differs from PyTorch's {tuple(reference.shape)}"
            )
        worst = max(worst, float((out - reference).abs().max()))
        tolerance = max(tolerance, atol + rtol * float(reference.abs().max()))
    return worst, tolerance


@dataclass
class Int8Change:
    """INT8 output vs float output on the same images, metres."""

    images: int
    max_abs: float
    mean_abs: float
    float_mean_abs: float  # mean |float depth|, the scale of ``mean_abs``
    float_max_abs: float = float("nan")  # largest |float depth|

    @property
    def relative(self) -> float:
        """mean |INT8 - float| / mean |float|."""
        return self.mean_abs / max(self.float_mean_abs, 1e-12)


def int8_change(float_run, int8_run, batches: list[np.ndarray]) -> Int8Change:
    """Compare two callables ``(1, 3, H, W)`` array -> depth array on ``batches`` (e.g. calibration images)."""
    diffs, scale = [], []
    for batch in batches:
        ref = np.asarray(float_run(batch), dtype=np.float64)
        out = np.asarray(int8_run(batch), dtype=np.float64).reshape(ref.shape)
        diffs.append(np.abs(out - ref).ravel())
        scale.append(np.abs(ref).ravel())
    change, ref = np.concatenate(diffs), np.concatenate(scale)
    return Int8Change(len(batches), float(change.max()), float(change.mean()), float(ref.mean()), float(ref.max()))


def refuse_int8(change: Int8Change, path, tolerance: float) -> None:
    """A one-line `LitedepthError` when the INT8 file moves depth more than ``tolerance`` (relative mean change)."""
    if change.relative > tolerance:
        raise LitedepthError(
            f"{path}: INT8 output differs from the float model by {change.relative:.1%} of the mean depth "
            f"(mean {change.mean_abs:.3g} m, max {change.max_abs:.3g} m on {change.images} images; "
            f"tolerance {tolerance:.1%}); not written"
        )
