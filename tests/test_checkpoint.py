import contextlib
import errno
import json
import signal

import pytest
import torch
from safetensors import safe_open

import litedepth
from litedepth.checkpoint import load_encoder_weights, save_model
from litedepth.errors import LitedepthError
from litedepth.models import create_model
from litedepth.models.mobilenetv2 import mobilenet_v2_features
from litedepth.models.resnet import resnet34_encoder


def randomise(model):
    """Random weights and non-trivial BN statistics, so a wrong load cannot pass."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5 if "running_var" in name else torch.randn_like(t) * 0.1)
    return model.eval()


def authors_student_file(tmp_path, prefix=""):
    model = randomise(create_model("hu2021-student"))
    path = tmp_path / "N_s_X_U_unlabel.pt"
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, path)
    return model, path


def test_round_trip_safetensors_with_metadata(tmp_path):
    model = randomise(create_model("hu2021-student", input_size=(114, 152)))
    path = save_model(
        model, tmp_path / "m.safetensors", training={"dataset": "synth", "teacher": "t.safetensors", "epochs": 3}
    )
    loaded = litedepth.load(path)
    assert loaded.arch == "hu2021-student" and loaded.input_size == (114, 152)
    assert loaded.metadata["training"] == {"dataset": "synth", "teacher": "t.safetensors", "epochs": 3}
    x = torch.randn(1, 3, 114, 152)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "litedepth" and json.loads(meta["mean"]) == [0.485, 0.456, 0.406]
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


@pytest.mark.parametrize("prefix", ["", "module."])
def test_authors_student_layout_loads(tmp_path, prefix):
    model, path = authors_student_file(tmp_path, prefix)
    for arch in ("hu2021-student", None):  # explicit, and guessed from the keys
        loaded = litedepth.load(path, arch=arch)
        x = torch.randn(1, 3, 228, 304)
        with torch.no_grad():
            assert torch.equal(model(x), loaded(x))


def test_authors_teacher_with_module_prefix(tmp_path):
    model = randomise(create_model("hu2021-teacher"))
    path = tmp_path / "N_t_X.pt"
    torch.save({"module." + k: v for k, v in model.state_dict().items()}, path)
    loaded = litedepth.load(path, arch="hu2021-teacher")
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_wrong_architecture_is_one_clear_line(tmp_path):
    _, path = authors_student_file(tmp_path)
    with pytest.raises(LitedepthError) as info:
        litedepth.load(path, arch="hu2021-teacher")
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    assert "missing" in msg and "unexpected" in msg and "E.conv1.weight" in msg and "E.mv2.0.0.weight" in msg


def test_mis_shaped_key_is_reported(tmp_path):
    state = create_model("hu2021-student").state_dict()
    state["R.conv2.weight"] = torch.zeros(1, 64, 3, 3)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(LitedepthError, match=r"mis-shaped.*R\.conv2\.weight \(1, 64, 3, 3\) vs \(1, 64, 5, 5\)"):
        litedepth.load(path, arch="hu2021-student")


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"weights": object()}, path)
    with pytest.raises(LitedepthError, match="not a loadable PyTorch state dict"):
        litedepth.load(path, arch="hu2021-student")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(LitedepthError, match="no such checkpoint"):
        litedepth.load(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(LitedepthError, match="not a readable safetensors"):
        litedepth.load(bad)


def test_weights_that_are_not_finite_are_refused_on_load(tmp_path):
    """What a diverged run leaves (NaN weights, an infinite BatchNorm variance) never loads for use."""
    model = randomise(create_model("fast-student", input_size=(48, 64)))
    save_model(model, tmp_path / "good.safetensors")
    assert litedepth.load(tmp_path / "good.safetensors").arch == "fast-student"
    model.state_dict()["E.mv2.0.1.running_var"][3] = float("inf")
    save_model(model, tmp_path / "inf.safetensors")
    with pytest.raises(LitedepthError, match=r"inf.safetensors: 1 of \d+ weight tensors hold NaN or infinite values"):
        litedepth.load(tmp_path / "inf.safetensors")
    _, path = authors_student_file(tmp_path)
    state = torch.load(path, weights_only=True)
    state["R.conv0.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, path)
    with pytest.raises(LitedepthError, match=r"N_s_X_U_unlabel.pt: .* \(first: R.conv0.weight\)"):
        litedepth.load(path)


@contextlib.contextmanager
def file_size_limit(size: int):
    """Writes past ``size`` bytes fail with EFBIG, as a full disk fails with ENOSPC (SIGXFSZ ignored meanwhile)."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_a_full_disk_is_an_os_error_naming_the_file(tmp_path):
    """torch and safetensors would say neither the file nor the cause; the writers keep the system's error."""
    from litedepth.errors import is_disk_full
    from litedepth.training.checkpoints import save_checkpoint

    model = create_model("fast-student", input_size=(48, 64))
    for path, write in (
        (tmp_path / "m.safetensors", lambda p: save_model(model, p)),
        (tmp_path / "last.pt", lambda p: save_checkpoint(p, {"model": model.state_dict()})),
    ):
        with file_size_limit(100_000), pytest.raises(OSError) as caught:
            write(path)
        assert caught.value.errno == errno.EFBIG and caught.value.filename == str(path) and is_disk_full(caught.value)
    assert list(tmp_path.iterdir()) == []  # no half-written or temporary file


def test_torchvision_mobilenet_weights_load_into_encoder(tmp_path):
    full = mobilenet_v2_features()
    state = {f"features.{k}": v for k, v in full.state_dict().items()}
    state["classifier.1.weight"] = torch.randn(1000, 1280)
    state["classifier.1.bias"] = torch.randn(1000)
    path = tmp_path / "mobilenet_v2-b0353104.pth"
    torch.save(state, path)
    model = create_model("hu2021-student")
    load_encoder_weights(model, path)
    assert torch.equal(model.E.mv2[16].conv[2].weight, full[16].conv[2].weight)


def test_torchvision_resnet_weights_load_into_encoder(tmp_path):
    enc = resnet34_encoder()
    state = dict(enc.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    path = tmp_path / "resnet34-b627a593.pth"
    torch.save(state, path)
    model = create_model("hu2021-teacher")
    load_encoder_weights(model, path)
    assert torch.equal(model.E.layer3[0].conv1.weight, enc.layer3[0].conv1.weight)
    with pytest.raises(LitedepthError, match="does not match the encoder of hu2021-student"):
        load_encoder_weights(create_model("hu2021-student"), path)
