"""Teachers at their own scale, and teacher files from anywhere (ONNX, TFLite without litedepth metadata)."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import litedepth
from litedepth.cli import main
from litedepth.config import load_config
from litedepth.data import UnlabeledImages
from litedepth.data.transforms import ResizeShorter
from litedepth.errors import LitedepthError
from litedepth.preprocess import IMAGENET, normalise
from litedepth.synth.dataset import write_dataset
from litedepth.training.step import LiveTeacher, build_objective
from litedepth.training.teacher_cache import TeacherCache
from litedepth.training.teachers import INPUTS, InputRule, TFLiteTeacher, TorchTeacher, load_teacher

SIZE = (48, 64)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "models" / "fastdepth"


def _rgb(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, np.float32) / 255).permute(2, 0, 1)[None]


def one_size_onnx(path: Path, size=(64, 64)):
    """A tiny network exported with one fixed input size and no litedepth metadata (RGB / 255 in, metres out)."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 3, padding=1), torch.nn.Softplus()
    ).eval()
    torch.onnx.export(
        net, torch.rand(1, 3, *size), str(path), input_names=["rgb"], output_names=["depth"], dynamo=False
    )
    return path, net


class OneSizeNet(torch.nn.Module):
    """A litedepth-like network that refuses any input but its own 48x64."""

    input_size = SIZE

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x):
        assert tuple(x.shape[-2:]) == SIZE, f"this network takes 48x64, not {tuple(x.shape[-2:])}"
        return F.softplus(self.conv(x))


