"""Vectorised numpy ray casting of a `Scene`: depth, textured albedo (`litedepth.synth.textures`), shadowed Lambertian shading.

Rays are kept as separate ``x, y, z`` component arrays (float32). Primary rays of each object are
cast only inside the object's projected screen rectangle; shadow rays only for the pixels inside the
cone that the object subtends from the light. That keeps a 240x320 image at a few tens of ms.
"""

from __future__ import annotations

import math

import numpy as np

from ..camera import Intrinsics
from .furniture import Box, Cylinder, Sphere
from .scene import Scene
from .textures import albedo, decal_albedo

_EPS = 1e-4


def intrinsics_for(size: tuple[int, int]) -> tuple[float, float, float, float]:
    """NYU-v2's pinhole intrinsics (`litedepth.camera.Intrinsics.nyu`) scaled from 480x640 to ``size = (H, W)``."""
    cam = Intrinsics.nyu().resized(size[1], size[0])
    return cam.fx, cam.fy, cam.cx, cam.cy


# ---------------------------------------------------------------- intersections (t = inf where missed)


def _hit_box(o, d, b: Box):
    c, s = math.cos(b.yaw), math.sin(b.yaw)
    ox, oy, oz = o[0] - b.center[0], o[1] - b.center[1], o[2] - b.center[2]
    lo = (c * ox + s * oy, -s * ox + c * oy, oz)
    ld = (c * d[0] + s * d[1], -s * d[0] + c * d[1], d[2])
    tmin, tmax = None, None
    for oo, dd, h in zip(lo, ld, b.half):
        inv = 1.0 / dd
        t1, t2 = (-h - oo) * inv, (h - oo) * inv
        lo_t, hi_t = np.minimum(t1, t2), np.maximum(t1, t2)
        tmin = lo_t if tmin is None else np.maximum(tmin, lo_t)
        tmax = hi_t if tmax is None else np.minimum(tmax, hi_t)
    return np.where((tmax >= tmin) & (tmin > _EPS), tmin, np.inf)


def _hit_cylinder(o, d, cy: Cylinder):
    ox, oy, oz = o[0] - cy.center[0], o[1] - cy.center[1], o[2] - cy.center[2]
    a = d[0] * d[0] + d[1] * d[1]
    b = ox * d[0] + oy * d[1]
    c = ox * ox + oy * oy - cy.radius * cy.radius
    disc = b * b - a * c
    t_side = (-b - np.sqrt(np.maximum(disc, 0))) / a
    z = oz + t_side * d[2]
    t = np.where((disc >= 0) & (t_side > _EPS) & (np.abs(z) <= cy.half_height), t_side, np.inf)
    r2 = cy.radius * cy.radius
    for zc in (cy.half_height, -cy.half_height):
        tc = (zc - oz) / d[2]
        px, py = ox + tc * d[0], oy + tc * d[1]
        t = np.where((tc > _EPS) & (px * px + py * py <= r2) & (tc < t), tc, t)
    return t


def _hit_sphere(o, d, sp: Sphere):
    ox, oy, oz = o[0] - sp.center[0], o[1] - sp.center[1], o[2] - sp.center[2]
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = ox * d[0] + oy * d[1] + oz * d[2]
    c = ox * ox + oy * oy + oz * oz - sp.radius * sp.radius
    disc = b * b - a * c
    t = (-b - np.sqrt(np.maximum(disc, 0))) / a
    return np.where((disc >= 0) & (t > _EPS), t, np.inf)


def _hit(o, d, obj):
    if isinstance(obj, Box):
        return _hit_box(o, d, obj)
    if isinstance(obj, Cylinder):
        return _hit_cylinder(o, d, obj)
    return _hit_sphere(o, d, obj)


def _bounds(obj) -> tuple[np.ndarray, float]:
    """Bounding sphere (centre, radius)."""
    if isinstance(obj, Box):
        return obj.center, float(np.linalg.norm(obj.half))
    if isinstance(obj, Cylinder):
        return obj.center, math.hypot(obj.radius, obj.half_height)
    return obj.center, obj.radius


