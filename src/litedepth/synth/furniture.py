"""Furniture for the synthetic rooms: primitives, materials and builders of tables, beds, sofas...

Primitives stand upright: boxes rotate about the vertical axis only, cylinders are vertical.
Builders return ``(width, depth, parts)`` in a local frame with the origin on the floor at the centre
of the footprint and the back (the side that goes against a wall) towards local +y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Material:
    """Surface appearance: ``kind`` in plain, noise, wood, planks, tiles, fabric; colours in [0, 1]."""

    kind: str
    color: np.ndarray  # (3,)
    color2: np.ndarray  # (3,), second colour (grain, grout, weave)
    scale: float = 1.0  # pattern size (m)
    offset: float = 0.0  # shifts the noise lattice so that objects do not share a pattern
    contrast: float = 1.0  # strength of the pattern


@dataclass
class Box:
    """A box turned by ``yaw`` about the vertical axis."""

    center: np.ndarray  # (3,) m
    half: np.ndarray  # (3,) half extents along the box's own axes (m)
    yaw: float  # rotation about z (radians)
    material: Material


@dataclass
class Cylinder:
    """A vertical cylinder with flat caps."""

    center: np.ndarray  # (3,) m, middle of the axis
    radius: float
    half_height: float
    material: Material


@dataclass
class Sphere:
    """A sphere."""

    center: np.ndarray  # (3,)
    radius: float
    material: Material


# ---------------------------------------------------------------- materials


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """HSV in [0, 1] -> RGB (3,) float32."""
    i = int(h * 6) % 6
    f = h * 6 - math.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i], np.float32)


def _wood(rng: np.random.Generator) -> Material:
    base = hsv(rng.uniform(0.05, 0.11), rng.uniform(0.35, 0.7), rng.uniform(0.3, 0.8))
    return Material("wood", base, base * rng.uniform(0.55, 0.8), rng.uniform(0.02, 0.06), rng.uniform(0, 1000))


def _fabric(rng: np.random.Generator) -> Material:
    base = hsv(rng.random(), rng.uniform(0.1, 0.6), rng.uniform(0.25, 0.85))
    kind = "fabric" if rng.random() < 0.5 else "noise"
    return Material(kind, base, base * rng.uniform(0.7, 0.9), rng.uniform(0.01, 0.05), rng.uniform(0, 1000))


def paint(rng: np.random.Generator, light: bool = False) -> Material:
    """A painted surface, plain or slightly mottled; ``light`` keeps it pale (walls)."""
    v = rng.uniform(0.6, 0.95) if light else rng.uniform(0.2, 0.95)
    base = hsv(rng.random(), rng.uniform(0.0, 0.3 if light else 0.7), v)
    kind = "noise" if rng.random() < 0.6 else "plain"
    return Material(kind, base, base * 0.9, rng.uniform(0.2, 1.0), rng.uniform(0, 1000), rng.uniform(0.15, 0.6))


def _any_material(rng: np.random.Generator) -> Material:
    return [_wood, _fabric, paint][rng.integers(3)](rng)


def floor_material(rng: np.random.Generator) -> Material:
    """Wooden planks, tiles or carpet."""
    r = rng.random()
    if r < 0.4:
        m = _wood(rng)
        return Material("planks", m.color, m.color2, rng.uniform(0.1, 0.25), m.offset)
    if r < 0.7:
        base = hsv(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.4, 0.95))
        return Material("tiles", base, base * rng.uniform(0.5, 0.8), rng.uniform(0.25, 0.6), rng.uniform(0, 1000))
    return Material(
        "noise",
        hsv(rng.random(), rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.7)),
        np.zeros(3, np.float32),
        rng.uniform(0.05, 0.3),
        rng.uniform(0, 1000),
    )


# ---------------------------------------------------------------- furniture (local frame, origin on the floor)


def _box(x, y, z, w, d, h, m, yaw=0.0):
    """A box with its bottom centre at local (x, y, z) and size w x d x h."""
    return Box(np.array([x, y, z + h / 2]), np.array([w / 2, d / 2, h / 2]), yaw, m)


def _legs(w, d, h, t, m):
    return [_box(sx * (w / 2 - t), sy * (d / 2 - t), 0, t, t, h, m) for sx in (-1, 1) for sy in (-1, 1)]


def _clutter(rng, w, d, z):
    """Small things standing on a surface of size w x d at height z."""
    parts = []
    for _ in range(rng.integers(0, 4)):
        x, y = rng.uniform(-w / 2 + 0.1, w / 2 - 0.1), rng.uniform(-d / 2 + 0.1, d / 2 - 0.1)
        k = rng.random()
        if k < 0.4:
            parts.append(
                _box(
                    x,
                    y,
                    z,
                    rng.uniform(0.1, 0.35),
                    rng.uniform(0.1, 0.3),
                    rng.uniform(0.03, 0.3),
                    _any_material(rng),
                    rng.uniform(-0.5, 0.5),
                )
            )
        elif k < 0.75:
            r, h = rng.uniform(0.03, 0.1), rng.uniform(0.08, 0.35)
            parts.append(Cylinder(np.array([x, y, z + h / 2]), r, h / 2, paint(rng)))
        else:
            r = rng.uniform(0.04, 0.12)
            parts.append(Sphere(np.array([x, y, z + r]), r, paint(rng)))
    return parts


def _table(rng, s):
    w, d, h = rng.uniform(0.8, 1.8) * s, rng.uniform(0.6, 1.0) * s, rng.uniform(0.7, 0.78) * s
    m = _wood(rng)
    return w, d, [_box(0, 0, h - 0.04, w, d, 0.04, m)] + _legs(w, d, h - 0.04, 0.05, m) + _clutter(rng, w, d, h)


def _cabinet(rng, s):
    w, d, h = rng.uniform(0.4, 1.4) * s, rng.uniform(0.35, 0.6) * s, rng.uniform(0.5, 1.1) * s
    return w, d, [_box(0, 0, 0, w, d, h, _any_material(rng))] + _clutter(rng, w, d, h)


def _wardrobe(rng, s):
    w, d, h = rng.uniform(0.6, 1.6) * s, rng.uniform(0.35, 0.65) * s, rng.uniform(1.5, 2.2) * s
    m = _wood(rng) if rng.random() < 0.6 else paint(rng)
    return w, d, [_box(0, 0, 0, w, d, h, m)]


def _bed(rng, s):
    w, d, h = rng.uniform(1.0, 1.8) * s, rng.uniform(1.9, 2.1) * s, rng.uniform(0.4, 0.6) * s
    cover, frame = _fabric(rng), _wood(rng)
    parts = [_box(0, 0, 0, w, d, h, cover), _box(0, d / 2 - 0.03, 0, w, 0.06, h + rng.uniform(0.3, 0.7), frame)]
    pillow = _fabric(rng)
    for x in [0.0] if w < 1.3 else [-w / 4, w / 4]:
        parts.append(_box(x, d / 2 - 0.3, h, min(0.6, w / 2 - 0.05), 0.35, 0.12, pillow))
    return w, d, parts


def _sofa(rng, s):
    w, d, h = rng.uniform(1.4, 2.4) * s, rng.uniform(0.8, 1.0) * s, rng.uniform(0.38, 0.48) * s
    m, a = _fabric(rng), rng.uniform(0.12, 0.22)
    back = rng.uniform(0.35, 0.5)
    return (
        w,
        d,
        [
            _box(0, 0, 0, w, d, h, m),
            _box(0, d / 2 - a / 2, h, w, a, back, m),
            _box(-w / 2 + a / 2, 0, h, a, d, back * 0.5, m),
            _box(w / 2 - a / 2, 0, h, a, d, back * 0.5, m),
        ],
    )


def _chair(rng, s):
    w, h = rng.uniform(0.4, 0.55) * s, rng.uniform(0.42, 0.5) * s
    m = _any_material(rng) if rng.random() < 0.5 else _wood(rng)
    return (
        w,
        w,
        (
            [_box(0, 0, h - 0.04, w, w, 0.04, m), _box(0, w / 2 - 0.02, h, w, 0.04, rng.uniform(0.35, 0.5), m)]
            + _legs(w, w, h - 0.04, 0.035, m)
        ),
    )


def _round(rng, s):
    """Floor lamp, plant, bin, stool or ball: the curved primitives."""
    k = rng.random()
    if k < 0.25:
        h = rng.uniform(1.3, 1.7) * s
        r = rng.uniform(0.15, 0.25)
        return (
            2 * r,
            2 * r,
            [
                Cylinder(np.array([0, 0, h / 2]), 0.02, h / 2, paint(rng)),
                Cylinder(np.array([0, 0, h + 0.12]), r, 0.12, _fabric(rng)),
                Cylinder(np.array([0, 0, 0.015]), r * 0.8, 0.015, paint(rng)),
            ],
        )
    if k < 0.55:
        r, h = rng.uniform(0.12, 0.25) * s, rng.uniform(0.25, 0.5) * s
        leaves = Material(
            "noise",
            hsv(rng.uniform(0.22, 0.4), rng.uniform(0.4, 0.8), rng.uniform(0.2, 0.5)),
            np.zeros(3, np.float32),
            0.03,
            rng.uniform(0, 1000),
        )
        rf = rng.uniform(1.3, 2.2) * r
        return (
            2 * rf,
            2 * rf,
            [
                Cylinder(np.array([0, 0, h / 2]), r, h / 2, paint(rng)),
                Sphere(np.array([0, 0, h + rf * 0.8]), rf, leaves),
            ],
        )
    if k < 0.8:
        r, h = rng.uniform(0.15, 0.3) * s, rng.uniform(0.3, 0.75) * s
        return 2 * r, 2 * r, [Cylinder(np.array([0, 0, h / 2]), r, h / 2, _any_material(rng))]
    r = rng.uniform(0.1, 0.35) * s
    return 2 * r, 2 * r, [Sphere(np.array([0, 0, r]), r, paint(rng))]


def bookcase(rng, s: float = 1.0):
    """A bookcase (sides, back, shelves) full of books and a few ornaments: ``(width, depth, parts)``."""
    w, d, h = rng.uniform(0.6, 1.6) * s, rng.uniform(0.28, 0.4), rng.uniform(1.0, 2.1) * s
    m, t = (_wood(rng) if rng.random() < 0.6 else paint(rng)), 0.025
    parts = [_box(-w / 2 + t / 2, 0, 0, t, d, h, m), _box(w / 2 - t / 2, 0, 0, t, d, h, m)]
    parts.append(_box(0, d / 2 - t / 2, 0, w, t, h, m))
    n = int(rng.integers(3, 6))
    gap = h / n
    for k in range(n + 1):
        parts.append(_box(0, 0, min(k * gap, h - t), w, d, t, m))
    for k in range(n):
        z, x = k * gap + t, -w / 2 + t
        while x < w / 2 - t - 0.05:
            if rng.random() < 0.12:  # a gap or an ornament
                x += rng.uniform(0.05, 0.2)
                continue
            bw, bh = rng.uniform(0.02, 0.06), min(rng.uniform(0.55, 0.9) * gap, gap - 0.03)
            bd = rng.uniform(0.6, 0.95) * (d - t)
            color = hsv(rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.15, 0.85))
            book = Material("plain", color, color, offset=rng.uniform(0, 1000))
            parts.append(_box(x + bw / 2, -d / 2 + bd / 2, z, bw, bd, bh, book))
            x += bw + rng.uniform(0.0, 0.006)
    return w, d, parts


def clutter_on(rng, w: float, d: float, z: float, n: int, floor: bool = False) -> list:
    """``n`` small things (boxes, books, cups, bottles, bowls) standing on a ``w`` x ``d`` surface at height ``z``.

    ``floor``: larger things (boxes, bags, baskets) that fill the ``w`` x ``d`` area.
    """
    parts = []
    for _ in range(n):
        if floor:
            x, y = 0.0, 0.0
            size = (w * rng.uniform(0.7, 1.0), d * rng.uniform(0.7, 1.0), rng.uniform(0.15, 0.6))
        else:
            x, y = rng.uniform(-w / 2, w / 2) * 0.8, rng.uniform(-d / 2, d / 2) * 0.8
            size = (rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.25), rng.uniform(0.02, 0.3))
        k = rng.random()
        if k < 0.55 or floor:
            parts.append(_box(x, y, z, *size, _any_material(rng), rng.uniform(-0.8, 0.8)))
        elif k < 0.85:
            r, h = rng.uniform(0.025, 0.08), rng.uniform(0.06, 0.3)
            parts.append(Cylinder(np.array([x, y, z + h / 2]), r, h / 2, paint(rng)))
        else:
            r = rng.uniform(0.03, 0.1)
            parts.append(Sphere(np.array([x, y, z + r]), r, paint(rng)))
    return parts


# (builder, weight, against a wall?)
FURNITURE = [
    (_table, 2, False),
    (_cabinet, 3, True),
    (_wardrobe, 2, True),
    (_bed, 1, True),
    (_sofa, 1, True),
    (_chair, 3, False),
    (_round, 3, False),
]


def place(parts, x: float, y: float, yaw: float) -> list:
    """Move local-frame ``parts`` to floor position ``(x, y)`` (m) turned by ``yaw`` (radians)."""
    c, s = math.cos(yaw), math.sin(yaw)
    out = []
    for p in parts:
        lx, ly = p.center[0], p.center[1]
        center = np.array([x + c * lx - s * ly, y + s * lx + c * ly, p.center[2]])
        if isinstance(p, Box):
            out.append(Box(center, p.half, p.yaw + yaw, p.material))
        elif isinstance(p, Cylinder):
            out.append(Cylinder(center, p.radius, p.half_height, p.material))
        else:
            out.append(Sphere(center, p.radius, p.material))
    return out


def footprint(x, y, w, d, yaw):
    """Axis-aligned bounds (x0, y0, x1, y1) of a rotated w x d rectangle."""
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    hx, hy = (c * w + s * d) / 2, (s * w + c * d) / 2
    return x - hx, y - hy, x + hx, y + hy


def overlaps(a, b, margin=0.05) -> bool:
    """Whether two ``(x0, y0, x1, y1)`` rectangles come closer than ``margin`` (m)."""
    return a[0] < b[2] + margin and b[0] < a[2] + margin and a[1] < b[3] + margin and b[1] < a[3] + margin