def tflite_mean(path: Path, size=(16, 16), dtype="uint8", in_q=(1 / 255, 0), out_q=(0.02, 0)) -> Path:
    """A ``.tflite`` written here: quantised (1, H, W, 3) RGB -> MEAN over channels -> quantised (1, H, W, 1)."""
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert import schema_py_generated as s
    from ai_edge_litert.tools import flatbuffer_utils

    types = {"uint8": s.TensorType.UINT8, "int8": s.TensorType.INT8}

    def tensor(name, shape, ttype, buffer, q=None):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), ttype, buffer
        if q:
            t.quantization = s.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = [float(q[0])], [int(q[1])]
        return t

    axis = s.BufferT()
    axis.data = np.array([3], np.int32).view(np.uint8).tolist()
    graph = s.SubGraphT()
    graph.tensors = [
        tensor("rgb", (1, *size, 3), types[dtype], 1, in_q),
        tensor("axis", (1,), s.TensorType.INT32, 2),
        tensor("depth", (1, *size, 1), types[dtype], 3, out_q),
    ]
    graph.inputs, graph.outputs = [0], [2]
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType, op.builtinOptions = s.BuiltinOptions.ReducerOptions, s.ReducerOptionsT()
    op.builtinOptions.keepDims = True
    graph.operators = [op]
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.MEAN
    code.version = 2
    model = s.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, [code], [graph]
    model.buffers = [s.BufferT(), s.BufferT(), axis, s.BufferT()]
    flatbuffer_utils.write_model(model, str(path))
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Photos of several sizes and orientations, as an auxiliary set has them."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(160, 120), (120, 160), (200, 90), (160, 120)]):
        smooth = np.kron(rng.integers(0, 256, (h // 10 + 1, w // 10 + 1, 3)), np.ones((10, 10, 1)))[:h, :w]
        Image.fromarray(smooth.astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


@pytest.mark.parametrize("kind", ["onnx", "torch"])
def test_a_one_size_teacher_gives_the_same_targets_through_the_cache_as_run_directly(kind, photos, tmp_path):
    if kind == "onnx":
        path, net = one_size_onnx(tmp_path / "one.onnx")
        teacher = load_teacher(path, input="rgb01")
        assert teacher.rule == InputRule(size=(64, 64))  # read from the file: squeezed to its one size
        with pytest.raises(Exception, match="(?i)dimension"):  # ONNX Runtime refuses any other size
            teacher.session.run(None, {"rgb": np.zeros((1, 3, *SIZE), np.float32)})
    else:
        teacher = TorchTeacher(OneSizeNet())
        assert teacher.rule == InputRule(SIZE, 51)  # crops of its size at its scale (shorter side 51)
    ds = UnlabeledImages(photos)
    resize = ResizeShorter(40, crop=(32, 40))  # a training scale far from the teacher's
    cache = TeacherCache(tmp_path / "cache", teacher, shorter_side=40, flip=True, fit_crop=(32, 40))
    assert cache.fill(ds, progress=False) == len(ds)
    for i in range(len(ds)):
        image = ds.load(i)["image"]
        direct = teacher.depth(_rgb(image), flip=True)  # the teacher on the whole photo, at the photo's size
        assert direct.shape[-2:] == (image.height, image.width)
        w, h = resize.output_size(*image.size)
        expected = F.interpolate(direct, size=(h, w), mode="bilinear", antialias=True)[0, 0].numpy()
        stored = cache.get(ds, i)
        assert stored.shape == (h, w)
        np.testing.assert_allclose(stored, expected, rtol=2e-3, atol=2e-3)  # float16 on disk
        if kind == "onnx":  # and what it runs on is the photo squeezed to its 64x64
            with torch.no_grad():
                x = F.interpolate(_rgb(image), size=(64, 64), mode="bilinear", antialias=True)
                own = (net(x) + net(x.flip(-1)).flip(-1)) / 2
            back = F.interpolate(own, size=(image.height, image.width), mode="bilinear", antialias=True)
            np.testing.assert_allclose(direct.numpy(), back.numpy(), rtol=1e-4, atol=1e-4)
    # the live path: an augmented view, normalised as the student's input, seen at the teacher's scale
    view = _rgb(ds.load(0)["image"].resize((53, 40), Image.BILINEAR))[..., 4:36, 6:46]
    live = LiveTeacher(teacher, IMAGENET, shorter_side=40)(normalise(view, *IMAGENET))
    assert live.shape == (1, 1, 32, 40) and torch.isfinite(live).all()


def test_an_onnx_teacher_without_metadata_takes_declared_conventions(tmp_path):
    from test_teachers import _channel_mean_onnx

    path = _channel_mean_onnx(tmp_path / "mean.onnx")
    rgb = torch.rand(2, 3, *SIZE)
    for name, scale in (("rgb255", 255.0), ("rgb01", 1.0)):
        teacher = load_teacher(path, input=name)
        assert (teacher.mean, teacher.std) == INPUTS[name] and teacher.describe()["input"] == name
        assert torch.allclose(teacher.depth(rgb), rgb.mean(1, keepdim=True) * scale, rtol=1e-4, atol=1e-4)
    assert load_teacher(path).describe()["input"] == "imagenet"  # nothing declared: ImageNet's
    # another declared scale is another cache entry; a relative teacher keeps the scale-and-shift-invariant loss
    teacher = load_teacher(path, input="rgb01", output="disparity", shorter_side=96)
    assert teacher.rule == InputRule(None, 96, 32) and teacher.relative and teacher.output == "disparity"
    assert teacher.depth(rgb).shape == (2, 1, *SIZE)
    objective, name = build_objective(load_config("synth-student-kd", ["loss.kd=auto"]), teacher)
    assert name == "ssi" and objective.kd_loss.space == "disparity"
    with pytest.raises(LitedepthError, match="--teacher-input 'rgb256' unknown \\(did you mean 'rgb255'\\?\\)"):
        load_teacher(path, input="rgb256")
    with pytest.raises(LitedepthError, match="--teacher-output 'metrik' unknown \\(did you mean 'metric'\\?\\)"):
        load_teacher(path, output="metrik")


def test_a_tflite_teacher_reads_its_conventions_from_its_quantisation(tmp_path):
    path = tflite_mean(tmp_path / "mean.tflite")  # uint8 input (scale 1/255, zero point 0): RGB bytes
    teacher = load_teacher(path)
    assert isinstance(teacher, TFLiteTeacher) and teacher.describe()["input"] == "rgb255"
    assert teacher.output_kind == "metric" and teacher.rule == InputRule(size=(16, 16))
    rgb = torch.rand(1, 3, 16, 16)
    # the uint8 output (scale 0.02) read as metres: the channel mean of RGB / 255, to within one step
    assert torch.allclose(teacher.depth(rgb), rgb.mean(1, keepdim=True), atol=0.011)
    assert teacher.depth(torch.rand(2, 3, *SIZE)).shape == (2, 1, *SIZE)  # squeezed to 16x16 and back
    assert load_teacher(path, input="rgb255").identity == teacher.identity  # declared as the file says: fine
    with pytest.raises(LitedepthError) as err:
        load_teacher(path, input="imagenet")
    assert str(err.value) == (
        f"{path}: --teacher-input imagenet contradicts its input quantisation (uint8, scale 0.003922, zero point 0), "
        "which says rgb255"
    )
    # an int8 input spanning 0..1 takes RGB / 255; the int8 output is read through its scale and zero point
    signed = load_teacher(tflite_mean(tmp_path / "s.tflite", dtype="int8", in_q=(1 / 255, -128), out_q=(0.02, -128)))
    assert signed.describe()["input"] == "rgb01"
    assert torch.allclose(signed.depth(rgb), rgb.mean(1, keepdim=True), atol=0.011)


@pytest.fixture(scope="module")
def rooms(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rooms")
    write_dataset(root, 4, split="train", size=SIZE, progress=False)
    return root


def _distill(rooms: Path, out: Path, teacher: Path, *options: str, cache: bool = True) -> Path:
    sets = {
        "data.sources": f'[{{"path": "{rooms}", "role": "unlabeled", "kind": "nyu"}}]',
        "model.input_size": "[48, 64]",
        "model.encoder_weights": "null",
        "train.max_steps": "1",
        "train.batch_size": "4",
        "train.precise_bn_images": "4",
        "data.val": "null",
        "data.workers": "0",
        "train.out_dir": str(out),
        "train.progress": "false",
        "train.threads": "1",
        "distill.cache": str(cache).lower(),
        "loss.kd": "auto",
    }
    args = ["distill", "--config", "synth-student-kd", "--teacher", str(teacher), *options]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    return out / "model.safetensors"


@pytest.mark.slow
def test_distill_runs_with_teacher_files_from_anywhere(rooms, tmp_path):
    path, _ = one_size_onnx(tmp_path / "one.onnx")
    model = litedepth.load(_distill(rooms, tmp_path / "onnx", path, "--teacher-input", "rgb01"))
    teacher = model.metadata["training"]["teacher"]
    assert teacher["input"] == "rgb01" and teacher["rule"]["size"] == [64, 64] and teacher["output"] == "depth"
    # the live path (no cache), with the same one-size teacher, declared relative: the ssi loss
    model = litedepth.load(
        _distill(
            rooms, tmp_path / "live", path, "--teacher-input", "rgb01", "--teacher-output", "relative", cache=False
        )
    )
    assert model.metadata["training"]["kd_loss"] == "ssi"
    tflite = tflite_mean(tmp_path / "mean.tflite")
    model = litedepth.load(_distill(rooms, tmp_path / "tflite", tflite, "--teacher-shorter-side", "20"))
    teacher = model.metadata["training"]["teacher"]
    assert teacher["kind"] == "tflite" and teacher["input"] == "rgb255" and teacher["rule"]["shorter_side"] == 20


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared FastDepth files are absent")
def test_fastdepth_files_as_teachers():
    tflite = load_teacher(SHARED / "fast_depth_224_int8.tflite")  # everything read from the file
    assert tflite.describe()["input"] == "rgb255" and tflite.output_kind == "metric"
    assert tflite.rule == InputRule(size=(224, 224))
    onnx = load_teacher(SHARED / "fastdepth_float32.onnx", input="rgb01", shorter_side=224)  # declared
    assert onnx.rule == InputRule(None, 224, 32)
    rgb = torch.rand(1, 3, 120, 160)
    for teacher in (tflite, onnx):
        depth = teacher.depth(rgb, flip=True)
        assert depth.shape == (1, 1, 120, 160) and bool((depth > 0).all()) and float(depth.max()) < 20
    # the weights each file holds: the float graph has our fastdepth's with each BatchNorm folded into its
    # convolution (one bias per channel in place of two affine vectors); the int8 graph adds a few shape tensors
    net = litedepth.create_model("fastdepth")
    folded = sum(p.numel() for p in net.parameters())
    folded -= sum(m.num_features for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert onnx.parameter_count() == folded
    assert 0 <= tflite.parameter_count() - folded < 100
