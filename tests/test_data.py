"""Datasets and joint transforms on tiny generated files."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from litedepth.data import (
    CenterCrop,
    ColorJitter,
    Compose,
    NYULabeledMatDataset,
    NYUSeedDataset,
    PCALighting,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotation,
    ResizeShorter,
    RGBDDataset,
    ToTensor,
    UnlabeledImages,
    open_dataset,
    train_transform,
)
from litedepth.data import test_transform as make_test_transform
from litedepth.data.transforms import center_crop_box, shorter_side_for
from litedepth.errors import LitedepthError


def _rgb(rng, h, w):
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def write_seed_nyu(root, n=3, h=12, w=16, split="test", seed=0):
    """The seed's layout: root/data/nyu2_{split}.csv with rows relative to root."""
    rng = np.random.default_rng(seed)
    folder = root / "data" / f"nyu2_{split}"
    folder.mkdir(parents=True, exist_ok=True)
    rows, depths = [], []
    for i in range(n):
        rgb = _rgb(rng, h, w)
        if split == "test":
            d = rng.integers(0, 10000, size=(h, w)).astype(np.uint16)
            rgb_rel, depth_rel = f"data/nyu2_test/{i:05d}_colors.png", f"data/nyu2_test/{i:05d}_depth.png"
        else:
            d = rng.integers(0, 256, size=(h, w)).astype(np.uint8)
            rgb_rel, depth_rel = f"data/nyu2_train/scene_out/{i}.jpg", f"data/nyu2_train/scene_out/{i}.png"
            (root / rgb_rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(root / rgb_rel)
        Image.fromarray(d).save(root / depth_rel)
        rows.append(f"{rgb_rel},{depth_rel}")
        depths.append(d)
    (root / "data" / f"nyu2_{split}.csv").write_text("\n".join(rows) + "\n")
    return depths


def write_labeled_mat(path, images, depths):
    """MATLAB v7.3 layout as h5py sees it: images (N, 3, W, H) uint8, depths (N, W, H) float32."""
    h5py = pytest.importorskip("h5py")  # the mat extra
    with h5py.File(path, "w") as f:
        f["images"] = np.stack([im.transpose(2, 1, 0) for im in images])
        f["depths"] = np.stack([d.T for d in depths]).astype(np.float32)


def test_nyu_seed_test_split_reads_mm_png(tmp_path):
    raw = write_seed_nyu(tmp_path, n=3)
    ds = NYUSeedDataset(tmp_path, split="test")
    assert len(ds) == 3
    s = ds[1]
    assert s["image"].mode == "RGB" and s["image"].size == (16, 12)
    assert s["depth"].dtype == np.float32 and s["depth"].shape == (12, 16)
    np.testing.assert_allclose(s["depth"], raw[1].astype(np.float32) / 1000, rtol=1e-7)
    assert s["name"] == "data/nyu2_test/00001_colors"
    # the CSV path itself works too
    assert len(NYUSeedDataset(tmp_path / "data" / "nyu2_test.csv")) == 3


def test_nyu_seed_train_split_is_8bit_times_10_over_255(tmp_path):
    raw = write_seed_nyu(tmp_path, n=2, split="train")
    s = NYUSeedDataset(tmp_path, split="train")[0]
    np.testing.assert_allclose(s["depth"], raw[0].astype(np.float32) * 10 / 255, rtol=1e-6)


def test_nyu_seed_csv_relative_to_parent_is_tolerated(tmp_path):
    write_seed_nyu(tmp_path, n=2)
    # a CSV whose rows are relative to its own folder instead of the grandparent
    rows = [
        line.replace("data/nyu2_test", "nyu2_test")
        for line in (tmp_path / "data" / "nyu2_test.csv").read_text().splitlines()
    ]
    csv = tmp_path / "data" / "mine_test.csv"
    csv.write_text("\n".join(rows) + "\n")
    ds = NYUSeedDataset(csv)
    assert ds[0]["depth"].shape == (12, 16)


def test_nyu_seed_wrong_depth_dtype_names_the_file(tmp_path):
    write_seed_nyu(tmp_path, n=2)
    bad = tmp_path / "data" / "nyu2_test" / "00001_depth.png"
    Image.fromarray(np.full((12, 16), 7, np.uint8)).save(bad)
    ds = NYUSeedDataset(tmp_path)
    ds[0]
    with pytest.raises(LitedepthError, match="00001_depth.png: depth image is 8-bit"):
        ds[1]


def test_nyu_seed_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(LitedepthError, match="nyu2_test.csv"):
        NYUSeedDataset(tmp_path)


def _mat_fixture(tmp_path, n=5, h=6, w=8):
    rng = np.random.default_rng(3)
    images = [_rgb(rng, h, w) for _ in range(n)]
    depths = [(rng.integers(1, 9000, size=(h, w)).astype(np.float32) / np.float32(1000)) for _ in range(n)]
    write_labeled_mat(tmp_path / "nyu_depth_v2_labeled.mat", images, depths)
    scipy_io = pytest.importorskip("scipy.io")  # the mat extra
    scipy_io.savemat(
        tmp_path / "splits.mat", {"testNdxs": np.array([[2], [4], [5]]), "trainNdxs": np.array([[1], [3]])}
    )
    return images, depths


def test_labeled_mat_reads_transposed_layout_and_splits(tmp_path):
    images, depths = _mat_fixture(tmp_path)
    ds = NYULabeledMatDataset(tmp_path / "nyu_depth_v2_labeled.mat", split="test")
    assert len(ds) == 3
    s = ds[0]  # labeled image 2 (1-based) = index 1
    assert s["image"].size == (8, 6)
    np.testing.assert_array_equal(np.asarray(s["image"]), images[1])
    np.testing.assert_array_equal(s["depth"], depths[1])
    assert s["name"] == "0002"
    assert [ds[i]["name"] for i in range(3)] == ["0002", "0004", "0005"]
    assert len(NYULabeledMatDataset(tmp_path / "nyu_depth_v2_labeled.mat", split="train")) == 2
    assert len(NYULabeledMatDataset(tmp_path / "nyu_depth_v2_labeled.mat", split="all")) == 5


def test_labeled_mat_survives_pickling_and_workers(tmp_path):
    images, _ = _mat_fixture(tmp_path)
    ds = NYULabeledMatDataset(tmp_path / "nyu_depth_v2_labeled.mat", split="all", transform=ToTensor())
    ds[0]  # opens the file in this process
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone[3]["image"], ds[3]["image"])
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=1)
    batch = next(iter(loader))
    assert batch["image"].shape == (2, 3, 6, 8) and batch["depth"].shape == (2, 1, 6, 8)


