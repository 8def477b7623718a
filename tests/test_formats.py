"""``export --format``: OpenVINO, NCNN, Core ML and LiteRT files, checked against PyTorch, loaded back, INT8, bench."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import litedepth
from conftest import one_line_error, randomise_bn, write_image
from litedepth.checkpoint import save_model
from litedepth.cli import main
from litedepth.errors import LitedepthError
from litedepth.inference import predict

SIZE = (64, 96)


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


needs_openvino = pytest.mark.skipif(not _has("openvino") or not _has("nncf"), reason="needs litedepth[openvino]")
needs_ncnn = pytest.mark.skipif(not _has("ncnn") or not _has("pnnx"), reason="needs litedepth[ncnn]")
needs_coreml = pytest.mark.skipif(not _has("coremltools"), reason="needs litedepth[coreml]")
needs_litert_torch = pytest.mark.skipif(
    not _has("litert_torch") or not _has("ai_edge_litert"),
    reason="needs litedepth[litert-export] (litert-torch, about 1 GB, kept out of the default test extras)",
)


@pytest.fixture
def ckpt(tmp_path):
    """fast-student at 64x96 with non-trivial BatchNorm and a positive bias, so that depths are O(1) metres."""
    model = randomise_bn(litedepth.create_model("fast-student", input_size=SIZE))
    with torch.no_grad():
        model.R.conv2.bias.fill_(1.5)
    return save_model(model, tmp_path / "f.safetensors", training={"dataset": "unit test"})


def _export(tmp_path, ckpt, fmt, out, *extra):
    assert main(["export", "--model", str(ckpt), "--format", fmt, "--out", str(tmp_path / out), *extra]) == 0
    return tmp_path / out


def _same_as_torch(ckpt, loaded, rtol=1e-4):
    net = litedepth.load(ckpt)
    x = torch.randn(1, 3, *SIZE)
    with torch.no_grad():
        ref = net(x)
    out = loaded(x)
    assert out.shape == ref.shape == (1, 1, *SIZE) and ref.abs().max() > 1e-3
    torch.testing.assert_close(out, ref, rtol=rtol, atol=rtol * float(ref.abs().max()))


@needs_openvino
def test_openvino_export_loads_and_matches_torch(tmp_path, ckpt, capsys):
    from litedepth.runtimes.openvino import OpenVinoDepthModel

    xml = _export(tmp_path, ckpt, "openvino", "f.xml")
    out = capsys.readouterr().out
    assert "[openvino]" in out and "letterboxed" in out and "max abs diff" in out
    assert xml.with_suffix(".bin").is_file() and sorted(p.name for p in tmp_path.iterdir()) == [
        "f.bin",
        "f.safetensors",
        "f.xml",
    ]
    model = litedepth.load(xml, arch="fast-student", threads=1)
    assert isinstance(model, OpenVinoDepthModel) and model.static_size == SIZE and not model.dynamic
    assert model.input_size == SIZE and model.metadata["training"] == {"dataset": "unit test"}
    _same_as_torch(ckpt, model)
    dynamic = _export(tmp_path, ckpt, "openvino", "d.xml", "--dynamic")
    loaded = litedepth.load(dynamic)
    assert loaded.dynamic and loaded(torch.randn(2, 3, 96, 128)).shape == (2, 1, 96, 128)
    with pytest.raises(LitedepthError, match="runs in OpenVINO, not with backend 'onnxruntime'"):
        litedepth.load(xml, backend="onnxruntime")


SIGNAL_STACK_PROBE = """
import ctypes, sys
import torch, litedepth

class Stack(ctypes.Structure):
    _fields_ = [("sp", ctypes.c_void_p), ("flags", ctypes.c_int), ("size", ctypes.c_size_t)]

def stack():
    s = Stack()
    ctypes.CDLL(None).sigaltstack(None, ctypes.byref(s))
    return s.sp, s.flags, s.size

