import pytest
import torch

from litedepth.deploy.flops import count_gflops, count_parameters
from litedepth.models import ARCHITECTURES, MobileNetV2Encoder, create_model
from litedepth.models.mobilenetv2 import mobilenet_v2_features


def test_paper_parameter_counts():
    assert count_parameters(create_model("hu2021-student")) == 1_673_905
    assert count_parameters(create_model("hu2021-teacher")) == 21_918_977


def test_student_gflops_match_paper():
    # The reference gives 8.04 GFLOPs (4.02 GMACs) at 228x304.
    assert count_gflops(create_model("hu2021-student"), (228, 304)) == pytest.approx(8.04, abs=0.01)


def test_authors_key_layout():
    student = create_model("hu2021-student").state_dict()
    assert len(student) == 334
    assert student["E.mv2.16.conv.3.running_var"].shape == (160,)
    assert student["MFF.att4.1.weight"].shape == (10, 160, 1, 1)
    assert student["MFF.up1.conv1.weight"].shape == (16, 24, 5, 5)
    assert student["MFF.conv.weight"].shape == (64, 64, 5, 5)
    assert student["R.conv2.weight"].shape == (1, 64, 5, 5) and student["R.conv2.bias"].shape == (1,)
    assert not any(k.startswith("E.mv2.17") for k in student)
    teacher = create_model("hu2021-teacher").state_dict()
    assert len(teacher) == 262
    assert teacher["E.layer4.2.bn2.running_mean"].shape == (512,)
    assert teacher["MFF.att1.1.weight"].shape == (4, 64, 1, 1)
    assert not any(k.startswith("E.fc") for k in teacher)


@pytest.mark.parametrize("size", [(64, 96), (57, 77)])
def test_output_matches_input_size(size):
    model = create_model("hu2021-student").eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, 1, *size)


def test_encoder_taps_and_strides():
    enc = MobileNetV2Encoder().eval()
    feats = enc(torch.randn(1, 3, 64, 96))
    assert [f.shape[1] for f in feats] == list(enc.channels)
    assert [f.shape[-1] for f in feats] == [96 // r for r in enc.reductions]


def test_encoder_matches_full_mobilenet_features():
    full = mobilenet_v2_features().eval()
    enc = MobileNetV2Encoder().eval()
    enc.mv2.load_state_dict(full[:17].state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(enc(x)[-1], full[:17](x))


def test_teacher_r50_builds():
    model = create_model("hu2021-teacher-r50").eval()
    assert model.E.channels == (256, 512, 1024, 2048)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1, 64, 64)


def test_unknown_architecture_lists_known_names():
    with pytest.raises(ValueError, match="did you mean 'hu2021-student'") as info:
        create_model("hu2021-studnet")
    assert all(name in str(info.value) for name in ARCHITECTURES)