def test_labeled_mat_needs_splits_for_test(tmp_path):
    rng = np.random.default_rng(0)
    write_labeled_mat(tmp_path / "x.mat", [_rgb(rng, 4, 4)], [np.ones((4, 4), np.float32)])
    with pytest.raises(LitedepthError, match="splits.mat"):
        NYULabeledMatDataset(tmp_path / "x.mat", split="test")


@pytest.mark.parametrize("missing", ["h5py", "scipy"])
def test_labeled_mat_without_the_mat_extra_is_one_line_naming_it(tmp_path, monkeypatch, missing):
    _mat_fixture(tmp_path)
    monkeypatch.setitem(sys.modules, missing, None)  # `import missing` now raises ImportError
    if missing == "scipy":
        monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(LitedepthError) as info:
        NYULabeledMatDataset(tmp_path / "nyu_depth_v2_labeled.mat", split="test")
    message = str(info.value)
    assert "\n" not in message and f"'{missing}' package" in message and "pip install 'litedepth[mat]'" in message


def test_unwrap_subset_finds_the_dataset_and_its_indices(tmp_path):
    from litedepth.data.base import unwrap_subset

    write_seed_nyu(tmp_path, n=6, h=6, w=8)
    ds = NYUSeedDataset(tmp_path)
    assert unwrap_subset(ds) == (ds, range(6))
    inner, indices = unwrap_subset(torch.utils.data.Subset(ds, [4, 1, 5]))
    assert inner is ds and list(indices) == [4, 1, 5]
    inner, indices = unwrap_subset(torch.utils.data.Subset(torch.utils.data.Subset(ds, [4, 1, 5]), [2, 0]))
    assert inner is ds and list(indices) == [5, 4]