before = stack()
model = litedepth.load(sys.argv[1])
model(torch.zeros(1, 3, 64, 96))
print("same" if stack() == before else f"changed {before} -> {stack()}")
"""


@needs_openvino
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack probe through Linux's libc")
def test_openvino_leaves_the_threads_signal_stack_as_it_was(tmp_path, ckpt):
    # OpenVINO's CPU plugin replaces the compiling thread's alternate signal stack and frees it later; Python's
    # signal handlers run on it, so a child's SIGCHLD then crashed the process (in a fresh process: first compile)
    xml = _export(tmp_path, ckpt, "openvino", "f.xml")
    done = subprocess.run([sys.executable, "-c", SIGNAL_STACK_PROBE, str(xml)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "same"


@needs_openvino
def test_openvino_backend_for_networks_and_onnx_files(tmp_path, ckpt):
    from litedepth.runtimes.openvino import OpenVinoDepthModel

    onnx_file = _export(tmp_path, ckpt, "onnx", "f.onnx")
    via_openvino = litedepth.load(onnx_file, backend="openvino")
    assert isinstance(via_openvino, OpenVinoDepthModel) and via_openvino.metadata["format"] == "onnx"
    _same_as_torch(ckpt, via_openvino)
    network = litedepth.load(ckpt, backend="openvino")
    assert isinstance(network, OpenVinoDepthModel) and network.dynamic
    _same_as_torch(ckpt, network)


@needs_openvino
def test_predict_and_eval_run_an_openvino_ir(tmp_path, ckpt, capsys):
    from litedepth.synth.dataset import write_dataset

    xml = _export(tmp_path, ckpt, "openvino", "f.xml")
    data = tmp_path / "data"
    write_dataset(data, 2, split="test", size=(60, 96), progress=False)
    photo = str(data / "data" / "nyu2_test" / "00000_colors.png")
    capsys.readouterr()
    assert main(["predict", photo, "--model", str(xml), "--out", str(tmp_path / "ov"), "--save", "npy"]) == 0
    err = capsys.readouterr().err
    assert "fixed-size 64x96 export: 1 of 1 photo(s) of another aspect ratio were letterboxed" in err
    letterboxed = predict(litedepth.load(ckpt), Image.open(photo).convert("RGB"), fit="letterbox")
    np.testing.assert_allclose(np.load(tmp_path / "ov" / "00000_colors.npy"), letterboxed, rtol=1e-4, atol=1e-4)
    results = {}
    for label, model in (("torch", ckpt), ("openvino", xml)):
        out = tmp_path / f"{label}.json"
        assert main(["eval", "--model", str(model), "--data", str(data), "--json", str(out), "--no-progress"]) == 0
        results[label] = json.loads(out.read_text())
    for key in ("rmse", "delta1"):
        assert results["openvino"][key] == pytest.approx(results["torch"][key], abs=1e-4)


@needs_openvino
def test_openvino_int8_calibrates_from_subfolders_and_refuses_past_tolerance(tmp_path, ckpt, capsys):
    for i in range(6):  # the synthetic sets' layout: images in room folders
        write_image(tmp_path / "calib" / f"room{i % 3}" / f"{i}.jpg", seed=i, size=(60, 80))
    xml = _export(tmp_path, ckpt, "openvino", "f.xml", "--int8", "--calibration", str(tmp_path / "calib"))
    assert "INT8 -> " in capsys.readouterr().out
    int8 = litedepth.load(tmp_path / "f.int8.xml")
    assert int8.precision == "int8" and int8.arch == "fast-student" and (tmp_path / "f.int8.bin").is_file()
    _same_as_torch(ckpt, int8, rtol=0.2)  # INT8: close, not equal
    argv = ["export", "--model", str(ckpt), "--format", "openvino", "--out", str(tmp_path / "g.xml")]
    line = one_line_error(
        capsys, [*argv, "--int8", "--calibration", str(tmp_path / "calib"), "--int8-tolerance", "0.000001"]
    )
    assert "g.int8.xml: INT8 output differs from the float model by" in line and "not written" in line
    assert not (tmp_path / "g.int8.xml").exists() and not (tmp_path / "g.int8.bin").exists()
    assert xml.is_file()


def test_onnx_int8_refused_past_tolerance(tmp_path, ckpt, capsys):
    pytest.importorskip("onnxruntime")
    for i in range(3):
        write_image(tmp_path / "calib" / "sub" / f"{i}.png", seed=i, size=(60, 80))
    argv = ["export", "--model", str(ckpt), "--onnx", str(tmp_path / "m.onnx"), "--int8"]
    line = one_line_error(capsys, [*argv, "--calibration", str(tmp_path / "calib"), "--int8-tolerance", "0.000001"])
    assert "m.int8.onnx: INT8 output differs" in line and not (tmp_path / "m.int8.onnx").exists()
    assert main([*argv, "--calibration", str(tmp_path / "calib"), "--overwrite"]) == 0
    assert litedepth.load(tmp_path / "m.int8.onnx").precision == "int8"


@needs_ncnn
def test_ncnn_export_folder_loads_and_matches_torch(tmp_path, ckpt, capsys):
    from litedepth.runtimes.ncnn import NcnnDepthModel

    folder = _export(tmp_path, ckpt, "ncnn", "f_ncnn")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [".litedepth.json", "model.ncnn.bin", "model.ncnn.json", "model.ncnn.param"]
    for spec in (folder, folder / "model.ncnn.param"):
        model = litedepth.load(spec, threads=1)
        assert isinstance(model, NcnnDepthModel) and model.input_size == SIZE and model.arch == "fast-student"
        _same_as_torch(ckpt, model, rtol=1e-3)
    assert model.parameter_count() == sum(p.numel() for p in litedepth.load(ckpt).parameters()) - _bn_count(ckpt)
    line = one_line_error(capsys, ["export", "--model", str(ckpt), "--format", "ncnn", "--out", str(folder)])
    assert "holds an earlier ncnn-model output" in line
    _export(tmp_path, ckpt, "ncnn", "f_ncnn", "--overwrite")
    (folder / "model.ncnn.json").unlink()
    with pytest.raises(LitedepthError, match="no metadata file model.ncnn.json"):
        litedepth.load(folder)


def _bn_count(ckpt) -> int:
    """Parameters that BatchNorm folding removes (each BN's weight, and its bias where the conv had none)."""
    net = litedepth.load(ckpt)
    total = 0
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            total += module.num_features
    return total


@needs_coreml
def test_coreml_export_is_checked_by_its_spec(tmp_path, ckpt, capsys):
    import coremltools as ct

    package = _export(tmp_path, ckpt, "coreml", "f.mlpackage")
    out = capsys.readouterr().out
    assert "Core ML predicts on macOS only: checked by its specification" in out
    spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()
    assert [(i.name, list(i.type.multiArrayType.shape)) for i in spec.description.input] == [("image", [1, 3, *SIZE])]
    assert [o.name for o in spec.description.output] == ["depth"]
    meta = dict(spec.description.metadata.userDefined)
    assert meta["litedepth.arch"] == "fast-student" and json.loads(meta["litedepth.input_size"]) == list(SIZE)
    with pytest.raises(LitedepthError, match="Core ML runs on Apple platforms only"):
        litedepth.load(package)


@needs_coreml
def test_coreml_int8_rounds_the_weights_it_measured(tmp_path, ckpt, capsys):
    import coremltools as ct

    from litedepth.deploy.coreml import weight_int8_change
    from litedepth.deploy.quantize import calibration_batches
    from litedepth.preprocess import stats_of

    for i in range(3):
        write_image(tmp_path / "calib" / "room" / f"{i}.jpg", seed=i, size=(60, 80))
    _export(tmp_path, ckpt, "coreml", "f.mlpackage", "--int8", "--calibration", str(tmp_path / "calib"))
    assert "INT8 -> " in capsys.readouterr().out
    float_spec = ct.models.MLModel(str(tmp_path / "f.mlpackage"), skip_model_load=True).get_spec()
    int8_spec = ct.models.MLModel(str(tmp_path / "f.int8.mlpackage"), skip_model_load=True).get_spec()
    assert dict(int8_spec.description.metadata.userDefined)["litedepth.precision"] == "int8"
    assert str(int8_spec.mlProgram).count('type: "constexpr_affine_dequantize"') > 0  # int8 weights, dequantised
    assert 'type: "constexpr_affine_dequantize"' not in str(float_spec.mlProgram)
    assert int8_spec.description.input == float_spec.description.input
    size = lambda p: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())  # noqa: E731
    assert size(tmp_path / "f.int8.mlpackage") < 0.5 * size(tmp_path / "f.mlpackage")
    # the measured change is that of rounding weights, not nothing, and it bounds the refusal
    net = litedepth.load(ckpt)
    batches = calibration_batches(tmp_path / "calib", SIZE, *stats_of(net), 3)
    change = weight_int8_change(net, batches)
    assert 0 < change.relative < 0.05
    argv = ["export", "--model", str(ckpt), "--format", "coreml", "--out", str(tmp_path / "g.mlpackage"), "--int8"]
    line = one_line_error(capsys, [*argv, "--calibration", str(tmp_path / "calib"), "--int8-tolerance", "0.000001"])
    assert "g.int8.mlpackage: INT8 output differs from the float model by" in line and "not written" in line
    assert not (tmp_path / "g.int8.mlpackage").exists()


