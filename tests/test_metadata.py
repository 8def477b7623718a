"""Model-file metadata is checked on load: a broken value is one line naming the file and the key.

Real files are written (`litedepth.save_model`, `litedepth.deploy.export.export_onnx`) and then corrupted
the way a hand edit or another tool would: the safetensors metadata rewritten with safetensors'
own reader and writer, the ONNX ``metadata_props`` with the onnx package.
"""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import litedepth
from conftest import one_line_error, write_image
from litedepth.camera import Intrinsics
from litedepth.errors import LitedepthError
from litedepth.evaluation.loop import evaluate

SIZE = (48, 64)
NYU_CAMERA = Intrinsics.nyu().to_dict()


def _camera(**changes):
    return json.dumps({**NYU_CAMERA, **changes})


# (key, stored text, what the message must say after "metadata '<key>' ")
BAD_VALUES = [
    ("input_size", "[-48, 64]", "'input_size' [-48,64]: must be 2 positive integers (height, width)"),
    ("input_size", "[48]", "'input_size' [48]: must be 2 positive integers"),
    ("input_size", "[48.5, 64]", "'input_size' [48.5,64]: must be 2 positive integers"),
    ("input_size", '"48x64"', "'input_size' \"48x64\": must be 2 positive integers"),
    ("mean", "[0.5, 0.5]", "'mean' [0.5,0.5]: must be 3 finite numbers"),
    ("mean", "[NaN, 0.5, 0.5]", "'mean' [NaN,0.5,0.5]: must be 3 finite numbers"),
    ("std", "[0, 0, 0]", "'std' [0,0,0]: must be 3 positive numbers (normalisation would divide by zero)"),
    ("std", "[0.2, 0, 0.2]", "'std' [0.2,0,0.2]: must be 3 positive numbers (normalisation would divide by zero)"),
    ("std", "[0.2, -0.1, 0.2]", "'std' [0.2,-0.1,0.2]: must be 3 positive numbers"),
    ("std", "[0.2, Infinity, 0.2]", "'std' [0.2,Infinity,0.2]: must be 3 positive numbers"),
    ("std", "[0.2, 0.2, 0.2, 0.2]", "'std' [0.2,0.2,0.2,0.2]: must be 3 positive numbers"),
    ("std", "[0.2, 0.2", "'std' '[0.2, 0.2': not valid JSON"),
    ("camera", _camera(fx=-518.86), "'camera.fx' -518.86: must be a positive finite focal length in pixels"),
    ("camera", _camera(fy=0), "'camera.fy' 0: must be a positive finite focal length"),
    ("camera", _camera(fx=float("inf")), "'camera.fx' Infinity: must be a positive finite focal length"),
    ("camera", _camera(cx=float("nan")), "'camera.cx' NaN: must be a finite principal point"),
    ("camera", _camera(width=0), "'camera.width' 0: must be a positive whole number of pixels"),
    ("camera", _camera(height=-480), "'camera.height' -480: must be a positive whole number"),
    (
        "camera",
        json.dumps({"fx": 500.0}),
        "'camera' {\"fx\":500.0}: must be a JSON object with fx, fy, cx, cy, width, height",
    ),
    ("arch", "no-such-net", "'arch' \"no-such-net\": unknown architecture; known: "),
    (
        "config",
        json.dumps({"input_size": [48, 64], "std": [0, 0, 0]}),
        "'config.std' [0,0,0]: must be 3 positive numbers (normalisation",
    ),
    ("config", "[48, 64]", "'config' [48,64]: must be a JSON object"),
    ("training", "[]", "'training' []: must be a JSON object"),
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = litedepth.create_model("fast-student", input_size=SIZE)
    return litedepth.save_model(model, tmp_path_factory.mktemp("ckpt") / "fast.safetensors")


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from litedepth.deploy.export import export_onnx

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("onnx") / "fast.onnx"
    export_onnx(litedepth.create_model("fast-student", input_size=SIZE), path)
    return path


def corrupt_safetensors(source, target, **changes):
    """``source`` rewritten to ``target`` with string metadata ``changes`` (None: the key removed)."""
    with safe_open(str(source), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for key, value in changes.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    save_file(tensors, str(target), metadata=metadata)
    return target


def corrupt_onnx(source, target, **changes):
    """``source`` rewritten to ``target`` with ``litedepth.<key>`` metadata_props ``changes``."""
    import onnx

    proto = onnx.load(str(source))
    props = {p.key: p.value for p in proto.metadata_props}
    props.update({"litedepth." + k: v for k, v in changes.items()})
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(target))
    return target


def _refused(path, expected):
    with pytest.raises(LitedepthError) as info:
        litedepth.load(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: metadata "), message
    assert expected in message, message
    return message


@pytest.mark.parametrize("key,text,expected", BAD_VALUES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD_VALUES)])
def test_corrupted_safetensors_metadata_is_one_line_naming_file_and_key(checkpoint, tmp_path, key, text, expected):
    path = corrupt_safetensors(checkpoint, tmp_path / "bad.safetensors", **{key: text})
    _refused(path, expected)


