"""Random indoor scenes for the synthetic RGB-D generator: scene scales, rooms, lights and cameras.

A scene is a box-shaped room (floor, ceiling, four walls with pictures, doors and windows)
holding furniture built from vertical-axis primitives (boxes rotated about the vertical,
vertical cylinders, spheres), lit by a few point lights and seen by a pinhole camera.
World frame: x and y horizontal, z up, metres; the room spans ``[0, X] x [0, Y] x [0, Z]``.
Everything is drawn from one ``numpy.random.Generator``, so a scene is a pure function of its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .furniture import FURNITURE, Box, Cylinder, Material, floor_material, footprint, hsv, overlaps, paint, place


@dataclass(frozen=True)
class SceneScale:
    """The scale of a kind of scene (room sizes, camera, furniture); ranges are ``(low, high)`` drawn uniformly."""

    room_x: tuple[float, float]  # room width (m)
    room_y: tuple[float, float]  # room length (m)
    room_z: tuple[float, float]  # ceiling height (m)
    cam_height: tuple[float, float]  # camera height above the floor (m)
    pitch_deg: tuple[float, float]  # camera pitch, negative looks down (degrees)
    placement: str  # "wall": camera near a wall looking in; "object": camera close to a piece of furniture
    cam_dist: tuple[float, float]  # "wall": distance to the back wall; "object": distance to the target (m)
    n_furniture: tuple[int, int]  # pieces of furniture (inclusive range)
    furniture_scale: float = 1.0  # size multiplier of furniture (large halls hold large things)
    n_lights: tuple[int, int] = (1, 3)
    n_pillars: tuple[int, int] = (0, 0)  # free-standing columns (halls)
    close_prob: float = 0.0  # "wall" placement: chance of a close-up of furniture instead
    close_dist: tuple[float, float] = (0.6, 1.6)  # distance to the furniture in such a close-up (m)


SCALES: dict[str, SceneScale] = {
    # NYU-v2 like: living rooms, bedrooms, offices seen from a person's eye; depth ~0.5-10 m, peak 1.5-3 m.
    "nyu": SceneScale(
        room_x=(2.8, 7.0),
        room_y=(3.0, 9.5),
        room_z=(2.4, 3.0),
        cam_height=(1.2, 1.7),
        pitch_deg=(-28.0, 0.0),
        placement="wall",
        cam_dist=(0.2, 1.5),
        n_furniture=(6, 12),
        close_prob=0.25,
    ),
    # ScanNet like: the same kind of indoor scenes as nyu (a similar scale, median depth ~15% lower),
    # seen differently: hand-held, lower and more tilted down, more often close to furniture.
    "scannet": SceneScale(
        room_x=(3.0, 6.5),
        room_y=(3.0, 8.0),
        room_z=(2.4, 2.8),
        cam_height=(1.0, 1.6),
        pitch_deg=(-40.0, -10.0),
        placement="wall",
        cam_dist=(0.3, 1.5),
        n_furniture=(7, 12),
        close_prob=0.3,
        close_dist=(0.8, 2.2),
    ),
    # Deliberately mismatched scale: large halls; depth ~4-20 m.
    "hall": SceneScale(
        room_x=(10.0, 20.0),
        room_y=(12.0, 22.0),
        room_z=(4.5, 9.0),
        cam_height=(1.3, 1.8),
        pitch_deg=(-6.0, 6.0),
        placement="wall",
        cam_dist=(0.5, 3.0),
        n_furniture=(6, 12),
        furniture_scale=1.6,
        n_lights=(2, 4),
        n_pillars=(2, 6),
    ),
}


@dataclass
class Decal:
    """A rectangle on a wall: a picture, a door or a window (emissive)."""

    wall: int  # 0: y=0, 1: x=X, 2: y=Y, 3: x=0
    u: tuple[float, float]  # along the wall (m)
    v: tuple[float, float]  # height (m)
    kind: str  # picture, door, window
    colors: np.ndarray  # (4, 3) palette


@dataclass
class Scene:
    room: np.ndarray  # (3,) X, Y, Z (m)
    faces: list[Material]  # floor, ceiling, wall 0..3
    objects: list = field(default_factory=list)  # Box | Cylinder | Sphere
    groups: list[list[int]] = field(default_factory=list)  # indices into objects, one list per piece of furniture
    decals: list[Decal] = field(default_factory=list)
    lights: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (position (3,), intensity)
    ambient: float = 0.25
    falloff: float = 3.0  # light distance (m) at which the intensity halves
    cam_pos: np.ndarray = field(default_factory=lambda: np.zeros(3))
    cam_rot: np.ndarray = field(default_factory=lambda: np.eye(3))  # columns: right, down, forward (world)
    targets: list = field(default_factory=list)  # (x, y, top z, w, d) of each piece of furniture
    footprints: list = field(default_factory=list)  # (x0, y0, x1, y1) floor areas taken
    lattice: np.ndarray = field(default_factory=lambda: np.zeros((64, 64), np.float32))  # value-noise grid


# ---------------------------------------------------------------- scene sampling


def _wall_frame(wall: int, room: np.ndarray):
    """Origin on the floor, unit tangent along the wall and inward normal (2D) of a wall."""
    X, Y = room[0], room[1]
    return [((0, 0), (1, 0), (0, 1)), ((X, 0), (0, 1), (-1, 0)), ((X, Y), (-1, 0), (0, -1)), ((0, Y), (0, -1), (1, 0))][
        wall
    ]


def _wall_length(wall: int, room: np.ndarray) -> float:
    return float(room[0] if wall % 2 == 0 else room[1])


def look_at(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera rotation: columns are the world directions of image right, image down and the optical axis."""
    fwd = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)])
    right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
    down = np.cross(fwd, right)
    cr, sr = math.cos(roll), math.sin(roll)
    right, down = cr * right + sr * down, -sr * right + cr * down
    return np.stack([right, down, fwd], axis=1)


