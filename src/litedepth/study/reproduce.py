"""Reproduce the paper's study: every configuration of its table, trained, evaluated and plotted.

>>> from litedepth.study.presets import STUDY_PRESETS
>>> from litedepth.study.reproduce import reproduce
>>> reproduce(STUDY_PRESETS["quick"], "runs/quick")      # -> runs/quick/results.json, .md, para_accu.png, samples.png

The configurations and presets are in `litedepth.study.presets`, the baselines in
`litedepth.study.baselines`, the tables and figures in `litedepth.study.report`.
Each run lives in ``OUT/runs/<configuration>/seed<k>/`` (the training run folder of
`litedepth.training.loop.run`, plus ``result.json``); a finished run is skipped on a re-run and a
killed one resumes from its last checkpoint. Progress messages go to the
``litedepth.study.reproduce`` logger.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from ..errors import LitedepthError
from ..outputs import held_locks
from .baselines import baseline_rows
from .presets import RUNS, RunSpec, StudyPreset

logger = logging.getLogger(__name__)


@held_locks()  # the output folder is locked until it returns (`litedepth.outputs.lock_folder`)
def reproduce(
    preset: StudyPreset,
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

    guard = OutputGuard()
    for path, option in ((data_root, "--data-root"), (aux_root, "--aux-root"), (mismatch_root, "--mismatch-root")):
        guard.add_input(path, option)
    out = guard.folder(out, "--out", kind="reproduce", continues=True)
    if runs is not None:
        preset = dataclasses.replace(preset, runs=tuple(runs))
    specs = order_runs(preset.runs)
    if not train and not any(_finished(out, s, seed) for s in specs for seed in preset.seeds):
        raise LitedepthError(
            f"--out {out}: holds no finished run of preset {preset.name!r} to report; run without --report-only first"
        )
    if train:
        write_marker(out, "reproduce")
    sets = prepare_data(preset, out, data_root, aux_root, mismatch_root, generate=train)
    todo = {seed: [s for s in specs if train or _finished(out, s, seed)] for seed in preset.seeds}
    missing = [f"{s.name} seed {seed}" for seed in preset.seeds for s in specs if s not in todo[seed]]
    rows = train_seeds([(preset, seed, todo[seed], sets, out) for seed in preset.seeds], jobs)
    if missing:
        logger.info("not trained (left out): %s", ", ".join(missing))
    if preset.synthetic:
        rows += baseline_rows(preset, sets)
    return write_results(out, preset, sets, rows, missing, data_root)


def _finished(out: Path, spec: RunSpec, seed: int) -> bool:
    return (run_folder(out, spec.name, seed) / "result.json").is_file()


def train_seeds(work: list[tuple], jobs: int = 1) -> list[dict[str, Any]]:
    """The result rows of every seed's configurations (`_train_seed`), ``jobs`` seeds at a time."""
    if jobs > 1 and len(work) > 1:
        from .parallel import map_in_processes

        return [row for seed_rows in map_in_processes(_train_seed, work, jobs) for row in seed_rows]
    return [row for item in work for row in _train_seed(item)]


def _train_seed(work: tuple) -> list[dict[str, Any]]:
    """Every configuration of one seed, in order (teachers first)."""
    preset, seed, specs, sets, out = work
    rows = []
    for i, spec in enumerate(specs, start=1):
        logger.info("[seed %d: %d/%d] %s: %s", seed, i, len(specs), spec.name, spec.description)
        row = train_and_evaluate(spec, seed, preset, sets, out)
        logger.info(
            "        %s seed %d: delta1 %.3f  rmse %.3f  abs_rel %.3f  (%.0f s)",
            spec.name,
            seed,
            row["delta1"],
            row["rmse"],
            row["abs_rel"],
            row["train_seconds"],
        )
        rows.append(row)
    return rows


