"""Per-image alignment of predictions to the ground truth, for relative-depth models and zero-shot comparisons.

>>> aligned = align(pred, gt, mask, "median")                  # scale by median(gt) / median(pred)
>>> aligned = align(pred, gt, mask, "lstsq", space="disparity")  # scale and shift of 1/depth, as MiDaS

Modes (`ALIGNS`), each fitted on an image's valid pixels only (``mask``, finite predictions):

* ``none``: the prediction as it is (the paper's metric protocol; the default of ``litedepth eval``);
* ``median``: ``pred * median(gt) / median(pred)`` (Eigen-style median scaling, as monocular
  self-supervised methods and Ultralytics report);
* ``lstsq``: scale ``s`` and shift ``t`` minimising ``sum (s * x + t - y)^2`` by least squares,
  where ``x, y`` are prediction and ground truth in ``space``: ``depth`` (metres) or
  ``disparity`` (``1 / depth``: MiDaS, Depth Anything); in disparity space the aligned disparity is
  clamped below at ``1 / max_depth`` before it becomes depth again (MiDaS' depth cap), and only
  pixels with a positive prediction take part in the fit.

Shapes: ``pred``, ``gt``, ``mask`` ``(B, 1, H, W)``; metres.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import LitedepthError

ALIGNS = ("none", "median", "lstsq")
SPACES = ("depth", "disparity")
DEFAULT_MAX_DEPTH = 10.0  # metres: NYU's range, the disparity clamp when the protocol sets no cap


def check_align(mode: str, space: str = "depth") -> None:
    if mode not in ALIGNS:
        raise LitedepthError(f"--align {mode!r}: choose from {', '.join(ALIGNS)}")
    if space not in SPACES:
        raise LitedepthError(f"--align-space {space!r}: choose from {', '.join(SPACES)}")


def fit_image(pred: np.ndarray, gt: np.ndarray, mode: str, space: str) -> tuple[float, float]:
    """``(scale, shift)`` of one image from its valid pixels (1-D float64 arrays; shift 0 for ``median``)."""
    if mode == "median":
        return float(np.median(gt) / np.median(pred)), 0.0
    x, y = (pred, gt) if space == "depth" else (1.0 / pred, 1.0 / gt)
    design = np.stack([x, np.ones_like(x)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(scale), float(shift)


def align(
    pred: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor,
    mode: str,
    space: str = "depth",
    max_depth: float | None = None,
) -> tuple[torch.Tensor, list[tuple[float, float]]]:
    """``(aligned prediction, [(scale, shift) per image])``; ``mode="none"`` returns ``pred`` and ``(1, 0)`` each."""
    check_align(mode, space)
    fits = [(1.0, 0.0)] * pred.shape[0]
    if mode == "none":
        return pred, fits
    out = pred.clone()
    for b in range(pred.shape[0]):
        p = pred[b].double().cpu().numpy()
        keep = mask[b].cpu().numpy() & np.isfinite(p) & ((p > 0) if space == "disparity" or mode == "median" else True)
        if keep.sum() < 2:
            continue  # nothing to fit on: left as predicted
        scale, shift = fit_image(p[keep], gt[b].double().cpu().numpy()[keep], mode, space)
        fits[b] = (scale, shift)
        if space == "depth":
            aligned = p * scale + shift
        else:
            disparity = np.maximum(scale / np.where(p > 0, p, np.inf) + shift, 1.0 / (max_depth or DEFAULT_MAX_DEPTH))
            aligned = 1.0 / disparity
        out[b] = torch.from_numpy(aligned).to(pred.dtype)
    return out, fits