@pytest.mark.parametrize(
    "key,text,expected",
    [
        ("input_size", "[0, 64]", "'litedepth.input_size' [0,64]: must be 2 positive integers"),
        ("mean", "[0.5, 0.5]", "'litedepth.mean' [0.5,0.5]: must be 3 finite numbers"),
        (
            "std",
            "[0, 0, 0]",
            "'litedepth.std' [0,0,0]: must be 3 positive numbers (normalisation would divide by zero)",
        ),
        ("camera", _camera(fx=-1.0), "'litedepth.camera.fx' -1.0: must be a positive finite focal length"),
        ("camera", _camera(width=0), "'litedepth.camera.width' 0: must be a positive whole number"),
        ("arch", "no-such-net", "'litedepth.arch' \"no-such-net\": unknown architecture; known: "),
        ("dynamic", '"yes"', "'litedepth.dynamic' \"yes\": must be true or false"),
        ("std", "[0.2,", "'litedepth.std' '[0.2,': not valid JSON"),
    ],
    ids=["input_size", "mean", "std-zero", "camera-fx", "camera-width", "arch", "dynamic", "std-json"],
)
def test_corrupted_onnx_metadata_is_one_line_naming_file_and_key(onnx_file, tmp_path, key, text, expected):
    path = corrupt_onnx(onnx_file, tmp_path / "bad.onnx", **{key: text})
    _refused(path, expected)


def test_sound_files_still_load_and_absent_keys_keep_defaults(checkpoint, onnx_file, tmp_path):
    model = litedepth.load(checkpoint)
    assert model.input_size == SIZE and model.camera == Intrinsics.nyu()
    # a file without camera and std: the network's defaults
    older = corrupt_safetensors(checkpoint, tmp_path / "older.safetensors", camera=None, std=None)
    loaded = litedepth.load(older)
    assert loaded.std == model.std and loaded.camera == Intrinsics.nyu()
    assert (
        litedepth.load(corrupt_onnx(onnx_file, tmp_path / "no-camera.onnx", camera="null")).camera == Intrinsics.nyu()
    )
    # an ONNX export of a network outside ARCHITECTURES records arch "custom"
    assert litedepth.load(corrupt_onnx(onnx_file, tmp_path / "custom.onnx", arch="custom")).arch == "custom"


def test_config_the_builder_refuses_is_one_line(checkpoint, tmp_path):
    path = corrupt_safetensors(checkpoint, tmp_path / "bad.safetensors", config=json.dumps({"wings": 2}))
    with pytest.raises(LitedepthError) as info:
        litedepth.load(path)
    assert str(info.value).startswith(f"{path}: metadata 'config' does not build fast-student (") and "\n" not in str(
        info.value
    )


@pytest.mark.parametrize(
    "kind,key,text,expected",
    [
        (
            "safetensors",
            "std",
            "[0, 0, 0]",
            "metadata 'std' [0,0,0]: must be 3 positive numbers (normalisation would divide by zero)",
        ),
        ("safetensors", "input_size", "[-48, 64]", "metadata 'input_size' [-48,64]"),
        ("safetensors", "camera", _camera(fx=-518.86), "metadata 'camera.fx' -518.86"),
        (
            "onnx",
            "std",
            "[0, 0, 0]",
            "metadata 'litedepth.std' [0,0,0]: must be 3 positive numbers (normalisation would divide by zero)",
        ),
        ("onnx", "mean", "[0.5, 0.5]", "metadata 'litedepth.mean' [0.5,0.5]"),
    ],
    ids=["safetensors-std", "safetensors-input_size", "safetensors-camera", "onnx-std", "onnx-mean"],
)
def test_predict_cli_refuses_corrupted_metadata(checkpoint, onnx_file, tmp_path, capsys, kind, key, text, expected):
    image = write_image(tmp_path / "photos" / "room.png")
    if kind == "safetensors":
        path = corrupt_safetensors(checkpoint, tmp_path / "bad.safetensors", **{key: text})
    else:
        path = corrupt_onnx(onnx_file, tmp_path / "bad.onnx", **{key: text})
    out = tmp_path / "out"
    line = one_line_error(capsys, ["predict", str(image), "--model", str(path), "--out", str(out)])
    assert line.startswith("litedepth predict: error: ") and f"{path}: {expected}" in line
    assert not list(out.glob("**/*.png")) and not list(out.glob("**/*.npy"))


