"""Reproduce the paper's study: every configuration of its table, trained, evaluated and plotted.

>>> from litedepth.study.reproduce import PRESETS, reproduce
>>> reproduce(PRESETS["quick"], "runs/quick")      # -> runs/quick/results.json, .md, para_accu.png, samples.png

Names follow the paper: X = original labeled set, U = auxiliary set used unlabeled (the
teacher's predictions are the targets), U' = the same auxiliary set used with its labels.
On synthetic data X is a ``nyu``-scale set, U a ``scannet``-scale one and, in the ``study``
preset, Um a deliberately mismatched ``hall``-scale one.

Each run lives in ``OUT/runs/<configuration>/seed<k>/`` (the training run folder of
`litedepth.training.loop.run`, plus ``result.json``); a finished run is skipped on a re-run and a
killed one resumes from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import LitedepthError
from ..preprocess import IMAGENET


@dataclass(frozen=True)
class RunSpec:
    """One configuration of the paper's table."""

    name: str  # the paper's checkpoint name, e.g. N_s_X_U_unlabel
    network: str  # "teacher" | "student" | "fast"
    sources: tuple[tuple[str, str], ...]  # (data set key, role): role labeled | unlabeled
    teacher: str | None = None  # name of the teacher run it distils from
    description: str = ""


RUNS: dict[str, RunSpec] = {
    spec.name: spec
    for spec in (
        RunSpec("N_t_X", "teacher", (("X", "labeled"),), None, "teacher on X"),
        RunSpec("N_t_X_U_label", "teacher", (("X", "labeled"), ("U", "labeled")), None, "teacher on X + U'"),
        RunSpec("N_s_X_no_KD", "student", (("X", "labeled"),), None, "student on X, no KD"),
        RunSpec(
            "N_s_X_U_label_no_KD", "student", (("X", "labeled"), ("U", "labeled")), None, "student on X + U', no KD"
        ),
        RunSpec("N_s_X", "student", (("X", "labeled"),), "N_t_X", "student, KD on X"),
        RunSpec("N_s_U_unlabel", "student", (("U", "unlabeled"),), "N_t_X", "student, KD on U only"),
        RunSpec("N_s_X_U_unlabel", "student", (("X", "labeled"), ("U", "unlabeled")), "N_t_X", "student, KD on X + U"),
        RunSpec(
            "N_s_X_U_label", "student", (("X", "labeled"), ("U", "labeled")), "N_t_X_U_label", "student, KD on X + U'"
        ),
        RunSpec(
            "N_s_Um_unlabel", "student", (("Um", "unlabeled"),), "N_t_X", "student, KD on mismatched-scale Um only"
        ),
        RunSpec(
            "N_s_X_Um_unlabel",
            "student",
            (("X", "labeled"), ("Um", "unlabeled")),
            "N_t_X",
            "student, KD on X + mismatched Um",
        ),
        RunSpec("F_s_X_no_KD", "fast", (("X", "labeled"),), None, "fast student on X, no KD"),
        RunSpec(
            "F_s_X_U_unlabel", "fast", (("X", "labeled"), ("U", "unlabeled")), "N_t_X", "fast student, KD on X + U"
        ),
        RunSpec(
            "P_s_X_U_unlabel",
            "paper-decoder",
            (("X", "labeled"), ("U", "unlabeled")),
            "N_t_X",
            "student with the paper's decoder, KD on X + U",
        ),
        RunSpec("S_s_X_no_KD", "scratch", (("X", "labeled"),), None, "the paper's student from scratch on X, no KD"),
        RunSpec(
            "S_s_X_U_unlabel",
            "scratch",
            (("X", "labeled"), ("U", "unlabeled")),
            "N_t_X",
            "the paper's student from scratch, KD on X + U",
        ),
    )
}

PAPER_TABLE = (
    "N_t_X",
    "N_t_X_U_label",
    "N_s_X_no_KD",
    "N_s_X_U_label_no_KD",
    "N_s_X",
    "N_s_U_unlabel",
    "N_s_X_U_unlabel",
    "N_s_X_U_label",
)


