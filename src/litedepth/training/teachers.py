"""Teachers for distillation behind one small interface.

A teacher maps a ``(B, 3, H, W)`` tensor normalised with its ``mean``/``std`` (ImageNet's unless
the teacher says otherwise) to a ``(B, 1, H, W)`` prediction at the same size: metric depth in
metres, or, for relative-depth teachers (``relative=True``), an affine-invariant map in
``output`` space (``"depth"`` or ``"disparity"``, i.e. inverse depth).

>>> teacher = load_teacher("runs/nyu-teacher/model.safetensors")
>>> teacher.predict_tensor(torch.zeros(2, 3, 228, 304)).shape
torch.Size([2, 1, 228, 304])

Kinds (chosen from the path):

* a litedepth ``.safetensors``, an authors' ``.pt`` or ``hu2021:NAME`` (the authors' released
  networks, e.g. ``hu2021:N_t_X``; `litedepth.hub`) -> `TorchTeacher` (metric depth);
* an ``.onnx`` file -> `OnnxTeacher` (needs ``pip install litedepth[onnx]``); a file exported from
  a litedepth network is metric; pass ``relative=True`` for others;
* a folder with a Hugging Face ``config.json`` -> `HFTeacher` (needs ``litedepth[hf]``): metric when
  the model's config says ``depth_estimation_type: metric``, else relative disparity
  (e.g. Depth Anything "relative" checkpoints);
* a list of any of these -> `EnsembleTeacher`: the mean of their predictions.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import LitedepthError
from ..hub import HU2021_PREFIX, hu2021_file, load
from ..preprocess import IMAGENET_MEAN, IMAGENET_STD, renormalise, stats_of


def file_identity(path: Path) -> str:
    """A short id of a file's content: SHA-1 of its bytes (teacher files change rarely, so hashing is cheap)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


class Teacher:
    """Base class. ``predict_tensor(x) -> (B, 1, H, W)``; attributes below describe the input and the output."""

    kind: str = "base"
    mean: tuple[float, ...] = IMAGENET_MEAN  # the normalisation ``predict_tensor`` expects (default: ImageNet)
    std: tuple[float, ...] = IMAGENET_STD
    relative: bool = False  # true: output is only defined up to scale and shift
    output: str = "depth"  # "depth" (metres when not relative) or "disparity"
    identity: str = ""  # changes whenever the teacher's predictions could change (cache key)
    source: str = ""

    def predict_tensor(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict_tensor(x)

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "source": self.source,
            "relative": self.relative,
            "output": self.output,
            "identity": self.identity,
        }


class TorchTeacher(Teacher):
    """A litedepth network (from our ``.safetensors``, an authors' ``.pt`` or in memory)."""

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
        self.input_size = tuple(getattr(model, "input_size", (228, 304)))
        self.mean, self.std = stats_of(model)  # the network's own normalisation

    @torch.no_grad()
    def predict_tensor(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.device)).float()


