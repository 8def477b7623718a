"""The evaluation loop: `evaluate` a depth network on a labeled dataset under a named protocol.

The protocols (`PROTOCOLS`, `valid_mask`) are in `litedepth.evaluation.protocols`, the result
(`EvalResult`) in `litedepth.evaluation.result`, the depth-scale check (`scale_warning`) in
`litedepth.evaluation.scale_check`; all are importable from here too.

>>> result = evaluate(model, "nyu_root", protocol="hu2021")
>>> result.metrics["rmse"], result.n_images
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.base import unwrap_subset
from ..data.transforms import CenterCrop, ResizeShorter, ToTensor
from ..errors import LitedepthError
from ..fileio import write_png16_mm
from ..preprocess import REFERENCE_INPUT_SIZE, shorter_side_for, stats_of
from .align import align, check_align
from .metrics import compute_metrics, mean_over_images, nonpositive_count, valid_count
from .protocols import PROTOCOLS, Protocol, get_protocol, scaled_eval_crop, valid_mask
from .result import EvalResult
from .scale_check import KNOWN_SCALES, SCALE_RATIO, depth_scale_in_use, image_medians, scale_warning

__all__ = [
    "KNOWN_SCALES",
    "PROTOCOLS",
    "SCALE_RATIO",
    "EvalResult",
    "Protocol",
    "evaluate",
    "get_protocol",
    "scale_warning",
    "scaled_eval_crop",
    "valid_mask",
]


class _ProtocolView(torch.utils.data.Dataset):
    """Raw samples of ``dataset`` prepared for ``protocol``.

    A sample that cannot be read or prepared (a `LitedepthError`) becomes an ``{"error": ...}`` item
    for `_Scorer.usable` to reject; a transformed dataset (tensor images) is refused at once.
    """

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

    def _raw(self, index: int) -> dict:
        """The dataset's sample at ``index``; a `LitedepthError` when it cannot be read or has no ground truth."""
        ds, i = self._resolve(index)
        load = getattr(ds, "load", None)
        sample = load(i) if callable(load) else ds[i]
        if "depth" not in sample:
            raise LitedepthError(
                f"{self._source(index)}: no ground-truth depth (an unlabeled dataset cannot be evaluated)"
            )
        return sample

    def _prepare(self, sample: dict, index: int) -> dict:
        """A raw sample resized (and cropped) as the protocol says, as tensors; uncropped, the ground truth keeps its full size."""
        rng = np.random.default_rng(0)  # the protocol transforms are deterministic
        sample = {"image": sample["image"], "depth": sample["depth"], "name": str(sample.get("name", index))}
        if self.protocol.crop_to_input:
            return self.to_tensor(self.crop(self.resize_to_crop(sample, rng), rng))
        depth = sample.pop("depth")
        sample = self.to_tensor(self.resize({**sample, "_depth_keys": []}, rng))
        sample["depth"] = torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))[None]
        return sample

    def __getitem__(self, index: int) -> dict:
        try:
            sample = self._raw(index)
        except LitedepthError as exc:
            return {"error": str(exc), "name": str(index), "source": self._source(index)}
        if torch.is_tensor(sample["image"]):  # the caller's dataset, not one bad file: never skipped
            raise LitedepthError(
                f"{self._source(index)}: a transformed sample; evaluate() needs raw samples "
                "(PIL image + depth array): build the dataset with transform=None"
            )
        try:
            sample = self._prepare(sample, index)
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
        self.medians += image_medians(pred, gt, mask)
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
        device: where to run (a network is moved there, another callable gets its inputs there); None
            keeps a network where its parameters are, and runs another callable on the CPU.
        skip_bad: leave out unreadable/invalid items (listed in ``result.skipped``) instead of raising.
        split: dataset split when ``data`` is a path.
        num_workers: DataLoader worker processes.
        save_predictions: folder for the predictions as scored (aligned, clamped by the protocol) as
            16-bit PNGs in millimetres (``<name>.png``).
        depth_scale: raw depth units per metre when ``data`` is a path to generic RGB-D pairs
            (see `litedepth.data.RGBDDataset`; None: its default, millimetres). Refused for NYU
            layouts and ``.mat`` files, whose scale is fixed, and for a dataset object.
        align, align_space: per-image alignment before the metrics (`litedepth.evaluation.align`):
            ``none`` (the protocol's metric depth), ``median`` or ``lstsq``, fitted in ``depth`` or ``disparity`` space.

    Returns: `EvalResult` (``warnings``: a line when the ground truth's and the prediction's medians
    differ more than 3x, `scale_warning`). Raises `LitedepthError` naming the file for bad data unless ``skip_bad``
    (then when no image is left), and for a dataset of transformed samples.
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
    warning = scale_warning(*scorer.overall_medians(), *depth_scale_in_use(data, dataset, depth_scale))
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
