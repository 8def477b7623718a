"""`EvalResult`: what `litedepth.evaluation.loop.evaluate` measured, and its JSON, CSV and table writers."""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from ..fileio import atomic_path
from ..output_kinds import PER_IMAGE_COLUMNS, WRITTEN_BY
from .metrics import METRIC_NAMES


@dataclass
class EvalResult:
    """What `evaluate` measured.

    ``metrics``: dataset values (mean over images of per-image values), keys `METRIC_NAMES`.
    ``per_image``: one dict per image (name, source, n_valid, nonpositive, the metrics).
    ``skipped``: ``{"name", "source", "reason"}`` for images left out with ``skip_bad``.
    ``nonpositive_pixels``: valid pixels where the raw prediction was <= 0 (see `litedepth.evaluation.metrics`).
    ``warnings``: lines for the user's attention (without a ``warning:`` prefix), e.g. a ground truth
    whose median is far from the prediction's (a wrong ``--depth-scale``); also in `to_json`.
    """

    protocol: str
    metrics: dict[str, float]
    per_image: list[dict[str, Any]]
    skipped: list[dict[str, str]]
    nonpositive_pixels: int
    input_size: tuple[int, int]
    notes: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # one line each, for stderr (`scale_warning`)

    @property
    def n_images(self) -> int:
        return len(self.per_image)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict; non-finite metric values (from non-positive predictions) become null."""
        out: dict[str, Any] = {k: (float(v) if math.isfinite(v) else None) for k, v in self.metrics.items()}
        out.update(
            n_images=self.n_images,
            protocol=self.protocol,
            n_skipped=len(self.skipped),
            skipped=self.skipped,
            nonpositive_pixels=int(self.nonpositive_pixels),
            input_size=list(self.input_size),
            notes=list(self.notes),
            warnings=list(self.warnings),
        )
        out.update(self.extras)
        return out

    def write_json(self, path: str | os.PathLike) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"written_by": WRITTEN_BY, **self.to_json()}, indent=2) + "\n")

    def write_per_image_csv(self, path: str | os.PathLike) -> None:
        columns = [*PER_IMAGE_COLUMNS, *METRIC_NAMES]
        with atomic_path(path) as tmp:
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
                writer.writeheader()
                for row in self.per_image:
                    writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in columns})

    def format_table(self) -> str:
        """A small terminal table of the dataset metrics."""
        head = " ".join(f"{name:>8}" for name in METRIC_NAMES)
        values = " ".join(f"{self.metrics[name]:8.4f}" for name in METRIC_NAMES)
        h, w = self.input_size
        lines = [f"protocol {self.protocol}: {self.n_images} images, network input {h}x{w}", head, values]
        if self.skipped:
            lines.append(
                f"skipped {len(self.skipped)} bad item(s): "
                + ", ".join(s["source"] for s in self.skipped[:10])
                + (" ..." if len(self.skipped) > 10 else "")
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)
