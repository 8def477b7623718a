"""Procedural synthetic indoor RGB-D data, written in the NYU-v2 layout of the seed's download.

Each image is a pure function of ``(seed, scale, split, scene index, view)``: a random room with
furniture is ray-cast (`litedepth.synth.render`) through NYU-v2's pinhole camera. The files match the real
download, so every loader path is exercised:

* test: ``ROOT/data/nyu2_test.csv`` rows ``data/nyu2_test/00000_colors.png,data/nyu2_test/00000_depth.png``,
  RGB PNG, depth 16-bit PNG in millimetres (0 = invalid);
* train: ``ROOT/data/nyu2_train.csv`` rows ``data/nyu2_train/<scene>_out/<k>.jpg,...<k>.png``,
  RGB JPEG (quality 95), depth 8-bit PNG with metres = value * 10 / 255.

Example::

    >>> rgb, depth = render_scene(seed=0, index=3, size=(120, 160), preset="nyu")
    >>> rgb.shape, rgb.dtype, depth.shape, depth.dtype
    ((120, 160, 3), dtype('uint8'), (120, 160), dtype('float32'))
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import LitedepthError
from ..fileio import atomic_path
from ..outputs import held_locks
from ..preprocess import parse_size as _parse_size
from .render import render
from .scene import SCALES, SceneScale, place_camera, sample_scene
from .style import (
    EFFECTS,
    Style,
    add_clutter,
    develop_real,
    get_style,
    reshape_room,
    restyle_materials,
    soft_lights,
    styled_scale,
)

SPLITS = ("train", "test")
TRAIN_DEPTH_MAX_M = 10.0  # 8-bit train depth: metres = value * 10 / 255
TRAIN_VIEWS_PER_SCENE = 4  # train images share a room, like the frames of one NYU scene folder
_STYLE_STREAM = 7_919  # random streams of the style effects: apart from the plain scene's


def _scale(preset: str | SceneScale) -> SceneScale:
    """The `SceneScale` named ``preset`` (a key of `SCALES`), or ``preset`` itself."""
    if isinstance(preset, SceneScale):
        return preset
    if preset not in SCALES:
        raise LitedepthError(f"unknown preset {preset!r} (known: {', '.join(SCALES)})")
    return SCALES[preset]


def _check_split(split: str) -> int:
    if split not in SPLITS:
        raise LitedepthError(f"unknown split {split!r} (expected train or test)")
    return SPLITS.index(split)


def parse_size(text: str) -> tuple[int, int]:
    """A synthetic image size: ``"480x640"`` -> ``(480, 640)``, both at least 8."""
    return _parse_size(text, minimum=8)


def render_scene(
    seed: int,
    index: int,
    size: tuple[int, int] = (480, 640),
    preset: str | SceneScale = "nyu",
    view: int = 0,
    split: str = "test",
    style: str | Style = "plain",
) -> tuple[np.ndarray, np.ndarray]:
    """Render view ``view`` of synthetic room ``index``.

    The room (furniture, textures, lights) is drawn from ``(seed, preset, split, index)`` and the
    camera from the same key plus ``view``, so a result never depends on what else was rendered.
    ``split`` only separates the random streams: train and test rooms of one seed differ.
    ``preset``: the scene scale, a name of `SCALES` (``nyu``, ``scannet``, ``hall``) or a `SceneScale`.
    ``style``: realism effects (`litedepth.synth.style`); ``plain`` is the generator without them.

    Returns ``rgb`` ``(H, W, 3)`` uint8 and ``depth`` ``(H, W)`` float32, metres along the
    optical axis (z-depth), every pixel valid.
    """
    scale, look = _scale(preset), get_style(style)
    tag = preset if isinstance(preset, str) else repr(preset)
    key = [int(seed), zlib.crc32(tag.encode()), _check_split(split), int(index)]
    if not look.plain:
        return _render_styled(key, scale, look, tuple(size), int(view))
    scene = sample_scene(np.random.default_rng(key), scale)
    cam_rng = np.random.default_rng(key + [int(view)])
    place_camera(scene, cam_rng, scale)
    linear, depth = render(scene, tuple(size))
    return _develop(linear, cam_rng), depth


def _render_styled(key: list, scale: SceneScale, look: Style, size: tuple[int, int], view: int):
    """`render_scene` with ``look``'s effects, each drawn from a stream of its own (the room's, the view's)."""
    scale = styled_scale(scale, look)
    scene = sample_scene(np.random.default_rng(key), scale)
    for effect, apply in (
        ("shapes", reshape_room),
        ("clutter", add_clutter),
        ("materials", restyle_materials),
        ("lights", soft_lights),
    ):
        if look.has(effect):
            apply(scene, np.random.default_rng(key + [_STYLE_STREAM, EFFECTS.index(effect)]))
    cam_rng = np.random.default_rng(key + [view])
    place_camera(scene, cam_rng, scale)
    linear, depth = render(scene, size)
    if look.has("camera"):
        return develop_real(linear, np.random.default_rng(key + [view, _STYLE_STREAM])), depth
    return _develop(linear, cam_rng), depth


