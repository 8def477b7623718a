"""The ``real`` preset: students for real photographs, distilled from a real teacher on real photos.

>>> from litedepth.study.presets import REAL_PRESETS
>>> reproduce_real(REAL_PRESETS["real"], "runs/real", teacher="fastdepth:nyu", unlabeled="photos/",
...                real_pairs="pairs/")      # -> runs/real/results.json, results.md, real_samples.png

Synthetic rooms are written under ``OUT/data/rooms``; each run of `REAL_RUNS` trains in
``OUT/runs/<name>/seed<k>/`` (``real_no_kd``: the rooms' ground truth only; ``real_kd`` and
``real_kd_fast``: the rooms' ground truth and the teacher's predictions on the real photos, cached
at the teacher's own scale in ``OUT/teacher-cache``). With ``real_pairs`` (a labeled set, e.g. the
NYU test layout) every network, the teacher and the baselines are scored there, under the hu2021
protocol and median-aligned, over all pairs and per source (`pair_groups`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import LitedepthError
from ..outputs import held_locks
from .presets import REAL_RUNS, RealPreset, RunSpec
from .reproduce import check_same_budget, run_dict, run_folder

logger = logging.getLogger(__name__)

DECLARED_KEYS = ("teacher_input", "teacher_output", "teacher_shorter_side", "teacher_multiple")


@held_locks()
def reproduce_real(
    preset: RealPreset,
    out: str | Path,
    teacher: str | None,
    unlabeled: str | None,
    real_pairs: str | None = None,
    declared: dict | None = None,
    pair_groups: str | None = None,
    train: bool = True,
) -> dict[str, Any]:
    """Write the rooms, train every run of ``preset`` (``train``), score them on ``real_pairs``; the payload.

    ``teacher``: a file (``.tflite``, ``.onnx``, ``.safetensors``) or a name (``fastdepth:nyu``);
    ``declared``: its conventions as `litedepth.config.DistillConfig` keys (``teacher_input``, ...).
    ``pair_groups``: the sources of the real pairs by row (`parse_groups`).
    """
    from ..outputs import OutputGuard, write_marker

    declared = {k: v for k, v in (declared or {}).items() if v is not None}
    unknown = sorted(set(declared) - set(DECLARED_KEYS))
    if unknown:
        raise LitedepthError(f"unknown teacher convention {unknown[0]!r}; known: {', '.join(DECLARED_KEYS)}")
    teacher_model = check_inputs(preset, teacher, unlabeled, real_pairs, declared)
    groups = parse_groups(pair_groups)
    guard = OutputGuard()
    guard.add_input(teacher, "--teacher")
    guard.add_input(unlabeled, "--unlabeled")
    guard.add_input(real_pairs, "--real-pairs")
    if real_pairs:
        from ..data.listed import listed_files

        guard.add_listed(listed_files(real_pairs), "--real-pairs")
    out = guard.folder(out, "--out", kind="reproduce", continues=True)
    unknown = [name for name in preset.runs if name not in REAL_RUNS]
    if unknown:
        raise LitedepthError(
            f"--runs: unknown run {unknown[0]!r} of preset {preset.name}; known: {', '.join(REAL_RUNS)}"
        )
    specs = [REAL_RUNS[name] for name in preset.runs]
    if train:
        write_marker(out, "reproduce")
    sets = {"rooms": write_rooms(preset, out, generate=train), "photos": str(unlabeled)}
    rows, missing = [], []
    for seed in preset.seeds:
        for spec in specs:
            if train or (run_folder(out, spec.name, seed) / "result.json").is_file():
                rows.append(train_real(spec, seed, preset, sets, out, teacher, declared))
            else:
                missing.append(f"{spec.name} seed {seed}")
    if not rows:
        raise LitedepthError(f"--out {out}: holds no finished run of preset {preset.name!r}; run without --report-only")
    if missing:
        logger.info("not finished (left out): %s", ", ".join(missing))
    return write_real_results(out, preset, sets, rows, teacher_model, real_pairs, groups, missing)


def check_inputs(
    preset: RealPreset, teacher: str | None, unlabeled: str | None, real_pairs: str | None, declared: dict
):
    """The teacher, opened with its conventions; one-line errors for a missing or bad teacher, a missing photo
    folder and a real-pairs folder that is no labeled set."""
    from ..training.teachers import load_teacher

    if not teacher:
        raise LitedepthError(
            f"--preset {preset.name}: give --teacher FILE_OR_NAME (.tflite, .onnx, .safetensors, fastdepth:nyu)"
        )
    if not unlabeled:
        raise LitedepthError(f"--preset {preset.name}: give --unlabeled DIR (a folder of real photos or videos)")
    if not Path(unlabeled).is_dir():
        raise LitedepthError(f"--unlabeled {unlabeled}: not a folder")
    if real_pairs is not None:
        from ..data import open_dataset

        try:
            pairs = open_dataset(real_pairs, split="test")
        except LitedepthError as exc:
            raise LitedepthError(f"--real-pairs {real_pairs}: not a labeled data set ({exc})") from None
        if len(pairs) == 0:
            raise LitedepthError(f"--real-pairs {real_pairs}: holds no pair")
    return load_teacher(teacher, **teacher_conventions(declared))


def parse_groups(rule: str | None) -> dict[int, str]:
    """``"nyu:0-8,tum:9-11,sun:12"`` -> ``{0: "nyu", ..., 12: "sun"}``: the real pairs' sources by CSV row (from 0).

    Rows the rule leaves out (and every row without a rule) take their group from their file name
    (`group_of_name`).
    """
    groups: dict[int, str] = {}
    for part in (p.strip() for p in (rule or "").split(",") if p.strip()):
        match = re.fullmatch(r"([\w.-]+):(\d+)(?:-(\d+))?", part)
        if not match:
            raise LitedepthError(f"--pair-groups {rule!r}: expected NAME:ROW or NAME:FIRST-LAST, comma separated")
        name, first, last = match.group(1), int(match.group(2)), int(match.group(3) or match.group(2))
        groups.update({row: name for row in range(first, last + 1)})
    return groups


def group_of_name(path: str) -> str:
    """A pair's source from its file name: the part before the first ``_`` unless that is a number
    (``tum_0003_depth.png`` -> ``tum``; ``00003_depth.png`` -> ``all``)."""
    head = Path(path).name.split("_", 1)[0]
    return "all" if head.isdigit() or head == Path(path).name else head


def write_rooms(preset: RealPreset, out: Path, generate: bool = True) -> str:
    """The synthetic rooms under ``out/data/rooms`` (written once; a re-run reuses them)."""
    from ..synth.dataset import write_dataset

    root = out / "data" / "rooms"
    csv = root / "data" / "nyu2_train.csv"
    if csv.is_file() and sum(1 for _ in csv.open()) == preset.n_rooms:
        return str(root)
    if not generate:
        raise LitedepthError(f"--out {out}: {csv} is missing or incomplete; run without --report-only to make it")
    logger.info("generating %d synthetic %s-scale rooms ...", preset.n_rooms, preset.room_scale)
    write_dataset(
        root,
        preset.n_rooms,
        split="train",
        preset=preset.room_scale,
        seed=1 + preset.data_seed,
        size=preset.image_size,
        views_per_scene=preset.views_per_scene,
        progress=False,
        workers=max(1, min(os.cpu_count() or 1, preset.n_rooms // 100)),
        overwrite=True,
    )  # the preset's own folder: an incomplete set is replaced
    return str(root)


def real_config(
    spec: RunSpec, seed: int, preset: RealPreset, sets: dict[str, str], out: Path, teacher: str, declared: dict
):
    """The training `Config` of one run: the rooms labeled, the photos ``photo_repeat`` times unlabeled."""
    from ..config import Config
    from ..data import open_dataset

    sources = []
    for key, role in spec.sources:
        repeat = preset.photo_repeat if role == "unlabeled" else 1
        sources += [{"path": sets[key], "role": role, "split": "train"}] * repeat
    n_items = sum(len(open_dataset(s["path"], split="train", labeled=s["role"] == "labeled")) for s in sources)
    epochs = math.ceil(preset.student_images / n_items)
    length = (epochs, math.ceil(preset.student_images / (epochs * preset.batch_size)))
    distill = {"teacher": teacher if spec.teacher else None, "cache": True, "cache_flip": True, **declared}
    train = {"precise_bn_images": preset.precise_bn_images}
    return Config.from_dict(
        run_dict(
            spec,
            seed,
            preset,
            sources,
            out,
            length,
            {"kind": "cosine"},
            train,
            teach_labeled=preset.teach_rooms,
            **distill,
        ),
        origin=f"{spec.name} (seed {seed})",
    )


def train_real(
    spec: RunSpec, seed: int, preset: RealPreset, sets: dict[str, str], out: Path, teacher: str, declared: dict
) -> dict[str, Any]:
    """Train one run (or read back its finished result): its row, without scores."""
    from ..deploy.flops import count_gflops, count_parameters
    from ..hub import load
    from ..training.loop import run
    from .report import write_json

    folder = run_folder(out, spec.name, seed)
    cfg = real_config(spec, seed, preset, sets, out, teacher, declared)
    if (folder / "result.json").is_file():
        check_same_budget(cfg, folder / "config.yaml")
        return json.loads((folder / "result.json").read_text())
    logger.info("[seed %d] %s: %s", seed, spec.name, spec.description)
    start = time.perf_counter()
    model_path = run(cfg, resume=True)
    seconds = time.perf_counter() - start
    model = load(model_path)
    result = {
        "name": spec.name,
        "description": spec.description,
        "seed": seed,
        "arch": model.arch,
        "params": count_parameters(model),
        "gflops": count_gflops(model, model.input_size),
        "train_seconds": seconds,
        "images_seen": cfg.train.epochs * cfg.train.steps_per_epoch * cfg.train.batch_size,
        "model": str(model_path),
        "teacher": teacher if spec.teacher else None,
        "encoder_init": model.metadata["training"].get("encoder_init", "scratch"),
        "trained_on": [f"{k} ({role})" for k, role in spec.sources],
    }
    logger.info("        %s seed %d: trained in %.0f s", spec.name, seed, seconds)
    write_json(folder / "result.json", result)
    return json.loads((folder / "result.json").read_text())


class TeacherNet(torch.nn.Module):
    """A `Teacher` as a network `evaluate` can score: ``(B, 3, H, W)`` RGB in 0..1 -> ``(B, 1, H, W)``.

    The teacher sees each image its own way (its input rule and normalisation), flip-averaged, as
    it does for the cache.
    """

    def __init__(self, teacher, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.teacher, self.input_size = teacher, tuple(input_size)
        self.mean, self.std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # evaluate hands over RGB in 0..1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.teacher.depth(x, flip=True)


def score(model, pairs: str, groups: dict[int, str]) -> dict[str, Any]:
    """``model`` on the real pairs: hu2021 metrics raw and median-aligned, overall and per source."""
    from ..data import open_dataset
    from ..evaluation.loop import evaluate

    dataset = open_dataset(pairs, split="test")
    row_of = {dataset.source(i): i for i in range(len(dataset))}
    result: dict[str, Any] = {"n_images": len(dataset)}
    for align, suffix in (("none", ""), ("median", "_aligned")):
        evaluated = evaluate(model, dataset, protocol="hu2021", batch_size=4, progress=False, align=align)
        result.update({k + suffix: float(v) for k, v in evaluated.metrics.items()})
        result["nonpositive_pixels"] = evaluated.nonpositive_pixels  # of the raw prediction, the same both times
        for item in evaluated.per_image:
            row = row_of.get(item["source"], -1)
            group = groups.get(row) or group_of_name(item["source"])
            entry = result.setdefault("per_source", {}).setdefault(group, {"rows": []})
            if align == "none":
                entry["rows"].append(row)
            entry.setdefault("per_image" + suffix, []).append(float(item["delta1"]))
    for entry in result.get("per_source", {}).values():
        entry["n_images"] = len(entry["rows"])
        entry["delta1"] = sum(entry.pop("per_image")) / entry["n_images"]
        entry["delta1_aligned"] = sum(entry.pop("per_image_aligned")) / entry["n_images"]
    return result


def scored_rows(rows: list[dict], preset: RealPreset, sets: dict[str, str], t, pairs: str, groups) -> list[dict]:
    """Every network's row with its scores on the real pairs, then the teacher's and the baselines'."""
    from ..hub import load
    from .baselines import baseline_models

    scored = [{**row, **score(load(row["model"]), pairs, groups)} for row in rows]
    params = t.parameter_count() or 0
    extra = [("teacher", f"the teacher ({t.source}), flip-averaged", t.kind, params, TeacherNet(t, preset.input_size))]
    extra += [
        (name, f"baseline, no learning: {what}", "baseline", 0, m)
        for name, what, m in baseline_models(preset, sets["rooms"])
    ]
    for name, description, arch, n_params, model in extra:
        base = {"name": name, "description": description, "seed": 0, "arch": arch, "params": n_params}
        scored.append({**base, "gflops": 0.0, "train_seconds": 0.0, **score(model, pairs, groups)})
    return scored


