"""Tables and figures of a study: ``results.md``, ``results.json``, ``para_accu.png``, ``samples.png``."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_path
from .presets import StudyPreset

# Published NYU-v2 results (hu2021 protocol) as listed in the paper, for the accuracy-vs-parameters figure.
LITERATURE = [
    # (method, encoder, params in millions, rmse, abs_rel, delta1)
    ("Hu et al. 2021, student KD on X+U", "MobileNetV2", 1.7, 0.482, 0.131, 0.837),
    ("Hu et al. 2021, student KD on X+U'", "MobileNetV2", 1.7, 0.461, 0.121, 0.855),
    ("Laina et al.", "ResNet-50", 60.6, 0.573, 0.127, 0.811),
    ("Hu et al. 2019", "ResNet-50", 63.6, 0.555, 0.126, 0.843),
    ("Zhang et al.", "ResNet-50", 95.4, 0.497, 0.121, 0.846),
    ("Fu et al. (DORN)", "ResNet-101", 110.0, 0.509, 0.115, 0.828),
    ("Hu et al. 2019", "SENet-154", 149.8, 0.530, 0.115, 0.866),
    ("Chen et al.", "SENet-154", 210.3, 0.514, 0.111, 0.878),
]

METRIC_COLUMNS = ("rmse", "abs_rel", "log10", "delta1", "delta2", "delta3")


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group per-seed rows by configuration; mean and sample std of every metric and of training time."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["name"], []).append(row)
    summary = []
    for runs in groups.values():
        first = runs[0]
        entry = {k: first[k] for k in ("name", "description", "arch", "encoder_init", "params", "gflops") if k in first}
        entry["seeds"] = [r["seed"] for r in runs]
        for key in METRIC_COLUMNS + ("train_seconds",):
            values = [math.nan if r[key] is None else float(r[key]) for r in runs]
            entry[key] = statistics.fmean(values)
            finite = all(math.isfinite(v) for v in values)  # statistics.stdev fails on nan and inf
            entry[key + "_std"] = (statistics.stdev(values) if finite else math.nan) if len(values) > 1 else 0.0
        entry["nonpositive_pixels"] = nonpositive_pixels(runs)
        summary.append(entry)
    return summary


def nonpositive_pixels(runs: Sequence[dict[str, Any]]) -> int:
    """Valid pixels where the runs of one configuration predicted depth <= 0, over all its seeds."""
    return sum(int(r.get("nonpositive_pixels") or 0) for r in runs)


def marked(entry: dict[str, Any]) -> str:
    """A configuration's name as the tables show it: flagged where some prediction was <= 0 (`nonpositive_warnings`)."""
    return entry["name"] + (" ⚠" if entry.get("nonpositive_pixels") else "")


def nonpositive_warnings(summary: Sequence[dict[str, Any]]) -> str:
    """A line under a table for each configuration that predicted depth <= 0 somewhere ("" if none): the
    hu2021 arithmetic counts such pixels as accurate in every δ (`litedepth.evaluation.metrics`)."""
    lines = [
        f"\n⚠ **{e['name']}** predicted depth <= 0 m at {e['nonpositive_pixels']:,} valid pixels (all seeds together); "
        "the hu2021 arithmetic counts them as accurate in every δ, so its δ values are not measurements."
        for e in summary
        if e.get("nonpositive_pixels")
    ]
    return "\n".join(lines) + ("\n" if lines else "")


# The paper's findings as comparisons of two configurations' mean delta1: (claim, better, worse).
FINDINGS = (
    ("the teacher beats the student trained alone (the premise of distillation)", "N_t_X", "N_s_X_no_KD"),
    ("KD on X + U beats the student trained on X without KD", "N_s_X_U_unlabel", "N_s_X_no_KD"),
    (
        "the same, for the paper's student from scratch (a teacher far stronger than its student, as in the paper)",
        "S_s_X_U_unlabel",
        "S_s_X_no_KD",
    ),
    (
        "KD on U only works when U has a similar scale: it beats KD on the mismatched Um only",
        "N_s_U_unlabel",
        "N_s_Um_unlabel",
    ),
    (
        "mixed labeled data helps the small network less than teacher-then-KD: KD from the X + U' teacher beats "
        "training the student on X + U' directly",
        "N_s_X_U_label",
        "N_s_X_U_label_no_KD",
    ),
)
# The fast decoder's bar: within this much delta1 and this RMSE ratio of the paper's decoder under the same recipe,
# as (fast, reference) pairs: fast-student against hu2021-student, lite0-student against lite0-student-paper.
PARITY = ((("F_s_X_U_unlabel", "N_s_X_U_unlabel"), ("N_s_X_U_unlabel", "P_s_X_U_unlabel")), 0.01, 1.03)


