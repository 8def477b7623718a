"""The depth-scale check: a warning when the ground truth's and the prediction's medians disagree.

A wrong ``--depth-scale`` (millimetre PNGs read as TUM's, metres read as millimetres) shows up as a
ground truth whose median is a constant factor away from the prediction's; `scale_warning` names the
known scale that would bring them together.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

SCALE_RATIO = 3.0  # ground-truth and prediction medians further apart than this: warn about the depth scale
KNOWN_SCALES = {1000.0: "millimetre depth", 5000.0: "TUM depth", 1.0: "depth in metres"}  # raw units per metre


def scale_warning(gt_median: float, pred_median: float, scale: float | None, settable: bool) -> str | None:
    """One warning line when the median ground truth and the median prediction differ more than `SCALE_RATIO`x.

    ``settable``: the data's depth scale comes from ``--depth-scale`` (generic RGB-D pairs); ``scale``:
    the raw units per metre in use there (None: unknown), from which a known scale that would bring the
    medians together is named. None when the medians agree or one of them is not a positive number.
    """
    if not (math.isfinite(gt_median) and math.isfinite(pred_median) and gt_median > 0 and pred_median > 0):
        return None
    ratio = gt_median / pred_median
    if 1 / SCALE_RATIO <= ratio <= SCALE_RATIO:
        return None
    times = f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2g}x"
    head = f"ground-truth median depth {gt_median:.3g} m vs prediction median {pred_median:.3g} m ({times})"
    if not settable:
        return f"{head}: the model's metres do not fit this data (untrained weights, another kind of scene, or relative depth?)"
    return f"{head}: is the depth scale right? {_scale_advice(ratio, scale)}"


def _scale_advice(ratio: float, scale: float | None) -> str:
    """Name the known depth scale that matches the predictions, if one does, else what ``--depth-scale`` means."""
    if scale is not None:
        wanted = scale * ratio  # raw units per metre that would make the ground-truth median the prediction's
        for known, label in KNOWN_SCALES.items():
            if known != scale and abs(math.log(wanted / known)) < math.log(1.5):
                return f"{label} needs --depth-scale {known:g}"
    return "--depth-scale is raw units per metre (1000: millimetre PNG, the default; 5000: TUM; 1: float metres)"


def depth_scale_in_use(data, dataset, depth_scale: float | None) -> tuple[float | None, bool]:
    """``(raw units per metre, settable)``: settable for generic RGB-D pairs opened from a path; the
    scale is None where it depends on each file (float ``.npy`` depth read with the default)."""
    from ..data import RGBDDataset

    if not isinstance(data, (str, os.PathLike)) or not isinstance(dataset, RGBDDataset):
        return None, False
    if depth_scale is not None:
        return float(depth_scale), True
    has_npy = any(Path(d).suffix.lower() == ".npy" for _, d in dataset.pairs)
    return (None if has_npy else 1000.0), True


def image_medians(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> list[tuple[float, float]]:
    """Per image: ``(median ground truth, median raw prediction)`` over its valid pixels (NaN predictions left out)."""
    out = []
    for b in range(gt.shape[0]):
        m = mask[b]
        out.append(
            (float(np.median(gt[b][m].double().cpu().numpy())), float(np.nanmedian(pred[b][m].double().cpu().numpy())))
        )
    return out
