"""Supervised training and knowledge distillation, as one function: `run`.

>>> from litedepth.config import load_config
>>> from litedepth.train import run
>>> cfg = load_config("synth-student-kd", ["data.sources.0.path=synth/", "train.epochs=2"])
>>> run(cfg, teacher="runs/synth-teacher/model.safetensors")     # -> runs/synth-student-kd/model.safetensors

Run folder (``cfg.train.out_dir``)::

    config.yaml          the resolved config (written before training starts)
    last.pt              training checkpoint: model, optimiser, schedule position, RNG states, config
                         (rewritten atomically every epoch and every ``train.checkpoint_every`` steps)
    metrics.jsonl        one JSON row per epoch: loss terms, lr, time, images/s, validation metrics
    model.safetensors    the final network (`litedepth.load` reads it), with training provenance
    teacher-cache/       cached teacher predictions (distillation with ``distill.cache: true``)

Each sample is trained on the targets its source allows: ground truth (labeled sources with
``use_labels``) weighted by ``loss.gt_weight``, and the teacher's prediction (every source when a
teacher is given, labeled ones only with ``distill.teach_labeled``) weighted by
``loss.teacher_weight``. Under ``torchrun`` the batch size is per process and only rank 0 writes.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .config import Config, save_config
from .distributed import DistEnv, all_sum, barrier, setup, teardown
from .data.mixing import EpochSampler, Part, TrainingSet, build_transform, open_source, shorter_side
from .engine import build_optimizer, config_differences, learning_rate, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .errors import LitedepthError
from .fileio import atomic_path
from .losses import DepthLoss, DistillationLoss, kd_loss


def run(config: Config, teacher=None, resume: bool = False) -> Path:
    """Train (or distil, when a teacher is given) as ``config`` says; return the final ``.safetensors``.

    ``teacher``: a path (see `litedepth.teachers.load_teacher`), a network or a `Teacher`;
    None uses ``config.distill.teacher``. ``resume``: continue from ``out_dir/last.pt`` when it
    exists (exactly: the result equals an uninterrupted run).
    """
    threads = torch.get_num_threads()
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    env = setup(config.train.device)
    try:
        return _run(config, teacher, resume, env)
    finally:
        teardown(env)
        torch.set_num_threads(threads)


def _say(env: DistEnv, msg: str) -> None:
    if env.is_main:
        print(msg, file=sys.stderr)


def _run(cfg: Config, teacher_spec, resume: bool, env: DistEnv) -> Path:
    from .checkpoint import load_encoder_weights, save_model
    from .models import create_model
    from .teachers import load_teacher

    out = cfg.run_dir()
    if not cfg.data.sources:
        raise LitedepthError("config: data.sources is empty; add at least one training source")
    teacher_spec = teacher_spec if teacher_spec is not None else cfg.distill.teacher
    teacher = load_teacher(teacher_spec, arch=cfg.distill.teacher_arch, device=env.device) if teacher_spec is not None else None

    objective, kd_name = build_objective(cfg, teacher)
    if env.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
    trainset = build_training_set(cfg, teacher, env, out)

    torch.manual_seed(cfg.train.seed)
    model = create_model(cfg.model.arch, input_size=tuple(cfg.model.input_size))
    encoder_init = "scratch"
    if cfg.model.encoder_weights:
        weights_file = load_encoder_weights(model, cfg.model.encoder_weights)
        encoder_init = f"imagenet:{weights_file.name}"
    model.to(env.device)

    sampler = EpochSampler(len(trainset), cfg.train.seed, env.rank, env.world_size)
    loader = torch.utils.data.DataLoader(trainset, batch_size=cfg.train.batch_size, sampler=sampler,
                                         num_workers=cfg.data.workers, drop_last=False,
                                         pin_memory=env.device.type == "cuda")
    optimizer = build_optimizer(cfg, model.parameters())
    net = model
    if env.distributed:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[env.device.index] if env.device.type == "cuda" else None)

    state: dict[str, Any] = {"epoch": 0, "batch": 0, "global_step": 0, "stats": _zero_stats()}
    ckpt_path = out / "last.pt"
    if resume and ckpt_path.is_file():
        ck = load_checkpoint(ckpt_path)
        diffs = config_differences(ck["config"], cfg.to_dict())
        if diffs:
            raise LitedepthError(f"{ckpt_path}: was written by a different config ({'; '.join(diffs[:3])}); resume with the same config")
        if ck["batch"] and ck.get("world_size", 1) != env.world_size:
            raise LitedepthError(f"{ckpt_path}: written mid-epoch by {ck.get('world_size', 1)} processes; resume it with as many "
                                 f"(not {env.world_size})")
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        set_rng_state(ck["rng"])
        state = {k: ck[k] for k in ("epoch", "batch", "global_step", "stats")}
        _say(env, f"resuming {ckpt_path} at epoch {state['epoch'] + 1}, step {state['batch']}")
    elif resume:
        _say(env, f"{ckpt_path}: no checkpoint yet, starting from scratch")

    def checkpoint() -> None:
        if env.is_main:
            save_checkpoint(ckpt_path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                        "scheduler": {"kind": cfg.schedule.kind, "lr": optimizer.param_groups[0]["lr"]},
                                        "rng": rng_state(), "config": cfg.to_dict(), "world_size": env.world_size, **state})

    from tqdm import tqdm

    for epoch in range(state["epoch"], cfg.train.epochs):
        trainset.set_epoch(epoch)
        per_rank = len(sampler.indices())
        steps = math.ceil(per_rank / cfg.train.batch_size)
        if cfg.train.max_steps is not None:
            steps = min(steps, cfg.train.max_steps)
        start = state["batch"]
        sampler.set_epoch(epoch, start * cfg.train.batch_size)
        net.train()
        t0 = time.perf_counter()
        bar = tqdm(total=steps, initial=start, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", unit="step",
                   disable=not (cfg.train.progress and env.is_main), file=sys.stderr, leave=False)
        stats = state["stats"]
        for b, batch in enumerate(loader, start=start):
            if b >= steps:
                break
            lr = learning_rate(cfg, epoch, b, steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, parts_ = train_step(net, optimizer, objective, batch, teacher, env.device)
            n = int(batch["image"].shape[0])
            stats["loss"] += loss * n
            stats["gt"] += parts_.get("gt", 0.0) * n
            stats["teacher"] += parts_.get("teacher", 0.0) * n
            stats["images"] += n
            state["batch"], state["global_step"] = b + 1, state["global_step"] + 1
            stats["time"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{stats['images'] / max(stats['time'], 1e-9):.1f}")
            if cfg.train.checkpoint_every and state["global_step"] % cfg.train.checkpoint_every == 0 and state["batch"] < steps:
                checkpoint()
        bar.close()
        row = _epoch_row(cfg, env, epoch, state, optimizer, model)
        state.update(epoch=epoch + 1, batch=0, stats=_zero_stats())
        if env.is_main:
            _write_metrics(out / "metrics.jsonl", row)
            _say(env, "epoch {epoch}/{epochs}: loss {loss:.4f}, {images_per_s:.1f} img/s".format(epochs=cfg.train.epochs, **row)
                 + "".join(f", {k} {v:.4f}" for k, v in row.get("val", {}).items() if k in ("rmse", "abs_rel", "delta1")))
        checkpoint()
        barrier(env)

    final = out / "model.safetensors"
    if env.is_main:
        save_model(model, final, training=_provenance(cfg, teacher, kd_name, encoder_init))
    barrier(env)
    return final


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
            raise LitedepthError(f"{teacher.source}: this teacher predicts relative depth; use loss.kd=ssi (or auto), not {kd_name!r}")
    gt = DepthLoss(cfg.loss.depth, cfg.loss.gradient, cfg.loss.normal)
    kd = kd_loss(kd_name, cfg.loss.depth, cfg.loss.gradient, cfg.loss.normal, teacher.output) if kd_name else None
    return DistillationLoss(gt, kd, cfg.loss.gt_weight, cfg.loss.teacher_weight), kd_name


def build_training_set(cfg: Config, teacher=None, env: DistEnv | None = None, out: Path | None = None) -> TrainingSet:
    """The configured sources as one `TrainingSet`, with the teacher's cache filled when distilling.

    Each process of a distributed run fills its share of the cache, then all wait for each other.
    """
    from .models.depthnet import IMAGENET_MEAN, IMAGENET_STD

    env = env or DistEnv()
    out = out or cfg.run_dir()
    parts = []
    for i, src in enumerate(cfg.data.sources):
        use_labels = src.role == "labeled" and src.use_labels
        teach = teacher is not None and (not use_labels or cfg.distill.teach_labeled)
        if not use_labels and teacher is None:
            raise LitedepthError(f"data.sources.{i} ({src.path}): used without labels, so it needs a teacher (litedepth distill --teacher ...)")
        parts.append(Part(open_source(src, f"data.sources.{i}"), use_labels, teach, src.path))
    cache = None
    if teacher is not None and cfg.distill.cache:
        from .teacher_cache import TeacherCache

        cache = TeacherCache(cfg.distill.cache_dir or out / "teacher-cache", teacher, shorter_side(cfg), IMAGENET_MEAN, IMAGENET_STD,
                             flip=cfg.distill.cache_flip)
        for k, part in enumerate(parts):
            if part.teach:
                ds, idx = part.dataset, range(len(part.dataset))
                if isinstance(ds, torch.utils.data.Subset):
                    ds, idx = ds.dataset, ds.indices
                n = cache.fill(ds, list(idx)[env.rank::env.world_size], progress=cfg.train.progress and env.is_main,
                               desc=f"teacher cache {k}")
                if n:
                    _say(env, f"teacher cache: {n} predictions for {part.name}")
        barrier(env)
    return TrainingSet(parts, build_transform(cfg, IMAGENET_MEAN, IMAGENET_STD), cfg.train.seed, cache)


def train_step(net, optimizer, objective: DistillationLoss, batch: dict, teacher, device) -> tuple[float, dict[str, float]]:
    """One optimiser step on a collated batch from `TrainingSet`; returns (loss, its parts)."""
    x = batch["image"].to(device, non_blocking=True)
    depth = batch["depth"].to(device)
    has_depth = batch["has_depth"].to(device).view(-1, 1, 1, 1) > 0
    teach = batch["teach"].to(device).view(-1, 1, 1, 1) > 0
    cached = batch["cached"].to(device).view(-1, 1, 1, 1) > 0
    target = batch["target"].to(device)
    target_mask = teach & (~cached | (batch["target_mask"].to(device) > 0.5))
    live = (teach & ~cached).view(-1)
    if teacher is not None and bool(live.any()):  # no cache: run the teacher on the augmented batch
        target = target.clone()
        target[live] = teacher.predict_tensor(x[live]).to(target.dtype)
    pred = net(x)
    loss, parts = objective(student=pred, gt=depth, gt_mask=has_depth & (depth > 0),
                            teacher=target if bool(teach.any()) else None, teacher_mask=target_mask)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach()), parts


def _zero_stats() -> dict[str, float]:
    return {"loss": 0.0, "gt": 0.0, "teacher": 0.0, "images": 0.0, "time": 0.0}


def _epoch_row(cfg: Config, env: DistEnv, epoch: int, state: dict, optimizer, model) -> dict[str, Any]:
    s = state["stats"]
    loss, gt, tch, images = all_sum(env, [s["loss"], s["gt"], s["teacher"], s["images"]])
    seconds = s["time"]
    row: dict[str, Any] = {"epoch": epoch + 1, "step": state["global_step"], "loss": loss / max(images, 1),
                           "loss_gt": gt / max(images, 1), "loss_teacher": tch / max(images, 1),
                           "lr": optimizer.param_groups[0]["lr"], "images": int(images), "time_s": round(seconds, 3),
                           "images_per_s": images / max(seconds, 1e-9)}
    if cfg.data.val and env.is_main:
        row["val"] = validate(model, cfg, env.device)
    return row


def validate(model, cfg: Config, device) -> dict[str, float]:
    """Metrics of ``model`` on ``cfg.data.val`` under the paper's protocol (`litedepth.evaluate`)."""
    from .data import open_dataset
    from .evaluate import evaluate

    data = open_dataset(cfg.data.val, split=cfg.data.val_split)
    if cfg.data.val_limit is not None:
        data = torch.utils.data.Subset(data, range(min(cfg.data.val_limit, len(data))))
    was_training = model.training
    result = evaluate(model, data, protocol="hu2021", device=device, progress=False)
    model.train(was_training)
    return {k: float(v) for k, v in result.metrics.items()}


def _write_metrics(path: Path, row: dict[str, Any]) -> None:
    """Append ``row``, dropping rows of this or later epochs left by a run that was killed and resumed."""
    rows = []
    if path.is_file():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r.get("epoch", 0) < row["epoch"]]
    rows.append(row)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _provenance(cfg: Config, teacher, kd_name: str, encoder_init: str) -> dict[str, Any]:
    return {
        "config": cfg.name,
        "dataset": [{"path": s.path, "role": s.role, "use_labels": s.use_labels, "limit": s.limit} for s in cfg.data.sources],
        "teacher": teacher.describe() if teacher is not None else None,
        "kd_loss": kd_name if teacher is not None else None,
        "epochs": cfg.train.epochs,
        "seed": cfg.train.seed,
        "input_size": list(cfg.model.input_size),
        "encoder_init": encoder_init,
    }
