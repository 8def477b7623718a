"""Styles of the synthetic rooms: realism effects layered over a scene, each one an option.

The default style, ``plain``, is the generator as it always was (byte for byte). Any other style
draws its additions from random streams of its own, so the room, furniture and camera of the plain
scene stay where they were and each effect can be switched on alone and measured:

* ``depth``: room sizes and camera distances widened towards the depth range of real rooms
  (NYU-v2 / TUM / SUN RGB-D frames: more near surfaces below 2 m and more far ones past 5 m);
* ``materials``: more saturated, higher-contrast materials, as in photographs of furnished rooms;
* ``lights``: window daylight and several soft (area) lights, each sampled as a few point lights;
* ``clutter``: bookcases full of books and more small things on tables, cabinets and the floor;
* ``shapes``: rooms beyond boxes: a corner block (L-shaped room), a ceiling beam or a wall stub;
* ``camera``: exposure like real photos (darker, highlights clipped), stronger white balance, a
  tone curve, signal-dependent sensor noise, slight blur, vignetting and a JPEG round trip.

A style is named (a key of `STYLES`) or given as effects joined by ``+`` (``camera+depth``).
``real`` holds the effects that did not lower a student's δ1 on real photographs when measured.
"""

from __future__ import annotations

import dataclasses
import io
import math
from dataclasses import dataclass

import numpy as np

from ..errors import LitedepthError

EFFECTS = ("depth", "materials", "lights", "clutter", "shapes", "camera")


@dataclass(frozen=True)
class Style:
    """Which realism effects are on (see the module's docstring); all off is the plain generator."""

    name: str
    effects: frozenset = frozenset()

    @property
    def plain(self) -> bool:
        return not self.effects

    def has(self, effect: str) -> bool:
        return effect in self.effects


STYLES: dict[str, Style] = {
    "plain": Style("plain"),
    # the effects that did not lower median-aligned δ1 on 13 real pairs (lite0-student, 96x128, 1536 images
    # seen, 2-3 seeds); camera, depth, materials and lights each lowered it (issue 31, part 5)
    "real": Style("real", frozenset({"clutter", "shapes"})),
}


def get_style(spec: str | Style) -> Style:
    """The `Style` named ``spec`` (a key of `STYLES`), or made of effects joined by ``+``."""
    if isinstance(spec, Style):
        return spec
    if spec in STYLES:
        return STYLES[spec]
    effects = [e.strip() for e in str(spec).split("+")]
    unknown = [e for e in effects if e not in EFFECTS]
    if unknown or not spec:
        raise LitedepthError(
            f"--style {spec!r}: expected {' or '.join(STYLES)}, or effects joined by + ({', '.join(EFFECTS)})"
        )
    return Style("+".join(e for e in EFFECTS if e in effects), frozenset(effects))


def styled_scale(scale, style: Style):
    """``scale`` (a `SceneScale`) with the room sizes and camera distances of ``style``'s ``depth`` effect."""
    if not style.has("depth"):
        return scale
    return dataclasses.replace(
        scale,
        room_x=(scale.room_x[0] * 0.9, scale.room_x[1] * 1.15),
        room_y=(scale.room_y[0], scale.room_y[1] * 1.3),
        cam_dist=(scale.cam_dist[0], scale.cam_dist[1] * 0.8),
        close_prob=min(1.0, scale.close_prob + 0.3),
        close_dist=(scale.close_dist[0] * 0.5, scale.close_dist[1] * 0.9),
    )


# ---------------------------------------------------------------- camera effects (linear RGB -> uint8)


