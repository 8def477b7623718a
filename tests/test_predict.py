import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import litedepth
from conftest import files_under, one_line_error, randomise_bn, write_image
from litedepth.checkpoint import save_model
from litedepth.cli import main
from litedepth.models import create_model
from litedepth.outputs import read_marker


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
    assert (
        main(
            [
                "predict",
                str(rgb_image.parent / "more"),
                str(rgb_image.parent / "*.jpg"),
                "--model",
                str(model_file),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert files_under(out) == ["b.png", "room.png"] and read_marker(out) == {"kind": "predict"}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "litedepth", *args], capture_output=True, text=True, timeout=120)


def test_bad_inputs_exit_2_with_one_line(model_file, rgb_image, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    cases = [
        (
            ["predict", str(tmp_path / "missing.jpg"), "--model", str(model_file), "--out", str(out)],
            "missing.jpg: no such file",
        ),
        (["predict", str(broken), "--model", str(model_file), "--out", str(out)], "broken.jpg: not a readable image"),
        (
            ["predict", str(rgb_image), "--model", str(model_file), "--arch", "hu2021-teacher", "--out", str(out)],
            "not 'hu2021-teacher'",
        ),
        (
            ["info", "--model", str(tmp_path / "nope.pt"), "--arch", "hu2021-student"],
            "nope.pt: no such checkpoint file",
        ),
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
    assert set(COMMANDS) >= {
        "predict",
        "info",
        "convert",
        "eval",
        "train",
        "distill",
        "export",
        "bench",
        "reproduce",
        "synth",
    }


def test_predict_refuses_to_write_over_its_inputs(fast_model, tmp_path, capsys):
    photos = tmp_path / "photos"
    write_image(photos / "a.png", seed=1)
    write_image(photos / "b.jpg", seed=2)
    before = {name: (photos / name).read_bytes() for name in files_under(photos)}
    line = one_line_error(capsys, ["predict", str(photos), "--model", str(fast_model), "--out", str(photos)])
    assert f"--out {photos}: holds {photos / 'a.png'}, an input of this command" in line
    assert "choose another folder" in line
    assert {name: (photos / name).read_bytes() for name in files_under(photos)} == before  # b.png not written either
    # the same folder reached through a symbolic link: resolved paths are compared
    link = tmp_path / "link"
    link.symlink_to(photos)
    line = one_line_error(
        capsys,
        ["predict", str(photos / "b.jpg"), str(photos / "a.png"), "--model", str(fast_model), "--out", str(link)],
    )
    assert f"--out {link}: holds {photos / 'b.jpg'}, an input" in line and files_under(photos) == sorted(before)
    # an output of one input landing on another input: a.jpg's a.png is the input a.png
    write_image(photos / "a.jpg", seed=3)
    line = one_line_error(
        capsys,
        [
            "predict",
            str(photos / "a.jpg"),
            str(photos / "a.png"),
            "--model",
            str(fast_model),
            "--out",
            str(photos),
            "--save",
            "npy,png16",
        ],
    )
    assert f"--out {photos}: holds {photos / 'a.jpg'}, an input of this command" in line
    assert (photos / "a.png").read_bytes() == before["a.png"] and not (photos / "a.npy").exists()


def test_predict_keeps_the_folder_structure(fast_model, tmp_path):
    nyu = tmp_path / "nyu"
    write_image(nyu / "room1" / "0.jpg", seed=1)
    write_image(nyu / "room2" / "0.jpg", seed=2, size=(30, 44))
    write_image(nyu / "room2" / "deeper" / "1.png", seed=3)
    out = tmp_path / "out"
    assert main(["predict", str(nyu), "--model", str(fast_model), "--out", str(out), "--save", "png16,color"]) == 0
    assert files_under(out) == [
        "room1/0.png",
        "room1/0_color.png",
        "room2/0.png",
        "room2/0_color.png",
        "room2/deeper/1.png",
        "room2/deeper/1_color.png",
    ]
    assert Image.open(out / "room2" / "0.png").size == (44, 30) and Image.open(out / "room1" / "0.png").size == (56, 40)
    # glob matches and single files: relative to their common parent folder
    globbed = tmp_path / "globbed"
    assert (
        main(
            [
                "predict",
                str(nyu / "room*" / "0.jpg"),
                str(nyu / "room2" / "deeper" / "1.png"),
                "--model",
                str(fast_model),
                "--out",
                str(globbed),
                "--save",
                "npy",
            ]
        )
        == 0
    )
    assert files_under(globbed) == ["room1/0.npy", "room2/0.npy", "room2/deeper/1.npy"]
    single = tmp_path / "single"
    assert main(["predict", str(nyu / "room2" / "0.jpg"), "--model", str(fast_model), "--out", str(single)]) == 0
    assert files_under(single) == ["0.png"]


def test_predict_refuses_two_inputs_with_one_output(fast_model, tmp_path, capsys):
    photos = tmp_path / "photos"
    write_image(photos / "a.jpg", seed=1)
    write_image(photos / "a.png", seed=2)
    out = tmp_path / "out"
    line = one_line_error(capsys, ["predict", str(photos), "--model", str(fast_model), "--out", str(out)])
    assert f"{photos / 'a.jpg'} and {photos / 'a.png'}: both would be written to {out / 'a.png'}" in line
    assert not out.exists()
    # a file reached twice (its folder and itself) is one input, not a collision
    assert (
        main(["predict", str(photos / "a.jpg"), str(photos / "a.jpg"), "--model", str(fast_model), "--out", str(out)])
        == 0
    )
    assert files_under(out) == ["a.png"]
    # a colour output may collide with another input's depth map
    write_image(tmp_path / "b" / "x.jpg", seed=3)
    write_image(tmp_path / "b" / "x_color.jpg", seed=4)
    line = one_line_error(
        capsys,
        [
            "predict",
            str(tmp_path / "b"),
            "--model",
            str(fast_model),
            "--out",
            str(tmp_path / "bout"),
            "--save",
            "png16,color",
        ],
    )
    assert "both would be written to" in line and "x_color.png" in line and not (tmp_path / "bout").exists()


def test_predict_truncated_jpeg_stops_before_any_output(fast_model, tmp_path, capsys):
    photos = tmp_path / "photos"
    for i in range(3):
        write_image(photos / f"{i}.jpg", seed=i)
    truncated = write_image(photos / "1.jpg", seed=9, size=(120, 160), quality=95)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    with Image.open(truncated) as img:  # the header check alone lets it through
        img.verify()
    out = tmp_path / "out"
    line = one_line_error(
        capsys,
        [
            "predict",
            str(photos),
            "--model",
            str(fast_model),
            "--out",
            str(out),
            "--save",
            "png16,npy,color",
            "--batch-size",
            "1",
        ],
    )
    assert f"{truncated}: not a readable image" in line and "truncated" in line
    assert not out.exists(), "no output may be written when an input is bad"


def test_predict_bad_arguments_exit_2_with_one_line(fast_model, rgb_image, tmp_path, capsys):
    a_file = write_image(tmp_path / "some.jpg")
    out = tmp_path / "out"
    base = ["predict", str(rgb_image), "--model", str(fast_model)]
    cases = [
        (["--out", str(a_file)], f"--out {a_file}: is a file, not a folder"),
        (["--out", str(a_file / "x")], f"{a_file} is a file, so no folder can be made under it"),
        (
            ["--out", str(out), "--save", "color", "--cmap", "magmaa"],
            "--cmap 'magmaa': not a matplotlib colormap; did you mean magma",
        ),
        (["--out", str(out), "--device", "gpu0"], "--device 'gpu0': not a torch device"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--out", str(out), "--device", "cuda"], "--device cuda: cuda is not available to this torch"))
    for extra, message in cases:
        assert message in one_line_error(capsys, base + extra)
    assert not out.exists()
    # eval loads its network through the same function, so it checks --device the same way
    assert "not a torch device" in one_line_error(
        capsys, ["eval", "--model", str(fast_model), "--data", str(tmp_path), "--device", "gpu0"]
    )


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_predict_read_only_out_exits_2(fast_model, rgb_image, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        line = one_line_error(
            capsys, ["predict", str(rgb_image), "--model", str(fast_model), "--out", str(locked / "out")]
        )
        assert f"{locked} is not writable" in line
        assert main(["predict", str(rgb_image), "--model", str(fast_model), "--out", str(locked)]) == 2
    finally:
        locked.chmod(0o755)
    assert files_under(locked) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, where no folder can be made")
def test_predict_out_that_cannot_be_created_exits_2(fast_model, rgb_image, capsys):
    line = one_line_error(
        capsys, ["predict", str(rgb_image), "--model", str(fast_model), "--out", "/proc/litedepth-test/out"]
    )
    assert "--out /proc/litedepth-test/out:" in line


def _photo(height: int, width: int, seed: int = 0) -> Image.Image:
    """A smooth scene-like gradient with texture, so that a network's output varies across the image."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([200 * x + 30, 150 * y + 50 * np.sin(9 * x), 120 * (1 - y) + 60 * np.cos(7 * y)], axis=-1)
    return Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))


def test_predict_runs_the_whole_image_at_the_training_scale():
    """640x480 -> 320x240 (shorter side 240, as training and evaluation resize), padded to 320x256, run whole, resized back."""
    from litedepth.inference import network_view, predict

    model = randomise_bn(litedepth.create_model("fast-student", input_size=(228, 304)))
    photo = _photo(480, 640)
    depth = predict(model, photo)
    assert depth.shape == (480, 640)
    x, (h, w) = network_view(photo, model.input_size, model.mean, model.std, "whole")
    assert x.shape == (1, 3, 256, 320) and (h, w) == (240, 320)
    with torch.no_grad():
        whole = model(x)[:, :, :240, :320]
    expected = torch.nn.functional.interpolate(whole, size=(480, 640), mode="bilinear", align_corners=True)[
        0, 0
    ].numpy()
    np.testing.assert_allclose(depth, expected, rtol=1e-5, atol=1e-6)
    # the hu2021 view of the same photo is the centre 228x304 crop of that 240x320 image: on it, the
    # network sees the same pixels at the same scale, and only context and stride alignment differ
    crop = _centre_crop(x[..., :240, :320], 228, 304)
    with torch.no_grad():
        on_crop = model(crop)[0, 0].numpy()
    ours = _centre_crop(whole, 228, 304)[0, 0].numpy()
    assert _median_change(ours, on_crop) < 0.02


def _median_change(a: np.ndarray, b: np.ndarray) -> float:
    """Median absolute difference relative to the median magnitude of ``b``."""
    return float(np.median(np.abs(a - b)) / np.median(np.abs(b)))


def _centre_crop(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    top, left = (t.shape[-2] - h) // 2, (t.shape[-1] - w) // 2
    return t[..., top : top + h, left : left + w]


def test_predict_keeps_the_aspect_ratio_of_wide_photos():
    """A photo and the same photo twice side by side give nearly the same depth on the first copy."""
    from litedepth.inference import postprocess, predict, preprocess

    model = randomise_bn(litedepth.create_model("fast-student", input_size=(228, 304)))
    photo = _photo(240, 320, seed=1)
    twice = Image.new("RGB", (640, 240))
    twice.paste(photo, (0, 0))
    twice.paste(photo, (320, 0))
    alone, doubled = predict(model, [photo, twice])
    assert doubled.shape == (240, 640)
    change = _median_change(doubled[:, :320], alone)
    with torch.no_grad():  # what stretching every photo to the input size (the old behaviour) gives
        squeezed = postprocess(model(preprocess([twice], model.input_size, model.mean, model.std))[0], (240, 640))
    assert change < 0.02 and change < _median_change(squeezed[:, :320], alone) / 3


def test_letterbox_for_networks_of_one_input_size():
    from litedepth.inference import network_view, predict

    model = randomise_bn(litedepth.create_model("fast-student", input_size=(64, 96)))
    x, (h, w) = network_view(_photo(400, 1200), model.input_size, model.mean, model.std, "letterbox")
    assert x.shape == (1, 3, 64, 96) and (h, w) == (32, 96)  # 3:1 kept, padded below
    depth = predict(model, _photo(400, 1200), fit="letterbox")
    assert depth.shape == (400, 1200) and np.isfinite(depth).all()
    with pytest.raises(litedepth.LitedepthError, match="fit 'stretch'"):
        predict(model, _photo(40, 60), fit="stretch")


def test_predict_files_from_python_writes_what_the_command_writes(model_file, rgb_image, tmp_path):
    from litedepth.apps.predict_files import predict_files
    from litedepth.apps.predict_options import FocalSource, OutputOptions

    lines = []
    output = OutputOptions(kinds=("npy", "ply"), ply_stride=2)
    predict_files(
        [str(rgb_image)],
        tmp_path / "lib",
        str(model_file),
        output=output,
        focal=FocalSource(pixels=500.0),
        report=lines.append,
    )
    argv = ["predict", str(rgb_image), "--model", str(model_file), "--save", "npy,ply", "--ply-stride", "2"]
    assert main([*argv, "--focal", "500", "--out", str(tmp_path / "cli")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "lib" / "room.npy"), np.load(tmp_path / "cli" / "room.npy"))
    assert (tmp_path / "lib" / "room.ply").read_bytes() == (tmp_path / "cli" / "room.ply").read_bytes()
    assert len(lines) == 1 and lines[0].startswith(
        f"wrote 1 depth map(s) to {tmp_path / 'lib'}; depth rescaled to focal 500 px"
    )


def test_focal_source_one_order_for_photos_and_videos(model_file):
    from litedepth.apps.predict_options import FocalSource

    trained = litedepth.load(model_file).camera
    assert FocalSource.parse("500").focal_px(640) == 500.0
    assert FocalSource.parse(None, 90.0).focal_px(640) == pytest.approx(320.0)
    assert FocalSource.parse("exif").focal_px(640, exif_px=700.0) == 700.0
    assert FocalSource.parse(None).focal_px(640) is None and "give --focal or --fov" in FocalSource().describe(trained)
    both = FocalSource(pixels=500.0, fov=90.0)  # not from the command line (one or the other): --fov first
    assert both.focal_px(640) == pytest.approx(320.0) and "field of view 90 deg (--fov)" in both.describe(trained)
    with pytest.raises(litedepth.LitedepthError, match="--focal abc"):
        FocalSource.parse("abc")
