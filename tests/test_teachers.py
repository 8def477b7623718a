import pytest
import torch

from litedepth import create_model, save_model
from litedepth.config import load_config
from litedepth.errors import LitedepthError
from litedepth.training.loop import build_objective
from litedepth.training.teachers import HFTeacher, OnnxTeacher, TorchTeacher, load_teacher

SIZE = (48, 64)


def _student():
    torch.manual_seed(0)
    return create_model("hu2021-student", input_size=SIZE).eval()


def test_litedepth_checkpoint_teacher(tmp_path):
    model = _student()
    path = save_model(model, tmp_path / "t.safetensors")
    teacher = load_teacher(path)
    assert isinstance(teacher, TorchTeacher) and not teacher.relative and teacher.output == "depth"
    x = torch.randn(2, 3, *SIZE)
    y = teacher.predict_tensor(x)
    assert y.shape == (2, 1, *SIZE)
    with torch.no_grad():
        assert torch.allclose(y, model(x), atol=1e-6)
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
    x = torch.randn(1, 3, *SIZE)
    with torch.no_grad():
        assert torch.allclose(teacher.predict_tensor(x), model(x), atol=1e-6)


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
    teacher = load_teacher(path)
    assert isinstance(teacher, OnnxTeacher) and not teacher.relative
    x = torch.randn(3, 3, *SIZE)
    y = teacher.predict_tensor(x)
    assert y.shape == (3, 1, *SIZE)
    assert torch.allclose(y, x.mean(1, keepdim=True), atol=1e-6)
    # a model with a fixed input size and batch 1: input resized in, output resized back
    fixed = load_teacher(_channel_mean_onnx(tmp_path / "fixed.onnx", fixed=(32, 32)), relative=True)
    assert fixed.relative and fixed.predict_tensor(x).shape == (3, 1, *SIZE)


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
    y = teacher.predict_tensor(torch.randn(2, 3, *SIZE))  # 48x64 is not a multiple of 14: resized in and out
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
    from litedepth.preprocess import IMAGENET, renormalise
    from litedepth.training.teachers import EnsembleTeacher

    first = _student()
    torch.manual_seed(1)
    second = create_model("hu2021-student", input_size=SIZE).eval()
    second.mean, second.std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)  # another normalisation: its input is converted
    paths = [save_model(first, tmp_path / "a.safetensors"), save_model(second, tmp_path / "b.safetensors")]
    ensemble = load_teacher(paths)
    assert isinstance(ensemble, EnsembleTeacher) and (ensemble.mean, ensemble.std) == IMAGENET
    x = torch.randn(2, 3, *SIZE)
    with torch.no_grad():
        expected = (first(x) + second(renormalise(x, IMAGENET, ((0.5,) * 3, (0.25,) * 3)))) / 2
    assert torch.allclose(ensemble.predict_tensor(x), expected, atol=1e-5)
    members = [load_teacher(p) for p in paths]
    assert ensemble.identity not in {t.identity for t in members}
    assert [m["source"] for m in ensemble.describe()["members"]] == [str(p) for p in paths]
    assert isinstance(load_teacher(paths[:1]), TorchTeacher)  # one teacher is no ensemble
    with pytest.raises(LitedepthError, match="empty list"):
        load_teacher([])
    pytest.importorskip("onnxruntime")
    relative = load_teacher(_channel_mean_onnx(tmp_path / "mean.onnx"), relative=True)
    with pytest.raises(LitedepthError, match="predicts relative depth, .* metric depth; an ensemble averages one kind"):
        EnsembleTeacher([members[0], relative])
