import ast
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import litedepth
from litedepth.preprocess import IMAGENET, denormalise, network_view, normalise, renormalise, shorter_side_for, stats_of
from litedepth.training.teacher_base import input_name
from litedepth.training.teacher_cache import TeacherCache
from litedepth.training.teachers import TorchTeacher

SIZE = (48, 64)
OTHER = ((0.5, 0.4, 0.3), (0.2, 0.3, 0.25))  # statistics no shipped network uses


def _photo(h: int = 60, w: int = 80) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (3, 5, 7)])
def test_normalise_denormalise_round_trip(shape):
    rgb = torch.rand(shape)
    x = normalise(rgb, *OTHER)
    assert x.shape == rgb.shape
    expected = (rgb - torch.tensor(OTHER[0]).view(3, 1, 1)) / torch.tensor(OTHER[1]).view(3, 1, 1)
    assert torch.equal(x, expected)
    torch.testing.assert_close(denormalise(x, *OTHER), rgb, rtol=0, atol=1e-6)


def test_normalise_refuses_other_shapes():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        normalise(torch.rand(1, 4, 5, 5), *IMAGENET)


def test_renormalise_is_denormalise_then_normalise():
    x = torch.randn(2, 3, 6, 8)
    assert torch.equal(renormalise(x, IMAGENET, OTHER), normalise(denormalise(x, *IMAGENET), *OTHER))
    # what HFTeacher computed before: x * imagenet_std + imagenet_mean, then its own statistics
    im = [torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in IMAGENET]
    own = [torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in OTHER]
    assert torch.equal(renormalise(x, IMAGENET, OTHER), (x * im[1] + im[0] - own[0]) / own[1])


def test_stats_of_models_and_defaults():
    model = litedepth.create_model("fast-student", input_size=SIZE)
    assert stats_of(model) == IMAGENET == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    model.mean, model.std = OTHER
    assert stats_of(model) == OTHER and stats_of(TorchTeacher(model)) == OTHER
    assert stats_of(object()) == IMAGENET


def test_transforms_and_inference_use_the_preprocess_functions():
    from litedepth.data.transforms import shorter_side_for as from_transforms
    from litedepth.inference import network_view as from_inference

    assert from_transforms is shorter_side_for and from_inference is network_view
    assert shorter_side_for((228, 304)) == 240


def test_to_tensor_is_bit_identical_to_the_imagenet_formula():
    from litedepth.data.transforms import ToTensor

    img = _photo()
    x = ToTensor()({"image": img, "_depth_keys": []})["image"]
    arr = torch.from_numpy(np.ascontiguousarray((np.asarray(img, dtype=np.float32) / 255.0).transpose(2, 0, 1)))
    mean, std = (torch.tensor(v, dtype=torch.float32).view(3, 1, 1) for v in IMAGENET)
    assert torch.equal(x, (arr - mean) / std)


def test_network_view_normalises_with_the_given_statistics():
    img = _photo(48, 64)
    x, (h, w) = network_view(img, SIZE, *OTHER, "letterbox")
    assert (h, w) == SIZE
    rgb = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    assert torch.equal(x, normalise(rgb, *OTHER))


def test_a_teacher_normalises_with_its_own_statistics(tmp_path):
    """`Teacher.depth` takes plain RGB; the network sees it normalised with the teacher's statistics."""
    net = litedepth.create_model("fast-student", input_size=SIZE).eval()
    net.mean, net.std = OTHER
    seen = []
    net.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    colour = torch.tensor([0.9, 0.2, 0.6]).view(1, 3, 1, 1)
    TorchTeacher(net).depth(colour.expand(1, 3, *SIZE).contiguous())  # one colour: any resize keeps it
    expected = (colour - torch.tensor(OTHER[0]).view(1, 3, 1, 1)) / torch.tensor(OTHER[1]).view(1, 3, 1, 1)
    assert seen and all(torch.allclose(x, expected.expand_as(x), atol=1e-5) for x in seen)
    # the cache is keyed by the teacher's conventions: other statistics, another cache folder
    imagenet = TorchTeacher(litedepth.create_model("fast-student", input_size=SIZE))
    assert (
        TeacherCache(tmp_path / "cache", TorchTeacher(net), 51).dir
        != TeacherCache(tmp_path / "cache", imagenet, 51).dir
    )