@needs_litert_torch
def test_tflite_export_loads_and_matches_torch(tmp_path, ckpt):
    from litedepth.runtimes.litert import LiteRTDepthModel

    path = _export(tmp_path, ckpt, "tflite", "f.tflite")
    model = litedepth.load(path, threads=1)
    assert isinstance(model, LiteRTDepthModel) and model.static_size == SIZE and model.arch == "fast-student"
    _same_as_torch(ckpt, model, rtol=1e-3)
    assert main(["predict", str(write_image(tmp_path / "p.png", size=(64, 96))), "--model", str(path), "--out",
                 str(tmp_path / "pred"), "--save", "npy"]) == 0  # fmt: skip
    assert (tmp_path / "pred" / "p.npy").is_file()


@needs_litert_torch
def test_tflite_int8_is_written_beside_and_refused_past_tolerance(tmp_path, ckpt, capsys):
    for i in range(4):
        write_image(tmp_path / "calib" / f"room{i % 2}" / f"{i}.jpg", seed=i, size=(60, 80))
    path = _export(tmp_path, ckpt, "tflite", "f.tflite", "--int8", "--calibration", str(tmp_path / "calib"))
    assert "INT8 -> " in capsys.readouterr().out
    int8 = litedepth.load(tmp_path / "f.int8.tflite", threads=1)
    assert int8.precision == "int8" and int8.arch == "fast-student" and int8.static_size == SIZE
    _same_as_torch(ckpt, int8, rtol=0.2)  # INT8: close, not equal
    argv = ["export", "--model", str(ckpt), "--format", "tflite", "--out", str(tmp_path / "g.tflite"), "--int8"]
    line = one_line_error(capsys, [*argv, "--calibration", str(tmp_path / "calib"), "--int8-tolerance", "0.000001"])
    assert "g.int8.tflite: INT8 output differs from the float model by" in line and "not written" in line
    assert not (tmp_path / "g.int8.tflite").exists() and path.is_file()


