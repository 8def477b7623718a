"""One optimiser step: the objective of a run and the step that lowers it on one batch.

>>> objective, kd_name = build_objective(cfg, teacher)     # DistillationLoss, "l1" (None without a teacher)
>>> settings = StepSettings("cpu", live_teacher=LiveTeacher(teacher), accumulate=2)   # fixed for a run
>>> terms = train_step(net, optimizer, objective, batch, settings)   # LossTerms(total, gt, teacher)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from ..config import Config
from ..errors import LitedepthError
from ..preprocess import IMAGENET, Stats, denormalise
from .losses import DepthLoss, DistillationLoss, kd_loss


class Autocast:
    """The autocast context of ``precision`` on ``device`` (fp32: none).

    ``auto`` is bf16 on a CUDA GPU that supports it and on a CPU with AMX, fp32 elsewhere. On a
    CPU, bf16 runs the depthwise convolutions in fp32 (`Fp32DepthwiseConv2d`, set up by `adapt`):
    oneDNN's bf16 depthwise kernels are slower than its fp32 ones, and with them in bf16
    ``lite0-student`` trained slower than in fp32 (docs/benchmarks.md).
    """

    DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

    def __init__(self, device: torch.device, precision: str = "fp32") -> None:
        self.device_type = torch.device(device).type
        if precision == "auto":
            precision = "bf16" if bf16_pays(self.device_type) else "fp32"
        self.precision, self.dtype = precision, self.DTYPES.get(precision)

    def __call__(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def adapt(self, model: nn.Module) -> nn.Module:
        """``model`` with its depthwise convolutions kept in fp32 where this context is bf16 on a CPU (in place)."""
        if self.device_type == "cpu" and self.dtype is torch.bfloat16:
            for module in model.modules():
                if type(module) is nn.Conv2d and 1 < module.groups == module.in_channels:
                    module.__class__ = Fp32DepthwiseConv2d  # same parameters and state dict, another forward
        return model


def bf16_pays(device_type: str) -> bool:
    """Whether ``precision: auto`` trains in bf16 on this kind of device: GPUs with bf16, CPUs with AMX tiles."""
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        has_amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
        return bool(has_amx and has_amx())
    return False


class Fp32DepthwiseConv2d(nn.Conv2d):
    """A depthwise convolution that stays in fp32 inside CPU autocast: (B, C, H, W) -> (B, C, H', W') fp32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", enabled=False):
            return super().forward(x.float())


class LiveTeacher:
    """The teacher on the student's augmented views (no cache): ``(B, 3, H, W)`` normalised as the student's
    input -> ``(B, 1, H, W)`` targets.

    The one place the student's input becomes plain RGB again (``student_stats``); the teacher
    (`Teacher.depth`) sees each view at its own scale: ``shorter_side`` is the whole images' shorter
    side at the training scale (None: the views' own), ``flip`` and ``scales`` as in `Teacher.depth`.
    """

    def __init__(
        self, teacher, student_stats: Stats = IMAGENET, shorter_side: int | None = None, flip=False, scales=(1.0,)
    ) -> None:
        self.teacher, self.student_stats, self.shorter_side = teacher, student_stats, shorter_side
        self.flip, self.scales = bool(flip), tuple(scales)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rgb = denormalise(x.float(), *self.student_stats).clamp_(0.0, 1.0)
        return self.teacher.depth(rgb, whole_shorter_side=self.shorter_side, flip=self.flip, scales=self.scales)


def build_objective(cfg: Config, teacher=None) -> tuple[DistillationLoss, str | None]:
    """The training loss for ``cfg`` and the name of the loss to the teacher (None without one).

    ``loss.kd: auto`` picks ``ssi`` for relative-depth teachers and ``hu2019`` for metric ones.
    """
    kd_name = None
    if teacher is not None:
        kd_name = cfg.loss.kd
        if kd_name == "auto":
            kd_name = "ssi" if teacher.relative else "hu2019"
        if teacher.relative and kd_name != "ssi":
            raise LitedepthError(
                f"{teacher.source}: this teacher predicts relative depth; use loss.kd=ssi (or auto), not {kd_name!r}"
            )
    gt = DepthLoss(cfg.loss.depth, cfg.loss.gradient, cfg.loss.normal)
    kd = kd_loss(kd_name, cfg.loss.depth, cfg.loss.gradient, cfg.loss.normal, teacher.output) if kd_name else None
    return DistillationLoss(gt, kd, cfg.loss.gt_weight, cfg.loss.teacher_weight), kd_name


class LossTerms(NamedTuple):
    """A step's loss and its two weighted parts (``total = gt + teacher``): float32 scalar tensors, unread."""

    total: torch.Tensor
    gt: torch.Tensor  # the loss to ground truth (zero where no sample has labels)
    teacher: torch.Tensor  # the loss to the teacher's predictions (zero without a teacher)


