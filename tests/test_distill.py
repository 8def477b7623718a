import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import litedepth
from litedepth.cli import main
from litedepth.config import Config
from litedepth.synth.dataset import write_dataset
from litedepth.training.losses import DepthLoss
from litedepth.training.mixing import build_training_set
from litedepth.training.optim import build_optimizer
from litedepth.training.step import LiveTeacher, StepSettings, build_objective, train_step
from litedepth.training.teacher_cache import TeacherCache
from litedepth.training.teachers import InputRule, load_teacher

SIZE = (48, 64)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict[str, Path]:
    x = tmp_path_factory.mktemp("x")
    u = tmp_path_factory.mktemp("u")
    write_dataset(x, 8, split="train", size=SIZE, progress=False)
    write_dataset(u, 8, split="train", size=SIZE, seed=1, progress=False)
    images = tmp_path_factory.mktemp("images")
    for i, p in enumerate(sorted((u / "data" / "nyu2_train").rglob("*.jpg"))):
        Image.open(p).save(images / f"frame{i:02d}.png")
    return {"x": x, "u": u, "images": images}


@pytest.fixture(scope="module")
def constant_teacher(tmp_path_factory) -> Path:
    """A real network whose last convolution is zeroed: it predicts 2.0 m everywhere."""
    torch.manual_seed(0)
    model = litedepth.create_model("hu2021-student", input_size=SIZE)
    with torch.no_grad():
        model.R.conv2.weight.zero_()
        model.R.conv2.bias.fill_(2.0)
    return litedepth.save_model(model, tmp_path_factory.mktemp("teacher") / "const.safetensors")


def kd_config(sources, out: Path, **extra) -> Config:
    data = {
        "name": "kd",
        "model": {"arch": "hu2021-student", "input_size": list(SIZE)},
        "data": {"sources": sources, "workers": 0},
        "augment": {"rotate": 0.0},  # rotation would zero corner pixels of the teacher target (masked)
        "train": {"epochs": 1, "batch_size": 4, "device": "cpu", "out_dir": str(out), "progress": False, "threads": 1},
    }
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    return Config.from_dict(data)


def _first_batch(cfg, teacher, indices):
    return build_training_set(cfg, teacher).batch(indices)


def _step_and_expect(cfg, teacher, batch):
    """train_step's loss next to the loss computed here from the student's prediction before the step."""
    torch.manual_seed(0)
    model = litedepth.create_model("hu2021-student", input_size=SIZE)
    objective, _ = build_objective(cfg, teacher)
    optimizer = build_optimizer(cfg, model.parameters())
    with torch.no_grad():
        pred = model(batch["image"])  # train mode: same batch statistics as the step
    settings = StepSettings("cpu", live_teacher=LiveTeacher(teacher) if teacher is not None else None)
    terms = train_step(model, optimizer, objective, batch, settings)
    return pred, terms.total.item(), {"gt": terms.gt.item(), "teacher": terms.teacher.item()}


@pytest.mark.parametrize("cache", [True, False])
def test_unlabeled_data_learns_from_the_teacher_only(synth, constant_teacher, tmp_path, cache):
    cfg = kd_config([{"path": str(synth["u"]), "role": "unlabeled", "kind": "nyu"}], tmp_path, distill={"cache": cache})
    teacher = load_teacher(constant_teacher)
    batch = _first_batch(cfg, teacher, [0, 1, 2, 3])
    assert batch["has_depth"].sum() == 0 and batch["teach"].tolist() == [1.0] * 4
    assert torch.equal(batch["depth"], torch.zeros_like(batch["depth"]))  # its ground truth is never loaded
    if cache:
        assert torch.all(batch["target"] == 2.0) and batch["cached"].tolist() == [1.0] * 4
    pred, loss, parts = _step_and_expect(cfg, teacher, batch)
    assert parts["gt"] == 0.0
    expected = DepthLoss()(pred, torch.full_like(pred, 2.0))
    assert loss == pytest.approx(expected.item(), rel=1e-5)


def test_labeled_data_without_teacher_uses_ground_truth(synth, tmp_path):
    cfg = kd_config([{"path": str(synth["x"]), "kind": "nyu"}], tmp_path)
    batch = _first_batch(cfg, None, [0, 1, 2, 3])
    pred, loss, parts = _step_and_expect(cfg, None, batch)
    assert parts["teacher"] == 0.0
    depth = batch["depth"]
    assert loss == pytest.approx(DepthLoss()(pred, depth, depth > 0).item(), rel=1e-5)


