"""Evaluation protocols and the evaluation loop.

Two named protocols (`PROTOCOLS`):

* ``hu2021`` - the authors' ``test.py``: shorter side 240 (RGB bilinear, depth nearest, PIL),
  centre crop 228x304 of image and ground truth, prediction at 228x304, valid = gt > 0, no depth
  cap, no clamping; per-image metrics averaged over images (RMSE too).
* ``eigen`` - the protocol of most later papers (BTS, AdaBins, ZoeDepth): the network sees the whole
  image resized to shorter side 240, its prediction is resized bilinearly to the full ground truth,
  Eigen crop rows 45:471, cols 41:601 (of 480x640), valid gt in (1e-3, 10) m, prediction clamped
  to [1e-3, 10]; per-image metrics averaged.

For networks whose ``input_size`` is not 228x304 the sizes scale with it (shorter side
``round(240 * H / 228)``, crop = input size) and the result says so.

>>> result = evaluate(model, "nyu_root", protocol="hu2021")
>>> result.metrics["rmse"], result.n_images
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.base import unwrap_subset
from ..data.transforms import CenterCrop, ResizeShorter, ToTensor
from ..errors import LitedepthError
from ..fileio import atomic_path, write_png16_mm
from ..output_kinds import PER_IMAGE_COLUMNS, WRITTEN_BY
from ..preprocess import REFERENCE_INPUT_SIZE, shorter_side_for, stats_of
from .align import align, check_align
from .metrics import METRIC_NAMES, compute_metrics, mean_over_images, nonpositive_count, valid_count


@dataclass(frozen=True)
class Protocol:
    """How predictions are compared with ground truth.

    Attributes:
        name: preset name.
        description: one line for reports.
        crop_to_input: True: image and gt are resized (shorter side, or more where a portrait or
            small image needs it to hold the crop: `litedepth.preprocess.resize_for_crop`) and
            centre-cropped to the network's input size, and compared there. False: the network sees the whole resized
            image and its prediction is resized to the full-resolution gt.
        eval_crop: (top, bottom, left, right) rows/cols kept, defined for ``eval_crop_reference``
            (H, W) and scaled proportionally for other gt sizes; None: the whole map.
        min_depth, max_depth: valid gt is strictly inside (min_depth, max_depth); None: no bound
            (hu2021 uses min_depth=0, i.e. gt > 0).
        clamp: clamp predictions to [min_depth, max_depth] before the metrics.
    """

    name: str
    description: str
    crop_to_input: bool
    eval_crop: tuple[int, int, int, int] | None = None
    eval_crop_reference: tuple[int, int] = (480, 640)
    min_depth: float = 0.0
    max_depth: float | None = None
    clamp: bool = False


PROTOCOLS: dict[str, Protocol] = {
    "hu2021": Protocol(
        name="hu2021",
        description="Hu et al. 2021 test.py: shorter side 240, centre crop 228x304, gt > 0, no cap, per-image mean",
        crop_to_input=True,
    ),
    "eigen": Protocol(
        name="eigen",
        description="Eigen: whole image, prediction resized to full gt, Eigen crop, gt in (1e-3, 10), clamp [1e-3, 10]",
        crop_to_input=False,
        eval_crop=(45, 471, 41, 601),
        min_depth=1e-3,
        max_depth=10.0,
        clamp=True,
    ),
}


def get_protocol(protocol: str | Protocol) -> Protocol:
    if isinstance(protocol, Protocol):
        return protocol
    if protocol not in PROTOCOLS:
        raise LitedepthError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[protocol]


def scaled_eval_crop(protocol: Protocol, gt_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """``protocol.eval_crop`` for a gt of ``gt_size`` (H, W): scaled from the reference size."""
    if protocol.eval_crop is None:
        return None
    top, bottom, left, right = protocol.eval_crop
    rh, rw = protocol.eval_crop_reference
    h, w = gt_size
    if (h, w) == (rh, rw):
        return protocol.eval_crop
    return round(top * h / rh), round(bottom * h / rh), round(left * w / rw), round(right * w / rw)


def valid_mask(protocol: Protocol, gt: torch.Tensor) -> torch.Tensor:
    """Boolean mask of gt pixels the protocol scores, for gt (B, 1, H, W) metres."""
    mask = gt > protocol.min_depth
    if protocol.max_depth is not None:
        mask &= gt < protocol.max_depth
    crop = scaled_eval_crop(protocol, tuple(gt.shape[-2:]))
    if crop is not None:
        top, bottom, left, right = crop
        region = torch.zeros_like(mask)
        region[..., top:bottom, left:right] = True
        mask &= region
    return mask


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


class _ProtocolView(torch.utils.data.Dataset):
    """Raw samples of ``dataset`` prepared for ``protocol``; load errors become ``{"error": ...}`` items."""

    def __init__(self, dataset, protocol: Protocol, input_size: tuple[int, int], mean, std) -> None:
        self.dataset = dataset
        self.inner, self.indices = unwrap_subset(dataset)
        self.protocol = protocol
        self.input_size = input_size
        self.resize = ResizeShorter(shorter_side_for(input_size))
        self.resize_to_crop = ResizeShorter(shorter_side_for(input_size), crop=input_size)  # portrait photos too
        self.crop = CenterCrop(*input_size)
        self.to_tensor = ToTensor(mean, std)

    def __len__(self) -> int:
        return len(self.dataset)

    def _resolve(self, index: int) -> tuple[Any, int]:
        """(innermost dataset, its index), looking through ``torch.utils.data.Subset`` wrappers."""
        return self.inner, int(self.indices[index])

    def _source(self, index: int) -> str:
        ds, i = self._resolve(index)
        source = getattr(ds, "source", None)
        return source(i) if callable(source) else f"item {index}"

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng(0)  # the protocol transforms are deterministic
        try:
            ds, i = self._resolve(index)
            load = getattr(ds, "load", None)
            sample = load(i) if callable(load) else ds[i]
            if "depth" not in sample:
                raise LitedepthError(
                    f"{self._source(index)}: no ground-truth depth (an unlabeled dataset cannot be evaluated)"
                )
            if torch.is_tensor(sample["image"]):
                raise ValueError(
                    "evaluate() needs raw samples (PIL image + depth array): build the dataset with transform=None"
                )
            sample = {"image": sample["image"], "depth": sample["depth"], "name": str(sample.get("name", index))}
            if self.protocol.crop_to_input:
                sample = self.crop(self.resize_to_crop(sample, rng), rng)
                sample = self.to_tensor(sample)
            else:
                depth = sample.pop("depth")
                sample = self.to_tensor(self.resize({**sample, "_depth_keys": []}, rng))
                sample["depth"] = torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))[None]
        except LitedepthError as exc:
            return {"error": str(exc), "name": str(index), "source": self._source(index)}
        sample["source"] = self._source(index)
        return sample


def _collate_list(batch: list[dict]) -> list[dict]:
    return batch


def _forward(model, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` as a float32 ``(B, 1, H, W)`` tensor on ``x``'s device (a ``(B, H, W)`` output gets its channel)."""
    out = torch.as_tensor(model(x))
    if out.dim() == 3:
        out = out[:, None]
    return out.to(x.device, torch.float32)