def test_network_object_with_zero_std_is_refused_not_nan(tmp_path):
    image = write_image(tmp_path / "room.png")
    model = litedepth.create_model("fast-student", input_size=SIZE)
    model.std = (0.0, 0.0, 0.0)
    with pytest.raises(LitedepthError) as info:
        model.predict(str(image))
    assert (
        str(info.value)
        == "fast-student: std [0.0,0.0,0.0]: must be 3 positive numbers (normalisation would divide by zero)"
    )
    # evaluation refuses it too, before reading any data
    from PIL import Image

    folder = tmp_path / "rgbd"
    folder.mkdir()
    write_image(folder / "0.jpg", size=(60, 80))
    Image.fromarray(np.full((60, 80), 2000, np.uint16)).save(folder / "0.png")
    with pytest.raises(LitedepthError, match=r"^fast-student: std \[0.0,0.0,0.0\]"):
        evaluate(model, folder, progress=False)
    model.std = (0.229, float("nan"), 0.225)
    with pytest.raises(LitedepthError, match=r"std \[0.229,NaN,0.225\]: must be 3 positive numbers"):
        model.predict(str(image))
    # litedepth.load takes specs, not network objects: one line, not a TypeError
    with pytest.raises(LitedepthError, match="expected a model file or an architecture name, got a DepthNet"):
        litedepth.load(model)


def test_saved_zero_std_never_predicts_nan(tmp_path, capsys):
    """The original bug: a file with std 0 loaded and predicted all-NaN depth with exit code 0."""
    model = litedepth.create_model("fast-student", input_size=SIZE)
    model.std = (0.0, 0.0, 0.0)
    path = litedepth.save_model(model, tmp_path / "zero-std.safetensors")
    image = write_image(tmp_path / "photos" / "room.png")
    line = one_line_error(
        capsys, ["predict", str(image), "--model", str(path), "--out", str(tmp_path / "out"), "--save", "npy"]
    )
    assert (
        "zero-std.safetensors: metadata 'std' [0.0,0.0,0.0]: must be 3 positive numbers (normalisation would divide by zero)"
        in line
    )
    assert not list((tmp_path / "out").glob("**/*.npy"))


def test_intrinsics_from_dict_uses_the_same_rules():
    assert Intrinsics.from_dict(NYU_CAMERA) == Intrinsics.nyu()
    with pytest.raises(LitedepthError, match=r"^camera\.fx -1: must be a positive finite focal length in pixels$"):
        Intrinsics.from_dict({**NYU_CAMERA, "fx": -1})
    with pytest.raises(LitedepthError, match=r"^camera \{\"fx\":1\}: must be a JSON object with fx, fy"):
        Intrinsics.from_dict({"fx": 1})


# --- one encoder (`litedepth.metadata.encode_metadata` / `export_metadata`), every format's writer and reader ---

EXPORT_ONLY = {"source", "dynamic", "bn_folded", "version"}  # what an export adds to a checkpoint's keys


def _through_safetensors(model, folder):
    from litedepth.metadata import encode_metadata, read_metadata

    path = litedepth.save_model(model, folder / "m.safetensors")
    with safe_open(str(path), framework="pt") as f:
        stored = dict(f.metadata())
    assert stored == encode_metadata(model)
    return read_metadata(stored, str(path), litedepth.ARCHITECTURES)


def _through_onnx(model, folder, onnx_file):
    import onnx

    from litedepth.runtimes.onnx import open_session, session_metadata

    stored = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
    assert stored == _exported(model, dynamic=False)  # what `onnx_bytes` wrote (the fixture's network is `model`)
    return session_metadata(open_session(str(onnx_file), str(onnx_file)), str(onnx_file))


def _through_openvino(model, folder):
    ov = pytest.importorskip("openvino")
    import openvino.opset13 as ops

    from litedepth.runtimes.openvino import ir_metadata, set_metadata

    image = ops.parameter([1, 3, *SIZE], ov.Type.f32, name="image")
    ir = ov.Model([ops.relu(image)], [image], "tiny")
    set_metadata(ir, _exported(model))
    ov.save_model(ir, str(folder / "m.xml"))
    return ir_metadata(ov.Core().read_model(str(folder / "m.xml")), str(folder / "m.xml"))


def _through_tflite(model, folder):
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    from litedepth.runtimes.litert import raw_metadata_entry, read_metadata_entry, write_metadata

    plain = schema.ModelT()
    plain.version, plain.buffers, plain.subgraphs = 3, [schema.BufferT()], []  # no graph: metadata only
    flatbuffer_utils.write_model(plain, str(folder / "plain.tflite"))
    write_metadata(folder / "plain.tflite", folder / "m.tflite", _exported(model))
    data = (folder / "m.tflite").read_bytes()
    assert raw_metadata_entry(data, "m.tflite") == _exported(model)
    return read_metadata_entry(data, "m.tflite")


