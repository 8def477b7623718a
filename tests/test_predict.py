import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import litedepth
from litedepth.checkpoint import save_model
from litedepth.cli import main
from litedepth.models import create_model


@pytest.fixture
def model_file(tmp_path):
    model = create_model("hu2021-student", input_size=(64, 96))
    with torch.no_grad():  # a positive bias so depth is in a plausible range for the PNG
        model.R.conv2.bias.fill_(2.0)
    return save_model(model, tmp_path / "student.safetensors")


def test_predict_api_accepts_path_pil_and_array(model_file, rgb_image):
    model = litedepth.load(model_file)
    from_path = model.predict(rgb_image)
    assert from_path.shape == (90, 120) and from_path.dtype == np.float32
    pil = Image.open(rgb_image)
    np.testing.assert_allclose(model.predict(pil), from_path)
    np.testing.assert_allclose(model.predict(np.asarray(pil)), from_path)
    batched = model.predict([rgb_image, pil.resize((50, 40))], batch_size=2)
    assert batched[0].shape == (90, 120) and batched[1].shape == (40, 50)
    np.testing.assert_allclose(batched[0], from_path, atol=1e-5)


def test_predict_cli_writes_16bit_png_in_mm(model_file, rgb_image, tmp_path):
    out = tmp_path / "out"
    code = main(["predict", str(rgb_image), "--model", str(model_file), "--out", str(out), "--save", "png16,npy,color"])
    assert code == 0
    png = Image.open(out / "room.png")
    assert png.size == (120, 90) and np.asarray(png).dtype == np.uint16
    metres = np.load(out / "room.npy")
    np.testing.assert_allclose(np.asarray(png) / 1000.0, np.clip(metres, 0, None), atol=0.0006)
    assert metres.mean() > 0.5
    assert Image.open(out / "room_color.png").size == (240, 90)


def test_predict_folder_and_glob(model_file, rgb_image, tmp_path):
    sub = rgb_image.parent / "more"
    sub.mkdir()
    Image.open(rgb_image).save(sub / "b.png")
    out = tmp_path / "out"
    assert main(["predict", str(rgb_image.parent / "more"), str(rgb_image.parent / "*.jpg"), "--model", str(model_file), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["b.png", "room.png"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "litedepth", *args], capture_output=True, text=True, timeout=120)


def test_bad_inputs_exit_2_with_one_line(model_file, rgb_image, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    cases = [
        (["predict", str(tmp_path / "missing.jpg"), "--model", str(model_file), "--out", str(out)], "missing.jpg: no such file"),
        (["predict", str(broken), "--model", str(model_file), "--out", str(out)], "broken.jpg: not a readable image"),
        (["predict", str(rgb_image), "--model", str(model_file), "--arch", "hu2021-teacher", "--out", str(out)], "not 'hu2021-teacher'"),
        (["info", "--model", str(tmp_path / "nope.pt"), "--arch", "hu2021-student"], "nope.pt: no such checkpoint file"),
    ]
    for argv, message in cases:
        result = run_cli(*argv)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert "Traceback" not in result.stderr
    assert not out.exists(), "nothing may be written when an input is bad"


def test_info_and_convert(tmp_path):
    model = create_model("hu2021-student")
    pt = tmp_path / "N_s_X.pt"
    torch.save(model.state_dict(), pt)
    result = run_cli("info", "--model", str(pt))
    assert result.returncode == 0 and "1,673,905" in result.stdout and "8.04" in result.stdout
    out = tmp_path / "converted.safetensors"
    assert main(["convert", str(pt), "--arch", "hu2021-student", "--out", str(out)]) == 0
    loaded = litedepth.load(out)
    assert loaded.metadata["training"]["converted_from"] == "N_s_X.pt"
    assert torch.equal(loaded.state_dict()["R.conv2.weight"], model.state_dict()["R.conv2.weight"])


def test_every_command_has_help():
    from litedepth.cli import COMMANDS

    result = run_cli("--help")
    assert result.returncode == 0
    for name in ("predict", "info", "convert"):
        assert name in result.stdout
        assert run_cli(name, "--help").returncode == 0
    assert set(COMMANDS) >= {"predict", "info", "convert", "eval", "train", "distill", "export", "bench", "reproduce", "synth"}
