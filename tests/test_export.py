"""ONNX export: parity with PyTorch for every architecture, metadata, CLI, ONNX-backed inference."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import randomise_bn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from litedepth.checkpoint import save_model  # noqa: E402
from litedepth.cli import main  # noqa: E402
from litedepth.deploy.export import export_onnx  # noqa: E402
from litedepth.errors import LitedepthError  # noqa: E402
from litedepth.hub import load  # noqa: E402
from litedepth.inference import predict  # noqa: E402
from litedepth.models import ARCHITECTURES, create_model  # noqa: E402
from litedepth.runtimes.onnx import OnnxDepthModel  # noqa: E402

SIZE = (64, 96)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_export_parity_every_architecture(arch, tmp_path):
    model = randomise_bn(create_model(arch, input_size=SIZE))
    path = tmp_path / f"{arch}.onnx"
    report = export_onnx(model, path)
    assert path.is_file() and report.max_abs_diff <= report.tolerance
    onnx_model = OnnxDepthModel(path)
    x = torch.randn(1, 3, *SIZE)
    with torch.no_grad():
        ref = model(x)
    out = onnx_model(x)
    assert out.shape == ref.shape == (1, 1, *SIZE)
    assert ref.abs().max() > 1e-3  # the comparison is not between two near-zero maps
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


@pytest.mark.parametrize("arch", ["hu2021-student", "fast-student"])
def test_dynamic_export_runs_other_batch_and_size(arch, tmp_path):
    model = randomise_bn(create_model(arch, input_size=SIZE))
    report = export_onnx(model, tmp_path / "m.onnx", dynamic=True)
    assert len(report.checked) == 3
    onnx_model = OnnxDepthModel(tmp_path / "m.onnx")
    x = torch.randn(3, 3, 70, 90)  # not a multiple of 32
    with torch.no_grad():
        ref = model(x)
    torch.testing.assert_close(onnx_model(x), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_static_export_rejects_other_size_and_splits_batches(tmp_path):
    model = randomise_bn(create_model("fast-student", input_size=SIZE))
    export_onnx(model, tmp_path / "m.onnx")
    onnx_model = OnnxDepthModel(tmp_path / "m.onnx")
    x = torch.randn(2, 3, *SIZE)
    with torch.no_grad():
        ref = model(x)
    torch.testing.assert_close(onnx_model(x), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    with pytest.raises(LitedepthError, match="exported for 64x96"):
        onnx_model(torch.randn(1, 3, 96, 96))


def test_metadata_round_trip(tmp_path):
    model = create_model("hu2021-student", input_size=SIZE)
    model.mean, model.std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    save_model(model, tmp_path / "s.safetensors", training={"dataset": "synthetic rooms", "epochs": 3})
    assert main(["export", "--model", str(tmp_path / "s.safetensors"), "--onnx", str(tmp_path / "s.onnx")]) == 0
    onnx_model = OnnxDepthModel(tmp_path / "s.onnx")
    assert onnx_model.arch == "hu2021-student"
    assert onnx_model.input_size == SIZE
    assert onnx_model.mean == (0.5, 0.5, 0.5) and onnx_model.std == (0.25, 0.25, 0.25)
    assert onnx_model.metadata["training"] == {"dataset": "synthetic rooms", "epochs": 3}


def test_export_failure_writes_nothing(tmp_path):
    model = create_model("fast-student", input_size=SIZE).eval()
    with pytest.raises(LitedepthError, match="differs from PyTorch"):
        export_onnx(model, tmp_path / "m.onnx", atol=-1.0, rtol=0.0)  # an impossible tolerance
    assert list(tmp_path.iterdir()) == []


def test_export_cli_errors(tmp_path, capsys):
    assert main(["export", "--model", str(tmp_path / "missing.safetensors"), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "missing.safetensors" in capsys.readouterr().err
    assert main(["export", "--model", "fast-student", "--onnx", str(tmp_path / "m.onnx"), "--size", "64by96"]) == 2
    assert not (tmp_path / "m.onnx").exists()


def test_export_cli_architecture_name_dynamic(tmp_path, capsys):
    out = tmp_path / "f.onnx"
    assert main(["export", "--model", "fast-student", "--onnx", str(out), "--size", "64x96", "--dynamic"]) == 0
    assert "max abs diff" in capsys.readouterr().out
    assert OnnxDepthModel(out).dynamic


def test_load_by_backend_and_predict_match_torch(tmp_path):
    model = randomise_bn(create_model("fast-student", input_size=SIZE))
    save_model(model, tmp_path / "f.safetensors")
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    torch_model = load(tmp_path / "f.safetensors")
    ort_model = load(tmp_path / "f.safetensors", backend="onnxruntime")
    assert isinstance(torch_model, torch.nn.Module) and isinstance(ort_model, OnnxDepthModel)
    ref, out = predict(torch_model, image), predict(ort_model, image)
    assert out.shape == ref.shape == (90, 120)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))
    export_onnx(model, tmp_path / "f.onnx")
    from_file = load(tmp_path / "f.onnx", arch="fast-student")
    # a static export takes one input size only: predict letterboxes the photo into it
    letterboxed = predict(torch_model, image, fit="letterbox")
    np.testing.assert_allclose(
        from_file.predict(image), letterboxed, rtol=1e-4, atol=1e-4 * float(np.abs(letterboxed).max())
    )
    with pytest.raises(LitedepthError, match="not 'hu2021-student'"):
        load(tmp_path / "f.onnx", arch="hu2021-student")
    with pytest.raises(LitedepthError, match="backend"):
        load(tmp_path / "f.safetensors", backend="tensorrt")


def test_int8_export(tmp_path, capsys):
    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(calib / f"{i}.png")
    out = tmp_path / "s.onnx"
    code = main(
        [
            "export",
            "--model",
            "hu2021-student",
            "--onnx",
            str(out),
            "--size",
            "64x96",
            "--int8",
            "--calibration",
            str(calib),
        ]
    )
    assert code == 0
    assert "INT8" in capsys.readouterr().out
    q = OnnxDepthModel(tmp_path / "s.int8.onnx")
    assert q.arch == "hu2021-student" and q.input_size == SIZE
    assert q(torch.randn(1, 3, *SIZE)).shape == (1, 1, *SIZE)
    assert main(["export", "--model", "hu2021-student", "--onnx", str(out), "--int8"]) == 2  # no --calibration


def test_int8_quantisation_keeps_logging_as_it_was_and_drops_the_quantizers_notes(tmp_path, capfd):
    import logging

    from litedepth.deploy.quantize import quantize_int8

    calib = tmp_path / "calib"
    calib.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, SIZE + (3,), dtype=np.uint8)).save(calib / "0.png")
    export_onnx(randomise_bn(create_model("fast-student", input_size=SIZE)), tmp_path / "m.onnx")
    root = logging.getLogger()
    before = (root.level, list(root.handlers), list(root.filters))
    capfd.readouterr()
    report = quantize_int8(tmp_path / "m.onnx", tmp_path / "m.int8.onnx", calib)
    assert report.calibration_images == 1 and (tmp_path / "m.int8.onnx").is_file()
    assert (root.level, list(root.handlers), list(root.filters)) == before
    err = capfd.readouterr().err
    assert "Expected bias" not in err and "pre-processing" not in err, err


def test_predict_and_eval_cli_onnxruntime_backend_match_torch(tmp_path):
    from litedepth.synth.dataset import write_dataset

    model = randomise_bn(create_model("hu2021-student", input_size=(48, 64)))
    with torch.no_grad():
        model.R.conv2.bias.fill_(2.0)
    ckpt = save_model(model, tmp_path / "m.safetensors")
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", "--model", str(ckpt), "--onnx", str(onnx_path), "--dynamic"]) == 0
    data = tmp_path / "data"
    write_dataset(data, 3, split="test", size=(60, 80), progress=False)
    images = str(data / "data" / "nyu2_test" / "*_colors.png")
    outputs = {}
    for label, argv in (
        ("torch", ["--model", str(ckpt)]),
        ("onnx-file", ["--model", str(onnx_path)]),
        ("ort-backend", ["--model", str(ckpt), "--backend", "onnxruntime"]),
    ):
        out = tmp_path / label
        assert main(["predict", images, *argv, "--out", str(out), "--save", "npy"]) == 0
        assert main(["eval", *argv, "--data", str(data), "--json", str(out / "m.json"), "--no-progress"]) == 0
        outputs[label] = (
            [np.load(p) for p in sorted(out.glob("*.npy"))],
            __import__("json").loads((out / "m.json").read_text()),
        )
    for label in ("onnx-file", "ort-backend"):
        for a, b in zip(outputs["torch"][0], outputs[label][0]):
            np.testing.assert_allclose(a, b, atol=1e-4)
        for key in ("rmse", "abs_rel", "delta1"):
            assert outputs[label][1][key] == pytest.approx(outputs["torch"][1][key], abs=1e-4)
    assert len(outputs["torch"][0]) == 3


@pytest.mark.parametrize(
    "opset,expected",
    [
        ("3", "--opset 3: not supported by this torch's ONNX exporter (use 17 or between 11 and "),
        ("99", "--opset 99: not supported by this torch's ONNX exporter (use 17 or between 11 and "),
        (
            "9",
            "--opset 9: too old for these networks, whose bilinear upsampling (align_corners) needs opset 11 or later (use 17 or between 11 and ",
        ),
    ],
    ids=["3", "99", "9"],
)
def test_export_cli_unsupported_opset_is_one_line(fast_model, tmp_path, capfd, opset, expected):
    from litedepth.runtimes.onnx_convert import opset_range

    out = tmp_path / "m.onnx"
    capfd.readouterr()
    assert main(["export", "--model", str(fast_model), "--onnx", str(out), "--opset", opset]) == 2
    captured = capfd.readouterr()  # file descriptors too: torch's exporter prints its graph there
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("litedepth export: error: "), captured.err[:500]
    assert expected in lines[0] and lines[0].endswith(f" and {opset_range()[1]})")
    assert "graph" not in captured.out and len(captured.out) < 200 and not out.exists()


def test_exporter_failure_is_one_line_and_its_graph_dump_is_dropped(capfd):
    """An operator the exporter cannot write: one line with the exporter's first line, no graph on stdout/stderr."""
    from litedepth.runtimes.onnx_convert import onnx_bytes

    class Inverts(torch.nn.Module):
        arch, input_size, mean, std = "inverts", (32, 32), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)

        def forward(self, x):
            return torch.linalg.inv(x[:, :1])

    capfd.readouterr()
    with pytest.raises(LitedepthError) as info:
        onnx_bytes(Inverts(), opset=17, fold_bn=False)
    message = str(info.value)
    assert "\n" not in message and message.startswith("--opset 17: this torch's ONNX exporter cannot export inverts (")
    assert "linalg_inv" in message and len(message) < 300
    captured = capfd.readouterr()
    assert "Torch IR graph" not in captured.out + captured.err
    with pytest.raises(LitedepthError, match=r"--opset 17.0: expected a whole number"):
        onnx_bytes(Inverts(), opset=17.0)
