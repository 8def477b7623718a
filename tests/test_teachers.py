import pytest
import torch

from litedepth import create_model, save_model
from litedepth.config import load_config
from litedepth.errors import LitedepthError
from litedepth.preprocess import IMAGENET, normalise
from litedepth.training.loop import build_objective
from litedepth.training.teachers import HFTeacher, InputRule, OnnxTeacher, TorchTeacher, load_teacher

SIZE = (48, 64)


def _student():
    torch.manual_seed(0)
    return create_model("hu2021-student", input_size=SIZE).eval()


def test_litedepth_checkpoint_teacher(tmp_path):
    model = _student()
    path = save_model(model, tmp_path / "t.safetensors")
    teacher = load_teacher(path, shorter_side=SIZE[0])  # its own scale declared: a 48x64 image is one crop
    assert isinstance(teacher, TorchTeacher) and teacher.output_kind == "metric"
    assert teacher.rule == InputRule(SIZE, SIZE[0])
    rgb = torch.rand(2, 3, *SIZE)
    y = teacher.depth(rgb)
    assert y.shape == (2, 1, *SIZE)
    with torch.no_grad():
        assert torch.allclose(y, model(normalise(rgb, *IMAGENET)), atol=1e-5)
    # by default the scale it was trained at: shorter side 51 for 48x64, so a 48x64 image is 4 crops of 51x68
    assert load_teacher(path).rule == InputRule(SIZE, 51) and load_teacher(path).depth(rgb).shape == (2, 1, *SIZE)
    # the identity follows the file's content: other weights, other identity
    with torch.no_grad():
        model.R.conv2.bias.add_(1.0)
    other = load_teacher(save_model(model, tmp_path / "u.safetensors"))
    assert other.identity != teacher.identity


def test_authors_pt_teacher_with_dataparallel_prefix(tmp_path):
    model = _student()
    path = tmp_path / "N_t.pt"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)
    teacher = load_teacher(path, arch="hu2021-student")
    assert teacher.rule == InputRule((228, 304), 240)  # an authors' file: the paper's input size and scale
    rgb = torch.rand(1, 3, 240, 320)  # at its scale: four crops of 228x304, averaged where they overlap
    total, count = torch.zeros(1, 1, 240, 320), torch.zeros(1, 1, 240, 320)
    for top, left in ((0, 0), (0, 16), (12, 0), (12, 16)):
        window = (..., slice(top, top + 228), slice(left, left + 304))
        with torch.no_grad():
            total[window] += model(normalise(rgb[window], *IMAGENET))
        count[window] += 1
    assert torch.allclose(teacher.depth(rgb), total / count, atol=1e-5)


def _channel_mean_onnx(path, fixed=None):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    shape = ["B", 3, "H", "W"] if fixed is None else [1, 3, *fixed]
    out_shape = ["B", 1, "H", "W"] if fixed is None else [1, 1, *fixed]
    node = helper.make_node("ReduceMean", ["x"], ["depth"], axes=[1], keepdims=1)
    graph = helper.make_graph(
        [node],
        "mean",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("depth", TensorProto.FLOAT, out_shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_onnx_teacher(tmp_path):
    path = _channel_mean_onnx(tmp_path / "mean.onnx")
    teacher = load_teacher(path)  # no metadata, nothing declared: ImageNet's normalisation, metric, any size
    assert isinstance(teacher, OnnxTeacher) and teacher.output_kind == "metric" and not teacher.has_scale
    rgb = torch.rand(3, 3, *SIZE)
    y = teacher.depth(rgb)
    assert y.shape == (3, 1, *SIZE)
    assert torch.allclose(y, normalise(rgb, *IMAGENET).mean(1, keepdim=True), atol=1e-5)
    # a model with a fixed input size and batch 1: input resized in, output resized back
    fixed = load_teacher(_channel_mean_onnx(tmp_path / "fixed.onnx", fixed=(32, 32)), output="relative")
    assert fixed.relative and fixed.rule == InputRule(size=(32, 32)) and fixed.depth(rgb).shape == (3, 1, *SIZE)


def test_hf_depth_anything_teacher_offline(tmp_path):
    transformers = pytest.importorskip("transformers")
    backbone = transformers.Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        patch_size=14,
        image_size=56,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    config = transformers.DepthAnythingConfig(
        backbone_config=backbone,
        neck_hidden_sizes=[8, 16, 32, 32],
        reassemble_hidden_size=32,
        fusion_hidden_size=16,
        head_hidden_size=8,
        patch_size=14,
    )
    torch.manual_seed(0)
    transformers.DepthAnythingForDepthEstimation(config).save_pretrained(tmp_path / "da")
    teacher = load_teacher(tmp_path / "da")
    assert isinstance(teacher, HFTeacher)
    assert teacher.relative and teacher.output == "disparity"  # Depth Anything "relative" models
    y = teacher.depth(torch.rand(2, 3, *SIZE))  # 48x64 is not a multiple of 14: resized in and out
    assert y.shape == (2, 1, *SIZE) and torch.isfinite(y).all()
    # a relative teacher selects the scale-and-shift-invariant loss, and refuses a metric one
    cfg = load_config("synth-student-kd", ["loss.kd=auto"])
    _, name = build_objective(cfg, teacher)
    assert name == "ssi"
    with pytest.raises(LitedepthError, match="relative depth"):
        build_objective(load_config("synth-student-kd", ["loss.kd=hu2019"]), teacher)


def test_bad_teacher_paths(tmp_path):
    with pytest.raises(LitedepthError, match="no such teacher"):
        load_teacher(tmp_path / "missing.safetensors")
    (tmp_path / "folder").mkdir()
    with pytest.raises(LitedepthError, match="config.json"):
        load_teacher(tmp_path / "folder")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    pytest.importorskip("onnxruntime")
    with pytest.raises(LitedepthError, match="not a loadable ONNX"):
        load_teacher(junk)


def test_an_ensemble_teacher_predicts_its_members_mean(tmp_path):
    from litedepth.training.teachers import EnsembleTeacher

    first = _student()
    torch.manual_seed(1)
    second = create_model("hu2021-student", input_size=SIZE).eval()
    second.mean, second.std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)  # another normalisation: its input is converted
    paths = [save_model(first, tmp_path / "a.safetensors"), save_model(second, tmp_path / "b.safetensors")]
    ensemble = load_teacher(paths, shorter_side=SIZE[0])
    assert isinstance(ensemble, EnsembleTeacher)
    rgb = torch.rand(2, 3, *SIZE)
    with torch.no_grad():  # each member normalises the plain RGB its own way
        expected = (first(normalise(rgb, *IMAGENET)) + second(normalise(rgb, (0.5,) * 3, (0.25,) * 3))) / 2
    assert torch.allclose(ensemble.depth(rgb), expected, atol=1e-5)
    members = [load_teacher(p) for p in paths]
    assert ensemble.identity not in {t.identity for t in members}
    assert [m["source"] for m in ensemble.describe()["members"]] == [str(p) for p in paths]
    assert isinstance(load_teacher(paths[:1]), TorchTeacher)  # one teacher is no ensemble
    with pytest.raises(LitedepthError, match="empty list"):
        load_teacher([])
    pytest.importorskip("onnxruntime")
    relative = load_teacher(_channel_mean_onnx(tmp_path / "mean.onnx"), output="relative")
    with pytest.raises(LitedepthError, match="predicts relative depth, .* metric depth; an ensemble averages one kind"):
        EnsembleTeacher([members[0], relative])