@dataclass(frozen=True)
class Preset:
    """Everything that sets the size of a study.

    Synthetic presets give every teacher and every student the same training budget in
    images seen (``teacher_images``, ``student_images``: as many epochs as the budget needs, each
    cut to budget / epochs images; cosine schedule), so that configurations differ in their data
    and targets, not in compute. The ``paper`` preset trains for fixed epochs with the WACV-2019 step schedule.
    """

    name: str
    synthetic: bool = True  # generate the data (else --data-root / --aux-root give real sets)
    image_size: tuple[int, int] = (120, 160)  # synthetic images as written (H, W)
    input_size: tuple[int, int] = (96, 128)  # network input (the training crop)
    n_train: int = 600  # images in X
    n_aux: int = 1200  # images in U (and in Um)
    n_test: int = 100  # test images of X's distribution
    views_per_scene: int = (
        1  # X's training images rendered per synthetic room (1: every image a new room); U and Um have one
    )
    aux_preset: str = "scannet"  # synthetic scale of U
    mismatch_preset: str | None = None  # synthetic scale of Um (None: no mismatched runs)
    runs: tuple[str, ...] = PAPER_TABLE
    seeds: tuple[int, ...] = (0,)
    teacher_images: int | None = 4000  # training budget of a teacher in images seen (None: fixed epochs)
    student_images: int | None = 2400  # training budget of a student in images seen (None: fixed epochs)
    epochs: int = 20  # fixed epochs, where the budgets are None
    batch_size: int = 16
    lr: float = 3e-4
    schedule: str = "cosine"  # cosine | step (x0.1 every 5 epochs, the WACV-2019 recipe)
    workers: int = 1  # DataLoader workers
    threads: int | None = None  # torch CPU threads per process (None: torch's default)
    latency_size: tuple[int, int] = (228, 304)  # input size at which each architecture's CPU latency is measured
    archs: dict = field(default_factory=lambda: dict(LITE_ARCHS))
    encoder_weights: str | None = (
        "imagenet"  # encoders that ship ImageNet weights start from them (None: all from scratch)
    )
    kd_loss: str = "l1"  # loss to the teacher (loss.kd)
    teacher_cache: bool = True  # run the teacher once per image (False: live, on every augmented batch)
    teach_labeled: bool = (
        True  # labeled sources also get the loss to the teacher (False: teacher on unlabeled data only)
    )
    cache_flip: bool = False  # average the cached teacher prediction with the mirrored image's
    data_seed: int = 0  # added to the synthetic data's seeds: another draw of the same distributions
    precision: str = "fp32"  # train.precision of every run (bf16 pays on GPUs)
    channels_last: bool = False  # train.channels_last of every run


# Networks of the synthetic presets: ImageNet-initialised EfficientNet-Lite encoders, the
# paper's student from scratch as a reference.
LITE_ARCHS = {
    "teacher": "lite2-teacher",
    "student": "lite0-student",
    "fast": "fast-student",
    "paper-decoder": "lite0-student-paper",
    "scratch": "hu2021-student",
}
PAPER_ARCHS = {
    "teacher": "hu2021-teacher",
    "student": "hu2021-student",
    "fast": "fast-student",
    "paper-decoder": "hu2021-student",
    "scratch": "hu2021-student",
}