@pytest.mark.skipif(_has("litert_torch"), reason="litert-torch is installed here")
def test_missing_converter_is_one_line_naming_the_extra(tmp_path, ckpt, capsys):
    line = one_line_error(
        capsys, ["export", "--model", str(ckpt), "--format", "tflite", "--out", str(tmp_path / "f.tflite")]
    )
    assert line.endswith("pip install 'litedepth[litert-export]'") and not (tmp_path / "f.tflite").exists()


def test_export_cli_refuses_bad_targets_on_one_line(tmp_path, ckpt, capsys):
    base = ["export", "--model", str(ckpt)]
    assert "must end in .xml" in one_line_error(
        capsys, [*base, "--format", "openvino", "--out", str(tmp_path / "f.onnx")]
    )
    assert "no output" in one_line_error(capsys, [*base, "--format", "openvino"])
    assert "fixed input size" in one_line_error(
        capsys, [*base, "--format", "ncnn", "--out", str(tmp_path / "n"), "--dynamic"]
    )
    assert "--int8: not available for ncnn" in one_line_error(
        capsys, [*base, "--format", "ncnn", "--out", str(tmp_path / "n"), "--int8", "--calibration", str(tmp_path)]
    )
    assert "an NCNN export is a folder" in one_line_error(
        capsys, [*base, "--format", "ncnn", "--out", str(tmp_path / "n.param")]
    )
    assert list(tmp_path.iterdir()) == [ckpt]


