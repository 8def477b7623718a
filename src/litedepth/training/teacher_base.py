"""What every teacher owns: its input rule, its normalisation, its kind of output, and one call.

>>> teacher.depth(rgb)                       # (B, 3, H, W) RGB in 0..1 -> (B, 1, H, W) at the images' size
>>> teacher.depth(view, whole_shorter_side=101, flip=True, size=(48, 64))

`Teacher.depth` takes plain RGB in 0..1 (not normalised), resizes it to the teacher's own scale
by its `InputRule`, normalises it its own way (``mean``/``std`` in RGB 0..1 units), runs the
network (optionally on the mirrored image too, and at several scales), and resizes the
prediction back. Input conventions by name (`INPUTS`): ``rgb255`` (RGB 0..255), ``rgb01`` (RGB /
255), ``imagenet`` (ImageNet's mean and std). Kinds of output (`OUTPUTS`): ``metric`` (metres),
``relative`` (depth up to scale and shift), ``disparity`` (inverse depth up to scale and shift).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import LitedepthError
from ..preprocess import IMAGENET_MEAN, IMAGENET_STD, normalise

INPUTS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "rgb255": ((0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255)),  # x = RGB in 0..255
    "rgb01": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # x = RGB / 255
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),  # x = (RGB / 255 - mean) / std
}
OUTPUTS = {"metric": (False, "depth"), "relative": (True, "depth"), "disparity": (True, "disparity")}


def input_name(mean: Sequence[float], std: Sequence[float]) -> str:
    """The name of a normalisation in `INPUTS` (``mean=...,std=...`` for others)."""
    for name, (m, s) in INPUTS.items():
        if all(abs(a - b) < 1e-4 for a, b in zip((*mean, *std), (*m, *s))):
            return name
    return f"mean={list(mean)},std={list(std)}"


@dataclass(frozen=True)
class InputRule:
    """The sizes a teacher sees images at.

    * ``size`` alone: a fixed ``(H, W)`` input; every image is squeezed to it.
    * ``size`` and ``shorter_side``: the image is resized so its shorter side is ``shorter_side``
      (more where a side would be shorter than ``size``) and covered by crops of ``size``,
      averaged where they overlap (a network trained on such crops gives better targets so).
    * ``shorter_side`` alone: resized to it, the sides rounded to multiples of ``multiple``.
    * neither: the images as given (sides rounded to ``multiple``).
    """

    size: tuple[int, int] | None = None
    shorter_side: int | None = None
    multiple: int = 1

    @property
    def has_scale(self) -> bool:
        """Whether the teacher has a scale of its own (else it sees images at the scale it is given them)."""
        return self.size is not None or self.shorter_side is not None

    def describe(self) -> dict:
        return {
            "size": list(self.size) if self.size else None,
            "shorter_side": self.shorter_side,
            "multiple": self.multiple,
        }

    def view_size(self, h: int, w: int, whole_shorter_side: float, scale: float = 1.0) -> tuple[int, int]:
        """``(H, W)`` the teacher sees an ``h`` x ``w`` view at, for whole pictures of shorter side ``whole_shorter_side``."""
        if self.size is not None and self.shorter_side is None:
            return tuple(self.size)
        factor = scale * (self.shorter_side / whole_shorter_side if self.shorter_side else 1.0)
        if self.size is not None:  # at least as large as one crop
            factor = max(factor, self.size[0] / h, self.size[1] / w)
        m = max(1, int(self.multiple))
        return tuple(max(m, int(round(s * factor / m)) * m) for s in (h, w))


def tile_starts(length: int, window: int) -> list[int]:
    """Start offsets of the fewest windows of ``window`` pixels that cover ``length``, spread evenly.

    ``tile_starts(101, 96) == [0, 5]``; a window at least as long as ``length`` gives ``[0]`` (the whole axis).
    """
    if window >= length:
        return [0]
    n = -(-length // window)  # at least 2, as window < length
    return [round(i * (length - window) / (n - 1)) for i in range(n)]


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``x`` (B, C, H, W) resized bilinearly (antialiased when shrinking) to ``size``; unchanged at that size."""
    size = tuple(int(s) for s in size)
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def tiled(net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, crop: Sequence[int] | None) -> torch.Tensor:
    """``net`` over crops of ``crop`` covering ``x``, averaged where they overlap (``crop`` None: ``net(x)``)."""
    height, width = x.shape[-2:]
    if crop is None or (crop[0] >= height and crop[1] >= width):
        return net(x)
    total = torch.zeros(x.shape[0], 1, height, width, device=x.device)
    count = torch.zeros(1, 1, height, width, device=x.device)
    for top in tile_starts(height, crop[0]):
        for left in tile_starts(width, crop[1]):
            window = (..., slice(top, top + crop[0]), slice(left, left + crop[1]))
            total[window] += net(x[window])
            count[window] += 1
    return total / count