PRESETS: dict[str, Preset] = {
    # At most 10 minutes from a fresh clone on a 2-core CPU: a demonstration of the whole pipeline, one seed.
    "quick": Preset(
        "quick",
        image_size=(90, 120),
        input_size=(72, 96),
        n_train=160,
        n_aux=320,
        n_test=48,
        views_per_scene=4,
        aux_preset="nyu",
        teacher_images=2000,
        student_images=1200,
    ),
    # The CPU study: three seeds of every configuration, ImageNet-initialised networks, the paper's student
    # from scratch without and with KD on X + U (S_s: a student far below its teacher, as in the paper) and
    # the parity check of lite0-student's decoder (P_s).
    # X is data-limited as NYU-v2 is (150 rooms, 4 views each); U is new rooms of X's scale (with the
    # scannet preset's hand-held views even U' with its true labels cost the student 0.08-0.12 delta1);
    # Um is the mismatched hall scale. Teachers get 2.7x a student's budget: trained once, offline.
    # KD recipe, chosen by measurement on the earlier study's draw of the data (see the README): L1 to the
    # teacher's depth, the teacher on X and U (ground truth too on X), cached targets from crops of the
    # teacher's input size, no flip averaging; every network ends with precise BatchNorm statistics.
    # data_seed 1: a new draw of every set, as the recipe was chosen on draw 0.
    "study": Preset(
        "study",
        views_per_scene=4,
        aux_preset="nyu",
        mismatch_preset="hall",
        seeds=(0, 1, 2),
        teacher_images=8000,
        student_images=3000,
        data_seed=1,
        runs=PAPER_TABLE + ("N_s_Um_unlabel", "P_s_X_U_unlabel", "S_s_X_no_KD", "S_s_X_U_unlabel"),
    ),
    # The study on one GPU with --jobs 3 (three seeds side by side), sized for about 5 minutes on a 16-core
    # GPU machine from a measured rate: the data pipeline, not the GPU, sets the pace (about 450 images/s
    # per process with 4 workers on an H200 machine, bf16 or fp32 alike), so 3x the study's budgets, not 10x.
    # Batch 64 with the learning rate scaled by sqrt(4); 2 torch threads per process leave the cores to the
    # DataLoader workers. The runs come in the order that decides most findings first.
    "study-gpu": Preset(
        "study-gpu",
        views_per_scene=4,
        aux_preset="nyu",
        mismatch_preset="hall",
        seeds=(0, 1, 2),
        teacher_images=24000,
        student_images=9000,
        batch_size=64,
        lr=6e-4,
        workers=4,
        threads=2,
        precision="bf16",
        data_seed=1,
        runs=(
            "N_s_X_no_KD",
            "N_s_X_U_unlabel",
            "N_s_U_unlabel",
            "N_s_Um_unlabel",
            "N_s_X",
            "N_s_X_U_label_no_KD",
            "N_s_X_U_label",
        ),
    ),
    # Seconds: every step of the pipeline on tiny data (the device check's CPU dry run); its numbers mean nothing.
    "smoke": Preset(
        "smoke",
        image_size=(60, 80),
        input_size=(48, 64),
        n_train=8,
        n_aux=8,
        n_test=4,
        mismatch_preset="hall",
        teacher_images=16,
        student_images=16,
        batch_size=4,
        workers=1,
        threads=1,
        latency_size=(48, 64),
        encoder_weights=None,
        runs=PAPER_TABLE + ("N_s_Um_unlabel",),
    ),
    # The paper's setting on real data, for a GPU machine: NYU-v2 (seed layout) + ScanNet frames.
    "paper": Preset(
        "paper",
        synthetic=False,
        image_size=(480, 640),
        input_size=(228, 304),
        n_train=0,
        n_aux=0,
        n_test=0,
        teacher_images=None,
        student_images=None,
        epochs=20,
        batch_size=8,
        lr=1e-4,
        schedule="step",
        workers=4,
        archs=dict(PAPER_ARCHS),
        encoder_weights=None,
        kd_loss="hu2019",
        teach_labeled=True,
    ),
}