@needs_openvino
@needs_ncnn
def test_bench_times_exported_files_side_by_side(tmp_path, ckpt, capsys):
    write_image(tmp_path / "calib" / "a" / "0.png", size=(60, 80))
    _export(tmp_path, ckpt, "openvino", "f.xml", "--int8", "--calibration", str(tmp_path / "calib"))
    _export(tmp_path, ckpt, "ncnn", "f_ncnn")
    specs = ",".join(str(tmp_path / n) for n in ("f.xml", "f.int8.xml", "f_ncnn"))
    argv = ["bench", "--model", specs, "--backend", "all", "--runs", "2", "--warmup", "1", "--threads", "1"]
    assert main([*argv, "--json", str(tmp_path / "b.json")]) == 0
    result = json.loads((tmp_path / "b.json").read_text())
    rows = {(r["model"].rsplit("/", 1)[-1], r["backend"], r["precision"], r["threads"]) for r in result["results"]}
    assert rows == {
        ("f.xml", "openvino", "fp32", 1),
        ("f.int8.xml", "openvino", "int8", 1),
        ("f_ncnn", "ncnn", "fp32", 1),
    }
    assert "AVX2" in capsys.readouterr().out or not result["machine"]["isa"]


def test_load_names_missing_and_broken_exported_files(tmp_path):
    with pytest.raises(LitedepthError, match=r"missing\.xml: no such OpenVINO IR file"):
        litedepth.load(tmp_path / "missing.xml")
    with pytest.raises(LitedepthError, match=r"missing\.tflite: no such LiteRT file"):
        litedepth.load(tmp_path / "missing.tflite")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LitedepthError, match="a folder, not a model file"):
        litedepth.load(tmp_path / "empty")
    if not _has("ncnn"):
        pytest.skip("the NCNN part needs litedepth[ncnn]")
    folder = tmp_path / "n_ncnn"
    folder.mkdir()
    (folder / "model.ncnn.param").write_text("7767517\n0 0\n")
    (folder / "model.ncnn.bin").write_bytes(b"")
    meta = {"litedepth.arch": "fast-student", "litedepth.input_size": "[64, 96]", "litedepth.std": "[0, 0, 0]"}
    (folder / "model.ncnn.json").write_text(json.dumps(meta))
    with pytest.raises(LitedepthError, match=r"model\.ncnn\.json: metadata 'litedepth\.std' \[0,0,0\]"):
        litedepth.load(folder)


FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (500_000, 500_000))
from litedepth.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize(
    "fmt, out, module",
    [
        ("onnx", "m.onnx", "onnxruntime"),
        ("openvino", "m.xml", "openvino"),
        pytest.param("ncnn", "m_ncnn", "pnnx", marks=pytest.mark.slow),
        pytest.param("coreml", "m.mlpackage", "coremltools", marks=pytest.mark.slow),
    ],
)
def test_export_onto_a_full_disk_is_one_line_naming_the_output(tmp_path, ckpt, fmt, out, module):
    """Every file larger than 500 kB fails to be written (the model's weights are 6 MB): one line naming the output."""
    pytest.importorskip(module)
    target = tmp_path / "exports" / out
    argv = ["export", "--model", str(ckpt), "--format", fmt, "--out", str(target)]
    done = subprocess.run([sys.executable, "-c", FULL_DISK, *argv], capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        f"litedepth export: error: {target}: cannot write the export: no space left on device (or a file size limit)"
    ]
    assert not list(tmp_path.glob("exports/**/*"))  # no file, no temporary folder (an empty exports/ may stay)