def findings(summary: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Which of the paper's findings the measured configurations show.

    A finding counts as reproduced only where the difference of mean delta1 exceeds the spread,
    taken as the sum of both sample standard deviations (at least two seeds each); a difference
    of that size the other way round is a contradiction; anything smaller is unresolved.
    """
    by_name = {e["name"]: e for e in summary}
    result = []
    for claim, better, worse in FINDINGS:
        if better not in by_name or worse not in by_name:
            continue
        result.append({"claim": claim, **compare(by_name[better], by_name[worse])})
    pairs, max_delta1_gap, max_rmse_ratio = PARITY
    for fast, reference in pairs:
        if fast not in by_name or reference not in by_name or by_name[fast]["arch"] == by_name[reference]["arch"]:
            continue
        f, r = by_name[fast], by_name[reference]
        gap, ratio = r["delta1"] - f["delta1"], f["rmse"] / r["rmse"]
        on_par = gap <= max_delta1_gap and ratio <= max_rmse_ratio
        result.append(
            {
                "claim": f"the fast decoder ({f['arch']}) is on par with the paper's ({r['arch']}) under the same KD recipe "
                f"(delta1 at most {max_delta1_gap} lower, RMSE at most {100 * (max_rmse_ratio - 1):.0f}% higher)",
                "better": fast,
                "worse": reference,
                "delta1_difference": -gap,
                "rmse_ratio": ratio,
                "spread": f["delta1_std"] + r["delta1_std"],
                "verdict": "met" if on_par else "not met",
            }
        )
    return result


def compare(a: dict[str, Any], b: dict[str, Any], key: str = "delta1") -> dict[str, Any]:
    """Configuration ``a`` against ``b`` on mean ``key``: the difference, the spread (the sum of both sample
    standard deviations) and the verdict (`findings`' rule: decided only with at least two seeds each)."""
    diff, spread = a[key] - b[key], a[key + "_std"] + b[key + "_std"]
    flagged = [e["name"] for e in (a, b) if e.get("nonpositive_pixels")]
    if flagged:
        verdict = f"not decided ({', '.join(flagged)} predicted depth <= 0: its δ is not a measurement)"
    elif min(len(a["seeds"]), len(b["seeds"])) < 2:
        verdict = "not decided (one seed, no spread)"
    elif diff > spread:
        verdict = "reproduced"
    elif -diff > spread:
        verdict = "contradicted"
    else:
        verdict = "not resolved (difference within the spread)"
    return {"better": a["name"], "worse": b["name"], "delta1_difference": diff, "spread": spread, "verdict": verdict}


def findings_markdown(items: Sequence[dict[str, Any]]) -> str:
    """A bullet list: claim, the two configurations' delta1 difference against the spread, verdict."""
    lines = []
    for item in items:
        extra = f", RMSE ratio {item['rmse_ratio']:.3f}" if "rmse_ratio" in item else ""
        lines.append(
            f"- {item['claim']}: {item['better']} - {item['worse']} = {item['delta1_difference']:+.3f} delta1 "
            f"(spread {item['spread']:.3f}{extra}): **{item['verdict']}**"
        )
    return "\n".join(lines) + "\n"


def finite_or_none(obj: Any) -> Any:
    """Replace NaN and infinities by None, recursively, so that the JSON written is standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Standard JSON (non-finite numbers as null), written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(finite_or_none(payload), indent=2, allow_nan=False) + "\n")


def results_markdown(summary: Sequence[dict[str, Any]], header: str) -> str:
    """One row per configuration: mean ± std over seeds."""
    lines = [
        header,
        "",
        "| configuration | trained on | network | params | GFLOPs | CPU latency (ms) | seeds | RMSE (m) | abs rel | log10 | δ1 | δ2 | δ3 | train time (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in summary:

        def cell(key: str, fmt: str = ".3f", e=e) -> str:
            if len(e["seeds"]) > 1:
                return f"{e[key]:{fmt}} ± {e[key + '_std']:{fmt}}"
            return f"{e[key]:{fmt}}"

        lines.append(
            f"| {marked(e)} | {e.get('description', '')} | {e['arch']}{' (ImageNet)' if e.get('encoder_init', '').startswith('imagenet') else ''} | {e['params'] / 1e6:.2f}M | {e['gflops']:.2f} | {_latency(e)} | {len(e['seeds'])} "
            f"| {cell('rmse')} | {cell('abs_rel')} | {cell('log10')} | {cell('delta1')} | {cell('delta2')} | {cell('delta3')} | {cell('train_seconds', '.0f')} |"
        )
    return "\n".join(lines) + "\n" + nonpositive_warnings(summary)


def _latency(entry: dict[str, Any]) -> str:
    return f"{entry['latency_ms']:.1f}" if entry.get("latency_ms") is not None else "-"


def plot_params_vs_accuracy(
    path: Path, summary: Sequence[dict[str, Any]], data_label: str, include_literature: bool
) -> None:
    """delta1 against parameters (log scale), in the style of the paper's figure.

    Our measured points and the literature's are drawn apart; when our data is not NYU-v2 the
    literature points are left out unless asked for, and the title says which data each set is on.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    if include_literature:
        for method, encoder, params, _, _, d1 in LITERATURE:
            ax.scatter(params, d1, marker="s", color="0.55", zorder=2)
            ax.annotate(
                f"{method} ({encoder})",
                (params, d1),
                fontsize=6.5,
                color="0.35",
                xytext=(4, -3),
                textcoords="offset points",
            )
    colours = plt.get_cmap("tab10")
    same_size: dict[int, int] = {}
    for i, e in enumerate(e for e in summary if e["params"] > 0):  # baselines have no parameters
        k = same_size[e["params"]] = same_size.get(e["params"], -1) + 1
        x = e["params"] / 1e6 * (1.0 + 0.025 * k)  # spread configurations of one network apart
        marker = "o^sD"[i // 10 % 4]  # the 11th configuration repeats the first's colour, not its marker
        ax.errorbar(
            x,
            e["delta1"],
            yerr=e.get("delta1_std", 0.0),
            fmt=marker,
            color=colours(i % 10),
            capsize=3,
            zorder=3,
            label=e["name"],
        )
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.set_xlabel("parameters (millions, log scale)")
    ax.set_ylabel("δ1 (higher is better)")
    title = f"Accuracy vs parameters: litedepth runs on {data_label}"
    if include_literature:
        title += "\n(grey squares: published NYU-v2 results, hu2021 protocol)"
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def plot_samples(
    path: Path,
    images: Sequence[np.ndarray],
    columns: dict[str, Sequence[np.ndarray]],
    cmap: str = "magma_r",
    range_from: str | None = None,
) -> None:
    """A grid: one row per test image; RGB, then one coloured depth map per column.

    Each row's colour range is that of column ``range_from``'s map (default the first: the ground truth).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, m = len(images), 1 + len(columns)
    fig, axes = plt.subplots(n, m, figsize=(2.2 * m, 1.8 * n), dpi=110, squeeze=False)
    for r, rgb in enumerate(images):
        gt = (columns[range_from] if range_from else next(iter(columns.values())))[r]
        valid = gt[gt > 0]
        vmin, vmax = (float(np.percentile(valid, 2)), float(np.percentile(valid, 98))) if valid.size else (0.0, 10.0)
        axes[r, 0].imshow(rgb)
        for c, (label, maps) in enumerate(columns.items(), start=1):
            axes[r, c].imshow(maps[r], cmap=cmap, vmin=vmin, vmax=vmax)
            if r == 0:
                axes[r, c].set_title(label, fontsize=7)
        if r == 0:
            axes[r, 0].set_title("RGB", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_samples(out: Path, sets: dict[str, str], preset: StudyPreset, rows: list[dict[str, Any]], n: int = 4) -> None:
    """``samples.png``: RGB, ground truth and a few networks' predictions on the first test images (``preset``'s first seed)."""
    import torch

    from ..data import CenterCrop, Compose, ResizeShorter, open_dataset, test_transform
    from ..data.transforms import shorter_side_for
    from ..hub import load

    shown = ["N_t_X", "N_s_X_no_KD", "N_s_X_U_unlabel", "F_s_X_U_unlabel"]
    seed = preset.seeds[0]
    models = {r["name"]: r["model"] for r in rows if r["seed"] == seed and r["name"] in shown}
    dataset = open_dataset(sets["X"], split="test", transform=test_transform(preset.input_size))
    raw = open_dataset(sets["X"], split="test")
    resize = ResizeShorter(shorter_side_for(preset.input_size), crop=preset.input_size)
    crop = Compose([resize, CenterCrop(*preset.input_size)])
    samples = [dataset[i] for i in range(min(n, len(dataset)))]
    columns = {"ground truth": [s["depth"][0].numpy() for s in samples]}
    images = [np.asarray(crop(raw.load(i), np.random.default_rng(0))["image"]) for i in range(len(samples))]
    batch = torch.stack([s["image"] for s in samples])
    for name in shown:
        if name in models:
            with torch.inference_mode():
                columns[name] = [d[0].numpy() for d in load(models[name])(batch)]
    plot_samples(out / "samples.png", images, columns)


REAL_COLUMNS = ("delta1", "delta1_aligned", "abs_rel", "abs_rel_aligned", "rmse", "rmse_aligned", "train_seconds")


def summarise_real(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The real preset's rows grouped by configuration: mean and sample std over seeds of `REAL_COLUMNS`
    and of each source's delta1 (raw and median-aligned), with the number of real images each rests on."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["name"], []).append(row)
    summary = []
    for runs in groups.values():
        first = runs[0]
        keep = ("name", "description", "arch", "encoder_init", "params", "gflops", "images_seen", "n_images")
        entry = {k: first[k] for k in keep if k in first}
        entry["seeds"] = [r["seed"] for r in runs]
        for key in REAL_COLUMNS:
            values = [float(r.get(key) or 0.0) for r in runs]
            entry[key] = statistics.fmean(values)
            entry[key + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        entry["nonpositive_pixels"] = nonpositive_pixels(runs)
        entry["per_source"] = {
            group: {
                "n_images": info["n_images"],
                "rows": info["rows"],
                **{k: statistics.fmean(r["per_source"][group][k] for r in runs) for k in ("delta1", "delta1_aligned")},
            }
            for group, info in first.get("per_source", {}).items()
        }
        summary.append(entry)
    return summary


def real_markdown(summary: Sequence[dict[str, Any]], header: str) -> str:
    """One row per configuration: delta1 raw (hu2021) and median-aligned, overall and per source; mean ± std."""
    sources = list(dict.fromkeys(g for e in summary for g in e.get("per_source", {})))
    per_source = "".join(f" δ1 {g} (n={summary[0]['per_source'][g]['n_images']}) raw / aligned |" for g in sources)
    lines = [
        header,
        "",
        "| configuration | what | network | params | seeds | images seen | train time (s) | δ1 | δ1 aligned | abs rel "
        f"| abs rel aligned | RMSE (m) |{per_source}",
        "|---" * (12 + len(sources)) + "|",
    ]
    for e in summary:

        def cell(key: str, fmt: str = ".3f", e=e) -> str:
            return f"{e[key]:{fmt}} ± {e[key + '_std']:{fmt}}" if len(e["seeds"]) > 1 else f"{e[key]:{fmt}}"

        init = " (ImageNet)" if str(e.get("encoder_init", "")).startswith("imagenet") else ""
        params = f"{e['params'] / 1e6:.2f}M" if e.get("params") else "-"
        groups = "".join(
            f" {e['per_source'][g]['delta1']:.3f} / {e['per_source'][g]['delta1_aligned']:.3f} |"
            if g in e.get("per_source", {})
            else " - |"
            for g in sources
        )
        lines.append(
            f"| {marked(e)} | {e.get('description', '')} | {e['arch']}{init} | {params} | {len(e['seeds'])} "
            f"| {e.get('images_seen', '-')} | {cell('train_seconds', '.0f')} | {cell('delta1')} | {cell('delta1_aligned')} "
            f"| {cell('abs_rel')} | {cell('abs_rel_aligned')} | {cell('rmse')} |{groups}"
        )
    return "\n".join(lines) + "\n" + nonpositive_warnings(summary)


def write_real_samples(
    path: Path, pairs: str, input_size: tuple[int, int], networks: dict, rows: Sequence[int]
) -> None:
    """The real preset's figure: photo | teacher | students | ground truth on the real pairs ``rows``.

    ``networks``: ``{column title: network}`` in order; each sees the photo as `evaluate` shows it
    (resized to hold ``input_size``, centre-cropped), normalised its own way (`stats_of`).
    """
    import torch

    from ..data import open_dataset, test_transform
    from ..preprocess import normalise, stats_of

    plain = open_dataset(pairs, split="test", transform=test_transform(input_size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    samples = [plain[i] for i in rows]
    rgb = torch.stack([s["image"] for s in samples])  # RGB in 0..1
    columns = {}
    for title, net in networks.items():
        with torch.inference_mode():
            columns[title] = [d[0].float().numpy() for d in net(normalise(rgb, *stats_of(net)))]
    columns["ground truth"] = [s["depth"][0].numpy() for s in samples]
    images = [np.clip(s["image"].permute(1, 2, 0).numpy(), 0, 1) for s in samples]
    plot_samples(path, images, columns, range_from="ground truth")