def test_labeled_data_with_teacher_mixes_both_targets(synth, constant_teacher, tmp_path):
    cfg = kd_config(
        [{"path": str(synth["x"]), "kind": "nyu"}], tmp_path, loss={"gt_weight": 0.5, "teacher_weight": 2.0}
    )
    teacher = load_teacher(constant_teacher)
    batch = _first_batch(cfg, teacher, [0, 1, 2, 3])
    pred, loss, parts = _step_and_expect(cfg, teacher, batch)
    depth = batch["depth"]
    gt = DepthLoss()(pred, depth, depth > 0).item()
    kd = DepthLoss()(pred, torch.full_like(pred, 2.0)).item()
    assert parts == pytest.approx({"gt": gt, "teacher": kd}, rel=1e-5)
    assert loss == pytest.approx(0.5 * gt + 2.0 * kd, rel=1e-5)


def test_auxiliary_sources_with_and_without_labels(synth, constant_teacher, tmp_path):
    teacher = load_teacher(constant_teacher)
    # X labeled (no teacher on it), U' labeled with its labels, U' with labels ignored
    sources = [
        {"path": str(synth["x"]), "kind": "nyu"},
        {"path": str(synth["u"]), "kind": "nyu"},
        {"path": str(synth["u"]), "kind": "nyu", "use_labels": False},
    ]
    cfg = kd_config(sources, tmp_path, distill={"teach_labeled": False})
    data = build_training_set(cfg, teacher)
    assert len(data) == 24
    first, aux, aux_unlabeled = data[0], data[8], data[16]
    assert (first["has_depth"], first["teach"]) == (1.0, 0.0)
    assert (aux["has_depth"], aux["teach"]) == (1.0, 0.0)
    assert (aux_unlabeled["has_depth"], aux_unlabeled["teach"]) == (0.0, 1.0)
    batch = data.prepare(torch.utils.data.default_collate([first, aux_unlabeled]), "cpu")
    pred, loss, parts = _step_and_expect(cfg, teacher, batch)
    d = batch["depth"][:1]
    assert parts["gt"] == pytest.approx(DepthLoss()(pred[:1], d, d > 0).item(), rel=1e-5)
    assert parts["teacher"] == pytest.approx(DepthLoss()(pred[1:], torch.full_like(pred[1:], 2.0)).item(), rel=1e-5)