def _decals(rng: np.random.Generator, room: np.ndarray) -> list[Decal]:
    out = []
    for wall in range(4):
        length = _wall_length(wall, room)
        used: list[tuple[float, float]] = []
        for _ in range(rng.integers(0, 4)):
            k = rng.choice(["picture", "picture", "door", "window"])
            if k == "door":
                w, v = rng.uniform(0.8, 1.0), (0.0, min(rng.uniform(2.0, 2.2), room[2] - 0.1))
            elif k == "window":
                w = rng.uniform(0.8, 2.0)
                v0 = rng.uniform(0.7, 1.0)
                v = (v0, min(v0 + rng.uniform(1.0, 1.6), room[2] - 0.15))
            else:
                w = rng.uniform(0.3, 1.4)
                v0 = rng.uniform(1.0, 1.6)
                v = (v0, min(v0 + w * rng.uniform(0.5, 1.2), room[2] - 0.1))
            if length < w + 0.4:
                continue
            u0 = rng.uniform(0.2, length - w - 0.2)
            if any(u0 < b + 0.1 and a < u0 + w + 0.1 for a, b in used):
                continue
            used.append((u0, u0 + w))
            colors = np.stack([hsv(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.2, 1.0)) for _ in range(4)])
            out.append(Decal(wall, (u0, u0 + w), v, k, colors))
    return out


def sample_scene(rng: np.random.Generator, scale: SceneScale) -> Scene:
    """Draw a room, its furniture and lights from ``rng``; the camera is set by `place_camera`."""
    scene = _empty_room(rng, scale)
    _add_pillars(scene, rng, scale)
    _add_furniture(scene, rng, scale)
    _add_lights(scene, rng, scale)
    return scene


def _empty_room(rng: np.random.Generator, scale: SceneScale) -> Scene:
    """The room's size, its floor, ceiling and wall materials, the decals on its walls and its texture noise."""
    room = np.array([rng.uniform(*scale.room_x), rng.uniform(*scale.room_y), rng.uniform(*scale.room_z)])
    wall_m = paint(rng, light=True)
    faces = [
        floor_material(rng),
        Material("plain", np.full(3, rng.uniform(0.8, 0.95), np.float32), np.zeros(3, np.float32)),
    ]
    faces += [wall_m if rng.random() < 0.8 else paint(rng, light=True) for _ in range(4)]
    return Scene(
        room=room,
        faces=faces,
        decals=_decals(rng, room),
        lattice=rng.random((64, 64), dtype=np.float32),
        ambient=float(rng.uniform(0.15, 0.35)),
        falloff=float(max(room[0], room[1]) * 0.6),
    )


