"""Photos in any shape (portrait, small, elongated): one resize rule, the crop always on real pixels.

`litedepth.preprocess.resize_for_crop` is the rule; both training pipelines, precise BatchNorm,
the teacher cache, validation and INT8 calibration resize with it.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import litedepth
from litedepth.config import Config
from litedepth.data.transforms import CenterCrop, Compose, ResizeShorter
from litedepth.evaluation.loop import evaluate
from litedepth.preprocess import resize_for_crop, shorter_side_for
from litedepth.training.loop import run
from litedepth.training.mixing import build_training_set, clean_transform
from litedepth.training.teachers import load_teacher

SIZE = (48, 64)  # (H, W) of the crop; shorter side 51 before it
PORTRAIT = [(90, 50), (100, 60), (77, 45), (120, 66)]  # (H, W)
MIXED = [(60, 80), (90, 50), (70, 70), (20, 30), (30, 20), (30, 200), (200, 30)]  # the small ones: under the crop


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth colour gradient with a little noise: resizing it moves real content."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    rgb = np.stack([255 * x / max(w - 1, 1), 255 * y / max(h - 1, 1), 128 + 60 * np.sin((x + y) / 7)], -1)
    return np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)


def write_rgbd(root: Path, shapes) -> Path:
    """``rgb/NN.png`` + ``depth/NN.npy`` (float metres, valid everywhere: 1 to 4 m) for each ``(H, W)``."""
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for i, (h, w) in enumerate(shapes):
        Image.fromarray(_photo(h, w, i)).save(root / "rgb" / f"{i:02d}.png")
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        np.save(root / "depth" / f"{i:02d}.npy", 1.0 + 2.0 * x / w + y / h)
    return root


def write_photos(root: Path, shapes) -> Path:
    root.mkdir(parents=True)
    for i, (h, w) in enumerate(shapes):
        Image.fromarray(_photo(h, w, 10 + i)).save(root / f"photo{i:02d}.jpg")
    return root


def config(sources, out: Path, pipeline: str = "tensor", **extra) -> Config:
    data = {
        "name": "shapes",
        "model": {"arch": "fast-student", "input_size": list(SIZE), "encoder_weights": None},
        "data": {"sources": sources, "workers": 0, "val": None, "store_dir": str(out.parent / "stores")},
        "augment": {"pipeline": pipeline},
        "train": {
            "epochs": 1,
            "steps_per_epoch": 2,
            "batch_size": 2,
            "device": "cpu",
            "out_dir": str(out),
            "progress": False,
            "threads": 1,
            "precise_bn_images": 8,  # the end-of-run recalibration reads every training image
        },
    }
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    return Config.from_dict(data)


@pytest.mark.parametrize(
    "w, h, crop",
    [
        (640, 480, (228, 304)),
        (202, 359, (228, 304)),  # the reported phone photo
        (480, 640, (228, 304)),
        (30, 20, SIZE),
        (20, 30, SIZE),
        (50, 300, SIZE),
        (300, 50, SIZE),
        (100, 100, SIZE),
        (64, 48, SIZE),
        (1, 1, SIZE),
    ],
)
def test_the_rule_gives_the_smallest_crop_fitting_size_at_the_same_aspect(w, h, crop):
    size = shorter_side_for(crop)
    out_w, out_h = resize_for_crop(w, h, size, crop)
    assert out_w >= crop[1] and out_h >= crop[0]
    assert abs(out_w / w - out_h / h) < 1 / min(w, h)  # the aspect ratio kept, to a pixel
    # no larger than it must be: the shorter side at the rule's size, or a side exactly the crop's
    assert min(out_w, out_h) == size or out_w == crop[1] or out_h == crop[0]
    plain = ResizeShorter(size).output_size(w, h)
    if plain[0] >= crop[1] and plain[1] >= crop[0]:
        assert (out_w, out_h) == plain  # where the paper's rule already holds the crop, it is unchanged


def test_the_rule_on_the_reported_photo_and_the_paper_size():
    assert resize_for_crop(640, 480, 240, (228, 304)) == (320, 240)
    assert resize_for_crop(202, 359, 240, (228, 304)) == (304, 540)  # 304 / 202 = 1.505; 359 * 1.505 = 540.3
    assert ResizeShorter(51, crop=SIZE).output_size(50, 90) == (64, 115)  # 90 * 64 / 50 = 115.2


def test_both_pipelines_cut_a_portrait_photo_alike_from_real_pixels(tmp_path):
    """Flip and crop: every pixel and depth value the same on both pipelines, and none of them padding."""
    rgbd = write_rgbd(tmp_path / "portrait", PORTRAIT)
    sources = [{"path": str(rgbd), "kind": "rgbd"}]
    aug = {"rotate": 0.0, "lighting": 0.0, "jitter": 0.0}
    pil = build_training_set(config(sources, tmp_path / "a", "pil", augment=aug))
    tensor = build_training_set(config(sources, tmp_path / "b", "tensor", augment=aug))
    for i, (h, w) in enumerate(PORTRAIT):
        rgb, depth = tensor.stores[0].item(i)
        assert (rgb.shape[1], rgb.shape[0]) == resize_for_crop(w, h, 51, SIZE) and rgb.shape[1] == SIZE[1]
        for epoch in range(2):
            a, b = pil[epoch, i], tensor.batch([(epoch, i)])
            assert a["image"].shape == b["image"][0].shape == (3, *SIZE)
            torch.testing.assert_close(b["image"][0], a["image"], atol=1e-5, rtol=0)
            torch.testing.assert_close(b["depth"][0], a["depth"], atol=0, rtol=0)
            assert bool((a["depth"] > 0).all())  # every depth value a measured one: no padded zeros
            # a padded column or row would be black: normalised black is about -2
            assert float(a["image"].amax(dim=(0, 1)).min()) > -1.5 and float(a["image"].amax(dim=(0, 2)).min()) > -1.5
    # the PIL crop is the photo itself, resized to 64 x 115 and centre-cropped by hand
    photo = Image.open(rgbd / "rgb" / "00.png")
    by_hand = np.asarray(photo.resize((64, 115), Image.BILINEAR).crop((0, 34, 64, 82)), np.float32) / 255
    epoch = next(e for e in range(20) if np.random.default_rng([0, 0, e, 0]).random() >= 0.5)  # the flip's draw
    unflipped = pil[epoch, 0]
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    seen = (unflipped["image"] * std[:, None, None] + mean[:, None, None]).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(seen, by_hand, atol=1e-5)


def test_the_full_recipe_on_every_shape_keeps_the_crop_inside_the_photo(tmp_path):
    """With rotation only the rotation's corners leave the photo (masked); without it nothing does."""
    rgbd = write_rgbd(tmp_path / "mixed", MIXED)
    sources = [{"path": str(rgbd), "kind": "rgbd"}]
    plain = build_training_set(config(sources, tmp_path / "a", augment={"rotate": 0.0}))
    rotated = build_training_set(config(sources, tmp_path / "b"))
    for i in range(len(MIXED)):
        batch = plain.batch([(0, i)])
        assert batch["image"].shape == (1, 3, *SIZE) and bool((batch["depth"] > 0).all())
        turned = rotated.batch([(0, i)])
        assert turned["image"].shape == (1, 3, *SIZE) and float((turned["depth"] > 0).float().mean()) > 0.9


