"""Evaluation protocols: how predictions are compared with ground truth (`PROTOCOLS`).

* ``hu2021`` - the authors' ``test.py``: shorter side 240 (RGB bilinear, depth nearest, PIL),
  centre crop 228x304 of image and ground truth, prediction at 228x304, valid = gt > 0, no depth
  cap, no clamping; per-image metrics averaged over images (RMSE too).
* ``eigen`` - the protocol of most later papers (BTS, AdaBins, ZoeDepth): the network sees the whole
  image resized to shorter side 240, its prediction is resized bilinearly to the full ground truth,
  Eigen crop rows 45:471, cols 41:601 (of 480x640), valid gt in (1e-3, 10) m, prediction clamped
  to [1e-3, 10]; per-image metrics averaged.

For networks whose ``input_size`` is not 228x304 the sizes scale with it (shorter side
``round(240 * H / 228)``, crop = input size) and `litedepth.evaluation.loop.evaluate`'s result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import LitedepthError


@dataclass(frozen=True)
class Protocol:
    """How predictions are compared with ground truth.

    Attributes:
        name: preset name.
        description: one line for reports.
        crop_to_input: True: image and gt are resized (shorter side, or more where a portrait or
            small image needs it to hold the crop: `litedepth.preprocess.resize_for_crop`) and
            centre-cropped to the network's input size, and compared there. False: the network sees the whole resized
            image and its prediction is resized to the full-resolution gt.
        eval_crop: (top, bottom, left, right) rows/cols kept, defined for ``eval_crop_reference``
            (H, W) and scaled proportionally for other gt sizes; None: the whole map.
        min_depth, max_depth: valid gt is strictly inside (min_depth, max_depth); None: no bound
            (hu2021 uses min_depth=0, i.e. gt > 0).
        clamp: clamp predictions to [min_depth, max_depth] before the metrics.
    """

    name: str
    description: str
    crop_to_input: bool
    eval_crop: tuple[int, int, int, int] | None = None
    eval_crop_reference: tuple[int, int] = (480, 640)
    min_depth: float = 0.0
    max_depth: float | None = None
    clamp: bool = False


PROTOCOLS: dict[str, Protocol] = {
    "hu2021": Protocol(
        name="hu2021",
        description="Hu et al. 2021 test.py: shorter side 240, centre crop 228x304, gt > 0, no cap, per-image mean",
        crop_to_input=True,
    ),
    "eigen": Protocol(
        name="eigen",
        description="Eigen: whole image, prediction resized to full gt, Eigen crop, gt in (1e-3, 10), clamp [1e-3, 10]",
        crop_to_input=False,
        eval_crop=(45, 471, 41, 601),
        min_depth=1e-3,
        max_depth=10.0,
        clamp=True,
    ),
}


def get_protocol(protocol: str | Protocol) -> Protocol:
    if isinstance(protocol, Protocol):
        return protocol
    if protocol not in PROTOCOLS:
        raise LitedepthError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[protocol]


def scaled_eval_crop(protocol: Protocol, gt_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """``protocol.eval_crop`` for a gt of ``gt_size`` (H, W): scaled from the reference size."""
    if protocol.eval_crop is None:
        return None
    top, bottom, left, right = protocol.eval_crop
    rh, rw = protocol.eval_crop_reference
    h, w = gt_size
    if (h, w) == (rh, rw):
        return protocol.eval_crop
    return round(top * h / rh), round(bottom * h / rh), round(left * w / rw), round(right * w / rw)


def valid_mask(protocol: Protocol, gt: torch.Tensor) -> torch.Tensor:
    """Boolean mask of gt pixels the protocol scores, for gt (B, 1, H, W) metres."""
    mask = gt > protocol.min_depth
    if protocol.max_depth is not None:
        mask &= gt < protocol.max_depth
    crop = scaled_eval_crop(protocol, tuple(gt.shape[-2:]))
    if crop is not None:
        top, bottom, left, right = crop
        region = torch.zeros_like(mask)
        region[..., top:bottom, left:right] = True
        mask &= region
    return mask
