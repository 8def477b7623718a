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

The loop reads top to bottom (`_run`): a `Trainer` is built (run folder, teacher, network, data,
optimiser; ``last.pt`` when resuming), trains one epoch at a time and finishes the run. Progress
messages go to the ``litedepth.training.loop`` logger (rank 0 only), the progress bar to stderr.
A run that fails (a loss or weights no longer finite, a full disk, a bad image late in an epoch)
stops with one line and stays an unfinished run whose ``last.pt`` is its last good checkpoint
(`litedepth.training.failures`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import Config, save_config
from ..config import validate as validate_config
from ..errors import LitedepthError
from ..outputs import held_locks, write_marker
from ..preprocess import stats_of
from .batchnorm import precise_batchnorm
from .checkpoints import restore, rng_state, save_checkpoint
from .distributed import DistEnv, barrier, setup, teardown
from .epoch_row import epoch_message, epoch_row
from .failures import NonFiniteWatch, RunStopped, check_weights, diverged, stopped_by
from .mixing import EpochSampler, build_training_set, clean_transform, open_parts, shorter_side, teacher_declared
from .optim import build_optimizer, learning_rate
from .run_folder import claim_run_folder, provenance, write_metrics
from .step import Autocast, LiveTeacher, LossTerms, StepSettings, build_objective, train_step

logger = logging.getLogger(__name__)


@held_locks()  # the run folder is locked for the run's life (`litedepth.outputs.lock_folder`)
def run(config: Config, teacher=None, resume: bool = False, overwrite: bool = False) -> Path:
    """Train (or distil, when a teacher is given) as ``config`` says; return the final ``.safetensors``.

    ``teacher``: a path (see `litedepth.training.teachers.load_teacher`), a network or a `Teacher`;
    None uses ``config.distill.teacher``. ``resume``: continue from ``out_dir/last.pt`` when it
    exists (exactly: the result equals an uninterrupted run). The run folder must be new, empty
    or an earlier run: a finished or unfinished run is continued with ``resume`` or started again
    with ``overwrite``, and refused otherwise (`claim_run_folder`).
    """
    validate_config(config)  # a Config built or changed in Python is held to what a YAML file is
    threads = torch.get_num_threads()
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    env = setup(config.train.device)
    try:
        return _run(config, teacher, resume, env, overwrite)
    finally:
        teardown(env)
        torch.set_num_threads(threads)


def _run(cfg: Config, teacher_spec, resume: bool, env: DistEnv, overwrite: bool = False) -> Path:
    trainer = Trainer(cfg, teacher_spec, env, resume, overwrite)  # network, data, optimiser; last.pt when resuming
    try:
        while trainer.state.step < trainer.total_steps:
            trainer.one_epoch()  # train, write the epoch's metrics row, checkpoint when due
        return trainer.finish()  # precise BatchNorm statistics, model.safetensors, the run marked finished
    except RunStopped:
        raise
    except (OSError, LitedepthError) as exc:  # a full disk, a bad image late in an epoch: the run left to --resume
        raise stopped_by(exc, trainer.out, trainer.state.step, trainer.saved_step) from exc


@dataclass
class TrainState:
    """Where a run stands: what a checkpoint stores besides weights, optimiser and RNG states."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # optimiser steps finished in the current epoch
    step: int = 0  # optimiser steps finished in all
    loss_sums: list[float] = field(
        default_factory=lambda: [0.0, 0.0, 0.0]
    )  # this epoch: sum of the step's `LossTerms` x images, in their order (total, gt, teacher)
    images: int = 0  # images seen this epoch (by this process)
    seconds: float = 0.0  # training time this epoch

    def new_epoch(self) -> None:
        self.epoch, self.batch = self.epoch + 1, 0
        self.loss_sums, self.images, self.seconds = [0.0, 0.0, 0.0], 0, 0.0


class Trainer:
    """One run: its network, data, optimiser and `TrainState`, trained epoch by epoch into ``out``.

    Everything that can fail on a bad input (the run folder, the teacher, the sources) is checked
    before anything is written; ``resume`` continues from ``out/last.pt`` where there is one.
    """

    def __init__(self, cfg: Config, teacher_spec, env: DistEnv, resume: bool = False, overwrite: bool = False) -> None:
        from .teachers import load_teacher

        if not cfg.data.sources:
            raise LitedepthError("config: data.sources is empty; add at least one training source")
        self.cfg, self.env = cfg, env
        teacher_spec = teacher_spec if teacher_spec is not None else cfg.distill.teacher
        self.out = claim_run_folder(cfg, teacher_spec, resume, overwrite) if env.is_main else cfg.run_dir()
        self.teacher = (
            load_teacher(teacher_spec, arch=cfg.distill.teacher_arch, device=env.device, **teacher_declared(cfg))
            if teacher_spec is not None
            else None
        )
        self.objective, self.kd_name = build_objective(cfg, self.teacher)
        self.model, self.encoder_init = _create_model(cfg)
        # the last check that can fail on a bad input: nothing is written before it
        parts = open_parts(cfg, self.teacher)
        if env.is_main:
            write_marker(self.out, "run", state="training")
            save_config(cfg, self.out / "config.yaml")
        self.trainset = build_training_set(cfg, self.teacher, env, self.out, student=self.model, parts=parts)
        self._prepare_optimisation()
        self._prepare_data()
        self.ckpt_path = self.out / "last.pt"
        self.state = self._resumed() if resume else TrainState()
        self.saved_step = self.state.step or None  # the step of the last good checkpoint (None: none yet)
        self.watch = NonFiniteWatch(env.device)  # the first step whose loss was not finite
        self.last_saved = time.monotonic()

    def _prepare_optimisation(self) -> None:
        """The model on its device, its optimiser, the step's settings and the network that trains."""
        t, env, model = self.cfg.train, self.env, self.model
        live_teacher = None  # the teacher on augmented views, where no cached target is given
        if self.teacher is not None:
            scales = self.cfg.distill.teacher_scales
            live_teacher = LiveTeacher(self.teacher, stats_of(model), shorter_side(self.cfg), scales=scales)
        memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
        model.to(env.device, memory_format=memory_format)
        self.optimizer = build_optimizer(self.cfg, model.parameters())
        self.settings = StepSettings(
            env.device,
            autocast=Autocast(env.device, t.precision),
            scaler=torch.amp.GradScaler(env.device.type, enabled=t.precision == "fp16"),  # disabled: scales by 1
            accumulate=t.accumulate,
            clip_grad_norm=t.clip_grad_norm,
            memory_format=memory_format,
            live_teacher=live_teacher,
        )
        self.settings.autocast.adapt(model)
        self.net = torch.compile(model) if t.compile else model
        if env.distributed:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.net, device_ids=[env.device.index] if env.device.type == "cuda" else None
            )

    def _prepare_data(self) -> None:
        """The sampler and the loader; the run's length, a fixed number of optimiser steps per epoch."""
        t, env = self.cfg.train, self.env
        workers = self.cfg.data.workers
        self.sampler = EpochSampler(len(self.trainset), t.seed, env.rank, env.world_size)
        self.loader = torch.utils.data.DataLoader(
            self.trainset,
            batch_size=t.batch_size,
            sampler=self.sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers else None,
            pin_memory=env.device.type == "cuda",
        )
        self.steps_per_epoch = math.ceil(len(self.sampler.indices()) / t.batch_size)
        if t.steps_per_epoch is not None:
            self.steps_per_epoch = min(self.steps_per_epoch, t.steps_per_epoch)
        self.total_steps = t.epochs * self.steps_per_epoch
        if t.max_steps is not None:
            if t.max_steps > self.total_steps:
                raise LitedepthError(
                    f"config: train.max_steps {t.max_steps} is more than the {self.total_steps} steps of "
                    f"train.epochs={t.epochs} (x {self.steps_per_epoch} steps each); raise train.epochs or lower "
                    "train.max_steps"
                )
            self.total_steps = t.max_steps

    def _resumed(self) -> TrainState:
        """The `TrainState` of ``last.pt``, loaded with everything else it holds; a new one where there is none."""
        if not self.ckpt_path.is_file():
            self._log(f"{self.ckpt_path}: no checkpoint yet, starting from scratch")
            return TrainState()
        state = TrainState(
            **restore(self.ckpt_path, self.cfg, self.env, self.model, self.optimizer, self.settings.scaler)
        )
        self._log(f"resuming {self.ckpt_path} at epoch {state.epoch + 1}, step {state.batch}")
        return state

    def _log(self, msg: str) -> None:
        """Log ``msg`` from rank 0 only."""
        if self.env.is_main:
            logger.info(msg)

    def checkpoint(self) -> None:
        """Write ``last.pt`` (rank 0): weights, optimiser, scaler, RNG states, config and `TrainState`.

        Never from weights that are not finite: ``last.pt`` stays the last good checkpoint.
        """
        self.check_finite()
        self.last_saved = time.monotonic()
        if self.env.is_main:
            save_checkpoint(
                self.ckpt_path,
                {
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scaler": self.settings.scaler.state_dict(),
                    "rng": rng_state(),
                    "config": self.cfg.to_dict(),
                    "world_size": self.env.world_size,
                    "state": dataclasses.asdict(self.state),
                },
            )
        self.saved_step = self.state.step

    def check_finite(self, weights: bool = True) -> None:
        """Stop the run (one line) at a loss that was NaN or infinite, or at weights that are."""
        bad_step = self.watch.first_step(self.env)
        if bad_step:
            raise diverged(self.cfg, self.out, bad_step, self.saved_step)
        if weights:
            check_weights(self.model, self.cfg, self.out, self.state.step, self.saved_step)

    def one_epoch(self) -> None:
        """Train the current epoch (the rest of it, when resumed), write its metrics row, checkpoint when due."""
        self._train_epoch()
        row = epoch_row(self.cfg, self.env, self.state, self.optimizer, self.model)
        self.state.new_epoch()
        if self.env.is_main:
            write_metrics(self.out / "metrics.jsonl", row)
            logger.info(epoch_message(row))
        due = time.monotonic() - self.last_saved >= self.cfg.train.checkpoint_seconds
        if self.state.step >= self.total_steps or due:
            self.checkpoint()
        barrier(self.env)

    def _train_epoch(self) -> None:
        """The optimiser steps of the current epoch (from ``state.batch``), with a mid-epoch checkpoint when due."""
        t, state = self.cfg.train, self.state
        steps = min(self.steps_per_epoch, self.total_steps - state.epoch * self.steps_per_epoch)
        self.sampler.set_epoch(state.epoch, state.batch * t.batch_size, steps * t.batch_size)
        self.net.train()
        # the `LossTerms` x images, in their order, on the device: read back every log_every steps only
        sums = torch.tensor(state.loss_sums, dtype=torch.float64, device=self.env.device)
        bar = self._progress_bar(steps)
        t0 = time.perf_counter()
        for batch in self.loader:
            n = len(batch["teach"])
            terms = torch.stack(self._step(batch))
            sums += terms.double() * n
            state.images += n
            state.batch += 1
            state.step += 1
            self.watch.update(terms, state.step)
            bar.update(1)
            if state.batch % t.log_every == 0 or state.batch == steps:
                self.check_finite(weights=False)  # the loss is read here anyway
                seconds = state.seconds + time.perf_counter() - t0
                loss = LossTerms(*sums).total.item() / state.images
                bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{state.images / max(seconds, 1e-9):.1f}")
            if t.checkpoint_every and state.step % t.checkpoint_every == 0 and state.batch < steps:
                state.loss_sums, state.seconds = sums.tolist(), state.seconds + time.perf_counter() - t0
                self.checkpoint()
                t0 = time.perf_counter()
        state.loss_sums = sums.tolist()  # waits for the device: the epoch's time includes its last step
        state.seconds += time.perf_counter() - t0
        bar.close()

    def _progress_bar(self, steps: int):
        from tqdm import tqdm

        epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        return tqdm(
            total=steps,
            initial=self.state.batch,
            desc=f"epoch {self.state.epoch + 1}/{epochs}",
            unit="step",
            disable=not (self.cfg.train.progress and self.env.is_main),
            file=sys.stderr,
            leave=False,
        )

    def _step(self, batch: dict) -> LossTerms:
        """One optimiser step at the scheduled learning rate: its `LossTerms`, unread."""
        lr = learning_rate(self.cfg, self.state.step, self.total_steps, self.state.epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = self.trainset.prepare(batch, self.env.device)
        return train_step(self.net, self.optimizer, self.objective, batch, self.settings)

    def finish(self) -> Path:
        """Rank 0: precise BatchNorm statistics, then ``model.safetensors`` with the run's provenance."""
        from ..checkpoint import save_model

        cfg, t, final = self.cfg, self.cfg.train, self.out / "model.safetensors"
        self.check_finite()
        if self.env.is_main:
            if t.precise_bn_images:
                precise_batchnorm(
                    self.model,
                    self.trainset,
                    clean_transform(cfg, *stats_of(self.model)),
                    t.precise_bn_images,
                    seed=t.seed,
                    batch_size=t.batch_size,
                    workers=cfg.data.workers,
                    device=self.env.device,
                )
            check_weights(self.model, cfg, self.out, self.state.step, self.saved_step)  # BatchNorm statistics too
            save_model(self.model, final, training=provenance(cfg, self.teacher, self.kd_name, self.encoder_init))
            write_marker(self.out, "run", state="finished")
        barrier(self.env)
        return final


def _create_model(cfg: Config) -> tuple[torch.nn.Module, str]:
    """The network, initialised from ``train.seed`` (and its encoder's weights), and how its encoder began."""
    from ..checkpoint import load_encoder_weights
    from ..models import create_model

    torch.manual_seed(cfg.train.seed)
    model = create_model(cfg.model.arch, input_size=tuple(cfg.model.input_size))
    encoder_init = "scratch"
    if cfg.model.encoder_weights:
        encoder_init = f"imagenet:{load_encoder_weights(model, cfg.model.encoder_weights).name}"
    model.camera = cfg.model.camera  # an `Intrinsics`, recorded in model.safetensors
    return model, encoder_init