def _safe_name(name: str) -> str:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "unnamed"


SCALE_RATIO = 3.0  # ground-truth and prediction medians further apart than this: warn about the depth scale
KNOWN_SCALES = {1000.0: "millimetre depth", 5000.0: "TUM depth", 1.0: "depth in metres"}  # raw units per metre


def scale_warning(gt_median: float, pred_median: float, scale: float | None, settable: bool) -> str | None:
    """One warning line when the median ground truth and the median prediction differ more than `SCALE_RATIO`x.

    ``settable``: the data's depth scale comes from ``--depth-scale`` (generic RGB-D pairs); ``scale``:
    the raw units per metre in use there (None: unknown), from which a known scale that would bring the
    medians together is named. None when the medians agree or one of them is not a positive number.
    """
    if not (math.isfinite(gt_median) and math.isfinite(pred_median) and gt_median > 0 and pred_median > 0):
        return None
    ratio = gt_median / pred_median
    if 1 / SCALE_RATIO <= ratio <= SCALE_RATIO:
        return None
    times = f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2g}x"
    head = f"ground-truth median depth {gt_median:.3g} m vs prediction median {pred_median:.3g} m ({times})"
    if not settable:
        return f"{head}: the model's metres do not fit this data (untrained weights, another kind of scene, or relative depth?)"
    return f"{head}: is the depth scale right? {_scale_advice(ratio, scale)}"