def test_rgbd_csv_and_folder_layouts(tmp_path):
    rng = np.random.default_rng(1)
    mm = rng.integers(1, 5000, size=(6, 8)).astype(np.uint16)
    # CSV with TUM scale
    Image.fromarray(_rgb(rng, 6, 8)).save(tmp_path / "a.jpg")
    Image.fromarray(mm).save(tmp_path / "a.png")
    (tmp_path / "pairs.csv").write_text("a.jpg,a.png\n")
    s = RGBDDataset(tmp_path / "pairs.csv", depth_scale=5000.0)[0]
    np.testing.assert_allclose(s["depth"], mm / 5000.0, rtol=1e-6)
    # folder: X.jpg + X.png, X_colors.png + X_depth.png, Y.jpg + Y.npy (float metres)
    flat = tmp_path / "flat"
    (flat / "sub").mkdir(parents=True)
    Image.fromarray(_rgb(rng, 6, 8)).save(flat / "a.jpg")
    Image.fromarray(mm).save(flat / "a.png")
    Image.fromarray(_rgb(rng, 6, 8)).save(flat / "sub" / "00001_colors.png")
    Image.fromarray(mm).save(flat / "sub" / "00001_depth.png")
    Image.fromarray(_rgb(rng, 6, 8)).save(flat / "m.jpg")
    metres = np.full((6, 8), 2.5, np.float32)
    metres[0, 0] = np.nan
    np.save(flat / "m.npy", metres)
    ds = RGBDDataset(flat)
    assert sorted(ds.names) == ["a", "m", "sub/00001_colors"]
    by_name = {ds[i]["name"]: ds[i] for i in range(len(ds))}
    np.testing.assert_allclose(by_name["a"]["depth"], mm / 1000.0, rtol=1e-6)
    assert by_name["m"]["depth"][0, 0] == 0 and by_name["m"]["depth"][1, 1] == np.float32(2.5)
    # rgb/ + depth/ subfolders
    sub = tmp_path / "split"
    (sub / "rgb").mkdir(parents=True)
    (sub / "depth").mkdir()
    Image.fromarray(_rgb(rng, 6, 8)).save(sub / "rgb" / "0001.jpg")
    Image.fromarray(mm).save(sub / "depth" / "0001.png")
    Image.fromarray(_rgb(rng, 6, 8)).save(sub / "rgb" / "0002.jpg")  # no depth: ignored
    assert len(RGBDDataset(sub)) == 1


def test_rgbd_size_mismatch_names_the_depth_file(tmp_path):
    rng = np.random.default_rng(2)
    Image.fromarray(_rgb(rng, 6, 8)).save(tmp_path / "a.jpg")
    Image.fromarray(np.ones((5, 8), np.uint16)).save(tmp_path / "a.png")
    with pytest.raises(LitedepthError, match=r"a\.png: depth is 8x5"):
        RGBDDataset(tmp_path)[0]


def test_unlabeled_folder_and_list(tmp_path):
    rng = np.random.default_rng(4)
    (tmp_path / "imgs" / "deep").mkdir(parents=True)
    Image.fromarray(_rgb(rng, 5, 7)).save(tmp_path / "imgs" / "b.jpg")
    Image.fromarray(_rgb(rng, 5, 7)).save(tmp_path / "imgs" / "deep" / "a.png")
    Image.fromarray(np.ones((5, 7), np.uint16)).save(tmp_path / "imgs" / "deep" / "a_depth.png")
    ds = UnlabeledImages(tmp_path / "imgs")
    assert ds.names == ["b", "deep/a"]
    assert set(ds[0]) == {"image", "name"}
    (tmp_path / "list.txt").write_text("# two images\nimgs/b.jpg\n\nimgs/deep/a.png\n")
    assert len(UnlabeledImages(tmp_path / "list.txt")) == 2


