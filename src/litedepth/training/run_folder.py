"""The run folder of a training run: claimed before any work, its metrics rows, the provenance of its model.

See `litedepth.training.loop` for the files a run folder holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import LitedepthError
from ..fileio import atomic_path


def claim_run_folder(cfg: Config, teacher_spec, resume: bool, overwrite: bool) -> Path:
    """The run folder, locked for this process, or a one-line refusal (`litedepth.outputs.OutputGuard`) before any work.

    Inputs of the run (data sources and the files their CSVs or lists name, the validation set,
    teachers, an encoder weights file) are never written into; a folder in use by another process
    is refused; a finished or unfinished run is continued only with ``resume`` and replaced only
    with ``overwrite``.
    """
    from ..data.listed import listed_files
    from ..outputs import OutputGuard, folder_kind

    out = cfg.run_dir()
    guard = OutputGuard(overwrite)
    for i, src in enumerate(cfg.data.sources):
        guard.add_input(src.path, f"data.sources.{i}")
        guard.add_listed(listed_files(src.path), f"data.sources.{i}")
    if cfg.data.val:
        guard.add_input(cfg.data.val, "data.val")
        guard.add_listed(listed_files(cfg.data.val), "data.val")
    for spec in teacher_spec if isinstance(teacher_spec, (list, tuple)) else [teacher_spec]:
        if isinstance(spec, (str, Path)):
            guard.add_input(spec, "the teacher")
    if cfg.model.encoder_weights and cfg.model.encoder_weights != "imagenet":
        guard.add_input(cfg.model.encoder_weights, "model.encoder_weights")
    out = guard.folder(out, "train.out_dir", kind="run", continues=True)  # locked until the run ends
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
    return out


def write_metrics(path: Path, row: dict[str, Any]) -> None:
    """Append ``row``, dropping rows of this or later epochs left by a run that was killed and resumed."""
    rows = []
    if path.is_file():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r.get("epoch", 0) < row["epoch"]]
    rows.append(row)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))


def provenance(cfg: Config, teacher, kd_name: str, encoder_init: str) -> dict[str, Any]:
    """What ``model.safetensors`` records of its training: config, data, teacher, length, seed, initialisation."""
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