def develop_real(linear: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposure, white balance, vignetting, tone curve, sensor noise, blur and a JPEG round trip: linear -> uint8."""
    from scipy.ndimage import gaussian_filter

    H, W, _ = linear.shape
    lum = linear[::2, ::2].mean(axis=2)
    # real indoor photos average ~0.39 grey with clipped windows and lamps: expose for the mean, not the peak
    target = rng.uniform(0.28, 0.5) ** 2.2
    img = linear * np.float32(target / max(float(lum.mean()), 1e-6))
    img *= np.exp(rng.normal(0, 0.12, 3)).astype(np.float32)  # white balance (warm and cool lamps)
    img *= vignette((H, W), rng.uniform(0.0, 0.5))[..., None]
    img = np.clip(img, 0, 1) ** np.float32(1 / 2.2)
    mean = img.mean()  # photos are more contrasted than the linear render seen through a plain gamma
    img = np.clip(mean + (img - mean) * np.float32(rng.uniform(1.1, 1.8)), 0, 1)
    sigma = rng.uniform(0.0, 0.6)
    if rng.random() < 0.3:  # focus and motion blur in some photos
        img = gaussian_filter(img, (sigma, sigma, 0))
    img = add_sensor_noise(img, rng.uniform(5e-5, 5e-4), rng.uniform(1e-6, 2e-5), rng)
    out = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return jpeg_round_trip(out, int(rng.integers(55, 96)))


def vignette(size: tuple[int, int], strength: float) -> np.ndarray:
    """(H, W) gain: 1 at the centre, ``1 - strength`` at the corners (cos^4-like falloff)."""
    H, W = size
    y = (np.arange(H, dtype=np.float32) - (H - 1) / 2) / (H / 2)
    x = (np.arange(W, dtype=np.float32) - (W - 1) / 2) / (W / 2)
    r2 = (y[:, None] ** 2 + x[None, :] ** 2) / 2  # 1 at the corners
    return (1.0 - np.float32(strength) * r2).astype(np.float32)


def add_sensor_noise(img: np.ndarray, shot: float, read: float, rng: np.random.Generator) -> np.ndarray:
    """Signal-dependent noise on an image in [0, 1]: variance ``shot * value + read`` per pixel and channel."""
    std = np.sqrt(np.maximum(img, 0) * np.float32(shot) + np.float32(read))
    return img + rng.standard_normal(img.shape, dtype=np.float32) * std


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 encoded as JPEG at ``quality`` and decoded again."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


# ---------------------------------------------------------------- scene effects


def saturate(color: np.ndarray, factor: float, value: float = 1.0) -> np.ndarray:
    """``color`` (3,) pushed away from its grey by ``factor`` and scaled by ``value``, in [0, 1]."""
    grey = color.mean()
    return np.clip((grey + (color - grey) * factor) * value, 0, 1).astype(np.float32)


def restyle_materials(scene, rng: np.random.Generator) -> None:
    """Materials of furniture and walls made more saturated and contrasted (in place; shared ones once)."""
    seen: set[int] = set()
    mats = [obj.material for obj in scene.objects] + list(scene.faces[2:])
    for m in mats:
        if id(m) in seen:
            continue
        seen.add(id(m))
        f, v = rng.uniform(1.5, 3.5), rng.uniform(0.6, 1.05)
        m.color = saturate(m.color, f, v)
        m.color2 = saturate(m.color2, f, v * rng.uniform(0.6, 1.0))
        m.contrast = float(m.contrast * rng.uniform(1.0, 2.0))


def soft_lights(scene, rng: np.random.Generator) -> None:
    """Window daylight and more lamps, each light turned into a few jittered points (soft shadows); in place."""
    X, Y, Z = scene.room
    lights = list(scene.lights)
    for _ in range(rng.integers(0, 3)):  # more lamps, some low (table and floor lamps)
        z = Z - rng.uniform(0.1, 0.4) if rng.random() < 0.5 else rng.uniform(0.8, 1.7)
        lights.append((np.array([rng.uniform(0.1, 0.9) * X, rng.uniform(0.1, 0.9) * Y, z]), rng.uniform(0.3, 0.9)))
    for dc in scene.decals:
        if dc.kind == "window":
            lights.append((_in_front_of(scene.room, dc, 0.6), float(rng.uniform(0.6, 1.6))))
    scene.lights = []
    for pos, power in lights:
        k, radius = 4, rng.uniform(0.15, 0.5)
        for _ in range(k):
            jitter = rng.uniform(-radius, radius, 3) * np.array([1.0, 1.0, 0.3])
            p = np.clip(pos + jitter, 0.05, scene.room - 0.05)
            scene.lights.append((p, float(power) / k))


def _in_front_of(room: np.ndarray, dc, dist: float) -> np.ndarray:
    """The point ``dist`` (m) into the room from the middle of decal ``dc``."""
    from .scene import _wall_frame

    (ox, oy), t, n = _wall_frame(dc.wall, room)
    u, v = (dc.u[0] + dc.u[1]) / 2, (dc.v[0] + dc.v[1]) / 2
    return np.array([ox + t[0] * u + n[0] * dist, oy + t[1] * u + n[1] * dist, v])


def reshape_room(scene, rng: np.random.Generator) -> None:
    """A corner block (L-shaped room), a ceiling beam or a wall stub, where no furniture stands; in place."""
    from .furniture import Box, footprint, overlaps

    X, Y, Z = scene.room
    wall_m = scene.faces[2]
    for _ in range(rng.integers(1, 3)):
        kind = rng.choice(["corner", "beam", "stub"], p=[0.5, 0.25, 0.25])
        if kind == "beam":
            along_x = rng.random() < 0.5
            h, w = rng.uniform(0.15, 0.4), rng.uniform(0.2, 0.5)
            c = rng.uniform(0.2, 0.8) * (Y if along_x else X)
            center = np.array([X / 2, c, Z - h / 2]) if along_x else np.array([c, Y / 2, Z - h / 2])
            half = np.array([X / 2, w / 2, h / 2]) if along_x else np.array([w / 2, Y / 2, h / 2])
            scene.objects.append(Box(center, half, 0.0, wall_m))
            scene.groups.append([len(scene.objects) - 1])
            continue
        if kind == "corner":
            w, d = rng.uniform(0.15, 0.4) * X, rng.uniform(0.15, 0.4) * Y
            x = w / 2 if rng.random() < 0.5 else X - w / 2
            y = d / 2 if rng.random() < 0.5 else Y - d / 2
        else:  # a stub of wall sticking out of a wall
            w, d = (rng.uniform(0.1, 0.2), rng.uniform(0.5, 1.2)) if rng.random() < 0.5 else (1.0, 0.15)
            w, d = (w, d) if w < d else (rng.uniform(0.5, 1.2), rng.uniform(0.1, 0.2))
            x = w / 2 if w < d and rng.random() < 0.5 else (X - w / 2 if w < d else rng.uniform(1, X - 1))
            y = rng.uniform(1, Y - 1) if w < d else (d / 2 if rng.random() < 0.5 else Y - d / 2)
        fp = footprint(x, y, w, d, 0.0)
        if any(overlaps(fp, f) for f in scene.footprints):
            continue
        scene.footprints.append(fp)
        scene.objects.append(Box(np.array([x, y, Z / 2]), np.array([w / 2, d / 2, Z / 2]), 0.0, wall_m))
        scene.groups.append([len(scene.objects) - 1])


def add_clutter(scene, rng: np.random.Generator) -> None:
    """Bookcases full of books against the walls and more small things on surfaces and the floor; in place."""
    from .furniture import bookcase, clutter_on, place
    from .scene import place_piece

    for _ in range(rng.integers(1, 3)):
        place_piece(scene, rng, *bookcase(rng), at_wall=True)
    for x, y, top, w, d in list(scene.targets):
        if 0.3 < top < 1.3:
            r = min(w, d) / 2 * 0.7  # inside the footprint whatever the piece's yaw
            parts = clutter_on(rng, 2 * r / math.sqrt(2), 2 * r / math.sqrt(2), top, int(rng.integers(1, 6)))
            if parts:
                scene.groups.append(list(range(len(scene.objects), len(scene.objects) + len(parts))))
                scene.objects += place(parts, x, y, rng.uniform(0, 2 * math.pi))
    for _ in range(rng.integers(0, 4)):  # boxes, bags and baskets on the floor
        s = rng.uniform(0.2, 0.5)
        place_piece(scene, rng, s, s, clutter_on(rng, s, s, 0.0, 1, floor=True), at_wall=rng.random() < 0.6)