class Teacher:
    """A teacher: its conventions (``rule``, ``mean``/``std``, ``relative``/``output``) and `depth`.

    A subclass implements ``_run``: the network on a normalised ``(B, 3, h, w)`` input at a size
    its rule gives -> ``(B, 1, h', w')`` or ``(B, h', w')`` (any size; resized to ``(h, w)`` here).
    """

    kind: str = "base"
    mean: tuple[float, ...] = IMAGENET_MEAN  # x = (RGB in 0..1 - mean) / std is what the network takes
    std: tuple[float, ...] = IMAGENET_STD
    relative: bool = False  # true: output is only defined up to scale and shift
    output: str = "depth"  # "depth" (metres when not relative) or "disparity"
    rule: InputRule = InputRule()
    identity: str = ""  # changes whenever the teacher's predictions could change (cache key)
    source: str = ""

    @property
    def output_kind(self) -> str:
        """``metric``, ``relative`` or ``disparity`` (`OUTPUTS`)."""
        return next(k for k, v in OUTPUTS.items() if v == (self.relative, self.output))

    @property
    def has_scale(self) -> bool:
        """Whether the teacher has a scale of its own (else it sees images at the scale it is given them)."""
        return self.rule.has_scale

    def parameter_count(self) -> int | None:
        """The network's parameters (a torch model's, or the constants of a file's graph); None where unknown."""
        model = getattr(self, "model", None)
        return sum(p.numel() for p in model.parameters()) if isinstance(model, torch.nn.Module) else None

    def _run(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _net(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB 0..1 at the teacher's input size -> ``(B, 1, h, w)`` float32 at that size, on ``rgb``'s device."""
        out = self._run(normalise(rgb, self.mean, self.std))
        out = out[:, None] if out.ndim == 3 else out
        if out.ndim != 4 or out.shape[1] != 1:
            raise LitedepthError(
                f"{self.source}: output has shape {tuple(out.shape)}, expected (B, 1, h, w) or (B, h, w)"
            )
        return resize(out.float().to(rgb.device), rgb.shape[-2:])

    @torch.no_grad()
    def depth(
        self,
        images: torch.Tensor,
        whole_shorter_side: float | None = None,
        size: Sequence[int] | None = None,
        flip: bool = False,
        scales: Sequence[float] = (1.0,),
    ) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in 0..1 -> ``(B, 1, H, W)`` prediction (metres, or relative units).

        ``whole_shorter_side``: the shorter side, in these images' pixels, of the whole pictures
        they are views of (an augmented crop: the training scale); default their own. ``size``:
        the output's ``(H, W)`` (default the images'). ``flip``: averaged with the prediction on
        the mirrored images. ``scales``: averaged over these multiples of the teacher's scale.
        """
        images = images.float()
        h, w = images.shape[-2:]
        whole = float(whole_shorter_side or min(h, w))
        crop = self.rule.size if self.rule.shorter_side is not None else None
        total = None
        for scale in scales:
            x = resize(images, self.rule.view_size(h, w, whole, scale))
            pred = tiled(self._net, x, crop)
            if flip:
                pred = (pred + tiled(self._net, x.flip(-1), crop).flip(-1)) / 2
            pred = resize(pred, size or (h, w))
            total = pred if total is None else total + pred
        return total / len(scales)

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "source": self.source,
            "relative": self.relative,
            "output": self.output,
            "input": input_name(self.mean, self.std),
            "rule": self.rule.describe(),
            "identity": self.identity,
        }


def declared_rule(rule: InputRule, shorter_side: int | None, multiple: int | None) -> InputRule:
    """``rule`` with a declared shorter side and multiple in place of the file's (None: kept)."""
    return InputRule(
        rule.size,
        shorter_side if shorter_side is not None else rule.shorter_side,
        multiple if multiple is not None else rule.multiple,
    )


def content_identity(*parts: str) -> str:
    """A short id of strings (a teacher's files and conventions)."""
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]
