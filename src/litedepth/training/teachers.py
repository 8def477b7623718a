"""Teachers for distillation: every kind answers `Teacher.depth` (`litedepth.training.teacher_base`).

A teacher owns its conventions: the sizes it sees images at (`InputRule`), its input
normalisation, and its kind of output (metric depth in metres, or relative depth or disparity,
defined up to scale and shift). One call gives its prediction at the images' own size:

>>> teacher = load_teacher("runs/nyu-teacher/model.safetensors")
>>> teacher.depth(torch.rand(2, 3, 480, 640)).shape          # RGB in 0..1, not normalised
torch.Size([2, 1, 480, 640])

Kinds (chosen from the path):

* a litedepth ``.safetensors``, an authors' ``.pt`` or ``hu2021:NAME`` (the authors' released
  networks, e.g. ``hu2021:N_t_X``; `litedepth.hub`) -> `TorchTeacher` (metric; crops of its input
  size at its training scale);
* an ``.onnx`` file -> `OnnxTeacher` (``litedepth[onnx]``), a ``.tflite`` file -> `TFLiteTeacher`
  (``litedepth[litert]``): conventions from the file (litedepth metadata, a TFLite's
  quantisation), else declared (`load_teacher`'s ``input``, ``output``, ``shorter_side``, ``multiple``);
* a folder with a Hugging Face ``config.json`` -> `HFTeacher` (``litedepth[hf]``);
* a list of any of these -> `EnsembleTeacher`: the mean of their predictions.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from ..errors import LitedepthError
from ..fileio import file_identity
from ..hub import load
from ..preprocess import shorter_side_for, stats_of
from ..pretrained import FASTDEPTH_PREFIX, HU2021_PREFIX, hu2021_file
from .teacher_base import INPUTS, OUTPUTS, InputRule, Teacher, declared_rule, input_name, tile_starts
from .teacher_files import HFTeacher, OnnxTeacher, TFLiteTeacher, check_name

__all__ = [
    "INPUTS",
    "OUTPUTS",
    "EnsembleTeacher",
    "HFTeacher",
    "InputRule",
    "OnnxTeacher",
    "TFLiteTeacher",
    "Teacher",
    "TorchTeacher",
    "load_teacher",
    "tile_starts",
]


class TorchTeacher(Teacher):
    """A litedepth network (from our ``.safetensors``, an authors' ``.pt`` or in memory).

    Its rule: crops of its ``input_size`` at the scale it was trained at (`shorter_side_for` its
    input size; declare another with ``shorter_side``), tiled over the image and averaged where
    they overlap (measured: as good as the network on its own training crops).
    """

    kind = "litedepth"

    def __init__(
        self, model: torch.nn.Module, device: str | torch.device = "cpu", identity: str = "", source: str = ""
    ) -> None:
        self.model = model.to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.device = torch.device(device)
        self.source = source or getattr(model, "arch", "model")
        self.identity = identity or _state_identity(model)
        self.input_size = tuple(int(v) for v in getattr(model, "input_size", (228, 304)))
        self.mean, self.std = stats_of(model)  # the network's own normalisation
        self.rule = InputRule(self.input_size, shorter_side_for(self.input_size))

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.device))


def _state_identity(model: torch.nn.Module) -> str:
    h = hashlib.sha1(str(getattr(model, "arch", "")).encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class EnsembleTeacher(Teacher):
    """The mean prediction of several teachers of one kind of output (all metric, or all relative in one space).

    Each member sees the images by its own rule and normalisation.
    """

    kind = "ensemble"

    def __init__(self, members: list[Teacher]) -> None:
        if len(members) < 2:
            raise LitedepthError("an ensemble needs at least two teachers")
        first = members[0]
        for member in members[1:]:
            if member.output_kind != first.output_kind:
                raise LitedepthError(
                    f"{member.source}: predicts {member.output_kind} depth, {first.source} {first.output_kind} depth; "
                    "an ensemble averages one kind of output"
                )
        self.members = list(members)
        self.relative, self.output = first.relative, first.output
        self.identity = "ensemble-" + hashlib.sha1(" ".join(t.identity for t in members).encode()).hexdigest()[:16]
        self.source = " + ".join(t.source for t in members)

    @property
    def has_scale(self) -> bool:
        return any(t.has_scale for t in self.members)

    def parameter_count(self) -> int | None:
        counts = [m.parameter_count() for m in self.members]
        return None if None in counts else sum(counts)

    @torch.no_grad()
    def depth(self, images: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        """The mean of the members' `Teacher.depth` (same arguments)."""
        return sum(t.depth(images, *args, **kwargs) for t in self.members) / len(self.members)

    def describe(self) -> dict:
        return {**super().describe(), "members": [t.describe() for t in self.members]}


def load_teacher(
    spec: str | os.PathLike | torch.nn.Module | Teacher | list,
    arch: str | None = None,
    device: str | torch.device = "cpu",
    input: str | None = None,
    output: str | None = None,
    shorter_side: int | None = None,
    multiple: int | None = None,
) -> Teacher:
    """Open a teacher from a path (see the module docstring), an in-memory network, or pass one through.

    ``arch`` names the architecture of an authors' ``.pt`` file. The rest declares conventions a
    file does not hold (refused on one line where the file says otherwise): ``input`` (`INPUTS`:
    ``rgb255``, ``rgb01``, ``imagenet``), ``output`` (`OUTPUTS`: ``metric``, ``relative``,
    ``disparity``), ``shorter_side`` and ``multiple`` (the scale of a teacher of any input size; a
    fixed-size one is then tiled). A list (or tuple) of specs opens an `EnsembleTeacher`.
    """
    declared = {"input": input, "output": output, "shorter_side": shorter_side, "multiple": multiple}
    check_name(input, INPUTS, "--teacher-input")
    check_name(output, OUTPUTS, "--teacher-output")
    if isinstance(spec, Teacher):
        return spec
    if isinstance(spec, (list, tuple)):
        members = [load_teacher(s, arch=arch, device=device, **declared) for s in spec]
        if not members:
            raise LitedepthError("an empty list of teachers")
        return members[0] if len(members) == 1 else EnsembleTeacher(members)
    teacher = _open(spec, arch, device, declared)
    if isinstance(teacher, TorchTeacher):
        _declared_for_network(teacher, declared)
    return teacher


def _open(spec, arch: str | None, device, declared: dict) -> Teacher:
    if isinstance(spec, torch.nn.Module):
        return TorchTeacher(spec, device=device)
    if isinstance(spec, str) and spec.startswith(HU2021_PREFIX):  # the authors' teacher, downloaded once
        model = load(spec, arch=arch, device=device)
        identity = f"{model.arch}-{file_identity(hu2021_file(spec))}"
        return TorchTeacher(model, device=device, identity=identity, source=spec)
    if isinstance(spec, str) and spec.startswith(FASTDEPTH_PREFIX):  # FastDepth's published weights, converted once
        model = load(spec, arch=arch, device=device)
        identity = f"{model.arch}-{file_identity(model.metadata['file'])}"
        return TorchTeacher(model, device=device, identity=identity, source=spec)
    path = Path(spec)
    if isinstance(spec, str) and ":" in spec and not path.exists():  # another network by name (litedepth.hub)
        model = load(spec, arch=arch, device=device)
        return TorchTeacher(model, device=device, source=spec)
    if not path.exists():
        raise LitedepthError(f"{path}: no such teacher file or folder")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise LitedepthError(f"{path}: a teacher folder must be a Hugging Face model with config.json")
        return HFTeacher(path, device=device, **declared)
    if path.suffix.lower() == ".onnx":
        return OnnxTeacher(path, **declared)
    if path.suffix.lower() == ".tflite":
        return TFLiteTeacher(path, **declared)
    model = load(path, arch=arch, device=device)
    return TorchTeacher(model, device=device, identity=f"{model.arch}-{file_identity(path)}", source=str(path))


def _declared_for_network(teacher: TorchTeacher, declared: dict) -> None:
    """A litedepth network says its own input and output: a declaration may only agree; its scale may be declared."""
    why = "its litedepth metadata"
    own = input_name(teacher.mean, teacher.std)
    if declared["input"] is not None and declared["input"] != own:
        raise LitedepthError(
            f"{teacher.source}: --teacher-input {declared['input']} contradicts {why}, which says {own}"
        )
    if declared["output"] not in (None, "metric"):
        raise LitedepthError(
            f"{teacher.source}: --teacher-output {declared['output']} contradicts {why}, which says metric"
        )
    teacher.rule = declared_rule(teacher.rule, declared["shorter_side"], declared["multiple"])