def write_results(
    out: Path,
    preset: StudyPreset,
    sets: dict[str, str],
    rows: list[dict[str, Any]],
    missing: list[str],
    data_root: str | None = None,
) -> dict[str, Any]:
    """Summarise ``rows`` and write ``results.json``, ``results.md``, ``para_accu.png`` and ``samples.png``; the payload."""
    from ..fileio import atomic_path
    from .report import (
        findings,
        findings_markdown,
        plot_params_vs_accuracy,
        results_markdown,
        summarise,
        write_json,
        write_samples,
    )

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
    header = _results_header(preset, sets, payload["protocol"], data_label, missing)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(results_markdown(summary, header) + "\n## Findings\n\n" + findings_markdown(payload["findings"]))
    plot_params_vs_accuracy(out / "para_accu.png", summary, data_label, include_literature=not preset.synthetic)
    write_samples(out, sets, preset, rows)
    return payload


def _results_header(
    preset: StudyPreset, sets: dict[str, str], protocol: str, data_label: str, missing: list[str]
) -> str:
    """The opening of ``results.md``: the command, the data, the protocol, the seeds and the budgets."""
    return (
        f"# litedepth reproduce --preset {preset.name}\n\nData: {data_label}; X = {sets['X']}, U = {sets['U']}"
        + (f", Um = {sets['Um']}" if "Um" in sets else "")
        + f". Protocol: {protocol} on X's test split; input {preset.input_size[0]}x{preset.input_size[1]};"
        f" seeds {list(preset.seeds)} (mean ± sample std)"
        + (
            f"; training budget in images seen: teachers {preset.teacher_images:,}, students {preset.student_images:,}."
            if preset.teacher_images and preset.student_images
            else f"; {preset.epochs} epochs each."
        )
        + (f"\n\nNot trained, left out of this table: {', '.join(missing)}." if missing else "")
    )


def prepare_data(
    preset: StudyPreset,
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
            logger.info("generating %d synthetic %s-scale %s images for %s ...", n, scale, split, key)
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


def run_config(
    spec: RunSpec, seed: int, preset: StudyPreset, sets: dict[str, str], out: Path, teacher: str | None = None
):
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
    # KD on labeled sets only (N_s_X, N_s_X_U_label) distils on them whatever the preset says
    teach_labeled = preset.teach_labeled or (
        not teacher_run and spec.teacher is not None and all(role == "labeled" for _, role in spec.sources)
    )
    distill = {"teacher": teacher, "cache": preset.teacher_cache, "cache_flip": preset.cache_flip}
    return Config.from_dict(
        run_dict(
            spec,
            seed,
            preset,
            sources,
            out,
            (epochs, steps_per_epoch),
            schedule,
            teach_labeled=teach_labeled,
            **distill,
        ),
        origin=f"{spec.name} (seed {seed})",
    )


def run_dict(
    spec: RunSpec, seed: int, preset, sources: list, out: Path, length: tuple, schedule: dict, train=None, **distill
) -> dict:
    """The `Config` dict of one run of a preset (synthetic or real): ``length`` is (epochs, steps per epoch),
    ``train`` extra ``train.*`` keys, ``distill`` the ``distill.*`` keys besides the cache folder."""
    arch = preset.archs[spec.network]
    epochs, steps_per_epoch = length
    return {
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
            **(train or {}),
        },
        "distill": {"cache_dir": str(out / "teacher-cache"), **distill},
    }


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


def train_and_evaluate(
    spec: RunSpec, seed: int, preset: StudyPreset, sets: dict[str, str], out: Path
) -> dict[str, Any]:
    """Train one configuration (or reuse its finished result) and score it on X's test set."""
    from ..deploy.flops import count_gflops, count_parameters
    from ..evaluation.loop import evaluate
    from ..hub import load
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
    evaluated = evaluate(model, sets["X"], protocol="hu2021", batch_size=16, progress=False)
    metrics = evaluated.metrics
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
        "nonpositive_pixels": evaluated.nonpositive_pixels,
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


def measure_latency(archs: list[str], size: tuple[int, int]) -> dict[str, float]:
    """Median CPU latency (ms) of each architecture: batch 1, 1 thread, torch eager with BatchNorm folded."""
    from ..deploy.bench import benchmark

    logger.info("timing %s at %dx%d ...", ", ".join(archs), size[0], size[1])
    result = benchmark(archs, backends=("torch-optimised",), size=size, threads=1, runs=10, warmup=2)
    return {row["arch"]: row["latency_ms_median"] for row in result["results"]}
