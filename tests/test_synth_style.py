"""Styles of the synthetic rooms (`litedepth.synth.style`): each effect does what it says, the plain rooms stay."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from litedepth.cli import main
from litedepth.errors import LitedepthError
from litedepth.synth.dataset import render_scene, write_dataset
from litedepth.synth.scene import SCALES, sample_scene
from litedepth.synth.style import (
    EFFECTS,
    STYLES,
    add_clutter,
    add_sensor_noise,
    develop_real,
    get_style,
    jpeg_round_trip,
    reshape_room,
    restyle_materials,
    soft_lights,
    styled_scale,
    vignette,
)

SIZE = (30, 40)

# (preset, split, index, view, sum of the uint8 RGB, sum of the depth in metres) at 24x32, seed 4, rendered
# by the generator as it was before styles existed: the plain style must keep drawing the same rooms.
BEFORE_STYLES = [
    ("nyu", "test", 0, 0, 420683, 2432.2385),
    ("nyu", "train", 1, 2, 377979, 1692.1447),
    ("scannet", "train", 2, 1, 379338, 1554.7384),
    ("hall", "test", 3, 0, 317397, 3817.9681),
]


@pytest.mark.parametrize("preset, split, index, view, rgb_sum, depth_sum", BEFORE_STYLES)
def test_plain_style_renders_the_rooms_of_before(preset, split, index, view, rgb_sum, depth_sum):
    rgb, depth = render_scene(4, index, (24, 32), preset, view=view, split=split)
    # a few grey levels of slack for another CPU's float rounding; a different room moves these by thousands
    assert abs(int(rgb.astype(np.int64).sum()) - rgb_sum) <= 8
    assert float(depth.astype(np.float64).sum()) == pytest.approx(depth_sum, rel=1e-5)
    again = render_scene(4, index, (24, 32), preset, view=view, split=split, style="plain")
    np.testing.assert_array_equal(again[0], rgb)
    np.testing.assert_array_equal(again[1], depth)


def test_style_names_and_effect_lists():
    assert get_style("plain").plain and not get_style("real").plain
    assert get_style("camera+depth").effects == {"camera", "depth"}
    assert get_style("depth+camera").name == "depth+camera"  # effects in their fixed order
    for spec in ("moon", "camera+moon", ""):
        with pytest.raises(LitedepthError, match="--style"):
            get_style(spec)
    assert set(STYLES["real"].effects) <= set(EFFECTS)


def test_image_only_effects_keep_the_depth_of_the_plain_room():
    plain_rgb, plain_depth = render_scene(2, 1, SIZE)
    for style in ("camera", "materials", "lights"):
        rgb, depth = render_scene(2, 1, SIZE, style=style)
        np.testing.assert_array_equal(depth, plain_depth)
        assert np.abs(rgb.astype(int) - plain_rgb).mean() > 1


def test_each_effect_is_deterministic_and_changes_the_render():
    plain = render_scene(1, 0, SIZE, split="train", view=1)
    for effect in EFFECTS:
        a = render_scene(1, 0, SIZE, split="train", view=1, style=effect)
        b = render_scene(1, 0, SIZE, split="train", view=1, style=effect)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        assert not (np.array_equal(a[0], plain[0]) and np.array_equal(a[1], plain[1])), effect


def test_sensor_noise_raises_high_frequency_energy():
    rng = np.random.default_rng(0)
    smooth = np.tile(np.linspace(0.2, 0.8, 64, dtype=np.float32)[None, :, None], (48, 1, 3))
    noisy = add_sensor_noise(smooth, 3e-4, 1e-5, rng)
    hf = lambda im: np.abs(np.diff(im, 2, axis=1)).mean()  # noqa: E731
    assert hf(noisy) > 10 * hf(smooth) + 1e-3
    # shot noise grows with the signal: the bright half is noisier than the dark half
    resid = noisy - smooth
    assert resid[:, 48:].std() > 1.3 * resid[:, :16].std()


def test_vignette_darkens_the_corners_only():
    g = vignette((40, 60), 0.4)
    assert g[20, 30] == pytest.approx(1.0, abs=0.01)
    for corner in (g[0, 0], g[0, -1], g[-1, 0], g[-1, -1]):
        assert corner == pytest.approx(0.6, abs=0.03)
    assert np.all(vignette((40, 60), 0.0) == 1.0)


def test_jpeg_round_trip_keeps_the_image_and_loses_more_at_low_quality():
    rng = np.random.default_rng(1)
    img = (np.clip(rng.normal(128, 40, (48, 64, 3)), 0, 255)).astype(np.uint8)
    hi, lo = jpeg_round_trip(img, 95), jpeg_round_trip(img, 30)
    assert hi.shape == img.shape and hi.dtype == np.uint8
    err = lambda x: np.abs(x.astype(int) - img).mean()  # noqa: E731
    assert 0 < err(hi) < err(lo)


def test_camera_exposes_like_real_photos():
    # the plain generator exposes for the brightest pixels (mean grey ~0.6); real indoor photos average ~0.4
    means = [develop_real(render_scene_linear(i), np.random.default_rng(i)).mean() / 255 for i in range(4)]
    assert all(0.2 < m < 0.55 for m in means)
    plain = np.mean([render_scene(0, i, SIZE)[0].mean() / 255 for i in range(4)])
    assert np.mean(means) < plain - 0.1


def render_scene_linear(index: int) -> np.ndarray:
    from litedepth.synth.render import render
    from litedepth.synth.scene import place_camera

    rng = np.random.default_rng([0, index])
    scene = sample_scene(rng, SCALES["nyu"])
    place_camera(scene, rng, SCALES["nyu"])
    return render(scene, SIZE)[0]


def test_depth_effect_widens_the_depth_range_towards_real_rooms():
    scale = styled_scale(SCALES["nyu"], get_style("depth"))
    assert scale.room_y[1] > SCALES["nyu"].room_y[1] and scale.close_prob > SCALES["nyu"].close_prob
    assert styled_scale(SCALES["nyu"], get_style("camera")) == SCALES["nyu"]
    plain = np.concatenate([render_scene(0, i, SIZE)[1].ravel() for i in range(10)])
    wide = np.concatenate([render_scene(0, i, SIZE, style="depth")[1].ravel() for i in range(10)])
    # real rooms (NYU-v2, TUM, SUN RGB-D) hold more near surfaces and more far ones than the plain rooms
    assert np.percentile(wide, 95) - np.percentile(wide, 5) > np.percentile(plain, 95) - np.percentile(plain, 5)


def _scene(seed: int = 3):
    return sample_scene(np.random.default_rng(seed), SCALES["nyu"])


def test_materials_become_more_saturated():
    scene = _scene()
    sat = lambda s: np.mean([np.ptp(o.material.color) for o in s.objects])  # noqa: E731
    before = sat(scene)
    restyle_materials(scene, np.random.default_rng(0))
    assert sat(scene) > 1.2 * before


def test_lights_are_soft_and_include_window_daylight():
    scene = _scene()
    n_before = len(scene.lights)
    soft_lights(scene, np.random.default_rng(0))
    assert len(scene.lights) >= 4 * n_before and len(scene.lights) % 4 == 0  # each light is 4 jittered points
    assert all((p > 0).all() and (p < scene.room).all() for p, _ in scene.lights)


def test_clutter_adds_bookcases_and_things_and_shapes_add_walls():
    scene = _scene()
    n = len(scene.objects)
    add_clutter(scene, np.random.default_rng(0))
    assert len(scene.objects) > n + 20  # books on shelves
    assert sum(len(g) for g in scene.groups) == len(scene.objects)  # every part belongs to a piece
    scene = _scene(5)
    n = len(scene.objects)
    reshape_room(scene, np.random.default_rng(2))
    tall = [o for o in scene.objects[n:] if o.half[2] * 2 >= scene.room[2] - 1e-6 or o.center[2] > scene.room[2] - 0.5]
    assert len(tall) == len(scene.objects) - n  # floor-to-ceiling blocks or beams under the ceiling


def test_write_dataset_with_a_style_and_the_cli_option(tmp_path, capsys):
    write_dataset(tmp_path / "a", 2, split="train", size=SIZE, style="real", seed=3, progress=False)
    one = np.asarray(Image.open(tmp_path / "a/data/nyu2_train/synth_nyu_s3_00000_out/1.jpg"))
    assert one.shape == (30, 40, 3)
    code = main(["synth", "--out", str(tmp_path / "b"), "--n", "1", "--size", "30x40", "--style", "camera", "--quiet"])
    assert code == 0 and "style camera" in capsys.readouterr().out
    rgb = np.asarray(Image.open(tmp_path / "b/data/nyu2_test/00000_colors.png"))
    np.testing.assert_array_equal(rgb, render_scene(0, 0, SIZE, style="camera")[0])
    assert main(["synth", "--out", str(tmp_path / "c"), "--n", "1", "--style", "moon", "--quiet"]) == 2
    assert "--style 'moon'" in capsys.readouterr().err
