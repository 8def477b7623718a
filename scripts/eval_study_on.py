"""Score one seed's networks of a finished ``litedepth reproduce`` run, and its baselines, on another data set.

Usage: python scripts/eval_study_on.py STUDY_DIR DATA [--preset study] [--seed 0] [--json OUT.json]

DATA is any labeled set `litedepth eval` reads (e.g. real NYU-v2 pairs in the seed's test layout);
the hu2021 protocol is scaled to the networks' input size, as in the study. Each network is scored
as it predicts (metric) and median-aligned (each prediction scaled to its ground truth's median
first: what is left once the scale of an unfamiliar camera and room is forgiven). The constant and
row-ramp baselines are fitted on the study's own training set X, as in its table.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from litedepth.evaluation.loop import evaluate
from litedepth.hub import load
from litedepth.study.baselines import baseline_rows
from litedepth.study.presets import RUNS, STUDY_PRESETS
from litedepth.study.report import write_json
from litedepth.study.reproduce import prepare_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("data")
    ap.add_argument("--preset", default="study")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # litedepth's progress messages
    runs = [json.loads(p.read_text()) for p in args.study.glob(f"runs/*/seed{args.seed}/result.json")]
    runs.sort(key=lambda r: list(RUNS).index(r["name"]) if r["name"] in RUNS else len(RUNS))
    rows = []
    for run in runs:
        model = load(run["model"])
        result, aligned = (
            evaluate(model, args.data, protocol="hu2021", batch_size=4, progress=False, align=align)
            for align in ("none", "median")
        )
        rows.append(
            {
                "name": run["name"],
                "arch": run["arch"],
                "n_images": result.n_images,
                **{k: float(result.metrics[k]) for k in ("rmse", "abs_rel", "delta1")},
                "median_aligned_delta1": float(aligned.metrics["delta1"]),
            }
        )
    sets = prepare_data(STUDY_PRESETS[args.preset], args.study)
    bases, aligned_bases = (
        baseline_rows(STUDY_PRESETS[args.preset], sets, test_data=args.data, align=align)
        for align in ("none", "median")
    )
    for base, aligned in zip(bases, aligned_bases):
        rows.append(
            {
                "name": base["name"],
                "arch": "baseline",
                "n_images": rows[0]["n_images"] if rows else 0,
                **{k: base[k] for k in ("rmse", "abs_rel", "delta1")},
                "median_aligned_delta1": aligned["delta1"],
            }
        )
    print(
        f"| configuration (seed {args.seed}) | network | images | RMSE (m) | abs rel | δ1 | δ1, median-aligned |\n"
        "|---|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['name']} | {r['arch']} | {r['n_images']:.0f} | {r['rmse']:.3f} | {r['abs_rel']:.3f} "
            f"| {r['delta1']:.3f} | {r['median_aligned_delta1']:.3f} |"
        )
    if args.json:
        write_json(
            args.json,
            {"study": str(args.study), "data": args.data, "seed": args.seed, "protocol": "hu2021", "rows": rows},
        )


if __name__ == "__main__":
    main()
