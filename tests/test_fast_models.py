"""The fast students: same interface as the paper's networks, they train, save and load."""

import pytest
import torch

from litedepth.checkpoint import load_state_strict, save_model
from litedepth.hub import load
from litedepth.models import create_model

FAST = ["fast-student", "fast-student-separable", "fast-student-lite"]


@pytest.mark.parametrize("arch", FAST)
@pytest.mark.parametrize("size", [(64, 96), (70, 90), (228, 304)])
def test_forward_shape(arch, size):
    model = create_model(arch, input_size=size).eval()
    assert {"E", "MFF", "R"} <= {name for name, _ in model.named_children()}
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, 1, *size) and torch.isfinite(out).all()


@pytest.mark.parametrize("arch", FAST)
def test_parameter_count_and_student_encoder(arch):
    model = create_model(arch)
    n = sum(p.numel() for p in model.parameters())
    print(f"{arch}: {n:,} parameters")
    assert 1_000_000 < n < 3_000_000
    # Same encoder as the paper's student: its (ImageNet-initialised) encoder weights load strictly.
    student = create_model("hu2021-student")
    load_state_strict(model.E, student.E.state_dict(), "hu2021-student", "the fast student's encoder")
    assert all(torch.equal(a, b) for a, b in zip(model.E.state_dict().values(), student.E.state_dict().values()))


def test_fast_student_is_the_paper_decoder_at_stride_4():
    fast, student = create_model("fast-student").state_dict(), create_model("hu2021-student").state_dict()
    assert fast.keys() == student.keys()
    reshaped = {k for k in fast if fast[k].shape != student[k].shape}
    assert reshaped == {"MFF.conv.weight", "R.conv0.weight"}
    assert fast["MFF.conv.weight"].shape == fast["R.conv0.weight"].shape == (64, 64, 3, 3)


@pytest.mark.parametrize(("arch", "stride"), [("hu2021-student", 2), ("fast-student", 4)])
def test_decoder_resolution(arch, stride):
    model = create_model(arch, input_size=(64, 96)).eval()
    with torch.no_grad():
        fused = model.MFF(model.E(torch.randn(1, 3, 64, 96)))
        refined = model.R(fused)
    assert fused.shape == (1, 64, 64 // stride, 96 // stride)
    assert refined.shape == (1, 1, 64 // stride, 96 // stride)


def test_trains_through_the_standard_interface():
    torch.manual_seed(0)
    model = create_model("fast-student", input_size=(64, 96)).train()
    x = torch.randn(4, 3, 64, 96)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 96), indexing="ij")
    target = (1.0 + 2.0 * yy + xx).expand(4, 1, 64, 96)  # a smooth "floor" depth in metres
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss = (model(x) - target).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_save_load_round_trip(tmp_path):
    model = create_model("fast-student", input_size=(64, 96))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.eval()
    path = save_model(model, tmp_path / "fast.safetensors", training={"note": "round trip"})
    loaded = load(path)
    assert loaded.arch == "fast-student" and loaded.input_size == (64, 96)
    assert loaded.metadata["training"] == {"note": "round trip"}
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