@pytest.mark.slow
def test_training_on_portrait_photos_writes_a_model_and_validates_them(tmp_path):
    rgbd = write_rgbd(tmp_path / "portrait", PORTRAIT)
    cfg = config([{"path": str(rgbd), "kind": "rgbd"}], tmp_path / "run", data={"val": str(rgbd)})
    path = run(cfg)
    assert path == tmp_path / "run" / "model.safetensors" and path.is_file()
    model = litedepth.load(path)
    result = evaluate(model, rgbd, protocol="hu2021", progress=False)
    assert result.n_images == len(PORTRAIT) and not result.skipped  # validation crops portrait photos too


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["tensor", "pil"])
def test_training_on_mixed_orientations_and_small_photos_writes_a_model(tmp_path, pipeline):
    rgbd = write_rgbd(tmp_path / "mixed", MIXED)
    cfg = config([{"path": str(rgbd), "kind": "rgbd"}], tmp_path / "run", pipeline)
    assert run(cfg).is_file()
    data = build_training_set(cfg)
    clean = clean_transform(cfg, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    for j in range(len(MIXED)):  # what precise BatchNorm reads: every image at the crop size
        assert clean({"image": data.raw(0, j)["image"], "_depth_keys": []}, None)["image"].shape == (3, *SIZE)


@pytest.mark.slow
def test_distilling_from_portrait_and_odd_photos_keeps_teacher_targets_aligned(tmp_path):
    photos = write_photos(tmp_path / "photos", PORTRAIT + MIXED)
    torch.manual_seed(0)
    teacher = litedepth.save_model(
        litedepth.create_model("fast-student", input_size=SIZE), tmp_path / "teacher.safetensors"
    )
    cfg = config(
        [{"path": str(photos), "role": "unlabeled"}],
        tmp_path / "run",
        augment={"rotate": 0.0},
        distill={"cache_dir": str(tmp_path / "teacher-cache")},
    )
    data = build_training_set(cfg, load_teacher(teacher))
    for j in range(len(data)):
        rgb, _ = data.stores[0].item(j)
        ds, i = data.cache_ref(0, j)
        assert data.cache.get(ds, i).shape == rgb.shape[:2]  # the target rides with the image, pixel for pixel
        batch = data.batch([(0, j)])
        assert batch["image"].shape == (1, 3, *SIZE) and bool((batch["target_mask"] == 1).all())
    assert run(cfg, teacher=teacher).is_file()


def test_int8_calibration_crops_every_photo_shape_without_stretching(tmp_path):
    from litedepth.deploy.quantize import calibration_batches

    photos = write_photos(tmp_path / "calib", [(90, 50), (20, 30), (30, 200)])
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    batches = calibration_batches(photos, SIZE, mean, std)
    assert [b.shape for b in batches] == [(1, 3, *SIZE)] * 3
    # the portrait photo: resized to 64 x 115 and centre-cropped, as training crops it
    photo = Image.open(photos / "photo00.jpg").convert("RGB")
    crop = Compose([ResizeShorter(51, crop=SIZE), CenterCrop(*SIZE)])({"image": photo}, None)["image"]
    by_hand = np.asarray(photo.resize((64, 115), Image.BILINEAR).crop((0, 34, 64, 82)), np.float32) / 255
    np.testing.assert_array_equal(np.asarray(crop, np.float32) / 255, by_hand)
    seen = batches[0][0].transpose(1, 2, 0) * np.float32(std) + np.float32(mean)
    np.testing.assert_allclose(seen, by_hand, atol=1e-5)
