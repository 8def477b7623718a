"""What a `litedepth.config.Config` must hold beyond its types: known names, counts and numbers in range.

`Config.from_dict` (and so every YAML file and ``--set``) calls `validate`; the training loop calls
it again for a Config changed in Python:

>>> cfg.optim.lr = -1
>>> validate(cfg)    # LitedepthError: config: optim.lr must be a finite number > 0, got -1
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .errors import LitedepthError, did_you_mean

if TYPE_CHECKING:
    from .config import Config, DistillConfig, ModelConfig, SourceConfig

ROLES = ("labeled", "unlabeled")
KINDS = ("auto", "nyu", "rgbd", "images", "mat")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TEACHER_INPUTS = ("rgb255", "rgb01", "imagenet")  # `litedepth.training.teacher_base.INPUTS`
TEACHER_OUTPUTS = ("metric", "relative", "disparity")  # `litedepth.training.teacher_base.OUTPUTS`


def validate(cfg: Config, origin: str = "config") -> None:
    """Check values that the types alone do not (names, ranges); raise one-line `LitedepthError`s."""
    _validate_model(cfg.model, origin)
    _validate_sources(cfg.data.sources, origin)
    choices = {
        "loss.kd": (cfg.loss.kd, ("auto", "hu2019", "silog", "l1", "ssi")),
        "optim.name": (cfg.optim.name, ("adam", "adamw", "sgd")),
        "schedule.kind": (cfg.schedule.kind, ("step", "cosine", "constant")),
        "train.precision": (cfg.train.precision, PRECISIONS),
        "augment.pipeline": (cfg.augment.pipeline, ("tensor", "pil")),
    }
    for name, (value, allowed) in choices.items():
        if value not in allowed:
            raise LitedepthError(
                f"{origin}: {name} {value!r} unknown{did_you_mean(value, allowed)}; known: {', '.join(allowed)}"
            )
    _validate_training(cfg, origin)
    _validate_teacher(cfg.distill, origin)


def _validate_model(model: ModelConfig, origin: str) -> None:
    from .models import ARCHITECTURES

    if model.arch not in ARCHITECTURES:
        raise LitedepthError(
            f"{origin}: model.arch {model.arch!r} unknown{did_you_mean(model.arch, ARCHITECTURES)}; known: {', '.join(ARCHITECTURES)}"
        )
    cam = model.camera
    finite = all(math.isfinite(v) for v in (cam.fx, cam.fy, cam.cx, cam.cy))
    if not (finite and cam.fx > 0 and cam.fy > 0 and cam.width >= 1 and cam.height >= 1):
        raise LitedepthError(
            f"{origin}: model.camera needs finite numbers, positive fx, fy (px) and a width and height of at least 1, got {cam}"
        )
    if min(model.input_size) < 32:
        raise LitedepthError(f"{origin}: model.input_size {list(model.input_size)} is too small (minimum 32)")


def _validate_sources(sources: list[SourceConfig], origin: str) -> None:
    for i, src in enumerate(sources):
        if src.role not in ROLES:
            raise LitedepthError(
                f"{origin}: data.sources.{i}.role {src.role!r} unknown{did_you_mean(src.role, ROLES)}; use labeled or unlabeled"
            )
        if src.kind not in KINDS:
            raise LitedepthError(
                f"{origin}: data.sources.{i}.kind {src.kind!r} unknown{did_you_mean(src.kind, KINDS)}; known: {', '.join(KINDS)}"
            )
        if not src.path:
            raise LitedepthError(f"{origin}: data.sources.{i}.path is empty")
        if not 0 < src.frame_interval < math.inf:
            raise LitedepthError(
                f"{origin}: data.sources.{i}.frame_interval must be a positive number of seconds, got {src.frame_interval}"
            )


def _validate_teacher(d: DistillConfig, origin: str) -> None:
    """Known convention names, a positive scale and multiple, positive multi-scale factors."""
    for key, allowed in (("teacher_input", TEACHER_INPUTS), ("teacher_output", TEACHER_OUTPUTS)):
        value = getattr(d, key)
        if value is not None and value not in allowed:
            raise LitedepthError(
                f"{origin}: distill.{key} {value!r} unknown{did_you_mean(str(value), allowed)}; known: {', '.join(allowed)}"
            )
    for key in ("teacher_shorter_side", "teacher_multiple"):
        value = getattr(d, key)
        if value is not None and value < 1:
            raise LitedepthError(f"{origin}: distill.{key} must be at least 1, got {value}")
    if not d.teacher_scales or not all(math.isfinite(v) and v > 0 for v in d.teacher_scales):
        raise LitedepthError(
            f"{origin}: distill.teacher_scales must be positive numbers, e.g. [1.0], got {d.teacher_scales}"
        )


def _validate_training(cfg: Config, origin: str) -> None:
    """Counts at least 1, one step budget, a batch that splits into ``train.accumulate`` chunks, numbers in range."""
    positive = {
        "train.epochs": cfg.train.epochs,
        "train.batch_size": cfg.train.batch_size,
        "schedule.step_epochs": cfg.schedule.step_epochs,
        "train.accumulate": cfg.train.accumulate,
        "train.log_every": cfg.train.log_every,
        "train.steps_per_epoch": cfg.train.steps_per_epoch,
        "train.max_steps": cfg.train.max_steps,
    }
    for name, value in positive.items():
        if value is not None and value < 1:
            raise LitedepthError(f"{origin}: {name} must be at least 1, got {value}")
    if cfg.train.steps_per_epoch is not None and cfg.train.max_steps is not None:
        raise LitedepthError(
            f"{origin}: give one step budget, train.steps_per_epoch (each epoch) or train.max_steps (in all), not both"
        )
    if cfg.train.batch_size % cfg.train.accumulate:
        raise LitedepthError(
            f"{origin}: train.batch_size {cfg.train.batch_size} does not split into train.accumulate={cfg.train.accumulate} equal chunks"
        )
    for name, value, rule in _number_rules(cfg):
        if value is not None and not (math.isfinite(value) and RULES[rule](value)):
            raise LitedepthError(f"{origin}: {name} must be a finite number {rule}, got {value}")


RULES = {
    "> 0": lambda v: v > 0,
    ">= 0": lambda v: v >= 0,
    "in (0, 1]": lambda v: 0 < v <= 1,
    "in [0, 1]": lambda v: 0 <= v <= 1,
    "in [0, 1)": lambda v: 0 <= v < 1,
}


def _number_rules(cfg: Config) -> list[tuple[str, float | None, str]]:
    """(key, value, rule of `RULES`) of every number with a range; None values (null) are not checked."""
    t, aug = cfg.train, cfg.augment
    rules = [
        ("optim.lr", cfg.optim.lr, "> 0"),
        ("optim.weight_decay", cfg.optim.weight_decay, ">= 0"),
        ("optim.momentum", cfg.optim.momentum, "in [0, 1)"),
        ("schedule.gamma", cfg.schedule.gamma, "in (0, 1]"),
        ("schedule.warmup_steps", cfg.schedule.warmup_steps, ">= 0"),
        ("train.clip_grad_norm", t.clip_grad_norm, "> 0"),
        ("train.checkpoint_every", t.checkpoint_every, ">= 0"),
        ("train.checkpoint_seconds", t.checkpoint_seconds, ">= 0"),
        ("train.precise_bn_images", t.precise_bn_images, ">= 0"),
        ("augment.hflip", aug.hflip, "in [0, 1]"),
    ]
    rules += [(f"augment.{k}", getattr(aug, k), ">= 0") for k in ("rotate", "lighting", "jitter")]
    weights = ("depth", "gradient", "normal", "gt_weight", "teacher_weight")
    rules += [(f"loss.{k}", getattr(cfg.loss, k), ">= 0") for k in weights]
    rules += [(f"data.sources.{i}.depth_scale", s.depth_scale, "> 0") for i, s in enumerate(cfg.data.sources)]
    return rules