def test_onnx_teacher_takes_its_statistics_from_the_files_metadata(tmp_path):
    pytest.importorskip("onnxruntime")
    from litedepth.deploy.export import export_onnx
    from litedepth.training.teachers import load_teacher

    net = litedepth.create_model("fast-student", input_size=SIZE).eval()
    net.mean, net.std = OTHER
    export_onnx(net, tmp_path / "t.onnx")
    teacher = load_teacher(tmp_path / "t.onnx")
    assert stats_of(teacher) == OTHER
    assert TeacherCache(tmp_path / "cache", teacher, 51).spec["conventions"]["input"] == input_name(*OTHER)


def test_training_set_normalises_with_the_students_statistics(tmp_path):
    """Both pipelines: the PIL one's ToTensor, and the tensor one's images, equal to the PIL ones."""
    from litedepth.config import Config
    from litedepth.synth.dataset import write_dataset
    from litedepth.training.loop import build_training_set

    write_dataset(tmp_path / "x", 2, split="train", size=SIZE, progress=False)
    cfg = Config.from_dict(
        {
            "name": "tiny",
            "model": {"arch": "fast-student", "input_size": SIZE},
            "data": {"sources": [{"path": str(tmp_path / "x"), "kind": "nyu", "split": "train"}], "workers": 0},
            "train": {"device": "cpu", "out_dir": str(tmp_path / "run"), "progress": False},
        }
    )
    cfg.augment.enabled = False
    student = litedepth.create_model("fast-student", input_size=SIZE)
    for stats, given in ((IMAGENET, None), (OTHER, student)):  # no student: the statistics of every shipped network
        student.mean, student.std = OTHER
        cfg.augment.pipeline = "pil"
        pil = build_training_set(cfg, student=given)
        to_tensor = pil.transform.transforms[-1]
        assert (to_tensor.mean, to_tensor.std) == stats
        cfg.augment.pipeline = "tensor"
        tensor = build_training_set(cfg, student=given)
        torch.testing.assert_close(tensor.batch([1])["image"][0], pil[1]["image"], atol=1e-5, rtol=0)


# Where the ImageNet constants may be named: the module that defines them, this module, and the
# defaults of models, teachers and transforms. Every pipeline takes the statistics from the model
# or teacher it feeds (`litedepth.preprocess.stats_of`).
ALLOWED = {
    "preprocess.py",  # defines IMAGENET_MEAN/IMAGENET_STD and IMAGENET, the default of `stats_of`
    "models/depthnet.py",  # DepthNet's default
    "models/__init__.py",  # re-exports them
    "training/teacher_base.py",  # the "imagenet" input convention of teachers, and Teacher's default
    "runtimes/base.py",  # an exported model's default when the file's metadata has no mean/std
    "data/transforms.py",  # default arguments of ToTensor, train_transform, test_transform
}


def test_imagenet_constants_are_named_only_where_allowed():
    root = Path(litedepth.__file__).parent
    users = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if re.search(r"\bIMAGENET_(MEAN|STD)\b", p.read_text())
    }
    assert {"preprocess.py", "models/depthnet.py"} <= users
    assert users <= ALLOWED, (
        f"ImageNet statistics hard-coded in {sorted(users - ALLOWED)}: use the model's or teacher's (stats_of)"
    )


def test_preprocess_and_inference_import_nothing_from_the_models():
    # `models.depthnet` takes the ImageNet statistics from `preprocess` and runs `inference.predict`:
    # an import the other way would close a circle
    root = Path(litedepth.__file__).parent
    for name in ("preprocess.py", "inference.py"):
        tree = ast.parse((root / name).read_text())
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level}
        assert not {m for m in imported if m.split(".")[0] == "models"}, name