def _add_pillars(scene: Scene, rng: np.random.Generator, scale: SceneScale) -> None:
    """Free-standing floor-to-ceiling columns (halls), where they do not overlap."""
    room = scene.room
    for _ in range(rng.integers(scale.n_pillars[0], scale.n_pillars[1] + 1)):
        r = rng.uniform(0.2, 0.5)
        x, y = rng.uniform(r + 1, room[0] - r - 1), rng.uniform(r + 1, room[1] - r - 1)
        fp = footprint(x, y, 2 * r, 2 * r, 0.0)
        if not any(overlaps(fp, f) for f in scene.footprints):
            scene.footprints.append(fp)
            scene.groups.append([len(scene.objects)])
            scene.objects.append(Cylinder(np.array([x, y, room[2] / 2]), r, room[2] / 2, paint(rng)))


def _add_furniture(scene: Scene, rng: np.random.Generator, scale: SceneScale) -> None:
    """Pieces of furniture, each placed at a free spot (a few tries, else left out)."""
    weights = np.array([w for _, w, _ in FURNITURE], float)
    for _ in range(rng.integers(scale.n_furniture[0], scale.n_furniture[1] + 1)):
        build, _, at_wall = FURNITURE[rng.choice(len(FURNITURE), p=weights / weights.sum())]
        place_piece(scene, rng, *build(rng, scale.furniture_scale), at_wall=at_wall)


def place_piece(scene: Scene, rng: np.random.Generator, w: float, d: float, parts: list, at_wall: bool) -> bool:
    """Put a ``w`` x ``d`` piece (local-frame ``parts``) at a free spot (a few tries); whether it found one."""
    room = scene.room
    for _attempt in range(6):
        spot = _spot_at_wall(rng, room, w, d) if at_wall else _spot_in_room(rng, room, w, d)
        if spot is None:
            continue
        x, y, yaw = spot
        fp = footprint(x, y, w, d, yaw)
        if fp[0] < 0 or fp[1] < 0 or fp[2] > room[0] or fp[3] > room[1]:
            continue
        if any(overlaps(fp, f) for f in scene.footprints):
            continue
        scene.footprints.append(fp)
        placed = place(parts, x, y, yaw)
        scene.groups.append(list(range(len(scene.objects), len(scene.objects) + len(placed))))
        scene.objects += placed
        scene.targets.append((x, y, max(_top(p) for p in placed), w, d))
        return True
    return False


def _spot_at_wall(rng: np.random.Generator, room: np.ndarray, w: float, d: float):
    """``(x, y, yaw)`` of a ``w`` x ``d`` piece with its back to a random wall; None where the wall is too short."""
    wall = int(rng.integers(4))
    (ox, oy), t, n = _wall_frame(wall, room)
    length = _wall_length(wall, room)
    if length < w + 0.1:
        return None
    u = rng.uniform(w / 2 + 0.05, length - w / 2 - 0.05)
    off = d / 2 + rng.uniform(0.01, 0.08)
    x, y = ox + t[0] * u + n[0] * off, oy + t[1] * u + n[1] * off
    yaw = math.atan2(n[1], n[0]) - math.pi / 2 + math.pi  # local +y (back) towards the wall
    return x, y, yaw


def _spot_in_room(rng: np.random.Generator, room: np.ndarray, w: float, d: float):
    """``(x, y, yaw)`` of a ``w`` x ``d`` piece anywhere, turned at random; None where the room is too small."""
    yaw = rng.uniform(0, 2 * math.pi)
    m = max(w, d) / 2 + 0.1
    if room[0] < 2 * m or room[1] < 2 * m:
        return None
    x, y = rng.uniform(m, room[0] - m), rng.uniform(m, room[1] - m)
    return x, y, yaw


def _add_lights(scene: Scene, rng: np.random.Generator, scale: SceneScale) -> None:
    """Point lights a little below the ceiling."""
    room = scene.room
    for _ in range(rng.integers(scale.n_lights[0], scale.n_lights[1] + 1)):
        pos = np.array(
            [rng.uniform(0.15, 0.85) * room[0], rng.uniform(0.15, 0.85) * room[1], room[2] - rng.uniform(0.1, 0.4)]
        )
        scene.lights.append((pos, float(rng.uniform(0.6, 1.2))))


