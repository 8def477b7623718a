"""The tensor pipeline against the PIL recipe it replaces: same draws, same geometry, same colours."""

import numpy as np
import pytest
import torch
from PIL import Image

from litedepth.config import Config
from litedepth.data.batch_augment import AugmentRecipe, BatchAugment, cut_window, draw_params
from litedepth.data.transforms import ColorJitter, Compose, PCALighting, ResizeShorter, ToTensor
from litedepth.synth.dataset import write_dataset
from litedepth.training.mixing import build_training_set

SIZE = (60, 80)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def rooms(tmp_path_factory):
    root = tmp_path_factory.mktemp("rooms")
    write_dataset(root, 12, split="train", size=(75, 101), progress=False)  # odd sizes: rounding of the crop box
    return root


def _sets(rooms, tmp_path, **augment):
    def config(pipeline):
        return Config.from_dict(
            {
                "model": {"arch": "fast-student", "input_size": list(SIZE)},
                "data": {"sources": [{"path": str(rooms), "kind": "nyu"}], "store_dir": str(tmp_path / "stores")},
                "augment": {"pipeline": pipeline, **augment},
                "train": {"progress": False, "out_dir": str(tmp_path / "run")},
            }
        )

    return build_training_set(config("pil")), build_training_set(config("tensor"))


def test_geometry_without_rotation_is_the_pil_recipe_exactly(rooms, tmp_path):
    """Flip and centre crop only: every pixel and every depth value as PIL gives them."""
    pil, tensor = _sets(rooms, tmp_path, rotate=0.0, lighting=0.0, jitter=0.0)
    flips = 0
    for epoch in range(2):
        for i in range(len(pil)):
            a, b = pil[epoch, i], tensor.batch([(epoch, i)])
            torch.testing.assert_close(b["image"][0], a["image"], atol=1e-5, rtol=0)
            torch.testing.assert_close(b["depth"][0], a["depth"], atol=0, rtol=0)
            flips += int(np.random.default_rng([0, 0, epoch, i]).random() < 0.5)
    assert 0 < flips < 2 * len(pil)  # both kinds were compared


def test_the_full_recipe_matches_pil_item_by_item(rooms, tmp_path):
    """Rotation, lighting and jitter too: the same draws, so the two images differ by interpolation only."""
    pil, tensor = _sets(rooms, tmp_path)
    image_diffs, depth_agree = [], []
    for i in range(len(pil)):
        a, b = pil[3, i], tensor.batch([(3, i)])
        image_diffs.append(float((a["image"] - b["image"][0]).abs().mean()))  # normalised units (1/255 ~ 0.017)
        same = (a["depth"] == b["depth"][0]).float().mean()
        depth_agree.append(float(same))
    assert np.median(image_diffs) < 0.03 and max(image_diffs) < 0.06
    assert min(depth_agree) > 0.97  # nearest sampling: a few pixels on edges pick the neighbour


def test_rotation_turns_counter_clockwise_as_pil_does(tmp_path):
    """A bright square left of centre, rotated by 5 degrees: where PIL puts it, not mirrored about the axis."""
    image = np.zeros((120, 160, 3), np.uint8)
    image[20:60, 30:70] = 255
    recipe = AugmentRecipe((100, 140), 120, hflip=0.0, rotate=5.0, lighting=0.0, jitter=0.0)
    params = {"flip": np.array(False), "angle": np.array(4.0, np.float32)}
    params |= {
        "lighting": np.zeros(3, np.float32),
        "jitter_order": np.arange(3),
        "jitter_alpha": np.zeros(3, np.float32),
    }
    batch = torch.utils.data.default_collate([cut_window(recipe, image, [], params)])
    ours, _, inside = BatchAugment(recipe, (0, 0, 0), (1, 1, 1))(batch, "cpu")
    turned = Image.fromarray(image).rotate(4.0, resample=Image.BILINEAR, fillcolor=0)
    expected = np.asarray(turned, np.float32)[10:110, 10:150] / 255
    got = ours[0].permute(1, 2, 0).numpy()
    assert np.abs(got - expected).mean() < 0.01
    mirrored = np.asarray(Image.fromarray(image).rotate(-4.0, resample=Image.BILINEAR), np.float32)[10:110, 10:150]
    assert np.abs(got - mirrored / 255).mean() > 5 * np.abs(got - expected).mean()
    assert inside.min() == 1.0  # a 100x140 crop turned by 4 degrees stays inside a 120x160 image


