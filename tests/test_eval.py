"""Evaluation protocols, the evaluation loop and ``litedepth eval``."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from litedepth.checkpoint import save_model
from litedepth.cli import main
from litedepth.data import NYULabeledMatDataset, NYUSeedDataset, RGBDDataset
from litedepth.errors import LitedepthError
from litedepth.evaluation.loop import PROTOCOLS, evaluate, valid_mask
from litedepth.evaluation.metrics import METRIC_NAMES
from litedepth.models import create_model

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class TinyNet(nn.Module):
    """A small deterministic depth network: (B, 3, h, w) -> (B, 1, h, w), positive metres."""

    def __init__(self, input_size=(228, 304), seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 1, 5, padding=2)
        self.input_size = input_size

    def forward(self, x):
        return nn.functional.softplus(self.conv(x)) + 1.0


class RampNet(nn.Module):
    """Predicts a left-to-right ramp from ``a`` to ``b`` metres, whatever the input."""

    def __init__(self, a, b, input_size=(228, 304)):
        super().__init__()
        self.a, self.b, self.input_size = a, b, input_size

    def forward(self, x):
        ramp = torch.linspace(self.a, self.b, x.shape[-1])
        return ramp.expand(x.shape[0], 1, x.shape[-2], x.shape[-1]).clone()


def write_nyu_test(root, images, depths_mm):
    folder = root / "data" / "nyu2_test"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (rgb, d) in enumerate(zip(images, depths_mm)):
        Image.fromarray(rgb).save(folder / f"{i:05d}_colors.png")
        Image.fromarray(d).save(folder / f"{i:05d}_depth.png")
        rows.append(f"data/nyu2_test/{i:05d}_colors.png,data/nyu2_test/{i:05d}_depth.png")
    (root / "data" / "nyu2_test.csv").write_text("\n".join(rows) + "\n")


def make_scene(rng, n, h, w, zero_fraction=0.1):
    images = [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for _ in range(n)]
    depths = []
    for _ in range(n):
        d = rng.integers(500, 9000, size=(h, w)).astype(np.uint16)
        d[rng.random((h, w)) < zero_fraction] = 0
        depths.append(d)
    return images, depths


def authors_test(model, root, n):
    """The authors' test.py pipeline, transcribed independently: PIL Scale(240), centre crop,
    to_tensor + normalise, predict, mask gt > 0, per-image errors, mean over images."""
    sums = dict.fromkeys(METRIC_NAMES, 0.0)
    for i in range(n):
        image = Image.open(root / "data" / "nyu2_test" / f"{i:05d}_colors.png")
        depth = Image.open(root / "data" / "nyu2_test" / f"{i:05d}_depth.png")
        w, h = image.size
        ow, oh = (240, int(240 * h / w)) if w < h else (int(240 * w / h), 240)
        image, depth = image.resize((ow, oh), Image.BILINEAR), depth.resize((ow, oh), Image.NEAREST)
        x1, y1 = int(round((ow - 304) / 2.0)), int(round((oh - 228) / 2.0))
        image = image.crop((x1, y1, x1 + 304, y1 + 228))
        depth = depth.crop((x1, y1, x1 + 304, y1 + 228))
        img = torch.from_numpy(np.asarray(image, np.float32).transpose(2, 0, 1) / 255.0)
        for t, m, s in zip(img, MEAN, STD):
            t.sub_(m).div_(s)
        gt = torch.from_numpy(np.array(depth, np.int32)).float()[None, None] / 1000
        with torch.no_grad():
            out = model(img[None])
        mask = gt > 0
        o, t = out[mask], gt[mask]
        k = o.numel()
        diff = (o - t).abs()
        mse = float((diff**2).sum() / k)
        x, y = o / t, t / o
        z = torch.where(x < y, y, x)
        per = {
            "mse": mse,
            "rmse": math.sqrt(mse),
            "mae": float(diff.sum() / k),
            "abs_rel": float((diff / t).sum() / k),
            "log10": float((torch.log(o) / math.log(10) - torch.log(t) / math.log(10)).abs().sum() / k),
            **{f"delta{j}": float((z <= 1.25**j).float().sum() / k) for j in (1, 2, 3)},
        }
        for name in METRIC_NAMES:
            sums[name] += per[name]
    return {name: v / n for name, v in sums.items()}


def test_hu2021_equals_the_authors_pipeline(tmp_path):
    images, depths = make_scene(np.random.default_rng(0), 3, 480, 640)
    write_nyu_test(tmp_path, images, depths)
    model = TinyNet().eval()
    result = evaluate(model, tmp_path, protocol="hu2021", progress=False)
    expected = authors_test(model, tmp_path, 3)
    assert result.n_images == 3 and result.protocol == "hu2021" and not result.notes
    for name in METRIC_NAMES:
        assert math.isclose(result.metrics[name], expected[name], rel_tol=1e-5), name


def test_batch_size_does_not_change_numbers_and_training_mode_is_restored(tmp_path):
    images, depths = make_scene(np.random.default_rng(1), 5, 48, 64)
    write_nyu_test(tmp_path, images, depths)
    torch.manual_seed(0)
    model = create_model("hu2021-student", input_size=(114, 152)).train()  # quarter cost; same layers
    one = evaluate(model, tmp_path, batch_size=1, progress=False)
    assert model.training  # evaluate() puts it back
    four = evaluate(model, tmp_path, batch_size=4, progress=False)
    assert [r["name"] for r in one.per_image] == [r["name"] for r in four.per_image]
    for a, b in zip(one.per_image, four.per_image):
        for name in METRIC_NAMES:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-5, equal_nan=True)
        assert a["nonpositive"] == b["nonpositive"]


def test_official_mat_and_seed_png_test_sets_agree(tmp_path):
    rng = np.random.default_rng(2)
    images, depths_mm = make_scene(rng, 5, 48, 64)
    depths_m = [d.astype(np.float32) / np.float32(1000) for d in depths_mm]
    h5py, scipy_io = pytest.importorskip("h5py"), pytest.importorskip("scipy.io")  # the mat extra
    with h5py.File(tmp_path / "nyu_depth_v2_labeled.mat", "w") as f:
        f["images"] = np.stack([im.transpose(2, 1, 0) for im in images])
        f["depths"] = np.stack([d.T for d in depths_m])
    test_idx = [2, 4, 5]  # 1-based, as in splits.mat
    scipy_io.savemat(
        tmp_path / "splits.mat", {"testNdxs": np.array(test_idx)[:, None], "trainNdxs": np.array([[1], [3]])}
    )
    write_nyu_test(tmp_path / "seed", [images[i - 1] for i in test_idx], [depths_mm[i - 1] for i in test_idx])

    model = TinyNet(input_size=(24, 32)).eval()
    from_mat = evaluate(
        model, NYULabeledMatDataset(tmp_path / "nyu_depth_v2_labeled.mat", split="test"), progress=False
    )
    from_png = evaluate(model, NYUSeedDataset(tmp_path / "seed"), progress=False)
    assert from_mat.n_images == from_png.n_images == 3
    for name in METRIC_NAMES:
        assert math.isclose(from_mat.metrics[name], from_png.metrics[name], rel_tol=1e-6), name
    assert any("scaled" in note for note in from_png.notes)  # 24x32 network: shorter side 25, crop 24x32


def test_eigen_crop_and_depth_range():
    proto = PROTOCOLS["eigen"]
    gt = torch.full((1, 1, 480, 640), 5.0)
    m = valid_mask(proto, gt)[0, 0]
    rows, cols = torch.nonzero(m.any(dim=1)).flatten(), torch.nonzero(m.any(dim=0)).flatten()
    assert (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())) == (45, 470, 41, 600)
    assert int(m.sum()) == (471 - 45) * (601 - 41)
    gt[0, 0, 100, 100], gt[0, 0, 101, 100], gt[0, 0, 102, 100] = 10.0, 1e-3, 9.999
    m = valid_mask(proto, gt)[0, 0]
    assert not m[100, 100] and not m[101, 100] and m[102, 100]
    half = valid_mask(proto, torch.ones(1, 1, 240, 320))[0, 0]
    rows, cols = torch.nonzero(half.any(dim=1)).flatten(), torch.nonzero(half.any(dim=0)).flatten()
    # round(22.5) = 22, round(235.5) = 236, round(20.5) = 20, round(300.5) = 300 (round half to even)
    assert (int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1) == (22, 236, 20, 300)


def test_eigen_end_to_end_against_hand_computation(tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "rgb").mkdir()
    (tmp_path / "depth").mkdir()
    gt_mm = rng.integers(0, 12000, size=(480, 640)).astype(np.uint16)
    Image.fromarray(rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)).save(tmp_path / "rgb" / "a.png")
    Image.fromarray(gt_mm).save(tmp_path / "depth" / "a.png")
    model = RampNet(-1.0, 12.0)  # negative on the left (clamped to 1e-3), above 10 on the right (clamped)
    result = evaluate(model, RGBDDataset(tmp_path), protocol="eigen", progress=False)

    gt = gt_mm.astype(np.float64) / 1000
    pred = np.clip(-1.0 + 13.0 * np.arange(640) / 639, 1e-3, 10.0)[None, :].repeat(480, axis=0)
    valid = (gt > 1e-3) & (gt < 10)
    region = np.zeros_like(valid)
    region[45:471, 41:601] = True
    o, t = pred[valid & region], gt[valid & region]
    ratio = np.maximum(o / t, t / o)
    assert math.isclose(result.metrics["rmse"], math.sqrt(np.mean((o - t) ** 2)), rel_tol=1e-5)
    assert math.isclose(result.metrics["abs_rel"], np.mean(np.abs(o - t) / t), rel_tol=1e-5)
    assert math.isclose(result.metrics["log10"], np.mean(np.abs(np.log10(o) - np.log10(t))), rel_tol=1e-5)
    assert math.isclose(result.metrics["delta1"], np.mean(ratio <= 1.25), rel_tol=1e-5)
    assert result.nonpositive_pixels > 0 and math.isfinite(result.metrics["log10"])


def test_bad_items_raise_naming_the_file_or_are_skipped(tmp_path):
    images, depths = make_scene(np.random.default_rng(4), 2, 30, 40)
    write_nyu_test(tmp_path, images, depths)
    folder = tmp_path / "data" / "nyu2_test"
    Image.fromarray(np.zeros((30, 40), np.uint16)).save(folder / "00001_depth.png")  # no valid pixel
    model = TinyNet(input_size=(24, 32))
    with pytest.raises(LitedepthError, match=r"00001_depth\.png: no valid ground-truth depth"):
        evaluate(model, tmp_path, progress=False)
    subset = torch.utils.data.Subset(NYUSeedDataset(tmp_path), [1])  # as training code passes a val subset
    with pytest.raises(LitedepthError, match=r"00001_depth\.png: no valid ground-truth depth"):
        evaluate(model, subset, progress=False)
    result = evaluate(model, tmp_path, skip_bad=True, progress=False)
    assert result.n_images == 1 and len(result.skipped) == 1
    assert result.to_json()["n_skipped"] == 1


def test_a_dataset_of_transformed_samples_is_one_line_even_with_skip_bad():
    class Transformed(torch.utils.data.Dataset):  # what a training pipeline's transform yields: tensors
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return {"image": torch.zeros(3, 24, 32), "depth": torch.ones(1, 24, 32), "name": str(index)}

    for skip_bad in (False, True):  # the caller's dataset, not one bad file: never skipped
        with pytest.raises(LitedepthError, match=r"^item 0: a transformed sample; evaluate\(\) needs raw samples"):
            evaluate(TinyNet(input_size=(24, 32)), Transformed(), skip_bad=skip_bad, progress=False)


@pytest.fixture(scope="module")
def student_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "student.safetensors"
    save_model(create_model("hu2021-student"), path)
    return path


def test_cli_eval_writes_json_csv_and_predictions(tmp_path, student_checkpoint, capsys):
    images, depths = make_scene(np.random.default_rng(5), 3, 60, 80)
    write_nyu_test(tmp_path / "nyu", images, depths)
    out = tmp_path / "out"
    code = main(
        [
            "eval",
            "--model",
            str(student_checkpoint),
            "--data",
            str(tmp_path / "nyu"),
            "--json",
            str(out / "m.json"),
            "--per-image",
            str(out / "p.csv"),
            "--save-predictions",
            str(out / "pred"),
            "--batch-size",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "protocol hu2021: 3 images" in printed
    data = json.loads((out / "m.json").read_text())
    assert set(METRIC_NAMES) | {"n_images", "protocol"} <= set(data)
    assert data["n_images"] == 3 and data["protocol"] == "hu2021" and data["n_skipped"] == 0
    assert data["model_arch"] == "hu2021-student" and data["input_size"] == [228, 304]
    with open(out / "p.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and float(rows[0]["n_valid"]) > 0
    rmse_mean = sum(float(r["rmse"]) for r in rows) / 3
    assert math.isclose(rmse_mean, data["rmse"], rel_tol=1e-4)
    pred = np.array(Image.open(out / "pred" / "data" / "nyu2_test" / "00000_colors.png"))
    assert pred.dtype == np.uint16 and pred.shape == (228, 304)


def test_cli_eval_bad_data_exit_2_one_line_and_skip_bad(tmp_path, student_checkpoint, capsys):
    images, depths = make_scene(np.random.default_rng(6), 5, 60, 80)
    root = tmp_path / "nyu"
    write_nyu_test(root, images, depths)
    folder = root / "data" / "nyu2_test"
    (folder / "00001_colors.png").unlink()  # missing file
    Image.fromarray(np.full((60, 80), 9, np.uint8)).save(folder / "00002_depth.png")  # 8-bit: wrong dtype
    Image.fromarray(np.full((50, 80), 900, np.uint16)).save(folder / "00003_depth.png")  # wrong size
    Image.fromarray(np.zeros((60, 80), np.uint16)).save(folder / "00004_depth.png")  # no valid pixel

    code = main(["eval", "--model", str(student_checkpoint), "--data", str(root), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("litedepth eval: error: ") and "00001_colors.png: no such file" in err[0]

    js = tmp_path / "m.json"
    code = main(
        [
            "eval",
            "--model",
            str(student_checkpoint),
            "--data",
            str(root),
            "--skip-bad",
            "--json",
            str(js),
            "--no-progress",
        ]
    )
    assert code == 0
    data = json.loads(js.read_text())
    assert data["n_images"] == 1 and data["n_skipped"] == 4
    reasons = " | ".join(s["reason"] for s in data["skipped"])
    assert "00001_colors.png" in reasons and "00002_depth.png: depth image is 8-bit" in reasons
    assert "00003_depth.png: depth is 80x50" in reasons and "00004_depth.png: no valid" in reasons


class ZeroNet(nn.Module):
    """Predicts 0 m everywhere, so that ``mae`` is the mean ground truth and ``rmse`` its root mean square."""

    input_size = (228, 304)

    def forward(self, x):
        return torch.zeros(x.shape[0], 1, x.shape[-2], x.shape[-1])


def _one_error_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("litedepth eval: error: ") and "Traceback" not in captured.err
    return lines[0]


def test_cli_eval_seed_folder_with_only_train_csv(tmp_path, student_checkpoint, capsys):
    from litedepth.hub import open_model
    from litedepth.synth.dataset import write_dataset

    root = tmp_path / "nyu"
    write_dataset(root, 2, split="train", size=(48, 64), progress=False)
    # default --split test: refused on one line naming the missing CSV and the one there, never read as mm RGB-D
    assert main(["eval", "--model", str(student_checkpoint), "--data", str(root), "--no-progress"]) == 2
    line = _one_error_line(capsys)
    assert "nyu2_test.csv" in line and "data/nyu2_train.csv" in line and "--split train" in line
    # --split train: the NYU reader, 8-bit depth x 10/255 m
    js = tmp_path / "m.json"
    code = main(
        [
            "eval",
            "--model",
            str(student_checkpoint),
            "--data",
            str(root),
            "--split",
            "train",
            "--json",
            str(js),
            "--no-progress",
        ]
    )
    assert code == 0
    data = json.loads(js.read_text())
    reader = NYUSeedDataset(root, split="train")
    gt = np.concatenate([reader[i]["depth"].ravel() for i in range(len(reader))])
    assert 1.0 < gt.max() <= 10.0
    expected = evaluate(open_model(str(student_checkpoint)), reader, progress=False)
    assert data["n_images"] == 2 and data["rmse"] == pytest.approx(expected.metrics["rmse"], rel=1e-6)
    assert data["mae"] == pytest.approx(expected.metrics["mae"], rel=1e-6)


def test_cli_eval_depth_scale(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("litedepth.hub.open_model", lambda *args, **kwargs: ZeroNet())
    rng = np.random.default_rng(7)
    folder = tmp_path / "rgbd"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)).save(folder / f"{i}.jpg")
        Image.fromarray(rng.integers(500, 9000, size=(60, 80)).astype(np.uint16)).save(folder / f"{i}.png")

    def run(*extra):
        js = tmp_path / f"m{len(extra)}{'_'.join(extra)}.json"  # a new file each run: outputs are not overwritten
        assert main(["eval", "--model", "zero", "--data", str(folder), "--json", str(js), "--no-progress", *extra]) == 0
        capsys.readouterr()
        return json.loads(js.read_text())

    default, mm, tum = run(), run("--depth-scale", "1000"), run("--depth-scale", "5000")
    assert mm["mae"] == default["mae"] and mm["rmse"] == default["rmse"] and "depth_scale" not in default
    assert 0.5 < mm["mae"] < 9.0 and tum["depth_scale"] == 5000.0
    assert mm["mae"] == pytest.approx(5 * tum["mae"], rel=1e-6) and mm["rmse"] == pytest.approx(
        5 * tum["rmse"], rel=1e-6
    )
    # not a positive number: refused before anything runs
    for bad in ("0", "-1000", "abc", "nan", "inf"):
        assert main(["eval", "--model", "zero", "--data", str(folder), "--depth-scale", bad, "--no-progress"]) == 2
        assert f"--depth-scale {bad}: expected a positive number" in _one_error_line(capsys)
    # where the scale is fixed: an NYU seed folder, its CSV, the official .mat
    write_nyu_test(tmp_path / "nyu", *make_scene(rng, 1, 30, 40))
    (tmp_path / "nyu_depth_v2_labeled.mat").write_bytes(b"")  # refused by its name, before it is read
    for data in (tmp_path / "nyu", tmp_path / "nyu" / "data" / "nyu2_test.csv", tmp_path / "nyu_depth_v2_labeled.mat"):
        assert main(["eval", "--model", "zero", "--data", str(data), "--depth-scale", "1000", "--no-progress"]) == 2
        assert "depth scale 1000 does not apply" in _one_error_line(capsys)
    with pytest.raises(LitedepthError, match="dataset path only"):
        evaluate(ZeroNet(), RGBDDataset(folder), depth_scale=1000.0, progress=False)


class ConstNet(nn.Module):
    """Predicts ``metres`` everywhere: a network whose scale is right for the scene the test writes."""

    input_size = (48, 64)

    def __init__(self, metres):
        super().__init__()
        self.metres = metres

    def forward(self, x):
        return torch.full((x.shape[0], 1, x.shape[-2], x.shape[-1]), self.metres)


def write_tum_folder(folder, n=2, metres=2.0, units_per_metre=5000):
    """Generic RGB-D pairs (``i.jpg`` + ``i.png``) whose 16-bit depth is ``metres`` (+-10%) at ``units_per_metre``."""
    rng = np.random.default_rng(8)
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)).save(folder / f"{i}.jpg")
        raw = metres * units_per_metre * rng.uniform(0.9, 1.1, size=(60, 80))
        Image.fromarray(raw.astype(np.uint16)).save(folder / f"{i}.png")
    return folder


def test_depth_scale_warning_when_medians_differ_over_3x(tmp_path):
    folder = write_tum_folder(tmp_path / "tum")
    wrong = evaluate(ConstNet(2.0), folder, progress=False)  # default 1000 per metre: ground truth 5x too far
    assert len(wrong.warnings) == 1
    line = wrong.warnings[0]
    assert "\n" not in line and line.startswith("ground-truth median depth 10 m vs prediction median 2 m (5.0x)")
    assert line.endswith("is the depth scale right? TUM depth needs --depth-scale 5000")
    assert wrong.to_json()["warnings"] == [line]
    right = evaluate(ConstNet(2.0), folder, depth_scale=5000, progress=False)
    assert right.warnings == [] and right.to_json()["warnings"] == []
    assert right.metrics["abs_rel"] < 0.1 < wrong.metrics["abs_rel"]
    # a dataset object: --depth-scale does not apply, the line does not name it
    fixed = evaluate(ConstNet(2.0), RGBDDataset(folder), progress=False)
    assert (
        len(fixed.warnings) == 1
        and "--depth-scale" not in fixed.warnings[0]
        and "do not fit this data" in fixed.warnings[0]
    )


def test_scale_warning_thresholds_and_advice():
    from litedepth.evaluation.loop import scale_warning

    assert scale_warning(2.9, 1.0, 1000.0, True) is None and scale_warning(1.0, 2.9, 1000.0, True) is None
    assert "TUM depth needs --depth-scale 5000" in scale_warning(10.0, 2.0, 1000.0, True)
    # millimetre PNGs read as metres, and metres read as millimetres
    assert scale_warning(2000.0, 2.0, 1.0, True).endswith("millimetre depth needs --depth-scale 1000")
    assert scale_warning(0.002, 2.0, 1000.0, True).endswith(
        "(0.001x): is the depth scale right? depth in metres needs --depth-scale 1"
    )
    low = scale_warning(0.5, 2.0, 1000.0, True)  # 0.25x: no known scale matches
    assert "(0.25x)" in low and low.endswith("5000: TUM; 1: float metres)")
    assert scale_warning(0.5, 2.0, None, True).endswith("1: float metres)")  # scale unknown (float .npy)
    # no positive prediction median: the non-positive note covers it
    assert scale_warning(3.0, 0.0, 1000.0, True) is None and scale_warning(3.0, float("nan"), 1000.0, True) is None


def test_cli_eval_records_the_depth_scale_warning(tmp_path, capsys):
    """A real checkpoint predicting 2 m everywhere, on TUM-scaled PNGs: the JSON records the warning."""
    model = create_model("fast-student", input_size=(48, 64))
    with torch.no_grad():
        model.R.conv2.weight.zero_()
        model.R.conv2.bias.fill_(2.0)
    ckpt = save_model(model, tmp_path / "two-metres.safetensors")
    folder = write_tum_folder(tmp_path / "tum")
    outputs, stderr = {}, {}
    for label, extra in (("default", []), ("tum", ["--depth-scale", "5000"])):
        js = tmp_path / f"{label}.json"
        capsys.readouterr()
        assert (
            main(["eval", "--model", str(ckpt), "--data", str(folder), "--json", str(js), "--no-progress", *extra]) == 0
        )
        stderr[label] = capsys.readouterr().err
        outputs[label] = json.loads(js.read_text())
    assert len(outputs["default"]["warnings"]) == 1 and "--depth-scale 5000" in outputs["default"]["warnings"][0]
    warned = [line for line in stderr["default"].splitlines() if line.startswith("warning: ")]
    assert len(warned) == 1 and "--depth-scale 5000" in warned[0]
    assert outputs["tum"]["warnings"] == [] and "--depth-scale" not in stderr["tum"]