def write_real_results(
    out: Path,
    preset: RealPreset,
    sets: dict[str, str],
    rows: list[dict],
    teacher,
    pairs: str | None,
    groups: dict[int, str],
    missing: list[str] = (),
) -> dict[str, Any]:
    """Score the runs on the real pairs (where given); write ``results.json``, ``results.md``, ``real_samples.png``
    and ``para_accu.png`` (δ1 against parameters, beside the published NYU-v2 points).

    ``missing``: the runs not finished (``NAME seed K``), listed in both reports."""
    from ..fileio import atomic_path
    from .report import compare, findings_markdown, plot_params_vs_accuracy, real_markdown, summarise_real, write_json
    from .reproduce import measure_latency

    if pairs:
        rows = scored_rows(rows, preset, sets, teacher, pairs, groups)
    summary = summarise_real(rows)
    latency = measure_latency(
        sorted({r["arch"] for r in rows if r.get("params") and "model" in r}), preset.latency_size
    )
    by_name = {e["name"]: {**e, "latency_ms": latency.get(e["arch"])} for e in summary}
    findings = []
    if pairs and {"real_kd", "real_no_kd"} <= set(by_name):
        for key, what in (("delta1_aligned", "median-aligned δ1"), ("delta1", "δ1 (hu2021)")):
            claim = f"KD from the teacher on real photos beats the rooms' ground truth alone on the real pairs ({what})"
            findings.append({"claim": claim, **compare(by_name["real_kd"], by_name["real_no_kd"], key)})
    payload = {
        "preset": dataclasses.asdict(preset),
        "protocol": "hu2021" + (" (scaled to the input size)" if preset.input_size != (228, 304) else ""),
        "data": {**sets, "real_pairs": pairs},
        "teacher": teacher.describe(),
        "pair_groups": {str(k): v for k, v in sorted(groups.items())},
        "configurations": list(by_name.values()),
        "findings": findings,
        "runs": rows,
        "not_finished": list(missing),
    }
    write_json(out / "results.json", payload)
    text = real_markdown(list(by_name.values()), _header(preset, sets, teacher.source, pairs, missing))
    if findings:
        text += "\n## Findings\n\n" + findings_markdown(findings)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(text)
    if pairs:
        _figure(out, preset, rows, teacher, pairs)
        label = f"{rows[0]['n_images']} real RGB-D pairs (δ1 hu2021, not aligned)"
        plot_params_vs_accuracy(out / "para_accu.png", summary, data_label=label, include_literature=True)
    return payload