def _scale_advice(ratio: float, scale: float | None) -> str:
    """Name the known depth scale that matches the predictions, if one does, else what ``--depth-scale`` means."""
    if scale is not None:
        wanted = scale * ratio  # raw units per metre that would make the ground-truth median the prediction's
        for known, label in KNOWN_SCALES.items():
            if known != scale and abs(math.log(wanted / known)) < math.log(1.5):
                return f"{label} needs --depth-scale {known:g}"
    return "--depth-scale is raw units per metre (1000: millimetre PNG, the default; 5000: TUM; 1: float metres)"


def _depth_scale_in_use(data, dataset, depth_scale: float | None) -> tuple[float | None, bool]:
    """``(raw units per metre, settable)``: settable for generic RGB-D pairs opened from a path; the
    scale is None where it depends on each file (float ``.npy`` depth read with the default)."""
    from ..data import RGBDDataset

    if not isinstance(data, (str, os.PathLike)) or not isinstance(dataset, RGBDDataset):
        return None, False
    if depth_scale is not None:
        return float(depth_scale), True
    has_npy = any(Path(d).suffix.lower() == ".npy" for _, d in dataset.pairs)
    return (None if has_npy else 1000.0), True


def _medians(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> list[tuple[float, float]]:
    """Per image: ``(median ground truth, median raw prediction)`` over its valid pixels (NaN predictions left out)."""
    out = []
    for b in range(gt.shape[0]):
        m = mask[b]
        out.append(
            (float(np.median(gt[b][m].double().cpu().numpy())), float(np.nanmedian(pred[b][m].double().cpu().numpy())))
        )
    return out


class _Scorer:
    """Scores batches of `_ProtocolView` items and collects what `EvalResult` reports."""

    def __init__(
        self, proto: Protocol, skip_bad: bool, save_dir: Path | None, align: str = "none", space: str = "depth"
    ) -> None:
        self.proto, self.skip_bad, self.save_dir = proto, skip_bad, save_dir
        self.align, self.space = align, space  # `litedepth.evaluation.align`
        self.per_image: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self.scaled_crops: set[tuple[int, int]] = set()
        self.medians: list[tuple[float, float]] = []  # per image (ground truth, prediction), metres

    def reject(self, item: dict, reason: str) -> None:
        if not self.skip_bad:
            raise LitedepthError(reason)
        self.skipped.append({"name": item.get("name", ""), "source": item.get("source", ""), "reason": reason})

    def usable(self, batch: list[dict]) -> list[dict]:
        """The items of ``batch`` that loaded and have a valid ground-truth pixel; the others are rejected."""
        good = []
        for item in batch:
            if "error" in item:
                self.reject(item, item["error"])
            elif not bool(valid_mask(self.proto, item["depth"][None]).any()):
                self.reject(
                    item, f"{item['source']}: no valid ground-truth depth pixel under protocol {self.proto.name}"
                )
            else:
                good.append(item)
        return good

    def score(self, model, items: list[dict], device: torch.device) -> None:
        """Predict and score ``items`` (same image and depth shapes) in one forward pass."""
        proto = self.proto
        x = torch.stack([it["image"] for it in items]).to(device)
        gt = torch.stack([it["depth"] for it in items]).to(device)
        pred = _forward(model, x)
        if pred.shape[-2:] != gt.shape[-2:]:
            pred = F.interpolate(pred, size=gt.shape[-2:], mode="bilinear", align_corners=True)
        mask = valid_mask(proto, gt)
        if proto.eval_crop is not None and tuple(gt.shape[-2:]) != proto.eval_crop_reference:
            self.scaled_crops.add(tuple(gt.shape[-2:]))
        nonpos = nonpositive_count(pred, mask)
        self.medians += _medians(pred, gt, mask)
        pred, _ = align(pred, gt, mask, self.align, self.space, proto.max_depth)
        if proto.clamp:
            pred = pred.clamp(proto.min_depth, proto.max_depth)
        values, counts = compute_metrics(pred, gt, mask), valid_count(mask)
        for b, item in enumerate(items):
            row = {
                "name": item["name"],
                "source": item["source"],
                "n_valid": int(counts[b]),
                "nonpositive": int(nonpos[b]),
            }
            row.update({k: float(v[b]) for k, v in values.items()})
            self.per_image.append(row)
            if self.save_dir is not None:
                write_png16_mm(self.save_dir / f"{_safe_name(item['name'])}.png", pred[b, 0].float().cpu().numpy())

    def run(self, model, loader, device: torch.device, bar) -> None:
        for batch in loader:
            bar.update(len(batch))
            groups: dict[tuple, list[dict]] = {}
            for item in self.usable(batch):
                groups.setdefault((tuple(item["image"].shape), tuple(item["depth"].shape)), []).append(item)
            for items in groups.values():
                self.score(model, items, device)

    def notes(self) -> list[str]:
        """Notes on alignment, scaled Eigen crops and predictions <= 0."""
        notes = []
        if self.align != "none":
            how = "median scaling" if self.align == "median" else "least-squares scale and shift"
            how += f" in {self.space} space"
            notes.append(f"predictions aligned to the ground truth per image ({how}): relative depth, not metric")
        for h, w in sorted(self.scaled_crops):
            crop = scaled_eval_crop(self.proto, (h, w))
            rh, rw = self.proto.eval_crop_reference
            notes.append(
                f"Eigen crop defined for {rh}x{rw}; scaled to rows {crop[0]}:{crop[1]}, cols {crop[2]}:{crop[3]} for {h}x{w} ground truth"
            )
        nonpositive = sum(r["nonpositive"] for r in self.per_image)
        if nonpositive:
            n_img = sum(1 for r in self.per_image if r["nonpositive"])
            if self.proto.clamp:
                effect = f"they were clamped to {self.proto.min_depth} m before the metrics, as the protocol prescribes"
            else:
                effect = "following the authors' arithmetic, log10 is inf/NaN and negative predictions count as within every delta threshold"
            notes.append(f"{nonpositive} valid pixel(s) in {n_img} image(s) have a prediction <= 0; {effect}")
        return notes

    def overall_medians(self) -> tuple[float, float]:
        """Median over images of the per-image ground-truth and prediction medians (NaN: none finite)."""
        gts = [g for g, _ in self.medians if math.isfinite(g)]
        preds = [p for _, p in self.medians if math.isfinite(p)]
        return (float(np.median(gts)) if gts else math.nan), (float(np.median(preds)) if preds else math.nan)


def _run_device(model, device: str | torch.device | None) -> torch.device:
    """Where ``model`` runs: ``device`` (a network is moved there), else where its parameters are (CPU)."""
    if not isinstance(model, torch.nn.Module):
        return torch.device(device or "cpu")
    if device is not None:
        model.to(device)
        return torch.device(device)
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _open_data(data, split: str, depth_scale: float | None):
    """The dataset of ``data``: opened from a path (`litedepth.data.open_dataset`), or the object itself."""
    from ..data import open_dataset

    if isinstance(data, (str, os.PathLike)):
        return open_dataset(data, split=split, depth_scale=depth_scale)
    if depth_scale is not None:
        raise LitedepthError(
            f"depth_scale {depth_scale!r}: applies to a dataset path only; a dataset object reads depth its own way"
        )
    return data


def _input_size_note(proto: Protocol, input_size: tuple[int, int]) -> list[str]:
    if input_size == REFERENCE_INPUT_SIZE:
        return []
    how = f"centre crop {input_size[0]}x{input_size[1]}" if proto.crop_to_input else "no crop"
    return [
        f"protocol scaled to the network's input size: shorter side {shorter_side_for(input_size)}, {how} (reference: 240, 228x304)"
    ]


def evaluate(
    model,
    data,
    protocol: str | Protocol = "hu2021",
    batch_size: int = 1,
    device: str | torch.device | None = None,
    skip_bad: bool = False,
    progress: bool = True,
    split: str = "test",
    num_workers: int = 0,
    save_predictions: str | os.PathLike | None = None,
    depth_scale: float | None = None,
    align: str = "none",
    align_space: str = "depth",
) -> EvalResult:
    """Evaluate a depth network on a labeled dataset under a named protocol.

    Args:
        model: an ``nn.Module`` mapping normalised (B, 3, h, w) to (B, 1, h, w) metres (its
            ``input_size``, ``mean``, ``std`` attributes are used when present, else 228x304 and
            ImageNet's statistics: `litedepth.preprocess.stats_of`), or another callable doing the
            same (e.g. `litedepth.runtimes.onnx.OnnxDepthModel`).
        data: a dataset path (see `litedepth.data.open_dataset`) or a dataset yielding raw samples
            (``load(i)`` is used when present, else ``dataset[i]``).
        protocol: ``"hu2021"``, ``"eigen"`` or a `Protocol`.
        batch_size: images per forward pass (results equal batch size 1: the model runs in eval mode).
        device: where to run; None keeps the model where it is.
        skip_bad: leave out unreadable/invalid items (listed in ``result.skipped``) instead of raising.
        split: dataset split when ``data`` is a path.
        num_workers: DataLoader worker processes.
        save_predictions: folder for 16-bit PNG predictions in millimetres (``<name>.png``).
        depth_scale: raw depth units per metre when ``data`` is a path to generic RGB-D pairs
            (see `litedepth.data.RGBDDataset`; None: its default, millimetres). Refused for NYU
            layouts and ``.mat`` files, whose scale is fixed, and for a dataset object.
        align, align_space: per-image alignment before the metrics (`litedepth.evaluation.align`):
            ``none`` (the protocol's metric depth), ``median`` or ``lstsq``, fitted in ``depth`` or ``disparity`` space.

    Returns: `EvalResult` (``warnings``: a line when the ground truth's and the prediction's medians
    differ more than 3x, `scale_warning`). Raises `LitedepthError` naming the file for bad data unless ``skip_bad``.
    """
    proto = get_protocol(protocol)
    check_align(align, align_space)
    dataset = _open_data(data, split, depth_scale)
    input_size = tuple(int(v) for v in getattr(model, "input_size", REFERENCE_INPUT_SIZE))
    view = _ProtocolView(dataset, proto, input_size, *stats_of(model))
    loader = torch.utils.data.DataLoader(
        view, batch_size=max(1, int(batch_size)), shuffle=False, num_workers=num_workers, collate_fn=_collate_list
    )
    scorer = _Scorer(
        proto, skip_bad, Path(save_predictions) if save_predictions is not None else None, align, align_space
    )
    _score_all(model, loader, scorer, _run_device(model, device), progress)
    if not scorer.per_image:
        raise LitedepthError(
            f"{getattr(dataset, 'root', data) if not isinstance(data, (str, os.PathLike)) else data}: no image could be evaluated"
        )
    return _result(model, data, dataset, depth_scale, proto, input_size, scorer)


def _score_all(model, loader, scorer: _Scorer, device: torch.device, progress: bool) -> None:
    """Run ``scorer`` over ``loader`` with ``model`` in eval mode (its mode restored afterwards) and a progress bar."""
    from tqdm import tqdm

    is_module = isinstance(model, torch.nn.Module)
    was_training = is_module and model.training
    if is_module:
        model.eval()
    bar = tqdm(
        total=len(loader.dataset),
        desc=f"eval {scorer.proto.name}",
        unit="img",
        disable=not progress,
        file=sys.stderr,
        leave=False,
    )
    try:
        with torch.no_grad():
            scorer.run(model, loader, device, bar)
    finally:
        bar.close()
        if was_training:
            model.train()


def _result(
    model, data, dataset, depth_scale: float | None, proto: Protocol, input_size: tuple[int, int], scorer: _Scorer
) -> EvalResult:
    """The `EvalResult` of a finished run: metrics, notes, the depth-scale warning and provenance extras."""
    warning = scale_warning(*scorer.overall_medians(), *_depth_scale_in_use(data, dataset, depth_scale))
    extras = {"model_arch": getattr(model, "arch", type(model).__name__), "protocol_description": proto.description}
    extras["align"] = scorer.align
    if scorer.align != "none":
        extras["align_space"] = scorer.space
    if isinstance(data, (str, os.PathLike)):
        extras["data"] = str(data)
        if depth_scale is not None:
            extras["depth_scale"] = float(depth_scale)
    return EvalResult(
        protocol=proto.name,
        metrics=mean_over_images(scorer.per_image),
        per_image=scorer.per_image,
        skipped=scorer.skipped,
        nonpositive_pixels=sum(r["nonpositive"] for r in scorer.per_image),
        input_size=input_size,
        notes=_input_size_note(proto, input_size) + scorer.notes(),
        extras=extras,
        warnings=[warning] if warning else [],
    )
