"""Synthetic RGB-D generator: determinism, NYU file layout, scale presets and the `synth` command."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from litedepth.cli import main
from litedepth.errors import LitedepthError
from litedepth.synth.dataset import parse_size, render_scene, write_dataset
from litedepth.synth.render import intrinsics_for

SIZE = (60, 80)


def test_render_shapes_types_and_range():
    rgb, depth = render_scene(0, 0, SIZE, "nyu")
    assert rgb.shape == (60, 80, 3) and rgb.dtype == np.uint8
    assert depth.shape == (60, 80) and depth.dtype == np.float32
    assert np.isfinite(depth).all() and depth.min() > 0.05 and depth.max() < 15
    assert rgb.std() > 5  # not a blank image


def test_same_seed_and_index_is_identical_alone_or_in_a_batch(tmp_path):
    alone_rgb, alone_depth = render_scene(3, 2, SIZE, "scannet")
    for i in range(3):  # other renders in between must not change image 2
        render_scene(3, i, SIZE, "scannet")
    again_rgb, again_depth = render_scene(3, 2, SIZE, "scannet")
    np.testing.assert_array_equal(alone_rgb, again_rgb)
    np.testing.assert_array_equal(alone_depth, again_depth)
    # index 2 written as part of a batch equals index 2 rendered alone
    write_dataset(tmp_path, 3, split="test", preset="scannet", seed=3, size=SIZE, progress=False)
    written = np.asarray(Image.open(tmp_path / "data/nyu2_test/00002_colors.png"))
    np.testing.assert_array_equal(written, alone_rgb)


def test_different_seeds_indices_and_splits_differ():
    _, d0 = render_scene(0, 0, SIZE)
    _, d1 = render_scene(1, 0, SIZE)
    _, d2 = render_scene(0, 1, SIZE)
    _, d3 = render_scene(0, 0, SIZE, split="train")
    for other in (d1, d2, d3):
        assert np.abs(d0 - other).mean() > 0.05


def test_views_of_a_scene_share_the_room_but_not_the_camera():
    _, a = render_scene(5, 0, SIZE, view=0, split="train")
    _, b = render_scene(5, 0, SIZE, view=1, split="train")
    assert not np.array_equal(a, b)


def test_depth_is_z_distance_along_the_optical_axis():
    # A fronto-parallel wall has constant z-depth although the ray lengths vary across the image.
    from litedepth.synth.furniture import Material
    from litedepth.synth.render import render
    from litedepth.synth.scene import Scene, look_at

    m = Material("plain", np.full(3, 0.5, np.float32), np.zeros(3, np.float32))
    # the room is wide and tall enough that every ray ends on the far wall
    scene = Scene(room=np.array([40.0, 5.0, 20.0]), faces=[m] * 6, lights=[(np.array([20.0, 2.5, 19.0]), 1.0)])
    scene.cam_pos = np.array([20.0, 0.5, 10.0])
    scene.cam_rot = look_at(np.pi / 2, 0.0, 0.0)  # looking along +y at the wall y = 5
    _, depth = render(scene, (24, 32))
    np.testing.assert_allclose(depth, 4.5, atol=1e-4)


def test_intrinsics_scale_with_size():
    assert intrinsics_for((480, 640)) == pytest.approx((518.86, 519.47, 325.58, 253.74))
    fx, fy, cx, cy = intrinsics_for((240, 320))
    assert fx == pytest.approx(259.43) and fy == pytest.approx(259.735)


def test_test_split_layout_16bit_millimetres(tmp_path):
    csv_path = write_dataset(tmp_path, 3, split="test", seed=1, size=SIZE, progress=False)
    assert csv_path == tmp_path / "data" / "nyu2_test.csv"
    rows = list(csv.reader(csv_path.open()))
    assert rows[0] == ["data/nyu2_test/00000_colors.png", "data/nyu2_test/00000_depth.png"]
    assert len(rows) == 3
    for i, (rgb_rel, depth_rel) in enumerate(rows):
        with Image.open(tmp_path / rgb_rel) as im:
            assert im.format == "PNG" and im.mode == "RGB" and im.size == (80, 60)
        with Image.open(tmp_path / depth_rel) as im:
            assert im.format == "PNG" and im.mode in ("I;16", "I;16B", "I")
            mm = np.asarray(im).astype(np.float64)
        _, depth = render_scene(1, i, SIZE, split="test")
        np.testing.assert_allclose(mm / 1000.0, depth, atol=0.0006)


def test_train_split_layout_8bit_and_appending(tmp_path):
    write_dataset(tmp_path, 2, split="test", seed=0, size=SIZE, progress=False)
    csv_path = write_dataset(
        tmp_path, 5, split="train", preset="hall", seed=2, size=SIZE, views_per_scene=2, progress=False
    )
    assert (tmp_path / "data/nyu2_test.csv").is_file()  # the other split is kept
    rows = list(csv.reader(csv_path.open()))
    assert len(rows) == 5
    assert rows[3] == ["data/nyu2_train/synth_hall_s2_00001_out/1.jpg", "data/nyu2_train/synth_hall_s2_00001_out/1.png"]
    rgb_rel, depth_rel = rows[3]
    with Image.open(tmp_path / rgb_rel) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
    with Image.open(tmp_path / depth_rel) as im:
        assert im.format == "PNG" and im.mode == "L"
        q = np.asarray(im).astype(np.float64)
    _, depth = render_scene(2, 1, SIZE, "hall", view=1, split="train")
    metres = q * 10.0 / 255.0
    np.testing.assert_allclose(metres, np.clip(depth, 0, 10), atol=10 / 255 / 2 + 1e-6)
    assert (q == 255).any()  # halls reach past the 10 m that the 8-bit format can hold
    assert not any(p.name.startswith(".") for p in (tmp_path / "data").rglob("*"))  # no temporary files left


def test_holes_zero_some_depth(tmp_path):
    write_dataset(tmp_path, 1, split="test", size=SIZE, holes=0.05, progress=False)
    mm = np.asarray(Image.open(tmp_path / "data/nyu2_test/00000_depth.png"))
    assert 0.02 < (mm == 0).mean() < 0.3


def test_presets_have_the_intended_scales():
    med = {}
    for preset in ("scannet", "nyu", "hall"):
        depths = np.concatenate([render_scene(0, i, (30, 40), preset)[1].ravel() for i in range(8)])
        med[preset] = np.median(depths)
    assert med["scannet"] < med["nyu"] < med["hall"]
    assert 0.6 < med["scannet"] / med["nyu"] < 0.95  # similar scale: U is a useful auxiliary set
    assert 1.5 < med["nyu"] < 4.5 and med["hall"] / med["nyu"] > 2  # Um: deliberately mismatched


def test_bad_api_arguments():
    with pytest.raises(LitedepthError, match="unknown preset 'moon'"):
        render_scene(0, 0, SIZE, "moon")
    with pytest.raises(LitedepthError, match="--n"):
        write_dataset("unused", 0)
    assert parse_size("120x160") == (120, 160)
    with pytest.raises(LitedepthError, match="HEIGHTxWIDTH"):
        parse_size("120")


def test_cli_writes_dataset(tmp_path, capsys):
    code = main(["synth", "--out", str(tmp_path), "--n", "2", "--size", "30x40", "--split", "train", "--quiet"])
    assert code == 0
    assert len((tmp_path / "data/nyu2_train.csv").read_text().splitlines()) == 2
    assert "nyu2_train.csv" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "abc"], "--size 'abc'"),
        (["--n", "0"], "--n 0"),
        (["--preset", "moon"], "unknown preset"),
        (["--split", "val"], "unknown split"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path, capsys, args, message):
    argv = ["synth", "--out", str(tmp_path), "--n", "1", "--size", "30x40", "--quiet"] + args
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("litedepth synth: error:") and message in err and "\n" not in err
    assert not (tmp_path / "data").exists()


def test_cli_workers(tmp_path):
    assert main(["synth", "--out", str(tmp_path), "--n", "3", "--size", "30x40", "--workers", "2", "--quiet"]) == 0
    one, _ = render_scene(0, 2, (30, 40))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "data/nyu2_test/00002_colors.png")), one)