def place_camera(scene: Scene, rng: np.random.Generator, scale: SceneScale) -> None:
    """Set ``scene.cam_pos`` and ``scene.cam_rot`` for one view drawn from ``rng``."""
    cam_z = rng.uniform(*scale.cam_height)
    close = scale.placement == "object" or rng.random() < scale.close_prob
    if close:
        dist_range = scale.cam_dist if scale.placement == "object" else scale.close_dist
        cam_xy, cam_yaw, pitch = _camera_near_object(
            rng, cam_z, dist_range, scale.pitch_deg, scene.room, scene.targets, scene.footprints
        )
    else:
        cam_xy, cam_yaw = _camera_near_wall(rng, scale, scene.room, scene.footprints)
        pitch = math.radians(rng.uniform(*scale.pitch_deg))
    scene.cam_pos = np.array([cam_xy[0], cam_xy[1], cam_z])
    scene.cam_rot = look_at(cam_yaw, pitch, math.radians(rng.normal(0, 2.0)))


def _free(x: float, y: float, footprints, r: float = 0.25) -> bool:
    return not any(overlaps((x - r, y - r, x + r, y + r), f, 0.0) for f in footprints)


def _camera_near_wall(rng, scale, room, footprints):
    """Camera standing a little in front of a wall, looking into the room."""
    for _ in range(40):
        wall = int(rng.integers(4))
        (ox, oy), t, n = _wall_frame(wall, room)
        u = rng.uniform(0.2, 0.8) * _wall_length(wall, room)
        dist = min(rng.uniform(*scale.cam_dist), room[1 - wall % 2] / 2)
        x, y = ox + t[0] * u + n[0] * dist, oy + t[1] * u + n[1] * dist
        yaw = math.atan2(n[1], n[0]) + rng.uniform(-0.5, 0.5)
        ahead = (x + 0.7 * math.cos(yaw), y + 0.7 * math.sin(yaw))
        if _free(x, y, footprints) and _free(*ahead, footprints, 0.15):
            return (x, y), yaw
    return _anywhere(rng, room, footprints), rng.uniform(0, 2 * math.pi)


def _top(p) -> float:
    if isinstance(p, Box):
        return float(p.center[2] + p.half[2])
    if isinstance(p, Cylinder):
        return float(p.center[2] + p.half_height)
    return float(p.center[2] + p.radius)


def _camera_near_object(rng, cam_z, dist_range, pitch_range, room, targets, footprints):
    """Camera at height ``cam_z`` a short distance from a piece of furniture (or a wall point), aimed at it."""
    for _ in range(30):
        if targets and rng.random() < 0.95:
            tx, ty, tz, w, d = targets[rng.integers(len(targets))]
            reach = max(w, d) / 2
        else:
            tx, ty, tz, reach = rng.uniform(0, room[0]), rng.uniform(0, room[1]), rng.uniform(0.3, 1.2), 0.0
        a = rng.uniform(0, 2 * math.pi)
        dist = reach + rng.uniform(*dist_range)
        x, y = tx + dist * math.cos(a), ty + dist * math.sin(a)
        if not (0.3 < x < room[0] - 0.3 and 0.3 < y < room[1] - 0.3):
            continue
        if not _free(x, y, footprints, 0.2):
            continue
        yaw = math.atan2(ty - y, tx - x) + rng.uniform(-0.3, 0.3)
        aim = math.degrees(math.atan2(tz - cam_z, dist)) + rng.uniform(-10, 10)
        pitch = math.radians(float(np.clip(aim, *pitch_range)))
        return (x, y), yaw, pitch
    return _anywhere(rng, room, footprints), rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(*pitch_range))


def _anywhere(rng, room, footprints) -> tuple[float, float]:
    """A free spot anywhere in the room (fallback), else the middle."""
    for _ in range(100):
        x, y = rng.uniform(0.3, room[0] - 0.3), rng.uniform(0.3, room[1] - 0.3)
        if _free(x, y, footprints):
            return x, y
    return room[0] / 2, room[1] / 2