def test_open_dataset_picks_the_class(tmp_path):
    write_seed_nyu(tmp_path / "nyu", n=2)
    _mat_fixture(tmp_path)
    assert isinstance(open_dataset(tmp_path / "nyu"), NYUSeedDataset)
    assert isinstance(open_dataset(tmp_path / "nyu" / "data" / "nyu2_test.csv"), NYUSeedDataset)
    assert isinstance(open_dataset(tmp_path / "nyu_depth_v2_labeled.mat"), NYULabeledMatDataset)
    assert isinstance(open_dataset(tmp_path / "nyu" / "data" / "nyu2_test"), RGBDDataset)
    assert isinstance(open_dataset(tmp_path / "nyu", labeled=False), UnlabeledImages)
    with pytest.raises(LitedepthError, match="no such"):
        open_dataset(tmp_path / "nope")


def test_open_dataset_never_reads_a_seed_folder_without_the_split_as_generic_rgbd(tmp_path):
    from litedepth.synth.dataset import write_dataset

    root = tmp_path / "nyu"
    write_dataset(root, 2, split="train", size=(48, 64), progress=False)
    with pytest.raises(LitedepthError) as info:
        open_dataset(root)  # split="test", as `litedepth eval` defaults to
    message = str(info.value)
    assert (
        "\n" not in message
        and "nyu2_test.csv" in message
        and "data/nyu2_train.csv" in message
        and "--split train" in message
    )
    with pytest.raises(LitedepthError, match=r"nyu2_test\.csv.*data/nyu2_train\.csv"):
        NYUSeedDataset(root, split="test")
    ds = open_dataset(root, split="train")
    assert isinstance(ds, NYUSeedDataset) and ds.split == "train"
    for i in range(len(ds)):
        raw = np.array(Image.open(ds.source(i)))
        assert raw.dtype == np.uint8
        depth = ds[i]["depth"]
        np.testing.assert_array_equal(depth, raw.astype(np.float32) / np.float32(255) * np.float32(10))
        assert 1.0 < depth.max() <= 10.0  # metres, not the 0.05-0.14 m of 8-bit values read as millimetres
    # the CSVs directly in the folder (no data/): the same rules
    flat = tmp_path / "flat"
    write_seed_nyu(flat, n=2, split="train")
    (flat / "data" / "nyu2_train.csv").rename(flat / "nyu2_train.csv")
    with pytest.raises(LitedepthError, match=r"no nyu2_test\.csv .*\(it has nyu2_train\.csv\); use --split train"):
        open_dataset(flat)
    assert isinstance(open_dataset(flat, split="train"), NYUSeedDataset)
    with pytest.raises(LitedepthError, match="unknown NYU split 'all'"):
        open_dataset(flat, split="all")
    # the official .mat beside a seed folder without the split still serves that split
    _mat_fixture(flat)
    assert isinstance(open_dataset(flat, split="test"), NYULabeledMatDataset)


