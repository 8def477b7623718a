"""Named depth architectures: one plain dict from name to builder.

>>> model = create_model("hu2021-student")
>>> model(torch.zeros(1, 3, 228, 304)).shape
torch.Size([1, 1, 228, 304])
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import did_you_mean
from ..preprocess import IMAGENET_MEAN, IMAGENET_STD
from .decoder import MFF, ChannelAttention, Refine, UpBranch
from .depthnet import DepthNet
from .efficientnet_lite import EfficientNetLiteEncoder
from .fast import fast_decoder, fast_student, fast_student_lite, fast_student_separable
from .fastdepth import fastdepth
from .mobilenetv2 import MobileNetV2Encoder
from .resnet import ResNetEncoder, resnet18_encoder, resnet34_encoder, resnet50_encoder


def _hu2021(encoder, arch: str, input_size=(228, 304)) -> DepthNet:
    mff = MFF(encoder.channels)
    return DepthNet(encoder, mff, Refine(mff.out_channels), arch=arch, input_size=input_size)


def hu2021_student(input_size=(228, 304)) -> DepthNet:
    """The paper's student: MobileNetV2 ``features[:17]`` + MFF + R (1,673,905 parameters)."""
    return _hu2021(MobileNetV2Encoder(), "hu2021-student", input_size)


def hu2021_teacher(input_size=(228, 304)) -> DepthNet:
    """The paper's teacher: ResNet-34 + MFF + R (21,918,977 parameters)."""
    return _hu2021(resnet34_encoder(), "hu2021-teacher", input_size)


def hu2021_teacher_r50(input_size=(228, 304)) -> DepthNet:
    """A heavier teacher: ResNet-50 + the same MFF + R."""
    return _hu2021(resnet50_encoder(), "hu2021-teacher-r50", input_size)


def hu2021_teacher_r18(input_size=(228, 304)) -> DepthNet:
    """A lighter teacher: ResNet-18 + the same MFF + R."""
    return _hu2021(resnet18_encoder(), "hu2021-teacher-r18", input_size)


def lite0_student(input_size=(228, 304)) -> DepthNet:
    """EfficientNet-Lite0 + `fast-student`'s decoder (MFF + R at 1/4, 3x3 fusion and refinement)."""
    encoder = EfficientNetLiteEncoder("lite0")
    return DepthNet(encoder, *fast_decoder(encoder.channels), arch="lite0-student", input_size=input_size)


def lite0_student_paper(input_size=(228, 304)) -> DepthNet:
    """EfficientNet-Lite0 + the paper's decoder (MFF + R at 1/2): ``lite0-student``'s reference for parity."""
    return _hu2021(EfficientNetLiteEncoder("lite0"), "lite0-student-paper", input_size)


def lite2_teacher(input_size=(228, 304)) -> DepthNet:
    """EfficientNet-Lite2 + the paper's decoder (MFF + R)."""
    return _hu2021(EfficientNetLiteEncoder("lite2"), "lite2-teacher", input_size)


ARCHITECTURES: dict[str, Callable[..., DepthNet]] = {
    "hu2021-student": hu2021_student,
    "hu2021-teacher": hu2021_teacher,
    "hu2021-teacher-r18": hu2021_teacher_r18,
    "hu2021-teacher-r50": hu2021_teacher_r50,
    "fast-student": fast_student,
    "fast-student-separable": fast_student_separable,
    "fast-student-lite": fast_student_lite,
    "lite0-student": lite0_student,
    "lite0-student-paper": lite0_student_paper,
    "lite2-teacher": lite2_teacher,
    "fastdepth": fastdepth,  # Wofk et al. 2019, pruned: RGB / 255 in, metres out, 224x224
}


def create_model(name: str, **kwargs) -> DepthNet:
    """Build a freshly initialised network by name; ``kwargs`` go to its builder (e.g. ``input_size``)."""
    if name not in ARCHITECTURES:
        hint = did_you_mean(name, ARCHITECTURES, cutoff=0.6)
        raise ValueError(f"unknown architecture {name!r}{hint}; known: {', '.join(ARCHITECTURES)}")
    model = ARCHITECTURES[name](**kwargs)
    model.config = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    return model


__all__ = [
    "ARCHITECTURES",
    "create_model",
    "DepthNet",
    "MFF",
    "Refine",
    "UpBranch",
    "ChannelAttention",
    "MobileNetV2Encoder",
    "ResNetEncoder",
    "EfficientNetLiteEncoder",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]
