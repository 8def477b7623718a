"""Training losses: modules called as ``loss(pred, target, mask) -> scalar``.

All tensors are ``(B, 1, H, W)``; ``mask`` is a boolean or {0, 1} tensor of the same shape
marking pixels whose target is valid (ground-truth depth 0 = invalid). Means are taken over
the valid pixels of the whole batch, so an image without valid pixels adds nothing.

`DepthLoss` is the WACV-2019 loss of Hu et al. (depth log-L1 + Sobel gradient + normal terms).
With an all-true mask it equals the reference code's value exactly. With invalid pixels, the
depth term averages over valid pixels, and the gradient and normal terms over pixels whose
whole 3x3 Sobel window is valid (the mask eroded by one pixel; outside the image counts as
valid, since the reference pads prediction and target alike with zeros) so that a jump to an
invalid 0 never produces a fake gradient.

`ScaleInvariantLogLoss` (``loss.kd: silog``) compares log depths, per image, mostly up to scale.

`DistillationLoss` combines a loss to the ground truth and a loss to the teacher's prediction,
naming the student's and the teacher's outputs explicitly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))
SOBEL_Y = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ``mask``; 0 (keeping the graph) when the mask is empty."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def _as_mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    if mask is None:
        return torch.ones_like(like, dtype=torch.bool)
    return mask.bool()


_SOBEL_KERNELS: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}


def sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel derivatives of ``(B, 1, H, W)`` as cross-correlation with zero padding 1 -> ``(dx, dy)``."""
    key = (x.device, x.dtype)
    if key not in _SOBEL_KERNELS:  # made once per device: copying it there on every call would wait for the GPU
        _SOBEL_KERNELS[key] = torch.tensor((SOBEL_X, SOBEL_Y), dtype=x.dtype).unsqueeze(1).to(x.device)  # (2, 1, 3, 3)
    g = F.conv2d(x, _SOBEL_KERNELS[key], padding=1)
    return g[:, :1], g[:, 1:]


def erode(mask: torch.Tensor) -> torch.Tensor:
    """Pixels whose 3x3 neighbourhood is all valid (outside the image counts as valid)."""
    invalid = (~mask.bool()).to(torch.float32)
    return F.max_pool2d(invalid, 3, stride=1, padding=1) == 0