def _through_ncnn_json(model, folder):
    from litedepth.runtimes.base import read_sidecar, write_sidecar

    side = write_sidecar(folder / "model.ncnn.param", _exported(model))
    assert side.name == "model.ncnn.json" and json.loads(side.read_text()) == _exported(model)
    return read_sidecar(folder / "model.ncnn.param")


def _through_coreml(model, folder):
    ct = pytest.importorskip("coremltools", reason="Core ML metadata needs coremltools in .venv")
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    from litedepth.runtimes.base import file_metadata

    builder = NeuralNetworkBuilder([("image", datatypes.Array(3, *SIZE))], [("depth", datatypes.Array(3, *SIZE))])
    builder.add_activation("relu", "RELU", "image", "depth")
    ml = ct.models.MLModel(builder.spec, skip_model_load=True)
    ml.user_defined_metadata.update(_exported(model))  # as `litedepth.deploy.coreml.convert_coreml` does
    ml.save(str(folder / "m.mlmodel"))
    stored = dict(
        ct.models.MLModel(str(folder / "m.mlmodel"), skip_model_load=True).get_spec().description.metadata.userDefined
    )
    return file_metadata(stored, "m.mlmodel")


def _exported(model, dynamic=False):
    from litedepth.metadata import export_metadata

    return export_metadata(model, SIZE, dynamic)


def _check_keys(name, meta, model):
    """``meta`` (decoded from format ``name``) holds the one schema: the checkpoint's keys, an export's besides."""
    from litedepth.metadata import FORMAT_VERSION, encode_metadata

    base = set(encode_metadata(model))
    assert {"format", "format_version", "arch", "input_size", "mean", "std", "camera"} <= base
    assert set(meta) == (base if name == "safetensors" else base | EXPORT_ONLY), name
    assert meta["format_version"] == FORMAT_VERSION and meta["arch"] == "fast-student", name
    assert meta["input_size"] == list(SIZE) and meta["std"] == list(model.std) and meta["camera"] == NYU_CAMERA, name


def test_every_format_writes_and_reads_the_same_keys_through_one_encoder(onnx_file, tmp_path):
    from litedepth.metadata import META_PREFIX

    model = litedepth.create_model("fast-student", input_size=SIZE)  # as the onnx_file fixture's
    read = {"safetensors": _through_safetensors(model, tmp_path), "onnx": _through_onnx(model, tmp_path, onnx_file)}
    for name, write in (("openvino", _through_openvino), ("tflite", _through_tflite), ("ncnn", _through_ncnn_json)):
        (tmp_path / name).mkdir()
        read[name] = write(model, tmp_path / name)
    for name, meta in read.items():
        _check_keys(name, meta, model)
    assert read["onnx"] == read["openvino"] == read["tflite"] == read["ncnn"]
    assert all(key.startswith(META_PREFIX) for key in _exported(model))


def test_core_ml_metadata_is_the_same_encoding(tmp_path):
    model = litedepth.create_model("fast-student", input_size=SIZE)
    meta = _through_coreml(model, tmp_path)
    _check_keys("coreml", meta, model)
    ncnn = tmp_path / "ncnn"
    ncnn.mkdir()
    assert meta == _through_ncnn_json(model, ncnn)


def test_a_network_without_camera_exports_json_null_and_loads_with_nyus(tmp_path):
    from litedepth.runtimes.base import read_sidecar, write_sidecar

    class Plain(torch.nn.Module):  # a network outside ARCHITECTURES: no arch, config or camera
        mean, std, input_size = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), SIZE

    stored = _exported(Plain())
    assert stored["litedepth.camera"] == "null" and stored["litedepth.arch"] == "custom"
    meta = read_sidecar(write_sidecar(tmp_path / "model.ncnn.param", stored))
    assert meta["camera"] is None and meta["config"] == {}


def test_exports_written_before_format_version_still_load(onnx_file, tmp_path):
    import onnx

    proto = onnx.load(str(onnx_file))
    for entry in list(proto.metadata_props):
        if entry.key in ("litedepth.format", "litedepth.format_version"):
            proto.metadata_props.remove(entry)
    onnx.save(proto, str(tmp_path / "older.onnx"))
    older, current = litedepth.load(tmp_path / "older.onnx"), litedepth.load(onnx_file)
    assert (older.arch, older.input_size, older.std, older.camera) == (
        current.arch,
        current.input_size,
        current.std,
        current.camera,
    )
