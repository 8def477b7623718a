"""Per-image alignment of predictions to the ground truth, for relative-depth models and zero-shot comparisons.

>>> aligned = align(pred, gt, mask, "median")                  # scale by median(gt) / median(pred)
>>> aligned = align(pred, gt, mask, "lstsq", space="disparity")  # scale and shift of 1/depth, as MiDaS

Modes (`ALIGNS`), each fitted on an image's valid pixels only (``mask``, finite predictions,
ground truth > 0), with ``x, y`` the prediction and the ground truth in ``space``: ``depth``
(metres) or ``disparity`` (``1 / depth``: MiDaS, Depth Anything):

* ``none``: the prediction as it is (the paper's metric protocol; the default of ``litedepth eval``);
* ``median``: ``x`` times ``s = median(y) / median(x)`` (Eigen-style median scaling, as monocular
  self-supervised methods and Ultralytics report), over pixels with a positive prediction. In
  depth space the aligned depth is ``pred * median(gt) / median(pred)``; in disparity space the
  aligned disparity is ``s / pred``, so the depth is ``pred / s``. Inversion reverses the order,
  so with an odd number of pixels both spaces give the same depth; with an even number the
  median is the mean of the two middle values, and the spaces differ slightly.
* ``lstsq``: scale ``s`` and shift ``t`` minimising ``sum (s * x + t - y)^2`` by least squares; in
  disparity space only pixels with a positive prediction take part, and the aligned disparity
  (which a shift can make <= 0) is clamped below at ``1 / max_depth`` before it becomes depth
  again (MiDaS' depth cap).

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
    """``(scale, shift)`` in ``space`` of one image from its valid pixels (1-D float64 arrays, > 0 in disparity space).

    Both map the prediction ``x`` to the ground truth ``y`` in ``space`` (``1 / depth`` in
    disparity space) as ``scale * x + shift``; the shift is 0 for ``median``.
    """
    x, y = (pred, gt) if space == "depth" else (1.0 / pred, 1.0 / gt)
    if mode == "median":
        return float(np.median(y) / np.median(x)), 0.0
    design = np.stack([x, np.ones_like(x)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(scale), float(shift)


def apply_fit(pred: np.ndarray, fit: tuple[float, float], mode: str, space: str, max_depth: float | None) -> np.ndarray:
    """``pred`` (metres, any shape) aligned by ``fit`` (`fit_image`): depth in metres.

    Median scaling in disparity space divides the depth by the scale (``1 / (s / pred)``), which
    keeps every prediction's sign and order; least squares in disparity space adds a shift, so
    its disparity is clamped below at ``1 / max_depth`` (a prediction <= 0 has no disparity: the cap).
    """
    scale, shift = fit
    if space == "depth":
        return pred * scale + shift
    if mode == "median":
        return pred / scale
    disparity = scale / np.where(pred > 0, pred, np.inf) + shift
    return 1.0 / np.maximum(disparity, 1.0 / (max_depth or DEFAULT_MAX_DEPTH))


def align(
    pred: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor,
    mode: str,
    space: str = "depth",
    max_depth: float | None = None,
) -> tuple[torch.Tensor, list[tuple[float, float]]]:
    """``(aligned prediction, [(scale, shift) per image])``; ``mode="none"`` returns ``pred`` and ``(1, 0)`` each.

    The fits are in ``space`` (`fit_image`); an image with fewer than 2 pixels to fit on is left as
    predicted, with ``(1, 0)``.
    """
    check_align(mode, space)
    fits = [(1.0, 0.0)] * pred.shape[0]
    if mode == "none":
        return pred, fits
    out = pred.clone()
    for b in range(pred.shape[0]):
        p, g = pred[b].double().cpu().numpy(), gt[b].double().cpu().numpy()
        keep = mask[b].cpu().numpy() & np.isfinite(p) & np.isfinite(g) & (g > 0)
        if space == "disparity" or mode == "median":
            keep &= p > 0  # no disparity, and no median ratio, of a prediction <= 0
        if keep.sum() < 2:
            continue  # nothing to fit on: left as predicted
        fits[b] = fit_image(p[keep], g[keep], mode, space)
        out[b] = torch.from_numpy(apply_fit(p, fits[b], mode, space, max_depth)).to(pred.dtype)
    return out, fits