def prepare_data(
    preset: Preset,
    out: Path,
    data_root: str | None = None,
    aux_root: str | None = None,
    mismatch_root: str | None = None,
    generate: bool = True,
) -> dict[str, str]:
    """Paths of the data sets a study needs: X (train + test), U and optionally Um.

    Synthetic presets generate them under ``out/data`` once (a re-run reuses them); with
    ``generate=False`` a set that is missing is an error instead.
    """
    if not preset.synthetic:
        if not data_root or not aux_root:
            raise LitedepthError(
                f"preset {preset.name!r}: give --data-root (NYU-v2, the seed's layout) and --aux-root (auxiliary RGB-D data)"
            )
        for path in (data_root, aux_root) + ((mismatch_root,) if mismatch_root else ()):
            if not Path(path).exists():
                raise LitedepthError(f"{path}: no such data set")
        sets = {"X": data_root, "U": aux_root}
        if mismatch_root:
            sets["Um"] = mismatch_root
        return sets

    from ..synth.dataset import write_dataset

    jobs = [
        ("X", "nyu", "train", preset.n_train, 1, preset.views_per_scene),
        ("X", "nyu", "test", preset.n_test, 2, 1),
        ("U", preset.aux_preset, "train", preset.n_aux, 3, 1),
    ]
    if preset.mismatch_preset:
        jobs.append(("Um", preset.mismatch_preset, "train", preset.n_aux, 4, 1))
    sets = {}
    for key, scale, split, n, seed, views in jobs:
        root = out / "data" / key
        csv = root / "data" / f"nyu2_{split}.csv"
        if not csv.is_file() or sum(1 for _ in csv.open()) != n:
            if not generate:
                raise LitedepthError(
                    f"--out {out}: {csv} is missing or incomplete; run without --report-only to make it"
                )
            print(f"generating {n} synthetic {scale}-scale {split} images for {key} ...", file=sys.stderr)
            write_dataset(
                root,
                n,
                split=split,
                preset=scale,
                seed=seed + preset.data_seed,
                size=preset.image_size,
                views_per_scene=views,
                progress=False,
                workers=max(1, min(os.cpu_count() or 1, n // 100)),
                overwrite=True,
            )  # the study's own folder: an incomplete set is replaced
        sets[key] = str(root)
    return sets


def run_config(spec: RunSpec, seed: int, preset: Preset, sets: dict[str, str], out: Path, teacher: str | None = None):
    """The training `Config` of one configuration and seed."""
    from ..config import Config

    teacher_run = spec.network == "teacher"
    sources = [{"path": sets[key], "role": role, "split": "train"} for key, role in spec.sources]
    budget = preset.teacher_images if teacher_run else preset.student_images
    epochs, steps_per_epoch = preset.epochs, None
    if budget is not None:  # whole epochs where the set is small, the last one cut where it is large
        from ..data import open_dataset

        n_items = sum(len(open_dataset(sets[key], split="train")) for key, _ in spec.sources)
        epochs = math.ceil(budget / n_items)
        steps_per_epoch = math.ceil(budget / (epochs * preset.batch_size))
    schedule = {"kind": "cosine"} if preset.schedule == "cosine" else {"kind": "step", "step_epochs": 5, "gamma": 0.1}
    arch = preset.archs[spec.network]
    # KD on labeled sets only (N_s_X, N_s_X_U_label) distils on them whatever the preset says
    teach_labeled = preset.teach_labeled or (
        not teacher_run and spec.teacher is not None and all(role == "labeled" for _, role in spec.sources)
    )
    return Config.from_dict(
        {
            "name": f"{spec.name}-seed{seed}",
            "model": {
                "arch": arch,
                "input_size": list(preset.input_size),
                "encoder_weights": preset.encoder_weights if ships_imagenet_weights(arch) else None,
            },
            "data": {"sources": sources, "val": None, "workers": preset.workers},
            "optim": {"lr": preset.lr},
            "schedule": schedule,
            "loss": {"kd": preset.kd_loss},
            "train": {
                "epochs": epochs,
                "steps_per_epoch": steps_per_epoch,
                "batch_size": preset.batch_size,
                "threads": preset.threads,
                "precision": preset.precision,
                "channels_last": preset.channels_last,
                "checkpoint_seconds": 60.0,
                "seed": seed,
                "out_dir": str(run_folder(out, spec.name, seed)),
                "progress": False,
            },
            "distill": {
                "teacher": teacher,
                "cache": preset.teacher_cache,
                "cache_dir": str(out / "teacher-cache"),
                "cache_flip": preset.cache_flip,
                "teach_labeled": teach_labeled,
            },
        },
        origin=f"{spec.name} (seed {seed})",
    )


def ships_imagenet_weights(arch: str) -> bool:
    """Whether ``arch``'s encoder has ImageNet weights that install with litedepth (the ``[imagenet]`` extra)."""
    from ..models import create_model

    return getattr(create_model(arch).E, "weights_package", None) is not None


def run_folder(out: Path, name: str, seed: int) -> Path:
    """Where configuration ``name`` of ``seed`` trains: ``OUT/runs/<name>/seed<k>/``."""
    return out / "runs" / name / f"seed{seed}"


def order_runs(names: tuple[str, ...]) -> list[RunSpec]:
    """The runs to do in the order given, each teacher just before the first student that distils from it."""
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise LitedepthError(f"unknown configuration {unknown[0]!r}; known: {', '.join(RUNS)}")
    ordered: list[RunSpec] = []
    for spec in (RUNS[n] for n in names):
        if spec.teacher and RUNS[spec.teacher] not in ordered:
            ordered.append(RUNS[spec.teacher])
        if spec not in ordered:
            ordered.append(spec)
    return ordered


def train_and_evaluate(spec: RunSpec, seed: int, preset: Preset, sets: dict[str, str], out: Path) -> dict[str, Any]:
    """Train one configuration (or reuse its finished result) and score it on X's test set."""
    from ..checkpoint import load
    from ..deploy.flops import count_gflops, count_parameters
    from ..evaluation.loop import evaluate
    from ..training.loop import run
    from .report import write_json

    folder = run_folder(out, spec.name, seed)
    result_path = folder / "result.json"
    teacher = str(run_folder(out, spec.teacher, seed) / "model.safetensors") if spec.teacher else None
    cfg = run_config(spec, seed, preset, sets, out, teacher)
    if result_path.is_file():
        check_same_budget(cfg, folder / "config.yaml")
        return json.loads(result_path.read_text())
    start = time.perf_counter()
    model_path = run(cfg, resume=True)
    seconds = time.perf_counter() - start
    model = load(model_path)
    metrics = evaluate(model, sets["X"], protocol="hu2021", batch_size=16, progress=False).metrics
    result = {
        "name": spec.name,
        "description": spec.description,
        "seed": seed,
        "arch": model.arch,
        "params": count_parameters(model),
        "gflops": count_gflops(model, model.input_size),
        "train_seconds": seconds,
        "model": str(model_path),
        "teacher": spec.teacher,
        "encoder_init": model.metadata["training"].get("encoder_init", "scratch"),
        "trained_on": [f"{k} ({role})" for k, role in spec.sources],
        **{k: float(v) for k, v in metrics.items()},
    }
    write_json(result_path, result)
    return json.loads(result_path.read_text())  # the same row whether trained now or read back


def check_same_budget(cfg, saved_config: Path) -> None:
    """Refuse to read back a finished run trained for another budget (a study's rows must share one)."""
    import yaml

    if not saved_config.is_file():
        return
    saved = yaml.safe_load(saved_config.read_text())["train"]
    asked = {
        "epochs": cfg.train.epochs,
        "steps_per_epoch": cfg.train.steps_per_epoch,
        "batch_size": cfg.train.batch_size,
    }
    if any(saved.get(key) != value for key, value in asked.items()):
        was, now = (
            f"{t['epochs']} epochs of {t['steps_per_epoch']} steps of {t['batch_size']}" for t in (saved, asked)
        )
        raise LitedepthError(
            f"{saved_config.parent}: trained for {was}, this study asks for {now} (another budget): give another --out"
        )


class ConstantDepth(torch.nn.Module):
    """A baseline: the same depth everywhere. ``(B, 3, H, W) -> (B, 1, H, W)`` metres."""

    def __init__(self, value: float, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.value, self.input_size = float(value), tuple(input_size)
        self.mean, self.std = IMAGENET  # the input is ignored; the statistics of every shipped network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_full((x.shape[0], 1, *x.shape[-2:]), self.value)


class RowRamp(ConstantDepth):
    """A baseline: each image row gets the training set's mean depth of that row (a vertical ramp)."""

    def __init__(self, rows: torch.Tensor, input_size: tuple[int, int]) -> None:
        super().__init__(0.0, input_size)
        self.rows = rows  # (H,) metres

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rows.view(1, 1, -1, 1).expand(x.shape[0], 1, -1, x.shape[-1]).to(x.dtype)


def baseline_rows(preset: Preset, sets: dict[str, str], test_data: str | None = None) -> list[dict[str, Any]]:
    """Scores of a constant (X's median training depth) and of a row-wise ramp on X's test set (or ``test_data``).

    A trained network has to beat both by far for the data to be a meaningful benchmark.
    """
    from ..data import open_dataset, test_transform
    from ..evaluation.loop import evaluate

    train = open_dataset(sets["X"], split="train", transform=test_transform(preset.input_size))
    depths = torch.stack([train[i]["depth"][0] for i in range(len(train))])  # (N, H, W)
    valid = depths > 0
    rows = (depths * valid).sum(dim=(0, 2)) / valid.sum(dim=(0, 2)).clamp(min=1)
    result = []
    for name, what, model in (
        ("constant", "median training depth", ConstantDepth(depths[valid].median().item(), preset.input_size)),
        ("row_ramp", "mean training depth of each row", RowRamp(rows, preset.input_size)),
    ):
        metrics = evaluate(model, test_data or sets["X"], protocol="hu2021", batch_size=16, progress=False).metrics
        result.append(
            {
                "name": name,
                "description": f"baseline, no learning: {what}",
                "seed": 0,
                "arch": "baseline",
                "params": 0,
                "gflops": 0.0,
                "train_seconds": 0.0,
                **{k: float(v) for k, v in metrics.items()},
            }
        )
    return result


def reproduce(
    preset: Preset,
    out: str | Path,
    data_root: str | None = None,
    aux_root: str | None = None,
    mismatch_root: str | None = None,
    runs: tuple[str, ...] | None = None,
    train: bool = True,
    jobs: int = 1,
) -> dict[str, Any]:
    """Train and evaluate every configuration of ``preset`` into ``out``; write the tables and figures.

    ``train=False`` trains nothing: the tables and figures hold the finished runs only, and the
    ones missing are listed. ``jobs`` > 1 trains that many seeds at once, each in a process of
    its own (a GPU is used better by a few small runs side by side than by one).
    """
    from ..outputs import OutputGuard, write_marker
    from .report import findings, findings_markdown, plot_params_vs_accuracy, results_markdown, summarise, write_json

    guard = OutputGuard()
    for path, option in ((data_root, "--data-root"), (aux_root, "--aux-root"), (mismatch_root, "--mismatch-root")):
        guard.add_input(path, option)
    out = guard.folder(out, "--out", kind="reproduce", continues=True)
    if runs is not None:
        preset = dataclasses.replace(preset, runs=tuple(runs))
    specs = order_runs(preset.runs)
    if not train and not any(
        (run_folder(out, s.name, seed) / "result.json").is_file() for s in specs for seed in preset.seeds
    ):
        raise LitedepthError(
            f"--out {out}: holds no finished run of preset {preset.name!r} to report; run without --report-only first"
        )
    if train:
        write_marker(out, "reproduce")
    sets = prepare_data(preset, out, data_root, aux_root, mismatch_root, generate=train)
    missing = []
    if not train:
        todo = {
            seed: [s for s in specs if (run_folder(out, s.name, seed) / "result.json").is_file()]
            for seed in preset.seeds
        }
        missing = [f"{s.name} seed {seed}" for seed in preset.seeds for s in specs if s not in todo[seed]]
    else:
        todo = {seed: specs for seed in preset.seeds}
    work = [(preset, seed, todo[seed], sets, out) for seed in preset.seeds]
    if jobs > 1 and len(work) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: safe with CUDA; an executor's processes (unlike a Pool's) may start DataLoader workers
        with ProcessPoolExecutor(min(jobs, len(work)), mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = [row for seed_rows in pool.map(_train_seed, work) for row in seed_rows]
    else:
        rows = [row for item in work for row in _train_seed(item)]
    if missing:
        print(f"not trained (left out): {', '.join(missing)}", file=sys.stderr)
    if preset.synthetic:
        rows += baseline_rows(preset, sets)
    summary = summarise(rows)
    latency = measure_latency(sorted({e["arch"] for e in summary if e["params"] > 0}), preset.latency_size)
    for entry in summary:
        entry["latency_ms"] = latency.get(entry["arch"])
    data_label = "synthetic rooms (litedepth synth), not NYU-v2" if preset.synthetic else f"NYU-v2 ({data_root})"
    payload = {
        "preset": dataclasses.asdict(preset),
        "protocol": "hu2021" + (" (scaled to the input size)" if preset.input_size != (228, 304) else ""),
        "data": {k: str(v) for k, v in sets.items()},
        "data_label": data_label,
        "configurations": summary,
        "findings": findings(summary),
        "runs": rows,
        "not_trained": missing,
    }
    write_json(out / "results.json", payload)
    header = (
        f"# litedepth reproduce --preset {preset.name}\n\nData: {data_label}; X = {sets['X']}, U = {sets['U']}"
        + (f", Um = {sets['Um']}" if "Um" in sets else "")
        + f". Protocol: {payload['protocol']} on X's test split; input {preset.input_size[0]}x{preset.input_size[1]};"
        f" seeds {list(preset.seeds)} (mean ± sample std)"
        + (
            f"; training budget in images seen: teachers {preset.teacher_images:,}, students {preset.student_images:,}."
            if preset.teacher_images and preset.student_images
            else f"; {preset.epochs} epochs each."
        )
        + (f"\n\nNot trained, left out of this table: {', '.join(missing)}." if missing else "")
    )
    from ..fileio import atomic_path

    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(results_markdown(summary, header) + "\n## Findings\n\n" + findings_markdown(payload["findings"]))
    plot_params_vs_accuracy(out / "para_accu.png", summary, data_label, include_literature=not preset.synthetic)
    write_samples(out, sets, preset, rows)
    return payload


def _train_seed(work: tuple) -> list[dict[str, Any]]:
    """Every configuration of one seed, in order (teachers first)."""
    preset, seed, specs, sets, out = work
    rows = []
    for i, spec in enumerate(specs, start=1):
        print(f"[seed {seed}: {i}/{len(specs)}] {spec.name}: {spec.description}", file=sys.stderr)
        row = train_and_evaluate(spec, seed, preset, sets, out)
        print(
            f"        {spec.name} seed {seed}: delta1 {row['delta1']:.3f}  rmse {row['rmse']:.3f}  abs_rel {row['abs_rel']:.3f}"
            f"  ({row['train_seconds']:.0f} s)",
            file=sys.stderr,
        )
        rows.append(row)
    return rows


def measure_latency(archs: list[str], size: tuple[int, int]) -> dict[str, float]:
    """Median CPU latency (ms) of each architecture: batch 1, 1 thread, torch eager with BatchNorm folded."""
    from ..deploy.bench import benchmark

    print(f"timing {', '.join(archs)} at {size[0]}x{size[1]} ...", file=sys.stderr)
    result = benchmark(archs, backends=("torch-optimised",), size=size, threads=1, runs=10, warmup=2)
    return {row["arch"]: row["latency_ms_median"] for row in result["results"]}


def write_samples(out: Path, sets: dict[str, str], preset: Preset, rows: list[dict[str, Any]], n: int = 4) -> None:
    """``samples.png``: RGB, ground truth and a few networks' predictions on the first test images."""
    import numpy as np
    import torch

    from ..checkpoint import load
    from ..data import CenterCrop, Compose, ResizeShorter, open_dataset, test_transform
    from ..data.transforms import shorter_side_for
    from .report import plot_samples

    shown = ["N_t_X", "N_s_X_no_KD", "N_s_X_U_unlabel", "F_s_X_U_unlabel"]
    seed = preset.seeds[0]
    models = {r["name"]: r["model"] for r in rows if r["seed"] == seed and r["name"] in shown}
    dataset = open_dataset(sets["X"], split="test", transform=test_transform(preset.input_size))
    raw = open_dataset(sets["X"], split="test")
    crop = Compose([ResizeShorter(shorter_side_for(preset.input_size)), CenterCrop(*preset.input_size)])
    samples = [dataset[i] for i in range(min(n, len(dataset)))]
    columns = {"ground truth": [s["depth"][0].numpy() for s in samples]}
    images = [np.asarray(crop(raw.load(i), np.random.default_rng(0))["image"]) for i in range(len(samples))]
    batch = torch.stack([s["image"] for s in samples])
    for name in shown:
        if name in models:
            with torch.inference_mode():
                columns[name] = [d[0].numpy() for d in load(models[name])(batch)]
    plot_samples(out / "samples.png", images, columns)
