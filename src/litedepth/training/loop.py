"""Supervised training and knowledge distillation, as one function: `run`.

>>> from litedepth.config import load_config
>>> from litedepth.training.loop import run
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

import contextlib
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ..camera import Intrinsics
from ..config import Config, save_config
from ..errors import LitedepthError
from ..fileio import atomic_path
from ..outputs import write_marker
from ..preprocess import renormalise, stats_of
from .distributed import DistEnv, all_sum, barrier, setup, teardown
from .losses import DepthLoss, DistillationLoss, kd_loss
from .mixing import EpochSampler, Part, TrainingSet, build_transform, clean_transform, open_source, shorter_side
from .optim import (
    build_optimizer,
    config_differences,
    learning_rate,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def run(config: Config, teacher=None, resume: bool = False, overwrite: bool = False) -> Path:
    """Train (or distil, when a teacher is given) as ``config`` says; return the final ``.safetensors``.

    ``teacher``: a path (see `litedepth.training.teachers.load_teacher`), a network or a `Teacher`;
    None uses ``config.distill.teacher``. ``resume``: continue from ``out_dir/last.pt`` when it
    exists (exactly: the result equals an uninterrupted run). The run folder must be new, empty
    or an earlier run: a finished or unfinished run is continued with ``resume`` or started again
    with ``overwrite``, and refused otherwise (`claim_run_folder`).
    """
    threads = torch.get_num_threads()
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    env = setup(config.train.device)
    try:
        return _run(config, teacher, resume, env, overwrite)
    finally:
        teardown(env)
        torch.set_num_threads(threads)


def _say(env: DistEnv, msg: str) -> None:
    if env.is_main:
        print(msg, file=sys.stderr)


@dataclass
class TrainState:
    """Where a run stands: what a checkpoint stores besides weights, optimiser and RNG states."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # optimiser steps finished in the current epoch
    step: int = 0  # optimiser steps finished in all
    loss_sums: list[float] = field(
        default_factory=lambda: [0.0, 0.0, 0.0]
    )  # this epoch: sum of (loss, gt term, teacher term) x images
    images: int = 0  # images seen this epoch (by this process)
    seconds: float = 0.0  # training time this epoch

    def new_epoch(self) -> None:
        self.epoch, self.batch = self.epoch + 1, 0
        self.loss_sums, self.images, self.seconds = [0.0, 0.0, 0.0], 0, 0.0


def claim_run_folder(cfg: Config, teacher_spec, resume: bool, overwrite: bool) -> Path:
    """The run folder, or a one-line refusal (`litedepth.outputs.OutputGuard`) before any work.

    Inputs of the run (data sources, teachers, an encoder weights file) are never written into; a
    finished or unfinished run is continued only with ``resume`` and replaced only with ``overwrite``.
    """
    from ..outputs import OutputGuard, folder_kind

    out = cfg.run_dir()
    guard = OutputGuard(overwrite)
    for i, src in enumerate(cfg.data.sources):
        guard.add_input(src.path, f"data.sources.{i}")
    for spec in teacher_spec if isinstance(teacher_spec, (list, tuple)) else [teacher_spec]:
        if isinstance(spec, (str, Path)):
            guard.add_input(spec, "the teacher")
    if cfg.model.encoder_weights and cfg.model.encoder_weights != "imagenet":
        guard.add_input(cfg.model.encoder_weights, "model.encoder_weights")
    kind = folder_kind(out) if out.is_dir() else None
    if kind is not None and kind.get("kind") == "run" and not (resume or overwrite):
        if kind.get("state") == "finished":
            raise LitedepthError(
                f"train.out_dir {out}: finished: use --resume to continue or another --out "
                "(--set train.out_dir=...), or --overwrite to train it again"
            )
        raise LitedepthError(
            f"train.out_dir {out}: holds an unfinished run: use --resume to continue it, "
            "--overwrite to start again, or another --out (--set train.out_dir=...)"
        )
    return guard.folder(out, "train.out_dir", kind="run", continues=True)