def test_nyu_seed_each_split_has_its_own_strict_depth_scale(tmp_path):
    train = write_seed_nyu(tmp_path, n=2, split="train", seed=1)
    test = write_seed_nyu(tmp_path, n=2, split="test", seed=2)
    tr, te = NYUSeedDataset(tmp_path, split="train"), NYUSeedDataset(tmp_path, split="test")
    np.testing.assert_allclose(tr[1]["depth"], train[1].astype(np.float32) * 10 / 255, rtol=1e-6)
    np.testing.assert_allclose(te[1]["depth"], test[1].astype(np.float32) / 1000, rtol=1e-7)
    # a CSV's name decides its split, whatever the default split says
    assert NYUSeedDataset(tmp_path / "data" / "nyu2_train.csv").split == "train"
    np.testing.assert_allclose(open_dataset(tmp_path / "data" / "nyu2_train.csv")[0]["depth"], tr[0]["depth"])
    # a depth file of the other split's format is refused, naming it, in both directions
    Image.fromarray(np.full((12, 16), 900, np.uint16)).save(tmp_path / "data" / "nyu2_train" / "scene_out" / "0.png")
    with pytest.raises(LitedepthError, match=r"0\.png: depth image is 16-bit \(NYU test format, mm\), expected 8-bit"):
        tr[0]
    Image.fromarray(np.full((12, 16), 9, np.uint8)).save(tmp_path / "data" / "nyu2_test" / "00000_depth.png")
    with pytest.raises(
        LitedepthError, match=r"00000_depth\.png: depth image is 8-bit \(NYU train format, x10/255 m\), expected 16-bit"
    ):
        te[0]


def test_open_dataset_depth_scale_for_rgbd_only(tmp_path):
    rng = np.random.default_rng(5)
    mm = rng.integers(1, 9000, size=(6, 8)).astype(np.uint16)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    Image.fromarray(_rgb(rng, 6, 8)).save(pairs / "a.jpg")
    Image.fromarray(mm).save(pairs / "a.png")
    (pairs / "list.csv").write_text("a.jpg,a.png\n")
    default = open_dataset(pairs)[0]["depth"]
    np.testing.assert_array_equal(open_dataset(pairs, depth_scale=1000)[0]["depth"], default)
    tum = open_dataset(pairs, depth_scale=5000)
    assert isinstance(tum, RGBDDataset)
    np.testing.assert_allclose(tum[0]["depth"] * 5, default, rtol=1e-6)
    np.testing.assert_allclose(open_dataset(pairs / "list.csv", depth_scale=5000.0)[0]["depth"], mm / 5000.0, rtol=1e-6)
    for bad in (0, -1000, float("nan"), float("inf"), "abc", True):
        with pytest.raises(LitedepthError, match="expected a positive number"):
            open_dataset(pairs, depth_scale=bad)
    # fixed scales: the seed layout (folder or CSV) and the official .mat
    write_seed_nyu(tmp_path / "nyu", n=1)
    _mat_fixture(tmp_path / "nyu")
    for path in (
        tmp_path / "nyu",
        tmp_path / "nyu" / "data" / "nyu2_test.csv",
        tmp_path / "nyu" / "nyu_depth_v2_labeled.mat",
    ):
        with pytest.raises(LitedepthError, match="depth scale 1000 does not apply to .*fixed"):
            open_dataset(path, depth_scale=1000)
    (tmp_path / "nyu" / "data" / "nyu2_test.csv").unlink()  # the folder's .mat is used then: still fixed
    with pytest.raises(LitedepthError, match=r"nyu_depth_v2_labeled\.mat: depth scale 5000 does not apply"):
        open_dataset(tmp_path / "nyu", depth_scale=5000)


# ---------------------------------------------------------------- transforms