def _state_identity(model: torch.nn.Module) -> str:
    h = hashlib.sha1(str(getattr(model, "arch", "")).encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class OnnxTeacher(Teacher):
    """An ONNX model taking one normalised ``(B, 3, H, W)`` float32 input.

    The normalisation (``mean``, ``std``) is the file's ``litedepth.mean``/``litedepth.std``
    metadata where present (a `litedepth export` file), else ImageNet's. The output may be
    ``(B, 1, h, w)``, ``(B, h, w)`` or ``(1, h, w)``; it is resized bilinearly to ``(H, W)``. A
    model with a fixed input size gets its input resized to that size first.
    """

    kind = "onnx"

    def __init__(
        self, path: str | os.PathLike, relative: bool = False, output: str = "depth", providers: list[str] | None = None
    ) -> None:
        from ..runtimes.onnx import open_session, session_metadata

        self.path = Path(path)
        label = str(self.path)
        self.session = open_session(self.path, label, providers=providers)  # one line without onnxruntime
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise LitedepthError(
                f"{self.path}: expected one (B, 3, H, W) input, found {[(i.name, i.shape) for i in inputs]}"
            )
        self.input_name = inputs[0].name
        shape = inputs[0].shape
        self.fixed_size = (shape[2], shape[3]) if all(isinstance(s, int) for s in shape[2:]) else None
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self.relative, self.output = bool(relative), output
        meta = session_metadata(self.session, label)  # a litedepth export's normalisation, else ImageNet's
        self.mean = tuple(meta.get("mean", IMAGENET_MEAN))
        self.std = tuple(meta.get("std", IMAGENET_STD))
        self.source = str(self.path)
        self.identity = f"onnx-{file_identity(self.path)}-{int(relative)}{output}"

    @torch.no_grad()
    def predict_tensor(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[-2:])
        inp = x.detach().float().cpu()
        if self.fixed_size is not None and tuple(self.fixed_size) != size:
            inp = F.interpolate(inp, size=self.fixed_size, mode="bilinear", align_corners=False)
        chunks = [inp] if self.fixed_batch is None else list(inp.split(self.fixed_batch))
        outs = [torch.from_numpy(self.session.run(None, {self.input_name: c.numpy()})[0]) for c in chunks]
        out = torch.cat(outs).float()
        if out.ndim == 3:
            out = out[:, None]
        if out.ndim != 4 or out.shape[1] != 1:
            raise LitedepthError(
                f"{self.path}: output has shape {tuple(out.shape)}, expected (B, 1, h, w) or (B, h, w)"
            )
        if tuple(out.shape[-2:]) != size:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out.to(x.device)


class HFTeacher(Teacher):
    """A Hugging Face ``transformers`` depth model (``AutoModelForDepthEstimation``) from a local folder.

    Takes ImageNet-normalised input (its ``mean``/``std``) and renormalises it to the model's own
    ``image_mean``/``image_std`` (``model_mean``/``model_std``, from ``preprocessor_config.json``;
    ImageNet when absent; `litedepth.preprocess.renormalise`), resizes to the nearest multiple of
    ``multiple`` (14 for ViT-patch models like Depth Anything), and resizes ``predicted_depth``
    back to the input size. Never downloads.
    """

    kind = "hf"

    def __init__(self, folder: str | os.PathLike, device: str | torch.device = "cpu", multiple: int = 14) -> None:
        try:
            from transformers import AutoModelForDepthEstimation
        except ImportError:
            raise LitedepthError(
                f"{folder}: Hugging Face teachers need transformers (pip install 'litedepth[hf]')"
            ) from None
        self.folder = Path(folder)
        try:
            self.model = AutoModelForDepthEstimation.from_pretrained(str(self.folder), local_files_only=True)
        except Exception as exc:
            raise LitedepthError(
                f"{self.folder}: not a loadable transformers depth model ({str(exc).splitlines()[0]})"
            ) from None
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.multiple = int(multiple)
        kind = getattr(self.model.config, "depth_estimation_type", "relative")
        self.relative = kind != "metric"
        self.output = "disparity" if self.relative else "depth"
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        pre = self.folder / "preprocessor_config.json"
        if pre.is_file():
            try:
                spec = json.loads(pre.read_text())
                mean, std = tuple(spec.get("image_mean", mean)), tuple(spec.get("image_std", std))
            except (json.JSONDecodeError, OSError):
                raise LitedepthError(f"{pre}: not a readable preprocessor config") from None
        self.model_mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.model_std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.source = str(self.folder)
        weights = sorted(self.folder.glob("*.safetensors")) + sorted(self.folder.glob("*.bin"))
        ident = hashlib.sha1((self.folder / "config.json").read_bytes())
        for w in weights:
            ident.update(file_identity(w).encode())
        self.identity = f"hf-{ident.hexdigest()[:16]}"

    @torch.no_grad()
    def predict_tensor(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[-2:])
        inp = renormalise(x.float(), (self.mean, self.std), (self.model_mean, self.model_std))
        m = self.multiple
        target = tuple(max(m, int(round(s / m)) * m) for s in size)
        if target != size:
            inp = F.interpolate(inp, size=target, mode="bicubic", align_corners=False)
        out = self.model(pixel_values=inp.to(self.device)).predicted_depth
        out = out[:, None] if out.ndim == 3 else out
        return F.interpolate(out.float(), size=size, mode="bilinear", align_corners=False).to(x.device)


class EnsembleTeacher(Teacher):
    """The mean prediction of several teachers of one kind of output (all metric, or all relative in one space).

    Takes the first member's normalisation and input size; members with another normalisation
    get the input renormalised to theirs.
    """

    kind = "ensemble"

    def __init__(self, members: list[Teacher]) -> None:
        if len(members) < 2:
            raise LitedepthError("an ensemble needs at least two teachers")
        first = members[0]
        for member in members[1:]:
            if (member.relative, member.output) != (first.relative, first.output):
                kind, expected = (f"{'relative' if t.relative else 'metric'} {t.output}" for t in (member, first))
                raise LitedepthError(
                    f"{member.source}: predicts {kind}, {first.source} {expected}; "
                    "an ensemble averages one kind of output"
                )
        self.members = list(members)
        self.mean, self.std = stats_of(first)
        self.relative, self.output = first.relative, first.output
        if getattr(first, "input_size", None) is not None:
            self.input_size = first.input_size
        self.identity = "ensemble-" + hashlib.sha1(" ".join(t.identity for t in members).encode()).hexdigest()[:16]
        self.source = " + ".join(t.source for t in members)

    @torch.no_grad()
    def predict_tensor(self, x: torch.Tensor) -> torch.Tensor:
        total = None
        for member in self.members:
            own = stats_of(member)
            inputs = (
                x if own == (self.mean, self.std) else renormalise(x, from_stats=(self.mean, self.std), to_stats=own)
            )
            pred = member.predict_tensor(inputs).float().to(x.device)
            total = pred if total is None else total + pred
        return total / len(self.members)

    def describe(self) -> dict:
        return {**super().describe(), "members": [t.describe() for t in self.members]}


def load_teacher(
    spec: str | os.PathLike | torch.nn.Module | Teacher | list,
    arch: str | None = None,
    device: str | torch.device = "cpu",
    relative: bool | None = None,
) -> Teacher:
    """Open a teacher from a path (see the module docstring), an in-memory network, or pass one through.

    ``arch`` names the architecture of an authors' ``.pt`` file; ``relative`` overrides the
    relative/metric flag of ONNX teachers (default metric). A list (or tuple) of specs opens an
    `EnsembleTeacher` (one spec: that teacher alone).
    """
    if isinstance(spec, Teacher):
        return spec
    if isinstance(spec, (list, tuple)):
        members = [load_teacher(s, arch=arch, device=device, relative=relative) for s in spec]
        if not members:
            raise LitedepthError("an empty list of teachers")
        return members[0] if len(members) == 1 else EnsembleTeacher(members)
    if isinstance(spec, torch.nn.Module):
        return TorchTeacher(spec, device=device)
    if isinstance(spec, str) and spec.startswith(HU2021_PREFIX):  # the authors' teacher, downloaded once
        model = load(spec, arch=arch, device=device)
        identity = f"{model.arch}-{file_identity(hu2021_file(spec))}"
        return TorchTeacher(model, device=device, identity=identity, source=spec)
    path = Path(spec)
    if not path.exists():
        raise LitedepthError(f"{path}: no such teacher file or folder")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise LitedepthError(f"{path}: a teacher folder must be a Hugging Face model with config.json")
        return HFTeacher(path, device=device)
    if path.suffix.lower() == ".onnx":
        return OnnxTeacher(path, relative=bool(relative))
    model = load(path, arch=arch, device=device)
    return TorchTeacher(model, device=device, identity=f"{model.arch}-{file_identity(path)}", source=str(path))