def _run(cfg: Config, teacher_spec, resume: bool, env: DistEnv, overwrite: bool = False) -> Path:
    from tqdm import tqdm

    from ..checkpoint import load_encoder_weights, save_model
    from ..models import create_model
    from .teachers import load_teacher

    t = cfg.train
    if not cfg.data.sources:
        raise LitedepthError("config: data.sources is empty; add at least one training source")
    teacher_spec = teacher_spec if teacher_spec is not None else cfg.distill.teacher
    out = claim_run_folder(cfg, teacher_spec, resume, overwrite) if env.is_main else cfg.run_dir()
    teacher = (
        load_teacher(teacher_spec, arch=cfg.distill.teacher_arch, device=env.device)
        if teacher_spec is not None
        else None
    )
    objective, kd_name = build_objective(cfg, teacher)

    # the network, its training data, its optimiser and the mixed-precision context
    torch.manual_seed(t.seed)
    model = create_model(cfg.model.arch, input_size=tuple(cfg.model.input_size))
    encoder_init = "scratch"
    if cfg.model.encoder_weights:
        encoder_init = f"imagenet:{load_encoder_weights(model, cfg.model.encoder_weights).name}"
    model.camera = Intrinsics(**dataclasses.asdict(cfg.model.camera))  # recorded in model.safetensors
    parts = open_parts(cfg, teacher)  # the last check that can fail on a bad input: nothing is written before it
    if env.is_main:
        write_marker(out, "run", state="training")
        save_config(cfg, out / "config.yaml")
    trainset = build_training_set(cfg, teacher, env, out, student=model, parts=parts)
    teacher_input = None
    if teacher is not None and stats_of(teacher) != stats_of(model):  # a live teacher sees its own normalisation
        teacher_input = partial(renormalise, from_stats=stats_of(model), to_stats=stats_of(teacher))
    memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
    model.to(env.device, memory_format=memory_format)
    optimizer = build_optimizer(cfg, model.parameters())
    scaler = torch.amp.GradScaler(env.device.type, enabled=t.precision == "fp16")
    autocast = Autocast(env.device, t.precision)
    net = torch.compile(model) if t.compile else model
    if env.distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[env.device.index] if env.device.type == "cuda" else None
        )

    # the data: a fixed number of optimiser steps per epoch
    sampler = EpochSampler(len(trainset), t.seed, env.rank, env.world_size)
    loader = torch.utils.data.DataLoader(
        trainset,
        batch_size=t.batch_size,
        sampler=sampler,
        num_workers=cfg.data.workers,
        persistent_workers=cfg.data.workers > 0,
        prefetch_factor=4 if cfg.data.workers else None,
        pin_memory=env.device.type == "cuda",
    )
    steps_per_epoch = math.ceil(len(sampler.indices()) / t.batch_size)
    if t.steps_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, t.steps_per_epoch)
    total_steps = t.epochs * steps_per_epoch
    if t.max_steps is not None:
        if t.max_steps > total_steps:
            raise LitedepthError(
                f"config: train.max_steps {t.max_steps} is more than the {total_steps} steps of train.epochs={t.epochs} "
                f"(x {steps_per_epoch} steps each); raise train.epochs or lower train.max_steps"
            )
        total_steps = t.max_steps

    state = TrainState()
    ckpt_path = out / "last.pt"
    if resume and ckpt_path.is_file():
        state = _restore(ckpt_path, cfg, env, model, optimizer, scaler)
        _say(env, f"resuming {ckpt_path} at epoch {state.epoch + 1}, step {state.batch}")
    elif resume:
        _say(env, f"{ckpt_path}: no checkpoint yet, starting from scratch")

    last_saved = time.monotonic()

    def checkpoint() -> None:
        nonlocal last_saved
        last_saved = time.monotonic()
        if env.is_main:
            save_checkpoint(
                ckpt_path,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng": rng_state(),
                    "config": cfg.to_dict(),
                    "world_size": env.world_size,
                    "state": dataclasses.asdict(state),
                },
            )

    while state.step < total_steps:
        epoch = state.epoch
        steps = min(steps_per_epoch, total_steps - epoch * steps_per_epoch)
        sampler.set_epoch(epoch, state.batch * t.batch_size, steps * t.batch_size)
        net.train()
        sums = torch.tensor(
            state.loss_sums, dtype=torch.float64, device=env.device
        )  # read back every log_every steps only
        bar = tqdm(
            total=steps,
            initial=state.batch,
            desc=f"epoch {epoch + 1}/{math.ceil(total_steps / steps_per_epoch)}",
            unit="step",
            disable=not (t.progress and env.is_main),
            file=sys.stderr,
            leave=False,
        )
        t0 = time.perf_counter()
        for batch in loader:
            lr = learning_rate(cfg, state.step, total_steps, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            terms = train_step(
                net,
                optimizer,
                objective,
                batch,
                teacher,
                env.device,
                autocast=autocast,
                scaler=scaler,
                accumulate=t.accumulate,
                clip_grad_norm=t.clip_grad_norm,
                memory_format=memory_format,
                teacher_input=teacher_input,
            )
            n = int(batch["image"].shape[0])
            sums += terms.double() * n
            state.images += n
            state.batch += 1
            state.step += 1
            bar.update(1)
            if state.batch % t.log_every == 0 or state.batch == steps:
                bar.set_postfix(
                    loss=f"{sums[0].item() / state.images:.4f}",
                    img_s=f"{state.images / max(state.seconds + time.perf_counter() - t0, 1e-9):.1f}",
                )
            if t.checkpoint_every and state.step % t.checkpoint_every == 0 and state.batch < steps:
                state.loss_sums, state.seconds = sums.tolist(), state.seconds + time.perf_counter() - t0
                checkpoint()
                t0 = time.perf_counter()
        state.loss_sums = sums.tolist()  # waits for the device: the epoch's time includes its last step
        state.seconds += time.perf_counter() - t0
        bar.close()
        row = _epoch_row(cfg, env, state, optimizer, model)
        state.new_epoch()
        if env.is_main:
            _write_metrics(out / "metrics.jsonl", row)
            _say(
                env,
                "epoch {epoch}: loss {loss:.4f}, {images_per_s:.1f} img/s".format(**row)
                + "".join(
                    f", {k} {v:.4f}" for k, v in row.get("val", {}).items() if k in ("rmse", "abs_rel", "delta1")
                ),
            )
        if state.step >= total_steps or time.monotonic() - last_saved >= t.checkpoint_seconds:
            checkpoint()
        barrier(env)

    final = out / "model.safetensors"
    if env.is_main:
        if t.precise_bn_images:
            precise_batchnorm(
                model,
                trainset,
                clean_transform(cfg, *stats_of(model)),
                t.precise_bn_images,
                seed=t.seed,
                batch_size=t.batch_size,
                workers=cfg.data.workers,
                device=env.device,
            )
        save_model(model, final, training=_provenance(cfg, teacher, kd_name, encoder_init))
        write_marker(out, "run", state="finished")
    barrier(env)
    return final


def _restore(path: Path, cfg: Config, env: DistEnv, model, optimizer, scaler) -> TrainState:
    """Load ``path`` into model, optimiser, scaler and RNGs; the run's `TrainState`."""
    ck = load_checkpoint(path)
    diffs = config_differences(ck["config"], cfg.to_dict())
    if diffs:
        raise LitedepthError(
            f"{path}: was written by a different config ({'; '.join(diffs[:3])}); resume with the same config"
        )
    state = TrainState(**ck["state"])
    if state.batch and ck.get("world_size", 1) != env.world_size:
        raise LitedepthError(
            f"{path}: written mid-epoch by {ck.get('world_size', 1)} processes; resume it with as many "
            f"(not {env.world_size})"
        )
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    scaler.load_state_dict(ck["scaler"])
    set_rng_state(ck["rng"])
    return state


class Autocast:
    """The autocast context of ``precision`` on ``device`` (fp32: none)."""

    DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

    def __init__(self, device: torch.device, precision: str = "fp32") -> None:
        self.device_type, self.dtype = torch.device(device).type, self.DTYPES.get(precision)

    def __call__(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


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


def open_parts(cfg: Config, teacher=None) -> list[Part]:
    """The configured sources, opened (and so checked), with the targets each is trained on."""
    parts = []
    for i, src in enumerate(cfg.data.sources):
        use_labels = src.role == "labeled" and src.use_labels
        teach = teacher is not None and (not use_labels or cfg.distill.teach_labeled)
        if not use_labels and teacher is None:
            raise LitedepthError(
                f"data.sources.{i} ({src.path}): used without labels, so it needs a teacher (litedepth distill --teacher ...)"
            )
        parts.append(Part(open_source(src, f"data.sources.{i}"), use_labels, teach, src.path))
    if cfg.data.val:
        from ..data import open_dataset

        try:
            open_dataset(cfg.data.val, split=cfg.data.val_split)
        except LitedepthError as exc:
            reason = str(exc).split("; use --split")[0]
            raise LitedepthError(
                f"data.val: {reason}; write that split (e.g. litedepth synth --split {cfg.data.val_split}) "
                "or --set data.val=null"
            ) from None
    return parts


def build_training_set(
    cfg: Config,
    teacher=None,
    env: DistEnv | None = None,
    out: Path | None = None,
    student=None,
    parts: list[Part] | None = None,
) -> TrainingSet:
    """The configured sources as one `TrainingSet`, with the teacher's cache filled when distilling.

    Images are normalised with the student's statistics (``student.mean``/``student.std``; without
    a ``student``, ImageNet's, those of every shipped architecture), the teacher's cached inputs
    with the teacher's own (`TeacherCache`). Each process of a distributed run fills its share of
    the cache, then all wait for each other.
    """

    env = env or DistEnv()
    out = out or cfg.run_dir()
    parts = parts if parts is not None else open_parts(cfg, teacher)
    cache = None
    if teacher is not None and cfg.distill.cache:
        from .teacher_cache import TeacherCache

        cache = TeacherCache(
            cfg.distill.cache_dir or out / "teacher-cache", teacher, shorter_side(cfg), flip=cfg.distill.cache_flip
        )
        for k, part in enumerate(parts):
            if part.teach:
                ds, idx = part.dataset, range(len(part.dataset))
                if isinstance(ds, torch.utils.data.Subset):
                    ds, idx = ds.dataset, ds.indices
                n = cache.fill(
                    ds,
                    list(idx)[env.rank :: env.world_size],
                    progress=cfg.train.progress and env.is_main,
                    desc=f"teacher cache {k}",
                )
                if n:
                    _say(env, f"teacher cache: {n} predictions for {part.name}")
        barrier(env)
    return TrainingSet(parts, build_transform(cfg, *stats_of(student)), cfg.train.seed, cache)


def train_step(
    net,
    optimizer,
    objective: DistillationLoss,
    batch: dict,
    teacher,
    device,
    autocast: Autocast | None = None,
    scaler: torch.amp.GradScaler | None = None,
    accumulate: int = 1,
    clip_grad_norm: float | None = None,
    memory_format=torch.contiguous_format,
    teacher_input=None,
) -> torch.Tensor:
    """One optimiser step on a collated batch from `TrainingSet`.

    Returns ``(loss, gt term, teacher term)`` as a float32 tensor on ``device``, unread: nothing
    here waits for the device. What depends on the batch's make-up (which samples have labels,
    which need the live teacher) is decided from its CPU tensors. ``accumulate``: the batch runs
    as that many chunks, whose gradients add up to one step. ``teacher_input``: turns the student's
    input into the live teacher's (its normalisation), where the two differ.
    """
    device = torch.device(device)
    autocast = autocast or Autocast(device)
    chunks = [{k: v[i::accumulate] if torch.is_tensor(v) else v for k, v in batch.items()} for i in range(accumulate)]
    terms = torch.zeros(3, device=device)
    optimizer.zero_grad(set_to_none=True)
    for i, chunk in enumerate(chunks):
        sync = contextlib.nullcontext() if i == accumulate - 1 or not hasattr(net, "no_sync") else net.no_sync()
        with sync:
            loss, parts = _forward_loss(net, objective, chunk, teacher, device, autocast, memory_format, teacher_input)
            if scaler is not None and scaler.is_enabled():
                scaler.scale(loss / accumulate).backward()
            else:
                (loss / accumulate).backward()
        zero = torch.zeros((), device=device)
        terms += torch.stack([loss.detach(), parts.get("gt", zero), parts.get("teacher", zero)]) / accumulate
    if scaler is not None and scaler.is_enabled():
        if clip_grad_norm is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(_parameters(optimizer), clip_grad_norm)
        scaler.step(optimizer)
        scaler.update()
    else:
        if clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(_parameters(optimizer), clip_grad_norm)
        optimizer.step()
    return terms


def _forward_loss(
    net,
    objective: DistillationLoss,
    batch: dict,
    teacher,
    device,
    autocast: Autocast,
    memory_format,
    teacher_input=None,
):
    """The student's loss on one (chunk of a) batch: ``(loss, parts)``, computed in fp32."""
    has_depth, teach, cached = (
        batch["has_depth"] > 0,
        batch["teach"] > 0,
        batch["cached"] > 0,
    )  # CPU tensors: free to read
    x = batch["image"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
    depth = batch["depth"].to(device, non_blocking=True)
    target = batch["target"].to(device, non_blocking=True)
    # live targets are valid everywhere, cached ones where the transform kept them
    target_mask = (teach & ~cached).view(-1, 1, 1, 1) | (teach.view(-1, 1, 1, 1) & (batch["target_mask"] > 0.5))
    target_mask = target_mask.to(device, non_blocking=True)
    live = torch.nonzero(teach & ~cached).flatten()
    if teacher is not None and len(live):  # no cache: run the teacher on the augmented images
        live = live.to(device, non_blocking=True)
        with torch.no_grad(), autocast():
            taught = x.index_select(0, live)
            predicted = teacher.predict_tensor(teacher_input(taught) if teacher_input else taught)
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


class CleanImages(torch.utils.data.Dataset):
    """Items ``indices`` of a `TrainingSet` as un-augmented ``(3, H, W)`` images (no depth, no teacher)."""

    def __init__(self, trainset: TrainingSet, transform, indices: list[int]) -> None:
        self.trainset, self.transform, self.indices = trainset, transform, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> torch.Tensor:
        image = self.trainset.raw(*self.trainset.locate(self.indices[i]))["image"]
        return self.transform({"image": image, "_depth_keys": []}, None)["image"]


def precise_batchnorm(
    model,
    trainset: TrainingSet,
    transform,
    images: int,
    seed: int = 0,
    batch_size: int = 16,
    workers: int = 0,
    device="cpu",
) -> int:
    """Replace every BatchNorm's running statistics by their average over ``images`` training images.

    During training they are a moving average over the last few augmented batches, which left the
    output scale of the same network a few percent off, differently for each seed and data order
    (in the study: delta1 0.59 to 0.69 for one configuration, the per-image median-scaled delta1
    within 0.01). Statistics of un-augmented images match what the network sees at inference
    ("precise BN"). The images are a random subset drawn from ``seed`` (all, where there are fewer);
    returns how many were used.
    """
    from torch.optim.swa_utils import update_bn

    n = len(trainset)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).tolist()[: min(images, n)]
    loader = torch.utils.data.DataLoader(
        CleanImages(trainset, transform, sorted(order)), batch_size=batch_size, num_workers=workers
    )
    with torch.no_grad():
        update_bn(loader, model, device=torch.device(device))
    return len(order)


def _parameters(optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _epoch_row(cfg: Config, env: DistEnv, state: TrainState, optimizer, model) -> dict[str, Any]:
    loss, gt, tch, images = all_sum(env, [*state.loss_sums, float(state.images)])
    row: dict[str, Any] = {
        "epoch": state.epoch + 1,
        "step": state.step,
        "loss": loss / max(images, 1),
        "loss_gt": gt / max(images, 1),
        "loss_teacher": tch / max(images, 1),
        "lr": optimizer.param_groups[0]["lr"],
        "images": int(images),
        "time_s": round(state.seconds, 3),
        "images_per_s": images / max(state.seconds, 1e-9),
    }
    if cfg.data.val and env.is_main:
        row["val"] = validate(model, cfg, env.device)
    return row


def validate(model, cfg: Config, device) -> dict[str, float]:
    """Metrics of ``model`` on ``cfg.data.val`` under the paper's protocol (`litedepth.evaluation.loop`)."""
    from ..data import open_dataset
    from ..evaluation.loop import evaluate

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
        "dataset": [
            {"path": s.path, "role": s.role, "use_labels": s.use_labels, "limit": s.limit} for s in cfg.data.sources
        ],
        "teacher": teacher.describe() if teacher is not None else None,
        "kd_loss": kd_name if teacher is not None else None,
        "epochs": cfg.train.epochs,
        "seed": cfg.train.seed,
        "input_size": list(cfg.model.input_size),
        "encoder_init": encoder_init,
    }
