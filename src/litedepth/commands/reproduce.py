"""``litedepth reproduce``: the paper's study, every configuration trained and evaluated."""

from __future__ import annotations

import argparse

from .distill import TEACHER_CONVENTIONS, add_teacher_conventions

HELP = "train and evaluate every configuration of the paper's table; write results.md/json and figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default="quick",
        help="quick (synthetic, ~10 min on 2 CPU cores) | study (synthetic, 3 seeds) | study-gpu (3x the study's "
        "budgets, for one GPU) | smoke (seconds, tiny data: checks the pipeline) | paper (real NYU-v2 + ScanNet, for a GPU) "
        "| real (students for real photos: synthetic rooms + --unlabeled photos taught by --teacher, ~30 min on 2 CPU "
        "cores) | real-smoke (seconds: the real preset's pipeline)",
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
    add_real_arguments(parser)
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="train this many seeds at once, one process each (a GPU is used better "
        "by 2-4 small runs side by side; default 1)",
    )


def add_real_arguments(parser: argparse.ArgumentParser) -> None:
    """The real preset's inputs: the teacher (and its conventions), the photos, the real pairs."""
    parser.add_argument(
        "--teacher", help="real presets: the teacher, a file (.tflite, .onnx, .safetensors) or a name (fastdepth:nyu)"
    )
    add_teacher_conventions(parser)
    parser.add_argument("--unlabeled", help="real presets: a folder of real photos (any size, recursive) or videos")
    parser.add_argument(
        "--real-pairs", help="real presets: real RGB-D pairs to score on (e.g. a folder in the NYU test layout)"
    )
    parser.add_argument(
        "--pair-groups",
        metavar="NAME:ROWS,...",
        help="real presets: the sources of the real pairs by CSV row from 0, e.g. nyu:0-8,tum:9-11,sun:12 "
        "(default: the file name's part before the first '_' unless a number, else one group 'all')",
    )


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from ..errors import LitedepthError
    from ..study.presets import REAL_PRESETS, STUDY_PRESETS
    from ..study.reproduce import reproduce

    if args.preset in REAL_PRESETS:
        return run_real(args, REAL_PRESETS[args.preset])
    check_study_preset(args, STUDY_PRESETS, REAL_PRESETS)
    preset = STUDY_PRESETS[args.preset]
    changes = preset_changes(args, ("student_images", "teacher_images"))
    if (
        "runs" in changes
        and args.mismatch_root is None
        and any("Um" in r for r in changes["runs"])
        and preset.synthetic
        and not preset.mismatch_preset
    ):
        changes["mismatch_preset"] = "hall"
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


def preset_changes(args: argparse.Namespace, budgets: tuple[str, ...]) -> dict:
    """The preset fields the options change (``--runs``, ``--seeds``, ``--threads``, ``--workers`` and the
    ``budgets`` image counts), each checked with a one-line error."""
    from ..errors import LitedepthError

    changes: dict = {}
    if args.runs:
        changes["runs"] = tuple(r.strip() for r in args.runs.split(",") if r.strip())
    if args.seeds:
        try:
            changes["seeds"] = tuple(int(s) for s in args.seeds.split(","))
        except ValueError:
            raise LitedepthError(f"--seeds {args.seeds!r}: expected a comma list of integers") from None
    for key, low in (("threads", 1), ("workers", 0), *((budget, 1) for budget in budgets)):
        value = getattr(args, key)
        if value is not None and value < low:
            option = "--" + key.replace("_", "-")
            raise LitedepthError(f"{option} {value}: must be {'at least 1' if low else '0 or more'}")
        if value is not None:
            changes[key] = value
    return changes


def check_study_preset(args: argparse.Namespace, study_presets, real_presets) -> None:
    """One-line errors for an unknown preset and for the real presets' options given to another preset."""
    from ..errors import LitedepthError

    if args.preset not in study_presets:
        raise LitedepthError(f"--preset {args.preset!r}: choose from {', '.join([*study_presets, *real_presets])}")
    for option in ("teacher", "unlabeled", "real_pairs", "pair_groups", *TEACHER_CONVENTIONS):
        if getattr(args, option) is not None:
            name = "--" + option.replace("_", "-")
            raise LitedepthError(f"{name}: only for the real presets ({', '.join(real_presets)})")


def run_real(args: argparse.Namespace, preset) -> int:
    """``reproduce --preset real``: the rooms, the three students, their scores on the real pairs."""
    import dataclasses
    from pathlib import Path

    from ..study.real import reproduce_real

    changes = preset_changes(args, ("student_images",))
    preset = dataclasses.replace(preset, **changes)
    payload = reproduce_real(
        preset,
        args.out,
        teacher=args.teacher,
        unlabeled=args.unlabeled,
        real_pairs=args.real_pairs,
        declared={key: getattr(args, key) for key in TEACHER_CONVENTIONS},
        pair_groups=args.pair_groups,
        train=not args.report_only,
    )
    print((Path(args.out) / "results.md").read_text())
    print(
        f"wrote {args.out}/results.md, results.json{', real_samples.png' if args.real_pairs else ''} ({len(payload['runs'])} rows)"
    )
    return 0