class DepthLoss(nn.Module):
    """Hu et al. (WACV 2019): ``w_d * depth + w_g * gradient + w_n * normal`` (o = pred, d = target).

    * depth    = mean(log(|o - d| + 0.5))
    * gradient = mean(log(|dx(o) - dx(d)| + 0.5)) + mean(log(|dy(o) - dy(d)| + 0.5))
    * normal   = mean(|1 - cos(n_o, n_d)|),  n = (-dx, -dy, 1)

    ``dx``/``dy`` are Sobel filters (`sobel`). Depth in metres.
    """

    def __init__(self, depth: float = 1.0, gradient: float = 1.0, normal: float = 1.0) -> None:
        super().__init__()
        self.w_depth, self.w_gradient, self.w_normal = float(depth), float(gradient), float(normal)

    def terms(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The three unweighted terms as a dict ``{"depth", "gradient", "normal"}``."""
        mask = _as_mask(mask, target)
        target = torch.where(mask, target, torch.zeros_like(target))  # invalid pixels read as 0, as in the data
        depth = _masked_mean(torch.log((pred - target).abs() + 0.5), mask)
        ox, oy = sobel(pred)
        dx, dy = sobel(target)
        inner = erode(mask)
        gradient = _masked_mean(torch.log((ox - dx).abs() + 0.5), inner) + _masked_mean(
            torch.log((oy - dy).abs() + 0.5), inner
        )
        ones = torch.ones_like(pred)
        n_o = torch.cat((-ox, -oy, ones), dim=1)
        n_d = torch.cat((-dx, -dy, ones), dim=1)
        cos = (n_o * n_d).sum(1, keepdim=True) / (n_o.norm(dim=1, keepdim=True) * n_d.norm(dim=1, keepdim=True))
        normal = _masked_mean((1.0 - cos).abs(), inner)
        return {"depth": depth, "gradient": gradient, "normal": normal}

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        t = self.terms(pred, target, mask)
        return self.w_depth * t["depth"] + self.w_gradient * t["gradient"] + self.w_normal * t["normal"]


class L1Loss(nn.Module):
    """``mean(|pred - target|)`` over valid pixels, metres."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return _masked_mean((pred - target).abs(), _as_mask(mask, target))


def positive_depth(pred: torch.Tensor, min_depth: float) -> torch.Tensor:
    """``softplus(pred, beta=10) + min_depth``: a student's metres made positive for a log or an inverse.

    Softplus instead of a clamp keeps a gradient where an untrained student predicts <= 0; it is the
    identity to within 1e-4 m above 1 m.
    """
    return F.softplus(pred, beta=10.0) + min_depth


def align_scale_shift(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image, the least-squares ``s * pred + t`` closest to ``target`` over ``mask`` (MiDaS, eq. 4).

    ``(B, 1, H, W)`` in, same shape out. Images with fewer than two valid pixels, or a constant
    prediction, get ``s = 1, t = 0``.
    """
    m = mask.to(pred.dtype)
    n = m.sum((1, 2, 3))
    a00 = (m * pred * pred).sum((1, 2, 3))
    a01 = (m * pred).sum((1, 2, 3))
    b0 = (m * pred * target).sum((1, 2, 3))
    b1 = (m * target).sum((1, 2, 3))
    det = a00 * n - a01 * a01
    ok = (det.abs() > 1e-12) & (n >= 2)
    safe = torch.where(ok, det, torch.ones_like(det))
    s = torch.where(ok, (n * b0 - a01 * b1) / safe, torch.ones_like(det))
    t = torch.where(ok, (a00 * b1 - a01 * b0) / safe, torch.zeros_like(det))
    return s.view(-1, 1, 1, 1) * pred + t.view(-1, 1, 1, 1)


class ScaleShiftInvariantLoss(nn.Module):
    """MiDaS-style loss for relative-depth targets: ``mean(|align(pred) - norm(target)|)`` over valid pixels.

    ``space="disparity"`` compares ``1 / (softplus(pred) + min_depth)`` (pred in metres) with a
    target given as relative inverse depth (most relative-depth teachers, e.g. Depth Anything);
    ``space="depth"`` compares depths directly. Per image, the target is normalised to median 0
    and mean absolute deviation 1 (`normalise_median_mad`), so the loss does not depend on the
    teacher's arbitrary scale, and the prediction is aligned to it by least squares
    (`align_scale_shift`).
    """

    def __init__(self, space: str = "disparity", min_depth: float = 1e-3) -> None:
        super().__init__()
        if space not in ("depth", "disparity"):
            raise ValueError(f"space should be 'depth' or 'disparity' instead of {space!r}")
        self.space = space
        self.min_depth = float(min_depth)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = _as_mask(mask, target)
        if self.space == "disparity":
            pred = 1.0 / positive_depth(pred, self.min_depth)
        target = normalise_median_mad(target, mask)
        aligned = align_scale_shift(pred, target, mask)
        return _masked_mean((aligned - target).abs(), mask)


class ScaleInvariantLogLoss(nn.Module):
    """Eigen et al. (2014), as BTS trains with it: ``alpha * sqrt(mean(g^2) - lam * mean(g)^2)`` per image,
    averaged over the batch, where ``g = log(pred) - log(target)`` on valid pixels.

    ``lam = 1`` ignores each image's scale entirely, ``lam = 0`` is a plain log-RMSE; BTS's 0.85 learns
    the layout mostly and the scale a little. The error is a log ratio, as δ1 measures it, so near
    and far pixels count alike (an L1 in metres lets far pixels dominate). ``pred`` in metres goes
    through ``softplus(pred, beta=10) + min_depth`` (the identity to within 1e-4 m above 1 m), so an
    untrained student's values <= 0 still get a gradient. ``edges``: add `DepthLoss`'s gradient and
    normal terms (weights ``gradient``, ``normal``), on depth edges and surface orientation.
    """

    def __init__(
        self,
        lam: float = 0.85,
        alpha: float = 10.0,
        min_depth: float = 1e-3,
        edges: bool = True,
        gradient: float = 1.0,
        normal: float = 1.0,
    ) -> None:
        super().__init__()
        self.lam, self.alpha, self.min_depth = float(lam), float(alpha), float(min_depth)
        self.edges = DepthLoss(0.0, gradient, normal) if edges else None

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = _as_mask(mask, target) & (target > 0)
        m = mask.to(pred.dtype)
        g = torch.log(positive_depth(pred, self.min_depth)) - torch.log(target.clamp(min=self.min_depth))
        g = g * m
        n = m.sum((1, 2, 3))
        mean = g.sum((1, 2, 3)) / n.clamp(min=1.0)
        mean_sq = (g * g).sum((1, 2, 3)) / n.clamp(min=1.0)
        per_image = self.alpha * (mean_sq - self.lam * mean * mean).clamp(min=1e-8).sqrt()
        has_pixels = (n > 0).to(pred.dtype)
        loss = (per_image * has_pixels).sum() / has_pixels.sum().clamp(min=1.0)
        if self.edges is not None:
            loss = loss + self.edges(pred, target, mask)
        return loss


def normalise_median_mad(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per image, ``(x - median) / mean|x - median|`` over ``mask`` (MiDaS): a scale-free target.

    Images without valid pixels become 0. Computed without reading values back to the host.
    """
    mask = mask.bool()
    med = x.masked_fill(~mask, float("nan")).flatten(1).nanmedian(dim=1).values.view(-1, 1, 1, 1)
    med = torch.nan_to_num(med, nan=0.0)
    m = mask.to(x.dtype)
    mad = ((x - med).abs() * m).sum((1, 2, 3), keepdim=True) / m.sum((1, 2, 3), keepdim=True).clamp(min=1.0)
    out = (x - med) / mad.clamp(min=eps)
    return torch.where(m.sum((1, 2, 3), keepdim=True) > 0, out, torch.zeros_like(out))


def kd_loss(
    name: str, depth: float = 1.0, gradient: float = 1.0, normal: float = 1.0, teacher_output: str = "depth"
) -> nn.Module:
    """The loss to a teacher's prediction by name: ``hu2019`` | ``silog`` | ``l1`` | ``ssi``.

    ``teacher_output`` (``depth`` or ``disparity``) sets the space of the ``ssi`` loss.
    """
    if name == "hu2019":
        return DepthLoss(depth, gradient, normal)
    if name == "silog":
        return ScaleInvariantLogLoss(gradient=gradient, normal=normal)
    if name == "l1":
        return L1Loss()
    if name == "ssi":
        return ScaleShiftInvariantLoss(space=teacher_output)
    raise ValueError(f"unknown distillation loss {name!r}; known: hu2019, silog, l1, ssi")


class DistillationLoss(nn.Module):
    """``gt_weight * gt_loss(student, gt) + teacher_weight * kd_loss(student, teacher)``.

    Either target may be left out (None: no labels in the batch, or no teacher); its term is then 0.
    ``forward`` returns ``(total, parts)`` with ``parts = {"gt": ..., "teacher": ...}``: detached
    0-d tensors on the student's device, so that a training step never waits for the device.
    """

    def __init__(
        self, gt_loss: nn.Module, kd_loss: nn.Module | None = None, gt_weight: float = 1.0, teacher_weight: float = 1.0
    ) -> None:
        super().__init__()
        self.gt_loss = gt_loss
        self.kd_loss = kd_loss
        self.gt_weight = float(gt_weight)
        self.teacher_weight = float(teacher_weight)

    def forward(
        self,
        student: torch.Tensor,
        gt: torch.Tensor | None = None,
        gt_mask: torch.Tensor | None = None,
        teacher: torch.Tensor | None = None,
        teacher_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total = student.sum() * 0.0
        parts: dict[str, torch.Tensor] = {}
        if gt is not None and self.gt_weight != 0:
            value = self.gt_loss(student, gt, gt_mask)
            total = total + self.gt_weight * value
            parts["gt"] = value.detach()
        if teacher is not None and self.kd_loss is not None and self.teacher_weight != 0:
            value = self.kd_loss(student, teacher.detach(), teacher_mask)
            total = total + self.teacher_weight * value
            parts["teacher"] = value.detach()
        return total, parts