def _tiny_tflite(path, size=(48, 64)) -> bytes:
    """A whole .tflite flatbuffer (image + a constant -> depth, one ADD) written by LiteRT's own schema; its bytes."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    shape = [1, 3, *size]
    model = schema.ModelT()
    model.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    model.operatorCodes = [code]
    weights = schema.BufferT()
    weights.data = np.zeros(int(np.prod(shape)) * 4, dtype=np.uint8)
    model.buffers = [schema.BufferT(), weights, schema.BufferT(), schema.BufferT()]
    tensors = []
    for name, buffer in (("image", 2), ("bias", 1), ("depth", 3)):
        tensor = schema.TensorT()
        tensor.shape, tensor.type, tensor.buffer, tensor.name = shape, schema.TensorType.FLOAT32, buffer, name
        tensors.append(tensor)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    graph = schema.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = tensors, [0], [2], [op]
    model.subgraphs = [graph]
    flatbuffer_utils.write_model(model, str(path))
    return path.read_bytes()


def test_a_truncated_tflite_file_is_one_whole_line(tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    whole = _tiny_tflite(tmp_path / "whole.tflite")
    with pytest.raises(LitedepthError, match="has no litedepth metadata"):  # whole, LiteRT reads it
        litedepth.load(tmp_path / "whole.tflite")
    photo = write_image(tmp_path / "p.jpg")
    for cut in (len(whole) // 2, 64, 6):
        path = tmp_path / f"cut{cut}.tflite"
        path.write_bytes(whole[:cut])
        line = one_line_error(capsys, ["predict", str(photo), "--model", str(path), "--out", str(tmp_path / "d")])
        assert line.startswith(f"litedepth predict: error: {path}: truncated or not a valid LiteRT (.tflite) file (")
        assert line.endswith(")") and line.count("(") == line.count(")") and f"{cut:,} bytes" in line
    (tmp_path / "text.tflite").write_text("not a model at all\n")
    with pytest.raises(LitedepthError, match=r"text\.tflite: truncated or not a valid LiteRT .* no TFL3 identifier"):
        litedepth.load(tmp_path / "text.tflite")


@needs_openvino
def test_a_truncated_openvino_ir_is_one_whole_line_naming_the_file(tmp_path, ckpt, capsys):
    xml = _export(tmp_path, ckpt, "openvino", "f.xml")
    weights = xml.with_suffix(".bin")
    photo = write_image(tmp_path / "p.jpg")
    whole_xml, whole_bin = xml.read_bytes(), weights.read_bytes()

    def error() -> str:
        return one_line_error(capsys, ["predict", str(photo), "--model", str(xml), "--out", str(tmp_path / "d")])

    xml.write_bytes(whole_xml[: len(whole_xml) // 2])
    line = error()
    assert line.startswith(f"litedepth predict: error: {xml}: truncated or not a valid OpenVINO IR file (")
    assert "at offset" in line and "Exception from" not in line and line.endswith(")")  # the XML parser's reason
    xml.write_bytes(whole_xml)
    weights.write_bytes(whole_bin[: len(whole_bin) // 2])
    line = error()
    assert line.startswith(f"litedepth predict: error: {weights}: truncated or not a valid OpenVINO IR weights file")
    assert f"the .bin of {xml}" in line and line.endswith(")")
    weights.unlink()
    assert error().startswith(f"litedepth predict: error: {weights}: missing, the .bin of {xml}")
    assert not (tmp_path / "d").exists()


def test_the_format_table_names_real_functions_and_runtime_rows():
    """Each format's exporter, requirements and quantiser import; each runnable format is a row of the resolver's."""
    from litedepth.deploy.formats import FORMATS, function
    from litedepth.hub import MODEL_SUFFIXES
    from litedepth.runtimes.kinds import RUNTIMES, model_class

    for fmt in FORMATS.values():
        assert all(callable(function(name)) for name in (fmt.exporter, *fmt.requires))
        assert fmt.quantiser is None or callable(function(fmt.quantiser))
        if fmt.runtime is not None:
            assert fmt.runtime in RUNTIMES and fmt.suffix in (fmt.runtime, "")
            assert fmt.runtime in MODEL_SUFFIXES
    assert {fmt.runtime for fmt in FORMATS.values()} - {None} == set(RUNTIMES)
    assert [f.name for f in FORMATS.values() if f.int8] == ["onnx", "openvino", "tflite", "coreml"]
    assert [f.name for f in FORMATS.values() if f.dynamic] == ["onnx", "openvino"]
    assert model_class(".onnx", "openvino").__name__ == "OpenVinoDepthModel"
    assert model_class(".onnx", "onnxruntime").__name__ == "OnnxDepthModel"