def _corners(obj) -> np.ndarray:
    """(8, 3) corners of a box enclosing the object."""
    if isinstance(obj, Box):
        c, s = math.cos(obj.yaw), math.sin(obj.yaw)
        axes = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]]) * obj.half[:, None]
        center = obj.center
    else:
        r = obj.radius
        h = obj.half_height if isinstance(obj, Cylinder) else r
        axes, center = np.diag([r, r, h]), obj.center
    signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], float)
    return center + signs @ axes


def _normals(obj, p):
    """World normals (M, 3) of ``obj`` at surface points ``p`` (M, 3)."""
    q = p - obj.center
    if isinstance(obj, Sphere):
        return q / obj.radius
    if isinstance(obj, Cylinder):
        n = np.zeros_like(q)
        cap = np.abs(np.abs(q[:, 2]) - obj.half_height) < 2e-3
        n[:, 0], n[:, 1] = q[:, 0] / obj.radius, q[:, 1] / obj.radius
        n[cap] = 0
        n[cap, 2] = np.sign(q[cap, 2])
        return n
    c, s = math.cos(obj.yaw), math.sin(obj.yaw)
    local = np.stack([c * q[:, 0] + s * q[:, 1], -s * q[:, 0] + c * q[:, 1], q[:, 2]], 1) / obj.half
    axis = np.argmax(np.abs(local), axis=1)
    sign = np.sign(local[np.arange(len(p)), axis])
    nl = np.zeros_like(q)
    nl[np.arange(len(p)), axis] = sign
    return np.stack([c * nl[:, 0] - s * nl[:, 1], s * nl[:, 0] + c * nl[:, 1], nl[:, 2]], 1)


def _surface_uv(obj, p, n):
    """2D texture coordinates (metres) on the object's surface, (M,) each."""
    q = p - obj.center
    if isinstance(obj, Box):
        c, s = math.cos(obj.yaw), math.sin(obj.yaw)
        lx, ly = c * q[:, 0] + s * q[:, 1], -s * q[:, 0] + c * q[:, 1]
        top = np.abs(n[:, 2]) > 0.5
        side_x = np.abs(c * n[:, 0] + s * n[:, 1]) > 0.5  # face normal along local x
        u = np.where(top | ~side_x, lx, ly)
        v = np.where(top, ly, q[:, 2])
        return u, v
    ang = np.arctan2(q[:, 1], q[:, 0])
    r = obj.radius
    if isinstance(obj, Sphere):
        return ang * r, np.arcsin(np.clip(q[:, 2] / r, -1, 1)) * r
    cap = np.abs(n[:, 2]) > 0.5
    return np.where(cap, q[:, 0], ang * r), np.where(cap, q[:, 1], q[:, 2])


# ---------------------------------------------------------------- renderer