def _develop(linear: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Auto-exposure, white balance, vignetting, gamma and a little sensor noise: linear -> uint8."""
    H, W, _ = linear.shape
    lum = linear[::2, ::2].mean(axis=2)
    scale = rng.uniform(0.7, 1.0) / max(float(np.percentile(lum, 97)), 1e-6)
    tint = np.exp(rng.normal(0, 0.06, 3)).astype(np.float32)
    r2 = (((np.arange(H, dtype=np.float32) - H / 2) / H) ** 2)[:, None] + (
        ((np.arange(W, dtype=np.float32) - W / 2) / W) ** 2
    )[None, :]
    gain = (scale * (1.0 - rng.uniform(0.2, 0.6) * r2))[..., None] * tint
    img = np.clip(linear * gain, 0, 1) ** np.float32(1 / 2.2)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(0.012)
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def add_sensor_holes(depth: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Kinect-like damage: zero (invalid) pixels at depth edges and in blobs, about ``fraction`` of the image."""
    if fraction <= 0:
        return depth
    out = depth.copy()
    gy, gx = np.gradient(np.log(np.maximum(depth, 1e-3)))
    edges = np.hypot(gx, gy) > 0.08
    out[edges & (rng.random(depth.shape) < 0.5)] = 0
    coarse = rng.random((max(depth.shape[0] // 16, 2), max(depth.shape[1] // 16, 2)))
    blobs = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize(depth.shape[::-1], Image.BILINEAR))
    out[blobs > np.percentile(blobs, 100 * (1 - fraction))] = 0
    return out


def _write_one(job: tuple) -> str:
    root, split, seed, preset, size, index, views, holes, style = job
    if split == "test":
        scene, view = index, 0
        rel_rgb, rel_depth = f"data/nyu2_test/{index:05d}_colors.png", f"data/nyu2_test/{index:05d}_depth.png"
    else:
        scene, view = divmod(index, views)
        folder = f"data/nyu2_train/synth_{preset}_s{seed}_{scene:05d}_out"
        rel_rgb, rel_depth = f"{folder}/{view}.jpg", f"{folder}/{view}.png"
    rgb, depth = render_scene(seed, scene, size, preset, view=view, split=split, style=style)
    if holes > 0:
        depth = add_sensor_holes(depth, holes, np.random.default_rng([int(seed), 7, index]))
    rgb_path, depth_path = Path(root) / rel_rgb, Path(root) / rel_depth
    with atomic_path(rgb_path) as tmp:
        if split == "test":
            Image.fromarray(rgb).save(tmp, format="PNG", compress_level=1)  # fast; size matters little
        else:
            Image.fromarray(rgb).save(tmp, format="JPEG", quality=95)
    if split == "test":  # 16-bit millimetres, as `fileio.write_png16_mm` but with fast compression
        q = np.clip(np.round(depth.astype(np.float64) * 1000.0), 0, 65535).astype(np.uint16)
    else:
        q = np.round(np.clip(depth, 0, TRAIN_DEPTH_MAX_M) * (255.0 / TRAIN_DEPTH_MAX_M)).astype(np.uint8)
    with atomic_path(depth_path) as tmp:
        Image.fromarray(q).save(tmp, format="PNG", compress_level=1)
    return f"{rel_rgb},{rel_depth}"


def claim_dataset_folder(root: Path, split: str, overwrite: bool) -> Path:
    """Make ``root`` ready for a new ``split``, or refuse (`litedepth.outputs.OutputGuard`) before any work."""
    import shutil

    from ..outputs import OutputGuard, write_marker

    OutputGuard(overwrite).folder(root, "--out", kind="synth", continues=True)
    csv_path, images = root / "data" / f"nyu2_{split}.csv", root / "data" / f"nyu2_{split}"
    if (csv_path.exists() or images.exists()) and not overwrite:
        raise LitedepthError(
            f"--out {root}: already holds a synthetic {split} split ({csv_path}); "
            "give --overwrite to replace it, or choose another --out"
        )
    if images.is_dir():
        shutil.rmtree(images)
    write_marker(root, "synth")
    return root


@held_locks()  # the output folder is locked until it returns (`litedepth.outputs.lock_folder`)
def write_dataset(
    root: str | os.PathLike,
    n: int,
    split: str = "test",
    preset: str = "nyu",
    seed: int = 0,
    size: tuple[int, int] = (480, 640),
    workers: int = 1,
    views_per_scene: int = TRAIN_VIEWS_PER_SCENE,
    holes: float = 0.0,
    progress: bool = True,
    overwrite: bool = False,
    style: str = "plain",
) -> Path:
    """Write ``n`` synthetic images of ``split`` under ``root`` in the NYU-v2 layout; return the CSV path.

    Test images are one view per room; train images are ``views_per_scene`` views per room folder.
    ``holes`` > 0 zeroes about that fraction of depth pixels (sensor-like, 0 = invalid).
    ``style``: realism effects (`litedepth.synth.style`: ``plain``, ``real`` or effects joined by ``+``).
    Every file is written atomically and the CSV last, so a CSV only lists complete files.
    Another split already in ``root`` is kept. A ``root`` that holds anything but a synthetic set
    is refused, and so is a ``split`` it already holds, unless ``overwrite`` (which first removes
    that split's images, so that none of the old set is left beside the new one).
    """
    from tqdm import tqdm

    _check_split(split)
    _scale(preset)
    get_style(style)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise LitedepthError(f"--n {n!r}: the number of images must be a positive integer")
    if workers < 1:
        raise LitedepthError(f"--workers {workers!r}: must be at least 1")
    if views_per_scene < 1:
        raise LitedepthError(f"--views-per-scene {views_per_scene!r}: must be at least 1")
    if not 0.0 <= holes < 1.0:
        raise LitedepthError(f"--holes {holes!r}: expected a fraction in [0, 1)")
    if isinstance(size, str):
        size = parse_size(size)
    size = (int(size[0]), int(size[1]))
    if min(size) < 8:
        raise LitedepthError(f"--size {size[0]}x{size[1]}: both sides must be at least 8 pixels")
    root = claim_dataset_folder(Path(root), split, overwrite)
    jobs = [(str(root), split, int(seed), preset, size, i, views_per_scene, holes, style) for i in range(n)]
    bar = dict(total=n, desc=f"synth {split} ({preset})", unit="img", disable=not progress)
    if workers == 1:
        rows = [_write_one(j) for j in tqdm(jobs, **bar)]
    else:
        import multiprocessing

        # fork starts workers at once; spawn (elsewhere) re-imports the package in each worker
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with multiprocessing.get_context(method).Pool(workers) as pool:
            rows = list(tqdm(pool.imap(_write_one, jobs, chunksize=4), **bar))
    csv_path = root / "data" / f"nyu2_{split}.csv"
    with atomic_path(csv_path) as tmp:
        tmp.write_text("".join(r + "\n" for r in rows))
    return csv_path