def test_draws_follow_the_pil_transforms_order():
    """Flip, angle, lighting, jitter order and strengths: the very numbers the PIL transforms draw."""
    recipe = AugmentRecipe(SIZE, 64)
    seen = {"flip": [], "angle": []}
    for i in range(200):
        params = draw_params(recipe, np.random.default_rng([1, 0, 2, i]))
        rng = np.random.default_rng([1, 0, 2, i])
        assert bool(params["flip"]) == (rng.random() < 0.5)
        assert params["angle"] == np.float32(rng.uniform(-5.0, 5.0))
        np.testing.assert_array_equal(params["lighting"], rng.normal(0.0, 0.1, size=3).astype(np.float32))
        np.testing.assert_array_equal(params["jitter_order"], rng.permutation(3))
        seen["flip"].append(bool(params["flip"]))
        seen["angle"].append(float(params["angle"]))
    assert 0.35 < np.mean(seen["flip"]) < 0.65
    assert -5 <= min(seen["angle"]) < -4 and 4 < max(seen["angle"]) <= 5


def test_colours_are_the_pil_recipe_item_by_item():
    """PCA lighting, then brightness, contrast and saturation in the drawn order: the same numbers."""
    rng = np.random.default_rng(0)
    image = (rng.random((40, 56, 3)) * 200 + 20).astype(np.uint8)
    recipe = AugmentRecipe((40, 56), 40, hflip=0.0, rotate=0.0)
    pil = Compose([PCALighting(0.1), ColorJitter(0.4, 0.4, 0.4), ToTensor(MEAN, STD)])
    items, expected = [], []
    for i in range(32):
        params = draw_params(recipe, np.random.default_rng([0, 0, 0, i]))
        items.append(cut_window(recipe, image, [], params))
        colour_rng = np.random.default_rng([0, 0, 0, i])  # no flip, no rotation: nothing drawn before
        expected.append(pil({"image": Image.fromarray(image)}, colour_rng)["image"])
    ours, _, _ = BatchAugment(recipe, MEAN, STD)(torch.utils.data.default_collate(items), "cpu")
    torch.testing.assert_close(ours, torch.stack(expected), atol=2e-5, rtol=1e-5)


def test_preparing_a_batch_never_reads_a_value_from_the_device(rooms, tmp_path):
    """On the meta device any .item() or bool() raises: the augmentation must not synchronise."""
    _, tensor = _sets(rooms, tmp_path)
    collated = torch.utils.data.default_collate([tensor[(0, i)] for i in range(4)])
    meta = {
        k: v.to("meta") if torch.is_tensor(v) and k not in ("has_depth", "teach", "cached") else v
        for k, v in collated.items()
    }
    batch = tensor.prepare(meta, "meta")
    assert batch["image"].device.type == "meta" and batch["image"].shape == (4, 3, *SIZE)
    assert batch["depth"].shape == batch["target_mask"].shape == (4, 1, *SIZE)


def test_resized_windows_match_the_pil_resize(rooms, tmp_path):
    """The store holds what ResizeShorter makes: the window's pixels are its pixels."""
    pil, tensor = _sets(rooms, tmp_path)
    raw = pil.raw(0, 2)
    resized = ResizeShorter(tensor.recipe.shorter_side)(raw, None)
    stored, depth = tensor.stores[0].item(2)
    np.testing.assert_array_equal(stored, np.asarray(resized["image"]))
    np.testing.assert_array_equal(depth, resized["depth"])
