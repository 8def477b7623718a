"""``litedepth reproduce``: the paper's study, every configuration trained and evaluated."""

from __future__ import annotations

import argparse

HELP = "train and evaluate every configuration of the paper's table; write results.md/json and figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default="quick",
        help="quick (synthetic, ~10 min on 2 CPU cores) | study (synthetic, 3 seeds) | study-gpu (3x the study's "
        "budgets, for one GPU) | smoke (seconds, tiny data: checks the pipeline) | paper (real NYU-v2 + ScanNet, for a GPU)",
    )
    parser.add_argument("--out", required=True, help="output folder (re-running skips finished configurations)")
    parser.add_argument(
        "--data-root", help="paper preset: NYU-v2 in the seed's layout (folder holding data/nyu2_train.csv)"
    )
    parser.add_argument(
        "--aux-root", help="paper preset: auxiliary RGB-D data (e.g. ScanNet frames: folder or CSV, depth PNG in mm)"
    )
    parser.add_argument("--mismatch-root", help="optional auxiliary set of another scene scale (adds the Um runs)")
    parser.add_argument(
        "--runs", help="comma list of configurations to run (default: the preset's); teachers they need are added"
    )
    parser.add_argument("--seeds", help="comma list of seeds (default: the preset's)")
    parser.add_argument("--threads", type=int, help="torch CPU threads per training process")
    parser.add_argument(
        "--report-only", action="store_true", help="train nothing: write the tables and figures of the finished runs"
    )
    parser.add_argument(
        "--student-images", type=int, help="training budget of every student in images seen (default: the preset's)"
    )
    parser.add_argument(
        "--teacher-images", type=int, help="training budget of every teacher in images seen (default: the preset's)"
    )
    parser.add_argument(
        "--workers", type=int, help="DataLoader worker processes per training run (default: the preset's)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="train this many seeds at once, one process each (a GPU is used better "
        "by 2-4 small runs side by side; default 1)",
    )


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from ..errors import LitedepthError
    from ..study.presets import STUDY_PRESETS
    from ..study.reproduce import reproduce

    if args.preset not in STUDY_PRESETS:
        raise LitedepthError(f"--preset {args.preset!r}: choose from {', '.join(STUDY_PRESETS)}")
    preset = STUDY_PRESETS[args.preset]
    changes = {}
    if args.runs:
        changes["runs"] = tuple(r.strip() for r in args.runs.split(",") if r.strip())
        if (
            args.mismatch_root is None
            and any("Um" in r for r in changes["runs"])
            and preset.synthetic
            and not preset.mismatch_preset
        ):
            changes["mismatch_preset"] = "hall"
    if args.seeds:
        try:
            changes["seeds"] = tuple(int(s) for s in args.seeds.split(","))
        except ValueError:
            raise LitedepthError(f"--seeds {args.seeds!r}: expected a comma list of integers") from None
    if args.threads is not None:
        if args.threads < 1:
            raise LitedepthError(f"--threads {args.threads}: must be at least 1")
        changes["threads"] = args.threads
    if args.workers is not None:
        if args.workers < 0:
            raise LitedepthError(f"--workers {args.workers}: must be 0 or more")
        changes["workers"] = args.workers
    for option, key in (("--student-images", "student_images"), ("--teacher-images", "teacher_images")):
        value = getattr(args, key)
        if value is not None:
            if value < 1:
                raise LitedepthError(f"{option} {value}: must be at least 1")
            changes[key] = value
    if args.mismatch_root and "N_s_Um_unlabel" not in preset.runs and "runs" not in changes:
        changes["runs"] = preset.runs + ("N_s_Um_unlabel", "N_s_X_Um_unlabel")
    if args.jobs < 1:
        raise LitedepthError(f"--jobs {args.jobs}: must be at least 1")
    preset = dataclasses.replace(preset, **changes)
    payload = reproduce(
        preset,
        args.out,
        data_root=args.data_root,
        aux_root=args.aux_root,
        mismatch_root=args.mismatch_root,
        train=not args.report_only,
        jobs=args.jobs,
    )
    print((Path(args.out) / "results.md").read_text())
    print(f"wrote {args.out}/results.md, results.json, para_accu.png, samples.png ({len(payload['runs'])} runs)")
    return 0