def _normalised(img: Image.Image | torch.Tensor) -> torch.Tensor:
    if torch.is_tensor(img):  # (1, 3, H, W) RGB in 0..1
        return litedepth.preprocess.normalise(img, IMAGENET_MEAN.tolist(), IMAGENET_STD.tolist())
    x = (np.asarray(img, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(x.transpose(2, 0, 1)).unsqueeze(0)


def test_cache_equals_the_teacher_run_live_on_its_own_crops(synth, tmp_path):
    torch.manual_seed(1)
    net = litedepth.create_model("hu2021-student", input_size=SIZE).eval()
    teacher = load_teacher(net)
    from litedepth.data import NYUSeedDataset

    ds = NYUSeedDataset(synth["x"], split="train")
    cache = TeacherCache(tmp_path / "cache", teacher, shorter_side=51)
    assert teacher.rule == InputRule(SIZE, 51)  # crops of its input size at the scale it was trained at
    assert cache.fill(ds, progress=False) == len(ds)
    assert cache.fill(ds, progress=False) == 0  # all stored
    for i in range(len(ds)):
        stored = np.load(cache.path(ds, i))
        assert stored.dtype == np.float16 and stored.shape == (51, 68)
        rgb = torch.from_numpy(np.asarray(ds.load(i)["image"], np.float32) / 255).permute(2, 0, 1)[None]
        # the whole 48x64 image at the teacher's scale (shorter side 51), no augmentation
        x = _normalised(torch.nn.functional.interpolate(rgb, size=(51, 68), mode="bilinear", antialias=True))
        # the teacher's 48x64 input size tiles the 51x68 image with crops at rows 0 and 3, columns 0 and 4
        total, count = np.zeros((51, 68), np.float32), np.zeros((51, 68), np.float32)
        for top in (0, 3):
            for left in (0, 4):
                with torch.no_grad():
                    total[top : top + 48, left : left + 64] += net(x[..., top : top + 48, left : left + 64])[
                        0, 0
                    ].numpy()
                count[top : top + 48, left : left + 64] += 1
        np.testing.assert_allclose(stored.astype(np.float32), total / count, rtol=2e-3, atol=2e-3)
    # another teacher, or the same one with mirrored averaging, never reads these entries
    other = TeacherCache(
        tmp_path / "cache", load_teacher(litedepth.create_model("hu2021-student", input_size=SIZE)), shorter_side=51
    )
    assert other.dir != cache.dir and not other.path(ds, 0).exists()
    assert TeacherCache(tmp_path / "cache", teacher, shorter_side=51, flip=True).dir != cache.dir


def test_tile_starts_cover_the_axis_evenly():
    from litedepth.training.teachers import tile_starts

    assert tile_starts(101, 96) == [0, 5] and tile_starts(96, 96) == [0] and tile_starts(50, 96) == [0]
    assert tile_starts(300, 96) == [0, 68, 136, 204]
    for length, window in ((101, 96), (300, 96), (135, 128), (500, 7)):
        starts = tile_starts(length, window)
        covered = np.zeros(length, bool)
        for s in starts:
            covered[s : s + window] = True
        assert covered.all() and starts[-1] + window == length


def test_cached_targets_of_a_trained_teacher_are_as_good_as_the_live_teacher(synth, tmp_path):
    """Against ground truth, on the training crops: tiled cache ~ live teacher on the crop itself."""
    from litedepth.data import NYUSeedDataset
    from litedepth.training.loop import run

    cfg = Config.from_dict(
        {
            "model": {"arch": "fast-student", "input_size": [40, 52]},
            "data": {"sources": [{"path": str(synth["x"])}, {"path": str(synth["u"])}]},
            "augment": {"rotate": 0.0, "jitter": 0.0, "lighting": 0.0},
            "optim": {"lr": 1e-3},
            "schedule": {"kind": "constant"},
            "train": {
                "epochs": 12,
                "batch_size": 4,
                "out_dir": str(tmp_path / "teacher"),
                "progress": False,
                "threads": 1,
            },
        }
    )
    net = litedepth.load(run(cfg))
    teacher = load_teacher(net)
    ds = NYUSeedDataset(synth["x"], split="train")
    assert teacher.rule == InputRule((40, 52), 42)  # crops of its input size at its training scale: tiled
    whole = load_teacher(net)
    whole.rule = InputRule(shorter_side=42)  # the whole image at once, at the same scale
    errors = {"tiled": [], "whole": [], "live": []}
    for i in range(len(ds)):
        sample = ds.load(i)
        image = sample["image"].resize((56, 42), Image.BILINEAR)
        depth = torch.as_tensor(np.asarray(sample["depth"], np.float32))[None, None]
        gt = torch.nn.functional.interpolate(depth, size=(42, 56), mode="nearest")[0, 0].numpy()
        x = _normalised(image)
        rgb = torch.from_numpy(np.asarray(image, np.float32) / 255).permute(2, 0, 1)[None]
        for top, left in ((0, 0), (2, 4), (1, 2)):  # crops of the teacher's training size
            window = (slice(top, top + 40), slice(left, left + 52))
            g = gt[window]
            valid = g > 0
            with torch.no_grad():
                live = net(x[..., window[0], window[1]])[0, 0].numpy()
            for name, pred in (
                ("tiled", teacher.depth(rgb)[0, 0].numpy()[window]),
                ("whole", whole.depth(rgb)[0, 0].numpy()[window]),
                ("live", live),
            ):
                errors[name].append(float(np.mean(np.abs(pred[valid] - g[valid]) / g[valid])))
    mean = {k: float(np.mean(v)) for k, v in errors.items()}
    assert mean["live"] < 0.5, mean  # the teacher did learn something
    assert mean["tiled"] <= mean["live"] * 1.1, mean  # measured here: 0.297 against 0.286


def test_cached_target_moves_with_the_image(synth, tmp_path):
    """A teacher that outputs each pixel's channel mean: after flips and crops, target == mean of the image."""
    pytest.importorskip("onnxruntime")
    from test_teachers import _channel_mean_onnx

    teacher = load_teacher(_channel_mean_onnx(tmp_path / "mean.onnx"))
    cfg = kd_config(
        [{"path": str(synth["images"]), "role": "unlabeled"}],
        tmp_path,
        augment={"lighting": 0.0, "jitter": 0.0, "hflip": 0.5},
    )
    data = build_training_set(cfg, teacher)
    flipped = 0
    for epoch in range(2):
        for i in range(len(data)):
            item = {k: v[0] for k, v in data.batch([(epoch, i)]).items()}
            assert item["cached"] == 1.0 and item["target"].shape == (1, *SIZE)
            np.testing.assert_allclose(item["target"].numpy(), item["image"].mean(0, keepdim=True).numpy(), atol=4e-3)
            flipped += int(np.random.default_rng([0, 0, epoch, i]).random() < 0.5)
    assert flipped > 0


def test_distill_cli_end_to_end(synth, constant_teacher, tmp_path):
    out = tmp_path / "run"
    code = main(
        [
            "distill",
            "--config",
            "synth-student-kd",
            "--teacher",
            str(constant_teacher),
            "--set",
            f"data.sources.0.path={synth['x']}",
            "--set",
            f"data.sources.1.path={synth['images']}",
            "--set",
            "model.input_size=[48, 64]",
            "--set",
            "model.encoder_weights=null",
            "--set",
            "distill.teach_labeled=true",
            "--set",
            "train.epochs=1",
            "--set",
            "train.batch_size=8",
            "--set",
            "data.val=null",
            "--set",
            "data.workers=1",
            "--set",
            f"train.out_dir={out}",
            "--set",
            "train.progress=false",
            "--set",
            "train.threads=1",
        ]
    )
    assert code == 0
    model = litedepth.load(out / "model.safetensors")
    training = model.metadata["training"]
    assert training["teacher"]["source"] == str(constant_teacher) and training["kd_loss"] == "l1"
    assert [d["role"] for d in training["dataset"]] == ["labeled", "unlabeled"]
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert row["images"] == 16 and row["loss_teacher"] > 0 and row["loss_gt"] > 0
    assert len(list((out / "teacher-cache").rglob("*.npy"))) == 16


def test_an_ensemble_of_teachers_teaches_their_mean(synth, constant_teacher, tmp_path, capsys):
    import yaml

    torch.manual_seed(0)
    model = litedepth.create_model("hu2021-student", input_size=SIZE)
    with torch.no_grad():
        model.R.conv2.weight.zero_()
        model.R.conv2.bias.fill_(4.0)
    four = litedepth.save_model(model, tmp_path / "four.safetensors")
    assert (
        main(
            ["distill", "--config", "synth-student-kd", "--teacher", str(constant_teacher), str(four), "--print-config"]
        )
        == 0
    )
    teachers = yaml.safe_load(capsys.readouterr().out)["distill"]["teacher"]
    assert teachers == [str(constant_teacher), str(four)]
    cfg = kd_config(
        [{"path": str(synth["u"]), "role": "unlabeled", "kind": "nyu"}], tmp_path, distill={"teacher": teachers}
    )
    assert cfg.distill.teacher == teachers
    batch = _first_batch(cfg, load_teacher(cfg.distill.teacher), [0, 1, 2, 3])
    assert batch["cached"].tolist() == [1.0] * 4 and torch.all(batch["target"] == 3.0)  # the mean of 2 m and 4 m


def test_cache_pickles_without_its_teacher(synth, tmp_path):
    import pickle

    from litedepth.data import NYUSeedDataset

    pytest.importorskip("onnxruntime")
    from test_teachers import _channel_mean_onnx

    ds = NYUSeedDataset(synth["x"], split="train")
    cache = TeacherCache(tmp_path / "cache", load_teacher(_channel_mean_onnx(tmp_path / "mean.onnx")), shorter_side=51)
    cache.fill(ds, [0], progress=False)
    copy = pickle.loads(pickle.dumps(cache))  # what a spawned DataLoader worker receives
    assert copy.teacher is None and np.array_equal(copy.get(ds, 0), cache.get(ds, 0))
    with pytest.raises(litedepth.LitedepthError, match="no cached teacher prediction"):
        copy.get(ds, 1)