def render(scene: Scene, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast ``scene`` at ``size = (H, W)``.

    Returns linear RGB ``(H, W, 3)`` float32 (not yet exposed or gamma-encoded) and z-depth
    ``(H, W)`` float32 in metres along the optical axis.
    """
    H, W = size
    fx, fy, cx, cy = intrinsics_for(size)
    xs = ((np.arange(W, dtype=np.float32) - cx) / fx)[None, :]
    ys = ((np.arange(H, dtype=np.float32) - cy) / fy)[:, None]
    R = scene.cam_rot.astype(np.float32)
    # Directions with unit component along the optical axis, so the ray parameter t is the z-depth.
    d = [R[i, 0] * xs + R[i, 1] * ys + R[i, 2] for i in range(3)]  # each (H, W)
    o = scene.cam_pos.astype(np.float32)

    # Room: the camera is inside, so the first hit is the nearest exit plane.
    room = scene.room.astype(np.float32)
    t = np.full((H, W), np.inf, np.float32)
    ids = np.zeros((H, W), np.int16)
    with np.errstate(divide="ignore", invalid="ignore"):
        # face ids: 0 floor, 1 ceiling, 2 + wall (wall 0: y=0, 1: x=X, 2: y=Y, 3: x=0); objects from 6
        for axis, (pos_face, neg_face) in enumerate([(3, 5), (4, 2), (1, 0)]):
            plane_t = np.where(d[axis] > 0, (room[axis] - o[axis]) / d[axis], -o[axis] / d[axis])
            plane_t = np.where(plane_t > 0, plane_t, np.inf)  # d == 0 gives -inf or nan
            better = plane_t < t
            t = np.where(better, plane_t, t)
            ids = np.where(better, np.where(d[axis] > 0, pos_face, neg_face), ids).astype(np.int16)

        Rinv = scene.cam_rot.T
        for k, obj in enumerate(scene.objects):
            cam = (_corners(obj) - scene.cam_pos) @ Rinv.T  # (8, 3) camera coordinates
            if cam[:, 2].max() <= 0.01:
                continue
            if cam[:, 2].min() > 0.01:
                us, vs = fx * cam[:, 0] / cam[:, 2] + cx, fy * cam[:, 1] / cam[:, 2] + cy
                c0, c1 = max(int(us.min()) - 1, 0), min(int(math.ceil(us.max())) + 2, W)
                r0, r1 = max(int(vs.min()) - 1, 0), min(int(math.ceil(vs.max())) + 2, H)
                if c0 >= c1 or r0 >= r1:
                    continue
            else:
                r0, r1, c0, c1 = 0, H, 0, W
            sl = (slice(r0, r1), slice(c0, c1))
            tk = _hit(o, [d[i][sl] for i in range(3)], obj)
            better = tk < t[sl]
            t[sl] = np.where(better, tk, t[sl])
            ids[sl] = np.where(better, 6 + k, ids[sl])

        depth = t
        rgb = _shade(scene, o, [di.reshape(-1) for di in d], depth.reshape(-1), ids.reshape(-1))
    return rgb.reshape(H, W, 3), depth.astype(np.float32)


def _shade(scene: Scene, o, d, t, ids):
    """Albedo x (ambient + shadowed Lambertian point lights) + emission, linear, (N, 3)."""
    p = np.stack([o[i] + t * d[i] for i in range(3)], 1)  # (N, 3) hit points
    nrm, alb, emit = _surfaces(scene, p, ids)
    light = _ambient(scene, p, nrm)
    origin = p + nrm * 2e-3
    bounds = [_bounds(obj) for obj in scene.objects]
    groups = [(g, _group_bounds([bounds[i] for i in g])) for g in scene.groups]
    for pos, power in scene.lights:
        pos = pos.astype(np.float32)
        v = pos - p
        dist2 = np.einsum("ij,ij->i", v, v)
        lam = np.einsum("ij,ij->i", v, nrm) / np.sqrt(dist2)
        idx = np.nonzero(lam > 0)[0]
        if not len(idx):
            continue
        vis = _unshadowed(scene, pos, v[idx], origin[idx], dist2[idx], bounds, groups)
        falloff = 1.0 / (1.0 + dist2[idx] / scene.falloff**2)
        light[idx] += power * lam[idx] * falloff * vis
    return alb * light[:, None] + emit[:, None]


def _surfaces(scene: Scene, p, ids):
    """Normals (N, 3), albedo (N, 3) and emission (N,) at hit points ``p`` of the surfaces ``ids``."""
    n_pix = len(p)
    nrm = np.zeros((n_pix, 3), np.float32)
    alb = np.zeros((n_pix, 3), np.float32)
    emit = np.zeros(n_pix, np.float32)
    X, Y, _ = scene.room
    # room faces: (normal, u from p, v from p)
    face_frames = [
        ((0, 0, 1), lambda q: q[:, 0], lambda q: q[:, 1]),
        ((0, 0, -1), lambda q: q[:, 0], lambda q: q[:, 1]),
        ((0, 1, 0), lambda q: q[:, 0], lambda q: q[:, 2]),
        ((-1, 0, 0), lambda q: q[:, 1], lambda q: q[:, 2]),
        ((0, -1, 0), lambda q: X - q[:, 0], lambda q: q[:, 2]),
        ((1, 0, 0), lambda q: Y - q[:, 1], lambda q: q[:, 2]),
    ]
    for f, (n, fu, fv) in enumerate(face_frames):
        idx = np.nonzero(ids == f)[0]
        if not len(idx):
            continue
        q = p[idx]
        u, v = fu(q), fv(q)
        nrm[idx] = n
        a = albedo(scene.faces[f], scene.lattice, u, v)
        if f >= 2:
            a, emit[idx] = _with_decals(scene, f - 2, a, u, v)
        alb[idx] = a
    for k, obj in enumerate(scene.objects):
        idx = np.nonzero(ids == 6 + k)[0]
        if not len(idx):
            continue
        q = p[idx]
        n = _normals(obj, q)
        nrm[idx] = n
        u, v = _surface_uv(obj, q, n)
        alb[idx] = albedo(obj.material, scene.lattice, u, v)
    return nrm, alb, emit


def _with_decals(scene: Scene, wall: int, face_albedo, u, v):
    """Albedo and emission of wall points at wall coordinates ``u, v`` (m), the decals of ``wall`` painted in."""
    a = np.array(face_albedo, np.float32)
    e = np.zeros(len(u), np.float32)
    for dc in scene.decals:
        if dc.wall != wall:
            continue
        inside = np.nonzero((u >= dc.u[0]) & (u <= dc.u[1]) & (v >= dc.v[0]) & (v <= dc.v[1]))[0]
        if len(inside):
            a[inside], e[inside] = decal_albedo(dc, scene.lattice, u[inside] - dc.u[0], v[inside] - dc.v[0])
    return a, e


def _ambient(scene: Scene, p, nrm):
    """(N,) ambient light at hit points ``p`` with normals ``nrm``."""
    X, Y, Z = scene.room
    # ambient plus light bounced off the floor onto surfaces that face down (the ceiling)
    light = scene.ambient * (1.0 + 0.6 * np.clip(-nrm[:, 2], 0, 1))
    # ambient occlusion-ish darkening towards the room's corners and edges
    edge = np.minimum.reduce([p[:, 0], X - p[:, 0], p[:, 1], Y - p[:, 1], p[:, 2], Z - p[:, 2]])
    light *= 0.75 + 0.25 * np.clip(edge / 0.5, 0, 1)
    return light


def _unshadowed(scene: Scene, pos, v, origin, dist2, bounds, groups):
    """(M,) whether the light at ``pos`` reaches each point (``v``: point -> light, ``origin``: the point lifted off its surface).

    Shadow rays only inside the cone each piece of furniture subtends from the light, then each part's cone.
    """
    vis = np.ones(len(v), bool)
    inv_len = -1.0 / np.sqrt(dist2)
    wn = [np.ascontiguousarray(v[:, i]) * inv_len for i in range(3)]  # unit directions light -> point
    vi = [np.ascontiguousarray(v[:, i]) for i in range(3)]
    oi = [np.ascontiguousarray(origin[:, i]) for i in range(3)]
    for members, (gc, gr) in groups:
        gcand = _in_cone(wn, gc - pos, gr)
        if gcand is not None and not len(gcand):
            continue
        sub_wn = wn if gcand is None else [w[gcand] for w in wn]
        for k in members:
            c, r = bounds[k]
            cand = _in_cone(sub_wn, c - pos, r) if len(members) > 1 else None
            if gcand is not None:
                cand = gcand if cand is None else gcand[cand]
            if cand is None:
                cand = np.arange(len(v))
            if not len(cand):
                continue
            th = _hit([a[cand] for a in oi], [a[cand] for a in vi], scene.objects[k])
            vis[cand[th < 1.0]] = False
    return vis


def _group_bounds(spheres: list[tuple[np.ndarray, float]]) -> tuple[np.ndarray, float]:
    center = np.mean([c for c, _ in spheres], axis=0)
    return center, max(float(np.linalg.norm(c - center)) + r for c, r in spheres)


def _in_cone(wn: list[np.ndarray], oc: np.ndarray, r: float) -> np.ndarray | None:
    """Indices of the unit directions ``wn`` (x, y, z arrays) that point into the sphere with centre ``oc``
    (relative to the light) and radius ``r``; None when the light is inside the sphere (all of them)."""
    dc = float(np.linalg.norm(oc))
    if dc <= r:
        return None
    cos_cone = math.sqrt(1.0 - (r / dc) ** 2)
    u = oc / dc
    return np.nonzero(wn[0] * np.float32(u[0]) + wn[1] * np.float32(u[1]) + wn[2] * np.float32(u[2]) > cos_cone)[0]