def _header(preset: RealPreset, sets: dict[str, str], teacher: str, pairs: str | None, missing: list[str]) -> str:
    scored = (
        f"Scored on the real pairs of {pairs} (hu2021 protocol, and each prediction median-aligned to its ground truth)"
        if pairs
        else "Not scored (no --real-pairs)"
    )
    return (
        f"# litedepth reproduce --preset {preset.name}\n\nTeacher: {teacher}; synthetic rooms {sets['rooms']} "
        f"({preset.n_rooms} images); real photos {sets['photos']} (x{preset.photo_repeat} in the mix). "
        f"Input {preset.input_size[0]}x{preset.input_size[1]}; {preset.student_images:,} images seen per run; "
        f"seeds {list(preset.seeds)} (mean ± sample std). {scored}."
        + (f"\n\nNot finished, left out of this table: {', '.join(missing)}." if missing else "")
    )


def _figure(out: Path, preset: RealPreset, rows: list[dict], teacher, pairs: str) -> None:
    """``real_samples.png``: photo | teacher | students | ground truth, the first pair of each source first."""
    from ..hub import load
    from .report import write_real_samples

    seed = preset.seeds[0]
    networks = {"teacher": TeacherNet(teacher, preset.input_size)}
    networks.update({r["name"]: load(r["model"]) for r in rows if r["seed"] == seed and "model" in r})
    by_source = next(r["per_source"] for r in rows if "per_source" in r)
    firsts = [info["rows"][0] for info in by_source.values()]
    rest = [row for info in by_source.values() for row in info["rows"][1:]]
    shown = sorted((firsts + rest)[: preset.samples])
    write_real_samples(out / "real_samples.png", pairs, preset.input_size, networks, shown)


def teacher_conventions(declared: dict) -> dict:
    """`load_teacher`'s keyword arguments for conventions given as ``distill.*`` keys (as a config declares them)."""
    from ..config import Config
    from ..training.mixing import teacher_declared

    return teacher_declared(Config.from_dict({"distill": declared}, origin="--teacher-* options"))
