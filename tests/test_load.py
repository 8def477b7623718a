"""One way in: `litedepth.load` for every kind of model spec, and every command's --model through it."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import litedepth
from conftest import randomise_bn
from litedepth.cli import main
from litedepth.deploy.flops import count_gflops, count_parameters
from litedepth.errors import LitedepthError

SIZE = (48, 64)


@pytest.fixture
def net():
    """A small network with non-trivial weights (identical tensors would be merged by the ONNX exporter)."""
    model = randomise_bn(litedepth.create_model("fast-student", input_size=SIZE))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 1e-3)
    return model.eval()


@pytest.fixture
def onnx_file(net, tmp_path):
    pytest.importorskip("onnxruntime")
    from litedepth.deploy.export import export_onnx

    path = tmp_path / "net.onnx"
    export_onnx(net, path)
    return path


def _photo(tmp_path, size=(60, 80)):
    rng = np.random.default_rng(0)
    path = tmp_path / "photos" / "room.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def _same_output(model, loaded, atol=0.0):
    x = torch.randn(1, 3, *SIZE)
    with torch.no_grad():
        ref, out = model(x), loaded(x)
    assert ref.abs().max() > 1e-3
    if atol:
        torch.testing.assert_close(out, ref, rtol=atol, atol=atol * float(ref.abs().max()))
    else:
        assert torch.equal(out, ref)


def test_load_safetensors_pt_and_onnx(net, tmp_path, onnx_file):
    ours = litedepth.save_model(net, tmp_path / "net.safetensors")
    loaded = litedepth.load(ours)
    assert isinstance(loaded, litedepth.models.DepthNet)
    assert loaded.arch == "fast-student" and loaded.input_size == SIZE and loaded.device == torch.device("cpu")
    _same_output(net, loaded)

    pt = tmp_path / "net.pt"
    torch.save(net.state_dict(), pt)
    loaded = litedepth.load(str(pt), arch="fast-student", device="cpu")
    assert loaded.arch == "fast-student" and loaded.input_size == (228, 304)  # a plain state dict holds no size
    _same_output(net, loaded)

    from litedepth.runtimes.onnx import OnnxDepthModel

    loaded = litedepth.load(str(onnx_file))
    assert isinstance(loaded, OnnxDepthModel) and not hasattr(loaded, "parameters")
    assert loaded.arch == "fast-student" and loaded.input_size == SIZE and loaded.device == torch.device("cpu")
    _same_output(net, loaded, atol=1e-4)
    assert litedepth.load(onnx_file, arch="fast-student").static_size == SIZE
    with pytest.raises(LitedepthError, match="not 'hu2021-student'"):
        litedepth.load(onnx_file, arch="hu2021-student")
    # ONNX Runtime here runs on the CPU only: another device is one line, before anything loads
    with pytest.raises(LitedepthError, match=r"net\.onnx: an ONNX model runs on CPU only.*not cuda") as info:
        litedepth.load(onnx_file, device="cuda")
    assert "\n" not in str(info.value)


def test_load_takes_a_device_and_no_other_name_for_it(net, tmp_path):
    path = litedepth.save_model(net, tmp_path / "net.safetensors")
    assert litedepth.load(path, device="cpu").device == torch.device("cpu")
    with pytest.raises(TypeError, match="map_location"):
        litedepth.load(path, map_location="cpu")
    with pytest.raises(LitedepthError, match="device 'gpu7': not a torch device"):
        litedepth.load(path, device="gpu7")


def test_load_architecture_name_warns(tmp_path):
    with pytest.warns(litedepth.UntrainedWeightsWarning, match="fast-student.*fresh.*meaningless"):
        model = litedepth.load("fast-student")
    assert model.arch == "fast-student" and model.input_size == (228, 304) and not model.training
    assert model.metadata["format"] == "untrained"
    with pytest.raises(LitedepthError, match="names another"):
        litedepth.load("fast-student", arch="hu2021-student")


def test_load_bad_spec_is_one_line(tmp_path):
    with pytest.raises(LitedepthError) as info:
        litedepth.load("fast-studnet")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("fast-studnet: neither a model file nor an architecture name")
    assert "did you mean 'fast-student'" in msg
    with pytest.raises(LitedepthError, match=r"nope\.onnx: no such ONNX file"):
        litedepth.load(str(tmp_path / "nope.onnx"))
    with pytest.raises(LitedepthError, match="a folder, not a model file"):
        litedepth.load(tmp_path)


def test_load_threads_and_backend(net, onnx_file, tmp_path):
    from litedepth.runtimes.onnx import OnnxDepthModel

    assert litedepth.load(onnx_file, threads=1).static_size == SIZE
    with pytest.warns(litedepth.UntrainedWeightsWarning):
        fresh = litedepth.load("fast-student", backend="onnxruntime")
    assert isinstance(fresh, OnnxDepthModel) and fresh.dynamic and fresh.arch == "fast-student"
    with pytest.raises(LitedepthError, match="CPU only"):
        litedepth.load(onnx_file, backend="onnxruntime", device="cuda")
    with pytest.raises(LitedepthError, match="backend 'tensorrt'"):
        litedepth.load(onnx_file, backend="tensorrt")


def test_predict_info_eval_accept_an_architecture_name(tmp_path, capsys):
    photo = _photo(tmp_path)
    out = tmp_path / "out"
    assert main(["predict", str(photo), "--model", "fast-student", "--out", str(out), "--save", "npy"]) == 0
    assert np.load(out / "room.npy").shape == (60, 80)
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and err[0].startswith("warning: fast-student: an architecture name") and "meaningless" in err[0]
    )

    assert main(["info", "--model", "hu2021-student"]) == 0
    captured = capsys.readouterr()
    assert "1,673,905" in captured.out and "8.04" in captured.out and "warning:" in captured.err

    from litedepth.synth.dataset import write_dataset

    data = tmp_path / "data"
    write_dataset(data, 2, split="test", size=(60, 80), progress=False)
    js = tmp_path / "m.json"
    assert main(["eval", "--model", "fast-student", "--data", str(data), "--json", str(js), "--no-progress"]) == 0
    assert json.loads(js.read_text())["n_images"] == 2
    assert "warning: fast-student" in capsys.readouterr().err

    assert main(["predict", str(photo), "--model", "fast-studnet", "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fast-studnet: neither a model file nor an architecture name" in err[0]


def test_info_on_onnx_counts_the_graph(net, onnx_file, capsys):
    from litedepth.runtimes.fold_batchnorm import fold_batchnorm

    assert main(["info", "--model", str(onnx_file)]) == 0
    out = capsys.readouterr().out
    # export folds BatchNorm into the convolutions: the graph holds the folded network's parameters
    folded = count_parameters(fold_batchnorm(net))
    assert folded < count_parameters(net)
    assert f"parameters   : {folded:,} (ONNX graph initializers" in out
    assert f"GFLOPs       : {count_gflops(net, SIZE):.2f} at 48x64" in out  # the same count as torch's
    assert "GFLOPs       : 0.00" not in out
    onnx_model = litedepth.load(onnx_file)
    assert count_gflops(onnx_model, SIZE) == pytest.approx(count_gflops(net, SIZE), rel=1e-9)
    assert main(["info", "--model", str(onnx_file), "--size", "64x64"]) == 2
    assert "exported for 48x64 inputs only" in capsys.readouterr().err


def test_info_on_dynamic_onnx_at_another_size(net, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from litedepth.deploy.export import export_onnx

    export_onnx(net, tmp_path / "d.onnx", dynamic=True)
    assert main(["info", "--model", str(tmp_path / "d.onnx"), "--size", "96x128"]) == 0
    assert f"GFLOPs       : {count_gflops(net, (96, 128)):.2f} at 96x128" in capsys.readouterr().out


def test_bench_keeps_finished_rows_when_a_model_fails(net, tmp_path, capsys):
    good = litedepth.save_model(net, tmp_path / "good.safetensors")
    js = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "--model",
            f"{good},no-such-net",
            "--backend",
            "torch",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--json",
            str(js),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert "good.safetensors" in captured.out and "images/s" in captured.out
    err = captured.err.strip().splitlines()
    assert sum("no-such-net: failed:" in line for line in err) == 1
    assert err[-1].startswith("litedepth bench: error: 1 of 2 model(s) failed: no-such-net")
    result = json.loads(js.read_text())
    assert {r["model"] for r in result["results"]} == {str(good)}
    assert [f["model"] for f in result["failed"]] == ["no-such-net"]


def test_bench_uses_each_models_own_size(net, onnx_file, tmp_path, capsys):
    good = litedepth.save_model(net, tmp_path / "good.safetensors")
    js = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "--model",
            f"{good},{onnx_file}",
            "--backend",
            "torch,onnxruntime",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--json",
            str(js),
        ]
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads(js.read_text())
    assert result["settings"]["size"] is None
    assert {(r["model"], r["backend"]) for r in result["results"]} == {
        (str(good), "torch"),
        (str(good), "torch-optimised"),
        (str(good), "onnxruntime"),
        (str(onnx_file), "onnxruntime"),
    }
    assert all(r["size"] == list(SIZE) for r in result["results"])
    onnx_row = next(r for r in result["results"] if r["model"] == str(onnx_file))
    assert onnx_row["params"] == count_parameters(litedepth.load(onnx_file)) > 0 and onnx_row["gflops"] > 0
    assert "48x64" in capsys.readouterr().out
    # a fixed --size that a static ONNX file cannot take: that model fails on one line, the other is kept
    code = main(
        [
            "bench",
            "--model",
            f"{onnx_file},{good}",
            "--backend",
            "onnxruntime",
            "--size",
            "64x64",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--json",
            str(js.with_name("bench64.json")),
        ]
    )  # a new file: outputs are not overwritten
    assert code == 2
    err = capsys.readouterr().err
    assert "exported for 48x64 inputs only, not 64x64" in err
    result = json.loads(js.with_name("bench64.json").read_text())
    assert [(r["model"], r["size"]) for r in result["results"]] == [(str(good), [64, 64])]


def test_export_takes_a_network_not_an_onnx_file(onnx_file, tmp_path, capsys):
    assert main(["export", "--model", str(onnx_file), "--onnx", str(tmp_path / "again.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already an ONNX model" in err[0] and not (tmp_path / "again.onnx").exists()


def test_predict_given_a_folder_says_it_is_one_and_points_at_the_cli(net, tmp_path):
    photo = _photo(tmp_path)
    model = litedepth.load(litedepth.save_model(net, tmp_path / "net.safetensors"))
    assert model.predict(str(photo)).shape == (60, 80)
    for folder in (photo.parent, str(photo.parent)):
        with pytest.raises(LitedepthError) as info:
            model.predict(folder)
        message = str(info.value)
        assert message.startswith(f"{photo.parent}: a folder, not an image; predict takes an image or a list")
        assert f"litedepth predict {photo.parent} --model" in message and "\n" not in message
    with pytest.raises(LitedepthError, match="a folder, not an image"):
        model.predict([photo, photo.parent])