def _coded_sample(h=96, w=128):
    """Image whose red channel encodes depth: 32x32 blocks with distinct values."""
    yy, xx = np.mgrid[0:h, 0:w]
    code = ((yy // 32) * 4 + (xx // 32) + 1).astype(np.uint8) * 19
    rgb = np.stack([code, np.zeros_like(code), np.zeros_like(code)], axis=-1)
    depth = code.astype(np.float32)
    return {
        "image": Image.fromarray(rgb),
        "depth": depth,
        "target": depth * 2,
        "_depth_keys": ["depth", "target"],
        "name": "x",
    }


@pytest.mark.parametrize(
    "transform",
    [
        ResizeShorter(72),
        CenterCrop(64, 80),
        RandomCrop(64, 80),
        RandomHorizontalFlip(1.0),
        RandomRotation(20),
        Compose([RandomRotation(5), ResizeShorter(80), RandomHorizontalFlip(0.5), CenterCrop(72, 96)]),
    ],
)
def test_geometric_transforms_keep_image_and_depth_aligned(transform):
    out = transform(_coded_sample(), np.random.default_rng(7))
    red = np.asarray(out["image"])[..., 0].astype(np.float32)
    assert red.shape == out["depth"].shape == out["target"].shape
    np.testing.assert_array_equal(out["target"], out["depth"] * 2)
    agree = np.mean(np.abs(red - out["depth"]) < 1)
    assert agree > 0.8, agree  # only pixels at block edges may differ (bilinear vs nearest)
    assert set(np.unique(out["depth"])) <= set(np.unique(_coded_sample()["depth"])) | {0.0}  # nearest: no new values


def test_center_crop_uses_the_authors_offsets():
    assert center_crop_box(320, 240, 228, 304) == (8, 6, 312, 234)
    s = {
        "image": Image.new("RGB", (320, 240)),
        "depth": np.arange(240 * 320, dtype=np.float32).reshape(240, 320),
        "name": "x",
    }
    out = CenterCrop(228, 304)(s, np.random.default_rng(0))
    assert out["depth"][0, 0] == 6 * 320 + 8 and out["image"].size == (304, 228)


def test_resize_shorter_matches_the_authors_scale():
    s = {"image": Image.new("RGB", (640, 480)), "depth": np.zeros((480, 640), np.float32), "name": "x"}
    out = ResizeShorter(240)(s, np.random.default_rng(0))
    assert out["image"].size == (320, 240) and out["depth"].shape == (240, 320)
    assert shorter_side_for((228, 304)) == 240 and shorter_side_for((114, 152)) == 120


def test_photometric_transforms_touch_only_the_image_and_are_seeded():
    s = _coded_sample()
    t = Compose([PCALighting(0.1), ColorJitter(0.4, 0.4, 0.4)])
    a = t(s, np.random.default_rng(11))
    b = t(s, np.random.default_rng(11))
    c = t(s, np.random.default_rng(12))
    np.testing.assert_array_equal(a["image"], b["image"])
    assert not np.array_equal(a["image"], c["image"])
    np.testing.assert_array_equal(a["depth"], s["depth"])
    assert a["image"].dtype == np.float32 and a["image"].shape == (96, 128, 3)


def test_to_tensor_normalises_and_collates(tmp_path):
    write_seed_nyu(tmp_path, n=4, h=30, w=40)
    ds = NYUSeedDataset(tmp_path, transform=train_transform((24, 32)))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 3, 24, 32) and batch["image"].dtype == torch.float32
    assert batch["depth"].shape == (4, 1, 24, 32)
    assert len(batch["name"]) == 4
    s = {"image": Image.new("RGB", (2, 2), (255, 0, 0)), "depth": np.ones((2, 2), np.float32), "name": "x"}
    out = ToTensor()(s)
    np.testing.assert_allclose(out["image"][:, 0, 0], [(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225], rtol=1e-6)
    assert "_depth_keys" not in ToTensor()({**s, "_depth_keys": ["depth"]})


def test_dataset_augmentation_depends_only_on_seed_and_index(tmp_path):
    write_seed_nyu(tmp_path, n=3, h=30, w=40)
    ds = NYUSeedDataset(tmp_path, transform=train_transform((24, 32)), seed=5)
    first = ds[2]["image"]
    ds[0], ds[1]  # other items in between change nothing
    torch.testing.assert_close(ds[2]["image"], first, rtol=0, atol=0)
    other_seed = NYUSeedDataset(tmp_path, transform=train_transform((24, 32)), seed=6)
    assert not torch.equal(other_seed[2]["image"], first)


def test_test_transform_shape_for_reference_input():
    s = {"image": Image.new("RGB", (640, 480)), "depth": np.ones((480, 640), np.float32), "name": "x"}
    out = make_test_transform()(s, np.random.default_rng(0))
    assert out["image"].shape == (3, 228, 304) and out["depth"].shape == (1, 228, 304)