@dataclass(frozen=True)
class StepSettings:
    """How `train_step` runs, the same for every step of a run (the loop builds it once).

    ``autocast``: the mixed-precision context (None: fp32); ``scaler``: the gradient scaler (None:
    a disabled one, which scales by 1 and steps the optimiser directly); ``accumulate``: the batch
    runs as that many chunks, whose gradients add up to one step; ``clip_grad_norm``: the clip of
    the gradients' global L2 norm (None: none); ``memory_format``: the images' layout;
    ``live_teacher``: how the teacher sees the student's augmented views where no cached target is
    given (None: no teacher).
    """

    device: torch.device | str = "cpu"
    autocast: Autocast | None = None
    scaler: torch.amp.GradScaler | None = None
    accumulate: int = 1
    clip_grad_norm: float | None = None
    memory_format: torch.memory_format = torch.contiguous_format
    live_teacher: LiveTeacher | None = None

    def __post_init__(self) -> None:
        device = torch.device(self.device)
        object.__setattr__(self, "device", device)  # frozen: set once, here
        if self.autocast is None:
            object.__setattr__(self, "autocast", Autocast(device))
        if self.scaler is None:
            object.__setattr__(self, "scaler", torch.amp.GradScaler(device.type, enabled=False))


def train_step(net, optimizer, objective: DistillationLoss, batch: dict, settings: StepSettings) -> LossTerms:
    """One optimiser step on a collated batch from `TrainingSet`, run as ``settings`` say.

    Returns the step's `LossTerms` on ``settings.device``, unread: nothing here waits for the
    device. What depends on the batch's make-up (which samples have labels, which need the live
    teacher) is decided from its CPU tensors.
    """
    device, accumulate, scaler = settings.device, settings.accumulate, settings.scaler
    chunks = [{k: v[i::accumulate] if torch.is_tensor(v) else v for k, v in batch.items()} for i in range(accumulate)]
    sums = torch.zeros(len(LossTerms._fields), device=device)  # in the order of LossTerms
    optimizer.zero_grad(set_to_none=True)
    for i, chunk in enumerate(chunks):
        sync = contextlib.nullcontext() if i == accumulate - 1 or not hasattr(net, "no_sync") else net.no_sync()
        with sync:
            loss, parts = _forward_loss(net, objective, chunk, settings)
            scaler.scale(loss / accumulate).backward()  # a disabled scaler returns its input
        zero = torch.zeros((), device=device)
        sums += torch.stack(LossTerms(loss.detach(), parts.get("gt", zero), parts.get("teacher", zero))) / accumulate
    if settings.clip_grad_norm is not None:
        scaler.unscale_(optimizer)  # a disabled scaler: nothing to unscale
        torch.nn.utils.clip_grad_norm_(_parameters(optimizer), settings.clip_grad_norm)
    scaler.step(optimizer)  # a disabled scaler: optimizer.step()
    scaler.update()
    return LossTerms(*sums.unbind())


def _forward_loss(net, objective: DistillationLoss, batch: dict, settings: StepSettings):
    """The student's loss on one (chunk of a) batch: ``(loss, parts)``, computed in fp32."""
    device, autocast, live_teacher = settings.device, settings.autocast, settings.live_teacher
    has_depth, teach, cached = (
        batch["has_depth"] > 0,
        batch["teach"] > 0,
        batch["cached"] > 0,
    )  # CPU tensors: free to read
    x = batch["image"].to(device, non_blocking=True).contiguous(memory_format=settings.memory_format)
    depth = batch["depth"].to(device, non_blocking=True)
    target = batch["target"].to(device, non_blocking=True)
    # live targets are valid everywhere, cached ones where the transform kept them
    target_mask = (teach & ~cached).view(-1, 1, 1, 1) | (teach.view(-1, 1, 1, 1) & (batch["target_mask"] > 0.5))
    target_mask = target_mask.to(device, non_blocking=True)
    live = torch.nonzero(teach & ~cached).flatten()
    if live_teacher is not None and len(live):  # no cache: run the teacher on the augmented images
        live = live.to(device, non_blocking=True)
        with torch.no_grad(), autocast():
            taught = x.index_select(0, live)
            predicted = live_teacher(taught)
        target = target.index_copy(0, live, predicted.to(target.dtype))
    with autocast():
        pred = net(x)
    gt_mask = has_depth.view(-1, 1, 1, 1).to(device, non_blocking=True) & (depth > 0)
    return objective(
        student=pred.float(),
        gt=depth if bool(has_depth.any()) else None,
        gt_mask=gt_mask,
        teacher=target if bool(teach.any()) else None,
        teacher_mask=target_mask,
    )


def _parameters(optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]
